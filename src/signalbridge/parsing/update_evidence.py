"""What an update's wording leaves unexplained or contradicts, beyond the action it names.

:mod:`signalbridge.parsing.update_reader` finds the action; this module weighs how sure
that reading is. An update is sure when its verb, its object and its value are read and
nothing else is there; it is unsure when words are left over in a script the keyword
tables read only in part (Vietnamese, Chinese ...: a leftover may say "don't"), when the
verb is negated ("don't close yet"), or when its price cannot be checked ("move SL to
17" without an instrument is more often an abbreviated 4317 than a price of 17).

The words that explain a message are data: the stems of every update word of both
update modules, and :data:`FILLERS` (courtesy, "all", "this order", "now", per language).
A new language adds its fillers here, with its tests.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Final

from signalbridge.domain.signals import UpdateAction
from signalbridge.parsing.lexer import Lexeme, Lx
from signalbridge.parsing.plausibility import implausibility
from signalbridge.parsing.text import contains_any, literal_first
from signalbridge.parsing.update_languages import (
    MORE_BE,
    MORE_CANCEL,
    MORE_CLOSE,
    MORE_HALF,
    MORE_HIT,
    MORE_MOVE,
    MORE_PARTIAL_VERB,
    MORE_SL,
    MORE_SL_HIT,
    MORE_SOME,
    MORE_TP,
    stems,
)
from signalbridge.parsing.update_reader import UpdateHit
from signalbridge.parsing.updates import (
    GATE_HIT,
    GATE_MOVE,
    GATE_PCT,
    NEED_CANCEL,
    NEED_CLOSE,
    NEED_HIT,
    NEED_PARTIAL,
    TRAILED,
)

_WORD: Final = int(Lx.WORD)

# Words that add nothing to an instruction: courtesy, the people addressed, "all", "this
# order", "now". Whole words, lower case, per language.
FILLERS: Final = frozenset(
    (
        # English
        *("please", "pls", "plz", "guys", "everyone", "all", "now", "here", "the", "this"),
        *("that", "it", "them", "my", "our", "your", "trade", "trades", "position"),
        *("positions", "order", "orders", "and", "asap", "immediately", "right", "away"),
        *("team", "traders", "friends", "again", "manually", "we", "i", "you", "ok", "okay"),
        *("limit", "pending"),  # the order a cancel withdraws
        # Vietnamese: "this order", "everyone", "guys", "all", "now", particles
        *("này", "nhé", "nha", "nhe", "ạ", "anh", "em", "ae", "mn", "cả", "nhà", "mọi"),
        *("người", "đi", "luôn", "hết", "lệnh", "kèo", "các", "toàn", "bộ", "tại", "ở"),
        *("về", "lên", "xuống", "giá", "vào", "ngay", "bây", "giờ", "hòa", "chờ", "đã"),
        *("thành", "sang", "ta", "mình", "chúng", "cứ", "tạm"),
        # Indonesian and Malay
        *("ya", "yah", "sekarang", "semua", "posisi", "ke", "di", "yang", "dulu", "segera"),
        *("kak", "teman", "teman-teman", "order", "sudah", "telah"),
        # Chinese, Japanese, Korean (words as the segmenter splits them)
        *("请", "现在", "全部", "的", "了", "一下", "所有", "仓位", "订单", "挂单", "已"),
        *("大家", "马上", "立即", "先", "を", "に", "は", "して", "ください", "모두", "지금"),
        # Persian
        *("را", "به", "رو", "همه", "پوزیشن", "ها", "کنید", "شد", "لطفا", "الان", "و"),
    )
)
# The literal start of every update word (a verb, a stop, a target, a hit word ...): a
# word that starts with one of them is the wording itself.
STEMS: Final = tuple(
    dict.fromkeys(
        s
        for s in (
            *stems(MORE_SL, MORE_TP, MORE_BE, MORE_MOVE, MORE_HIT, MORE_SL_HIT, MORE_CLOSE),
            *stems(MORE_PARTIAL_VERB, MORE_HALF, MORE_SOME, MORE_CANCEL),
            *(*NEED_CLOSE, *NEED_PARTIAL, *NEED_CANCEL, *NEED_HIT, *GATE_MOVE, *GATE_HIT),
            *(*GATE_PCT, "entry", "break", "target", "stop", "profit", "loss"),
        )
        if " " not in s
    )
)


def _by_first(stems: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """The stems grouped by their first character: a word is compared only with the stems
    that start as it does (``startswith`` over all of them costs a call per stem)."""
    groups: dict[str, list[str]] = {}
    for stem in stems:
        groups.setdefault(stem[0], []).append(stem)
    return {first: tuple(group) for first, group in groups.items()}


_STEMS_BY_FIRST: Final = _by_first(STEMS)
_NO_STEMS: Final[tuple[str, ...]] = ()


def leftovers(lexemes: list[Lexeme]) -> int:
    """How many words of a message neither the update wording nor a filler explains
    (prices, symbols, keywords and punctuation are read already)."""
    n = 0
    for lx in lexemes:
        if lx.kind == _WORD:
            text = lx.text
            if text not in FILLERS and not (
                text and text.startswith(_STEMS_BY_FIRST.get(text[0], _NO_STEMS))
            ):
                n += 1
    return n


# A negated instruction: "don't close yet", "no need to move the stop", "đừng đóng lệnh",
# "不要平仓", "نبندید". "Don't forget / hesitate to close" asks for the close.
_VERBS: Final = (
    r"(?:clos\w*|exit\w*|mov\w*|cancel\w*|delet\w*|remov\w*|book\w*|tak\w*|secur\w*|set"
    r"|shift\w*|chang\w*|modif\w*|adjust\w*|trail\w*|touch\w*|hit|cut\w*)"
)
_APOS: Final = ("'", "’", "")  # "don't", "don’t", "dont"
_NEG_EN: Final = (
    *(f"don{a}t" for a in _APOS),
    *(f"doesn{a}t" for a in _APOS),
    *(r"do\s+not", r"does\s+not", "never", r"no\s+need\s+to", r"not\s+yet"),
    *(f"won{a}t" for a in _APOS),
    *(r"will\s+not", r"not\s+going\s+to", "cannot", "can't", "can’t", r"should\s+not"),
    *(f"shouldn{a}t" for a in _APOS),
    "avoid",
)
_NOT_HIT: Final = (
    *("not", "never", r"did\s+not", r"has\s+not", r"yet\s+to"),
    *(f"didn{a}t" for a in _APOS),
    *(f"hasn{a}t" for a in _APOS),
    *(f"haven{a}t" for a in _APOS),
)
# Spelled with literal_first: every alternative starts with a literal, so the scan skips
# to a possible first character in C instead of trying every position
NEGATED: Final = re.compile(
    literal_first(
        (_NEG_EN, rf"\s+(?!forget|hesitate|miss)(?:[^\W\d]+\s+){{0,2}}?{_VERBS}\b"),
        r"не\s+(?:\w+\s+)?(?:закр|двига|перенос|трога|отмен)\w*",
        r"no\s+(?:cierr|cerr|muev|mover|cancel)\w*",
        r"não\s+(?:fech|mov|cancel)\w*",
        (("kapat", "taşı", r"iptal\s+et"), r"ma(?:y\w*|z\w*|\b)"),
        (
            ("jangan", r"tidak\s+perlu"),
            r"\s+(?:\w+\s+)?(?:tutup|pindah|geser|batal|close|cut|cl)\w*",
        ),
        (
            ("đừng", r"không\s+cần", r"chưa\s+cần"),
            r"\s+(?:\w+\s+)?(?:đóng|chốt|dời|dịch|hủy|huỷ|xoá|xóa|cắt)",
        ),
        r"không\s+(?:đóng|chốt|dời|dịch|hủy|huỷ|xoá|xóa|cắt)",
        (
            ("不要", "别", "不用", "暂不", "先不", "无需", "不必"),
            r"\s*\S{0,3}?\s*(?:平|移|取消|撤|调)",
        ),
        *(r"نبند\w*", "نکنید", r"نکن\b", r"لا\s+(?:تغلق|تحرك|تنقل|تلغ)\w*"),
        # a target or a stop not reached: "TP2 not hit yet", "TP2 belum kena", "止盈2还没到达"
        (_NOT_HIT, r"\s+(?:yet\s+)?(?:been\s+)?(?:hit|reach\w*|touch\w*|achiev\w*)"),
        r"belum\s+(?:\w+\s+)?(?:kena|tercapai|tersentuh|hit)",
        r"chưa\s+(?:\w+\s+)?(?:chạm|đạt|hit|tới)",
        (("还没", "尚未", "未", "没有", "没"), r"\s*\S{0,2}?\s*(?:触及|达到|到达|达成|触发|打到)"),
        *("نخورده", "نرسیده"),
    )
)
ANY_NEGATION: Final = contains_any(
    (
        *("don't", "don’t", "dont", "do not", "does not", "doesn", "never", "no need"),
        *("not yet", "won't", "won’t", "will not", "not going", "cannot", "can't", "can’t"),
        *("shouldn", "should not", "avoid", "не ", "no ", "não", "kapatma", "taşıma"),
        *("iptal etma", "jangan", "tidak perlu", "đừng", "không", "chưa cần", "不要", "别"),
        *("不用", "暂不", "先不", "无需", "不必", "نبند", "نکن", "لا ", "not ", "didn", "hasn"),
        *("haven", "yet to", "belum", "chưa", "还没", "尚未", "未", "没", "نخورده", "نرسیده"),
    )
)

# A pending order named ("limit", "lệnh chờ", "挂单"): a cancel of it is a cancel, where
# a bare "cancel X" some channels mean as a close
_PENDING: Final = contains_any(
    ("limit", "pending", "chờ", "挂单", "委托", "指値", "سفارش", "اردر", "stop order")
)
_ANY_QUESTION: Final = contains_any(("?", "？", "؟"))
_REPORTS: Final = frozenset({UpdateAction.TP_HIT, UpdateAction.SL_HIT})
_UPGRADE: Final = frozenset({UpdateAction.CLOSE_ALL, UpdateAction.CANCEL})
_PRICED: Final = frozenset({UpdateAction.MOVE_SL, UpdateAction.MODIFY_TP})
_SHORT_PRICE: Final = Decimal(100)


class UpdateEvidence:
    """``clear``: an explicit wording, or a close or pending-order cancel with every word
    explained; ``unread``: words left over in a script the tables read only in part;
    ``negated``: the instruction is negated; ``question``: the message asks ("close half
    or all?", "Đã dời SL chưa?", "止损移了吗？"); ``report``: a clear report of what
    happened (a hit, a bot's "trailing stop moved, SL: X"), whose other lines are the
    levels and fields it reports, not more instructions."""

    __slots__ = ("clear", "negated", "question", "report", "unread")

    def __init__(
        self, clear: bool, unread: bool, negated: bool, question: bool, report: bool
    ) -> None:
        self.clear = clear
        self.unread = unread
        self.negated = negated
        self.question = question
        self.report = report


def weigh_update(hit: UpdateHit, lexemes: list[Lexeme], low: str, unread: bool) -> UpdateEvidence:
    """The evidence of an update's own words (see the module docstring)."""
    clear = hit.clear
    left = -1
    if unread:
        left = leftovers(lexemes)
        unread = left > 0
    if not clear and hit.action in _UPGRADE:
        if left < 0:
            left = leftovers(lexemes)
        clear = left == 0 and (hit.action is UpdateAction.CLOSE_ALL or _PENDING(low))
    negated = ANY_NEGATION(low) and NEGATED.search(low) is not None
    report = hit.clear and (
        hit.action in _REPORTS
        or (
            hit.action is UpdateAction.MOVE_SL
            and "trailing" in low
            and TRAILED.search(low) is not None
        )
    )
    return UpdateEvidence(clear, unread, negated, _ANY_QUESTION(low), report)


def value_doubt(
    action: UpdateAction, value: Decimal | None, symbol: str | None
) -> tuple[float, str] | None:
    """The cap on an update's confidence, and why, when its new stop or target price
    cannot be trusted as written: a price implausible for its instrument (0.45), or a
    short whole number with no instrument to check it against (0.8: channels abbreviate
    4317 as "17")."""
    if value is None or action not in _PRICED:
        return None
    if symbol is not None:
        implausible = implausibility(symbol, None, value)
        return None if implausible is None else (0.45, implausible)
    if value < _SHORT_PRICE and value == value.to_integral_value():
        return 0.8, "a short whole number and no instrument: maybe an abbreviated price"
    return None
