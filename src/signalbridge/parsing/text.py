"""Text normalisation and tokenising: one cheap pass that every rule shares.

Channels write the same thing in many glyphs (math-italic letters, Persian digits,
circled numbers, keycap emoji, typographic dashes). Folding them here once lets every
later rule match plain lower-case ASCII-ish text and keeps the per-message cost low.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from functools import cache, partial
from types import ModuleType
from typing import Final

# Telegram's longest message is 4,096 characters (captions 1,024); anything far beyond
# that is not a hand-written signal, so the rules only read this much of a message.
MAX_CHARS: Final = 8_000

_DIGIT_MAP: Final[dict[int, str]] = {}
# Arabic-Indic, Persian, Devanagari, Thai, full-width
for _base in (0x0660, 0x06F0, 0x0966, 0x0E50, 0xFF10):
    for _i in range(10):
        _DIGIT_MAP[_base + _i] = str(_i)
for _i, _cp in enumerate(range(0x278A, 0x2794)):  # ➊..➓ (dingbat negative circled digits)
    _DIGIT_MAP[_cp] = f" {_i + 1} "
for _i, _cp in enumerate(range(0x2776, 0x2780)):  # ❶..❿
    _DIGIT_MAP[_cp] = f" {_i + 1} "
for _i, _cp in enumerate(range(0x2780, 0x278A)):  # ➀..➉
    _DIGIT_MAP[_cp] = f" {_i + 1} "

CHAR_MAP: Final[dict[int, str | None]] = {
    **_DIGIT_MAP,
    0x2013: "-",  # en dash
    0x2014: "-",  # em dash
    0x2012: "-",
    0x2015: "-",
    0x2212: "-",  # minus sign
    0x066B: ".",  # Arabic decimal separator
    0x066C: ",",  # Arabic thousands separator
    0x066A: "%",  # Arabic percent sign
    0x3001: ", ",  # ideographic comma in a list of targets
    0x060C: ",",  # Arabic comma
    0x00A0: " ",
    0x202F: " ",
    0x2009: " ",
    0x00BD: "",  # ½ (a half pip) carries no price digit
    0x00D7: "x",  # multiplication sign in "10×"
    0xFE0F: None,  # emoji variation selector
    0xFE0E: None,
    0x20E3: None,  # keycap
    0x200B: None,
    0x200C: None,
    0x200D: None,
    0x2060: None,
    0xFEFF: None,  # zero-width no-break space
    0x00AD: None,
    0x2019: "'",
    0x2018: "'",
    0x0130: "I",  # Turkish "İ": "GİRİŞ" lowers to "giriş", not to an i and a combining dot
}


# CHAR_MAP as text: the replacement of each mapped character ("" for a deleted one)
_REPLACEMENT: Final[dict[str, str]] = {chr(cp): to or "" for cp, to in CHAR_MAP.items()}


@cache
def _mapped() -> re.Pattern[str]:
    """Any character :data:`CHAR_MAP` changes (built on first use, not at import)."""
    return re.compile("[" + "".join(re.escape(chr(cp)) for cp in sorted(CHAR_MAP)) + "]")


def normalise(text: str) -> str:
    """Fold a raw message to a canonical form (case is kept; callers lower tokens)."""
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS]
    if text.isascii():
        return text
    # str.translate looks every character up in a dict; most emoji-laden messages need
    # nothing but their variation selectors dropped, which replace() does in C
    text = text.replace("\ufe0f", "")
    found = _mapped().findall(text) if _ANY_MAPPED(text) else None  # most hold none
    if found:
        # the same as text.translate(CHAR_MAP): each distinct character replaced once,
        # in C (no replacement holds a mapped character, so the order does not matter)
        for char in set(found):
            text = text.replace(char, _REPLACEMENT[char])
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return text


# A token is a number (with decimal or grouping separators), a run of letters and
# digits, a newline, or any other single non-space character (punctuation, emoji).
# Every alternative is a simple run: no nested quantifiers, so no backtracking blow-up.
# The ".405" alternative tests its look-behind only after it has matched the dot: the
# same condition, but it is no longer evaluated at every position of the text.
# Only punctuation the rules use is kept; other symbols (most emoji) are dropped here.
_PUNCT_LISTED: Final = ":;()[]{}.,=@#$%&*+-/\\|<>~!?'\"•·°➝→➡⬇⬆—–^🔻✖❌🚫🔹💰✅🎯🛑⛔"
_ARROWS: Final = range(0x2190, 0x2200)
PUNCT: Final = _PUNCT_LISTED + "".join(map(chr, _ARROWS))
PUNCT_CLASS: Final = "[" + re.escape(_PUNCT_LISTED) + "\u2190-\u21ff]"
# No token starts with a space: the leading look-ahead lets the scan skip spaces without
# trying every alternative there; "\n" is tested first (no other alternative matches it).
# The runs are possessive (``++``) and the optional digits an empty branch: giving back
# a digit or a letter could never let these alternatives match (a shorter run is followed
# by a digit or a letter), so the tokens are the same, without the engine's backtracking
# over every shorter run and without its repeat bookkeeping for ``(...)?``.
TOKEN_RE: Final = re.compile(
    r"(?=[^ ])(?:\n|\d++[.,]\d++(?:[.,]\d++)*+|\.(?<![\w.]\.)\d+|[^\W\d_]++(?:\d++(?![\d.,])|)"
    r"|[^\W_]+|_+|" + PUNCT_CLASS + ")"
)


_STR_LOWER: Final = str.lower  # the interpreter's own, called as a function


def lower(text: str) -> str:
    """``text.lower()`` exactly as the interpreter computes it, compiled or not.

    mypyc's own ``str.lower`` (Python 3.11, 3.12) lowers a final capital sigma to "σ"
    where ``str.lower`` gives "ς"; only a text holding "Σ" is handed to ``str.lower``.
    """
    return text.lower() if "Σ" not in text else _STR_LOWER(text)


def python_tokens_lowered(text: str) -> tuple[list[str], list[str]]:
    """The tokens, and each one lower-cased."""
    toks: list[str] = TOKEN_RE.findall(text)
    if not toks:
        return toks, []
    # all tokens lowered in one C-level pass: no token holds a NUL, which is neither cased
    # nor case-ignorable, so each token lowers exactly as it would alone (final sigma)
    return toks, lower("\x00".join(toks)).split("\x00")


Tokeniser = Callable[[str], list[str]]
LoweringTokeniser = Callable[[str], tuple[list[str], list[str]]]


def _native() -> ModuleType | None:
    """The C scanners (``_tokens.c``, built by ``make compile``), set up with
    :data:`PUNCT`; ``None`` when they are not built or must not be used."""
    try:
        from signalbridge.parsing import _tokens
    except ImportError:
        return None
    _tokens.configure(PUNCT)
    return _tokens


_NATIVE: Final = _native()
# The tokeniser (normalised text to tokens, case kept: the lexer splits glued words by
# case): the C one when built, else the expression (the same tokens, slower).
tokens: Final[Tokeniser] = _NATIVE.tokens if _NATIVE else TOKEN_RE.findall
tokens_lowered: Final[LoweringTokeniser] = (
    _NATIVE.tokens_lowered if _NATIVE else python_tokens_lowered
)
SPLIT_RE: Final = re.compile(r"\d+|[^\W\d]+")
CAMEL_RE: Final = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z]{2})")


def contains_any(needles: tuple[str, ...]) -> Callable[[str], bool]:
    """A test whether a text holds any of ``needles``: ``any(n in text for n in needles)``.

    One scan in C (``_tokens.contains_any``) when built, else one :func:`any_of`
    expression; the update and noise rules put these gates in front of costly
    expressions.
    """
    if _NATIVE is not None:
        return partial(_NATIVE.contains_any, _NATIVE.needles(tuple(needles)))
    search = any_of(needles).search
    return lambda text: search(text) is not None


def literal_first(*alternatives: tuple[Iterable[str], str] | str) -> str:
    """``(?:w1|w2|...)rest1|v1rest2|...`` spelled so that every alternative starts with a
    literal: ``m(?:ove|oved)rest1|s(?:et)rest1|v1rest2|...``.

    Each alternative is ``(words, rest)`` (any of the words, then ``rest``) or a plain
    expression that starts with a literal character. sre skips ahead in C to a position
    where a match can start only when every top-level alternative begins with a literal;
    behind a group or an assertion it tries every position. The matches are the same: the
    alternatives keep their order, the words theirs within each first character, and at
    any position only the words that start with its character can match. The groups'
    text is the same too, but a ``rest`` appears once per first character, so read the
    first group that took part, never a group by its number.
    """
    if len(alternatives) == 1 and not isinstance(alternatives[0], str) and alternatives[0][1]:
        # one alternative: ``(?:m(?:ove|oved)|set)rest``, the same matches and groups with
        # ``rest`` compiled once instead of once per first character (the expression is a
        # branch of literals, so sre still skips to a first character)
        words, rest = alternatives[0]
        return "(?:" + literal_first((words, "")) + ")" + rest
    branches: list[str] = []
    for alternative in alternatives:
        words, rest = ((alternative,), "") if isinstance(alternative, str) else alternative
        tails: dict[str, list[str]] = {}
        for word in words:
            if not word or word[0] in "\\()[].^$|" or word[1:2] in ("?", "*", "+", "{"):
                raise ValueError(f"not a word with a literal first character: {word!r}")
            tails.setdefault(word[0], []).append(word[1:])
        branches.extend(
            first + (group[0] if len(group) == 1 else either(group)) + rest
            for first, group in tails.items()
        )
    return "|".join(branches)


def either(words: Iterable[str]) -> str:
    """``(?:w1|w2|...)``."""
    return "(?:" + "|".join(words) + ")"


def word_start(word: str) -> str:
    """``\\bword`` for a word that starts with a letter, with the boundary tested after
    that letter (the same test), so that the expression starts with a literal."""
    return rf"{word[0]}(?<!\w{word[0]}){word[1:]}"


def any_of(needles: tuple[str, ...]) -> re.Pattern[str]:
    """An expression that finds any of ``needles`` as a substring.

    ``any_of(needles).search(s) is not None`` is ``any(n in s for n in needles)``, but one
    scan in C instead of a method call and a search per needle. The needles are laid out
    as a prefix tree (``c(?:los|err|ierr)``): every alternative starts with a literal, so
    the scan skips to a possible first character in C and tries one branch there.
    """
    # a needle that contains another one adds nothing to "any of them occurs"
    kept = sorted({n for n in needles if not any(m != n and m in n for m in needles)})
    return re.compile(_prefix_tree(kept))


def _prefix_tree(words: list[str]) -> str:
    """Alternation of ``words`` (none a prefix of another) grouped by first character."""
    by_first: dict[str, list[str]] = {}
    for word in words:
        by_first.setdefault(word[0], []).append(word[1:])
    branches = []
    for first, rests in by_first.items():
        if rests == [""]:
            branches.append(re.escape(first))
        elif len(rests) == 1:
            branches.append(re.escape(first) + re.escape(rests[0]))
        else:
            branches.append(re.escape(first) + "(?:" + _prefix_tree(rests) + ")")
    return "|".join(branches)


# A scan for any character CHAR_MAP changes (the variation selector is gone by then):
# cheaper than the expression's findall, which only the texts that hold one then run.
_ANY_MAPPED: Final = contains_any(tuple(_REPLACEMENT))
