"""Whether an update is an instruction for now, about this channel's trade, and alone.

An update is executed at once (``services.updates``), so a message that names another
time ("close all tomorrow", "after TP1", "close 50% at TP2", "yesterday I moved SL to
entry"), someone else's trade ("he closed his long", "moved by many members"), a second
instruction its one action cannot carry ("cancel the limit order and buy at market",
"move SL to 1.0850 and TP to 1.0950"), a close read as whole beside a share of the
position ("closed 50%", "closing TP2 only") or the reverse ("close all, +50% profit")
waits for a human: :func:`out_of_scope` gives the reason, which caps the update's
confidence below the execution threshold.

The words are data, per language (a new language adds its words, with its tests). The
expressions compile on first use and run only for an update that would otherwise be
sure enough to execute (:mod:`signalbridge.parsing.rules`), so neither start-up nor the
common message pays for them.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Final

from signalbridge.domain.signals import UpdateAction
from signalbridge.parsing.text import contains_any, literal_first, word_start

# An instruction for another time than now: "close all tomorrow", "we will move SL to
# entry", "move SL to entry after TP1", "close before the weekend", "close 50% at TP2",
# "SL to BE in a minute"; or news of the past ("yesterday I moved SL to entry"). The
# executor acts at once, so such a message waits for a human. Whole words per language;
# CJK anywhere.
_DEFERRED_TERMS: Final = (
    # English
    *("tomorrow", "tonight", "later", "soon", r"next\s+(?:week|day|session|candle)"),
    r"once(?<!at\sonce)",  # "close all at once" is now
    *("when", "whenever", "after", "before", "will", r"going\s+to", "gonna", r"about\s+to"),
    *(r"plan(?:ning)?\s+to", "eventually", "yesterday", "earlier", "ago"),
    *(r"last\s+(?:night|week|time)",),
    r"in\s+(?:a\s+|an\s+|one\s+|\d+\s+)?(?:few\s+)?(?:minute|min|hour|moment|bit|while|day)s?",
    # the past: Russian, Spanish, Portuguese, German, Italian, Turkish, Indonesian ("hier",
    # French for yesterday, is German for here)
    *("вчера", "ранее", "ayer", "ontem", "gestern", "ieri", "dün", "kemarin"),
    # Russian, Ukrainian; Spanish, Portuguese; French; German; Italian; Turkish
    *("завтра", "позже", "потом", "скоро", "когда", "после", "пізніше", "коли", "після"),
    *("mañana", "luego", "después", "despues", "cuando", "amanhã", "amanha", "depois"),
    *("quando", "demain", r"plus\s+tard", "quand", "morgen", "später", "spaeter", "sobald"),
    *("domani", r"più\s+tardi", "yarın", "sonra"),
    # Indonesian and Malay; Vietnamese
    *("besok", "nanti", "setelah", "sesudah", "esok", r"ngày\s+mai", r"lát\s+nữa"),
    *(r"tí\s+nữa", r"chút\s+nữa", r"sau\s+khi", r"khi\s+nào"),
)
# a close at a level, not at once: "close 50% at TP2", "close all @ 1.0950"
_AT_LEVEL: Final = r"\b[^\n.,;!?]{0,30}?\s(?:at|@)\s*(?:tp\s?\d|target|\d)"
ANY_DEFERRED: Final = contains_any(
    (
        *("tomorrow", "tonight", "later", "soon", "next", "once", "when", "after", "before"),
        *("will", "going", "gonna", "about", "plan", "eventually", "завтра", "позже"),
        *("потом", "скоро", "когда", "после", "пізніше", "коли", "після", "mañana", "luego"),
        *("después", "despues", "cuando", "amanhã", "amanha", "depois", "quando", "demain"),
        *("tard", "quand", "morgen", "später", "spaeter", "sobald", "domani", "yarın"),
        *("sonra", "besok", "nanti", "setelah", "sesudah", "esok", "mai", "nữa", "sau"),
        *("khi", "明天", "稍后", "之后", "以后", "晚点", "等到", "明日", "後で", "내일"),
        *("나중에", "فردا", "بعدا", "غدا", "لاحقا", "عندما", "yesterday", "earlier", "ago"),
        *("last", "in ", " at", "@", "вчера", "ранее", "ayer", "ontem", "gestern"),
        *("ieri", "dün", "kemarin", "昨天", "昨日", "어제", "دیروز", "أمس", "hôm qua"),
    )
)
# Someone else's trade told about: "he closed his BTC long", "my friend moved his SL to
# entry", "a member closed at TP2". The channel's own instruction names no third person.
_THIRD_TERMS: Final = (
    *("he", "she", "his", "her", "hers", "their", r"my\s+(?:friend|brother|colleague)"),
    *("someone", "somebody"),
    *(rf"{w}\s+(?:member|client|follower|student)s?" for w in ("a", "one", "our", "some")),
    *("dia", "beliau"),
    # members told about, not addressed: "moved by many members", "members closed at TP2"
    r"by\s+(?:many\s+|some\s+|our\s+|the\s+)?(?:members|people|traders|users|clients)",
    *(
        rf"{w}\s+(?:have\s+|had\s+|are\s+|were\s+)?(?:closed|moved|took|secured|booked"
        r"|cancell?ed|closing|moving|booking)"
        for w in ("members", "people", "traders", "users", "clients")
    ),
)

# A share of the position named beside a close read as a whole one ("closed 50%", "closing
# TP2 only", "close one lot"): a part, not the whole position. A percentage after a sign
# or before "profit" is a result ("Profit is +300%"), not a share.
_SHARE_WORDS: Final = (
    *("only", "half", "part", r"partial\w*", "partly", "some", "first", "one", "lot"),
    *("часть", r"половин\w*", "частично", "sebagian", "setengah", "parte", "mitad"),
    *("metade", "parcial", "parcialmente", "bớt", "nửa"),
)
_SHARE_NUMBER: Final = r"(?<![+\-\d.,])\d{1,3}(?:[.,]\d+)?\s?%(?!\s*(?:profit|gain|roi|pnl))"

# And the reverse: a partial close read beside the whole position named, or beside a
# signed percentage, a result ("Close all, +50% profit": the 50 is no share)
_WHOLE_WORDS: Final = (
    *("all", "fully", "everything", "entire", "entirely", "все", "всё", "semua", "todo"),
    *("tudo", "hết"),
)
_SIGNED_PERCENT: Final = r"[+\-]\s?\d{1,3}(?:[.,]\d+)?\s?%"

_STOP_MOVES: Final = frozenset({UpdateAction.MOVE_SL, UpdateAction.MOVE_SL_TO_ENTRY})
_CLOSES: Final = frozenset({UpdateAction.CLOSE_ALL, UpdateAction.CLOSE_PARTIAL})


class ScopeExpressions:
    """The compiled expressions (built once, on first use: :func:`scope_expressions`).
    A plain class rather than a dataclass: mypyc compiles its ``__init__``."""

    __slots__ = (
        "call_after",
        "deferred",
        "new_call",
        "share",
        "sl_to_price",
        "third_party",
        "tp_to_price",
        "whole",
    )

    def __init__(self) -> None:
        self.deferred = re.compile(
            literal_first(
                (tuple(word_start(t) + r"(?!\w)" for t in _DEFERRED_TERMS), ""),
                *(word_start(verb) + _AT_LEVEL for verb in ("close", "closing", "exit", "book")),
                *("明天", "稍后", "之后", "以后", "晚点", "等到", "明日", "後で", "내일", "나중에"),
                *("فردا", "بعدا", "بعداً", "غدا", "لاحقا", "عندما", "昨天", "昨日", "어제", "دیروز"),
                *("أمس", "hôm qua"),
            )
        )
        self.third_party = re.compile(
            literal_first(
                (tuple(word_start(t) + r"(?!\w)" for t in _THIRD_TERMS), ""),
                *("他(?<!其他)", "她"),  # "其他": "other", not "he"
            )
        )
        self.share = re.compile(
            "|".join(
                (
                    _SHARE_NUMBER,
                    *(word_start(w) + r"(?!\w)" for w in _SHARE_WORDS),
                    *("一半", "部分", "半仓", "một phần"),
                )
            )
        )
        self.whole = re.compile(
            "|".join(
                (
                    _SIGNED_PERCENT,
                    *(word_start(w) + r"(?!\w)" for w in _WHOLE_WORDS),
                    "全部",
                )
            )
        )
        # A second instruction the update cannot carry (English wording): a new call beside
        # a stop move or a cancel ("cancel the limit order and buy at market"), the other
        # level set to a price ("move SL to 1.0850 and TP to 1.0950"); after a close, a call
        # in a clause of its own ("close all now and buy at market": "close the buy now"
        # names the position it closes; "close the buy, sell now" is also the rules'
        # buy-and-sell doubt)
        self.new_call = re.compile(
            literal_first(
                (
                    tuple(word_start(w) for w in ("buy", "sell", "long", "short")),
                    r"\s+(?:at\s+)?(?:(?:market|now|cmp)(?!\w)|@?\s*\d)",
                )
            )
        )
        self.call_after = re.compile(
            r"(?:\band|\bthen|[,;.\n])\s*(?:[^\W\d]+\s+)?(?:buy|sell|long|short)\s+"
            r"(?:[^\W\d]+\s+)?(?:at\s+)?(?:(?:market|now|cmp)(?!\w)|@?\s*\d)"
        )
        self.tp_to_price = re.compile(
            literal_first(
                (
                    tuple(word_start(w) for w in ("tp", "target", "take profit", "take-profit")),
                    r"\s?\d{0,2}\s*(?:to|at|=|:|->|→)\s*\d",
                )
            )
        )
        self.sl_to_price = re.compile(
            literal_first(
                (
                    tuple(word_start(w) for w in ("sl", "stop", "stop loss", "stop-loss")),
                    r"\s*(?:to|at|=|:|->|→)\s*\d",
                )
            )
        )


@cache
def scope_expressions() -> ScopeExpressions:
    """The expressions, compiled on the first update sure enough to need them."""
    return ScopeExpressions()


def out_of_scope(action: UpdateAction, low: str) -> str | None:
    """Why a lower-case update message is not an instruction to execute now, or ``None``."""
    x = scope_expressions()
    if ANY_DEFERRED(low) and x.deferred.search(low) is not None:
        return "an instruction for another time (tomorrow, after TP1, at TP2, yesterday ...)"
    if x.third_party.search(low) is not None:
        return "someone else's trade (he, his, members ...), not the channel's instruction"
    if action is UpdateAction.CLOSE_ALL and x.share.search(low) is not None:
        return "a share of the position named (50 %, only, half ...): not a whole close"
    if action is UpdateAction.CLOSE_PARTIAL and x.whole.search(low) is not None:
        return "the whole position or a result (all, +50 %) named beside a partial close"
    if second_instruction(x, action, low):
        return "a second instruction (a new call, the other level) the update cannot carry"
    return None


def second_instruction(x: ScopeExpressions, action: UpdateAction, low: str) -> bool:
    """Whether an update comes with an instruction it cannot carry: a new call (after a
    close, in a clause of its own), or the other level set to a price."""
    if action in _STOP_MOVES:
        return x.new_call.search(low) is not None or x.tp_to_price.search(low) is not None
    if action is UpdateAction.MODIFY_TP:
        return x.new_call.search(low) is not None or x.sl_to_price.search(low) is not None
    if action is UpdateAction.CANCEL:
        return x.new_call.search(low) is not None
    if action in _CLOSES:
        return x.call_after.search(low) is not None
    return False
