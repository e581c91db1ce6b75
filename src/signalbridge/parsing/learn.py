"""Learning a channel's layout from 3-5 labelled examples (issue 14, goal 3).

Each example is a message and the contract fields it means (``symbol``, ``side``,
``entry`` as a number or ``{"low", "high"}``, ``stop_loss``, ``take_profits``,
``leverage``, ``order_type``). Every expected value is found in its text with the label
written before it (or, with no label, its line and rank); a field is learned only where
every example agrees. Examples that contradict each other, or too few of them, are refused
with a :class:`LearnError` saying why. Pure: no I/O; the result is a template
(``templates.py``, key ``fields``) stored on the channel and tried before the rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from signalbridge.domain.signals import OrderType, Side, Signal
from signalbridge.parsing.label_fields import (
    MAX_LABELS,
    MAX_WORDS,
    PRICE_FIELDS,
    WORD_SPLIT,
    Anchor,
    Layout,
    Num,
    label_of,
    prices,
    scan,
    side_tokens,
)
from signalbridge.parsing.lexer import split_symbol_word
from signalbridge.parsing.lexicon import Cat, default_lexicon
from signalbridge.parsing.result import ParseResult
from signalbridge.parsing.templates import Template
from signalbridge.parsing.text import MAX_CHARS, normalise

MIN_EXAMPLES: Final = 3
MAX_EXAMPLES: Final = 20
_QUOTE: Final = "USDT"


class LearnError(ValueError):
    """The examples cannot teach a layout; the message says which and why."""


@dataclass(frozen=True)
class Target:
    """One example's expected signal, in exact values."""

    symbol: str
    side: Side | None
    entry: tuple[Decimal, Decimal] | None
    stop_loss: Decimal | None
    take_profits: tuple[Decimal, ...] | None
    leverage: Decimal | None
    market: bool | None

    def value(self, field: str) -> object:
        if field == "entry":
            return self.entry
        if field == "stop_loss":
            return self.stop_loss
        if field == "take_profits":
            return self.take_profits
        return self.leverage


@dataclass(frozen=True)
class Learned:
    """What the examples taught: the layout and the fields it reads."""

    layout: Layout
    fields: tuple[str, ...]
    examples: int
    skipped: tuple[str, ...] = ()  # fields the examples disagree on: the rules read them

    def spec(self, name: str = "learned") -> dict[str, Any]:
        """The template as stored on a channel (``parse_template``)."""
        return {"name": name, "fields": self.layout.to_dict()}

    def template(self, name: str = "learned") -> Template:
        return Template(name=name, layout=self.layout)


def learn_template(
    examples: Sequence[Any], minimum: int = MIN_EXAMPLES, maximum: int = MAX_EXAMPLES
) -> Learned:
    """Learn a layout from ``(text, expected)`` pairs; refuse with :class:`LearnError`."""
    if not isinstance(examples, Sequence) or isinstance(examples, str | bytes):
        raise LearnError("examples must be a list of (text, expected) pairs")
    if len(examples) > maximum:
        raise LearnError(f"at most {maximum} examples are read; got {len(examples)}")
    rows = [_example(ex, i) for i, ex in enumerate(examples, start=1)]
    _no_contradiction(rows)
    signals = [(text, t) for text, t in rows if t is not None]
    if len(signals) < minimum:
        raise LearnError(
            f"a layout is learned from at least {minimum} signal examples; got {len(signals)}"
        )
    scanned = [(text, scan(text), t) for text, t in signals]
    fields: dict[str, Anchor] = {}
    required: list[str] = []
    skipped: list[str] = []
    for name in PRICE_FIELDS:
        anchor = _learn_field(name, scanned)
        if isinstance(anchor, str):
            if all(t.value(name) is not None for _, _, t in scanned):
                # every example gives it, each in another place: they contradict each other
                raise LearnError(f"the examples contradict each other: {anchor}")
            skipped.append(anchor)  # given by some examples only: left to the general rules
        elif anchor is not None:
            fields[name] = anchor
            if all(t.value(name) is not None for _, _, t in scanned):
                required.append(name)
    if not fields:
        why = "; ".join(skipped) or "they give no entry, stop_loss, take_profits or leverage"
        raise LearnError(f"the examples agree on no price field: {why}")
    _no_clash(fields, scanned)
    symbol_label = _learn_symbol(signals)
    long_words, short_words = _learn_sides(signals)
    with_entry = [t for _, t in signals if t.entry is not None and t.market is not None]
    market = bool(with_entry) and all(t.market for t in with_entry)
    layout = Layout(
        fields=fields,
        required=tuple(required),
        symbol_label=symbol_label,
        long_words=long_words,
        short_words=short_words,
        ignore=_ignored(fields, scanned),
        market=market,
    )
    taught = list(fields)
    if symbol_label:
        taught.append("symbol")
    if long_words or short_words:
        taught.append("side")
    if market:
        taught.append("order_type")
    return Learned(layout, tuple(taught), len(rows), tuple(skipped))


def _example(ex: Any, index: int) -> tuple[str, Target | None]:
    """Check one example's shape; its normalised text and target (None: not a signal)."""
    where = f"example {index}"
    if isinstance(ex, dict):
        text, expected = ex.get("text"), ex.get("expected")
    elif isinstance(ex, Sequence) and not isinstance(ex, str | bytes) and len(ex) == 2:
        text, expected = ex[0], ex[1]
    else:
        raise LearnError(f"{where} must be a (text, expected) pair")
    if not isinstance(text, str) or not text.strip():
        raise LearnError(f"{where}: the text must be a non-empty string")
    if not isinstance(expected, dict):
        raise LearnError(f"{where}: expected must be an object of contract fields")
    return normalise(text)[:MAX_CHARS], target(expected, where)


def target(expected: dict[str, Any], where: str = "expected") -> Target | None:
    """An expected contract dict as exact values; ``None`` for a non-signal."""
    kind = expected.get("kind", "signal")
    if kind != "signal":
        if kind in ("update", "noise", "not_signal", "non_signal"):
            return None
        raise LearnError(f"{where}: kind must be signal, update or noise, got {kind!r}")
    symbol = expected.get("symbol")
    if not isinstance(symbol, str) or not symbol.strip() or len(symbol) > 40:
        raise LearnError(f"{where}: a signal needs its symbol")
    side_raw = expected.get("side")
    side: Side | None = None
    if side_raw is not None:
        try:
            side = Side(str(side_raw).lower())
        except ValueError:
            raise LearnError(f"{where}: side must be long or short") from None
    order = expected.get("order_type")
    if order not in (None, "market", "limit", "stop"):
        raise LearnError(f"{where}: order_type must be market or limit")
    tps_raw = expected.get("take_profits")
    tps: tuple[Decimal, ...] | None = None
    if tps_raw is not None:
        if not isinstance(tps_raw, list) or len(tps_raw) > 10:
            raise LearnError(f"{where}: take_profits must be a list of at most 10 prices")
        tps = tuple(_price(v, f"{where} take_profits") for v in tps_raw) or None
    return Target(
        symbol=symbol.strip(),
        side=side,
        entry=_entry(expected, where),
        stop_loss=_opt_price(expected.get("stop_loss"), f"{where} stop_loss"),
        take_profits=tps,
        leverage=_opt_price(expected.get("leverage"), f"{where} leverage"),
        market=None if order is None else order == "market",
    )


def _entry(expected: dict[str, Any], where: str) -> tuple[Decimal, Decimal] | None:
    raw = expected.get("entry")
    if isinstance(raw, dict):
        low = _price(raw.get("low"), f"{where} entry low")
        high = _price(raw.get("high"), f"{where} entry high")
    elif raw is not None:
        low = high = _price(raw, f"{where} entry")
    elif expected.get("entry_low") is not None and expected.get("entry_high") is not None:
        low = _price(expected["entry_low"], f"{where} entry_low")
        high = _price(expected["entry_high"], f"{where} entry_high")
    elif isinstance(expected.get("entries"), list) and expected["entries"]:
        values = [_price(v, f"{where} entries") for v in expected["entries"][:10]]
        low, high = min(values), max(values)
    else:
        return None
    if low > high:
        raise LearnError(f"{where}: the entry zone's low is above its high")
    return low, high


def _opt_price(value: Any, where: str) -> Decimal | None:
    return None if value is None else _price(value, where)


def _price(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise LearnError(f"{where} must be a number")
    try:
        out = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise LearnError(f"{where} must be a number, got {str(value)[:40]!r}") from None
    if not out.is_finite() or out <= 0 or out.adjusted() > 18:
        raise LearnError(f"{where} must be a positive price")
    return out.normalize() if out == out.to_integral_value() else out


def _no_contradiction(rows: list[tuple[str, Target | None]]) -> None:
    seen: dict[str, tuple[int, Target | None]] = {}
    for i, (text, t) in enumerate(rows, start=1):
        key = text.strip()
        if key in seen and seen[key][1] != t:
            raise LearnError(f"examples {seen[key][0]} and {i} are the same text read two ways")
        seen.setdefault(key, (i, t))


def _reads(anchor: Anchor, nums: list[Num], name: str) -> object:
    """What ``anchor`` reads for field ``name`` in a scanned example."""
    pool = nums if name == "leverage" else prices(nums)
    hit = anchor.pick(pool)
    if not hit:
        return None
    if name == "entry":
        values = [n.value for n in hit]
        return min(values), max(values)
    if name == "take_profits":
        return tuple(n.value for n in hit[:10])
    return hit[0].value


def _candidates(name: str, nums: list[Num], want: object) -> list[Anchor]:
    """Anchors that could designate ``want`` in one example, most specific first."""
    if name == "entry" and isinstance(want, tuple):
        keys = {want[0], want[1]}
        reads = ("first", "line") if want[0] == want[1] else ("line",)
    elif name == "take_profits" and isinstance(want, tuple):
        keys = {want[0]}
        reads = ("line", "all")
    else:
        keys = {want} if isinstance(want, Decimal) else set()
        reads = ("first",)
    pool = nums if name == "leverage" else prices(nums)
    out: list[Anchor] = []
    for n in pool:
        if n.value in keys and n.label:
            out.extend(Anchor((n.label,), r) for r in reads)
    for n in pool:
        if n.value in keys and len(keys) == 1:  # one number, found by its place
            out.append(Anchor(line=n.line, rank=n.rank))
    return list(dict.fromkeys(out))


def _learn_field(name: str, scanned: list[tuple[str, list[Num], Target]]) -> Anchor | str | None:
    """The anchor every example agrees on; a note saying why none does; None: no values."""
    present = [(i, nums, t.value(name)) for i, (_, nums, t) in enumerate(scanned, start=1)]
    with_value = [(i, nums, v) for i, nums, v in present if v is not None]
    if not with_value:
        return None
    for i, nums, want in with_value:
        if not _candidates(name, nums, want):
            raise LearnError(f"example {i}: {name} {_show(want)} is not written in its text")

    def agrees(anchor: Anchor) -> bool:
        return all(_reads(anchor, nums, name) == want for _, nums, want in present)

    first = with_value[0]
    for anchor in _candidates(name, first[1], first[2]):
        if agrees(anchor):
            return anchor
    for anchor in _label_sets(name, with_value):
        if agrees(anchor):
            return anchor
    where = "; ".join(
        f"example {i}: after {_labels(name, nums, want)}" for i, nums, want in with_value
    )
    return f"{name} is written in different places ({where})"


def _no_clash(fields: dict[str, Anchor], scanned: list[tuple[str, list[Num], Target]]) -> None:
    """Refuse examples that contradict each other: one that writes a field's value after the
    label the others use for another field ("Box" holds the entry, and in one the stop)."""
    for name in PRICE_FIELDS:
        if name in fields:
            continue
        for i, (_, nums, t) in enumerate(scanned, start=1):
            values = _values(t.value(name))
            for other, anchor in fields.items():
                if values & _values(t.value(other)):
                    continue  # the same price in both fields: no telling them apart
                clash = [n for n in nums if n.value in values and not n.carried and n.label]
                if any(n.label in anchor.labels for n in clash):
                    raise LearnError(
                        f"example {i} writes {name} after {clash[0].label!r}, which the other "
                        f"examples use for {other}: the examples contradict each other"
                    )


def _values(value: object) -> set[Decimal]:
    if isinstance(value, tuple):
        return {v for v in value if isinstance(v, Decimal)}
    return {value} if isinstance(value, Decimal) else set()


def _label_sets(name: str, with_value: list[tuple[int, list[Num], object]]) -> list[Anchor]:
    """Anchors on a few alternative labels ("Entry" in some posts, "Zone" in others), each
    example contributing one of its own; smallest sets first, a bounded search."""
    per_example: list[list[Anchor]] = []
    for _, nums, want in with_value:
        labelled = [a for a in _candidates(name, nums, want) if a.labels]
        if not labelled:
            return []
        per_example.append(labelled[:4])
    combos: list[tuple[frozenset[str], str]] = [(frozenset(), "")]
    for options in per_example:
        grown = {
            (labels | {a.labels[0]}, a.read)
            for labels, read in combos
            for a in options
            if read in ("", a.read) and len(labels | {a.labels[0]}) <= MAX_LABELS
        }
        combos = sorted(grown, key=lambda c: (len(c[0]), sorted(c[0]), c[1]))[:64]
    return [Anchor(tuple(sorted(labels)), read) for labels, read in combos if len(labels) > 1]


def _labels(name: str, nums: list[Num], want: object) -> str:
    labels = sorted({repr(a.labels[0]) for a in _candidates(name, nums, want) if a.labels})
    return " or ".join(labels) or "no label"


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return "/".join(_show(v) for v in value)
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def _same_symbol(a: str, b: str) -> bool:
    x = a.upper().replace("/", "").replace("-", "").replace("_", "").lstrip("#$")
    y = b.upper().replace("/", "").replace("-", "").replace("_", "").lstrip("#$")
    return x == y or x + _QUOTE == y or x == y + _QUOTE


def _learn_symbol(signals: list[tuple[str, Target]]) -> str:
    """The label before the symbol in every example ("Pair: BTCUSDT"); else "" (the rules')."""
    common: set[str] | None = None
    for text, t in signals:
        labels: set[str] = set()
        for line in text.split("\n"):
            words = [w for w in WORD_SPLIT.split(line) if w][:MAX_WORDS]
            for i, word in enumerate(words[1:], start=1):
                resolved = split_symbol_word(word)
                label = label_of(words[i - 1])
                if resolved is not None and label and _same_symbol(resolved[0], t.symbol):
                    labels.add(label)
        common = labels if common is None else common & labels
    labels_left = sorted(common or ())
    return labels_left[0] if labels_left else ""


def _learn_sides(signals: list[tuple[str, Target]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Side words every example of a side carries and none of the other: the lexicon's side
    words, or emoji (a channel's 🟢 / 🔴)."""
    words = default_lexicon().words
    tokens: dict[Side, list[set[str]]] = {Side.LONG: [], Side.SHORT: []}
    for text, t in signals:
        if t.side is not None:
            tokens[t.side].append(set(side_tokens(text)))
    out: dict[Side, tuple[str, ...]] = {}
    for side, other in ((Side.LONG, Side.SHORT), (Side.SHORT, Side.LONG)):
        if not tokens[side]:
            out[side] = ()
            continue
        shared = set.intersection(*tokens[side]) - set().union(*tokens[other])
        cat = Cat.LONG if side is Side.LONG else Cat.SHORT
        keep = [w for w in shared if words.get(w) is cat or (tokens[other] and _emoji(w))]
        out[side] = tuple(sorted(keep))[:10]
    return out[Side.LONG], out[Side.SHORT]


def _emoji(word: str) -> bool:
    return len(word) <= 4 and not any(c.isalnum() for c in word)


def _ignored(
    fields: dict[str, Anchor], scanned: list[tuple[str, list[Num], Target]]
) -> tuple[str, ...]:
    """Labels of the numbers no field reads in the examples (a date, "profit 2%")."""
    out: set[str] = set()
    for _, nums, _t in scanned:
        used: set[int] = set()
        for name, anchor in fields.items():
            pool = nums if name == "leverage" else prices(nums)
            used.update(id(n) for n in anchor.pick(pool))
        out.update(n.label for n in prices(nums) if id(n) not in used and n.label and not n.times)
    return tuple(sorted(out))[:50]


@dataclass(frozen=True)
class Score:
    """Leave-one-out on the examples: each read by a layout learned from the others."""

    examples: int
    generic: int  # right by the general rules alone
    learned: int  # right with the layout learned from the other examples
    sure_wrong: int  # wrong with the layout at confidence >= 0.9
    refused: tuple[str, ...]  # why a fold learned nothing (it is scored by the rules)

    def to_dict(self) -> dict[str, Any]:
        return {
            "examples": self.examples,
            "right_generic": self.generic,
            "right_learned": self.learned,
            "wrong_at_0_9": self.sure_wrong,
            "folds_refused": list(self.refused),
        }


def leave_one_out(examples: Sequence[Any]) -> Score:
    """Score learning on the examples themselves: learn from all but one, read that one."""
    from signalbridge.parsing.engine import parse

    rows = [_example(ex, i) for i, ex in enumerate(examples, start=1)]
    generic = learned = sure_wrong = 0
    refused: list[str] = []
    for i, (text, want) in enumerate(rows):
        plain = parse(text)
        generic += is_right(plain, want)
        others = [ex for j, ex in enumerate(examples) if j != i]
        try:
            template = learn_template(others, minimum=2).template()
        except LearnError as exc:
            refused.append(f"without example {i + 1}: {exc}")
            learned += is_right(plain, want)
            continue
        result = parse(text, template)
        ok = is_right(result, want)
        learned += ok
        sure_wrong += not ok and result.confidence >= 0.9
    return Score(len(rows), generic, learned, sure_wrong, tuple(refused))


def is_right(result: ParseResult, want: Target | None) -> bool:
    """Whether a parse gives every field the example asserts (a non-signal: no signal)."""
    got = result.parsed
    if want is None:
        return not isinstance(got, Signal)
    if not isinstance(got, Signal) or not _same_symbol(got.symbol, want.symbol):
        return False
    if want.side is not None and got.side is not want.side:
        return False
    if want.entry is not None and (
        got.entry is None or (got.entry.low, got.entry.high) != want.entry
    ):
        return False
    if want.stop_loss is not None and got.stop_loss != want.stop_loss:
        return False
    if want.take_profits is not None and got.take_profits != want.take_profits:
        return False
    if want.leverage is not None and got.leverage != want.leverage:
        return False
    return want.market is None or (got.order_type is OrderType.MARKET) == want.market
