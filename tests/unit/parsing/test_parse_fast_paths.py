"""The speed shortcuts read exactly what the general code reads.

Each shortcut (the tokeniser's space skip, the lexer's str-method price test, the field
reader's guard in front of ``resolve_bare``) must never change a reading; these tests
compare each one with the general form it stands in for.
"""

import re
from decimal import Decimal

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from signalbridge.parsing.lexer import Lx, lex
from signalbridge.parsing.lexicon import default_lexicon
from signalbridge.parsing.numbers import parse_number
from signalbridge.parsing.symbols import KNOWN_COINS, RU_COINS, resolve_bare
from signalbridge.parsing.text import _PUNCT, TOKEN_RE

# The tokeniser before the space-skipping look-ahead: the reference it must agree with.
REFERENCE_TOKEN_RE = re.compile(
    r"\d+(?:[.,]\d+)+|\.(?<![\w.]\.)\d+|[^\W\d_]+(?:\d+(?![\d.,]))?|[^\W_]+|\n|_+|" + _PUNCT
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
