"""Free-text signals: entries, stops, targets, leverage and order type, as a trader reads them."""

from decimal import Decimal

import pytest

from signalbridge.domain.signals import OrderType, Side, Signal, fmt_decimal
from signalbridge.parsing import parse


def signal(text: str) -> Signal:
    result = parse(text)
    assert isinstance(result.parsed, Signal), (result.kind, result.reasons)
    return result.parsed


def zone(sig: Signal) -> tuple[str, str] | None:
    if sig.entry is None:
        return None
    return (fmt_decimal(sig.entry.low), fmt_decimal(sig.entry.high))


def test_full_crypto_futures_signal() -> None:
    text = (
        "ETH/USDT LONG\nEntry: 3000 - 2950\nStop-loss: 2900\nTP: 3100 / 3200 / 3300\n"
        "Leverage 10x-20x"
    )
    result = parse(text)
    assert result.to_dict() == {
        "kind": "signal",
        "symbol": "ETH/USDT",
        "side": "long",
        "order_type": "limit",
        "entry": {"low": "2950", "high": "3000"},
        "stop_loss": "2900",
        "take_profits": ["3100", "3200", "3300"],
        "leverage": 10,
        "confidence": result.to_dict()["confidence"],
    }
    assert result.confidence >= 0.9


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("EURUSD BUY 1.0850 SL 1.0820 TP 1.0900", ("1.085", "1.085")),
        ("EURUSD BUY 1.0870-1.0850 SL 1.0820 TP 1.0900", ("1.085", "1.087")),
        ("EURUSD buy between 1.0850 and 1.0870 sl 1.0820 tp 1.0900", ("1.085", "1.087")),
        ("EURUSD buy\nEntry: 1.0870 - 1.0850\nSL 1.0820\nTP 1.0900", ("1.085", "1.087")),
        ("XAUUSD SELL 4107/ 4109 SL: 4116 TP 1:4100 TP 2:4095", ("4107", "4109")),
        ("𝑋𝐴𝑈𝑈𝑆𝐷 SELL 𝗘𝗻𝘁𝗿𝘆: @4439~4443 ✅𝑇𝑃1: 4430 ✅𝑇𝑃2: 4420 🚫𝖲𝖫: 4450", ("4439", "4443")),
        ("$GOLD SELLING NOW ENTRIES:2650__2655 STOPLOSS 2660 TP 2645 TP 2640", ("2650", "2655")),
    ],
)
def test_entry_price_or_zone_low_to_high(text: str, expected: tuple[str, str]) -> None:
    assert zone(signal(text)) == expected


@pytest.mark.parametrize(
    ("text", "order_type", "entry"),
    [
        ("XAU/USD BUY NOW @ 1945 SL 1940 TP 1955", OrderType.MARKET, ("1945", "1945")),
        ("🛡XAUUSD BUY NOW 2345-2341 💣 Sl: 2335 Tp1: 2355", OrderType.MARKET, ("2341", "2345")),
        ("GOLD BUY FROM CMP 1331 SL = 1327 TP = 1370", OrderType.MARKET, ("1331", "1331")),
        ("SOL/USDT SHORT\nEntry CMP\nSL 160\nTP 150", OrderType.MARKET, None),
        ("BTC/USDT long at market price sl 60000 tp 70000", OrderType.MARKET, None),
        ("Buy EURUSD at current price SL 1.0820 TP 1.0900", OrderType.MARKET, None),
        ("XAUUSD SELL SL 2360 TP 2330", OrderType.MARKET, None),
        ("EURUSD BUY LIMIT 1.0850 SL 1.0820 TP 1.0900", OrderType.LIMIT, ("1.085", "1.085")),
        ("GBPUSD SELL STOP 1.2500 SL 1.2550 TP 1.2400", OrderType.LIMIT, ("1.25", "1.25")),
        ("XAUUSD | BUY 4713-4718\nSL: 4700\nTP1 4723", OrderType.LIMIT, ("4713", "4718")),
    ],
)
def test_order_type_market_or_limit(
    text: str, order_type: OrderType, entry: tuple[str, str] | None
) -> None:
    sig = signal(text)
    assert sig.order_type is order_type
    assert zone(sig) == entry


@pytest.mark.parametrize(
    "text",
    [
        "EURUSD SELL 1.0870 SL 1.0900 TP 1.0800",
        "EURUSD SELL 1.0870 S/L 1.0900 TP 1.0800",
        "EURUSD SELL 1.0870 S.L 1.0900 T.P 1.0800",
        "EURUSD SELL 1.0870 Stop Loss: 1.0900 TP 1.0800",
        "EURUSD SELL 1.0870 Stop-loss 1.0900 TP 1.0800",
        "EURUSD SELL 1.0870 STOPLOSS 1.0900 TP 1.0800",
        "EURUSD SELL 1.0870 Stop 1.0900 TP 1.0800",
        "EURUSD SELL 1.0870\n🛑 1.0900\nTP 1.0800",
        "EURUSD SELL 1.0870\n⛔ SL: 1.0900\nTP 1.0800",
        "EURUSD SELL 1.0870\n❌ 1.0900\n🎯 1.0800",
        "EURUSD SELL 1.0870 Stop Targets:\n1) 1.0900\nTP 1.0800",
    ],
)
def test_stop_loss_spellings_and_emoji(text: str) -> None:
    sig = signal(text)
    assert sig.stop_loss == Decimal("1.09")
    assert sig.take_profits == (Decimal("1.08"),)


@pytest.mark.parametrize(
    "text",
    [
        "BTC/USDT LONG Entry 100 SL 90 TP: 110 / 120 / 130",
        "BTC/USDT LONG Entry 100 SL 90 Targets: 110 - 120 - 130",
        "BTC/USDT LONG Entry 100 SL 90 TP 110, 120, 130",
        "BTC/USDT LONG\nEntry 100\nSL 90\nTP1 110\nTP2 120\nTP3 130",
        "BTC/USDT LONG\nEntry 100\nSL 90\nTarget 1: 110\nTarget 2: 120\nTarget 3: 130",
        "BTC/USDT LONG\nEntry 100\nSL 90\nTake-Profit Targets:\n1) 110 - 33%\n2) 120 - 33%\n3) 130",
        "BTC/USDT LONG\nEntry 100\nSL 90\n🎯 Targets:\n110\n120\n130",
        "BTC/USDT LONG Entry 100 SL 90 TP ➊: 110 TP ➋: 120 TP ➌: 130",
        "BTC/USDT LONG Entry 100 SL 90 TP¹ 110 TP² 120 TP³ 130",
        "BTC/USDT LONG Entry 100 SL 90 TP1 110 TP2 120 TP3 130 TP4: open",
    ],
)
def test_take_profits_in_order(text: str) -> None:
    assert signal(text).take_profits == (Decimal(110), Decimal(120), Decimal(130))


def test_at_most_ten_take_profits() -> None:
    tps = " ".join(f"TP{i} {100 + i}" for i in range(1, 13))
    result = parse(f"BTC/USDT LONG Entry 100 SL 90 {tps}")
    assert isinstance(result.parsed, Signal)
    assert len(result.parsed.take_profits) == 10
    assert "more than 10 targets" in result.reasons


def test_tp_open_adds_no_target() -> None:
    sig = signal("ADAUSDT LONG Entry 0.50 SL 0.45 TP1 0.55 TP2 0.60 TP3: open")
    assert sig.take_profits == (Decimal("0.55"), Decimal("0.6"))


@pytest.mark.parametrize(
    ("text", "leverage"),
    [
        ("BTC/USDT LONG Entry 100 SL 90 TP 110 Leverage 10x-20x", 10),
        ("BTC/USDT LONG Entry 100 SL 90 TP 110 Cross 20x", 20),
        ("BTC/USDT LONG Entry 100 SL 90 TP 110 Lev: 10", 10),
        ("BTC/USDT LONG Entry 100 SL 90 TP 110 Isolated 5x", 5),
        ("BTC/USDT LONG Entry 100 SL 90 TP 110 Leverage: Cross (5.0X)", 5),
        ("BTC/USDT LONG Entry 100 SL 90 TP 110 LEVERAGE ×10", 10),
        ("BTC/USDT LONG Entry 100 SL 90 TP 110", None),
    ],
)
def test_leverage_forms(text: str, leverage: int | None) -> None:
    assert signal(text).leverage == leverage


def test_thousands_separators() -> None:
    sig = signal("#BTC long entry 42,000 sl 41,000 tp 43,000 / 44,500")
    assert zone(sig) == ("42000", "42000")
    assert sig.stop_loss == Decimal(41000)
    assert sig.take_profits == (Decimal(43000), Decimal(44500))


def test_decimal_comma() -> None:
    sig = signal("DOGE long giriş 0,125 hedef 0,130 - 0,135 stop 0,120 15x")
    assert zone(sig) == ("0.125", "0.125")
    assert sig.take_profits == (Decimal("0.13"), Decimal("0.135"))
    assert sig.leverage == 15


def test_emojis_hashtags_links_signature_mixed_case() -> None:
    text = (
        "https://www.tradingview.com/x/AdlDE3xX/\n#AUDUSD 🚀🚀\nbUy NoW @ 0.65616\n"
        "sL = 0.65125\nTp1 = 0.66196\nTP2 = 0.67418\n\nBy @ForexKing ✨ All Copyrights Reserved"
    )
    sig = signal(text)
    assert (sig.symbol, sig.side, sig.order_type) == ("AUDUSD", Side.LONG, OrderType.MARKET)
    assert sig.stop_loss == Decimal("0.65125")
    assert sig.take_profits == (Decimal("0.66196"), Decimal("0.67418"))


def test_keywords_after_numbers() -> None:
    sig = signal("XAUUSD buy\n2345 entry\n2335 sl\n2360 tp")
    assert zone(sig) == ("2345", "2345")
    assert sig.stop_loss == Decimal(2335)
    assert sig.take_profits == (Decimal(2360),)


def test_flattened_single_line_message() -> None:
    sig = signal(
        "ARPAUSDT LONGLeverage : 3xEntry : 0.037 - 0.03332Targets: 0.03843 - 0.06Stoploss : 0.0327"
    )
    assert (sig.symbol, sig.side, sig.leverage) == ("ARPA/USDT", Side.LONG, 3)
    assert zone(sig) == ("0.03332", "0.037")
    assert sig.take_profits == (Decimal("0.03843"), Decimal("0.06"))
    assert sig.stop_loss == Decimal("0.0327")


def test_sell_targets_after_a_buy_zone() -> None:
    sig = signal("ICP/USDT\nLeverage 10X\nBuy 57 to 58\nSell  63\nStop 51")
    assert (sig.side, zone(sig), sig.take_profits) == (Side.LONG, ("57", "58"), (Decimal(63),))


@pytest.mark.parametrize(
    "text",
    [
        "DOGE spot buy zone 0.10-0.11 targets 0.12 0.13 stop 0.09",
        "#ARB spot entry 1.00 - 1.05 targets 1.20 - 1.40 sl 0.90",
        "NKNBTC\n\nENTRY: 0.00000260 - 0.00000290\n\nTP1: 0.00000315\n\nSTOP: 0.00000240",
    ],
)
def test_spot_call_without_side_word_is_a_long(text: str) -> None:
    assert signal(text).side is Side.LONG


def test_negated_side_word_is_ignored() -> None:
    sig = signal("Don't Buy now!\nXAUUSD\nSell now: 2050 - 2055\nTP1: 2040\nSL: 2060")
    assert sig.side is Side.SHORT


def test_second_signal_in_one_message_lowers_confidence() -> None:
    result = parse(
        "Gbpjpy sell now 142.000\nSl 143.000\nTp 140.000\n\nGold sell now 1308\nSl 1318\nTp 1290"
    )
    assert isinstance(result.parsed, Signal)
    assert result.parsed.take_profits == (Decimal(140),)
    assert result.confidence < 0.5
