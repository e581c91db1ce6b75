"""Channel templates: a channel's own patterns and words, tried before the general rules.

A template file (JSON or TOML) holds any of:

- ``patterns``: regular expressions with named groups (``symbol``, ``side``, ``entry``,
  ``entry_low``, ``entry_high``, ``stop_loss``, ``tp1`` .. ``tp10``, ``take_profits``,
  ``leverage``, ``order_type``, ``action``, ``value``) and an optional ``kind``
  (``signal`` by default, ``update`` or ``noise``) and fixed ``action``/``side``;
- ``keywords``: extra words per meaning (``long``, ``short``, ``entry``, ``stop_loss``,
  ``take_profit``, ``leverage``, ``market``, ``limit``) merged into the general rules;
- ``symbols``: aliases, e.g. ``{"yellow metal": "XAUUSD"}`` (single words);
- ``fields``: a layout learned from labelled examples (``learn.py``): each price field by
  the label before it or its place, read after the patterns (``label_fields.py``).
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from signalbridge.domain.signals import (
    EntryZone,
    OrderType,
    Side,
    Signal,
    SignalUpdate,
    UpdateAction,
    validate_symbol,
)
from signalbridge.parsing.label_fields import MAX_LAYOUT_CHARS, Layout, scan
from signalbridge.parsing.lexer import split_symbol_word
from signalbridge.parsing.lexicon import Cat, Lexicon, default_lexicon
from signalbridge.parsing.numbers import parse_number
from signalbridge.parsing.result import ParseResult, noise
from signalbridge.parsing.rules import parse_rules
from signalbridge.parsing.text import lower

_GROUPS = frozenset(
    {"symbol", "side", "entry", "entry_low", "entry_high", "stop_loss", "take_profits"}
    | {"leverage", "order_type", "action", "value"}
    | {f"tp{i}" for i in range(1, 11)}
)
_KEYWORD_CATS = {
    "long": Cat.LONG,
    "buy": Cat.LONG,
    "short": Cat.SHORT,
    "sell": Cat.SHORT,
    "entry": Cat.ENTRY,
    "stop_loss": Cat.SL,
    "sl": Cat.SL,
    "take_profit": Cat.TP,
    "tp": Cat.TP,
    "leverage": Cat.LEV,
    "market": Cat.MARKET,
    "limit": Cat.PENDING,
    "ignore": Cat.STOPWORD,
}
_NUMBERS = re.compile(r"\d+(?:[.,]\d+)*")
_LONG_WORDS = frozenset({"buy", "long", "bull", "bullish", "compra", "лонг", "al"})
_SHORT_WORDS = frozenset({"sell", "short", "bear", "bearish", "venta", "шорт", "sat"})
MAX_PATTERN_LEN = 2000


@dataclass(frozen=True)
class TemplatePattern:
    regex: re.Pattern[str]
    kind: str = "signal"
    action: UpdateAction | None = None
    side: Side | None = None


@dataclass(frozen=True)
class Template:
    """One channel's parsing rules; build with :func:`load_template` or directly."""

    name: str = "template"
    patterns: tuple[TemplatePattern, ...] = ()
    keywords: dict[Cat, tuple[str, ...]] = field(default_factory=dict)
    symbols: dict[str, str] = field(default_factory=dict)
    layout: Layout | None = None
    _lexicon: Lexicon = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # built once per template, so the lexer's word cache lives as long as it does
        # (a frozen dataclass: its own __setattr__ refuses, as it should for anyone else)
        built = default_lexicon().extended(self.keywords) if self.keywords else default_lexicon()
        object.__setattr__(self, "_lexicon", built)

    def lexicon(self) -> Lexicon:
        """The default tables extended with this channel's words."""
        return self._lexicon

    def apply(self, text: str) -> ParseResult | None:
        """The result of the first pattern that matches ``text``, else the learned layout's
        reading of a post it fits (``label_fields.py``), else ``None``."""
        for pattern in self.patterns:
            m = pattern.regex.search(text)
            if m is not None:
                return self._build(pattern, m.groupdict())
        layout = self.layout
        if layout is not None and len(text) <= MAX_LAYOUT_CHARS and layout.may_fit(text):
            nums = scan(text)
            if layout.fits(nums):
                generic = parse_rules(text, self._lexicon, self.symbols)
                return layout.read(nums, text, generic, self.name)
        return None

    def _build(self, pattern: TemplatePattern, groups: dict[str, str | None]) -> ParseResult:
        reason = f"template {self.name!r}"
        if pattern.kind == "noise":
            return noise(0.95, reason)
        symbol = self._symbol(groups.get("symbol"))
        if pattern.kind == "update":
            action = pattern.action or _action(groups.get("action"))
            if action is None:
                return noise(0.3, reason, "update pattern without a known action")
            value = parse_number(groups.get("value") or "")
            return ParseResult(SignalUpdate(action, symbol, value), 0.95, (reason,))
        side = pattern.side or _side(groups.get("side"), self.keywords)
        if side is None or symbol is None:
            return noise(0.3, reason, "signal pattern matched without a side or symbol")
        entry = _entry(groups)
        tps = _tps(groups)
        order_raw = lower((groups.get("order_type") or "").strip())
        market = entry is None or order_raw in ("market", "now", "cmp")
        signal = Signal(
            symbol=symbol,
            side=side,
            order_type=OrderType.MARKET if market else OrderType.LIMIT,
            entry=entry,
            stop_loss=parse_number(groups.get("stop_loss") or ""),
            take_profits=tuple(tps[:10]),
            leverage=_leverage(groups.get("leverage")),
        )
        problems = signal.geometry_problems()
        if problems:
            return ParseResult(signal, 0.2, (reason, *problems))
        return ParseResult(signal, 0.95, (reason,))

    def _symbol(self, raw: str | None) -> str | None:
        if not raw:
            return None
        alias = self.symbols.get(lower(raw.strip()))
        if alias is not None:
            return alias
        resolved = split_symbol_word(raw)
        return None if resolved is None else resolved[0]


def _action(raw: str | None) -> UpdateAction | None:
    if not raw:
        return None
    try:
        return UpdateAction(lower(raw.strip()))
    except ValueError:
        return None


def _side(raw: str | None, keywords: dict[Cat, tuple[str, ...]]) -> Side | None:
    word = lower((raw or "").strip())
    if word in _LONG_WORDS or word in keywords.get(Cat.LONG, ()):
        return Side.LONG
    if word in _SHORT_WORDS or word in keywords.get(Cat.SHORT, ()):
        return Side.SHORT
    cat = default_lexicon().words.get(word)
    if cat is Cat.LONG:
        return Side.LONG
    if cat is Cat.SHORT:
        return Side.SHORT
    return None


def _entry(groups: dict[str, str | None]) -> EntryZone | None:
    low = parse_number(groups.get("entry_low") or "")
    high = parse_number(groups.get("entry_high") or "")
    if low is not None and high is not None:
        return EntryZone.of(low, high)
    raw = groups.get("entry") or ""
    numbers = [n for n in map(parse_number, _NUMBERS.findall(raw)) if n is not None]
    if numbers:
        return EntryZone.of(min(numbers), max(numbers))
    return None


def _tps(groups: dict[str, str | None]) -> list[Decimal]:
    raw = groups.get("take_profits") or ""
    out = [n for n in map(parse_number, _NUMBERS.findall(raw)) if n is not None]
    for i in range(1, 11):
        value = parse_number(groups.get(f"tp{i}") or "")
        if value is not None:
            out.append(value)
    return out


def _leverage(raw: str | None) -> int | None:
    m = _NUMBERS.search(raw or "")
    if m is None:
        return None
    value = parse_number(m.group())
    if value is None or not 1 <= value <= 500:
        return None
    return int(value)


def load_template(path: Path) -> Template:
    """Read and validate a template file; any problem raises ``ValueError`` saying what."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read template {path}: {exc.strerror}") from None
    try:
        if lower(path.suffix) == ".toml":
            data: Any = tomllib.loads(raw.decode("utf-8"))
        else:
            data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"template {path.name} is not valid {path.suffix[1:] or 'JSON'}: {exc}"
        ) from None
    return template_from_dict(data, default_name=path.stem)


def template_from_dict(data: Any, default_name: str = "template") -> Template:
    if not isinstance(data, dict):
        raise ValueError("a template must be an object with patterns, keywords or symbols")
    unknown = set(data) - {"name", "patterns", "keywords", "symbols", "fields"}
    if unknown:
        raise ValueError(f"unknown template keys: {', '.join(sorted(unknown))}")
    patterns = tuple(_pattern(p, i) for i, p in enumerate(_list(data.get("patterns"), "patterns")))
    keywords = _keywords(data.get("keywords") or {})
    symbols = _symbols(data.get("symbols") or {})
    layout = Layout.from_dict(data["fields"]) if data.get("fields") is not None else None
    if not patterns and not keywords and not symbols and layout is None:
        raise ValueError("a template needs at least one pattern, field, keyword or symbol alias")
    name = data.get("name", default_name)
    if not isinstance(name, str):
        raise ValueError("template name must be a string")
    return Template(name=name, patterns=patterns, keywords=keywords, symbols=symbols, layout=layout)


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"template {what} must be a list")
    return value


def _pattern(spec: Any, index: int) -> TemplatePattern:
    where = f"pattern {index + 1}"
    if isinstance(spec, str):
        spec = {"regex": spec}
    if not isinstance(spec, dict) or not isinstance(spec.get("regex"), str):
        raise ValueError(f"{where} needs a 'regex' string")
    source = spec["regex"]
    if len(source) > MAX_PATTERN_LEN:
        raise ValueError(f"{where} is longer than {MAX_PATTERN_LEN} characters")
    try:
        regex = re.compile(source, re.IGNORECASE | re.MULTILINE)
    except re.error as exc:
        raise ValueError(f"{where} is not a valid regular expression: {exc}") from None
    bad = set(regex.groupindex) - _GROUPS
    if bad:
        raise ValueError(f"{where} has unknown named groups: {', '.join(sorted(bad))}")
    kind = spec.get("kind", "signal")
    if kind not in ("signal", "update", "noise"):
        raise ValueError(f"{where} kind must be signal, update or noise, got {kind!r}")
    action = None
    if spec.get("action") is not None:
        action = _action(str(spec["action"]))
        if action is None:
            allowed = ", ".join(a.value for a in UpdateAction)
            raise ValueError(f"{where} action must be one of {allowed}")
    if kind == "update" and action is None and "action" not in regex.groupindex:
        raise ValueError(f"{where} is an update pattern without an action")
    side = None
    if spec.get("side") is not None:
        try:
            side = Side(lower(str(spec["side"])))
        except ValueError:
            raise ValueError(f"{where} side must be long or short") from None
    if kind == "signal" and side is None and "side" not in regex.groupindex:
        raise ValueError(f"{where} is a signal pattern without a side group or fixed side")
    return TemplatePattern(regex=regex, kind=kind, action=action, side=side)


def _keywords(spec: Any) -> dict[Cat, tuple[str, ...]]:
    if not isinstance(spec, dict):
        raise ValueError("template keywords must map a meaning to a list of words")
    out: dict[Cat, tuple[str, ...]] = {}
    for key, words in spec.items():
        cat = _KEYWORD_CATS.get(lower(str(key)))
        if cat is None:
            raise ValueError(
                f"unknown keyword meaning {key!r}; use one of {', '.join(sorted(_KEYWORD_CATS))}"
            )
        if isinstance(words, str):
            words = [words]
        if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
            raise ValueError(f"keywords for {key!r} must be a list of non-empty strings")
        out[cat] = tuple(lower(w.strip()) for w in words)
    return out


def _symbols(spec: Any) -> dict[str, str]:
    if not isinstance(spec, dict):
        raise ValueError("template symbols must map an alias to a symbol")
    out: dict[str, str] = {}
    for alias, symbol in spec.items():
        try:
            out[lower(str(alias).strip())] = validate_symbol(symbol)
        except Exception as exc:  # InvalidSignal: say which alias is wrong
            raise ValueError(f"symbol alias {alias!r}: {exc}") from None
    return out
