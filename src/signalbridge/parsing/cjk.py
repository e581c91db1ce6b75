"""Chinese and Japanese: text without spaces between words, split on the lexicon's words.

The rules read tokens; "BTC做多入场65000止损63000" has none to read. A run of Han or
kana characters is split, longest word first, on the words the rules know (the
lexicon's CJK entries, the symbol names, the update words), and set apart from the
Latin letters and digits around it. Characters no table knows stay together as one
word (which the rules then count as unread). The vocabulary is data: a new word in
:data:`signalbridge.parsing.lexicon.LANGUAGES` is split on without new code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from typing import Final

from signalbridge.parsing.lexicon import Lexicon
from signalbridge.parsing.symbols import FIXED, RU_COINS
from signalbridge.parsing.update_languages import (
    CJK_UPDATE_WORDS,
)

_RUN_CLASS: Final = "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+"


@cache
def _run() -> re.Pattern[str]:
    """A run of Han or kana letters (compiled on first use: a class of wide ranges costs
    milliseconds to compile, and only messages in those scripts need it)."""
    return re.compile(_RUN_CLASS)


def any_cjk(text: str) -> bool:
    """Whether ``text`` holds a Han or kana letter."""
    return _run().search(text) is not None


_VOCAB_KEY: Final = "\x00cjk"  # no token holds a NUL: the key never clashes with a word
# Negations, so that "不要做多" reads as "do not" + "go long" (the lexer's negation rule)
NEGATIONS: Final = ("不要", "不", "别", "勿", "不可")


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
    """``text`` with every Han/kana run split into known words (``any_cjk`` first)."""
    vocab = vocabulary(lexicon)

    def split(m: re.Match[str]) -> str:
        return " " + " ".join(_split_run(m.group(), vocab)) + " "

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
