"""Reading a follow-up message: which management action it asks for, and its value.

The expressions and the keyword gates in front of them are in
:mod:`signalbridge.parsing.updates`; this module decides which of them to run on a
message, and which action wins when a message names several.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from signalbridge.domain.signals import UpdateAction
from signalbridge.parsing.numbers import parse_number
from signalbridge.parsing.updates import (
    ANY_ALL,
    ANY_BE_SUBSTRING,
    ANY_BE_VERB,
    ANY_BE_WORD,
    ANY_CANCEL,
    ANY_CHECK,
    ANY_CLOSE,
    ANY_CROSS,
    ANY_HIT,
    ANY_HIT_WORD,
    ANY_MODIFY,
    ANY_MOVE,
    ANY_NOW,
    ANY_ORDINAL,
    ANY_PARTIAL,
    ANY_PCT,
    ANY_REACHED,
    ANY_SECURE,
    ANY_SL,
    ANY_TP,
    ANY_UPDATE_SUBSTRING,
    BE_END,
    BOOK,
    CANCEL,
    CLOSE,
    CLOSE_AFTER,
    CLOSE_BEFORE,
    HALF,
    HIT_ANY,
    LOSS_CROSS,
    LOSS_NUMBER,
    MODIFY_TP,
    MOVE_BE_SECURE,
    MOVE_BE_SL,
    MOVE_BE_VERB,
    MOVE_BE_WORD,
    MOVE_SL,
    MOVE_TO_TP,
    ORDINALS,
    PARTIAL,
    PARTIAL_ALONE,
    SL_HIT,
    SL_LOSS,
    SL_NOW,
    SL_VALUE,
    TO_TP,
    TP_HIT,
    TP_HIT_NO_HIT_WORD,
    TP_ORDINAL,
    TRAILED,
    partial_pct,
)


@dataclass(frozen=True, slots=True)
class UpdateHit:
    action: UpdateAction
    value: Decimal | None
    others: int  # how many other actions the text also names


_PRIORITY: Final = (
    UpdateAction.CLOSE_PARTIAL,
    UpdateAction.CLOSE_ALL,
    UpdateAction.CANCEL,
    UpdateAction.MOVE_SL_TO_ENTRY,
    UpdateAction.MOVE_SL,
    UpdateAction.MODIFY_TP,
    UpdateAction.SL_HIT,
    UpdateAction.TP_HIT,
)


_DIGIT: Final = re.compile(r"\d")


def _any_be(low: str) -> bool:
    return ANY_BE_SUBSTRING(low) or BE_END(low) is not None


def _any_update_word(low: str) -> bool:
    return ANY_UPDATE_SUBSTRING(low) or BE_END(low) is not None


def find_update(low: str) -> UpdateHit | None:
    """The management action a lower-case message asks for, or ``None``."""
    if not _any_update_word(low):
        return None  # no gate in read_update can open: one scan instead of a dozen
    return read_update(low)


def read_update(low: str) -> UpdateHit | None:
    """:func:`find_update` for a message that has at least one update word."""
    found: dict[UpdateAction, Decimal | None] = {}
    digits = _DIGIT.search(low) is not None
    closing = ANY_CLOSE(low)
    if "%" in low and ANY_PCT(low) and (m := partial_pct(low)) is not None:
        found[UpdateAction.CLOSE_PARTIAL] = parse_number(_first_group(m) or "")
    elif ANY_PARTIAL(low):
        if HALF.search(low):
            found[UpdateAction.CLOSE_PARTIAL] = Decimal(50)
        elif (closing and PARTIAL.search(low) and CLOSE.search(low)) or PARTIAL_ALONE.search(low):
            found[UpdateAction.CLOSE_PARTIAL] = None
    if UpdateAction.CLOSE_PARTIAL not in found and (
        (closing and _asks_to_close(low)) or ("book" in low and BOOK.search(low))
    ):
        found[UpdateAction.CLOSE_ALL] = None
    if ANY_CANCEL(low) and CANCEL.search(low):
        found[UpdateAction.CANCEL] = None
    sl_word = ANY_SL(low)
    tp_word = ANY_TP(low)
    if _moves_to_entry(low, sl_word):
        found[UpdateAction.MOVE_SL_TO_ENTRY] = None
    moved_to_tp = (
        sl_word and tp_word and TO_TP.search(low) is not None and MOVE_TO_TP.search(low) is not None
    )
    if moved_to_tp:
        found[UpdateAction.MOVE_SL] = None
    elif "trailing" in low and TRAILED.search(low) is not None:
        m = SL_VALUE.search(low)
        found[UpdateAction.MOVE_SL] = None if m is None else _first_number(m)
    elif digits and sl_word and (m := _move_sl(low)) is not None:
        value = _first_number(m)
        if value is not None:
            found[UpdateAction.MOVE_SL] = value
    if (
        digits
        and tp_word
        and not moved_to_tp
        and ANY_MODIFY(low)
        and (m := MODIFY_TP.search(low)) is not None
    ):
        value = _first_number(m)
        if value is not None:
            found[UpdateAction.MODIFY_TP] = value
    if (ANY_HIT(low) and SL_HIT.search(low)) or (
        sl_word
        and (
            LOSS_NUMBER.search(low) is not None
            or (ANY_CROSS(low) and LOSS_CROSS.search(low) is not None)
        )
        and SL_LOSS.search(low)
    ):
        found[UpdateAction.SL_HIT] = None
    if tp_word or "تحقق" in low:
        tp_index = _tp_hit(low)
        if (tp_index is None or tp_index[0] is None) and ANY_ORDINAL(low):
            m = TP_ORDINAL.search(low)
            if m is not None and (tp_index is not None or HIT_ANY.search(low) is not None):
                tp_index = (Decimal(ORDINALS[m.group(1) or m.group(2)]),)
        if tp_index is not None:
            found[UpdateAction.TP_HIT] = tp_index[0]
    if not found:
        return None
    for action in _PRIORITY:
        if action in found:
            return UpdateHit(action, found[action], len(found) - 1)
    return None  # pragma: no cover - every found action is in _PRIORITY


def _moves_to_entry(low: str, sl_word: bool) -> bool:
    """Any wording of "stop to entry / break-even", each behind the words it needs."""
    be_word = _any_be(low)
    return (
        (sl_word and be_word and MOVE_BE_SL.search(low) is not None)
        or (be_word and ANY_BE_VERB(low) and MOVE_BE_VERB.search(low) is not None)
        or (ANY_BE_WORD(low) and MOVE_BE_WORD.search(low) is not None)
        or ("entry" in low and ANY_SECURE(low) and MOVE_BE_SECURE.search(low) is not None)
    )


def _move_sl(low: str) -> re.Match[str] | None:
    """The leftmost "move the stop to a price" match (``low`` has a digit and a stop word)."""
    main = MOVE_SL.search(low) if ANY_MOVE(low) else None
    now = SL_NOW.search(low) if ANY_NOW(low) else None
    if now is not None and (main is None or now.start() <= main.start()):
        return now
    return main


def _asks_to_close(low: str) -> bool:
    """A "close" that is an instruction, not "a candle close above 1.2345"."""
    for m in CLOSE.finditer(low):
        if CLOSE_BEFORE.search(low, max(0, m.start() - 12), m.start()) is not None:
            continue
        if CLOSE_AFTER.match(low, m.end()) is None:
            return True
    return False


def _first_group(m: re.Match[str]) -> str | None:
    """The text of the first group that took part in the match, if any (not empty)."""
    for group in m.groups():
        if group:
            return group
    return None


def _first_number(m: re.Match[str]) -> Decimal | None:
    group = _first_group(m)
    return None if group is None else parse_number(group)


def _tp_hit(low: str) -> tuple[Decimal | None] | None:
    best: int | None = None
    matched = False
    patterns: tuple[re.Pattern[str], ...]
    if ANY_HIT_WORD(low):
        patterns = (
            TP_HIT[0],
            *((TP_HIT[1],) if ANY_REACHED(low) else ()),
            TP_HIT[2],
            *((TP_HIT[3],) if ANY_ALL(low) else ()),
            TP_HIT[4],
            TP_HIT[5],
        )
    elif ANY_CHECK(low):
        patterns = TP_HIT_NO_HIT_WORD
    else:
        patterns = TP_HIT_NO_HIT_WORD[:1]
    for pattern in patterns:
        for m in pattern.finditer(low):
            matched = True
            number = _first_group(m)  # the target's number, where the wording gives one
            if number is not None:
                index = int(number)
                if 1 <= index <= 10 and (best is None or index > best):
                    best = index
    if not matched:
        return None
    return (None if best is None else Decimal(best),)
