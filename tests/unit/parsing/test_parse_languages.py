"""The same signals with Russian, Spanish, Portuguese, Turkish and Arabic keywords."""

from decimal import Decimal

import pytest

from signalbridge.domain.signals import Side, Signal
from signalbridge.parsing import parse

CASES = [
    (
        "#Идея BTC/USDT 4H LONG\nВход: 95000-96000\nСтоп: 90000\nТейк 1: 100000\n"
        "Тейк 2: 105000\nПлечо: 10x",
        ("BTC/USDT", Side.LONG, "95000", "96000", "90000", ["100000", "105000"], 10),
    ),
    (
        "SOL/USDT ШОРТ\nВход: 150\nСтоп-лосс: 160\nЦели: 140 / 130",
        ("SOL/USDT", Side.SHORT, "150", "150", "160", ["140", "130"], None),
    ),
    (
        "ЗОЛОТО покупка 2300 стоп 2290 тейк 2320",
        ("XAUUSD", Side.LONG, "2300", "2300", "2290", ["2320"], None),
    ),
    (
        "EURUSD VENTA\nEntrada: 1.0870\nStop loss: 1.0900\nObjetivo 1: 1.0820\n"
        "Objetivo 2: 1.0780\nApalancamiento: 20x",
        ("EURUSD", Side.SHORT, "1.087", "1.087", "1.09", ["1.082", "1.078"], 20),
    ),
    (
        "COMPRA ORO ahora\nSL 2290\nTP 2320",
        ("XAUUSD", Side.LONG, None, None, "2290", ["2320"], None),
    ),
    (
        "EURUSD COMPRA\nEntrada: 1.0850\nStop: 1.0820\nAlvo 1: 1.0880\nAlvo 2: 1.0900\n"
        "Alavancagem 10x",
        ("EURUSD", Side.LONG, "1.085", "1.085", "1.082", ["1.088", "1.09"], 10),
    ),
    (
        "VENDA BTC/USDT\nEntrada: 65000 - 66000\nStop: 67000\nAlvos: 63000 / 61000",
        ("BTC/USDT", Side.SHORT, "65000", "66000", "67000", ["63000", "61000"], None),
    ),
    (
        "BTC/USDT LONG\nGiriş: 65000\nStop: 64000\nHedef 1: 66000\nHedef 2: 67000\nKaldıraç: 10x",
        ("BTC/USDT", Side.LONG, "65000", "65000", "64000", ["66000", "67000"], 10),
    ),
    (
        "📊 YENİ SİNYAL\n\nCoin: #MATIC\nYön: LONG 📈\nGiriş: 0,85\nHedef 1: 0,88\n"
        "Hedef 2: 0,91\nStop: 0,82\nKaldıraç: 10x",
        ("MATIC/USDT", Side.LONG, "0.85", "0.85", "0.82", ["0.88", "0.91"], 10),
    ),
    (
        "شراء الذهب\nالدخول: 2300\nوقف الخسارة: 2290\nالهدف 1: 2310\nالهدف 2: 2320",
        ("XAUUSD", Side.LONG, "2300", "2300", "2290", ["2310", "2320"], None),
    ),
    (
        "بيع EUR/USD\nدخول ١٫٠٨٧٠\nوقف الخسارة ١٫٠٩٠٠\nهدف ١٫٠٨٢٠",
        ("EURUSD", Side.SHORT, "1.087", "1.087", "1.09", ["1.082"], None),
    ),
]


@pytest.mark.parametrize(("text", "want"), CASES)
def test_signal_in_other_languages(text: str, want: tuple[object, ...]) -> None:
    result = parse(text)
    assert isinstance(result.parsed, Signal), result.reasons
    data = result.to_dict()
    symbol, side, low, high, sl, tps, lev = want
    assert data["symbol"] == symbol
    assert data["side"] == side.value
    assert data["entry"] == (None if low is None else {"low": low, "high": high})
    assert data["stop_loss"] == sl
    assert data["take_profits"] == tps
    assert data["leverage"] == lev
    assert result.confidence >= 0.9


def test_persian_digits_are_read() -> None:
    result = parse("XAUUSD BUY ۲۳۰۰ SL ۲۲۹۰ TP ۲۳۲۰")
    assert isinstance(result.parsed, Signal)
    assert result.parsed.stop_loss == Decimal(2290)
