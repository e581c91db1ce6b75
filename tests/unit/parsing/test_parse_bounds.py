"""Bounds: the parser never outputs a value the store cannot hold (NUMERIC(38, 18))."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signalbridge.domain.bounds import check_storable
from signalbridge.domain.signals import Signal, SignalUpdate
from signalbridge.parsing import parse


def _values(text: str) -> list[Decimal]:
    parsed = parse(text).parsed
    if isinstance(parsed, Signal):
        out = list(parsed.take_profits)
        if parsed.entry is not None:
            out += [parsed.entry.low, parsed.entry.high]
        if parsed.stop_loss is not None:
            out.append(parsed.stop_loss)
        return out
    if isinstance(parsed, SignalUpdate) and parsed.value is not None:
        return [parsed.value]
    return []


def _check(text: str) -> None:
    for value in _values(text):
        check_storable(value)  # raises NumberOutOfBounds for a value the store refuses
    parse(text).to_dict()  # and the output always serialises


@pytest.mark.parametrize(
    "text",
    [
        "BTC/USDT buy 0.0000000000000000001 sl 0.00000000000000000009 tp 0.0000000000000000002",
        "BTC/USDT buy .0000000000000000001 sl .00000000000000000009 tp .0000000000000000002",
        "BTC/USDT buy 999999999999999999999 sl 99999999999999999999 tp 9999999999999999999999",
        "BTC/USDT buy 99999999999999999999k sl 1 tp 2",
        "BTC/USDT buy 99 999 999 999 999 999 999 sl 1 tp 2",
        "move SL to 999999999999999999999999",
        "Change TP2 to 0.00000000000000000000001",
        '{"ticker": "BTCUSDT", "action": "buy", "price": 1e30}',
        '{"ticker": "BTCUSDT", "action": "buy", "price": 1e-30, "sl": 1}',
        '{"ticker": "BTCUSDT", "action": "buy", "price": "123456789012345678901234"}',
        "123456789,buy,EURUSD,price=1e30,sl=1.0800,tp=1.0950",
    ],
)
def test_out_of_range_numbers_never_reach_the_output(text: str) -> None:
    _check(text)


_DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=30)
_NUMBER = st.one_of(
    _DIGITS,
    st.builds(lambda a, b: f"{a}.{b}", _DIGITS, _DIGITS),
    st.builds(lambda b: f".{b}", _DIGITS),
    st.builds(lambda a: f"{a}k", _DIGITS),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_NUMBER, min_size=3, max_size=3))
def test_any_number_in_a_signal_is_storable(numbers: list[str]) -> None:
    entry, sl, tp = numbers
    _check(f"BTC/USDT LONG entry {entry} SL {sl} TP {tp}")
    _check(f"Move SL to {entry}")
    _check(f"TP2 change to {tp}")


@pytest.mark.parametrize("digit", ["\u1369", "\u2474", "\u00b2", "\u2460", "\U0001d7d9"])
def test_digits_decimal_refuses_never_raise(digit: str) -> None:
    # str.isdigit() holds for the Ethiopic digit one and others that Decimal() refuses
    for text in (f"BTC/USDT long 6{digit}5 sl 1 tp 2", f"TP{digit} hit", f"move sl to 1.{digit}"):
        _check(text)
