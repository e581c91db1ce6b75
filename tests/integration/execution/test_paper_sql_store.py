"""The paper venue on SQL (SQLite file, and PostgreSQL when reachable): state survives a
restart, duplicates are refused, and it computes exactly what the in-memory store does."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from signalbridge.integrations.errors import InvalidRequest
from signalbridge.store.paper_book import SqlPaperStore
from signalbridge.store.paper_tables import PAPER_TABLES
from signalbridge.venues.base import (
    AdapterDeps,
    OrderRequest,
    OrderSide,
    OrderStatus,
    VenueOrderType,
)
from signalbridge.venues.paper.adapter import PaperAdapter
from signalbridge.venues.paper.exchange import PaperExchange
from signalbridge.venues.paper.rules import VenueRules
from signalbridge.venues.paper.store import MemoryPaperStore, PaperStateStore

PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
BUY, SELL = OrderSide.BUY, OrderSide.SELL


async def _pg_reachable() -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", 5432), 1)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


@pytest.fixture(params=["sqlite", "postgresql"])
async def sessions(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    if request.param == "sqlite":
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'paper.db'}")
        schema = None
    else:
        if not await _pg_reachable():
            pytest.skip("PostgreSQL not reachable on 127.0.0.1:5432")
        schema = f"paper_test_{uuid.uuid4().hex[:12]}"
        admin = create_async_engine(PG_URL)
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await admin.dispose()
        engine = create_async_engine(
            PG_URL, connect_args={"server_settings": {"search_path": schema}}
        )
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: PAPER_TABLES[0].metadata.create_all(c, tables=PAPER_TABLES))
    try:
        yield async_sessionmaker(engine, expire_on_commit=False)
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: PAPER_TABLES[0].metadata.drop_all(c, tables=PAPER_TABLES))
            if schema is not None:
                await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await engine.dispose()


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def exchange(store: PaperStateStore, prefix: str = "o") -> PaperExchange:
    counter = itertools.count(1)
    return PaperExchange(store, clock=Clock(), new_id=lambda: f"{prefix}{next(counter)}")


async def script(ex: PaperExchange) -> dict[str, object]:
    """A session of trading touching every kind of state; returns what the venue reports."""
    await ex.on_price("BTC/USDT", D(60000))
    rules = VenueRules(futures=True, max_fill_fraction=D("0.5"))
    await ex.open_account("acc", rules, {"USDT": D(10000)})
    await ex.set_leverage("acc", "BTC/USDT", 5)
    await ex.create_order(
        "acc", OrderRequest("sb-1-e0", "BTC/USDT", BUY, VenueOrderType.MARKET, D("0.1"))
    )
    await ex.create_order(
        "acc",
        OrderRequest("sb-1-e1", "BTC/USDT", BUY, VenueOrderType.LIMIT, D("0.1"), price=D(59000)),
    )
    await ex.on_price("BTC/USDT", D(58950))
    await ex.on_price("BTC/USDT", D(58950))
    await ex.on_price("BTC/USDT", D("61234.5"))
    await ex.create_order(
        "acc",
        OrderRequest(
            "sb-1-tp", "BTC/USDT", SELL, VenueOrderType.MARKET, D("0.15"), reduce_only=True
        ),
    )
    return {
        "orders": [await ex.fetch_order("acc", c) for c in ("sb-1-e0", "sb-1-e1", "sb-1-tp")],
        "balances": await ex.balances("acc"),
        "positions": await ex.positions("acc"),
        "open": await ex.open_orders("acc", None),
    }


async def test_sql_store_matches_memory_store(sessions: async_sessionmaker[AsyncSession]) -> None:
    from_sql = await script(exchange(SqlPaperStore(sessions)))
    from_memory = await script(exchange(MemoryPaperStore()))
    assert from_sql == from_memory
    assert from_sql["positions"]  # 0.05 BTC still open
    assert from_sql["orders"][1].status is OrderStatus.FILLED  # type: ignore[index]


async def test_order_survives_a_restart(sessions: async_sessionmaker[AsyncSession]) -> None:
    first = exchange(SqlPaperStore(sessions))
    await first.on_price("BTC/USDT", D(60000))
    await first.open_account("acc", VenueRules(), {"USDT": D(10000)})
    req = OrderRequest("sb-42-e0", "BTC/USDT", BUY, VenueOrderType.LIMIT, D("0.01"), price=D(59000))
    placed = await first.create_order("acc", req)
    # a new process: new store and exchange objects on the same database
    second = exchange(SqlPaperStore(sessions), prefix="p")
    await second.on_price("BTC/USDT", D(60000))
    found = await second.fetch_order("acc", "sb-42-e0")
    assert found.venue_order_id == placed.venue_order_id and found.status is OrderStatus.OPEN
    with pytest.raises(InvalidRequest, match="duplicate client order id"):
        await second.create_order("acc", req)
    assert len(await second.open_orders("acc", None)) == 1
    assert await second.on_price("BTC/USDT", D(58000)) == 1
    assert (await second.fetch_order("acc", "sb-42-e0")).status is OrderStatus.FILLED
    assert (await second.balances("acc"))["BTC"].free == D("0.01")


async def test_concurrent_duplicates_place_one_order(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ex = exchange(SqlPaperStore(sessions))
    await ex.on_price("BTC/USDT", D(60000))
    await ex.open_account("acc", VenueRules(), {"USDT": D(10000)})
    req = OrderRequest("sb-9-e0", "BTC/USDT", BUY, VenueOrderType.MARKET, D("0.01"))
    results = await asyncio.gather(
        *(ex.create_order("acc", req) for _ in range(5)), return_exceptions=True
    )
    placed = [r for r in results if not isinstance(r, BaseException)]
    assert len(placed) == 1
    assert all(isinstance(r, InvalidRequest) for r in results if isinstance(r, BaseException))
    assert (await ex.balances("acc"))["BTC"].free == D("0.01")


async def test_adapter_from_config_uses_sql_when_given_sessions(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    deps = AdapterDeps(paper_store=partial(SqlPaperStore, sessions))
    config = {"futures": True, "balances": {"USDT": "5000"}, "feed": {"seed": 7}}
    adapter = PaperAdapter.from_config("conn-1", config, {}, deps=deps)
    assert isinstance(adapter.exchange.store, SqlPaperStore)
    await adapter.create_order(
        OrderRequest("sb-5-e0", "ETH/USDT", BUY, VenueOrderType.MARKET, D("0.1"))
    )
    again = PaperAdapter.from_config(
        "conn-1", config, {}, deps=AdapterDeps(paper_store=partial(SqlPaperStore, sessions))
    )
    order = await again.fetch_order("ETH/USDT", "sb-5-e0")
    assert order.status is OrderStatus.FILLED
    [position] = await again.fetch_positions()
    assert position.symbol == "ETH/USDT" and position.amount == D("0.1")
    assert (await again.fetch_balance())["USDT"].total < D(5000)


async def test_one_batch_mixes_successes_and_refusals(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ex = exchange(SqlPaperStore(sessions))
    await ex.on_price("BTC/USDT", D(60000))
    await asyncio.gather(
        ex.open_account("rich", VenueRules(), {"USDT": D(10000)}),
        ex.open_account("poor", VenueRules(), {"USDT": D(10)}),
    )

    def buy(cid: str, amount: str) -> OrderRequest:
        return OrderRequest(cid, "BTC/USDT", BUY, VenueOrderType.MARKET, D(amount))

    results = await asyncio.gather(
        ex.create_order("rich", buy("sb-1-e0", "0.01")),
        ex.create_order("poor", buy("sb-2-e0", "0.01")),
        ex.create_order("rich", buy("sb-3-e0", "0.02")),
        ex.create_order("rich", buy("sb-4-e0", "1")),
        return_exceptions=True,
    )
    assert [type(r).__name__ for r in results] == [
        "VenueOrder",
        "InsufficientFunds",
        "VenueOrder",
        "InsufficientFunds",
    ]
    assert (await ex.balances("rich"))["BTC"].free == D("0.03")  # both fills, in order
    assert "BTC" not in await ex.balances("poor")
    with pytest.raises(Exception, match="not found"):
        await ex.fetch_order("poor", "sb-2-e0")


async def test_thousand_accounts_on_sql(sessions: async_sessionmaker[AsyncSession]) -> None:
    deps = AdapterDeps(paper_store=partial(SqlPaperStore, sessions))
    adapters = [
        PaperAdapter.from_config(f"acc-{n}", {"futures": True}, {}, deps=deps) for n in range(1000)
    ]
    await asyncio.gather(*(a.probe() for a in adapters))
    orders = await asyncio.gather(
        *(
            a.create_order(
                OrderRequest(
                    f"sb-{n}-e0", "BTC/USDT", BUY, VenueOrderType.LIMIT, D("0.01"), price=D(59000)
                )
            )
            for n, a in enumerate(adapters)
        )
    )
    assert all(o.status is OrderStatus.OPEN for o in orders)
    touched = await adapters[0].exchange.on_price("BTC/USDT", D(58000))
    assert touched == 1000
    assert (await adapters[999].fetch_order("BTC/USDT", "sb-999-e0")).status is OrderStatus.FILLED


KILLED_CHILD = """
import asyncio, os, signal, sys
from decimal import Decimal as D
from functools import partial
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from signalbridge.store.paper_book import SqlPaperStore
from signalbridge.venues.base import AdapterDeps, OrderRequest, OrderSide, VenueOrderType
from signalbridge.venues.paper.adapter import PaperAdapter

async def main():
    engine = create_async_engine(sys.argv[1])
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    deps = AdapterDeps(paper_store=partial(SqlPaperStore, sessions))
    adapter = PaperAdapter.from_config("victim", {}, {}, deps=deps)
    await adapter.create_order(
        OrderRequest("sb-77-e0", "BTC/USDT", OrderSide.BUY, VenueOrderType.MARKET, D("0.01"))
    )
    os.kill(os.getpid(), signal.SIGKILL)  # die before anyone records the answer

asyncio.run(main())
"""


async def test_order_is_found_after_the_placing_process_is_killed(tmp_path: Path) -> None:
    import signal
    import sys

    db = tmp_path / "killed.db"
    url = f"sqlite+aiosqlite:///{db}"
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: PAPER_TABLES[0].metadata.create_all(c, tables=PAPER_TABLES))
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", KILLED_CHILD, url)
    assert await asyncio.wait_for(child.wait(), 60) == -signal.SIGKILL
    deps = AdapterDeps(
        paper_store=partial(SqlPaperStore, async_sessionmaker(engine, expire_on_commit=False))
    )
    adapter = PaperAdapter.from_config("victim", {}, {}, deps=deps)
    order = await adapter.fetch_order("BTC/USDT", "sb-77-e0")
    assert order.status is OrderStatus.FILLED and order.filled == D("0.01")
    assert (await adapter.fetch_balance())["BTC"].free == D("0.01")
    await engine.dispose()
