"""Follow-up messages in the languages added as data: their words, one tuple per meaning,
and the expressions and gates built from them.

Chinese, Japanese, Korean, Indonesian and Malay, Vietnamese and Persian update words live
here, apart from the English-first expressions of :mod:`signalbridge.parsing.updates`; a new
language adds its words to these tuples, with its tests, and no code.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Final

from signalbridge.parsing.numbers import NUM
from signalbridge.parsing.text import contains_any, either, literal_first, word_start

# Update words of the languages added as data (Chinese, Japanese, Korean, Indonesian and
# Malay, Vietnamese, Persian): one tuple per meaning, read by the MORE_* expressions
# below in either word order. A new language adds its words to these tuples. Each word
# starts with a literal character (the expressions skip to it in C, and its literal start
# is the gate in front of them); a word in a script that spaces its words matches whole.
MORE_SL: Final = ("止损", "止損", "損切り", "損切", "손절", r"حد\s*ضرر", "استاپ", "sl", "stop")
MORE_TP: Final = ("止盈", "目标", "目標", "利確", "익절", "목표", "تارگت", "tp", "target")
MORE_BE: Final = (
    *("成本价", "成本", "保本", "开仓价", "入场价", "建仓价", "建値", "본절", "entry", "bep"),
    *(r"titik\s+masuk", r"harga\s+masuk", r"giá\s+vào", r"điểm\s+vào", r"نقطه\s*ورود"),
    *("ورود", r"ریسک\s*فری"),
)
MORE_MOVE: Final = (
    *("移至", "移到", "调整至", "调整到", "调至", "改为", "上移至", "下移至", "设为", "提高至"),
    *("修改为", "移動", "이동", "pindahkan", "pindah", "geser", "naikkan", "turunkan", "dời"),
    *("dịch", "kéo", "منتقل", "جابجا", "ببرید"),
)
MORE_HIT: Final = (
    *("已达到", "达到", "到达", "已达成", "达成", "已触及", "触及", "已完成", "到達", "達成"),
    *("도달", "tercapai", "kena", "tersentuh", "chạm", "đạt", "تاچ", r"زده\s*شد", "خورد"),
)
MORE_SL_HIT: Final = (
    *("已触发", "触发", "被打", "被触发", "打掉", "到達", "tersentuh", "kena", "dính", "chạm"),
    *("خورد", r"فعال\s*شد", r"زده\s*شد"),
)
MORE_CLOSE: Final = (
    *("全部平仓", "平仓", "清仓", "全平", "決済", "청산", "tutup"),
    *(r"đóng(?:\s+hết|\s+hòa)?\s+(?:lệnh|kèo)", r"thoát\s+(?:lệnh|hàng)"),
    *(r"chốt\s+(?:hòa\s+|non\s+|âm\s+)?(?:hết|lệnh|kèo|toàn\s+bộ)", "ببندید", "ببند", "بستن"),
    r"خارج\s*شوید",
)
MORE_PARTIAL_VERB: Final = (*MORE_CLOSE, "减仓", "平", "chốt", "đóng", "سیو")
MORE_HALF: Final = ("一半", "半仓", "减半", "setengah", r"một\s*nửa", "nửa", "نصف", "نیمی")
# a part of the position, its size not given ("chốt bớt": take some off)
MORE_SOME: Final = (
    *(r"chốt\s+(?:bớt|một\s+phần|phần\s+lớn|giá\s+xấu)", r"tỉa\s+bớt", r"tutup\s+sebagian"),
    *(r"ambil\s+sebagian", "部分平仓", "平部分", "减仓", r"بخشی\s+از\s+(?:سود|پوزیشن)"),
    r"سیو\s+سود",
)
# a cancel names the order it withdraws where the word alone is everyday language
# ("hủy" cancels anything, "hủy lệnh" an order)
_VI_CANCEL: Final = r"\s+(?:hết\s+|các\s+)?(?:lệnh|kèo|order)"
_FA_ORDER: Final = r"\s*(?:\S+\s+){0,2}?(?:لغو|کنسل)"
MORE_CANCEL: Final = (
    *("取消", "撤单", "撤销", "キャンセル", r"주문\s*취소", "batalkan"),
    *(r"batal\s+(?:order|entry|posisi|limit)", r"order\s+(?:di)?batal\w*"),
    *("hủy" + _VI_CANCEL, "huỷ" + _VI_CANCEL, "xoá" + _VI_CANCEL, "xóa" + _VI_CANCEL),
    *("سفارش" + _FA_ORDER, "اردر" + _FA_ORDER, r"لغو\s+(?:سفارش|اردر)"),
    r"کنسل\s+(?:سفارش|اردر)",
)


def _unspaced(word: str) -> bool:
    """Whether ``word`` holds a kana, Han or Hangul letter (scripts without word spaces,
    or with particles glued to their words)."""
    return any(
        "\u3040" <= c <= "\u30ff" or "\u3400" <= c <= "\u9fff" or "\uac00" <= c <= "\ud7af"
        for c in word
    )


_META: Final = re.compile(r"[^\\()\[\].^$|?*+{]+")


def _whole(word: str) -> str:
    """``word`` matched whole where its script spaces words ("kena" is not the end of
    "bukena"), its boundary tested after its literal first letter (word_start)."""
    return word if _unspaced(word) else word_start(word) + r"(?!\w)"


def whole_words(words: tuple[str, ...]) -> str:
    """``either(words)``, each whole where its script spaces words (:func:`_whole`)."""
    return either(map(_whole, words))


def stems(*tables: tuple[str, ...]) -> tuple[str, ...]:
    """The literal start of every word: a substring each of their matches holds."""
    out: list[str] = []
    for table in tables:
        for word in table:
            m = _META.match(word)
            if m is None:
                raise ValueError(f"an update word must start with a literal: {word!r}")
            out.append(m.group().rstrip())
    return tuple(out)


_ANY_WORD: Final = r"(?:[^\W\d]+\s*)"  # a filler word (letters only, never a number)
# A word inside an expression, after its whole first word, needs no boundary of its own
# (the filler words before it are whole): a plain alternation keeps the expressions small
_MSL, _MTP, _MBE = either(MORE_SL), either(MORE_TP), either(MORE_BE)
_MMOVE, _MHIT = either(MORE_MOVE), either(MORE_HIT)
_MSLHIT, _MCLOSE, _MHALF = either(MORE_SL_HIT), either(MORE_CLOSE), either(MORE_HALF)
_W_SL: Final = tuple(map(_whole, MORE_SL))
_W_MOVE: Final = tuple(map(_whole, MORE_MOVE))
_PCT: Final = r"(\d{1,3}(?:[.,]\d+)?)\s?%"
# a number followed by a unit is a distance ("dời sl trên 5 giá": 5 above), not a price
_NOT_DISTANCE: Final = r"(?!\s*(?:giá|điểm|pips?|points?|poin|امتیاز|پیپ|点|个点))"
MORE_WINDOW: Final = 48  # characters before a move word that may hold its stop word
_W_PARTIAL: Final = tuple(map(_whole, MORE_PARTIAL_VERB))


class MoreExpressions:
    """The expressions of the MORE_* tables, compiled on first use: only a message with a
    word of these languages needs them (behind the ANY_MORE_* gates), and compiling them
    at start-up would cost every process about 40 ms.

    "Move the stop to entry / to a price" is read around each move word
    (update_reader.more_move): the stop word before it or after it, then the entry or the
    price; or, verb last, the stop and the entry or the price before it. Small
    expressions tried at a position or over a short window: one spelled-out expression of
    all three word orders would be 50 ms to compile, a plain one 50 us a search. The
    others spell their leading words out (literal_first: the scan skips to a first
    letter); their tails are short, so the spelled-out form stays small.
    """

    __slots__ = (
        *("be_after", "cancel", "close", "half", "move_at", "num_after", "partial"),
        *("pct_first", "sl_after", "sl_be_before", "sl_before", "sl_hit", "sl_num_before"),
        *("some", "tp_hit"),
    )

    def __init__(self) -> None:
        word = _ANY_WORD
        self.move_at = re.compile(literal_first((_W_MOVE, "")))
        self.sl_before = re.compile(rf"{_MSL}\s*{word}{{0,2}}?$")
        self.sl_after = re.compile(rf"\s*{word}{{0,2}}?{_MSL}")
        self.be_after = re.compile(rf"\s*{word}{{0,2}}?{_MBE}")
        self.num_after = re.compile(rf"\s*{word}{{0,2}}?{NUM}{_NOT_DISTANCE}")
        self.sl_be_before = re.compile(rf"{_MSL}\s*{word}{{0,2}}?{_MBE}\s*{word}?$")
        self.sl_num_before = re.compile(rf"{_MSL}\s*{word}{{0,2}}?{NUM}{_NOT_DISTANCE}\s*{word}?$")
        self.tp_hit = re.compile(
            literal_first(
                (
                    tuple(map(_whole, MORE_TP)),
                    rf"\s*#?\s*(\d{{1,2}})(?!\d|[.,]\d)\s*\W{{0,2}}\s*{word}{{0,2}}?{_MHIT}",
                ),
                (
                    tuple(map(_whole, MORE_HIT)),
                    rf"\s*{word}{{0,1}}?{_MTP}\s*#?\s*(\d{{1,2}})(?!\d|[.,]\d)",
                ),
            )
        )
        self.sl_hit = re.compile(
            literal_first(
                (_W_SL, rf"\s*{word}{{0,1}}?{_MSLHIT}"),
                (tuple(map(_whole, MORE_SL_HIT)), rf"\s*{word}{{0,1}}?{_MSL}"),
            )
        )
        self.partial = re.compile(literal_first((_W_PARTIAL, rf"\s*{word}{{0,2}}?{_PCT}")))
        # "50% پوزیشن را ببندید": the percentage first (its own expression: no match of
        # one can start where one of the other does, and apart each has a first character
        # to skip to)
        self.pct_first = re.compile(rf"([0-9]{{1,3}}(?:[.,][0-9]+)?)\s?%\s*{word}{{0,3}}?{_MCLOSE}")
        self.half = re.compile(
            literal_first(
                (_W_PARTIAL, rf"\s*{word}{{0,2}}?{_MHALF}"), r"平\s*一半", "减半", r"平\s*半仓"
            )
        )
        self.close = re.compile(literal_first((tuple(map(_whole, MORE_CLOSE)), "")))
        self.some = re.compile(literal_first((tuple(map(_whole, MORE_SOME)), "")))
        self.cancel = re.compile(literal_first((tuple(map(_whole, MORE_CANCEL)), "")))


@cache
def more_expressions() -> MoreExpressions:
    """The MORE_* expressions, compiled once, on first use."""
    return MoreExpressions()


# The gates: every match of the expressions behind each holds one of its words' stems
ANY_MORE_MOVE: Final = contains_any(stems(MORE_MOVE))
ANY_MORE_HIT: Final = contains_any(stems(MORE_HIT))
ANY_MORE_SL_HIT: Final = contains_any(stems(MORE_SL_HIT))
ANY_MORE_CLOSE: Final = contains_any(stems(MORE_CLOSE))
ANY_MORE_PARTIAL: Final = contains_any(stems(MORE_PARTIAL_VERB, MORE_HALF, MORE_SOME, ("平", "减")))
ANY_MORE_CANCEL: Final = contains_any(stems(MORE_CANCEL))
MORE_GATE: Final = stems(
    *(MORE_MOVE, MORE_HIT, MORE_SL_HIT, MORE_PARTIAL_VERB, MORE_HALF, MORE_SOME, MORE_CANCEL),
    ("平", "减"),
)
ANY_MORE: Final = contains_any(MORE_GATE)
# The Han/kana words of the update tables, for the CJK segmenter
CJK_UPDATE_WORDS: Final = tuple(
    w
    for w in (
        *(*MORE_SL, *MORE_TP, *MORE_BE, *MORE_MOVE, *MORE_HIT, *MORE_SL_HIT, *MORE_CLOSE),
        *(*MORE_HALF, *MORE_CANCEL, "减仓", "挂单", "订单", "仓位"),
    )
    if w.isalpha()
)
