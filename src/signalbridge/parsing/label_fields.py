"""Label-anchored fields: a channel's layout read as "the numbers after this label".

A learned template (``learn.py``) records, for each field, the label word written before
its value ("Stop: 90", "🎯 110") or, where there is no label, its place (line and rank).
This module scans a message into labelled numbers and reads a :class:`Layout` over them.
The same scanner serves learning and reading, so both see a message the same way.

The layout never makes the parser surer than it is right: a reading that leaves numbers of
the message unexplained, or disagrees with the general rules, keeps ordinary confidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from signalbridge.domain.signals import EntryZone, OrderType, Side, Signal
from signalbridge.parsing.lexer import split_symbol_word
from signalbridge.parsing.lexicon import Cat, default_lexicon
from signalbridge.parsing.numbers import is_small_int, parse_number
from signalbridge.parsing.plausibility import far_targets, implausibility
from signalbridge.parsing.result import ParseResult
from signalbridge.parsing.symbols import STRONG
from signalbridge.parsing.text import lower

# a number not glued to a letter or digit before it ("TP1", "H4" are labels, not prices);
# an "x" before or after marks a leverage ("x10", "10x")
_NUM: Final = re.compile(
    r"(?<![^\W_])(?<![.,])([xX×])?(\d+(?:[.,]\d+)*)([xX×])?(?![^\W_])", re.UNICODE
)
_STRIP: Final = "*_:;=@-–—>|()[]{}.,\"'`~%/\\!?+•·$€£\ufe0f\u200d"
_INDEX_AFTER: Final = re.compile(r"\s*[:)]")
_WORDS: Final = re.compile(r"[^\W\d_]+")
_MARKS: Final = re.compile(r"[^\w\s]+")  # emoji and signs, glued or not ("🟢BINANCE")
WORD_SPLIT: Final = re.compile(r"[\s,;:|()\[\]{}*_]+")
READS: Final = ("first", "line", "all")
#: fields a layout may carry, in the order a report lists them
PRICE_FIELDS: Final = ("entry", "stop_loss", "take_profits", "leverage")
MAX_LABEL: Final = 40
MAX_LABELS: Final = 3  # a field written after one of a few words ("Entry" / "Zone")
MAX_WORDS: Final = 12
MAX_LINE: Final = 200
#: longer posts are read by the general rules alone (Telegram's limit is 4,096 characters)
MAX_LAYOUT_CHARS: Final = 4_096


@dataclass(frozen=True, slots=True)
class Num:
    """One number of a message: its value, the label before it and where it sits."""

    value: Decimal
    label: str
    line: int
    rank: int  # its place among the price numbers of its line
    percent: bool
    times: bool  # written with an "x": a leverage
    carried: bool = False  # its label comes from a line above (a heading over a list)


def label_of(prefix: str) -> str:
    """The label word closest before a number: "**Stop:**" -> "stop", "TP1 -" -> "tp".

    A hashtag or a symbol is passed over: it names the instrument, which changes from post
    to post, not the field.
    """
    for chunk in reversed(prefix.split()):
        word = lower(chunk.strip(_STRIP))
        if word[:1] == "#" or (len(word) > 2 and _names_symbol(word)):
            continue
        if word and not word.isdecimal():
            letters = _WORDS.findall(word)  # "✅TP1" -> "tp": the word, not its emoji
            return (letters[-1] if letters else word)[:MAX_LABEL]
    return ""


def scan(text: str) -> list[Num]:
    """Every number of ``text`` with its label: its own, else the one before it on the line,
    else the last label of the lines above (a heading "Targets:" over a list)."""
    out: list[Num] = []
    running = ""
    for line_no, line in enumerate(text.split("\n")):
        prev_end = 0
        rank = 0
        found = False
        on_line = False  # whether ``running`` was set on this line
        for m in _NUM.finditer(line):
            found = True
            raw = m.group(2)
            prefix = line[prev_end : m.start()]
            own = label_of(prefix)
            # a bare number continues the label before it; one after a symbol starts afresh
            label = own or ("" if any(c.isalnum() for c in prefix) else running)
            carried = not own and not on_line and label != ""
            on_line = True
            prev_end = m.end()
            after = line[m.end() : m.end() + 3]
            percent = after.lstrip()[:1] == "%"
            if m.group(1) is None and m.group(3) is None and not percent:
                before = line[max(0, m.start() - 1) : m.start()]
                if is_small_int(raw) and (
                    before == "#" or _INDEX_AFTER.match(after) or _list_index(own, line, m.end())
                ):
                    running = label  # "Target 1: 100": the 1 is a list index
                    continue
            running = label
            value = parse_number(raw)
            if value is None:
                continue
            times = m.group(1) is not None or m.group(3) is not None
            out.append(Num(value, label, line_no, rank, percent, times, carried))
            if not percent:
                rank += 1
        if not found:
            heading = label_of(line)
            if heading:
                running = heading
    return out


def _names_symbol(word: str) -> bool:
    """An explicit pair or instrument ("gbpjpy", "btcusdt", "gold"), not any word that
    could be a coin's ticker ("zone")."""
    resolved = split_symbol_word(word)
    return resolved is not None and resolved[1] >= STRONG


def _list_index(label: str, line: str, end: int) -> bool:
    """ "TP 4 — 4738": a small number after a target word, another number right after it."""
    if not label or default_lexicon().words.get(label) is not Cat.TP:
        return False
    nxt = _NUM.search(line, end)
    return nxt is not None and not any(c.isalnum() for c in line[end : nxt.start()])


def prices(nums: list[Num]) -> list[Num]:
    """The numbers that may be prices: not a share ("2%"), not a leverage ("x10")."""
    return [n for n in nums if not n.percent and not n.times]


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where a field's value sits: after one of ``labels`` (read the ``first`` number, the
    whole ``line`` or ``all`` of them) or, with no label, at ``line``/``rank``."""

    labels: tuple[str, ...] = ()
    read: str = "first"
    line: int = -1
    rank: int = -1

    def pick(self, nums: list[Num]) -> list[Num]:
        """The numbers this anchor designates in a scanned message (may be empty)."""
        if not self.labels:
            return [n for n in nums if n.line == self.line and n.rank == self.rank][:1]
        hits = [n for n in nums if n.label in self.labels]
        if not hits:
            return []
        if self.read == "first":
            return hits[:1]
        if self.read == "line":
            return [n for n in hits if n.line == hits[0].line]
        return hits

    def to_dict(self) -> dict[str, Any]:
        if len(self.labels) == 1:
            return {"label": self.labels[0], "read": self.read}
        if self.labels:
            return {"labels": list(self.labels), "read": self.read}
        return {"line": self.line, "rank": self.rank}

    @staticmethod
    def from_dict(spec: Any, where: str) -> Anchor:
        if not isinstance(spec, dict) or set(spec) - {"label", "labels", "read", "line", "rank"}:
            raise ValueError(f"{where} must be an object with a label or a line and rank")
        labels = spec.get("labels", [spec["label"]] if "label" in spec else [])
        read = spec.get("read", "first")
        if not isinstance(labels, list) or len(labels) > MAX_LABELS:
            raise ValueError(f"{where} labels must be a list of at most {MAX_LABELS} words")
        for label in labels:
            if not isinstance(label, str) or not 0 < len(label) <= MAX_LABEL:
                raise ValueError(f"{where} label must be a non-empty short string")
            if label != label.strip():
                raise ValueError(f"{where} label must not start or end with a space")
        if read not in READS:
            raise ValueError(f"{where} read must be one of {', '.join(READS)}")
        if labels:
            return Anchor(tuple(lower(w) for w in labels), read)
        line, rank = spec.get("line"), spec.get("rank")
        if not isinstance(line, int) or not isinstance(rank, int) or isinstance(line, bool):
            raise ValueError(f"{where} needs a label or integer line and rank")
        if isinstance(rank, bool) or not (0 <= line <= MAX_LINE and 0 <= rank <= MAX_LINE):
            raise ValueError(f"{where} line and rank must be between 0 and {MAX_LINE}")
        return Anchor(line=line, rank=rank)


@dataclass(frozen=True)
class Layout:
    """A channel's learned layout of a signal: price fields by anchor, the label before the
    symbol, the channel's side words, and the labels whose numbers mean nothing to a trade."""

    fields: dict[str, Anchor]
    required: tuple[str, ...] = ()
    symbol_label: str = ""
    long_words: tuple[str, ...] = ()
    short_words: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    market: bool = False  # the channel's calls are market orders even with a price

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {k: v.to_dict() for k, v in self.fields.items()}
        data["required"] = list(self.required)
        if self.symbol_label:
            data["symbol"] = {"label": self.symbol_label}
        if self.long_words or self.short_words:
            data["side"] = {"long": list(self.long_words), "short": list(self.short_words)}
        if self.ignore:
            data["ignore"] = list(self.ignore)
        if self.market:
            data["order_type"] = "market"
        return data

    @staticmethod
    def from_dict(spec: Any) -> Layout:
        """Validate a stored layout; any problem raises ``ValueError`` saying what."""
        if not isinstance(spec, dict):
            raise ValueError("template fields must be an object")
        known = {*PRICE_FIELDS, "required", "symbol", "side", "ignore", "order_type"}
        unknown = set(spec) - known
        if unknown:
            raise ValueError(f"unknown template fields: {', '.join(sorted(map(str, unknown)))}")
        fields = {f: Anchor.from_dict(spec[f], f"field {f}") for f in PRICE_FIELDS if f in spec}
        if not fields:
            raise ValueError("template fields need at least one of " + ", ".join(PRICE_FIELDS))
        required = _words(spec.get("required", []), "required")
        if not set(required) <= set(fields):
            raise ValueError("template fields: required names a field it does not define")
        symbol = spec.get("symbol", {})
        if not isinstance(symbol, dict) or not isinstance(symbol.get("label", ""), str):
            raise ValueError("template fields: symbol must be an object with a label")
        side = spec.get("side", {})
        if not isinstance(side, dict) or set(side) - {"long", "short"}:
            raise ValueError("template fields: side must map long and short to words")
        order = spec.get("order_type")
        if order not in (None, "market"):
            raise ValueError("template fields: order_type may only be 'market'")
        return Layout(
            fields=fields,
            required=required,
            symbol_label=lower(symbol.get("label", "").strip())[:MAX_LABEL],
            long_words=_words(side.get("long", []), "side long"),
            short_words=_words(side.get("short", []), "side short"),
            ignore=_words(spec.get("ignore", []), "ignore"),
            market=order == "market",
        )

    def may_fit(self, text: str) -> bool:
        """A substring test before any scan: each required label is written somewhere."""
        low = lower(text)
        for field_name in self.required:
            labels = self.fields[field_name].labels
            if labels and not any(label in low for label in labels):
                return False
        return True

    def fits(self, nums: list[Num]) -> bool:
        """Whether a scanned message holds every field the layout requires (checked before
        the general rules run, so a post in another layout costs one scan)."""
        values = prices(nums)
        for field_name in self.required:
            pool = nums if field_name == "leverage" else values
            if not self.fields[field_name].pick(pool):
                return False
        return True

    def read(self, nums: list[Num], text: str, generic: ParseResult, name: str) -> ParseResult:
        """The signal this layout reads in a message that :meth:`fits`, scored against the
        general reading ``generic``, which stands wherever the layout does not hold."""
        values = prices(nums)
        picked: dict[str, list[Num]] = {}
        for field_name, anchor in self.fields.items():
            pool = nums if field_name == "leverage" else values
            picked[field_name] = anchor.pick(pool)
        if generic.kind == "update" or (generic.kind == "noise" and generic.confidence >= 0.8):
            return generic  # a management message, or a known kind of non-call (a report)
        base = generic.parsed if isinstance(generic.parsed, Signal) else None
        symbol = self.symbol(text) or (base.symbol if base is not None else None)
        side = self.side(text) or (base.side if base is not None else None) or _lexicon_side(text)
        if symbol is None or side is None:
            return generic
        signal = self._signal(symbol, side, picked, base)
        if signal is None:
            return generic
        reason = f"template {name!r}"
        problems = signal.geometry_problems()
        if problems:
            if base is not None and not base.geometry_problems():
                return generic  # the layout misreads this post; the rules' reading holds
            return ParseResult(signal, min(generic.confidence, 0.2), (reason, *problems))
        used = {id(n) for hit in picked.values() for n in hit}
        unexplained = [
            n for n in values if id(n) not in used and n.label not in self.ignore and not n.times
        ]
        agrees = base == signal
        if unexplained:  # another layout than the one learned: the rules' reading stands,
            if base is not None and base.geometry_problems():  # unless it is broken
                why = f"{len(unexplained)} number(s) the template does not explain"
                return ParseResult(signal, generic.confidence, (reason, why))
            return generic
        if agrees and generic.confidence < 0.8:
            return generic  # the rules' doubt (an implausible price ...) stands
        if agrees:
            return ParseResult(signal, max(generic.confidence, 0.92), (reason,))
        # every number explained, but the general rules read it otherwise: a human decides
        doubt = implausibility(signal.symbol, signal.entry, signal.stop_loss)
        if doubt is not None or far_targets(
            signal.entry, signal.stop_loss, list(signal.take_profits)
        ):
            return ParseResult(signal, 0.4, (reason, doubt or "levels far from the entry"))
        return ParseResult(signal, 0.85, (reason, "the general rules read it otherwise"))

    def _signal(
        self, symbol: str, side: Side, picked: dict[str, list[Num]], base: Signal | None
    ) -> Signal | None:
        # a field the layout finds is read by it; one it does not find keeps the rules' value
        entry: EntryZone | None = base.entry if base is not None else None
        if picked.get("entry"):
            got = [n.value for n in picked["entry"]]
            entry = EntryZone.of(min(got), max(got))
        stop = base.stop_loss if base is not None else None
        if picked.get("stop_loss"):
            stop = picked["stop_loss"][0].value
        tps = base.take_profits if base is not None else ()
        if picked.get("take_profits"):
            tps = tuple(n.value for n in picked["take_profits"][:10])
        leverage = base.leverage if base is not None else None
        if picked.get("leverage"):
            lev = picked["leverage"][0].value
            if lev != lev.to_integral_value() or not 1 <= lev <= 500:
                return None
            leverage = int(lev)
        if entry is None or self.market:
            order = OrderType.MARKET
        elif base is not None and base.order_type is OrderType.MARKET and base.entry is not None:
            order = OrderType.MARKET  # the general rules saw "now" / "market" / "CMP"
        else:
            order = OrderType.LIMIT
        return Signal(symbol, side, order, entry, stop, tps, leverage)

    def symbol(self, text: str) -> str | None:
        """The symbol written after the learned symbol label, if the layout has one."""
        if not self.symbol_label:
            return None
        for line in text.split("\n"):
            words = [w for w in WORD_SPLIT.split(line) if w][:MAX_WORDS]
            for i, word in enumerate(words[1:], start=1):
                if label_of(words[i - 1]) != self.symbol_label:
                    continue
                resolved = split_symbol_word(word)
                if resolved is not None:
                    return resolved[0]
        return None

    def side(self, text: str) -> Side | None:
        """The side by the channel's own side words; ``None`` when absent or both."""
        if not self.long_words and not self.short_words:
            return None
        words = set(side_tokens(text))
        cats = {default_lexicon().words.get(w) for w in words}
        long = any(w in words for w in self.long_words) or Cat.LONG in cats
        short = any(w in words for w in self.short_words) or Cat.SHORT in cats
        if long == short:
            return None
        return Side.LONG if long else Side.SHORT


def side_tokens(text: str) -> list[str]:
    """The words of a message, lowered, and its chunks of emoji ("🟢", "📈")."""
    out: list[str] = [lower(w) for w in _WORDS.findall(text)]
    for run in _MARKS.findall(text):
        mark = run.strip(_STRIP)
        if mark:
            out.append(mark)
    return out


def _lexicon_side(text: str) -> Side | None:
    words = default_lexicon().words
    cats = {words.get(w) for w in side_tokens(text)}
    long, short = Cat.LONG in cats, Cat.SHORT in cats
    if long == short:
        return None
    return Side.LONG if long else Side.SHORT


def _words(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(w, str) and w.strip() for w in value):
        raise ValueError(f"template fields: {what} must be a list of non-empty strings")
    if len(value) > 50:
        raise ValueError(f"template fields: {what} holds more than 50 words")
    return tuple(lower(w.strip())[:MAX_LABEL] for w in value)
