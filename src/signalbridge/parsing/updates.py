"""Follow-up messages: TP hit, stopped out, move the stop, close, cancel, change a target.

Each action is a small, bounded regular expression over the normalised lower-case text
(no nested unbounded repeats, so no catastrophic backtracking). A cheap keyword gate
skips the expressions entirely for the messages that cannot be updates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from signalbridge.domain.signals import UpdateAction
from signalbridge.parsing.numbers import parse_number
from signalbridge.parsing.text import contains_any, either, literal_first, word_start

NUM: Final = r"(?<![+\-\d.,])(\d+(?:[.,]\d+)*)(?!\s?(?:pips?|%))"
W: Final = r"(?:[^\W\d]+\W{1,3}){0,3}?"  # up to three filler words ("the", "your", "#btc")

# Each word starts with a literal letter, as literal_first needs ("الستوب|ستوب", not
# "(?:ال)?ستوب").
_SL_WORDS: Final = (
    *("sl", "s/l", r"stop\s?-?\s?loss", "stoploss", "stop", "стоп(?:-?лосс)?", "stopu"),
    *(r"وقف(?:\s*الخسارة)?", "استاپ", "الستوب", "ستوب"),
)
SL: Final = either(_SL_WORDS)
_TP_WORDS: Final = (
    *("tp", r"take\s?-?\s?profit", "target", "тейк", "цель", "hedef", "objetivo", "alvo"),
    *("هدف", "الهدف"),
)
TP: Final = either(_TP_WORDS)
BE: Final = (
    r"(?:entry(?:\s*price)?|break\s?-?\s?even|breakeven|be\b|b/e|б/у|бу\b|безубыт\w*|"
    r"(?:ponto|punto|precio|preço|preco)\s+de\s+entrada|entrada|giriş|girise|başabaş|الدخول|نقطة\s*الدخول|open\s*price|نقطه\s*ورود|ورود)"
)
HIT: Final = (
    r"(?:hit|hits|done|reached|achieved|smashed|secured|touched|filled|✅|🎯|💰|взят\w*|"
    r"достигнут\w*|alcanzad\w*|atingid\w*|batido|ulaşıldı|geldi|tamam|تحقق|تحقيق|تم)"
)

TP_HIT: Final = (
    re.compile(
        literal_first(
            (_TP_WORDS, rf"\s?#?\s?(\d{{1,2}})(?!\d|[.,]\d)\W{{0,4}}(?:[^\W\d]+\W+){{0,2}}?{HIT}")
        )
    ),
    re.compile(
        literal_first(
            (
                ("hit", "reached", "achieved", "smashed"),
                rf"\s+(?:the\s+)?{TP}\s?(\d{{1,2}})(?!\d|[.,]\d)",
            )
        )
    ),
    # "2nd target": the look-behind runs after the first digit, not at every position
    re.compile(rf"(\d(?<![\d.,]\d)\d?)\s?(?:st|nd|rd|th|й|ый)?\s?(?:{TP})(?:s)?\b"),
    re.compile(
        literal_first((("all", "final", "last", "every"), rf"\s+{TP}s?\s+(?:\w+\s+){{0,1}}?{HIT}"))
    ),
    # "Target 3: 6.07✅" at the end of a line: a hit report listing the levels reached
    re.compile(
        literal_first(
            (
                _TP_WORDS,
                r"\s?(\d{1,2})\s?[:\-]?\s?\d+(?:[.,]\d+)*\s?[$]?\s?[✅☑✔]+[ \t]*(?:\n|$)",
            )
        )
    ),
    re.compile(literal_first((_TP_WORDS, rf"\s+{HIT}"))),
)
# "first target achieved", "الهدف الأول تحقق": a target named by an ordinal word
_ORDINALS: Final = {
    **dict.fromkeys(("first", "primer", "primero", "primera", "primeiro", "ilk"), 1),
    **dict.fromkeys(("первая", "первый", "первую", "birinci", "الأول", "الاول", "i\u0307lk"), 1),
    **dict.fromkeys(("second", "segundo", "segunda", "вторая", "второй", "ikinci"), 2),
    **dict.fromkeys(("الثاني", "الثانى", "i\u0307kinci"), 2),  # "İkinci" lower-cased
    **dict.fromkeys(("third", "tercer", "tercero", "terceiro", "третья", "третий"), 3),
    **dict.fromkeys(("üçüncü", "الثالث"), 3),
    **dict.fromkeys(("fourth", "cuarto", "quarto", "четвертая", "четвёртая", "dördüncü"), 4),
    **dict.fromkeys(("fifth", "quinto", "пятая", "beşinci", "الرابع"), 5),
}
_ORD: Final = "(" + "|".join(sorted(_ORDINALS, key=len, reverse=True)) + ")"
_TP_ORDINAL: Final = re.compile(rf"(?<!\w){_ORD}\s+(?:[^\W\d]+\s+)?{TP}|{TP}\s+{_ORD}(?!\w)")
HIT_ANY: Final = re.compile(HIT)  # a group of words: the scan skips to a first letter
# "SL -40 pips ❌", "Стоп 🚫": a stop reported with its loss, or crossed out
SL_LOSS: Final = re.compile(
    literal_first(
        # the minus sits on the number: "SL - 30 pips" is a stop distance, not a loss
        (_SL_WORDS, r"[ \t:]*-\d+(?:[.,]\d+)?\s?(?:pips?|points?|pts|%|пунктов|пипсов)"),
        (_SL_WORDS, r"[ \t]*[❌🚫⛔]+[ \t]*(?:\n|$)"),
    )
)
# the TP_HIT expressions that need no hit word: "2nd target", and "TP1: 1.2 ✅" lines
_TP_HIT_NO_HIT_WORD: Final = (TP_HIT[2], TP_HIT[4])
SL_HIT: Final = re.compile(
    literal_first(
        (_SL_WORDS, r"\s?(?:was\s+|got\s+|has\s+been\s+)?(?:hit|triggered|reached|taken|touched)"),
        r"stopped\s?out",
        r"hit\s+(?:the\s+|our\s+)?(?:sl|stop)",
        r"стоп\s+(?:выбит|сработал|словили)",
        "выбило",
        r"по\s+стопу",
        r"сработал\w*\s+стоп",
        (_SL_WORDS, r"\s+(?:tocado|alcanzado|atingido|ativado|acionado|oldu|patladı)"),
        r"ضرب\s+(?:ال)?(?:وقف|ستوب)",
    )
)
# Stop to entry, one expression per wording so that each runs only behind its own words
MOVE_BE_SL: Final = re.compile(
    literal_first(
        (_SL_WORDS, rf"\W{{0,3}}{W}(?:to|at|on|in|в|на|a|al|para|en|до|ile)?\W{{0,3}}{BE}")
    )
)
MOVE_BE_VERB: Final = re.compile(
    literal_first((("move", "moving", "set", "put", "place", "shift"), rf"\s+{W}(?:to\s+)?{BE}"))
)
# "\bbreak" tested after its first letter (word_start), so the scan skips to a "b" or a
# "б" in C instead of trying every position
MOVE_BE_WORD: Final = re.compile(
    "|".join(
        (
            *map(word_start, (r"break\s?-?\s?even\b", r"breakeven\b")),
            r"безубыт\w*",
            word_start(r"б/у\b"),
        )
    )
)
_MOVE_BE_SECURE: Final = re.compile(r"(?:secure|protect)\s+(?:the\s+|your\s+)?entry")
MOVE_VERBS: Final = (
    *("переносим", "перенести", "переставляем", "двигаем", "передвигаем", "mover", "movemos"),
    *("mueve", "muevan", "mova", "movam", "mude", "ajuste", "ajustar", "subir", "subimos"),
    *("bajar", r"taşı\w*", r"çek\w*", "انقل", "حرك", "نقل"),
)
MOVE_SL: Final = re.compile(
    literal_first(
        (
            (
                *("move", "moving", "moved", "set", "place", "change", "shift", "put", "trail"),
                *("adjust", "new", "update", "raise", "lower"),
            ),
            rf"\s+{W}{SL}\W{{0,3}}(?:[^\W\d]+\W{{1,3}}){{0,3}}?(?:to|at|around|@|:|=|a|para|на)?\s?{NUM}",
        ),
        (("new", "nuevo", "novo", "новый"), rf"\s+{SL}\s?[:=@]?\s?{NUM}"),
        (("стоп", "sl"), rf"\s+(?:переносим|переставляем|двигаем)\s+(?:на\s+)?{NUM}"),
        (
            MOVE_VERBS,
            rf"\s+{W}{SL}\w*\W{{0,3}}(?:[^\W\d]+\W{{1,3}}){{0,2}}?"
            rf"(?:на|a|al|para|en|em|إلى|الى|ile)?\s?{NUM}",
        ),
        (_SL_WORDS, rf"\w*'?\w*\s+{NUM}\S*\s+(?:seviyesine\s+)?(?:çek|taşı)"),
    )
)
# "SL moved to 1.2", "SL now 1.2": kept apart from MOVE_SL (whose words it does not
# need); of the two, the leftmost match wins, as in one expression
SL_NOW: Final = re.compile(
    literal_first(
        (_SL_WORDS, rf"\s?(?:moved|changed|updated|adjusted|now)\s+(?:to\s+|at\s+)?{NUM}")
    )
)
# "Trailing stop activated / tightened ... SL: 64940.04": the bot moved the stop there
_TRAILED: Final = re.compile(
    r"trailing\s?stop\W{0,4}(?:activated|tightened|moved|updated|adjusted|raised|lowered)"
)
_SL_VALUE: Final = re.compile(rf"(?<![a-z])(?:sl|stop\s?loss|new\s+stop)\W{{0,4}}{NUM}")
# "move SL to TP1": the new stop is a level named, not a price given
MOVE_TO_TP: Final = re.compile(
    literal_first((_SL_WORDS, rf"\W{{0,3}}(?:to|at|on|в|на|a|para)\s+{TP}\s?\d{{1,2}}\b"))
)
_CLOSE_AR: Final = ("إغلاق", "اغلاق", "أغلق", "اغلق")  # "close", in Arabic spellings
_BOOK: Final = re.compile(r"\bbook\w*\s+(?:all\s+|the\s+|your\s+)?(?:profits?|gains?)\b")
# "close 50%", "%50'sini kapat" / "50% closed": a percentage after a word or a "%", and
# one that starts with its number. No match of one can start where a match of the other
# does (a letter or "%" against a digit), so the leftmost of the two is what one
# expression of both would find; apart, each has a first character to skip to.
_PARTIAL_PCT_WORD: Final = re.compile(
    literal_first(
        (
            (
                *("close", "closing", "book", "booking", "take", "secure", "cerrar", "cierre"),
                *("cierren", "fechar", "fechem", "kapat", r"realiz\w*", "tomar", r"asegur\w*"),
                *(r"garant\w*", r"закр\w*", r"зафикс\w*", *_CLOSE_AR),
            ),
            rf"\s+{W}(\d{{1,3}}(?:[.,]\d+)?)\s?%",
        ),
        r"%\s?(\d{1,3})\S*\s+(?:\w+\s+)?kapat",
    )
)
_PARTIAL_PCT_NUMBER: Final = re.compile(
    r"(\d{1,3}(?:[.,]\d+)?)\s?%\s+(?:of\s+)?(?:the\s+)?(?:position|profit|volume|lot)?\s*"
    r"(?:close|closed|booked|secured|cerrad|fechad|закры)"
)
HALF: Final = re.compile(
    literal_first(
        (("close", "closing", "book", "take", "secure"), r"\s+(?:the\s+)?half"),
        r"half\s+(?:close|position|profit)",
        r"cerrar\s+(?:la\s+)?mitad",
        r"fechar\s+(?:a\s+)?metade",
        r"yarısını\s+kapat",
        r"половин\w*",
        (_CLOSE_AR, r"\s+(?:ال)?نصف"),
    )
)
_PARTIAL: Final = re.compile(
    r"partial\w*|close\s+(?:some|part)|part\s+of|часть|частичн\w*|parcial\w*|kısmi"
)
_PARTIAL_ALONE: Final = re.compile(
    r"^\W*partial\w*\b|partial\w*\s+(?:profit|loss|close|book|exit|tp|in)"
    r"|(?:book|take|secure)\s+(?:some\s+)?partial|частично\s+закр|часть\s+зафикс"
    r"|(?:book|take|secure)\s+some\s+(?:profits?|gains?)"
)
CLOSE: Final = re.compile(
    literal_first(
        (
            map(word_start, ("close", "closing", "closed", "exit", "exiting")),
            r"\b(?!\s+(?:above|below|under|over|of\s+the\s+candle"
            r"|candle|weekly|daily|to\s+\d|near|h\d|\d+h))",
        ),
        r"закр(?:ыва|ой|ыть|ыв|ыт|ыл|оем)\w*",
        "вышел",
        "выходим",
        r"cerr(?:ar|amos|ad[oa]s?|en)\b",
        r"cierr(?:a|en|o)\b",
        r"fech(?:ar|amos|ad[oa]s?|em|e)\b",
        r"kapat\w*",
        (_CLOSE_AR, ""),
    )
)
_CLOSE_BEFORE: Final = re.compile(
    r"(?:candle|weekly|daily|h\d|\d+h|price|a|the|is|are|was|were)\s+$"
)
_CLOSE_AFTER: Final = re.compile(
    r"\s+(?:for\b|on\s+(?:monday|tuesday|wednesday|thursday|friday|weekend))"
)
# Every alternative starts with a letter ("delete|remove" spelled out, "\bvoid" tested
# after its "v"), so the scan skips to a possible first letter in C.
CANCEL: Final = re.compile(
    r"cancel\w*|not\s+(?:been\s+)?(?:triggered|activated|filled)|didn'?t\s+(?:trigger|activate|fill)"
    r"|delete\s+(?:the\s+|this\s+|all\s+)?(?:pending\s+)?(?:order|limit|entry)"
    r"|remove\s+(?:the\s+|this\s+|all\s+)?(?:pending\s+)?(?:order|limit|entry)"
    r"|" + word_start(r"void\b") + r"|отмен\w*|cancelar|cancelad\w*|iptal|إلغاء|الغاء|invalidated"
)
MODIFY_TP: Final = re.compile(
    literal_first(
        (
            ("change", "move", "set", "new", "modify", "update", "adjust", "raise", "lower"),
            rf"\s+{W}{TP}\s?\d?\W{{0,3}}(?:to|at|:|@|=)?\s?{NUM}",
        ),
        (_TP_WORDS, rf"\s?\d?\s+(?:changed|moved|updated|modified)\s+(?:to\s+)?{NUM}"),
        (
            ("nuevo", "nueva", "novo", "nova", "новый", "новая", "новую", "yeni"),
            rf"\s+{TP}\w*\s?\d?\W{{0,3}}{NUM}",
        ),
        # "(?:ال)?" spelled out: the article first, as the greedy "?" tries it
        (
            (*["ال" + word for word in _TP_WORDS], *_TP_WORDS),
            rf"\s?\d?\s+الجديد\W{{0,3}}{NUM}",
        ),
    )
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


# Substrings each family of expressions needs: a scan for them (contains_any, below) is far
# cheaper than running every expression on every message.
NEED_CLOSE: Final = (
    *("clos", "exit", "закр", "вышел", "выход", "cerr", "cierr", "fech", "kapat"),
    *_CLOSE_AR,
)
NEED_PARTIAL: Final = (
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
    "نصف",
    "some profit",
    "some gain",
)
NEED_CANCEL: Final = (
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
_NEED_SL: Final = ("sl", "s/l", "stop", "стоп", "وقف", "استاپ", "ستوب")
_NEED_TP: Final = ("tp", "take", "target", "тейк", "цель", "hedef", "objetivo", "alvo", "هدف")
NEED_HIT: Final = (
    "hit",
    "trigger",
    "reach",
    "taken",
    "touch",
    "stopped",
    "выбит",
    "сработа",
    "acionado",
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


# Literal gates: every match of the expression after each contains one of these, so a
# message without any of them skips the (far costlier) expression.
_GATE_BE: Final = (
    *("entr", "break", "b/e", "б/у", "бу", "безубыт", "giriş", "girise", "başabaş"),
    *("الدخول", "open", "ورود"),
)
GATE_MOVE: Final = (
    *("mov", "set", "place", "chang", "shift", "put", "trail", "adjust", "new", "updat"),
    *("raise", "lower", "nuev", "novo", "нов", "перенос", "перенест", "переставл"),
    *("двига", "muev", "mude", "ajust", "subi", "bajar", "taşı", "çek", "انقل", "حرك", "نقل"),
)
_GATE_MODIFY: Final = (
    *("change", "move", "set", "new", "modif", "updat", "adjust", "raise", "lower", "nuev"),
    *("novo", "nova", "нов", "yeni", "الجديد"),
)
GATE_HIT: Final = (
    *("hit", "done", "reached", "achieved", "smashed", "secured", "touched", "filled"),
    *("✅", "🎯", "💰", "взят", "достигнут", "alcanzad", "atingid", "batido", "ulaşıldı"),
    *("geldi", "tamam", "تحقق", "تم"),
)
_GATE_CHECK: Final = ("✅", "☑", "✔")
_GATE_NOW: Final = ("moved", "changed", "updated", "adjusted", "now")
_GATE_BE_VERB: Final = ("mov", "set", "put", "place", "shift")
_GATE_BE_WORD: Final = ("break", "безубыт", "б/у")
_GATE_SECURE: Final = ("secure", "protect")
_GATE_REACHED: Final = ("hit", "reached", "achieved", "smashed")
_GATE_ALL: Final = ("all", "final", "last", "every")
# The tail of each SL_LOSS wording (a negative distance, a cross at the line end): these
# start with a literal or a class, so the scan skips to candidates in C, while SL_LOSS
# (which starts with the stop words) tries every position.
LOSS_NUMBER: Final = re.compile(r"-\d+(?:[.,]\d+)?\s?(?:pips?|points?|pts|%|пунктов|пипсов)")
LOSS_CROSS: Final = re.compile(r"[❌🚫⛔]+[ \t]*(?:\n|$)")
ANY_CROSS: Final = contains_any(("❌", "🚫", "⛔"))  # one of which every LOSS_CROSS holds
# Likewise the words every partial_pct match holds, and MOVE_TO_TP's "to TP 2" part.
GATE_PCT: Final = (
    *("clos", "book", "take", "secur", "cerr", "cierr", "fech", "kapat", "realiz"),
    *("tomar", "asegur", "garant", "закр", "зафикс", *_CLOSE_AR),
)
TO_TP: Final = re.compile(
    literal_first((("to", "at", "on", "в", "на", "a", "para"), rf"\s+{TP}\s?\d"))
)
GATE_ORDINAL: Final = tuple(_ORDINALS)
# Each gate one scan for any of its substrings (contains_any: in C when built); "be" as
# the end of a word is the one BE word too short for a substring, so it is looked for.
_ANY_CLOSE: Final = contains_any(NEED_CLOSE)
_ANY_PARTIAL: Final = contains_any(NEED_PARTIAL)
_ANY_CANCEL: Final = contains_any(NEED_CANCEL)
_ANY_HIT: Final = contains_any(NEED_HIT)
_ANY_MODIFY: Final = contains_any(_GATE_MODIFY)
_ANY_MOVE: Final = contains_any(GATE_MOVE)
_ANY_HIT_WORD: Final = contains_any(GATE_HIT)
_ANY_ORDINAL: Final = contains_any(GATE_ORDINAL)
_ANY_ALL: Final = contains_any(_GATE_ALL)
_ANY_BE_VERB: Final = contains_any(_GATE_BE_VERB)
_ANY_BE_WORD: Final = contains_any(_GATE_BE_WORD)
_ANY_CHECK: Final = contains_any(_GATE_CHECK)
_ANY_NOW: Final = contains_any(_GATE_NOW)
_ANY_REACHED: Final = contains_any(_GATE_REACHED)
_ANY_SECURE: Final = contains_any(_GATE_SECURE)
ANY_PCT: Final = contains_any(GATE_PCT)
_ANY_SL: Final = contains_any(_NEED_SL)
_ANY_TP: Final = contains_any(_NEED_TP)
_BE_END: Final = re.compile(r"be\b").search
_ANY_BE_SUBSTRING: Final = contains_any(_GATE_BE)
# Every action below needs one of these (each branch's first gate, and the few literals
# tested with ``in``): a message with none of them names no action.
_ANY_UPDATE_SUBSTRING: Final = contains_any(
    (
        *(*NEED_CLOSE, *NEED_PARTIAL, *NEED_CANCEL, *_NEED_SL, *_NEED_TP, *NEED_HIT),
        *(*_GATE_BE, *_GATE_BE_WORD, "%", "book", "trailing", "تحقق"),
    )
)


def _any_be(low: str) -> bool:
    return _ANY_BE_SUBSTRING(low) or _BE_END(low) is not None


def _any_update_word(low: str) -> bool:
    return _ANY_UPDATE_SUBSTRING(low) or _BE_END(low) is not None


def find_update(low: str) -> UpdateHit | None:
    """The management action a lower-case message asks for, or ``None``."""
    if not _any_update_word(low):
        return None  # no gate in read_update can open: one scan instead of a dozen
    return read_update(low)


def read_update(low: str) -> UpdateHit | None:
    """:func:`find_update` for a message that has at least one update word."""
    found: dict[UpdateAction, Decimal | None] = {}
    digits = _DIGIT.search(low) is not None
    closing = _ANY_CLOSE(low)
    if "%" in low and ANY_PCT(low) and (m := partial_pct(low)) is not None:
        found[UpdateAction.CLOSE_PARTIAL] = parse_number(_first_group(m) or "")
    elif _ANY_PARTIAL(low):
        if HALF.search(low):
            found[UpdateAction.CLOSE_PARTIAL] = Decimal(50)
        elif (closing and _PARTIAL.search(low) and CLOSE.search(low)) or _PARTIAL_ALONE.search(low):
            found[UpdateAction.CLOSE_PARTIAL] = None
    if UpdateAction.CLOSE_PARTIAL not in found and (
        (closing and _asks_to_close(low)) or ("book" in low and _BOOK.search(low))
    ):
        found[UpdateAction.CLOSE_ALL] = None
    if _ANY_CANCEL(low) and CANCEL.search(low):
        found[UpdateAction.CANCEL] = None
    sl_word = _ANY_SL(low)
    tp_word = _ANY_TP(low)
    if _moves_to_entry(low, sl_word):
        found[UpdateAction.MOVE_SL_TO_ENTRY] = None
    moved_to_tp = (
        sl_word and tp_word and TO_TP.search(low) is not None and MOVE_TO_TP.search(low) is not None
    )
    if moved_to_tp:
        found[UpdateAction.MOVE_SL] = None
    elif "trailing" in low and _TRAILED.search(low) is not None:
        m = _SL_VALUE.search(low)
        found[UpdateAction.MOVE_SL] = None if m is None else _first_number(m)
    elif digits and sl_word and (m := _move_sl(low)) is not None:
        value = _first_number(m)
        if value is not None:
            found[UpdateAction.MOVE_SL] = value
    if (
        digits
        and tp_word
        and not moved_to_tp
        and _ANY_MODIFY(low)
        and (m := MODIFY_TP.search(low)) is not None
    ):
        value = _first_number(m)
        if value is not None:
            found[UpdateAction.MODIFY_TP] = value
    if (_ANY_HIT(low) and SL_HIT.search(low)) or (
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
        if (tp_index is None or tp_index[0] is None) and _ANY_ORDINAL(low):
            m = _TP_ORDINAL.search(low)
            if m is not None and (tp_index is not None or HIT_ANY.search(low) is not None):
                tp_index = (Decimal(_ORDINALS[m.group(1) or m.group(2)]),)
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
        or (be_word and _ANY_BE_VERB(low) and MOVE_BE_VERB.search(low) is not None)
        or (_ANY_BE_WORD(low) and MOVE_BE_WORD.search(low) is not None)
        or ("entry" in low and _ANY_SECURE(low) and _MOVE_BE_SECURE.search(low) is not None)
    )


def _move_sl(low: str) -> re.Match[str] | None:
    """The leftmost "move the stop to a price" match (``low`` has a digit and a stop word)."""
    main = MOVE_SL.search(low) if _ANY_MOVE(low) else None
    now = SL_NOW.search(low) if _ANY_NOW(low) else None
    if now is not None and (main is None or now.start() <= main.start()):
        return now
    return main


def partial_pct(low: str) -> re.Match[str] | None:
    """The leftmost match of the two percentage expressions (see _PARTIAL_PCT_WORD)."""
    word = _PARTIAL_PCT_WORD.search(low)
    number = _PARTIAL_PCT_NUMBER.search(low)
    if word is None or (number is not None and number.start() < word.start()):
        return number
    return word


def _asks_to_close(low: str) -> bool:
    """A "close" that is an instruction, not "a candle close above 1.2345"."""
    for m in CLOSE.finditer(low):
        if _CLOSE_BEFORE.search(low, max(0, m.start() - 12), m.start()) is not None:
            continue
        if _CLOSE_AFTER.match(low, m.end()) is None:
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
    if _ANY_HIT_WORD(low):
        patterns = (
            TP_HIT[0],
            *((TP_HIT[1],) if _ANY_REACHED(low) else ()),
            TP_HIT[2],
            *((TP_HIT[3],) if _ANY_ALL(low) else ()),
            TP_HIT[4],
            TP_HIT[5],
        )
    elif _ANY_CHECK(low):
        patterns = _TP_HIT_NO_HIT_WORD
    else:
        patterns = _TP_HIT_NO_HIT_WORD[:1]
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
