"""One position-sync cycle over 1,000 connections x 10 positions, beside the naive way.

Usage: .venv/bin/python bench/bench_sync.py [--connections N] [--positions P]
       [--latency-ms L] [--naive-sample K]

Each connection holds ``P`` open positions (one per symbol), each with a resting stop and a
resting target: 10,000 positions and 20,000 resting orders by default, in a real SQLite
database (migrated, through the real pool, kernel guards and engine). The venue is an
in-process adapter (type ``benchvenue``) that answers from memory and counts requests,
optionally after ``--latency-ms`` of simulated round trip: the paper venue would spend its
time in its own matching engine and durable store, which is not what is measured here, and
a loopback HTTP fake would measure the fake. Steady state: the venue agrees with our books.

- batched (the position sync): per connection one ``fetch_positions`` and one
  ``fetch_open_orders``, the diff in memory, ``concurrency`` connections at a time;
- naive (what the order sync did before, and a per-position check beside it): one
  ``engine.reconcile`` (a lookup by client order id) per resting order and one positions
  read per position, one after another. With ``--naive-sample K`` only the first K
  connections are run naively and the time is scaled up (requests are counted exactly).

Both run in the same process on the same database; the times, the ratio and the request
counts are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Self

from prometheus_client import CollectorRegistry
from pydantic import BaseModel, ConfigDict
from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signalbridge.bootstrap import build_container
from signalbridge.domain.market import Market, MarketKind
from signalbridge.domain.signals import Side
from signalbridge.execution.engine import ExecutionEngine
from signalbridge.execution.pool import AdapterPool
from signalbridge.execution.position_sync import PositionSync
from signalbridge.integrations.errors import OrderNotFound
from signalbridge.integrations.kernel import Kernel
from signalbridge.integrations.sealing import seal
from signalbridge.integrations.vault import generate_key
from signalbridge.settings import Settings
from signalbridge.store import models as m
from signalbridge.store.migrate import upgrade
from signalbridge.venues.base import (
    AdapterDeps,
    Balance,
    Capabilities,
    OrderRequest,
    OrderRole,
    OrderSide,
    OrderStatus,
    ProbeResult,
    Ticker,
    VenueOrder,
    VenueOrderType,
    VenuePosition,
)

D = Decimal
SYMBOLS = [f"C{i}/USDT" for i in range(100)]
NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Book:
    """Every account's positions and open orders, and the requests made."""

    def __init__(self) -> None:
        self.positions: dict[str, list[VenuePosition]] = {}
        self.orders: dict[str, list[VenueOrder]] = {}
        self.requests = 0
        self.latency = 0.0

    async def request(self) -> None:
        self.requests += 1
        if self.latency:
            await asyncio.sleep(self.latency)


BOOK = Book()


class Config(BaseModel):
    model_config = ConfigDict(extra="allow")


class BenchVenue:
    """An in-memory futures venue: answers from :data:`BOOK`, one count per call."""

    type: ClassVar[str] = "benchvenue"
    capabilities = Capabilities(futures=True, resting_stops=True, resting_targets=True)

    def __init__(self, connection_id: str) -> None:
        self.connection_id = connection_id
        self._markets = {
            s: Market(s, s, MarketKind.LINEAR, "C", "USDT", D("0.001"), D("0.01"), D("0.001"))
            for s in SYMBOLS
        }

    @classmethod
    def from_config(
        cls,
        connection_id: str,
        config: Mapping[str, Any],
        secrets: Mapping[str, str],
        *,
        deps: AdapterDeps,
    ) -> Self:
        return cls(connection_id)

    async def load_markets(self) -> Mapping[str, Market]:
        return self._markets

    async def fetch_tickers(self, symbols: Iterable[str]) -> dict[str, Ticker]:
        await BOOK.request()
        return {s: Ticker(s, None, None, D(100), NOW) for s in symbols}

    async def fetch_balance(self) -> dict[str, Balance]:
        return {}

    async def create_order(self, req: OrderRequest) -> VenueOrder:
        raise NotImplementedError("the benchmark never trades")

    async def fetch_order(
        self, symbol: str, client_order_id: str, role: OrderRole | None = None
    ) -> VenueOrder:
        await BOOK.request()
        for order in BOOK.orders[self.connection_id]:
            if order.client_order_id == client_order_id:
                return order
        raise OrderNotFound("unknown order")

    async def cancel_order(
        self, symbol: str, client_order_id: str, role: OrderRole | None = None
    ) -> VenueOrder:
        raise NotImplementedError("the benchmark never cancels")

    async def fetch_open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        await BOOK.request()
        return list(BOOK.orders[self.connection_id])

    async def fetch_positions(self) -> list[VenuePosition]:
        await BOOK.request()
        return list(BOOK.positions[self.connection_id])

    async def set_leverage(self, symbol: str, leverage: int) -> None:
        return None

    async def probe(self) -> ProbeResult:
        return ProbeResult(True, 0.0, True, False, "ok")

    async def close(self) -> None:
        return None


def venue_order(coid: str, symbol: str, kind: VenueOrderType, trigger: Decimal) -> VenueOrder:
    return VenueOrder(
        coid,
        coid,
        symbol,
        OrderSide.SELL,
        kind,
        OrderStatus.OPEN,
        D(1),
        D(0),
        None,
        None,
        NOW,
        NOW,
        stop_price=trigger,
        reduce_only=True,
    )


async def seed(sessions: Any, vault: Any, connections: int, per: int) -> list[int]:
    """Connections, their positions and resting orders, written in bulk."""
    async with sessions() as s, s.begin():
        owner = m.User(email="bench@example.com", password_hash="-", role=m.Role.ADMIN)
        s.add(owner)
        await s.flush()
        channel = m.ChannelSource(name="bench", type="webhook", config={}, owner_id=owner.id)
        s.add(channel)
        await s.flush()
        signals = []
        for i, symbol in enumerate(SYMBOLS[:per]):
            msg = m.Message(channel_id=channel.id, external_id=f"m{i}", text="x")
            s.add(msg)
            await s.flush()
            sig = m.Signal(
                message_id=msg.id,
                channel_id=channel.id,
                symbol=symbol,
                side="long",
                order_type="market",
                stop_loss=D(90),
                take_profits=["110"],
                received_at=NOW,
            )
            s.add(sig)
            await s.flush()
            signals.append(sig)
        table: Any = m.ExecutionConnection.__table__
        ids = list(
            (
                await s.scalars(
                    insert(table).returning(table.c.id),
                    [
                        {
                            "name": f"bench-{k}",
                            "type": "benchvenue",
                            "config": {},
                            "owner_id": owner.id,
                            "is_active": True,
                        }
                        for k in range(connections)
                    ],
                )
            ).all()
        )
        for cid in ids:
            await s.execute(
                m.ExecutionConnection.__table__.update()
                .where(table.c.id == cid)
                .values(secrets_enc=seal(vault, "execution_connections", cid, {}))
            )
        follows: Any = m.Follow.__table__
        follow_ids = list(
            (
                await s.scalars(
                    insert(follows).returning(follows.c.id),
                    [
                        {
                            "connection_id": c,
                            "channel_id": channel.id,
                            "sizing": {},
                            "risk": {},
                            "management": {},
                            "is_active": True,
                        }
                        for c in ids
                    ],
                )
            ).all()
        )
        executions: Any = m.Execution.__table__
        rows = [
            {"signal_id": sig.id, "follow_id": f, "connection_id": c, "status": "open"}
            for c, f in zip(ids, follow_ids, strict=True)
            for sig in signals
        ]
        exec_ids = list(
            (await s.scalars(insert(executions).returning(executions.c.id), rows)).all()
        )
        positions, orders = [], []
        for eid, row in zip(exec_ids, rows, strict=True):
            cid = row["connection_id"]
            symbol = SYMBOLS[signals.index(next(x for x in signals if x.id == row["signal_id"]))]
            positions.append(
                {
                    "execution_id": eid,
                    "signal_id": row["signal_id"],
                    "connection_id": cid,
                    "symbol": symbol,
                    "side": "long",
                    "amount": D(1),
                    "entry_price": D(100),
                    "take_profits": ["110"],
                    "status": "open",
                    "opened_at": NOW,
                    "updated_at": NOW,
                }
            )
            for leg, kind, trigger in (
                ("s1", "stop_market", D(90)),
                ("t1g1", "take_profit_market", D(110)),
            ):
                coid = f"sb-{eid}-{leg}"
                orders.append(
                    {
                        "execution_id": eid,
                        "connection_id": cid,
                        "client_order_id": coid,
                        "venue_order_id": coid,
                        "leg": leg,
                        "symbol": symbol,
                        "side": "sell",
                        "type": kind,
                        "amount": D(1),
                        "stop_price": trigger,
                        "reduce_only": True,
                        "status": "open",
                        "filled": D(0),
                        "sent_at": NOW,
                        "acked_at": NOW,
                    }
                )
                BOOK.orders.setdefault(str(cid), []).append(
                    venue_order(coid, symbol, VenueOrderType(kind), trigger)
                )
            BOOK.positions.setdefault(str(cid), []).append(
                VenuePosition(symbol, Side.LONG, D(1), D(100), None, D(0))
            )
        await s.execute(insert(m.Position.__table__), positions)
        await s.execute(insert(m.Order.__table__), orders)
    return ids


async def naive(engine: ExecutionEngine, pool: AdapterPool, ids: list[int]) -> None:
    """One lookup per resting order and one positions read per position, in turn."""
    async with engine.sessions() as s:
        orders = (
            await s.execute(
                select(m.Order.id, m.Order.connection_id).where(
                    m.Order.status == "open", m.Order.connection_id.in_(ids)
                )
            )
        ).all()
        positions = (
            await s.execute(
                select(m.Position.connection_id, m.Position.symbol).where(
                    m.Position.status == "open", m.Position.connection_id.in_(ids)
                )
            )
        ).all()
    for order_id, _ in orders:
        await engine.reconcile(order_id)
    for cid, symbol in positions:
        live = await pool.get(cid)
        held = await live.read(live.adapter.fetch_positions)
        assert any(p.symbol == symbol for p in held)


async def run(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench_sync_"))
    url = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    settings = Settings(data_dir=tmp, database_url=url, secret_keys=generate_key())
    c = build_container(settings)
    await upgrade(c.engine)
    c.registry.register("exchange", "benchvenue", BenchVenue, Config)
    kernel = Kernel.from_settings(settings, CollectorRegistry())
    pool = AdapterPool(c.sessions, c.vault, c.registry, AdapterDeps(), kernel.guard, ttl=3600)
    engine = ExecutionEngine(c.sessions, pool, settle_seconds=30.0)
    BOOK.latency = args.latency_ms / 1000
    started = time.perf_counter()
    ids = await seed(c.sessions, c.vault, args.connections, args.positions)
    print(
        f"seeded {len(ids)} connections x {args.positions} positions "
        f"({len(ids) * args.positions * 2} resting orders) in "
        f"{time.perf_counter() - started:.1f} s"
    )
    await pool.get_many(ids)  # adapters built once, as in a running scheduler

    sync = PositionSync(engine, concurrency=args.concurrency)
    BOOK.requests = 0
    started = time.perf_counter()
    report = await sync.run_once()
    batched = time.perf_counter() - started
    batched_requests = BOOK.requests
    assert not report.failed and not report.closed_outside and not report.reduced_outside

    sample = ids[: args.naive_sample] if args.naive_sample else ids
    BOOK.requests = 0
    started = time.perf_counter()
    await naive(engine, pool, sample)
    naive_time = (time.perf_counter() - started) * len(ids) / len(sample)
    naive_requests = BOOK.requests * len(ids) // len(sample)

    print(f"venue latency per request: {args.latency_ms} ms")
    print(f"batched sync: {batched:8.2f} s  {batched_requests:7d} requests")
    scaled = f" (measured on {len(sample)} connections, scaled)" if len(sample) < len(ids) else ""
    print(f"naive:        {naive_time:8.2f} s  {naive_requests:7d} requests{scaled}")
    print(
        f"ratio: {naive_time / batched:.1f}x faster, "
        f"{naive_requests / batched_requests:.1f}x fewer requests"
    )
    await pool.close()
    await c.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--positions", type=int, default=10)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--naive-sample", type=int, default=0)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
