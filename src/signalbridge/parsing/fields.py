"""Assign prices to fields: which number is the entry, the stop, a target, the leverage.

A keyword opens a field and the prices that follow belong to it, until the next keyword,
a line that starts with words, or a word that ends a field ("risk", "lot"). That is how
a careful reader treats both multi-line posts and flattened one-line ones.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from signalbridge.domain.signals import MAX_TAKE_PROFITS
from signalbridge.parsing.lexer import FAST, NEWLINE, Lexeme, Lx
from signalbridge.parsing.lexicon import Cat
from signalbridge.parsing.numbers import is_small_int
from signalbridge.parsing.symbols import (
    INDEX_NUMBERS,
    KNOWN_COINS,
    RU_COINS,
    STRONG,
    TAGGED,
    WEAK,
    resolve_bare,
)

_AT: Final = int(Cat.AT)
_ENTRY: Final = int(Cat.ENTRY)
_JOIN: Final = int(Cat.JOIN)
_LEV: Final = int(Cat.LEV)
_LONG: Final = int(Cat.LONG)
_MARKET: Final = int(Cat.MARKET)
_METRIC: Final = int(Cat.METRIC)
_OPEN: Final = int(Cat.OPEN)
_PENDING: Final = int(Cat.PENDING)
_SHORT: Final = int(Cat.SHORT)
_SL: Final = int(Cat.SL)
_SPOT: Final = int(Cat.SPOT)
_STOPWORD: Final = int(Cat.STOPWORD)
_TP: Final = int(Cat.TP)
_WLONG: Final = int(Cat.WLONG)
_WSHORT: Final = int(Cat.WSHORT)
_IDX: Final = int(Lx.IDX)
_LEVNUM: Final = int(Lx.LEVNUM)
_NL: Final = int(Lx.NL)
_NUM: Final = int(Lx.NUM)
_PUNCT: Final = int(Lx.PUNCT)
_SYM: Final = int(Lx.SYM)
_WORD: Final = int(Lx.WORD)

_SEPARATORS: Final = frozenset({":", ")", ".", "=", "➝", "→", ">", "-", "|", "➡", "—", "/", "]"})
_LABELS: Final = frozenset({_ENTRY, _SL, _TP, _LEV})
_MARKERS: Final = frozenset({"🔻", "✖", "❌", "🚫", "🔹", "💰", "✅", "🎯", "🛑", "⛔"})
_NO_MARK_AFTER: Final = frozenset({_ENTRY, _SL, _TP, _LONG, _SHORT, _MARKET, _AT, _IDX})
_INFO_MARKET: Final = frozenset({"market", "current"})
# Lower-case words the field reader acts on: "limit", "close"/"exit", and known coins
_WORDS_READ: Final = frozenset({"limit", "close", "exit", *KNOWN_COINS, *RU_COINS})
_CURRENCY: Final = frozenset({"$", "€", "£", "%"})
# the shared lexemes after which a keyword may end its price's clause ("1.08 stop, ...")
_COMMA: Final = FAST[","]
_SEMICOLON: Final = FAST[";"]
_BAR: Final = FAST["|"]
# a price right after one of these already has its field
_CLAIMS: Final = frozenset({_ENTRY, _SL, _TP, _LEV, _IDX, _AT, _MARKET})


class Reading:
    """What the rules read from one message, before it becomes a domain object.

    Slotted: the rules read and bump these fields once per lexeme, and slot access is
    the interpreter's cheapest attribute path.
    """

    __slots__ = (
        "entry",
        "entry_explicit",
        "extra_stops",
        "first_side",
        "implicit_entry",
        "labels",
        "leverage",
        "long_words",
        "market",
        "metric",
        "multi",
        "numbers",
        "pending",
        "satoshi",
        "short_words",
        "side_labels",
        "spot",
        "stop_loss",
        "stray",
        "stray_values",
        "symbols",
        "take_profits",
        "tp_dropped",
        "tp_open",
        "tp_overflow",
        "unread",
        "weak_long",
        "weak_short",
    )

    def __init__(self) -> None:
        self.long_words = self.short_words = self.weak_long = self.weak_short = 0
        # words of the other side than the first that label a field: "Buy: 27" in a
        # short, "Sell zone" in a long (:func:`one_side`)
        self.side_labels = 0
        self.first_side: int | None = None
        self.symbols: list[tuple[str, int]] = []
        self.entry: list[Decimal] = []
        self.implicit_entry: list[Decimal] = []
        self.entry_explicit = False
        self.stop_loss: Decimal | None = None
        self.extra_stops = 0
        self.take_profits: list[Decimal] = []
        self.tp_overflow = self.tp_open = False
        self.tp_dropped = False  # a value in the target list on the losing side of the entry
        self.leverage: int | None = None
        self.market = self.pending = self.spot = self.satoshi = False
        self.metric = 0  # market statistics named ("funding rate at 0.01%")
        self.stray = 0
        self.stray_values: list[Decimal] = []  # the prices no field took, in order
        self.multi = False
        self.labels = self.numbers = 0
        self.unread = False  # words in a script the tables read only in part (rules.py)


def read_fields(lexemes: list[Lexeme]) -> Reading:
    lexemes = hoist_postfix_labels(lexemes)
    r = Reading()
    cur: int | None = None  # the field prices go to; _AT = implicit entry
    field_nums = 0
    line_start = True
    blank_ok = False
    prev: Lexeme | None = None
    prev_sig: Lexeme | None = None  # previous lexeme that is not punctuation
    n = len(lexemes)
    numbers = 0  # a local counter, stored once at the end
    name_number = -1  # the index of the number that completes an index's name
    last_index = -3  # the position of the last list index ("Target 2")
    for idx, lx in enumerate(lexemes):
        kind = lx.kind
        if kind == _PUNCT:
            line_start = False
            prev = lx
            continue
        if kind == _NL:
            if cur is not None:  # each test below only ever closes an open field
                if line_start and not blank_ok and cur not in (_TP, _ENTRY):
                    cur = None
                elif cur == _AT and field_nums:
                    cur = None
                elif (cur == _SL and r.stop_loss is not None) or cur == _LEV:
                    cur = None
            blank_ok = field_nums == 0
            line_start = True
            prev = lx
            continue
        starting = line_start
        line_start = False
        if kind == _JOIN:  # a zone joiner only ends a line start; tested early (common)
            prev = lx
            continue
        if kind == _NUM:
            if idx == name_number:  # "FTSE 100": the index's name, not a price
                prev = lx
                continue
            numbers += 1
            value = lx.value
            assert value is not None
            if not value:  # prices are read unsigned: "not positive" is "zero"
                prev = lx
                continue
            text = lx.text
            if (
                len(text) <= 2
                and text.isdigit()
                # "Target 2: 9": a list index is never followed by another
                and not (last_index == idx - 2 and lexemes[idx - 1].kind == _PUNCT)
                # "Target: 15" ends its line: after a colon, the value, not an index
                and not (prev is not None and prev.text == ":" and _ends_line(lexemes, idx))
                and _is_index(
                    lx,
                    prev_sig if prev is not None and prev.kind == _PUNCT else prev,
                    lexemes[idx + 1] if idx + 1 < n else None,
                    starting,
                    cur,
                )
            ):
                prev = lx
                last_index = idx
                continue
            if cur == _TP:
                if (
                    field_nums
                    and r.take_profits
                    and r.first_side is not None
                    and ends_targets(value, r.take_profits[0], r)
                ):
                    # "Targets: 46000, 47000\n0.5% - 44500": the list has ended
                    r.tp_dropped = True
                    r.stray += 1
                    r.stray_values.append(value)
                    cur = None
                elif len(r.take_profits) < MAX_TAKE_PROFITS:
                    r.take_profits.append(value)
                    field_nums += 1
                else:
                    r.tp_overflow = True
                    field_nums += 1
            elif cur == _ENTRY:
                if len(r.entry) < MAX_TAKE_PROFITS:
                    r.entry.append(value)
                field_nums += 1
            elif cur == _AT:
                joined = prev is not None and prev.kind == _JOIN
                imp = r.implicit_entry
                adjacent = prev is not None and prev.kind == _NUM and len(imp) == 1
                if not imp or (joined and field_nums == len(imp)) or adjacent:
                    imp.append(value)
                    field_nums += 1
                else:
                    r.stray += 1
                    r.stray_values.append(value)
                    cur = None
            elif cur == _SL:
                if r.stop_loss is None:
                    r.stop_loss = value
                else:
                    r.extra_stops += 1
                field_nums += 1
                cur = None
            elif cur == _LEV:
                if r.leverage is None:
                    r.leverage = _lev(value)
                cur = None
            elif cur == _STOPWORD:
                cur = None  # "Market price: 2685.50" is information, not the entry
            elif value not in r.entry and value not in r.implicit_entry:
                r.stray += 1
                r.stray_values.append(value)
            prev = lx
            prev_sig = lx
            continue
        if kind == _WORD:
            if starting and ((cur in (_TP, _ENTRY) and field_nums) or cur == _SL):
                cur = None
            text = lx.text
            # any other lower-case word reads nothing below (one test for the common case)
            if lx.upper or text in _WORDS_READ:
                if text == "limit":
                    r.pending = True
                known = text in KNOWN_COINS or text in RU_COINS
                # resolve_bare reads nothing in a lower-case word that is not a known coin
                bare = resolve_bare(text, lx.upper) if lx.upper or known else None
                if text in ("close", "exit") and _num_follows(lexemes, idx, r):
                    cur = _TP
                    field_nums = 0
                elif bare is not None and _beside_side(lexemes, idx):
                    r.symbols.append((bare[0], TAGGED if known else WEAK))
                elif bare is not None and known:
                    r.symbols.append((bare[0], 0))
        elif kind == _SYM:
            r.symbols.append((lx.symbol, lx.strength))
            names = INDEX_NUMBERS.get(lx.symbol)
            if names is not None and idx + 1 < n and lexemes[idx + 1].text in names:
                name_number = idx + 1
            if starting and field_nums and cur != _AT:
                cur = None  # a line that starts with the pair ends the levels above it
            if cur is None and not r.implicit_entry and not r.entry_explicit:
                cur = _AT  # "USDCHF 0.9921 sell now": a price right after the pair
                field_nums = 0
        elif kind == _LEVNUM:
            if r.leverage is None and lx.value is not None:
                r.leverage = _lev(lx.value)
            if cur == _LEV:
                cur = None
        elif kind == _IDX:
            pass
        elif kind in _LABELS:
            r.labels += 1
            cat = kind
            if lx.text in _MARKERS and prev_sig is not None and prev_sig.kind in _NO_MARK_AFTER:
                pass  # "TP1: 🔻 4394": a decoration after a keyword, not a new field
            elif (
                cat == _SL
                and lx.text == "stop"
                and prev_sig is not None
                and prev_sig.kind in (_LONG, _SHORT)
            ):
                # "buy stop" / "sell stop": a pending order, not a stop loss
                r.pending = True
                cur = _AT if not r.implicit_entry else None
                field_nums = 0
            else:
                if cat == _ENTRY:
                    r.entry_explicit = True
                    if lx.text in ("buy", "sell"):  # "buy zone", "sell between"
                        if r.first_side is None:
                            r.first_side = _LONG if lx.text == "buy" else _SHORT
                        elif r.first_side != (_LONG if lx.text == "buy" else _SHORT):
                            r.side_labels += 1
                        if lx.text == "buy":
                            r.long_words += 1
                        else:
                            r.short_words += 1
                if cat == _SL and r.stop_loss is not None:
                    cat = _STOPWORD  # a later "stop" note; the first stop stands
                    cur = None
                else:
                    if cur != cat:
                        field_nums = 0
                    cur = cat
                blank_ok = True
        elif kind == _LONG or kind == _SHORT:
            if r.stop_loss is not None and r.take_profits and r.first_side is not None:
                if kind == r.first_side and not _call_follows(lexemes, idx):
                    # "BUY & HOLD ✅" under a complete buy: the same call's side, again
                    prev_sig = lx
                    prev = lx
                    continue
                r.multi = True  # a second call after a complete one: read only the first
                r.symbols.extend((x.symbol, x.strength) for x in lexemes[idx:] if x.kind == _SYM)
                break
            if _num_follows(lexemes, idx, r):
                # "BUY: 0.38 - 0.385  SELL: 0.387 - 0.39": after the entry, a side word
                # followed by prices lists the targets
                r.labels += 1
                cur = _TP
                field_nums = 0
            else:
                if kind == _LONG:
                    r.long_words += 1
                else:
                    r.short_words += 1
                if r.first_side is None:
                    r.first_side = kind
                elif kind != r.first_side and _labels_a_price(lexemes, idx):
                    r.side_labels += 1
                if starting and field_nums and cur != _AT:
                    cur = None  # "SL 1.08\nTP 1.10\nBUY EURUSD 1.09": the levels came first
                if cur is None and not r.implicit_entry:
                    cur = _AT
                    field_nums = 0
        elif kind == _WLONG:
            r.weak_long += 1
        elif kind == _WSHORT:
            r.weak_short += 1
        elif kind == _MARKET and lx.text in _INFO_MARKET and _colon_number(lexemes, idx):
            cur = _STOPWORD
        elif kind == _MARKET:
            r.market = True
            if cur is None and not r.implicit_entry:
                cur = _AT
                field_nums = 0
        elif kind == _PENDING:
            r.pending = True
        elif kind == _AT:
            if cur is None and not r.implicit_entry:
                cur = _AT
                field_nums = 0
        elif kind == _SPOT:
            r.spot = True
            if lx.text == "sat":
                r.satoshi = True
        elif kind == _OPEN:
            if cur == _TP:
                r.tp_open = True
        elif kind == _STOPWORD:
            cur = None
        elif kind == _METRIC:
            r.metric += 1
            cur = _STOPWORD  # "ratio at 0.0345": the statistic's value, not a price
        prev_sig = lx  # punctuation and joiners never get here (both leave early)
        prev = lx
    r.numbers = numbers
    return r


def _lev(value: Decimal) -> int | None:
    whole = int(value)
    return whole if 1 <= whole <= 500 else None


def _is_index(
    lx: Lexeme, prev: Lexeme | None, nxt: Lexeme | None, starting: bool, cur: int | None
) -> bool:
    """``TP 1 1291``, ``Target 2: 0.5``, ``1. 0.4315``: a list index, not a price."""
    if not is_small_int(lx.text):
        return False
    if nxt is None or nxt.kind == _NL:
        return prev is not None and prev.kind in (_TP, _ENTRY) and cur == _TP
    after_label = prev is not None and prev.kind in (_TP, _ENTRY, _SL)
    if nxt.kind in (_NUM, _OPEN):
        return after_label or starting
    if nxt.kind == _PUNCT and after_label and nxt.text not in _CURRENCY:
        return True  # "TP ¹• 4150", "TP² ⬇ 4386" (but "Target: 14$" is a price)
    if nxt.kind in (_PUNCT, _JOIN) and nxt.text in _SEPARATORS:
        return after_label or (starting and cur in (_TP, _ENTRY))
    return False


def hoist_postfix_labels(lexemes: list[Lexeme]) -> list[Lexeme]:
    """``1.0850 entry`` / ``4450 SL`` / ``1.0805 tp1``: move a keyword (and its target
    number) that follows its price before it."""
    out = lexemes
    # a candidate keyword sits just before a line break, a comma, a semicolon, a bar or
    # the very end ("SL:" then a line break is not one: the keyword is not last, the ":"
    # is); a plain loop with identity tests is cheaper here than finding the breaks with
    # map/compress
    k = -1  # the index before lx's
    for lx in lexemes:
        if (lx is NEWLINE or lx is _COMMA or lx is _SEMICOLON or lx is _BAR) and k >= 1:
            kind = lexemes[k].kind
            if kind in _LABELS:
                out = _hoist(lexemes, out, k, k)
            elif (kind == _IDX or kind == _NUM) and k >= 2 and lexemes[k - 1].kind in _LABELS:
                out = _hoist_indexed(lexemes, out, k)
        k += 1
    if k >= 1:  # k is the last index here
        kind = lexemes[k].kind
        if kind in _LABELS:
            out = _hoist(lexemes, out, k, k)
        elif (kind == _IDX or kind == _NUM) and k >= 2 and lexemes[k - 1].kind in _LABELS:
            out = _hoist_indexed(lexemes, out, k)
    return out


def _hoist_indexed(lexemes: list[Lexeme], out: list[Lexeme], k: int) -> list[Lexeme]:
    """ "1.0805 tp1", "1.0805 target 2": a target keyword and its number, after a price."""
    if lexemes[k].kind == _NUM and not is_small_int(lexemes[k].text):
        return out
    return _hoist(lexemes, out, k - 1, k)


def _hoist(lexemes: list[Lexeme], out: list[Lexeme], first: int, k: int) -> list[Lexeme]:
    """Move the keyword at ``first..k`` before the price (or zone) it follows, if it
    follows one that no keyword already claims ("SL 20.4 TP" keeps 20.4 for the stop).

    Reads the original order in ``lexemes``; writes to ``out``, copied on the first move
    (a move only reorders its own line, so moves on other lines never interfere).
    """
    j = first - 1
    while j >= 0 and lexemes[j].kind == _PUNCT:
        j -= 1
    links = 0  # "0.06 can be stop", "1.0880 is the target": a few linking words
    while j >= 0 and lexemes[j].kind == _WORD and lexemes[j].text in _LINKS and links < 3:
        links += 1
        j -= 1
        while j >= 0 and lexemes[j].kind == _PUNCT:  # "0.06$ can be stop"
            j -= 1
    if j < 0 or lexemes[j].kind != _NUM:
        return out
    start = j
    if start >= 2 and lexemes[start - 1].kind == _JOIN and lexemes[start - 2].kind == _NUM:
        start -= 2
    before = start - 1
    while before >= 0 and lexemes[before].kind == _PUNCT and lexemes[before].text == ":":
        before -= 1
    if before >= 0 and lexemes[before].kind in _CLAIMS:
        return out  # the price already has its keyword
    if out is lexemes:
        out = list(lexemes)
    moved = out[start:first]
    width = k - first + 1
    out[start : start + width] = lexemes[first : k + 1]
    out[start + width : k + 1] = moved
    return out


# words that may stand between a price and the keyword that follows it
_LINKS: Final = frozenset({"can", "be", "is", "as", "will", "would", "could", "the", "our"})


def _colon_number(lexemes: list[Lexeme], idx: int) -> bool:
    k = idx + 1
    if k < len(lexemes) and lexemes[k].kind == _PUNCT and lexemes[k].text == ":":
        return k + 1 < len(lexemes) and lexemes[k + 1].kind == _NUM
    return False


def _num_follows(lexemes: list[Lexeme], idx: int, r: Reading) -> bool:
    """After an entry, a side word (or "close") followed by a new price lists targets."""
    entries = r.entry or r.implicit_entry
    if not entries:
        return False
    for k in range(idx + 1, min(idx + 5, len(lexemes))):
        kind = lexemes[k].kind
        if kind == _NUM:
            value = lexemes[k].value
            if value is None or value in entries:
                return False
            # targets lie on the profit side: above the entry for a long, below for a short
            if r.first_side == _LONG:
                return value > max(entries)
            if r.first_side == _SHORT:
                return value < min(entries)
            return True
        if kind not in (_PUNCT, _AT, _JOIN, _NL):
            return False
    return False


def _labels_a_price(lexemes: list[Lexeme], idx: int) -> bool:
    """A side word followed by a colon (or "=") and a price: "❇️ Buy: 27.00" labels the
    entry of the call it sits in, whatever its side."""
    k = idx + 1
    n = len(lexemes)
    if k >= n or lexemes[k].kind != _PUNCT or lexemes[k].text not in (":", "="):
        return False
    while k < n and lexemes[k].kind == _PUNCT and lexemes[k].text in (":", "="):
        k += 1
    return k < n and lexemes[k].kind == _NUM


def one_side(r: Reading) -> bool:
    """Whether the message names one side only: no side words of both sides, or every
    word of the other side labels a field ("SHORT LINKUSDT / Buy: 27.00 / Target 1:
    22.95"). Whether the levels then confirm that side is the caller's test."""
    if not (r.long_words and r.short_words):
        return True
    other = r.short_words if r.first_side == _LONG else r.long_words
    return other == r.side_labels


def _ends_line(lexemes: list[Lexeme], idx: int) -> bool:
    return idx + 1 == len(lexemes) or lexemes[idx + 1].kind == _NL


def ends_targets(value: Decimal, first: Decimal, r: Reading) -> bool:
    """Whether ``value`` lies on the losing side of the entry (below it for a long, above
    it for a short: no target's place) while the list's ``first`` target does not."""
    # below the entry but not the first target: below the first target (one comparison
    # settles the common case, a list that goes on in order)
    long = r.first_side == _LONG
    if (value < first) if long else (value > first):
        entries = r.entry or r.implicit_entry
        if not entries:
            return False
        if long:
            bound = entries[0] if len(entries) == 1 else min(entries)
            return value < bound and not first < bound
        bound = entries[0] if len(entries) == 1 else max(entries)
        return value > bound and not first > bound
    return False


def _call_follows(lexemes: list[Lexeme], idx: int) -> bool:
    """Whether a price or an instrument follows: what a second call needs."""
    for k in range(idx + 1, len(lexemes)):
        kind = lexemes[k].kind
        if kind == _NUM or kind == _SYM:
            return True
    return False


def _beside_side(lexemes: list[Lexeme], idx: int) -> bool:
    for k in (idx - 1, idx + 1, idx - 2, idx + 2):
        if 0 <= k < len(lexemes):
            kind = lexemes[k].kind
            if kind in (_LONG, _SHORT, _WLONG, _WSHORT, _SPOT):
                return True
            if kind in (_NL, _NUM) and abs(k - idx) == 1:
                continue
    return False


def best_symbol(symbols: list[tuple[str, int]]) -> tuple[str | None, int, int]:
    """The symbol to use, its strength, and how many distinct strong symbols appeared."""
    if not symbols:
        return None, 0, 0
    best, strength = symbols[0]
    if len(symbols) == 1:  # the common case, without building a set
        return best, strength, int(strength >= STRONG)
    for sym, st in symbols:
        if st > strength:
            best, strength = sym, st
    strong = {s for s, st in symbols if st >= STRONG}
    return best, strength, len(strong)
