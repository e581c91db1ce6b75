"""Follow-up messages: TP hit, stopped out, move the stop, close, cancel, change a target.

Each action is a small, bounded regular expression over the normalised lower-case text
(no nested unbounded repeats, so no catastrophic backtracking). A cheap keyword gate
skips the expressions entirely for the messages that cannot be updates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from signalbridge.domain.signals import UpdateAction
from signalbridge.parsing.numbers import parse_number

_NUM = r"(?<![+\-\d.,])(\d+(?:[.,]\d+)*)(?!\s?(?:pips?|%))"
_W = r"(?:[^\W\d]+\W{1,3}){0,3}?"  # up to three filler words ("the", "your", "#btc")

_SL = r"(?:sl|s/l|stop\s?-?\s?loss|stoploss|stop|стоп(?:-?лосс)?|stopu|وقف(?:\s*الخسارة)?|استاپ)"
_TP = r"(?:tp|take\s?-?\s?profit|target|тейк|цель|hedef|objetivo|alvo|هدف|الهدف)"
_BE = (
    r"(?:entry(?:\s*price)?|break\s?-?\s?even|breakeven|be\b|b/e|б/у|бу\b|безубыт\w*|"
    r"entrada|giriş|girise|başabaş|الدخول|نقطة\s*الدخول|open\s*price|نقطه\s*ورود|ورود)"
)
_HIT = (
    r"(?:hit|hits|done|reached|achieved|smashed|secured|touched|filled|✅|🎯|💰|взят\w*|"
    r"достигнут\w*|alcanzad\w*|atingid\w*|batido|ulaşıldı|geldi|tamam|تحقق|تم)"
)

_TP_HIT = [
    re.compile(rf"{_TP}\s?#?\s?(\d{{1,2}})(?!\d|[.,]\d)\W{{0,4}}(?:[^\W\d]+\W+){{0,2}}?{_HIT}"),
    re.compile(rf"(?:hit|reached|achieved|smashed)\s+(?:the\s+)?{_TP}\s?(\d{{1,2}})(?!\d|[.,]\d)"),
    re.compile(rf"(?<![\d.,])(\d{{1,2}})\s?(?:st|nd|rd|th|й|ый)?\s?(?:{_TP})(?:s)?\b"),
    re.compile(rf"(?:all|final|last|every)\s+{_TP}s?\s+(?:\w+\s+){{0,1}}?{_HIT}"),
    # "Target 3: 6.07✅" at the end of a line: a hit report listing the levels reached
    re.compile(rf"{_TP}\s?(\d{{1,2}})\s?[:\-]?\s?\d+(?:[.,]\d+)*\s?[$]?\s?[✅☑✔]+[ \t]*(?:\n|$)"),
    re.compile(rf"{_TP}\s+{_HIT}"),
]
_SL_HIT = re.compile(
    rf"{_SL}\s?(?:was\s+|got\s+|has\s+been\s+)?(?:hit|triggered|reached|taken|touched)"
    r"|stopped\s?out|hit\s+(?:the\s+|our\s+)?(?:sl|stop)|стоп\s+(?:выбит|сработал|словили)"
    r"|выбило|по\s+стопу|(?:stop|sl)\s+(?:tocado|alcanzado|atingido|ativado|oldu|patladı)"
    r"|ضرب\s+(?:ال)?وقف"
)
_MOVE_BE = re.compile(
    rf"{_SL}\W{{0,3}}{_W}(?:to|at|on|in|в|на|a|al|para|en|до|ile)?\W{{0,3}}{_BE}"
    rf"|(?:move|moving|set|put|place|shift)\s+{_W}(?:to\s+)?{_BE}"
    r"|\bbreak\s?-?\s?even\b|\bbreakeven\b|безубыт\w*|\bб/у\b"
    r"|(?:secure|protect)\s+(?:the\s+|your\s+)?entry"
)
_MOVE_SL = re.compile(
    rf"(?:move|moving|moved|set|place|change|shift|put|trail|adjust|new|update|raise|lower)"
    rf"\s+{_W}{_SL}\W{{0,3}}(?:[^\W\d]+\W{{1,3}}){{0,3}}?(?:to|at|around|@|:|=|a|para|на)?\s?{_NUM}"
    rf"|{_SL}\s?(?:moved|changed|updated|adjusted|now)\s+(?:to\s+|at\s+)?{_NUM}"
    rf"|(?:new|nuevo|novo|новый)\s+{_SL}\s?[:=@]?\s?{_NUM}"
    rf"|(?:стоп|sl)\s+(?:переносим|переставляем|двигаем)\s+(?:на\s+)?{_NUM}"
)
# "move SL to TP1": the new stop is a level named, not a price given
_MOVE_TO_TP = re.compile(rf"{_SL}\W{{0,3}}(?:to|at|on|в|на|a|para)\s+{_TP}\s?\d{{1,2}}\b")
_BOOK = re.compile(r"\bbook\w*\s+(?:all\s+|the\s+|your\s+)?(?:profits?|gains?)\b")
_PARTIAL_PCT = re.compile(
    rf"(?:close|closing|book|booking|take|secure|cerrar|cierre|fechar|kapat|закр\w*|зафикс\w*|"
    rf"إغلاق|اغلاق)\s+{_W}(\d{{1,3}}(?:[.,]\d+)?)\s?%"
    rf"|(\d{{1,3}}(?:[.,]\d+)?)\s?%\s+(?:of\s+)?(?:the\s+)?(?:position|profit|volume|lot)?\s*"
    rf"(?:close|closed|booked|secured|cerrad|fechad|закры)"
)
_HALF = re.compile(
    r"(?:close|closing|book|take|secure)\s+(?:the\s+)?half|half\s+(?:close|position|profit)"
    r"|cerrar\s+(?:la\s+)?mitad|fechar\s+(?:a\s+)?metade|yarısını\s+kapat|половин\w*"
)
_PARTIAL = re.compile(
    r"partial\w*|close\s+(?:some|part)|part\s+of|часть|частичн\w*|parcial\w*|kısmi"
)
_PARTIAL_ALONE = re.compile(
    r"^\W*partial\w*\b|partial\w*\s+(?:profit|loss|close|book|exit|tp|in)"
    r"|(?:book|take|secure)\s+(?:some\s+)?partial|частично\s+закр|часть\s+зафикс"
)
_CLOSE = re.compile(
    r"\b(?:close|closing|closed|exit|exiting)\b(?!\s+(?:above|below|under|over|of\s+the\s+candle"
    r"|candle|weekly|daily|to\s+\d|near|h\d|\d+h))"
    r"|закр(?:ыва|ой|ыть|ыв|ыт|ыл|оем)\w*|вышел|выходим|cerr(?:ar|amos|ad[oa]s?)\b|fech(?:ar|amos|ad[oa]s?)\b"
    r"|kapat\w*|(?:إغلاق|اغلاق)"
)
_CLOSE_BEFORE = re.compile(r"(?:candle|weekly|daily|h\d|\d+h|price|a|the|is|are|was|were)\s+$")
_CLOSE_AFTER = re.compile(r"\s+(?:for\b|on\s+(?:monday|tuesday|wednesday|thursday|friday|weekend))")
_CANCEL = re.compile(
    r"cancel\w*|not\s+(?:been\s+)?(?:triggered|activated|filled)|didn'?t\s+(?:trigger|activate|fill)"
    r"|(?:delete|remove)\s+(?:the\s+|this\s+|all\s+)?(?:pending\s+)?(?:order|limit|entry)"
    r"|\bvoid\b|отмен\w*|cancelar|cancelad\w*|iptal|(?:إلغاء|الغاء)|invalidated"
)
_MODIFY_TP = re.compile(
    rf"(?:change|move|set|new|modify|update|adjust|raise|lower)\s+{_W}{_TP}\s?\d?\W{{0,3}}"
    rf"(?:to|at|:|@|=)?\s?{_NUM}"
    rf"|{_TP}\s?\d?\s+(?:changed|moved|updated|modified)\s+(?:to\s+)?{_NUM}"
)


@dataclass(frozen=True, slots=True)
class UpdateHit:
    action: UpdateAction
    value: Decimal | None
    others: int  # how many other actions the text also names


_PRIORITY = (
    UpdateAction.CLOSE_PARTIAL,
    UpdateAction.CLOSE_ALL,
    UpdateAction.CANCEL,
    UpdateAction.MOVE_SL_TO_ENTRY,
    UpdateAction.MOVE_SL,
    UpdateAction.MODIFY_TP,
    UpdateAction.SL_HIT,
    UpdateAction.TP_HIT,
)


_DIGIT = re.compile(r"\d")


def _has(low: str, needles: tuple[str, ...]) -> bool:
    for needle in needles:
        if needle in low:
            return True
    return False


# Substrings each family of expressions needs: plain ``in`` checks are far cheaper than
# running every expression on every message.
_NEED_CLOSE = ("clos", "exit", "закр", "вышел", "выход", "cerr", "fech", "kapat", "إغلاق", "اغلاق")
_NEED_PARTIAL = (
    "partial",
    "part",
    "half",
    "mitad",
    "metade",
    "yarı",
    "половин",
    "част",
    "parcial",
    "kısmi",
)
_NEED_CANCEL = (
    "cancel",
    "trigger",
    "activat",
    "fill",
    "delete",
    "remove",
    "void",
    "отмен",
    "iptal",
    "إلغاء",
    "الغاء",
    "invalid",
)
_NEED_SL = ("sl", "s/l", "stop", "стоп", "وقف", "استاپ")
_NEED_BE = (
    *_NEED_SL,
    "move",
    "set",
    "put",
    "place",
    "shift",
    "secure",
    "protect",
    "break",
    "безуб",
    "б/у",
)
_NEED_TP = ("tp", "take", "target", "тейк", "цель", "hedef", "objetivo", "alvo", "هدف")
_NEED_HIT = (
    "hit",
    "trigger",
    "reach",
    "taken",
    "touch",
    "stopped",
    "выбит",
    "сработал",
    "словили",
    "выбило",
    "по стопу",
    "tocado",
    "alcanzado",
    "atingido",
    "ativado",
    "oldu",
    "patladı",
    "ضرب",
)


def find_update(low: str) -> UpdateHit | None:
    """The management action a lower-case message asks for, or ``None``."""
    found: dict[UpdateAction, Decimal | None] = {}
    digits = _DIGIT.search(low) is not None
    closing = _has(low, _NEED_CLOSE)
    if "%" in low and (m := _PARTIAL_PCT.search(low)) is not None:
        found[UpdateAction.CLOSE_PARTIAL] = parse_number(m.group(1) or m.group(2) or "")
    elif _has(low, _NEED_PARTIAL):
        if _HALF.search(low):
            found[UpdateAction.CLOSE_PARTIAL] = Decimal(50)
        elif (closing and _PARTIAL.search(low) and _CLOSE.search(low)) or _PARTIAL_ALONE.search(
            low
        ):
            found[UpdateAction.CLOSE_PARTIAL] = None
    if UpdateAction.CLOSE_PARTIAL not in found and (
        (closing and _asks_to_close(low)) or ("book" in low and _BOOK.search(low))
    ):
        found[UpdateAction.CLOSE_ALL] = None
    if _has(low, _NEED_CANCEL) and _CANCEL.search(low):
        found[UpdateAction.CANCEL] = None
    sl_word = _has(low, _NEED_SL)
    if (sl_word or _has(low, _NEED_BE)) and _MOVE_BE.search(low):
        found[UpdateAction.MOVE_SL_TO_ENTRY] = None
    moved_to_tp = sl_word and _MOVE_TO_TP.search(low) is not None
    if moved_to_tp:
        found[UpdateAction.MOVE_SL] = None
    elif digits and sl_word and (m := _MOVE_SL.search(low)) is not None:
        value = _first_number(m)
        if value is not None:
            found[UpdateAction.MOVE_SL] = value
    tp_word = _has(low, _NEED_TP)
    if digits and tp_word and not moved_to_tp and (m := _MODIFY_TP.search(low)) is not None:
        value = _first_number(m)
        if value is not None:
            found[UpdateAction.MODIFY_TP] = value
    if _has(low, _NEED_HIT) and _SL_HIT.search(low):
        found[UpdateAction.SL_HIT] = None
    if tp_word or "تحقق" in low:
        tp_index = _tp_hit(low)
        if tp_index is not None:
            found[UpdateAction.TP_HIT] = tp_index[0]
    if not found:
        return None
    for action in _PRIORITY:
        if action in found:
            return UpdateHit(action, found[action], len(found) - 1)
    return None  # pragma: no cover - every found action is in _PRIORITY


def _asks_to_close(low: str) -> bool:
    """A "close" that is an instruction, not "a candle close above 1.2345"."""
    for m in _CLOSE.finditer(low):
        if _CLOSE_BEFORE.search(low, max(0, m.start() - 12), m.start()) is not None:
            continue
        if _CLOSE_AFTER.match(low, m.end()) is None:
            return True
    return False


def _first_number(m: re.Match[str]) -> Decimal | None:
    for group in m.groups():
        if group:
            return parse_number(group)
    return None


def _tp_hit(low: str) -> tuple[Decimal | None] | None:
    best: int | None = None
    matched = False
    for pattern in _TP_HIT:
        for m in pattern.finditer(low):
            matched = True
            if m.groups() and m.group(1):
                index = int(m.group(1))
                if 1 <= index <= 10 and (best is None or index > best):
                    best = index
    if not matched:
        return None
    return (None if best is None else Decimal(best),)
