"""Price feeds for the paper venue: offline, deterministic, replayable.

A feed only produces prices; the exchange applies them (``on_price``) and matches resting
orders, so tests can also drive prices by hand. Every price a feed emits is on its market's
tick (``ticks``), as on a real venue's book: a market order priced from it is valid, and a
fill at it needs no rounding.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Protocol

from signalbridge.domain.market import round_to_step

PRICE_QUANTUM = Decimal("1e-8")


def on_tick(price: Decimal, tick: Decimal | None) -> Decimal:
    """``price`` rounded to the nearest multiple of ``tick``, never below one tick
    (unchanged when the symbol has no market, hence no tick)."""
    if tick is None:
        return price
    return max(round_to_step(price, tick), tick)


class PriceFeed(Protocol):
    def current(self) -> dict[str, Decimal]:
        """The latest price of every symbol the feed knows (the start prices before a tick)."""
        ...

    def advance(self) -> dict[str, Decimal]:
        """Move to the next tick and return the prices that changed ({} when exhausted)."""
        ...


class RandomWalkFeed:
    """A seeded multiplicative random walk: the same seed gives the same prices, offline.

    Each tick moves every symbol by a uniform step in ``[-volatility, +volatility]`` of its
    price, drawn as integers so no float ever touches a price. The walk itself runs at
    ``PRICE_QUANTUM`` and is shown rounded to each symbol's tick: a symbol whose moves are
    smaller than half a tick still drifts, instead of being stuck on one tick for ever.
    """

    def __init__(
        self,
        seed: int,
        start_prices: Mapping[str, Decimal],
        volatility: Decimal = Decimal("0.001"),
        ticks: Mapping[str, Decimal] | None = None,
    ) -> None:
        if volatility < 0 or volatility >= 1:
            raise ValueError("volatility must be in [0, 1)")
        self._rng = random.Random(seed)
        self._walk = {s: Decimal(p) for s, p in sorted(start_prices.items())}
        self._volatility = volatility
        self._ticks = dict(ticks or {})

    def current(self) -> dict[str, Decimal]:
        return {s: on_tick(p, self._ticks.get(s)) for s, p in self._walk.items()}

    def advance(self) -> dict[str, Decimal]:
        for symbol, price in self._walk.items():
            step = Decimal(self._rng.randint(-10_000, 10_000)) / Decimal(10_000)
            moved = (price * (1 + step * self._volatility)).quantize(PRICE_QUANTUM)
            self._walk[symbol] = max(moved, PRICE_QUANTUM)
        return self.current()


class ReplayFeed:
    """Prices replayed from a file of ``ts,symbol,price`` rows (CSV with a header, or JSONL).

    Rows sharing a timestamp form one tick; ticks come in file order. Prices must be
    decimal strings (JSON numbers are read through their text, never as floats); they are
    rounded to their symbol's tick. ``path`` is trusted here: a path from a connection's
    config is confined to the data directory first (:mod:`.files`).
    """

    def __init__(self, path: str | Path, ticks: Mapping[str, Decimal] | None = None) -> None:
        self._ticks: list[tuple[str, dict[str, Decimal]]] = []
        self._position = 0
        self._prices: dict[str, Decimal] = {}
        steps = dict(ticks or {})
        for ts, symbol, price in _read_rows(Path(path)):
            if not self._ticks or self._ticks[-1][0] != ts:
                self._ticks.append((ts, {}))
            self._ticks[-1][1][symbol] = on_tick(price, steps.get(symbol))
        if self._ticks:
            self._prices.update(self._ticks[0][1])
            self._position = 1

    @property
    def exhausted(self) -> bool:
        return self._position >= len(self._ticks)

    def current(self) -> dict[str, Decimal]:
        return dict(self._prices)

    def advance(self) -> dict[str, Decimal]:
        if self.exhausted:
            return {}
        _, prices = self._ticks[self._position]
        self._position += 1
        self._prices.update(prices)
        return dict(prices)


def _read_rows(path: Path) -> list[tuple[str, str, Decimal]]:
    text = path.read_text(encoding="utf-8")
    rows: list[tuple[str, str, Decimal]] = []
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            item = json.loads(line, parse_float=Decimal, parse_int=Decimal)
            rows.append(_row(item.get("ts"), item.get("symbol"), item.get("price"), number))
    else:
        for number, item in enumerate(csv.DictReader(text.splitlines()), start=2):
            rows.append(_row(item.get("ts"), item.get("symbol"), item.get("price"), number))
    return rows


def _row(ts: object, symbol: object, price: object, line: int) -> tuple[str, str, Decimal]:
    if ts is None or not symbol or price is None:
        raise ValueError(f"line {line}: ts, symbol and price are required")
    try:
        value = Decimal(str(price))
    except InvalidOperation:
        raise ValueError(f"line {line}: price {price!r} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise ValueError(f"line {line}: price must be positive")
    stamp = str(ts)
    if not stamp.isdigit():
        datetime.fromisoformat(stamp.replace("Z", "+00:00"))  # refuse unreadable stamps
    return stamp, str(symbol).strip().upper(), value
