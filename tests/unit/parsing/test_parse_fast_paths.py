"""The speed shortcuts read exactly what the general code reads.

Each shortcut (the tokeniser's space skip, the lexer's str-method price test, the field
reader's guard in front of ``resolve_bare``, the update rules' one-expression gates, the
folding of mapped characters by replacement, the postfix-label hoist's loop) must never
change a reading; these tests compare each one with the general form it stands in for.
"""

import re
import unicodedata
from decimal import Decimal
from itertools import compress, count

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from signalbridge.parsing import numbers, rules, update_reader, updates
from signalbridge.parsing import text as text_module
from signalbridge.parsing.fields import best_symbol, hoist_postfix_labels
from signalbridge.parsing.lexer import FAST, NEWLINE, Lexeme, Lx, lex
from signalbridge.parsing.lexicon import Cat, default_lexicon
from signalbridge.parsing.numbers import is_small_int, parse_number
from signalbridge.parsing.symbols import KNOWN_COINS, RU_COINS, STRONG, TAGGED, WEAK, resolve_bare
from signalbridge.parsing.text import (
    PUNCT_CLASS,
    TOKEN_RE,
    any_of,
    contains_any,
    either,
    literal_first,
    normalise,
    word_start,
)

# The tokeniser before the space-skipping look-ahead: the reference it must agree with.
REFERENCE_TOKEN_RE = re.compile(
    r"\d+(?:[.,]\d+)+|\.(?<![\w.]\.)\d+|[^\W\d_]+(?:\d+(?![\d.,]))?|[^\W_]+|\n|_+|" + PUNCT_CLASS
)

SEPARATORS = [" ", "  ", "\n", "\t", "\r", "\u3000", ".", ",", "-", "_", "__", "#", "$", "%", "'"]
WORDS = ["1", "20", "0.5", "1,5", "a", "Tp1", "SL", "x", "🚀", "🎯", "✅", "→", "é", "٣", "𝐁", "½"]
PIECES = st.sampled_from([*SEPARATORS, *WORDS])


@settings(max_examples=500, deadline=None)
@given(st.lists(PIECES, max_size=40).map("".join))
def test_tokeniser_matches_reference_on_pieces(text: str) -> None:
    assert TOKEN_RE.findall(text) == REFERENCE_TOKEN_RE.findall(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_tokeniser_matches_reference_on_any_text(text: str) -> None:
    assert TOKEN_RE.findall(text) == REFERENCE_TOKEN_RE.findall(text)


DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=8)
NUMBER_TOKENS = st.builds(
    lambda head, rest: head + "".join(sep + part for sep, part in rest),
    DIGITS,
    st.lists(st.tuples(st.sampled_from([".", ","]), DIGITS), max_size=3),
)


@settings(max_examples=500, deadline=None)
@given(NUMBER_TOKENS)
def test_plain_price_shortcut_reads_like_parse_number(token: str) -> None:
    lexemes = lex(f"SL {token} now", default_lexicon())
    numbers = [lx.value for lx in lexemes if lx.kind == Lx.NUM]
    expected = parse_number(token)
    assume(expected is not None)  # a non-price ("1.2.3") takes the general path anyway
    assert numbers == [expected]


def test_plain_price_shortcut_examples() -> None:
    for token, value in [("1085", "1085"), ("1.0850", "1.0850"), ("42,000", "42000")]:
        lexemes = lex(f"TP {token}", default_lexicon())
        assert [lx.value for lx in lexemes if lx.kind == Lx.NUM] == [Decimal(value)]


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyzабв", min_size=1, max_size=12))
def test_lower_case_unknown_word_is_never_a_bare_symbol(word: str) -> None:
    if word not in KNOWN_COINS and word not in RU_COINS:
        assert resolve_bare(word, False) is None


def test_known_coins_resolve_whatever_the_case() -> None:
    for word in ("sol", "doge", *list(RU_COINS)[:3]):
        assert resolve_bare(word, False) == resolve_bare(word, True)


# The update gates: each one-expression gate (any_of) finds exactly what the substring
# tests it replaced found, and each gate in front of an expression never hides a match.
NEEDLE_SETS = [
    updates.NEED_CLOSE,
    updates.NEED_PARTIAL,
    updates.NEED_CANCEL,
    updates.NEED_HIT,
    updates.GATE_MOVE,
    updates.GATE_HIT,
    updates.GATE_ORDINAL,
    updates.GATE_PCT,
    ("a", "ab", "abc", "b", "%"),  # needles inside needles
    ("stop", "stopped", "stopu", "sl", "s/l"),
    ("é", "éé", "🚀x", "ر", "\U0001f680", "a"),  # needles beyond ASCII, of every width
]
UPDATE_PIECES = st.sampled_from(
    [
        *(" ", "  ", "\n", "-", "%", ":", "'", "#", "50", "30", "1.25", "2", "-30", "❌", "✅"),
        *("sl", "stop", "loss", "stopped", "out", "tp", "tp1", "target", "take", "profit", "to"),
        *("at", "a", "on", "move", "moved", "set", "new", "entry", "be", "break", "even", "hit"),
        *("close", "closed", "half", "partial", "book", "cancel", "pips", "points", "now"),
        *("trailing", "activated", "first", "second", "cerrar", "kapat", "%50'sini", "закрыть"),
        *("стоп", "на", "тейк", "взят", "hedef", "objetivo", "alvo", "الهدف", "تحقق", "أغلق"),
        *("entr", "clos", "reach", "secur", "all", "final", "b/e", "б/у", "безубыток", "yeni"),
    ]
)
UPDATE_TEXTS = st.lists(UPDATE_PIECES, max_size=14).map(" ".join) | st.lists(
    UPDATE_PIECES, max_size=14
).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(NEEDLE_SETS), UPDATE_TEXTS | st.text(max_size=40))
def test_any_of_finds_what_substring_tests_find(needles: tuple[str, ...], text: str) -> None:
    expected = any(n in text for n in needles)
    assert (any_of(needles).search(text) is not None) == expected
    assert contains_any(needles)(text) is expected  # the C scanner when built


@settings(max_examples=600, deadline=None)
@given(UPDATE_TEXTS)
def test_update_gates_never_hide_a_match(text: str) -> None:
    if updates.partial_pct(text) is not None:
        assert updates.ANY_PCT(text)
    if updates.LOSS_CROSS.search(text) is not None:
        assert updates.ANY_CROSS(text)
    if updates.MOVE_TO_TP.search(text) is not None:
        assert updates.TO_TP.search(text) is not None
    if updates.SL_LOSS.search(text) is not None:
        assert (
            updates.LOSS_NUMBER.search(text) is not None
            or updates.LOSS_CROSS.search(text) is not None
        )


@settings(max_examples=600, deadline=None)
@given(UPDATE_TEXTS)
def test_update_word_gate_reads_like_the_full_rules(text: str) -> None:
    assert update_reader.find_update(text) == update_reader.read_update(text)


def test_update_gates_examples() -> None:
    for text in (
        "close 50% now",
        "sl -30 pips",
        "sl ❌\n",
        "move sl to tp 2",
        "stopu 2650 seviyesine çekin",
    ):
        assert update_reader.find_update(text) == update_reader.read_update(text)
        assert update_reader.find_update(text) is not None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["BTC/USDT", "EURUSD", "XAUUSD"]),
            st.sampled_from([0, WEAK, TAGGED, STRONG, STRONG + 1]),
        ),
        max_size=4,
    )
)
def test_best_symbol_reads_like_the_general_form(symbols: list[tuple[str, int]]) -> None:
    best: str | None = None
    strength = 0
    if symbols:
        best, strength = max(symbols, key=lambda s: s[1])  # the first of the strongest
    strong = len({s for s, st in symbols if st >= STRONG})
    assert best_symbol(symbols) == (best, strength, strong)


MAPPED = "".join(map(chr, text_module.CHAR_MAP))
FOLD_TEXT = st.text(alphabet=st.sampled_from([*MAPPED, "a", "1", " ", "é", "🚀", "\ufe0f"]))


@settings(max_examples=500, deadline=None)
@given(FOLD_TEXT)
def test_folding_by_replacement_reads_like_translate(text: str) -> None:
    folded = text.replace("\ufe0f", "").translate(text_module.CHAR_MAP)
    if not folded.isascii():
        folded = unicodedata.normalize("NFKC", folded)
    assert normalise(text) == folded


_LABEL_KINDS = (Cat.ENTRY, Cat.SL, Cat.TP, Cat.LEV)
_CLAIM_KINDS = (*_LABEL_KINDS, Lx.IDX, Cat.AT, Cat.MARKET)
_CLAUSE_ENDS = (NEWLINE, FAST[","], FAST[";"], FAST["|"])


def reference_hoist(lexemes: list[Lexeme]) -> list[Lexeme]:
    """The postfix-label hoist in its plain form: clause ends found with map/compress, a
    keyword (or a target keyword and its number) before each moved before its price,
    unless a keyword already claims that price."""
    out = lexemes
    ends = list(compress(count(-1), map(lambda lx: any(lx is e for e in _CLAUSE_ENDS), lexemes)))
    ends.append(len(lexemes) - 1)
    for k in ends:
        if k < 1:
            continue
        if lexemes[k].kind in _LABEL_KINDS:
            first = k
        elif (
            k >= 2
            and lexemes[k - 1].kind in _LABEL_KINDS
            and (
                lexemes[k].kind == Lx.IDX
                or (lexemes[k].kind == Lx.NUM and is_small_int(lexemes[k].text))
            )
        ):
            first = k - 1
        else:
            continue
        j = first - 1
        while j >= 0 and lexemes[j].kind == Lx.PUNCT:
            j -= 1
        if j < 0 or lexemes[j].kind != Lx.NUM:
            continue
        start = j
        if start >= 2 and lexemes[start - 1].kind == Cat.JOIN and lexemes[start - 2].kind == Lx.NUM:
            start -= 2
        before = start - 1
        while before >= 0 and lexemes[before].kind == Lx.PUNCT and lexemes[before].text == ":":
            before -= 1
        if before >= 0 and lexemes[before].kind in _CLAIM_KINDS:
            continue
        if out is lexemes:
            out = list(lexemes)
        out = out[:start] + lexemes[first : k + 1] + out[start:first] + out[k + 1 :]
    return out


HOIST_LEXEMES = st.sampled_from(
    [
        NEWLINE,
        FAST[","],
        FAST["|"],
        Lexeme(Lx.NUM, "1.5", Decimal("1.5")),
        Lexeme(Lx.NUM, "2", Decimal(2)),
        Lexeme(Lx.IDX, "1"),
        Lexeme(Cat.JOIN, "-"),
        Lexeme(Lx.PUNCT, ":"),
        Lexeme(Cat.SL, "sl"),
        Lexeme(Cat.TP, "tp"),
        Lexeme(Cat.ENTRY, "entry"),
        Lexeme(Cat.LEV, "leverage"),
        Lexeme(Cat.AT, "@"),
        Lexeme(Lx.WORD, "now"),
    ]
)


@settings(max_examples=1000, deadline=None)
@given(st.lists(HOIST_LEXEMES, max_size=16))
def test_postfix_hoist_reads_like_the_first_form(lexemes: list[Lexeme]) -> None:
    before = list(lexemes)
    assert hoist_postfix_labels(lexemes) == reference_hoist(lexemes)
    assert lexemes == before  # the input is never reordered in place


# Expressions rewritten so that the engine can skip to a possible first character: each
# finds exactly what its former spelling found (spans and groups), on any text.
_OLD_SL = (
    r"(?:sl|s/l|stop\s?-?\s?loss|stoploss|stop|стоп(?:-?лосс)?|stopu|وقف(?:\s*الخسارة)?|استاپ"
    r"|(?:ال)?ستوب)"
)
_REWRITTEN = [
    (re.compile(updates.SL), re.compile(_OLD_SL)),
    (
        updates.MOVE_BE_WORD,
        re.compile(r"\bbreak\s?-?\s?even\b|\bbreakeven\b|безубыт\w*|\bб/у\b"),
    ),
    (updates.HIT_ANY, re.compile(updates.HIT + r"|تحقيق")),
    (
        updates.CANCEL,
        re.compile(
            r"cancel\w*|not\s+(?:been\s+)?(?:triggered|activated|filled)"
            r"|didn'?t\s+(?:trigger|activate|fill)"
            r"|(?:delete|remove)\s+(?:the\s+|this\s+|all\s+)?(?:pending\s+)?(?:order|limit|entry)"
            r"|\bvoid\b|отмен\w*|cancelar|cancelad\w*|iptal|(?:إلغاء|الغاء)|invalidated"
        ),
    ),
]
REWRITE_PIECES = st.sampled_from(
    [
        *(" ", "\n", "-", ":", "x", "1.25", "30", "sl", "stop", "loss", "moved", "to", "entry"),
        *("ال", "الستوب", "ستوب", "وقف", "ضرب", "break", "even", "breakeven", "б/у", "б", "в"),
        *("hit", "❌", "-30 pips", "be", "new", "at", "تحقيق", "تحقق", "تم", "✅", "done"),
        *("void", "avoid", "delete", "remove", "the", "pending", "order", "إلغاء", "not", "x1"),
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(REWRITE_PIECES, max_size=12).map("".join) | UPDATE_TEXTS)
def test_rewritten_expressions_find_what_they_found(text: str) -> None:
    assert len(_REWRITTEN) == 4
    for new, old in _REWRITTEN:
        found = [(m.span(), m.groups()) for m in new.finditer(text)]
        assert found == [(m.span(), m.groups()) for m in old.finditer(text)], new.pattern


# Expressions spelled with literal_first, and _PARTIAL_PCT split in two: their former
# spellings, kept here, must find the same spans and the same groups' text.
SL, TP, W, NUM = updates.SL, updates.TP, updates.W, numbers.NUM
HIT, BE = updates.HIT, updates.BE
TP_INDEX, OLD_PRICE = updates.TP_INDEX, updates.OLD_PRICE
_FORMER: dict[str, str] = {
    "TP_HIT0": rf"{TP}\s?#?\s?(\d{{1,2}})(?!\d|[.,]\d)\W{{0,4}}(?:[^\W\d]+\W+){{0,2}}?{HIT}",
    "TP_HIT1": rf"(?:hit|reached|achieved|smashed)\s+(?:the\s+)?{TP}"
    rf"(?:\s?(\d{{1,2}})(?!\d|[.,]\d)|s?\b)",
    "TP_HIT3": rf"(?:all|final|last|every)\s+{TP}s?\s+(?:\w+\s+){{0,1}}?{HIT}",
    "TP_HIT4": rf"{TP}\s?(\d{{1,2}})\s?[:\-]?\s?\d+(?:[.,]\d+)*\s?[$]?\s?[✅☑✔]+[ \t]*(?:\n|$)",
    "TP_HIT5": rf"{TP}\s+{HIT}",
    "SL_LOSS": rf"{SL}[ \t:]*-\d+(?:[.,]\d+)?\s?(?:pips?|points?|pts|%|пунктов|пипсов)"
    rf"|{SL}[ \t]*[❌🚫⛔]+[ \t]*(?:\n|$)",
    "SL_HIT": rf"{SL}\s?(?:was\s+|got\s+|has\s+been\s+)?(?:hit|triggered|reached|taken|touched)"
    r"|stopped\s?out|hit\s+(?:the\s+|our\s+)?(?:sl|stop)|стоп\s+(?:выбит|сработал|словили)"
    r"|выбило|по\s+стопу|сработал\w*\s+стоп|"
    rf"{SL}\s+(?:tocado|alcanzado|atingido|ativado|acionado|oldu|patladı)"
    r"|ضرب\s+(?:ال)?(?:وقف|ستوب)",
    "MOVE_BE_SL": rf"{SL}\W{{0,3}}{W}(?:to|at|on|in|в|на|a|al|para|en|до|ile)?\W{{0,3}}{BE}",
    "MOVE_BE_VERB": rf"(?:move|moving|set|put|place|shift)\s+{W}(?:to\s+)?{BE}",
    "MOVE_SL": rf"(?:move|moving|moved|set|place|change|shift|put|trail|adjust|new|update|raise|"
    rf"lower)\s+{W}{SL}\W{{0,3}}(?:[^\W\d]+\W{{1,3}}){{0,3}}?(?:to|at|around|@|:|=|a|para|на)?"
    rf"\s?{NUM}|(?:new|nuevo|novo|новый)\s+{SL}\s?[:=@]?\s?{NUM}"
    rf"|(?:стоп|sl)\s+(?:переносим|переставляем|двигаем)\s+(?:на\s+)?{NUM}"
    rf"|{either(updates.MOVE_VERBS)}\s+{W}{SL}\w*\W{{0,3}}(?:[^\W\d]+\W{{1,3}}){{0,2}}?"
    rf"(?:на|a|al|para|en|em|إلى|الى|ile)?\s?{NUM}"
    rf"|{SL}\w*'?\w*\s+{NUM}\S*\s+(?:seviyesine\s+)?(?:çek|taşı)",
    "SL_NOW": rf"{SL}\s?(?:moved|changed|updated|adjusted|now)\s+(?:to\s+|at\s+)?{NUM}",
    "MOVE_TO_TP": rf"{SL}\W{{0,3}}(?:to|at|on|в|на|a|para)\s+{TP}\s?\d{{1,2}}\b",
    "HALF": r"(?:close|closing|book|take|secure)\s+(?:the\s+)?half"
    r"|half\s+(?:close|position|profit)"
    r"|cerrar\s+(?:la\s+)?mitad|fechar\s+(?:a\s+)?metade|yarısını\s+kapat|половин\w*"
    r"|(?:إغلاق|اغلاق|أغلق|اغلق)\s+(?:ال)?نصف",
    "CLOSE": r"\b(?:close|closing|closed|exit|exiting)\b(?!\s+(?:above|below|under|over"
    r"|of\s+the\s+candle|candle|weekly|daily|to\s+\d|near|h\d|\d+h"
    r"|to\s+(?:tp|target|the\s+target|our\s+target|hitting|the\s+high|the\s+low)"
    r"|(?:the\s+|this\s+|a\s+)?(?:week|day|month|year|session|bar)\b"
    r"|prices?\b|levels?\b|bell\b))"
    r"|закр(?:ыва|ой|ыть|ыв|ыт|ыл|оем)\w*|вышел|выходим|cerr(?:ar|amos|ad[oa]s?|en)\b"
    r"|cierr(?:a|en|o)\b|fech(?:ar|amos|ad[oa]s?|em|e)\b|kapat\w*|(?:إغلاق|اغلاق|أغلق|اغلق)",
    "MODIFY_TP": rf"(?:change|move|set|new|modify|update|adjust|raise|lower)\s+{W}{TP}"
    rf"{TP_INDEX}\W{{0,3}}{OLD_PRICE}(?:to|at|:|@|=|is\s+now|now)?\s?{NUM}"
    rf"|{TP}{TP_INDEX}\s+(?:changed|moved|updated|modified|adjusted|raised|lowered|change"
    rf"|move|update|set|is\s+now|now)\s+{OLD_PRICE}(?:to\s+|at\s+)?{NUM}"
    rf"|(?:nuevo|nueva|novo|nova|новый|новая|новую|yeni)\s+{TP}\w*{TP_INDEX}\W{{0,3}}{NUM}"
    rf"|(?:ال)?{TP}\s?\d?\s+الجديد\W{{0,3}}{NUM}",
    "TO_TP": rf"(?:to|at|on|в|на|a|para)\s+{TP}\s?\d",
    "REPORT": r"closed trades?|trades? closed|trade results|\bresults?\b|recap|summary|statistics|"
    r"performance|(?:this|last|past) (?:week|month|year)|today'?s (?:profit|result)"
    r"|pips (?:this|today)|результат|итоги|resultados|sonuçlar|نتائج",
    "PIP_LEVEL": r"\b(?:sl|s/l|stop|stop\s?loss|tp\s?\d?|take\s?profit\s?\d?|target\s?\d?)"
    r"\s?[:=\-]?\s?\d+(?:[.,]\d+)?\s?(?:pips?|points?|pts|пунктов|пипсов)\b",
}
_FORMER_PARTIAL_PCT = re.compile(
    rf"(?:close|closing|book|booking|take|secure|cerrar|cierre|cierren|fechar|fechem|kapat|"
    rf"realiz\w*|tomar|asegur\w*|garant\w*|"
    rf"закр\w*|зафикс\w*|إغلاق|اغلاق|أغلق|اغلق)\s+{W}(\d{{1,3}}(?:[.,]\d+)?)\s?%"
    rf"|(\d{{1,3}}(?:[.,]\d+)?)\s?%\s+(?:of\s+)?(?:the\s+)?(?:position|profit|volume|lot)?\s*"
    rf"(?:close|closed|booked|secured|cerrad|fechad|закры)"
    rf"|%\s?(\d{{1,3}})\S*\s+(?:\w+\s+)?kapat"
)


def _now_spelled(name: str) -> re.Pattern[str]:
    if name.startswith("TP_HIT"):
        return updates.TP_HIT[int(name[-1])]
    module = rules if name in ("REPORT", "PIP_LEVEL") else updates
    pattern = getattr(module, name)
    assert isinstance(pattern, re.Pattern)
    return pattern


def _found(m: re.Match[str] | None) -> tuple[tuple[int, int], list[str]] | None:
    """A match's span and the text of every group that took part, in order."""
    return None if m is None else (m.span(), [g for g in m.groups() if g is not None])


SPELLED_PIECES = st.sampled_from(
    [
        *(" ", "\n", "-", ":", "%", "'", "@", "1.25", "30", "50", "2", "-30 pips", "❌", "✅"),
        *("sl", "stop", "loss", "stoploss", "стоп", "stopu", "وقف", "الستوب", "tp", "target"),
        *("take", "profit", "tp2", "الهدف", "hedef", "move", "moved", "new", "nuevo", "set"),
        *("change", "переносим", "на", "taşı", "çekin", "seviyesine", "to", "at", "a", "para"),
        *("entry", "be", "break even", "hit", "done", "reached", "all", "last", "the", "our"),
        *("close", "closing", "closed", "exit", "exited", "candle", "above", "half", "cerrar"),
        *("kapat", "%50'sini", "اغلاق", "نصف", "ال", "الجديد", "results", "this week", "x"),
        *("changed", "now", "закрыть", "book", "position", "pts", "points", "weekly", "a1"),
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(SPELLED_PIECES, max_size=14).map(" ".join) | UPDATE_TEXTS)
def test_expressions_spelled_literal_first_find_what_they_found(text: str) -> None:
    for name, former in _FORMER.items():
        now = _now_spelled(name)
        assert [_found(m) for m in now.finditer(text)] == [
            _found(m) for m in re.finditer(former, text)
        ], name
    assert _found(updates.partial_pct(text)) == _found(_FORMER_PARTIAL_PCT.search(text))


def test_expressions_spelled_literal_first_examples() -> None:
    cases = {
        "MOVE_SL": "pls move the sl to 1.2050 now",
        "SL_NOW": "sl moved to 1.25",
        "MOVE_TO_TP": "move sl to tp 2",
        "MODIFY_TP": "الهدف الجديد 2650",
        "CLOSE": "closed at market, not a close above 1.2",
        "REPORT": "our results this week",
        "PIP_LEVEL": "sl 30 pips",
        "TP_HIT4": "target 3: 6.07 ✅\n",
    }
    for name, text in cases.items():
        found = [_found(m) for m in _now_spelled(name).finditer(text)]
        assert found, name
        assert found == [_found(m) for m in re.finditer(_FORMER[name], text)], name
    assert _found(updates.partial_pct("50% closed, close 25% more")) == ((0, 9), ["50"])


def test_literal_first_refuses_a_word_without_a_literal_first_character() -> None:
    for word in (r"\bword", "(?:a)b", "[ab]c", "a?b", ""):
        with pytest.raises(ValueError, match="literal first character"):
            literal_first(((word,), "x"))
    assert literal_first((("move", "set", "moved"), "!"), "abc") == "m(?:ove|oved)!|set!|abc"
    assert word_start("close") == r"c(?<!\wc)lose"
