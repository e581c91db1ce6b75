"""Follow-up messages in the languages added as data: their words, one tuple per meaning,
and the expressions and gates built from them.

Chinese, Japanese, Korean, Thai, Indonesian and Malay, Vietnamese, Persian and Urdu,
Ukrainian, German, French, Italian, Polish and romanised Hindi update words live here,
apart from the English-first expressions of :mod:`signalbridge.parsing.updates`; a new
language adds its words to these tuples, with its tests, and no code. Thai words are
written with their marks and stored folded (:mod:`signalbridge.parsing.thai`), as the
segmenter leaves a Thai message.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Final

from signalbridge.parsing.numbers import NUM
from signalbridge.parsing.text import contains_any, either, literal_first, word_start
from signalbridge.parsing.thai import folded

# Update words of the languages added as data (Chinese, Japanese, Korean, Indonesian and
# Malay, Vietnamese, Persian): one tuple per meaning, read by the MORE_* expressions
# below in either word order. A new language adds its words to these tuples. Each word
# starts with a literal character (the expressions skip to it in C, and its literal start
# is the gate in front of them); a word in a script that spaces its words matches whole.
MORE_SL: Final = (
    *("止损", "止損", "損切り", "損切", "손절", r"حد\s*ضرر", "استاپ", "sl"),
    # "stop-loss" before "stop": the words after it are read from where it ends
    *(r"stop\s*-?\s*loss", "stop", r"стоп\s*-?\s*лосс", "стоп"),
    *(r"henti\s+rugi", "اسٹاپ", "سٹاپ"),
    *folded(("จุดตัดขาดทุน", "ตัดขาดทุน", "หยุดขาดทุน", "จุดคัท")),
)
MORE_TP: Final = (
    *("止盈", "目标", "目標", "利確", "익절", "목표가", "목표", "تارگت", "tp", "target"),
    *("ziel", "objectif", "obiettivo", "cel", "ціль", "ٹارگٹ"),
    *folded(("เป้าหมาย", "เป้า", "ทำกำไร")),
)
MORE_BE: Final = (
    *("成本价", "成本", "保本", "开仓价", "入场价", "建仓价", "建値", "본절", "entry", "bep"),
    *(r"titik\s+masuk", r"harga\s+masuk", r"giá\s+vào", r"điểm\s+vào", r"نقطه\s*ورود"),
    *("ورود", r"ریسک\s*فری", "انٹری", "진입가", "진입", "본전"),
    *("беззбиток", "беззбитку", r"точку\s+входу", r"ціну\s+входу", "einstieg", "einstand"),
    *(r"prix\s+d\s*'?\s*entr[ée]e", r"point\s+d\s*'?\s*entr[ée]e"),
    r"prezzo\s+di\s+(?:ingresso|entrata)",
    *("pareggio", "wejście", "wejscie", r"punkt\s+wejścia", r"cen[eę]\s+wejścia"),
    *folded(("จุดเข้า", "ราคาเข้า", "เท่าทุน", "กันทุน")),
)
MORE_MOVE: Final = (
    *("移至", "移到", "调整至", "调整到", "调至", "改为", "上移至", "下移至", "设为", "提高至"),
    *("修改为", "移動", "이동", "pindahkan", "pindah", "geser", "naikkan", "turunkan", "dời"),
    *("dịch", "kéo", "منتقل", "جابجا", "ببرید", "переносимо", "пересуваємо", "перенесіть"),
    *("nachziehen", "verschieben", "setzen", "déplacez", "déplacer", "déplaçons", "remontez"),
    *("mettez", "spostate", "spostare", "sposta", "spostiamo", "portiamo", "przesuwamy"),
    *("przesuń", "przesunąć", "przenosimy", "alihkan", "anjakkan"),
    # "change": a stop or a target changed to a new price ("TP2 diubah ke 2400", "止盈2改成")
    *("改成", "改到", "调到", "ubah", "diubah", "ganti", "diganti", "đổi", "chỉnh", "تغییر"),
    *folded(("เลื่อน", "ย้าย", "ขยับ")),
)
MORE_HIT: Final = (
    *("已达到", "达到", "到达", "已达成", "达成", "已触及", "触及", "已完成", "到達", "達成"),
    *("도달", "tercapai", "kena", "tersentuh", "chạm", "đạt", "تاچ", r"زده\s*شد", "خورد"),
    *("erreicht", "atteint", "raggiunto", r"osiągni\w+", r"досягнут\w*", "взято", r"ہٹ"),
    *folded(("ถึง", "ชน", "แตะ")),
)
MORE_SL_HIT: Final = (
    *("已触发", "触发", "被打", "被触发", "打掉", "到達", "tersentuh", "kena", "dính", "chạm"),
    *("خورد", r"فعال\s*شد", r"زده\s*شد", *folded(("โดน", "ชน"))),
    *("ausgelöst", "touché", "colpito", "aktywowany", "спрацював", "ہٹ"),
)
# what a close verb of a language that also closes shops names (see MORE_CLOSE)
_DE_OBJECT: Final = r"(?:\w+\s+){0,2}?(?:position(?:en)?|trades?|order|alles)(?!\w)"
_DE_OBJECT_BEFORE: Final = (
    "(?:"
    + "|".join(f"(?<={o} schlie)" for o in ("position", "positionen", "trade", "trades", "alles"))
    + ")"
)
_FR_OBJECT: Final = r"(?:\w+\s+|l'\s*){0,2}?(?:positions?|trades?|ordres?|tout)(?!\w)"
_IT_OBJECT: Final = r"(?:\w+\s+|l'\s*){0,2}?(?:posizion[ei]|trade|ordin[ei]|tutto)(?!\w)"
_PL_OBJECT: Final = r"(?:\w+\s+){0,2}?(?:pozycj\w*|transakcj\w*|zleceni\w*|wszystko)"
MORE_CLOSE: Final = (
    *("全部平仓", "平仓", "清仓", "全平", "決済", "청산", "tutup"),
    *(r"đóng(?:\s+hết|\s+hòa)?\s+(?:lệnh|kèo)", r"thoát\s+(?:lệnh|hàng)"),
    *(r"chốt\s+(?:hòa\s+|non\s+|âm\s+)?(?:hết|lệnh|kèo|toàn\s+bộ)", "ببندید", "ببند", "بستن"),
    # Vietnamese, the side as the object: "chốt sell" (close the sell)
    r"chốt\s+(?:hòa\s+|non\s+|âm\s+|lời\s+)?(?:sell|buy)",
    r"خارج\s*شوید",
    # German, French, Italian, Polish: the verb closes a shop or a week as well as a
    # trade, so it names what it closes ("Position schließen", "fermez la position")
    # (German puts the verb last: "Position schließen" is read from the verb back, so
    # that "position" and "trade", everywhere in English, are no stems of this table)
    *(r"schlie(?:ß|ss)en\s+" + _DE_OBJECT, "schlie" + _DE_OBJECT_BEFORE + r"(?:ß|ss)en"),
    *("glattstellen", r"ferm(?:ez|er|ons)\s+" + _FR_OBJECT),
    *(r"clôtur(?:ez|er|ons)\s+" + _FR_OBJECT, r"chiud(?:iamo|ete|ere|i)\s+" + _IT_OBJECT),
    *(r"zamyk(?:amy|ajcie|am)\s+" + _PL_OBJECT, r"zamkn(?:ij|ąć|ijcie)\s+" + _PL_OBJECT),
    *(r"بند\s+(?:کر|کریں|کرو|کر\s+دیں)", r"band\s+(?:karo|kar\s+do|kardo|karein|karen)"),
    *folded((r"ปิด\s+(?:ออเดอร์|โพซิชั่น|ทั้งหมด|สถานะ|order)",)),
)
MORE_PARTIAL_VERB: Final = (
    *(*MORE_CLOSE, "减仓", "平", "chốt", "đóng", "سیو", *folded(("ปิด",))),
    # the bare verbs, before a share of the position ("fermez 50 %", "chiudiamo il 50%")
    *("schließen", "schliessen", "fermez", "fermer", "fermons", "clôturez", "clôturer"),
    *("chiudiamo", "chiudete", "chiudere", "chiudi", "zamykamy", "zamknij", "zamknąć"),
)
MORE_HALF: Final = (
    *("一半", "半仓", "减半", "半分", "절반", "setengah", r"một\s*nửa", "nửa", "نصف", "نیمی"),
    *("hälfte", "moitié", "metà", "połowę", "آدھی", "آدھا", "آدھے", "aadha", "aadhi"),
    r"1/2(?![\d/])",  # "chốt 1/2 lệnh", "tutup 1/2 posisi": a half written as a fraction
    *folded(("ครึ่งหนึ่ง", "ครึ่ง")),
)
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
_AR_ORDER: Final = r"(?:الأمر|الامر|أمر|امر|الطلب|الصفقة\s+المعلقة)"
_UK_ORDER: Final = r"(?:ордер\w*|лімітк\w*|заявк\w*)"
_FR_ORDER: Final = r"(?:l'\s*|les\s+|la\s+|le\s+|cet\s+|cette\s+)?(?:ordres?|positions?)"
_IT_ORDER: Final = r"(?:l'\s*|gli\s+|il\s+|la\s+|questo\s+)?ordin[ei]"
MORE_CANCEL: Final = (
    *("取消", "撤单", "撤销", "キャンセル", r"주문\s*취소", "batalkan"),
    *(r"batal\s+(?:order|entry|posisi|limit)", r"order\s+(?:\w+\s+)?(?:di)?batal\w*"),
    *("hủy" + _VI_CANCEL, "huỷ" + _VI_CANCEL, "xoá" + _VI_CANCEL, "xóa" + _VI_CANCEL),
    # Vietnamese, the pending order first ("kèo limit ... xoá")
    *(r"kèo\s+(?:limit|chờ)\s+(?:\S+\s+){0,4}?(?:xoá|xóa|hủy|huỷ)",),
    *(r"lệnh\s+(?:limit|chờ)\s+(?:\S+\s+){0,4}?(?:xoá|xóa|hủy|huỷ)",),
    *("سفارش" + _FA_ORDER, "اردر" + _FA_ORDER, r"لغو\s+(?:سفارش|اردر)"),
    r"سفارش\s*(?:\S+\s+){0,4}?(?:لغو|کنسل)",  # "سفارش لیمیت طلا را لغو کنید"
    r"کنسل\s+(?:سفارش|اردر)",
    *(r"آرڈر\s+(?:\S+\s+)?(?:کینسل|منسوخ)", r"کینسل\s+(?:\S+\s+)?آرڈر"),
    *(r"скасов\w*\s+(?:\w+\s+)?" + _UK_ORDER, r"скасува\w*\s+(?:\w+\s+)?" + _UK_ORDER),
    *(
        r"ордер\w*\s+(?:\w+\s+)?скасован\w*",
        r"stornier\w*\s+" + _DE_OBJECT,  # "storniert" alone cancels flights too
        r"order\s+(?:\w+\s+){0,2}?stornier\w*",
        r"annul(?:ez|er|ons|é|ée)\s+" + _FR_ORDER,
    ),
    *(r"ordres?\s+(?:\w+\s+){0,2}?annulée?s?", r"annull(?:ate|are|iamo|a)\s+" + _IT_ORDER),
    *(r"ordine\s+(?:\w+\s+){0,2}?annullato", r"anul\w*\s+(?:\w+\s+)?zleceni\w*"),
    r"zlecenie\s+(?:\w+\s+)?anulowane",
    # Russian and Arabic (read by updates.py), where the cancel names the order it withdraws
    # (not the Latin-script ones: their first letters are everywhere in English text, and
    # each would cost this table's gate a test at every one of them)
    *(r"отмен\w*\s+(?:\w+\s+)?(?:ордер\w*|лимитк\w*|заявк\w*)", r"ордер\w*\s+(?:\w+\s+)?отмен\w*"),
    *(r"إلغاء\s+(?:\S+\s+)?" + _AR_ORDER, r"الغاء\s+(?:\S+\s+)?" + _AR_ORDER),
    r"ألغ\w*\s+(?:\S+\s+)?" + _AR_ORDER,
    *folded((r"ยกเลิก\s+(?:ออเดอร์|คำสั่ง|order|ลิมิต)", r"ออเดอร์\s+(?:\S+\s+){0,2}?ยกเลิก")),
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


def _factored(words: tuple[str, ...], rest: str) -> str:
    """``(?:w1|w2|...)rest``: the matches and groups of ``literal_first((words, rest))``,
    with ``rest`` once instead of once per first letter (much less to compile), and
    still a literal first letter to skip to when it is an expression of its own."""
    return "(?:" + literal_first((words, "")) + ")" + rest


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

    Each expression is compiled on its own first use (a property): a process that never
    needs one (the "%" partial close, say) never pays for compiling it.
    """

    __slots__ = ("_compiled", "_sources")

    def __init__(self) -> None:
        word = _ANY_WORD
        sources: dict[str, str] = {}
        sources["move_at"] = literal_first((_W_MOVE, ""))
        sources["sl_before"] = rf"{_MSL}\s*{word}{{0,2}}?$"
        sources["sl_after"] = rf"\s*{word}{{0,2}}?{_MSL}"
        sources["be_after"] = rf"\s*{word}{{0,2}}?{_MBE}"
        sources["num_after"] = rf"\s*{word}{{0,2}}?{NUM}{_NOT_DISTANCE}"
        sources["sl_be_before"] = rf"{_MSL}\s*{word}{{0,2}}?{_MBE}\s*{word}?$"
        sources["sl_num_before"] = rf"{_MSL}\s*{word}{{0,2}}?{NUM}{_NOT_DISTANCE}\s*{word}?$"
        # (the words factored out of their tails, not spelled out per first letter: the
        # same matches, and a fraction of the compiling, for expressions few messages use)
        sources["tp_hit"] = "|".join(
            (
                _factored(
                    tuple(map(_whole, MORE_TP)),
                    rf"\s*#?\s*(\d{{1,2}})(?!\d|[.,]\d)\s*\W{{0,2}}\s*{word}{{0,2}}?{_MHIT}",
                ),
                _factored(
                    tuple(map(_whole, MORE_HIT)),
                    rf"\s*{word}{{0,1}}?{_MTP}\s*#?\s*(\d{{1,2}})(?!\d|[.,]\d)",
                ),
            )
        )
        sources["sl_hit"] = "|".join(
            (
                _factored(_W_SL, rf"\s*{word}{{0,1}}?{_MSLHIT}"),
                _factored(tuple(map(_whole, MORE_SL_HIT)), rf"\s*{word}{{0,1}}?{_MSL}"),
            )
        )
        sources["partial"] = literal_first((_W_PARTIAL, rf"\s*{word}{{0,2}}?{_PCT}"))
        # "50% پوزیشن را ببندید": the percentage first (its own expression: no match of
        # one can start where one of the other does, and apart each has a first character
        # to skip to)
        sources["pct_first"] = rf"([0-9]{{1,3}}(?:[.,][0-9]+)?)\s?%\s*{word}{{0,3}}?{_MCLOSE}"
        # the verb first, or the half first ("نصف پوزیشن را ببندید", "半分決済": the verb
        # last, as Persian, Urdu, Japanese and Korean put it)
        # its three branches apart (any_half: whether one matches), each still skipping
        # to a first letter, the words factored out of their tails
        sources["half_verb"] = _factored(_W_PARTIAL, rf"\s*{word}{{0,2}}?{_MHALF}")
        sources["half_first"] = _factored(
            tuple(map(_whole, MORE_HALF)), rf"\s*{word}{{0,3}}?{_MCLOSE}"
        )
        sources["half_zh"] = literal_first(*(r"平\s*一半", "减半", r"平\s*半仓"))
        sources["close"] = literal_first((tuple(map(_whole, MORE_CLOSE)), ""))
        sources["some"] = literal_first((tuple(map(_whole, MORE_SOME)), ""))
        sources["cancel"] = literal_first((tuple(map(_whole, MORE_CANCEL)), ""))
        self._sources = sources
        self._compiled: dict[str, re.Pattern[str]] = {}

    def named(self, name: str) -> re.Pattern[str]:
        pattern = self._compiled.get(name)
        if pattern is None:
            pattern = self._compiled[name] = re.compile(self._sources[name])
        return pattern

    @property
    def move_at(self) -> re.Pattern[str]:
        return self.named("move_at")

    @property
    def sl_before(self) -> re.Pattern[str]:
        return self.named("sl_before")

    @property
    def sl_after(self) -> re.Pattern[str]:
        return self.named("sl_after")

    @property
    def be_after(self) -> re.Pattern[str]:
        return self.named("be_after")

    @property
    def num_after(self) -> re.Pattern[str]:
        return self.named("num_after")

    @property
    def sl_be_before(self) -> re.Pattern[str]:
        return self.named("sl_be_before")

    @property
    def sl_num_before(self) -> re.Pattern[str]:
        return self.named("sl_num_before")

    @property
    def tp_hit(self) -> re.Pattern[str]:
        return self.named("tp_hit")

    @property
    def sl_hit(self) -> re.Pattern[str]:
        return self.named("sl_hit")

    @property
    def partial(self) -> re.Pattern[str]:
        return self.named("partial")

    @property
    def pct_first(self) -> re.Pattern[str]:
        return self.named("pct_first")

    def any_half(self, low: str) -> bool:
        """Whether ``low`` asks to close half: a search of the one expression of the three
        branches (the verb first, the half first, the Chinese words), branch by branch;
        each match holds a word of MORE_HALF, so a text without one skips all three."""
        return ANY_MORE_HALF(low) and (
            self.named("half_verb").search(low) is not None
            or self.named("half_first").search(low) is not None
            or self.named("half_zh").search(low) is not None
        )

    @property
    def close(self) -> re.Pattern[str]:
        return self.named("close")

    @property
    def some(self) -> re.Pattern[str]:
        return self.named("some")

    @property
    def cancel(self) -> re.Pattern[str]:
        return self.named("cancel")


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
ANY_MORE_HALF: Final = contains_any(stems(MORE_HALF))  # every any_half match holds one
MORE_GATE: Final = stems(
    *(MORE_MOVE, MORE_HIT, MORE_SL_HIT, MORE_PARTIAL_VERB, MORE_HALF, MORE_SOME, MORE_CANCEL),
    ("平", "减"),
)
ANY_MORE: Final = contains_any(MORE_GATE)
# Thai words the expressions above name inside a longer expression, for the segmenter
_TH_WORDS: Final = folded(
    (
        *("ออเดอร์", "โพซิชั่น", "ทั้งหมด", "สถานะ", "คำสั่ง", "ลิมิต", "ยกเลิก", "ปิด"),
        *("ของ", "ไปที่", "แล้ว", "ครับ", "ค่ะ", "ได้", "ถูก"),
    )
)
# Words of the scripts the keyword tables read only in part that the update tables read:
# a message made of them and of keywords is read whole, not "partly unread"
# (and labels that carry no value of their own: "方向：做多", direction: long)
_READ_TOO: Final = (
    *("lệnh", "chờ", "vào", "về", "lên", "xuống", "주문", "포지션", "方向", "方向为", *_TH_WORDS),
    *("を", "に", "へ", "は", "で", "の", "が", "まで", "注文"),  # Japanese particles
)
# The Han/kana/Thai words of the update tables, for the segmenter
CJK_UPDATE_WORDS: Final = tuple(
    w
    for w in (
        *(*MORE_SL, *MORE_TP, *MORE_BE, *MORE_MOVE, *MORE_HIT, *MORE_SL_HIT, *MORE_CLOSE),
        *(*MORE_HALF, *MORE_CANCEL, "减仓", "挂单", "订单", "仓位", *_READ_TOO),
    )
    if w.isalpha()
)


# A letter run of a table entry once its escapes ("\\s", "\\w") and classes ("[ée]") are
# gone: the words an entry spells out
_ESCAPES: Final = re.compile(r"\\.|\[[^\]]*\]")
_LETTERS: Final = re.compile(r"[^\W\d_]+")


def _spelled(*tables: tuple[str, ...]) -> frozenset[str]:
    """Every word the tables spell out, in any script but Latin letters without marks (the
    unread test is about the other scripts; a short ASCII run is more often an alternation's
    ending, "annul(?:ez|er)", than a word)."""
    out: set[str] = set()
    for table in tables:
        for entry in table:
            plain = _ESCAPES.sub(" ", entry)
            out.update(w for w in _LETTERS.findall(plain) if not w.isascii() or len(w) > 3)
    return frozenset(out)


# Every word of the update tables and of _READ_TOO: rules.py counts none as "unread"
READ_WORDS: Final = _spelled(
    *(MORE_SL, MORE_TP, MORE_BE, MORE_MOVE, MORE_HIT, MORE_SL_HIT, MORE_CLOSE),
    *(MORE_PARTIAL_VERB, MORE_HALF, MORE_SOME, MORE_CANCEL, _READ_TOO),
)
