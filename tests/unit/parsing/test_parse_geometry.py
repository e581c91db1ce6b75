"""Broken geometry is reported, never fixed: low confidence and a reason."""

from decimal import Decimal

import pytest

from signalbridge.domain.signals import Signal
from signalbridge.parsing import parse


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("EURUSD BUY 1.0850 SL 1.0900 TP 1.0950", "stop loss 1.0900 must be below the entry"),
        ("EURUSD SELL 1.0850 SL 1.0800 TP 1.0700", "must be above the entry"),
        ("Sell Gold @4046-4051\nSL: 4049\nTP1: 4030", "must be above the entry"),
        ("XAUUSD BUY 2300 SL 2290 TP 2280", "take profit 1 (2280) must be above the entry"),
    ],
)
def test_broken_geometry_is_low_confidence_with_a_reason(text: str, phrase: str) -> None:
    result = parse(text)
    assert isinstance(result.parsed, Signal)
    assert result.confidence < 0.5
    assert any(phrase in reason for reason in result.reasons), result.reasons


def test_broken_signal_is_not_fixed() -> None:
    result = parse("EURUSD BUY 1.0850 SL 1.0900 TP 1.0950")
    assert isinstance(result.parsed, Signal)
    assert result.parsed.stop_loss == Decimal("1.09")  # kept as written, not swapped


def test_implausible_forex_price_is_flagged() -> None:
    result = parse("#CADCHF BUY\nAt :73.94\nSL :73.76\nTP :76.01")
    assert result.confidence < 0.5
    assert any("implausible" in reason for reason in result.reasons)


def test_coherent_signal_is_confident() -> None:
    assert parse("EURUSD BUY 1.0850 SL 1.0800 TP 1.0950").confidence >= 0.9
