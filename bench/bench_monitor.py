"""The position monitor evaluating 100,000 open positions against one price tick.

Usage: .venv/bin/python bench/bench_monitor.py [--positions N] [--runs R] [--hit-rate F]

Positions are spread over 4 connections x 6 symbols, longs and shorts, with stops,
three targets and a mix of break-even and trailing settings. One tick is a new price for
every (connection, symbol). The monitor's way: the sorted trigger index finds the positions
the price reached (two binary searches per symbol) and only those are evaluated and moved to
their new state. The baseline, measured in the same run: what a per-position monitor does,
one query (a primary-key SELECT on an in-memory SQLite table holding the same positions)
and one rule check per position. Medians of ``--runs`` runs; the target is <= 50 ms.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import time
from copy import copy
from decimal import Decimal

from signalbridge.domain.management import (
    ManagementSettings,
    PositionView,
    Precision,
    evaluate,
)
from signalbridge.domain.signals import Side
from signalbridge.execution.position_index import PositionIndex, Tracked

D = Decimal
SYMBOLS = {
    "BTC/USDT": D(60000),
    "ETH/USDT": D(3000),
    "SOL/USDT": D(150),
    "BNB/USDT": D(600),
    "XRP/USDT": D("0.6"),
    "EURUSD": D("1.08"),
}
CONNECTIONS = (1, 2, 3, 4)
PRECISION = Precision(D("0.00001"), D("0.00001"), D("0.00001"))
SETTINGS = (
    ManagementSettings(),
    ManagementSettings(break_even_after_tp=1),
    ManagementSettings.model_validate({"trailing": {"percent": "2", "after_tp": 1}}),
    ManagementSettings.model_validate({"tp_split": ["50", "30", "20"]}),
)


def make_positions(n: int, seed: int) -> list[Tracked]:
    """Stops 1-10 % away and targets 2-30 % away from each symbol's price."""
    rng = random.Random(seed)
    names = list(SYMBOLS)
    items = []
    for pid in range(1, n + 1):
        symbol = names[pid % len(names)]
        price = SYMBOLS[symbol]
        side = Side.LONG if rng.random() < 0.6 else Side.SHORT
        sign = 1 if side is Side.LONG else -1
        entry = (price * D(1 + sign * rng.uniform(-0.01, 0.01))).quantize(D("0.00001"))
        stop = (entry * D(1 - sign * rng.uniform(0.01, 0.10))).quantize(D("0.00001"))
        first = rng.uniform(0.02, 0.10)
        tps = tuple((entry * D(1 + sign * first * k)).quantize(D("0.00001")) for k in (1, 2, 3))
        view = PositionView(
            side=side,
            opened=D("1.5"),
            amount=D("1.5"),
            entry=entry,
            stop_loss=stop,
            take_profits=tps,
            tp_done=0,
            closing=False,
            precision=PRECISION,
            settings=SETTINGS[pid % len(SETTINGS)],
        )
        items.append(Tracked(pid, pid, CONNECTIONS[pid % len(CONNECTIONS)], symbol, view))
    return items


def tick_prices(hit_rate: float) -> dict[str, Decimal]:
    """A move that reaches roughly ``hit_rate`` of the stops (down) across the book."""
    return {s: (p * D(1 - 0.11 * hit_rate * 10)).quantize(D("0.00001")) for s, p in SYMBOLS.items()}


def indexed_tick(index: PositionIndex, prices: dict[str, Decimal]) -> int:
    acted = 0
    for connection in CONNECTIONS:
        for symbol, price in prices.items():
            for item, actions in index.evaluate(connection, symbol, price):
                index.apply(item, actions)
                acted += 1
    return acted


def naive_tick(
    db: sqlite3.Connection, items: dict[int, Tracked], prices: dict[str, Decimal]
) -> int:
    """One query and one check per open position, the way a simple monitor loops."""
    acted = 0
    query = "SELECT id, connection_id, symbol FROM positions WHERE id = ?"
    for position_id in items:
        _, _, symbol = db.execute(query, (position_id,)).fetchone()
        if evaluate(items[position_id].view, prices[symbol]):
            acted += 1
    return acted


def fresh_index(items: list[Tracked]) -> PositionIndex:
    index = PositionIndex()
    index.load(copy(item) for item in items)
    return index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--hit-rate", type=float, default=0.005)
    args = parser.parse_args()

    items = make_positions(args.positions, seed=11)
    prices = tick_prices(args.hit_rate)
    started = time.perf_counter()
    fresh_index(items)
    build_ms = (time.perf_counter() - started) * 1000

    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE positions (id INTEGER PRIMARY KEY, connection_id INT, symbol TEXT)")
    db.executemany(
        "INSERT INTO positions VALUES (?, ?, ?)",
        ((i.position_id, i.connection_id, i.symbol) for i in items),
    )
    by_id = {i.position_id: i for i in items}

    indexed, naive = [], []
    acted_indexed = acted_naive = 0
    for _ in range(args.runs):
        index = fresh_index(items)  # every run starts from the same untouched book
        started = time.perf_counter()
        acted_indexed = indexed_tick(index, prices)
        indexed.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        acted_naive = naive_tick(db, by_id, prices)
        naive.append((time.perf_counter() - started) * 1000)
    assert acted_indexed == acted_naive, (acted_indexed, acted_naive)

    idx_ms, naive_ms = statistics.median(indexed), statistics.median(naive)
    print(f"positions: {args.positions:,} over {len(CONNECTIONS)} connections x "
          f"{len(SYMBOLS)} symbols; one tick = a price for each")  # fmt: skip
    print(f"positions acting on this tick: {acted_indexed:,} (both ways agree)")
    print(f"index build (on reload):        {build_ms:9.1f} ms")
    print(f"monitor tick (sorted index):    {idx_ms:9.2f} ms  (median of {args.runs})")
    print(f"naive tick (query+check each):  {naive_ms:9.2f} ms  (median of {args.runs})")
    print(f"speed-up: {naive_ms / idx_ms:.0f}x; target <= 50 ms: "
          f"{'met' if idx_ms <= 50 else 'MISSED'}")  # fmt: skip


if __name__ == "__main__":
    main()
