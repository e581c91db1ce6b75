"""Reading a follow-up message: which management action it asks for, and its value.

The expressions and the keyword gates in front of them are in
:mod:`signalbridge.parsing.updates`; this module decides which of them to run on a
message, and which action wins when a message names several.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Final

from signalbridge.domain.signals import UpdateAction
from signalbridge.parsing.numbers import parse_number
from signalbridge.parsing.update_languages import (
    ANY_MORE,
    ANY_MORE_CANCEL,
    ANY_MORE_CLOSE,
    ANY_MORE_HIT,
    ANY_MORE_MOVE,
    ANY_MORE_PARTIAL,
    ANY_MORE_SL_HIT,
    MORE_WINDOW,
    more_expressions,
)
from signalbridge.parsing.update_targets import more_modify_tp
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
    ANY_PENDING,
    ANY_REACHED,
    ANY_SECURE,
    ANY_SL,
    ANY_TP,
    ANY_UPDATE_SUBSTRING,
    ANY_VAGUE_MOVE,
    BE_END,
    BOOK,
    CANCEL,
    CANCEL_OBJECT,
    CLOSE,
    CLOSE_AFTER,
    CLOSE_BEFORE,
    CLOSE_OBJECT,
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
    MOVE_SL_VAGUE,
    MOVE_TO_TP,
    ORDINALS,
    PARTIAL,
    PARTIAL_ALONE,
    PENDING_CANCEL,
    SHORT_WORDS,
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


class UpdateHit:
    """The action a message asks for, its value, how many other actions it also names,
    and whether an explicit wording said so (a verb and its object: "move SL to entry",
    "TP2 hit", "close 50%"), not a lone word ("breakeven", "2nd target"). ``reports``:
    how many of the others are hit reports ("TP2 hit", "SL hit"), which say what happened
    rather than ask for something (a close of the whole position settles them).

    A plain class rather than a dataclass: mypyc compiles its ``__init__``.
    """

    __slots__ = ("action", "clear", "others", "reports", "value")

    def __init__(
        self,
        action: UpdateAction,
        value: Decimal | None,
        others: int,
        clear: bool = False,
        reports: int = 0,
    ) -> None:
        self.action = action
        self.value = value
        self.others = others
        self.clear = clear
        self.reports = reports

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, UpdateHit):
            return NotImplemented
        return (self.action, self.value, self.others, self.clear, self.reports) == (
            other.action,
            other.value,
            other.others,
            other.clear,
            other.reports,
        )

    __hash__ = None  # type: ignore[assignment]  # equal by value, so not hashable

    def __repr__(self) -> str:
        return (
            f"UpdateHit({self.action!r}, {self.value!r}, {self.others!r}, {self.clear!r}, "
            f"{self.reports!r})"
        )


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
# the actions that report what happened, not ask for something
_REPORTS: Final = (UpdateAction.SL_HIT, UpdateAction.TP_HIT)

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
    clear: set[UpdateAction] = set()  # the actions read from an explicit wording
    digits = _DIGIT.search(low) is not None
    closing = ANY_CLOSE(low)
    short = low.count(" ") < SHORT_WORDS  # a short message is all instruction
    if "%" in low and ANY_PCT(low) and (m := partial_pct(low)) is not None:
        found[UpdateAction.CLOSE_PARTIAL] = parse_number(_first_group(m) or "")
        clear.add(UpdateAction.CLOSE_PARTIAL)
    elif ANY_PARTIAL(low):
        if HALF.search(low):
            found[UpdateAction.CLOSE_PARTIAL] = Decimal(50)
            clear.add(UpdateAction.CLOSE_PARTIAL)
        elif (closing and PARTIAL.search(low) and CLOSE.search(low)) or PARTIAL_ALONE.search(low):
            found[UpdateAction.CLOSE_PARTIAL] = None
    pending = ANY_PENDING(low) and PENDING_CANCEL.search(low) is not None
    if pending or (ANY_CANCEL(low) and CANCEL.search(low)):
        found[UpdateAction.CANCEL] = None
        if pending or CANCEL_OBJECT.search(low) is not None:  # "cancel X" alone may mean close
            clear.add(UpdateAction.CANCEL)
    if (
        UpdateAction.CLOSE_PARTIAL not in found
        and not pending
        and ((closing and _asks_to_close(low)) or ("book" in low and BOOK.search(low)))
    ):
        found[UpdateAction.CLOSE_ALL] = None
        if short or CLOSE_OBJECT.search(low) is not None:
            clear.add(UpdateAction.CLOSE_ALL)
    sl_word = ANY_SL(low)
    tp_word = ANY_TP(low)
    to_entry = _moves_to_entry(low, sl_word)
    if to_entry:
        found[UpdateAction.MOVE_SL_TO_ENTRY] = None
        if to_entry == 2:
            clear.add(UpdateAction.MOVE_SL_TO_ENTRY)
    moved_to_tp = (
        sl_word and tp_word and TO_TP.search(low) is not None and MOVE_TO_TP.search(low) is not None
    )
    if moved_to_tp:
        found[UpdateAction.MOVE_SL] = None
    elif "trailing" in low and TRAILED.search(low) is not None:
        m = SL_VALUE.search(low)
        found[UpdateAction.MOVE_SL] = None if m is None else _first_number(m)
        clear.add(UpdateAction.MOVE_SL)
    elif digits and sl_word and (m := _move_sl(low)) is not None:
        value = _first_number(m)
        if value is not None:
            found[UpdateAction.MOVE_SL] = value
            clear.add(UpdateAction.MOVE_SL)
    if (
        sl_word
        and not to_entry
        and UpdateAction.MOVE_SL not in found
        and ANY_VAGUE_MOVE(low)
        and MOVE_SL_VAGUE.search(low) is not None
    ):
        found[UpdateAction.MOVE_SL] = None  # "move your stop higher": no price, not clear
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
            clear.add(UpdateAction.MODIFY_TP)
    if digits and UpdateAction.MODIFY_TP not in found and not moved_to_tp:
        value = more_modify_tp(low)  # "止盈2改为2400", "TP2 diubah ke 2400"
        if value is not None:
            found[UpdateAction.MODIFY_TP] = value
            clear.add(UpdateAction.MODIFY_TP)
    if ANY_HIT(low) and SL_HIT.search(low):
        found[UpdateAction.SL_HIT] = None
        clear.add(UpdateAction.SL_HIT)
    elif (
        sl_word
        and (
            LOSS_NUMBER.search(low) is not None
            or (ANY_CROSS(low) and LOSS_CROSS.search(low) is not None)
        )
        and SL_LOSS.search(low)
    ):
        found[UpdateAction.SL_HIT] = None
    if tp_word or "تحقق" in low:
        tp_index, tp_clear = _tp_hit(low)
        if (tp_index is None or tp_index[0] is None) and ANY_ORDINAL(low):
            m = TP_ORDINAL.search(low)
            if m is not None:
                if HIT_ANY.search(low) is not None:
                    tp_index, tp_clear = (Decimal(ORDINALS[_first_group(m) or ""]),), True
                elif tp_index is not None:
                    tp_index = (Decimal(ORDINALS[_first_group(m) or ""]),)
        if tp_index is not None:
            found[UpdateAction.TP_HIT] = tp_index[0]
            if tp_clear and tp_index[0] is not None:
                clear.add(UpdateAction.TP_HIT)
    if ANY_MORE(low):
        _read_more(low, found, clear, short)
    if not found:
        return None
    for action in _PRIORITY:
        if action in found:
            reports = sum(1 for a in _REPORTS if a in found and a is not action)
            return UpdateHit(action, found[action], len(found) - 1, action in clear, reports)
    return None  # pragma: no cover - every found action is in _PRIORITY


def _read_more(
    low: str, found: dict[UpdateAction, Decimal | None], clear: set[UpdateAction], short: bool
) -> None:
    """The languages of the MORE_* tables (updates.py): actions the expressions above did
    not find, added to ``found`` (and to ``clear`` where the wording is explicit)."""
    x = more_expressions()
    partial = False
    if ANY_MORE_PARTIAL(low):
        if "%" in low and (
            (m := x.partial.search(low)) is not None or (m := x.pct_first.search(low)) is not None
        ):
            found.setdefault(UpdateAction.CLOSE_PARTIAL, parse_number(_first_group(m) or ""))
            partial = True
        elif x.any_half(low):
            found.setdefault(UpdateAction.CLOSE_PARTIAL, Decimal(50))
            partial = True
        elif x.some.search(low) is not None:
            found.setdefault(UpdateAction.CLOSE_PARTIAL, None)  # how much is not said
    if partial:
        clear.add(UpdateAction.CLOSE_PARTIAL)
    elif (
        ANY_MORE_CLOSE(low)
        and x.close.search(low) is not None
        and UpdateAction.CLOSE_PARTIAL not in found
    ):
        found.setdefault(UpdateAction.CLOSE_ALL, None)
        if short:
            clear.add(UpdateAction.CLOSE_ALL)
    if ANY_MORE_CANCEL(low) and x.cancel.search(low) is not None:
        found.setdefault(UpdateAction.CANCEL, None)
        if short:
            clear.add(UpdateAction.CANCEL)
    if ANY_MORE_MOVE(low):
        moved = more_move(low)
        if moved is not None:
            action = UpdateAction.MOVE_SL if moved[0] else UpdateAction.MOVE_SL_TO_ENTRY
            found.setdefault(action, moved[1])
            if not moved[0] or moved[1] is not None:  # a move to no price is not clear
                clear.add(action)
    if ANY_MORE_SL_HIT(low) and x.sl_hit.search(low) is not None:
        found.setdefault(UpdateAction.SL_HIT, None)
        clear.add(UpdateAction.SL_HIT)
    if (
        ANY_MORE_HIT(low)
        and UpdateAction.TP_HIT not in found
        and (m := x.tp_hit.search(low)) is not None
    ):
        index = int(_first_group(m) or 0)
        if 1 <= index <= 10:
            found[UpdateAction.TP_HIT] = Decimal(index)
            clear.add(UpdateAction.TP_HIT)


def more_move(low: str) -> tuple[bool, Decimal | None] | None:
    """A stop moved in the words of the MORE_* tables: ``(False, None)`` to the entry,
    ``(True, price)`` to a price, ``(True, None)`` somewhere not given as a price ("dời
    sl trên 5 giá": by a distance; "dịch sl dương": into profit), ``None`` for none (read
    around each move word)."""
    x = more_expressions()
    vague = False
    for m in x.move_at.finditer(low):
        start, end = m.start(), m.end()
        window = max(0, start - MORE_WINDOW)
        anchor = end if x.sl_before.search(low, window, start) is not None else -1
        if anchor < 0 and (after := x.sl_after.match(low, end)) is not None:
            anchor = after.end()
        if anchor >= 0:
            if x.be_after.match(low, anchor) is not None:
                return False, None
            if (
                (n := x.num_after.match(low, anchor)) is not None
                and _whole_number(low, n)
                and (value := _first_number(n))
            ):
                return True, value
            vague = True
        if x.sl_be_before.search(low, window, start) is not None:  # the verb last
            return False, None
        if (
            (n := x.sl_num_before.search(low, window, start)) is not None
            and _whole_number(low, n)
            and (value := _first_number(n))
        ):
            return True, value
    return (True, None) if vague else None


def _whole_number(low: str, m: re.Match[str]) -> bool:
    """Whether the number ``m`` read is whole, not the first digits of a distance the
    expression refused ("10 giá" read as "1" once "10" was refused)."""
    end = m.end(1) if m.lastindex else m.end()
    return end >= len(low) or not low[end].isdigit()


def _moves_to_entry(low: str, sl_word: bool) -> int:
    """Any wording of "stop to entry / break-even", each behind the words it needs: 2 for
    an explicit one (the stop or a verb, and the entry), 1 for a lone word, else 0."""
    be_word = _any_be(low)
    if (sl_word and be_word and MOVE_BE_SL.search(low) is not None) or (
        be_word and ANY_BE_VERB(low) and MOVE_BE_VERB.search(low) is not None
    ):
        return 2
    if (ANY_BE_WORD(low) and MOVE_BE_WORD.search(low) is not None) or (
        "entry" in low and ANY_SECURE(low) and MOVE_BE_SECURE.search(low) is not None
    ):
        return 1
    return 0


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


def _tp_hit(low: str) -> tuple[tuple[Decimal | None] | None, bool]:
    """The highest target reported hit (``None`` inside when no number is given), and
    whether an explicit wording said so (a target and a hit word, not "2nd target")."""
    best: int | None = None
    matched = clear = False
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
                    clear = clear or pattern is not TP_HIT[2]
    if not matched:
        return None, False
    return (None if best is None else Decimal(best),), clear
