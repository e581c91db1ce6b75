"""Wording that says what kind of message it is, apart from its fields.

A results recap, speculative prose ("could look to buy"), a hedged instruction ("you may
close half"), an action verb, or letters of a script the keyword tables read only in part:
the general rules (:mod:`signalbridge.parsing.rules`) read these to keep such messages from
acting alone. Every expression has a cheap substring gate (``ANY_*``) in front of it.
"""

from __future__ import annotations

import re
from typing import Final

from signalbridge.parsing.text import contains_any, literal_first, word_start

# Scripts and letters of languages whose words the keyword tables read only in part
# (Vietnamese, Thai, Chinese, Japanese, Korean, Hindi ...): a message with other words in
# them may say something we cannot read.
UNREAD: Final = re.compile(
    "[ơưăđạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ\u0e00-\u0e7f\u4e00-\u9fff\u0900-\u097f"
    "\u3040-\u30ff\u3400-\u4dbf\uf900-\ufaff\uac00-\ud7af]"
)
# Spelled with literal_first and word_start: the scan skips to a possible first letter.
REPORT: Final = re.compile(
    literal_first(
        *(r"closed trades?", r"trades? closed", "trade results", word_start(r"results?\b")),
        *("recap", "summary", "statistics", "performance"),
        (("this", "last", "past"), " (?:week|month|year)"),
        *(r"today'?s (?:profit|result)", "pips (?:this|today)"),
        *("результат", "итоги", "resultados", "sonuçlar", "نتائج"),
    )
)


_HEDGE_WORDS: Final = (
    *("could", "might", "possib", "potential", "outlook", "expect", "wait", "watch", "look"),
    *("if ", "возможно", "может быть", "ждём", "ждем", "если", "podría", "podria", "posible"),
    *("esperamos", "si rompe", "poderia", "possível", "possivel", "aguardando", "se romper"),
    *("olabilir", "bekliyoruz", "eğer", "ربما", "ننتظر", "إذا", "above", "below", "break"),
)  # a cheap gate: every HEDGE match contains one of these
HEDGE: Final = re.compile(
    r"\b(?:could|might|possible|possibly|potential|outlook|expect(?:ing)?|waiting|wait for|"
    r"watch(?:ing)?|look(?:ing)? (?:to|for)|if (?:it|price|the price|we see)|"
    # "Buy above 4342", "sell below 1.08": an entry that waits for a break, a setup rather
    # than a call ("long below 1.03" is a limit entry, and stays one)
    r"(?:buy|long)s? (?:only )?above|(?:sell|short)s? (?:only )?below|"
    r"(?:buy|sell|long|short)s? on (?:a )?break(?:out|down)?|"
    r"возможно|может быть|ждём|ждем|если|podría|podria|posible|esperamos|si rompe|"
    r"poderia|possível|possivel|aguardando|se romper|olabilir|bekliyoruz|eğer|ربما|ننتظر|إذا)\b"
)


_REPORT_HINTS: Final = (
    "result",
    "recap",
    "summar",
    "statist",
    "perform",
    "week",
    "month",
    "year",
    "today",
    "closed",
    "результат",
    "итоги",
    "resultado",
    "sonuç",
    "نتائج",
)


ANY_REPORT_HINT: Final = contains_any(_REPORT_HINTS)
ANY_HEDGE_WORD: Final = contains_any(_HEDGE_WORDS)

_ACTION_WORDS: Final = (
    "close",
    "move",
    "change",
    "cancel",
    "modify",
    "adjust",
    "secure",
    "exit",
    "hit",
)
ANY_ACTION_WORD: Final = contains_any(_ACTION_WORDS)


_UPDATE_HEDGE_WORDS: Final = (
    *("if ", "may", "might", "could", "consider", "recommend", "suggest", "would", "option"),
    *("prefer", "like", "want", "wish", "can ", "should", "think", "maybe", "perhaps"),
    *("если", "можно", "рекомен", "si ", "puede", "pode", "podemos", "recomend", "eğer"),
    *("isterse", "إذا", "يمكن", "jika", "kalau", "bisa", "nếu", "có thể", "如果", "可以"),
    *("اگر", "می‌توان", "میتوان", "cân nhắc", "pertimbangkan", "考虑", "建议"),
)  # a cheap gate: every UPDATE_HEDGE match contains one of these
_HEDGE_TERMS: Final = (
    *("if", "may", "might", "could", r"consider\w*", r"recommend\w*", r"suggest\w*", "would"),
    *(r"optional\w*", r"prefer\w*", r"you\s+(?:like|want|wish)", "can", "should", r"i\s+think"),
    *("maybe", "perhaps", "если", "можно", r"рекоменд\w*", "si", r"puede\w*", r"pode\w*"),
    *("podemos", r"recomend\w*", "eğer", r"isterse\w*", "jika", "kalau", "bisa", "nếu"),
    *(r"có\s+thể", r"cân\s+nhắc", "pertimbangkan", "إذا", "يمكن", "اگر", "می‌توان", "میتوان"),
)
# each term whole (its boundary tested after its first letter), Chinese ones anywhere
UPDATE_HEDGE: Final = re.compile(
    literal_first(
        (tuple(word_start(t) + r"(?!\w)" for t in _HEDGE_TERMS), ""),
        *("如果", "可以", "考虑", "建议"),
    )
)
ANY_UPDATE_HEDGE: Final = contains_any(_UPDATE_HEDGE_WORDS)

# A stop announced as missing ("SL - ???", "SL: TBA", "stop loss will be shared later"):
# the call is incomplete by its own words, a human waits for the stop
STOP_LATER: Final = re.compile(
    literal_first(
        (
            ("sl", "s/l", "stop", "стоп"),
            r"\w*(?:\s?-?\s?loss)?\W{0,3}(?:\?\?|tba\b|tbd\b|later\b|soon\b|will\s+be\s+(?:given|shared|posted"
            r"|updated|sent|announced)|coming\b|позже)",
        )
    )
)
ANY_STOP_LATER: Final = contains_any(
    ("??", "tba", "tbd", "later", "soon", "will be", "coming", "позже")
)

# A call that says it is no longer live, or is another day's: "GOLD BUY 2340 ... ❌
# CANCELLED", "repost of yesterday's signal, already closed", "we bought EURUSD yesterday
# at 1.0820". Not a new call to open: the rules cap it as an incomplete one. ("Price we
# entered at: 0.68425" is how some channels give a live call's entry: no status.)
# Whole words per language (the status of a trade, not a candle's "close"); CJK anywhere.
# a level reported reached ends its line, or is followed by the result: "TP1 hit ✅",
# "SL hit -30 pips"; "TP1 hit → move SL to entry" is the call's own plan
_REPORTED: Final = r"(?=[^\w\n]*(?:\n|$|[+\-]\s?\d))"
_DONE: Final = r"\s+(?:closed|cancell?ed|stopped|invalidated|hit" + _REPORTED + ")"
_STATUS_TERMS: Final = (
    # English: a withdrawn or finished call, a repost, another day's trade
    # ("cancelled if price opens above X" is a live call's condition, not its status)
    r"cancell?ed(?!\s+(?:if|when|unless|once|after|before|in\s+case)\b)",
    *("invalidated", "expired", "voided", r"re-?post(?:ed)?"),
    *(w + _DONE for w in ("already", "was", "were", r"has\s+been", r"have\s+been")),
    *(w + r"s?\s+(?:is\s+|was\s+|got\s+)?closed" for w in ("trade", "position", "signal")),
    # "closed at TP", "closed in profit", "closed at 1.0950" (a candle's close is no status)
    r"closed(?<!candle\sclosed)\s+(?:in|with|at|on)\s+(?:a\s+|the\s+)?"
    r"(?:profit|loss|breakeven|be|entry|tp|target|sl|stop|[+\-]?\d+)",
    r"closed\s+[+\-]\s?\d+",  # "closed +150 pips"
    # a level of the call reported reached: "TP1 hit ✅", "SL hit", "target reached"
    *(
        w
        + r"\s?\d{0,2}\s+(?:was\s+|got\s+|has\s+been\s+|is\s+)?(?:hit|reached|touched|achieved)"
        + _REPORTED
        for w in ("tp", "target", "sl", "stop", r"stop\s?loss", r"take\s?profit")
    ),
    *(w + r"\s+(?:the\s+)?(?:tp|target|sl|stop)\s?\d{0,2}" + _REPORTED for w in ("hit", "reached")),
    *("yesterday", r"last\s+(?:night|week)", "ago"),
    # Russian, Spanish, Portuguese, Turkish, Indonesian, Vietnamese, Arabic, Persian
    *(r"отмен(?:ен|ена|ено|ены|ён)", r"закрыт[аоы]?", "вчера", r"cancelad[oa]s?"),
    *(r"cerrad[oa]s?", "ayer"),
    *(r"fechad[oa]s?", "ontem", r"iptal\s+edildi", r"kapandı", "dün", "dibatalkan"),
    *("ditutup", "kemarin", r"đã\s+(?:hủy|huỷ|đóng)", r"hôm\s+qua", "ملغاة", "ملغى"),
    *("أمس", "دیروز", r"لغو\s+شد", r"بسته\s+شد"),
)
CALL_STATUS: Final = re.compile(
    literal_first(
        (tuple(word_start(t) + r"(?!\w)" for t in _STATUS_TERMS), ""),
        *("已取消", "已平仓", "已关闭", "昨天", "昨日"),
    )
)
ANY_CALL_STATUS: Final = contains_any(
    (
        *("cancel", "invalidated", "expired", "voided", "repost", "re-post", "closed", "hit"),
        *("reached", "touched", "achieved", "stopped", "yesterday", "last ", "ago", "отмен"),
        *("закрыт", "вчера", "cancelad", "cerrad", "ayer", "fechad", "ontem"),
        *("iptal", "kapandı", "dün", "dibatalkan", "ditutup", "kemarin", "đã", "hôm qua"),
        *("ملغا", "ملغى", "أمس", "دیروز", "لغو", "بسته", "已取消", "已平仓", "已关闭", "昨天"),
        "昨日",
    )
)
# A line of the call asked as a question: "USDCAD shorts at 1.3650 look good, TP 1.3550?"
# (a line without a price or a side word, "Who is ready?", asks nothing about the call)
CALL_QUESTION: Final = re.compile(
    r"(?:^|\n)[^\n]*?(?:\d|\b(?:buy|sell|long|short)\b)[^\n]*?(?<!\?)[?？؟](?![?？؟])[^\w\n]*(?:\n|$)"
)
# A live call with a condition to withdraw it: "(cancelled if price reaches 2345 first)",
# "cancel the order if TP1 is hit before entry", "if it opens above 1.0870, cancel": a
# plan the call cannot carry (nothing would withdraw the order), so a human decides
CANCEL_CONDITION: Final = re.compile(
    r"\bcancel\w*\s+(?:the\s+|this\s+)?(?:order\s+|entry\s+|trade\s+|setup\s+|signal\s+)?"
    r"(?:if|when|unless|once|after|before|in\s+case)\b"
    r"|\b(?:if|when|once|unless)\b[^\n.]{0,60}\bcancel"
)
