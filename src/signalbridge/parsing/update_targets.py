"""A target changed to a new price in the languages added as data: "止盈2改为2400",
"TP2 diubah ke 2400", "Đổi TP2 thành 2400", "تارگت ۲ را به ۲۴۰۰ تغییر دهید".

The words are those of :mod:`signalbridge.parsing.update_languages` (its target and move
words, "change" among them); the target's own number is consumed possessively, as in
:data:`signalbridge.parsing.updates.TP_INDEX`, so that "TP2 改为 2400" carries 2400,
never 2. Three word orders: the target, then the verb, then the price (Chinese,
Indonesian, Vietnamese); the verb first ("Ubah TP2 ke 1.0950"); the price before a
verb-last "to ... change" (Persian, Japanese, Korean, behind their "to" particle).
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import cache
from typing import Final

from signalbridge.parsing.numbers import NUM, parse_number
from signalbridge.parsing.text import contains_any, either
from signalbridge.parsing.update_languages import MORE_MOVE, MORE_TP, stems
from signalbridge.parsing.updates import TP_INDEX

_FILLER: Final = r"(?:[^\W\d]+\s*)"  # a word between (letters only, never a number)
_TO_PARTICLE: Final = ("به", "に", "으로", "로")  # "to", before a verb-last change


@cache
def _expression() -> re.Pattern[str]:
    """Compiled on first use: only a message with a target word and a change word of
    these languages needs it."""
    tp, move = either(MORE_TP), either(MORE_MOVE)
    index = rf"\s*{TP_INDEX}\s*"
    return re.compile(
        rf"{tp}{index}\W{{0,2}}{_FILLER}{{0,2}}?{move}\s*{_FILLER}{{0,2}}?{NUM}"
        rf"|{move}\s*{_FILLER}{{0,2}}?{tp}{index}\W{{0,2}}{_FILLER}{{0,2}}?{NUM}"
        rf"|{tp}{index}{_FILLER}{{0,2}}?{either(_TO_PARTICLE)}\s*{NUM}\s*{_FILLER}?{move}"
    )


_ANY_TP: Final = contains_any(stems(MORE_TP))
_ANY_MOVE: Final = contains_any(stems(MORE_MOVE))


def more_modify_tp(low: str) -> Decimal | None:
    """The new price of a target changed in the words of the MORE_* tables, or ``None``
    (``low`` is lower case and holds a digit)."""
    if not (_ANY_MOVE(low) and _ANY_TP(low)):  # the rarer first
        return None
    m = _expression().search(low)
    if m is None:
        return None
    for group in m.groups():
        if group:
            return parse_number(group)
    return None
