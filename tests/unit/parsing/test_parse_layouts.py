"""Layouts and wordings that real channels use (issue 14), with examples written here.

Market calls, labels after their numbers, emoji labels, tables, label-first posts, spaces
as thousands separators, written-out index names, local names for gold, targets and
stops in prose, and analysis that mentions a symbol and a number without calling a trade.
"""

import pytest

from signalbridge.domain.signals import OrderType, Side, Signal, fmt_decimal
from signalbridge.parsing import parse


def signal(text: str) -> Signal:
    result = parse(text)
    assert isinstance(result.parsed, Signal), (result.kind, result.reasons)
    return result.parsed


def levels(sig: Signal) -> tuple[tuple[str, str] | None, str | None, list[str]]:
    entry = None if sig.entry is None else (fmt_decimal(sig.entry.low), fmt_decimal(sig.entry.high))
    sl = None if sig.stop_loss is None else fmt_decimal(sig.stop_loss)
    return entry, sl, [fmt_decimal(tp) for tp in sig.take_profits]


@pytest.mark.parametrize(
    ("text", "entry"),
    [
        ("XAUUSD BUY market (now ~2350)\nSL 2340\nTP 2365", ("2350", "2350")),
        ("EURUSD BUY\nEntry: market (now ~1.0850)\nSL: 1.0800\nTP: 1.0950", ("1.085", "1.085")),
        ("#BTCUSDT\nBUY @ market, close=65000\nStop: 63000\nTarget: 68000", ("65000", "65000")),
        ("GOLD BUY @ market, close=2350.40 | SL 2340 | TP 2365", ("2350.4", "2350.4")),
        ("GOLD\nSELL NOW 2350 - 2355\nSL 2362\nTP 2340", ("2350", "2355")),
        ("XAUUSD — SELL NOW 2350 - 2355 — SL 2362 — TP 2340 / 2330", ("2350", "2355")),
        ("GBPUSD sell now, price near 1.2650\nSL 1.2700 TP 1.2600", ("1.265", "1.265")),
        ("sell now gold, price near 2350. stop 2362, target 2340", ("2350", "2350")),
        ("US30 sell now, price near 39,200\nSL 39,400\nTP 38,900", ("39200", "39200")),
        ("ETH/USDT LONG\nEntry: CMP (now ~3500)\nSL: 3400\nTP: 3700", ("3500", "3500")),
        ("BTC/USDT LONG at market (currently ~64 500)\nSL 63 000\nTP 66 000", ("64500", "64500")),
        ("NAS100 SELL NOW 18 420 - 18 440\nSL 18 500\nTP 18 300", ("18420", "18440")),
    ],
)
def test_market_means_market_and_keeps_the_quoted_price(text: str, entry: tuple[str, str]) -> None:
    sig = signal(text)
    assert sig.order_type is OrderType.MARKET
    assert levels(sig)[0] == entry


@pytest.mark.parametrize(
    "text",
    [
        "EURUSD BUY 1.0850\n1.0800 stop\n1.0900 tp1\n1.0950 tp2",
        "EURUSD BUY 1.0850\n1.0800 SL\n1.0900 TP1\n1.0950 TP2",
        "EURUSD BUY 1.0850\n1.0800 stop loss\n1.0900 target 1\n1.0950 target 2",
        "EURUSD BUY 1.0850, 1.0800 stop, 1.0900 tp1, 1.0950 tp2",
    ],
)
def test_a_label_after_its_number(text: str) -> None:
    sig = signal(text)
    assert levels(sig) == (("1.085", "1.085"), "1.08", ["1.09", "1.095"])


@pytest.mark.parametrize(
    "text",
    [
        "EURUSD BUY 1.0850\n❌ 1.0800\n✅ 1.0900\n✅ 1.0950",
        "EURUSD BUY 1.0850\n❌1.0800\n🎯1.0900\n🎯1.0950",
        "EURUSD BUY @ 1.0850 ❌ 1.0800 ✅ 1.0900 ✅ 1.0950",
        "EURUSD BUY 1.0850\n❌ Stop: 1.0800\n✅ TP1: 1.0900\n✅ TP2: 1.0950",
    ],
)
def test_emoji_as_labels(text: str) -> None:
    assert levels(signal(text)) == (("1.085", "1.085"), "1.08", ["1.09", "1.095"])


@pytest.mark.parametrize(
    "text",
    [
        "PAIR | SIDE | ENTRY | SL | TP\nEURUSD | BUY | 1.0850 | 1.0800 | 1.0950",
        "Pair | Side | Entry | SL | TP1 | TP2\nEURUSD | Buy | 1.0850 | 1.0800 | 1.0950 | 1.1000",
        "PAIR  SIDE  ENTRY   SL      TP\nEURUSD BUY  1.0850  1.0800  1.0950",
        "| Pair | Side | Entry | Stop | Target |\n|---|---|---|---|---|\n"
        "| EURUSD | BUY | 1.0850 | 1.0800 | 1.0950 |",
    ],
)
def test_a_table_with_a_header_row(text: str) -> None:
    sig = signal(text)
    assert (sig.symbol, sig.side) == ("EURUSD", Side.LONG)
    entry, sl, tps = levels(sig)
    assert (entry, sl, tps[0]) == (("1.085", "1.085"), "1.08", "1.095")
    assert sig.order_type is OrderType.LIMIT


@pytest.mark.parametrize(
    "text",
    [
        "SL 1.0800\nTP 1.0950\nBUY EURUSD 1.0850",
        "Stop loss: 1.0800\nTake profit: 1.0950\nEURUSD BUY @ 1.0850",
        "SL: 1.0800 | TP: 1.0950\nBuy EURUSD at 1.0850",
    ],
)
def test_label_first_layouts(text: str) -> None:
    sig = signal(text)
    assert (sig.symbol, sig.side) == ("EURUSD", Side.LONG)
    assert levels(sig) == (("1.085", "1.085"), "1.08", ["1.095"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "BTCUSDT LONG 68 150 SL 67 000 TP 70 500",
            (("68150", "68150"), "67000", ["70500"]),
        ),
        (
            "BTC/USDT\nDirection: LONG\nEntry: 64 500\nStop: 63 000\nTargets: 66 000 / 68 000",
            (("64500", "64500"), "63000", ["66000", "68000"]),
        ),
        (
            "US30 SELL 39 200 SL 39 400 TP 38 900 / 38 600",
            (("39200", "39200"), "39400", ["38900", "38600"]),
        ),
        (
            "BTC LONG 68 150,5 SL 67 000 TP 70 500",  # a decimal comma after the groups
            (("68150.5", "68150.5"), "67000", ["70500"]),
        ),
    ],
)
def test_a_space_as_thousands_separator(
    text: str, expected: tuple[tuple[str, str], str, list[str]]
) -> None:
    assert levels(signal(text)) == expected


def test_a_space_between_two_numbers_is_not_a_separator_when_it_is_ambiguous() -> None:
    sig = signal("EURUSD BUY 1.0850 SL 1.0800 TP 1.0900 1.0950")
    assert levels(sig) == (("1.085", "1.085"), "1.08", ["1.09", "1.095"])
    sig = signal("ETH/USDT LONG entry 3500 sl 3400 tp 3600 3700 3800")
    assert levels(sig)[2] == ["3600", "3700", "3800"]


@pytest.mark.parametrize(
    ("text", "symbol"),
    [
        ("FTSE 100 BUY 8150 SL 8100 TP 8250", "UK100"),
        ("Nikkei 225 SELL 39500 SL 39800 TP 39000", "JP225"),
        ("DAX BUY 18200 SL 18100 TP 18400", "GER40"),
        ("Dow Jones SELL 39200 SL 39400 TP 38900", "US30"),
        ("S&P 500 BUY 5200 SL 5180 TP 5250", "SPX500"),
        ("Nasdaq 100 BUY 18400 SL 18300 TP 18600", "NAS100"),
        ("ALTIN SAT 2350 SL 2360 TP 2330", "XAUUSD"),
        ("Altın al 2350 stop 2340 hedef 2365", "XAUUSD"),
        ("黄金 做多 2350 止损 2340 止盈 2365", "XAUUSD"),
        ("Vàng Buy 2350 SL 2340 TP 2365", "XAUUSD"),
    ],
)
def test_index_names_and_gold_in_local_names(text: str, symbol: str) -> None:
    sig = signal(text)
    assert sig.symbol == symbol
    assert sig.stop_loss is not None and sig.take_profits


@pytest.mark.parametrize(
    ("text", "sl", "tps"),
    [
        (
            "BTC/USDT long 65000, looking for 67000 first, then 69000. Invalidation below 63000",
            "63000",
            ["67000", "69000"],
        ),
        (
            "Short ETH/USDT at 3500. Looking for 3400 first, then 3300; invalidation above 3600.",
            "3600",
            ["3400", "3300"],
        ),
        (
            "EURUSD sell 1.0850, targeting 1.0800 then 1.0750, invalidation above 1.0900",
            "1.09",
            ["1.08", "1.075"],
        ),
    ],
)
def test_targets_and_stop_in_prose(text: str, sl: str, tps: list[str]) -> None:
    sig = signal(text)
    assert levels(sig)[1:] == (sl, tps)


@pytest.mark.parametrize(
    "text",
    [
        "BTC funding rate at 0.0345 is getting high, longs are paying",
        "ETH/BTC ratio at 0.0345, lowest since 2021",
        "Funding on SOL is 0.012% every 8h: crowded longs",
        "BTC dominance at 54.3%, alts bleeding",
        "Open interest on BTC up to 18.2B, careful",
        "The ETH/BTC ratio sits at 0.0521 while BTC holds 65000",
    ],
)
def test_analysis_with_a_symbol_and_a_number_is_noise(text: str) -> None:
    result = parse(text)
    assert result.kind == "noise", result.reasons
