"""Update confidence is a score of the evidence, not a constant.

A clear instruction (an explicit verb and its object, the value it needs, nothing else
in the message that contradicts it) reaches the execution threshold of 0.9; a vague or
conditional one stays below it, so a human reviews it. Examples written for these tests.
"""

from decimal import Decimal

import pytest

from signalbridge.domain.signals import SignalUpdate, UpdateAction
from signalbridge.parsing import parse

A = UpdateAction


def update(text: str) -> tuple[SignalUpdate, float]:
    result = parse(text)
    assert isinstance(result.parsed, SignalUpdate), (result.kind, result.reasons)
    return result.parsed, result.confidence


@pytest.mark.parametrize(
    ("text", "action", "value"),
    [
        ("Move SL to entry", A.MOVE_SL_TO_ENTRY, None),
        ("move stop loss to breakeven", A.MOVE_SL_TO_ENTRY, None),
        ("SL to BE now", A.MOVE_SL_TO_ENTRY, None),
        ("Close half", A.CLOSE_PARTIAL, Decimal(50)),
        ("Close 30% of the position", A.CLOSE_PARTIAL, Decimal(30)),
        ("TP2 hit", A.TP_HIT, Decimal(2)),
        ("Target 3 reached ✅", A.TP_HIT, Decimal(3)),
        ("SL moved to 1.0850", A.MOVE_SL, Decimal("1.085")),
        ("Move SL to 2345.5", A.MOVE_SL, Decimal("2345.5")),
        ("Close all trades now", A.CLOSE_ALL, None),
        ("SL hit", A.SL_HIT, None),
        ("Stopped out", A.SL_HIT, None),
        ("Cancel the buy limit order", A.CANCEL, None),
        ("TP2 change to 1.0950", A.MODIFY_TP, Decimal("1.095")),
        ("EURUSD TP1 hit ✅", A.TP_HIT, Decimal(1)),
        ("#BTCUSDT move SL to entry", A.MOVE_SL_TO_ENTRY, None),
    ],
)
def test_clear_updates_reach_the_threshold(
    text: str, action: UpdateAction, value: Decimal | None
) -> None:
    parsed, confidence = update(text)
    assert (parsed.action, parsed.value) == (action, value)
    assert confidence >= 0.9


def test_a_symbol_makes_an_update_surer() -> None:
    assert update("EURUSD: move SL to entry")[1] > update("move SL to entry")[1]


@pytest.mark.parametrize(
    "text",
    [
        "breakeven",  # a word, no instruction
        "Target hit",  # which target?
        "Move SL to TP1",  # the new stop is a level named, not a price
        "Partial close",  # how much?
        "If price reaches 1.0900, move SL to entry",  # conditional
        "You may want to close half here",  # a suggestion
        "consider closing the trade",
        "1 тейк, стоп в б/у",  # two actions in one message
        "We recommend closing part of the position and moving the stop to breakeven.",
        "2nd target",  # no hit word
        "Gold closed above 2350, move SL to 2340 if you like",
    ],
)
def test_vague_updates_stay_below_the_threshold(text: str) -> None:
    result = parse(text)
    assert result.confidence < 0.9, (result.kind, result.reasons)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("TP2 change to 1.0950", Decimal("1.095")),
        ("Change TP2 to 1.0950", Decimal("1.095")),
        ("Change TP 2 to 1.0950", Decimal("1.095")),
        ("TP #2 changed to 2385", Decimal(2385)),
        ("Change TP #2 to 2385", Decimal(2385)),
        ("TP 10 moved to 0.55", Decimal("0.55")),
        ("Set TP3 at 69,500", Decimal(69500)),
        ("Update target 2 -> 1.2700", Decimal("1.27")),
        ("TP2 is now 1.0950", Decimal("1.095")),
        ("Change TP2 from 1.0900 to 1.0950", Decimal("1.095")),
    ],
)
def test_a_target_change_carries_the_new_price_not_the_targets_number(
    text: str, value: Decimal
) -> None:
    parsed, _ = update(text)
    assert parsed.action is A.MODIFY_TP
    assert parsed.value == value


@pytest.mark.parametrize(
    "text",
    [
        "The EURUSD buy limit is cancelled",
        "Delete the sell stop on gold",
        "Remove the buy limit order",
        "Pending order removed, price ran away",
        "Close the pending order on GBPJPY",
        "Our limit was not filled, we cancel it",
        "Scrap the buy limit at 1.0850",
        "Withdraw the pending orders",
    ],
)
def test_a_pending_order_cancelled_in_words(text: str) -> None:
    parsed, _ = update(text)
    assert parsed.action is A.CANCEL
