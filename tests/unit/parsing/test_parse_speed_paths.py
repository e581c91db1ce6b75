"""The speed work of issue 14's remainder reads exactly what the code it replaced read,
and the update scoring it came with means what it says.

Each shortcut is held to the general form it stands in for: the stems grouped by first
character (``leftovers``), the half gate in front of ``any_half``, the one comparison in
front of the target list's end and of ``beyond_stop``, a single-alternative
``literal_first`` compiled with its tail once, and the C gate scanner's two-character
filter and its binary search over needles beyond ASCII.
"""

import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signalbridge.domain.signals import Side, Signal, SignalUpdate, UpdateAction
from signalbridge.parsing import parse
from signalbridge.parsing.evidence import beyond_stop
from signalbridge.parsing.fields import Reading, ends_targets
from signalbridge.parsing.lexer import Lexeme, Lx
from signalbridge.parsing.lexicon import Cat
from signalbridge.parsing.text import contains_any, either, literal_first
from signalbridge.parsing.update_evidence import FILLERS, STEMS, leftovers
from signalbridge.parsing.update_languages import more_expressions

# --- leftovers: the stems grouped by their first character --------------------------


def _leftovers_reference(lexemes: list[Lexeme]) -> int:
    """The former reading: every word tested against every stem."""
    return sum(
        1
        for lx in lexemes
        if lx.kind == Lx.WORD and lx.text not in FILLERS and not lx.text.startswith(STEMS)
    )


WORD_PIECES = st.sampled_from(
    [*STEMS[::7], "xyz", "chốt", "lệnh", "anh", "dời", "平仓", "请", "tp", "s", "é", "", "ok"]
)
WORDS = st.lists(WORD_PIECES, min_size=1, max_size=3).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(WORDS, max_size=12))
def test_leftovers_by_first_character_counts_what_every_stem_counted(words: list[str]) -> None:
    lexemes = [Lexeme(Lx.WORD, w) for w in words] + [Lexeme(Lx.NUM, "1", value=Decimal(1))]
    assert leftovers(lexemes) == _leftovers_reference(lexemes)


def test_leftovers_examples() -> None:
    words = ["dời", "sl", "về", "entry", "nha", "bạn", "hiền"]  # "bạn hiền": not explained
    lexemes = [Lexeme(Lx.WORD, w) for w in words]
    assert leftovers(lexemes) == _leftovers_reference(lexemes) == 2


# --- any_half behind the gate of its words --------------------------------------------


def _any_half_reference(low: str) -> bool:
    x = more_expressions()
    return any(
        x.named(name).search(low) is not None for name in ("half_verb", "half_first", "half_zh")
    )


HALF_TEXTS = [
    "chốt một nửa lệnh",
    "tutup setengah posisi",
    "平一半",
    "减半",
    "平 半仓",
    "fermez la moitié",
    "chốt 1/2 lệnh",
    "نصف پوزیشن را ببندید",
    "chốt bớt",  # a part, no half
    "close half",  # English: not this table
    "tutup semua",
    "hälfte schließen",
]


@pytest.mark.parametrize("low", HALF_TEXTS)
def test_any_half_answers_as_its_three_expressions(low: str) -> None:
    assert more_expressions().any_half(low) == _any_half_reference(low)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from([*HALF_TEXTS, " ", "xyz", "chốt", "nửa", "một", "1/2", "平", "半"]),
        max_size=6,
    ).map(" ".join)
)
def test_any_half_gate_never_changes_the_answer(low: str) -> None:
    assert more_expressions().any_half(low) == _any_half_reference(low)


# --- the end of a target list and a price past the stop: one comparison first ---------

PRICES = st.decimals(min_value=Decimal("0.5"), max_value=Decimal(200), places=2)


def _losing_side(value: Decimal, r: Reading) -> bool:
    """The former test, asked twice (the new price, then the list's first target)."""
    entries = r.entry or r.implicit_entry
    if not entries:
        return False
    if r.first_side == Cat.LONG:
        return value < min(entries)
    return value > max(entries)


@settings(max_examples=400, deadline=None)
@given(
    value=PRICES,
    first=PRICES,
    entry=st.lists(PRICES, max_size=3),
    implicit=st.lists(PRICES, max_size=2),
    long=st.booleans(),
)
def test_ends_targets_is_the_former_pair_of_tests(
    value: Decimal, first: Decimal, entry: list[Decimal], implicit: list[Decimal], long: bool
) -> None:
    r = Reading()
    r.entry, r.implicit_entry = entry, implicit
    r.first_side = Cat.LONG if long else Cat.SHORT
    expected = _losing_side(value, r) and not _losing_side(first, r)
    assert ends_targets(value, first, r) is expected


def _beyond_stop_reference(values: list[Decimal], signal: Signal) -> bool:
    sl = signal.stop_loss
    if sl is None or not values:
        return False
    levels = [sl, *signal.take_profits]
    if signal.entry is not None:
        levels += (signal.entry.low, signal.entry.high)
    span = (max(levels) - min(levels)) * 2
    if signal.side is Side.LONG:
        return any(sl - span <= v < sl for v in values)
    return any(sl < v <= sl + span for v in values)


@settings(max_examples=400, deadline=None)
@given(
    values=st.lists(PRICES, max_size=4),
    sl=st.one_of(st.none(), PRICES),
    tps=st.lists(PRICES, max_size=3),
    entry=st.one_of(st.none(), PRICES),
    long=st.booleans(),
)
def test_beyond_stop_is_the_former_test(
    values: list[Decimal], sl: Decimal | None, tps: list[Decimal], entry: Decimal | None, long: bool
) -> None:
    from signalbridge.domain.signals import EntryZone, OrderType

    signal = Signal(
        "BTC/USDT",
        Side.LONG if long else Side.SHORT,
        OrderType.LIMIT if entry is not None else OrderType.MARKET,
        EntryZone(entry, entry) if entry is not None else None,
        sl,
        tuple(tps),
        None,
    )
    assert beyond_stop(values, signal) is _beyond_stop_reference(values, signal)


# --- literal_first with one alternative: its tail compiled once ------------------------

VERBS = ("move", "moving", "moved", "set", "shift", "put", "переносим", "mover")
TAIL = r"\s+(?:the\s+)?(sl|stop)\s+(?:to\s+)?(\d+(?:\.\d+)?)"


def _spelled_out(words: tuple[str, ...], rest: str) -> str:
    """The former spelling: ``rest`` after the words of each first character."""
    groups: dict[str, list[str]] = {}
    for w in words:
        groups.setdefault(w[0], []).append(w[1:])
    return "|".join(first + either(tails) + rest for first, tails in groups.items())


def _groups_text(m: re.Match[str] | None) -> tuple[object, ...]:
    return (None,) if m is None else (m.span(), tuple(g for g in m.groups() if g))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from([*VERBS, "the", "sl", "stop", "to", "1.25", "42", " ", "  ", "x", "\n"]),
        max_size=12,
    ).map(" ".join)
)
def test_single_alternative_literal_first_matches_its_spelled_out_form(text: str) -> None:
    factored = re.compile(literal_first((VERBS, TAIL)))
    spelled = re.compile(_spelled_out(VERBS, TAIL))
    assert [_groups_text(m) for m in factored.finditer(text)] == [
        _groups_text(m) for m in spelled.finditer(text)
    ]


def test_single_alternative_literal_first_spells_its_tail_once() -> None:
    pattern = literal_first((VERBS, TAIL))
    assert pattern.count(TAIL) == 1  # the tail once, not once per first character
    found = re.search(pattern, "please move the sl to 1.25")
    assert found is not None and found.groups()[-2:] == ("sl", "1.25")


# --- the C gate scanner: a two-character filter, a binary search beyond ASCII ---------

# 150 two-character needles beyond ASCII (the binary search), and ASCII needles of one
# character or with a second character beyond ASCII (the two-character filter's bypass)
CJK_NEEDLES = tuple(chr(c) + chr(c + 1) for c in range(0x4E00, 0x4E00 + 300, 2))
WIDE_NEEDLES = (*CJK_NEEDLES, "đóng", "чё", "a", "é", "xé", "aé", "tp", "t", "🔥x", "ß")
NEEDLE_ALPHABET = "".join(sorted({ch for n in WIDE_NEEDLES for ch in n})) + "bcxyz 1"


@settings(max_examples=400, deadline=None)
@given(
    needles=st.lists(st.sampled_from(WIDE_NEEDLES), min_size=1, max_size=40).map(tuple),
    text=st.text(alphabet=NEEDLE_ALPHABET, max_size=30),
)
def test_contains_any_with_many_needles_is_any_substring(
    needles: tuple[str, ...], text: str
) -> None:
    # the C scanner when built (the parser's conftest selects the build), else any_of
    assert contains_any(needles)(text) is any(n in text for n in needles)


def test_contains_any_examples_at_the_edges() -> None:
    gate = contains_any(WIDE_NEEDLES)
    assert gate("xx" + chr(0x4E00 + 298) + chr(0x4E00 + 299))  # the last wide needle
    assert not gate(chr(0x4E01))  # a second character alone
    assert gate("zzt")  # a one-character needle at the very end
    assert contains_any(("ab", "cd"))("xxab") and not contains_any(("ab",))("xxa")
    assert contains_any(("aé",))("baé") and not contains_any(("aé",))("bae")


# --- a target reported hit beside an instruction: two actions, never run alone ---------
# (the platform acts on a TP hit too: services.updates closes the target's share, so
# "TP1 hit, move SL to entry" read as the move alone would skip that close)


def _update(text: str) -> tuple[SignalUpdate, float]:
    result = parse(text)
    assert isinstance(result.parsed, SignalUpdate), result
    return result.parsed, result.confidence


@pytest.mark.parametrize(
    "text",
    [
        "TP1 hit, move SL to entry",
        "1 тейк, стоп в б/у",
        "TP1 hit. Close half at TP2",
        "TP1 hit, close 50% and move SL to entry",
    ],
)
def test_a_hit_beside_an_instruction_waits_for_review(text: str) -> None:
    _, confidence = _update(text)
    assert confidence < 0.9


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("TP2 hit ✅", UpdateAction.TP_HIT),
        ("Move SL to entry", UpdateAction.MOVE_SL_TO_ENTRY),
        ("Close half", UpdateAction.CLOSE_PARTIAL),
    ],
)
def test_one_unambiguous_action_runs_alone(text: str, action: UpdateAction) -> None:
    update, confidence = _update(text)
    assert update.action is action
    assert confidence >= 0.9


# --- Russian words for a rise and a fall: weak sides, like "bullish" --------------------


@pytest.mark.parametrize(
    ("word", "side"),
    [("СНИЖЕНИЯ", Side.SHORT), ("падения", Side.SHORT), ("РОСТА", Side.LONG)],
)
def test_a_target_of_decline_or_growth_names_the_side(word: str, side: Side) -> None:
    entry, t1, t2 = ("2000", "1950", "1900") if side is Side.SHORT else ("2000", "2050", "2100")
    text = f"🔴 НОВАЯ ЦЕЛЬ {word}\n\nТикер: ETHUSDT\n\nВход: {entry}\nТейки: {t1}, {t2}"
    result = parse(text)
    assert isinstance(result.parsed, Signal)
    assert result.parsed.side is side
    assert result.parsed.take_profits == (Decimal(t1), Decimal(t2))
    assert result.confidence < 0.9  # a weak word and no stop: a human checks


def test_a_decline_remark_without_levels_is_no_call() -> None:
    assert not isinstance(parse("Жду снижения по ETHUSDT").parsed, Signal)
