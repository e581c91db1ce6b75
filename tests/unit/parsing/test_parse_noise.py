"""Noise: commentary, news, promotions, results, greetings, analysis without a call."""

import pytest

from signalbridge.parsing import parse


@pytest.mark.parametrize(
    "text",
    [
        "Good morning traders! Have a great week ahead 🌞",
        "+450 pips this week! Amazing results 🔥",
        "Weekly results: EURUSD +120 pips, GOLD +300 pips, GBPJPY -40 pips",
        "Monday 03/08/2026 closed trades:\nGBPUSD BUY TP +50 pips✅\nEURJPY SELL SL -60 pips",
        "Gold is testing 2350 resistance, a break could lead to 2380. Support at 2320.",
        "Join our VIP channel now! 50% discount https://t.me/vip",
        "BREAKING: Fed keeps rates unchanged, dollar index up 0.5%",
        "EURUSD analysis: bearish below 1.0900, next support 1.0820 and 1.0780",
        "Este mensaje no corresponde a ninguna señal conocida",
        "The market is closed for the weekend, see you Monday!",
        "EURUSD running +50 pips, hold",
        "Просто какое-то сообщение без сигнала",
        "",
        "   \n  ",
    ],
)
def test_noise(text: str) -> None:
    result = parse(text)
    assert result.kind == "noise", result.reasons
    assert result.to_dict() == {"kind": "noise", "confidence": result.to_dict()["confidence"]}


def test_plain_chatter_is_confident_noise() -> None:
    assert parse("Good morning traders! Have a great week ahead").confidence >= 0.9


def test_prices_without_a_side_are_not_a_signal() -> None:
    result = parse("XAUUSD\nEntry 4438-4433\nSL 4428\nTP1 4443")
    assert result.kind == "noise"
    assert result.confidence < 0.5
