"""Update confidence (issue 14): the forms raised to the execution threshold, and the
look-alikes that must stay below it.

Each raise rests on complete evidence, never on a corpus row: a hit report beside an
explicit close of the whole position (the close ends whatever the hit left open, so
nothing is lost by carrying one action), a pending-order cancel whose every word is
explained, and "amankan posisi ke BE" (Indonesian: secure the position at break-even).
Beside each, messages that look the same but say something else: a question, a hedge, a
second instruction the update cannot carry, another instrument, a negation, another time
than now, someone else's trade. Examples written for these tests.
"""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signalbridge.domain.signals import SignalUpdate, UpdateAction
from signalbridge.parsing import parse

A = UpdateAction
SURE = 0.9  # the default execution threshold


def update(text: str) -> tuple[SignalUpdate, float]:
    result = parse(text)
    assert isinstance(result.parsed, SignalUpdate), (result.kind, result.reasons)
    return result.parsed, result.confidence


@pytest.mark.parametrize(
    ("text", "action", "value"),
    [
        ("TP3 hit ✅ close the position fully", A.CLOSE_ALL, None),
        ("SL hit, close all trades", A.CLOSE_ALL, None),
        ("EURUSD TP2 reached, close the trade now", A.CLOSE_ALL, None),
        ("Цель 2 взята, позиция закрыта", A.CLOSE_ALL, None),
        ("TP2 tercapai, tutup semua posisi", A.CLOSE_ALL, None),
        ("止盈2已达到，全部平仓", A.CLOSE_ALL, None),
        ("Lệnh limit mình cứ tạm huỷ nha", A.CANCEL, None),
        ("amankan posisi ke BE ya", A.MOVE_SL_TO_ENTRY, None),
        ("Amankan posisi ke entry", A.MOVE_SL_TO_ENTRY, None),
    ],
)
def test_complete_evidence_reaches_the_threshold(
    text: str, action: UpdateAction, value: Decimal | None
) -> None:
    parsed, confidence = update(text)
    assert (parsed.action, parsed.value) == (action, value)
    assert confidence >= SURE


def test_the_close_settles_the_hit_but_says_so() -> None:
    result = parse("TP2 hit, close all")
    assert any("settles" in reason for reason in result.reasons)


@pytest.mark.parametrize(
    "text",
    [
        # a hit beside a partial close or a stop move: the hit's own partial close is lost
        "TP1 hit, close 50%",
        "TP1 hit, move SL to entry",
        "TP1 hit, close half and move SL to entry",
        "TP1 hit, close the trade and move SL to entry",
        # a question, a hedge, a condition
        "TP2 hit ✅ close all?",
        "TP2 hit, close the rest if you want",
        "TP2 hit, you may close the rest",
        "Close all if TP1 is hit",
        # another instrument, a reversal, a new call
        "TP1 hit on EURUSD, close GBPUSD",
        "TP1 hit on gold, TP2 hit on silver, close all",
        "TP2 hit, close the buy and sell gold now",
        "TP2 hit, close all and buy again at 1.0850",
        # negated, later, someone else's
        "TP1 hit, do not close yet",
        "TP1 hit, close all tomorrow",
        "TP2 reached, closing the rest tomorrow",
        "He hit TP2 and closed his trade",
        "TP2 hit, I closed my position, you can hold for TP3",
        # the cancel and the break-even raises' look-alikes
        "Kèo limit ta chưa xoá nha",  # not deleted yet
        "đừng xoá kèo limit nha",  # don't delete the limit order
        "amankan posisi ke breakeven kalau TP1 kena",  # if TP1 is hit
    ],
)
def test_look_alikes_of_the_raises_stay_below(text: str) -> None:
    result = parse(text)
    assert result.confidence < SURE, (result.kind, result.reasons)


@pytest.mark.parametrize(
    "text",
    [
        # another time than now: the executor acts at once
        "Close all tomorrow",
        "I will close the rest soon",
        "close all later",
        "Move SL to entry tomorrow",
        "We will move SL to entry after TP1",
        "close all before the weekend",
        "Going to close half soon",
        "SL to BE in a minute",
        "Close everything next week",
        "Close half when price reaches 1.0950",
        "Yesterday I moved SL to entry",
        "Close 50% at TP2",
        "Close all at 1.0950",
        "Close half, and close the rest at TP3",
        "Закрываем позицию завтра",
        "Cerrar todo mañana",
        "Tutup semua posisi besok",
        "明天全部平仓",
        # someone else's trade
        "He closed his BTC long",
        "My friend moved his SL to entry",
        "Stop loss moved to entry by many members",
        "Members closed at TP2",
        "Move SL to entry, he said",
        # a second instruction the one action cannot carry
        "Cancel the limit order and buy at market",
        "Move SL to 1.0850 and TP to 1.0950",
        "Move SL to entry, sell now",
        "TP2 change to 1.0950 and SL to 1.0800",
        # a share named beside a close read as whole, and the reverse
        "Closed 50%",
        "TP1 ✅ closed 50%",
        "TP2 hit. Closing TP2 only",
        "Close all, +50% profit",
    ],
)
def test_not_now_not_ours_or_not_alone_stays_below(text: str) -> None:
    result = parse(text)
    assert result.confidence < SURE, (result.kind, result.reasons)


@pytest.mark.parametrize(
    "text",
    [
        "Close all trades now",
        "Move SL to entry",
        "TP2 change to 1.0950",
        "Cancel the buy limit order",
        "Close half",
        "SL moved to 1.0850",
        "Close all at once",
        "Close position\nBTC by 35091\nProfit is +300%",  # a result, not a share
    ],
)
def test_plain_instructions_keep_their_confidence(text: str) -> None:
    assert update(text)[1] >= SURE


_CLEAR = (
    "Close all trades now",
    "Move SL to entry",
    "Close half",
    "Cancel the buy limit order",
    "SL moved to 1.0850",
    "TP2 hit, close the position",
)
_NOT_NOW = (
    "tomorrow",
    "later",
    "after TP1",
    "in a minute",
    "before the weekend",
    "he said",
    "if you want",
    "?",
    "and buy at market",
)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(_CLEAR),
    st.sampled_from(_NOT_NOW),
    st.sampled_from(("", "EURUSD ", "#BTCUSDT ")),
)
def test_a_clear_instruction_for_another_time_or_person_is_never_sure(
    base: str, tail: str, symbol: str
) -> None:
    text = f"{symbol}{base} {tail}" if tail != "?" else f"{symbol}{base}?"
    result = parse(text)
    assert result.confidence < SURE, (text, result.kind, result.reasons)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=60), st.sampled_from(_CLEAR))
def test_free_text_before_a_hit_and_close_never_lifts_a_doubt(noise: str, base: str) -> None:
    """Whatever comes before it, a message never becomes surer for naming a hit beside a
    stop move or a partial close (only a full close settles the hit)."""
    for action_text in ("TP1 hit, move SL to entry", "TP1 hit, close 50%"):
        result = parse(f"{noise}\n{action_text}")
        if isinstance(result.parsed, SignalUpdate):
            assert result.confidence < SURE, (noise, result.reasons)
