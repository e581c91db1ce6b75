"""Follow-up messages: the words and expressions of TP hit, stopped out, move the stop,
close, cancel, change a target.

Each action is a small, bounded regular expression over the normalised lower-case text
(no nested unbounded repeats, so no catastrophic backtracking). Cheap keyword gates let
:mod:`signalbridge.parsing.update_reader`, which reads a message with these, skip the
expressions entirely for the messages that cannot be updates.
"""

from __future__ import annotations

import re
from typing import Final

from signalbridge.parsing.numbers import NUM
from signalbridge.parsing.text import contains_any, either, literal_first, word_start
from signalbridge.parsing.update_languages import MORE_GATE, MORE_HIT, stems, whole_words

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
# "be" is break-even, not the verb after an auxiliary or before a participle ("SL will be
# shared later", "the stop has to be moved")
_BE_VERB: Final = (
    "".join(
        rf"(?<!{aux}\s)" for aux in ("will", "would", "shall", "should", "must", "can", "could")
    )
    + r"(?<!may\s)(?<!might\s)(?<!not\s)"
)
_BE_NOT_VERB: Final = r"(?!\s+(?:[a-z]+ed|given|taken|set|put|shown|done|seen|known)\b)"
BE: Final = (
    rf"(?:entry(?:\s*price)?|break\s?-?\s?even|breakeven|{_BE_VERB}be\b{_BE_NOT_VERB}|b/e|"
    r"б/у|бу\b|безубыт\w*|"
    r"(?:ponto|punto|precio|preço|preco)\s+de\s+entrada|entrada|giriş|girise|başabaş|الدخول|نقطة\s*الدخول|open\s*price|نقطه\s*ورود|ورود)"
)
# the hit words of the languages added as data too ("TP2 tercapai", "TP1 đã chạm")
HIT: Final = (
    r"(?:hit|hits|done|reached|achieved|smashed|secured|touched|filled|✅|🎯|💰|взят\w*|"
    r"достигнут\w*|alcanzad\w*|atingid\w*|batido|ulaşıldı|geldi|tamam|تحقق|تحقيق|تم|"
    + whole_words(MORE_HIT)  # whole: "kena" is not the start of "kenapa"
    + ")"
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
                # "hit target +120 pips": a target hit without its number
                rf"\s+(?:the\s+)?{TP}(?:\s?(\d{{1,2}})(?!\d|[.,]\d)|s?\b)",
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
ORDINALS: Final = {
    **dict.fromkeys(("first", "primer", "primero", "primera", "primeiro", "ilk"), 1),
    **dict.fromkeys(("первая", "первый", "первую", "birinci", "الأول", "الاول", "i\u0307lk"), 1),
    **dict.fromkeys(("second", "segundo", "segunda", "вторая", "второй", "ikinci"), 2),
    **dict.fromkeys(("الثاني", "الثانى", "i\u0307kinci"), 2),  # "İkinci" lower-cased
    **dict.fromkeys(("third", "tercer", "tercero", "terceiro", "третья", "третий"), 3),
    **dict.fromkeys(("üçüncü", "الثالث"), 3),
    **dict.fromkeys(("fourth", "cuarto", "quarto", "четвертая", "четвёртая", "dördüncü"), 4),
    **dict.fromkeys(("fifth", "quinto", "пятая", "beşinci", "الرابع"), 5),
}
_ORD: Final = "(" + "|".join(sorted(ORDINALS, key=len, reverse=True)) + ")"
TP_ORDINAL: Final = re.compile(rf"(?<!\w){_ORD}\s+(?:[^\W\d]+\s+)?{TP}|{TP}\s+{_ORD}(?!\w)")
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
TP_HIT_NO_HIT_WORD: Final = (TP_HIT[2], TP_HIT[4])
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
# (Indonesian and Malay: "amankan posisi ke breakeven", secure the position at break-even)
MOVE_BE_VERB: Final = re.compile(
    literal_first(
        (
            ("move", "moving", "set", "put", "place", "shift", "amankan"),
            rf"\s+{W}(?:to\s+|ke\s+)?{BE}",
        )
    )
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
MOVE_BE_SECURE: Final = re.compile(r"(?:secure|protect)\s+(?:the\s+|your\s+)?entry")
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
# "move your stop higher", "trail the SL", "tighten stops": a stop moved to no price given
# (a human sets it); only read where no other stop move is
_VAGUE_MOVE_VERBS: Final = ("move", "moving", "raise", "trail", "tighten", "bring", "pull")
MOVE_SL_VAGUE: Final = re.compile(
    literal_first((_VAGUE_MOVE_VERBS, rf"\s+{W}{SL}s?\b(?!\s*(?:hit|was|got|is|has)\b)"))
)
ANY_VAGUE_MOVE: Final = contains_any(_VAGUE_MOVE_VERBS)
# "SL moved to 1.2", "SL now 1.2": kept apart from MOVE_SL (whose words it does not
# need); of the two, the leftmost match wins, as in one expression
SL_NOW: Final = re.compile(
    literal_first(
        (_SL_WORDS, rf"\s?(?:moved|changed|updated|adjusted|now)\s+(?:to\s+|at\s+)?{NUM}")
    )
)
# "Trailing stop activated / tightened ... SL: 64940.04": the bot moved the stop there
TRAILED: Final = re.compile(
    r"trailing\s?stop\W{0,4}(?:activated|tightened|moved|updated|adjusted|raised|lowered)"
)
SL_VALUE: Final = re.compile(rf"(?<![a-z])(?:sl|stop\s?loss|new\s+stop)\W{{0,4}}{NUM}")
# "move SL to TP1": the new stop is a level named, not a price given
MOVE_TO_TP: Final = re.compile(
    literal_first((_SL_WORDS, rf"\W{{0,3}}(?:to|at|on|в|на|a|para)\s+{TP}\s?\d{{1,2}}\b"))
)
_CLOSE_AR: Final = ("إغلاق", "اغلاق", "أغلق", "اغلق")  # "close", in Arabic spellings
BOOK: Final = re.compile(r"\bbook\w*\s+(?:all\s+|the\s+|your\s+)?(?:profits?|gains?)\b")
# "close 50%", "%50'sini kapat" / "50% closed": a percentage after a word or a "%", and
# one that starts with its number. No match of one can start where a match of the other
# does (a letter or "%" against a digit), so the leftmost of the two is what one
# expression of both would find; apart, each has a first character to skip to.
_PARTIAL_PCT_WORD: Final = re.compile(
    literal_first(
        (
            (
                *("close", "closing", "book", "booking", "take", "secure", r"cerr\w*", "cierre"),
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
        # "close 1/2 (of the position)", not "1/2" in a date or a ratio
        (("close", "closing", "book", "take", "secure"), r"\s+1/2(?![\d/])"),
        r"half\s+(?:close|position|profit)",
        r"cerrar\s+(?:la\s+)?mitad",
        r"fechar\s+(?:a\s+)?metade",
        r"yarısını\s+kapat",
        r"половин\w*",
        (_CLOSE_AR, r"\s+(?:ال)?نصف"),
    )
)
PARTIAL: Final = re.compile(
    r"partial\w*|close\s+(?:some|part)|part\s+of|часть|частичн\w*|parcial\w*|kısmi"
)
PARTIAL_ALONE: Final = re.compile(
    r"^\W*partial\w*\b|partial\w*\s+(?:profit|loss|close|book|exit|tp|in)"
    r"|(?:book|take|secure)\s+(?:some\s+)?partial|частично\s+закр|часть\s+зафикс"
    r"|(?:book|take|secure)\s+some\s+(?:profits?|gains?)"
)
CLOSE: Final = re.compile(
    literal_first(
        (
            map(word_start, ("close", "closing", "closed", "exit", "exiting")),
            r"\b(?!\s+(?:above|below|under|over|of\s+the\s+candle"
            r"|candle|weekly|daily|to\s+\d|near|h\d|\d+h"
            # "close to TP1": near the target, not a close
            r"|to\s+(?:tp|target|the\s+target|our\s+target|hitting|the\s+high|the\s+low)"
            # a period's or a price's close: "close the week", "closing price 1.0850"
            r"|(?:the\s+|this\s+|a\s+)?(?:week|day|month|year|session|bar)\b"
            r"|prices?\b|levels?\b|bell\b))",
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
CLOSE_BEFORE: Final = re.compile(
    r"(?:candle|weekly|daily|h\d|\d+h|price|a|the|is|are|was|were)\s+$"
)
CLOSE_AFTER: Final = re.compile(
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
# The target's own number ("TP2", "TP #2", "target 10"): possessive, so that it is never
# given back to be read as the new price
TP_INDEX: Final = r"(?:\s?(?:#|no\.?|n°)?\s?(?:10|[1-9])(?![\d.,]?\d))?+"
OLD_PRICE: Final = r"(?:from\s+\d+(?:[.,]\d+)*\s+)?"  # "from 1.0900 to 1.0950": the old one
MODIFY_TP: Final = re.compile(
    literal_first(
        (
            ("change", "move", "set", "new", "modify", "update", "adjust", "raise", "lower"),
            rf"\s+{W}{TP}{TP_INDEX}\W{{0,3}}{OLD_PRICE}(?:to|at|:|@|=|is\s+now|now)?\s?{NUM}",
        ),
        (
            _TP_WORDS,
            rf"{TP_INDEX}\s+(?:changed|moved|updated|modified|adjusted|raised|lowered|change|move"
            rf"|update|set|is\s+now|now)\s+{OLD_PRICE}(?:to\s+|at\s+)?{NUM}",
        ),
        (
            ("nuevo", "nueva", "novo", "nova", "новый", "новая", "новую", "yeni"),
            rf"\s+{TP}\w*{TP_INDEX}\W{{0,3}}{NUM}",
        ),
        # "(?:ال)?" spelled out: the article first, as the greedy "?" tries it
        (
            (*["ال" + word for word in _TP_WORDS], *_TP_WORDS),
            rf"\s?\d?\s+الجديد\W{{0,3}}{NUM}",
        ),
    )
)
# A pending order withdrawn in words: "delete the sell stop", "the buy limit is cancelled",
# "close the pending order" (a cancel, not a close of the position)
_PENDING_ORDER: Final = (
    r"(?:pending(?:\s+(?:buy|sell))?(?:\s+(?:limit|stop))?(?:\s+orders?)?"
    r"|(?:buy|sell)\s+(?:limit|stop)(?:\s+orders?)?|limit\s+orders?|limit)"
)
PENDING_CANCEL: Final = re.compile(
    rf"(?:delete|remove|drop|scrap|withdraw|pull|kill|close|cancel)\w*\s+"
    rf"(?:(?:the|this|that|all|our|my|your|[a-z]{{3,7}}/?[a-z]{{3,4}})\s+){{0,2}}{_PENDING_ORDER}"
    rf"|{_PENDING_ORDER}\s+(?:[^\W\d]+\s+){{0,3}}?(?:is\s+|are\s+|was\s+|were\s+|has\s+been\s+"
    r"|have\s+been\s+)?(?:cancel\w*|deleted|removed|closed|withdrawn|void\w*|scrapped|pulled)"
)
_PENDING_WORDS: Final = ("pending", "limit", "buy stop", "sell stop")
# and the words that withdraw it (every PENDING_CANCEL match holds one of each)
_PENDING_VERBS: Final = (
    *("delet", "remov", "drop", "scrap", "withdr", "pull", "kill", "clos", "cancel"),
    *("void",),
)
# "cancel the order", "delete it": the cancel names what it withdraws
CANCEL_OBJECT: Final = re.compile(
    r"(?:cancel\w*|delete|remove)\s+(?:the\s+|this\s+|that\s+|all\s+|my\s+|our\s+)?"
    r"(?:pending\s+|buy\s+|sell\s+)*(?:orders?|limits?|stop|entry|entries|trades?|signal|setup"
    r"|it|them)|not\s+(?:been\s+)?(?:triggered|activated|filled)"
)
# "close all", "exit the trade", "close #BTC": the close names what it closes
CLOSE_OBJECT: Final = re.compile(
    literal_first(
        (
            map(word_start, ("close", "closing", "closed", "exit", "exited")),
            # a determiner must name what it closes ("close the gold trade"; "close your
            # eyes", "close the week" close nothing)
            r"\s+(?:(?:all|everything|it|them|now|manually|trades?"
            r"|positions?|orders?|longs?|shorts?|buys?|sells?|both)\b|#|\$"
            r"|(?:the|this|that|your|our|my)\s+(?:#|\$|(?:\S+\s+)?(?:trades?|positions?"
            r"|orders?|longs?|shorts?|buys?|sells?|deals?|entry|entries|setup|signal|one|half"
            r"|rest|remaining|profits?)\b))",
        ),
        r"book\w*\s+(?:all\s+)?(?:the\s+)?profits?",
    )
)
# Fewer spaces than this: the message is the instruction and nothing else ("Close all now")
SHORT_WORDS: Final = 5


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
    "1/2",
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
    *("change", "move", "set", "new", "modif", "updat", "adjust", "raise", "lower", "nuev", "now"),
    *("novo", "nova", "нов", "yeni", "الجديد"),
)
GATE_HIT: Final = (
    *("hit", "done", "reached", "achieved", "smashed", "secured", "touched", "filled"),
    *("✅", "🎯", "💰", "взят", "достигнут", "alcanzad", "atingid", "batido", "ulaşıldı"),
    *("geldi", "tamam", "تحقق", "تم", *stems(MORE_HIT)),
)
_GATE_CHECK: Final = ("✅", "☑", "✔")
_GATE_NOW: Final = ("moved", "changed", "updated", "adjusted", "now")
_GATE_BE_VERB: Final = ("mov", "set", "put", "place", "shift", "amankan")
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
GATE_ORDINAL: Final = tuple(ORDINALS)
# Each gate one scan for any of its substrings (contains_any: in C when built); "be" as
# the end of a word is the one BE word too short for a substring, so it is looked for.
ANY_CLOSE: Final = contains_any(NEED_CLOSE)
ANY_PARTIAL: Final = contains_any(NEED_PARTIAL)
ANY_CANCEL: Final = contains_any(NEED_CANCEL)
ANY_HIT: Final = contains_any(NEED_HIT)
ANY_MODIFY: Final = contains_any(_GATE_MODIFY)
_ANY_PENDING_WORD: Final = contains_any(_PENDING_WORDS)
_ANY_PENDING_VERB: Final = contains_any(_PENDING_VERBS)


def ANY_PENDING(low: str) -> bool:
    """Whether ``low`` may hold a PENDING_CANCEL match (its order word and its verb)."""
    return _ANY_PENDING_WORD(low) and _ANY_PENDING_VERB(low)


ANY_MOVE: Final = contains_any(GATE_MOVE)
ANY_HIT_WORD: Final = contains_any(GATE_HIT)
ANY_ORDINAL: Final = contains_any(GATE_ORDINAL)
ANY_ALL: Final = contains_any(_GATE_ALL)
ANY_BE_VERB: Final = contains_any(_GATE_BE_VERB)
ANY_BE_WORD: Final = contains_any(_GATE_BE_WORD)
ANY_CHECK: Final = contains_any(_GATE_CHECK)
ANY_NOW: Final = contains_any(_GATE_NOW)
ANY_REACHED: Final = contains_any(_GATE_REACHED)
ANY_SECURE: Final = contains_any(_GATE_SECURE)
ANY_PCT: Final = contains_any(GATE_PCT)
ANY_SL: Final = contains_any(_NEED_SL)
ANY_TP: Final = contains_any(_NEED_TP)
BE_END: Final = re.compile(r"be\b").search
ANY_BE_SUBSTRING: Final = contains_any(_GATE_BE)
# Every action read_update reads needs one of these (each branch's first gate, and the few literals
# tested with ``in``): a message with none of them names no action.
ANY_UPDATE_SUBSTRING: Final = contains_any(
    (
        *(*NEED_CLOSE, *NEED_PARTIAL, *NEED_CANCEL, *_NEED_SL, *_NEED_TP, *NEED_HIT),
        *(*_GATE_BE, *_GATE_BE_WORD, "%", "book", "trailing", "تحقق", *_PENDING_VERBS),
        *MORE_GATE,
    )
)


def partial_pct(low: str) -> re.Match[str] | None:
    """The leftmost match of the two percentage expressions (see _PARTIAL_PCT_WORD)."""
    word = _PARTIAL_PCT_WORD.search(low)
    number = _PARTIAL_PCT_NUMBER.search(low)
    if word is None or (number is not None and number.start() < word.start()):
        return number
    return word
