"""Symbol normalisation: crypto as BASE/QUOTE, everything else from one ticker table."""

import pytest

from signalbridge.parsing import parse


@pytest.mark.parametrize(
    ("text", "symbol"),
    [
        ("#BTC long entry 42000 sl 41000 tp 43000", "BTC/USDT"),
        ("$BTC short now sl 45000 tp 42000", "BTC/USDT"),
        ("BTCUSDT long entry 42000 sl 41000 tp 43000", "BTC/USDT"),
        ("BTC-USDT buy 100 sl 90 tp 120", "BTC/USDT"),
        ("BTCUSDT.P LONG Entry 100 - 105 SL 95 TP 110", "BTC/USDT"),
        ("BTC/USDT long entry 42000 sl 41000 tp 43000", "BTC/USDT"),
        ("ROSE / USDT long entry 0.064 sl 0.059 tp 0.07", "ROSE/USDT"),
        ("1000PEPEUSDT long entry 0.0100 sl 0.0090 tp 0.0120", "1000PEPE/USDT"),
        ("1INCH/USDT Long above 4.0009 Targets: 4.0169 - 4.034 Stop 3.799", "1INCH/USDT"),
        ("ENJ/BTC buy 0.00000800 sl 0.00000700 tp 0.00000950", "ENJ/BTC"),
        ("NKNBTC buy 0.00000260 stop 0.00000240 tp 0.00000315", "NKN/BTC"),
        (
            "Instrument: BTC/USD\nBuy Limit\nEntry price: $65000\nStop: $63500\nTarget: $68000",
            "BTC/USD",
        ),
        ("EUR/USD sell 1.0870 sl 1.0900 tp 1.0800", "EURUSD"),
        ("Gbp cad buy 1.6660 sl 1.6580 tp 1.6700", "GBPCAD"),
        ("UsdChf SELL Now At 0.9541 Sl 0.9565 Tp 0.9480", "USDCHF"),
        ("GOLD BUY FROM CMP 1331 SL = 1327 TP = 1370", "XAUUSD"),
        ("XAU/USD BUY NOW @ 1945 SL 1940 TP 1955", "XAUUSD"),
        ("ORO compra 2300 sl 2290 tp 2320", "XAUUSD"),
        ("ALTIN al 2300 stop 2290 hedef 2320", "XAUUSD"),
        ("ЗОЛОТО покупка 2300 стоп 2290 тейк 2320", "XAUUSD"),
        ("شراء الذهب 2300 وقف الخسارة 2290 الهدف 2310", "XAUUSD"),
        ("𝑋𝐴𝑈𝑈𝑆𝐷 SELL 𝗘𝗻𝘁𝗿𝘆: @4439~4443 𝑇𝑃1: 4430 🚫𝖲𝗍𝗈𝗉 𝖫𝗈𝗌𝗌(𝖲𝖫): 4450", "XAUUSD"),
        ("SILVER buy 25.10 sl 24.80 tp 25.60", "XAGUSD"),
        ("WTI sell 80.5 sl 81.5 tp 78", "USOIL"),
        ("DJ30 buy 39000 sl 38800 tp 39400", "US30"),
        ("US100 sell 18000 sl 18100 tp 17800", "NAS100"),
        ("SPX500\n\nSell @ 7385\n\nTarget 7367 - 7342\nsl.: 7387", "SPX500"),
        ("Buy FET at 2350-2380 sat\ntarget = 3400 sat\nstop bellow 2190", "FET/BTC"),
    ],
)
def test_symbol_is_normalised(text: str, symbol: str) -> None:
    result = parse(text)
    assert result.kind == "signal", result.reasons
    assert result.to_dict()["symbol"] == symbol


def test_a_channel_hashtag_does_not_replace_the_pair() -> None:
    result = parse(
        "[ Photo ]\nBTC scalp short\n\nEntry 35200-36000\n\nstop 36300\n\nTarget 33500\n\n#CCC"
    )
    assert result.to_dict()["symbol"] == "BTC/USDT"
