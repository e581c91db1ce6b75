"""Thai words as the tokeniser can keep them whole: their combining marks folded away.

Thai writes vowel signs and tone marks as combining marks (Unicode category Mn). The
tokeniser reads a word as a run of letters, so "ตัดขาดทุน" (stop loss) would come out as
the pieces between its marks. Folding the marks away ("ตดขาดทน") gives one run of
letters: the lexicon and update tables store their Thai words folded, and the segmenter
(:mod:`signalbridge.parsing.cjk`) folds a Thai run before it splits it on those words.
Two words that differ only by their marks fold alike; among the trading words of the
tables none do.
"""

from __future__ import annotations

from typing import Final

# Every combining mark of the Thai block (U+0E31, U+0E34-U+0E3A, U+0E47-U+0E4E) goes;
# SARA AM "ำ" is read as the SARA AA "า" it leaves once NFKC (text.normalise) has split
# it into NIKHAHIT and SARA AA, so a table word and a normalised message fold alike
_MARKS: Final[dict[int, str | None]] = {
    0x0E33: "\u0e32",
    **{cp: None for cp in (0x0E31, *range(0x0E34, 0x0E3B), *range(0x0E47, 0x0E4F))},
}


def fold(text: str) -> str:
    """``text`` without Thai combining marks (any other character is kept)."""
    return text.translate(_MARKS)


def folded(words: tuple[str, ...]) -> tuple[str, ...]:
    """Each of ``words`` folded (a table written with its marks, stored without)."""
    return tuple(fold(w) for w in words)
