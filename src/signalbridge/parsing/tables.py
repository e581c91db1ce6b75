"""Tables: a header row of labels (PAIR | SIDE | ENTRY | SL | TP) with the values below.

The rules read a label before its value; a table puts the label above it. A table is
rewritten to "label value" lines, which the rules then read as any other post. The
header words are data (:data:`HEADER_WORDS`); a new language is a new entry.
"""

from __future__ import annotations

import re
from typing import Final

from signalbridge.parsing.text import contains_any, lower

# Header word -> the label written before its value ("" for a column whose value
# speaks for itself: the pair, the side); a column the rules do not need is dropped.
HEADER_WORDS: Final[dict[str, str]] = {
    **dict.fromkeys(("pair", "symbol", "instrument", "ticker", "asset", "coin", "market"), ""),
    **dict.fromkeys(("side", "direction", "type", "action", "order", "signal", "position"), ""),
    **dict.fromkeys(("entry", "entry price", "entry zone", "price", "open", "open price"), "Entry"),
    **dict.fromkeys(("sl", "s/l", "stop", "stop loss", "stoploss", "stop-loss"), "SL"),
    **dict.fromkeys(("tp", "target", "take profit", "takeprofit", "take-profit", "targets"), "TP"),
    **dict.fromkeys(("tps", "take profits"), "TP"),
    **dict.fromkeys(("leverage", "lev"), "Leverage"),
    **dict.fromkeys(("time", "date", "timeframe", "tf", "status", "rr", "r:r", "risk"), "-"),
    # other languages
    **dict.fromkeys(("пара", "инструмент", "тикер", "монета", "par", "sembol", "parite"), ""),
    **dict.fromkeys(("направление", "тип", "dirección", "direção", "yön", "tipo"), ""),
    **dict.fromkeys(("вход", "entrada", "giriş", "цена", "precio", "preço"), "Entry"),
    **dict.fromkeys(("стоп", "стоп-лосс", "stop perdida", "zarar durdur"), "SL"),
    **dict.fromkeys(("тейк", "цель", "objetivo", "alvo", "hedef"), "TP"),
    **dict.fromkeys(("плечо", "apalancamiento", "alavancagem", "kaldıraç"), "Leverage"),
    **dict.fromkeys(
        ("交易对", "品种", "方向", "入场", "入场价", "止损", "止盈", "目标", "杠杆"), "?"
    ),
}
# Chinese header words map to the label itself (the lexicon reads them)
_SELF: Final = "?"
_PRICE_LABELS: Final = frozenset({"Entry", "SL", "TP", _SELF})
_INDEXED: Final = re.compile(r"(tp|target|тейк|цель|止盈|目标)\s?(\d{1,2})")
_SEPARATOR_ROW: Final = re.compile(r"[\s|:\-–—=+_.]+")
_WIDE_GAP: Final = re.compile(r" {2,}|\t+")
# A table's header names the pair or the side column: one of these is in every header
# laid out with spaces (a table with bars has at least four: two rows of three cells)
_HINTS: Final = (
    *("pair", "Pair", "PAIR", "symbol", "Symbol", "SYMBOL", "instrument", "Instrument"),
    *("INSTRUMENT", "ticker", "Ticker", "TICKER", "side", "Side", "SIDE", "direction"),
    *("Direction", "DIRECTION", "交易对", "方向"),
)
_ANY_HINT: Final = contains_any(_HINTS)


def may_hold_table(text: str) -> bool:
    """A cheap test before :func:`rewrite_table` (a message of one line holds none)."""
    if "\n" not in text:
        return False
    if text.count("|") >= 4:
        return True
    return ("  " in text or "\t" in text) and _ANY_HINT(text)


def _cells(line: str, piped: bool) -> list[str]:
    if piped:
        cells = [c.strip() for c in line.split("|")]
        if cells and not cells[0]:
            cells = cells[1:]
        if cells and not cells[-1]:
            cells = cells[:-1]
        return cells
    return [c.strip() for c in _WIDE_GAP.split(line.strip())]


def _header(line: str) -> list[str] | None:
    """The label of each column of a header row, or ``None`` for any other line."""
    piped = "|" in line
    # most lines fail on their first cell: test it before splitting the whole line
    first = line.lstrip(" |").partition("|")[0] if piped else _WIDE_GAP.split(line.strip(), 1)[0]
    word = lower(first.strip(" *:_#"))
    if word not in HEADER_WORDS and _INDEXED.fullmatch(word) is None:
        return None
    cells = _cells(line, piped)
    if len(cells) < 3:
        return None
    labels: list[str] = []
    for cell in cells:
        word = lower(cell.strip(" *:_#"))
        label = HEADER_WORDS.get(word)
        if label is None:
            m = _INDEXED.fullmatch(word)
            if m is None:
                return None
            label = cell.strip(" *:_#") if HEADER_WORDS.get(m.group(1)) == _SELF else "TP"
        elif label == _SELF:
            label = cell.strip(" *:_#")
        labels.append(label)
    if not any(label in _PRICE_LABELS or label not in HEADER_WORDS.values() for label in labels):
        return None
    return labels


def rewrite_table(text: str) -> str | None:
    """The text with its first table rewritten as label-value lines; ``None`` without one."""
    lines = text.split("\n")
    for i, line in enumerate(lines[:-1]):
        labels = _header(line)
        if labels is None:
            continue
        piped = "|" in line
        out: list[str] = []
        j = i + 1
        while j < len(lines):
            row = lines[j]
            if not row.strip() or _SEPARATOR_ROW.fullmatch(row) is not None:
                if out:
                    break
                j += 1
                continue
            cells = _cells(row, "|" in row) if piped else row.split()
            if len(cells) != len(labels):
                break
            for label, value in zip(labels, cells, strict=True):
                if label == "-" or not value:
                    continue
                out.append(f"{label} {value}" if label else value)
            out.append("")
            j += 1
        if not out:
            continue
        return "\n".join([*lines[:i], *out, *lines[j:]])
    return None
