"""The monitor's in-memory index of open positions by their trigger levels.

Per (connection, symbol) two sorted lists of trigger levels are kept (the stop and the next
favourable level of each position), so finding the positions a price reached costs
O(log n + triggered) however many positions are open.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from signalbridge.domain.management import Action, PositionView, after, evaluate, triggers

_LOW_ID = -1
_HIGH_ID = 1 << 62

Key = tuple[Decimal, int]


@dataclass(slots=True)
class Tracked:
    """One open position as the monitor holds it in memory."""

    position_id: int
    execution_id: int
    connection_id: int
    symbol: str
    view: PositionView
    low: Key | None = None  # where it sits in the bucket's ``le`` list
    high: Key | None = None  # where it sits in the bucket's ``ge`` list


@dataclass(slots=True)
class _Bucket:
    le: list[Key] = field(default_factory=list)  # act when price <= level
    ge: list[Key] = field(default_factory=list)  # act when price >= level


def _remove(keys: list[Key], key: Key) -> None:
    i = bisect_left(keys, key)
    if i < len(keys) and keys[i] == key:
        del keys[i]


class PositionIndex:
    """Open positions by (connection, symbol) with their trigger levels kept sorted."""

    def __init__(self) -> None:
        self._tracked: dict[int, Tracked] = {}
        self._buckets: dict[tuple[int, str], _Bucket] = {}

    def __len__(self) -> int:
        return len(self._tracked)

    def get(self, position_id: int) -> Tracked | None:
        return self._tracked.get(position_id)

    def ids(self) -> set[int]:
        return set(self._tracked)

    def tracked(self) -> Iterable[Tracked]:
        return self._tracked.values()

    def load(self, items: Iterable[Tracked]) -> None:
        """Add or replace many positions, sorting each touched bucket once."""
        touched: set[tuple[int, str]] = set()
        for item in items:
            self.remove(item.position_id)
            bucket = self._bucket(item)
            touched.add((item.connection_id, item.symbol))
            self._keys(item)
            if item.low is not None:
                bucket.le.append(item.low)
            if item.high is not None:
                bucket.ge.append(item.high)
            self._tracked[item.position_id] = item
        for name in touched:
            self._buckets[name].le.sort()
            self._buckets[name].ge.sort()

    def put(self, item: Tracked) -> None:
        """Add or replace one position: O(log n) search plus one list shift."""
        self.remove(item.position_id)
        bucket = self._bucket(item)
        self._keys(item)
        if item.low is not None:
            insort(bucket.le, item.low)
        if item.high is not None:
            insort(bucket.ge, item.high)
        self._tracked[item.position_id] = item

    def remove(self, position_id: int) -> None:
        item = self._tracked.pop(position_id, None)
        if item is None:
            return
        bucket = self._buckets[(item.connection_id, item.symbol)]
        if item.low is not None:
            _remove(bucket.le, item.low)
        if item.high is not None:
            _remove(bucket.ge, item.high)
        item.low = item.high = None

    def symbols_by_connection(self) -> dict[int, list[str]]:
        result: dict[int, list[str]] = {}
        for (connection_id, symbol), bucket in sorted(self._buckets.items()):
            if bucket.le or bucket.ge:
                result.setdefault(connection_id, []).append(symbol)
        return result

    def due(self, connection_id: int, symbol: str, price: Decimal) -> list[Tracked]:
        """Positions whose levels the price reached: two binary searches and the hits."""
        bucket = self._buckets.get((connection_id, symbol))
        if bucket is None:
            return []
        hits = bucket.le[bisect_left(bucket.le, (price, _LOW_ID)) :]
        hits += bucket.ge[: bisect_right(bucket.ge, (price, _HIGH_ID))]
        seen: set[int] = set()
        found: list[Tracked] = []
        for _, position_id in hits:
            if position_id not in seen:
                seen.add(position_id)
                found.append(self._tracked[position_id])
        return found

    def evaluate(
        self, connection_id: int, symbol: str, price: Decimal
    ) -> list[tuple[Tracked, list[Action]]]:
        """The actions due at ``price`` (nothing is changed until :meth:`apply`)."""
        result = []
        for item in self.due(connection_id, symbol, price):
            actions = evaluate(item.view, price)
            if actions:
                result.append((item, actions))
        return result

    def apply(self, item: Tracked, actions: list[Action]) -> None:
        """Move a position to its state after ``actions`` (re-keys its levels)."""
        item.view = after(item.view, actions)
        self.put(item)

    def _bucket(self, item: Tracked) -> _Bucket:
        return self._buckets.setdefault((item.connection_id, item.symbol), _Bucket())

    @staticmethod
    def _keys(item: Tracked) -> None:
        adverse, favourable = triggers(item.view)
        if item.view.long:
            low, high = adverse, favourable
        else:
            low, high = favourable, adverse
        pid = item.position_id
        item.low = None if low is None else (low, pid)
        item.high = None if high is None else (high, pid)
