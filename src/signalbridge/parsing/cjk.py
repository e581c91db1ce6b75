"""Chinese, Japanese and Thai: text without spaces between words, split on the lexicon's words.

The rules read tokens; "BTC做多入场65000止损63000" has none to read. A run of Han, kana
or Thai characters is split, longest word first, on the words the rules know (the
lexicon's entries in those scripts, the symbol names, the update words), and set apart
from the Latin letters and digits around it. Characters no table knows stay together as
one word (which the rules then count as unread). A Thai run is folded first (its
combining marks dropped, :mod:`signalbridge.parsing.thai`), as the tables store its
words. The vocabulary is data: a new word in
:data:`signalbridge.parsing.lexicon.LANGUAGES` is split on without new code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from typing import Final

from signalbridge.parsing.lexicon import Lexicon
from signalbridge.parsing.symbols import FIXED, RU_COINS
from signalbridge.parsing.thai import fold
from signalbridge.parsing.update_languages import (
    CJK_UPDATE_WORDS,
)

# Han, kana, and the Thai letters and marks (not its digits, folded to 0-9 already, nor
# the baht sign U+0E3F)
_RUN_CLASS: Final = (
    "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e01-\u0e3a\u0e40-\u0e4e]+"
)
_THAI_FIRST: Final = "\u0e01"
_THAI_LAST: Final = "\u0e4e"


@cache
def _run() -> re.Pattern[str]:
    """A run of Han, kana or Thai letters (compiled on first use: a class of wide ranges costs
    milliseconds to compile, and only messages in those scripts need it)."""
    return re.compile(_RUN_CLASS)


def any_cjk(text: str) -> bool:
    """Whether ``text`` holds a Han, kana or Thai letter (a script written unspaced)."""
    return _run().search(text) is not None


_VOCAB_KEY: Final = "\x00cjk"  # no token holds a NUL: the key never clashes with a word
# Negations, so that "不要做多" (and Thai "ไม่ซื้อ") reads as "do not" + "go long" (the
# lexer's negation rule)
NEGATIONS: Final = ("不要", "不", "别", "勿", "不可", fold("ไม่"), fold("ไม่ควร"), fold("อย่า"))


class Vocabulary:
    """The words a run is split on, and the longest one's length."""

    __slots__ = ("longest", "words")

    def __init__(self, words: Iterable[str]) -> None:
        self.words = frozenset(w for w in words if w and any_cjk(w))
        self.longest = max((len(w) for w in self.words), default=1)


def vocabulary(lexicon: Lexicon) -> Vocabulary:
    """The split words for a lexicon (kept in its cache: built once per lexicon)."""
    found = lexicon.cache.get(_VOCAB_KEY)
    if isinstance(found, Vocabulary):
        return found
    words = [*lexicon.words, *FIXED, *RU_COINS, *CJK_UPDATE_WORDS, *NEGATIONS]
    for first, entries in lexicon.phrases.items():
        words.extend(first + "".join(rest) for rest, _ in entries)
    vocab = Vocabulary(words)
    lexicon.cache[_VOCAB_KEY] = vocab
    return vocab


def segment(text: str, lexicon: Lexicon) -> str:
    """``text`` with every Han/kana/Thai run split into known words (``any_cjk`` first)."""
    vocab = vocabulary(lexicon)

    end = len(text)

    def split(m: re.Match[str]) -> str:
        run = m.group()
        if _THAI_FIRST <= run[0] <= _THAI_LAST:
            run = fold(run)  # the tables hold Thai words without their marks
        # set apart from what touches the run, with no space where one is already (the
        # update rules count a message's spaces as its words)
        start, stop = m.start(), m.end()
        before = "" if start == 0 or text[start - 1].isspace() else " "
        after = "" if stop == end or text[stop].isspace() else " "
        return before + " ".join(_split_run(run, vocab)) + after

    return _run().sub(split, text)


def _split_run(run: str, vocab: Vocabulary) -> list[str]:
    out: list[str] = []
    unknown_from = -1  # where the current run of unknown characters began
    i = 0
    n = len(run)
    words = vocab.words
    while i < n:
        for width in range(min(vocab.longest, n - i), 0, -1):
            if run[i : i + width] in words:
                if unknown_from >= 0:
                    out.append(run[unknown_from:i])
                    unknown_from = -1
                out.append(run[i : i + width])
                i += width
                break
        else:
            if unknown_from < 0:
                unknown_from = i
            i += 1
    if unknown_from >= 0:
        out.append(run[unknown_from:])
    return out
