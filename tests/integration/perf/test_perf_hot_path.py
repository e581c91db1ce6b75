"""The signal hot path stays batched: a fan-out costs a fixed number of transactions, the
webhook writes a signal's executions with it, and the batched helpers keep the meaning of
their one-row counterparts (idempotent inserts, fresh reads, connection checks)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import event, func, select
from tests.platform_fixtures import Harness, eventually, make_settings

from signalbridge.bootstrap import Container, build_container
from signalbridge.domain.signals import OrderType, Side, Signal
from signalbridge.execution.engine import ExecutionEngine
from signalbridge.execution.pool import AdapterPool
from signalbridge.integrations.errors import ConnectionDisabled
from signalbridge.integrations.kernel import Kernel
from signalbridge.services.dispatch import dispatch_signal
from signalbridge.services.ingest import Interpretation, ingest
from signalbridge.store import models as m
from signalbridge.store.db import insert_ignore_many
from signalbridge.store.migrate import upgrade
from signalbridge.store.paper_book import SqlPaperStore
from signalbridge.store.types import utcnow
from signalbridge.venues.base import AdapterDeps, OrderRequest, OrderSide, VenueOrderType
from signalbridge.venues.paper.exchange import PaperExchange
from signalbridge.venues.paper.rules import VenueRules


class Counter:
    """Counts transactions and statements on an engine (SQLAlchemy events)."""

    def __init__(self, container: Container) -> None:
        self.begins = 0
        self.statements: list[str] = []
        sync = container.engine.sync_engine
        event.listen(sync, "begin", self._begin)
        event.listen(sync, "before_cursor_execute", self._statement)

    def _begin(self, *_: Any) -> None:
        self.begins += 1

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.statements.append(statement)

    def reset(self) -> None:
        self.begins = 0
        self.statements.clear()


@dataclass
class Fanout:
    container: Container
    engine: ExecutionEngine
    pool: AdapterPool
    channel_id: int
    clock: list[float]
    owner_id: int


@pytest.fixture
async def fanout(tmp_path: Path, database_url: str) -> AsyncIterator[Fanout]:
    settings = make_settings(tmp_path, database_url)
    c = build_container(settings)
    await upgrade(c.engine)
    kernel = Kernel.from_settings(settings, CollectorRegistry())
    clock = [1000.0]
    pool = AdapterPool(
        c.sessions,
        c.vault,
        c.registry,
        AdapterDeps(paper_store=partial(SqlPaperStore, c.sessions)),
        kernel.guard,
        clock=lambda: clock[0],
    )
    async with c.sessions() as s, s.begin():
        owner = m.User(email="owner@example.com", password_hash="-", role=m.Role.ADMIN)
        s.add(owner)
        await s.flush()
        channel = m.ChannelSource(name="fan", type="webhook", config={}, owner_id=owner.id)
        s.add(channel)
        await s.flush()
        channel_id, owner_id = channel.id, owner.id
    try:
        yield Fanout(c, ExecutionEngine(c.sessions, pool), pool, channel_id, clock, owner_id)
    finally:
        await pool.close()
        await c.engine.dispose()


async def add_follows(f: Fanout, count: int, start: int = 0) -> list[int]:
    ids: list[int] = []
    async with f.container.sessions() as s, s.begin():
        for i in range(start, start + count):
            conn = m.ExecutionConnection(
                name=f"paper-{i}",
                owner_id=f.owner_id,
                type="paper",
                config={
                    "account_id": f"acct-{i}",
                    "feed": {"volatility": "0"},
                    "balances": {"USDT": "100000"},
                },
            )
            s.add(conn)
            await s.flush()
            ids.append(conn.id)
            s.add(
                m.Follow(
                    connection_id=conn.id,
                    channel_id=f.channel_id,
                    sizing={"mode": "fixed_quote", "value": "20"},
                )
            )
    return ids


async def new_signal(f: Fanout, tag: str) -> tuple[int, list[int]]:
    async with f.container.sessions() as s, s.begin():
        msg = m.Message(channel_id=f.channel_id, external_id=tag, text=tag)
        s.add(msg)
        await s.flush()
        sig = m.Signal(
            message_id=msg.id,
            channel_id=f.channel_id,
            symbol="BTC/USDT",
            side="long",
            order_type="market",
            take_profits=["1000000"],
        )
        s.add(sig)
        await s.flush()
        signal_id = sig.id
    return signal_id, await dispatch_signal(f.container.sessions, signal_id)


async def test_fanout_costs_a_fixed_number_of_transactions(fanout: Fanout) -> None:
    await add_follows(fanout, 40)
    _, warm = await new_signal(fanout, "warm-up")  # accounts created, markets loaded
    await fanout.engine.run_many(warm)
    counter = Counter(fanout.container)
    signal_id, ids = await new_signal(fanout, "measured")
    counter.reset()
    await fanout.engine.run_many(ids)
    # Loads, balance reads, one planning commit, the venue's group commits, one recording
    # commit: a handful, not five per follow (40 follows would be 200).
    assert counter.begins <= 15, counter.begins
    async with fanout.container.sessions() as s:
        orders = (await s.scalars(select(m.Order).where(m.Order.execution_id.in_(ids)))).all()
        assert len(orders) == 40
        assert {o.status for o in orders} == {m.OrderStatus.FILLED}
        assert all(o.acked_at is not None and o.sent_at is not None for o in orders)
        executions = (await s.scalars(select(m.Execution).where(m.Execution.id.in_(ids)))).all()
        assert {x.status for x in executions} == {m.ExecutionStatus.OPEN}
        positions = (
            await s.scalars(select(m.Position).where(m.Position.signal_id == signal_id))
        ).all()
        assert len(positions) == 40 and all(p.amount > 0 for p in positions)
        logs = (
            await s.execute(
                select(m.ExecutionLog.execution_id, m.ExecutionLog.action).where(
                    m.ExecutionLog.execution_id.in_(ids)
                )
            )
        ).all()
        assert sorted(logs) == sorted(
            [(e, "planned") for e in ids] + [(e, "order_placed") for e in ids]
        )
        signal = await s.get_one(m.Signal, signal_id)
        assert signal.order_sent_at is not None
        assert signal.order_sent_at <= signal.order_acked_at <= signal.filled_at  # type: ignore[operator]
    # Running the same executions again changes nothing and sends nothing.
    await fanout.engine.run_many(ids)
    async with fanout.container.sessions() as s:
        count = await s.scalar(
            select(func.count()).select_from(m.Order).where(m.Order.execution_id.in_(ids))
        )
        assert count == 40


async def test_get_many_trusts_a_recent_check_like_get(fanout: Fanout) -> None:
    (connection_id,) = await add_follows(fanout, 1)
    counter = Counter(fanout.container)
    first = await fanout.pool.get_many([connection_id])
    assert counter.begins == 1
    counter.reset()
    again = await fanout.pool.get_many([connection_id])
    assert again[connection_id] is first[connection_id] and counter.begins == 0
    async with fanout.container.sessions() as s, s.begin():
        row = await s.get_one(m.ExecutionConnection, connection_id)
        row.is_active = False
    fanout.clock[0] += 10  # past the ttl: the row is read again
    later = await fanout.pool.get_many([connection_id])
    assert isinstance(later[connection_id], ConnectionDisabled)


async def test_insert_ignore_many_skips_existing_keys(fanout: Fanout) -> None:
    rows = [
        {"channel_id": fanout.channel_id, "external_id": f"x{i}", "text": "t"} for i in range(3)
    ]
    async with fanout.container.sessions() as s, s.begin():
        first = await insert_ignore_many(s, m.Message, rows[:1], ("channel_id", "external_id"))
        assert len(first) == 1
        created = await insert_ignore_many(
            s, m.Message, rows, ("channel_id", "external_id"), returning=("id", "external_id")
        )
        assert sorted(key for _, key in created) == ["x1", "x2"]
        assert await insert_ignore_many(s, m.Message, rows, ("channel_id", "external_id")) == []
        assert await insert_ignore_many(s, m.Message, [], ("channel_id", "external_id")) == []


async def test_ingest_writes_executions_with_an_accepted_signal(fanout: Fanout) -> None:
    await add_follows(fanout, 3)
    signal = Signal(
        symbol="BTC/USDT",
        side=Side.LONG,
        order_type=OrderType.MARKET,
        entry=None,
        stop_loss=None,
        take_profits=(Decimal(70000),),
        leverage=1,
    )

    async def deliver(external_id: str, confidence: str) -> Any:
        async with fanout.container.sessions() as s, s.begin():
            channel = await s.get_one(m.ChannelSource, fanout.channel_id)
            return await ingest(
                s,
                channel=channel,
                external_id=external_id,
                text="{}",
                content_type="application/json",
                received_at=utcnow(),
                interpretation=Interpretation(signal, Decimal(confidence)),
                dispatch=True,
            )

    accepted = await deliver("a", "1")
    assert len(accepted.execution_ids) == 3
    assert "execution_ids" not in accepted.to_dict()  # the answer's shape is unchanged
    review = await deliver("b", "0.1")  # below the channel's threshold: a person decides
    assert review.execution_ids == ()
    again = await deliver("a", "1")
    assert again.duplicate and again.signal_id == accepted.signal_id
    async with fanout.container.sessions() as s:
        row = await s.get_one(m.Signal, accepted.signal_id)
        assert row.status == m.SignalStatus.DISPATCHED and row.dispatched_at is not None
        assert row.parsed_at is not None and row.parsed_at <= row.dispatched_at
        pending = (await s.get_one(m.Signal, review.signal_id)).status
        assert pending == m.SignalStatus.REVIEW
    # The dispatch task, when it runs anyway (e.g. queued by the sweeper), finds the same.
    assert await dispatch_signal(fanout.container.sessions, accepted.signal_id) == list(
        accepted.execution_ids
    )
    assert await dispatch_signal(fanout.container.sessions, review.signal_id) == []


async def test_balance_reads_asked_together_share_one_query(
    tmp_path: Path, database_url: str
) -> None:
    c = build_container(make_settings(tmp_path, database_url))
    await upgrade(c.engine)
    try:
        store = SqlPaperStore(c.sessions)
        exchange = PaperExchange(store)
        accounts = [f"acct-{i}" for i in range(8)]
        for i, account in enumerate(accounts):
            await exchange.open_account(account, VenueRules(), {"USDT": Decimal(100 + i)})
        counter = Counter(c)
        balances = await asyncio.gather(*(store.get_balances(a) for a in accounts))
        assert [b["USDT"].free for b in balances] == [Decimal(100 + i) for i in range(8)]
        assert counter.begins == 1
        assert await store.get_balances("nobody") == {}
        # A read asked for after a write was answered sees that write.
        await exchange.create_order(
            accounts[0],
            OrderRequest(
                client_order_id="c1",
                symbol="BTC/USDT",
                side=OrderSide.BUY,
                type=VenueOrderType.MARKET,
                amount=Decimal("0.001"),
            ),
        )
        after = await store.get_balances(accounts[0])
        assert after["USDT"].free < Decimal(100)
    finally:
        await c.engine.dispose()


async def test_paper_tick_finds_resting_orders_of_every_symbol_in_one_query(
    tmp_path: Path, database_url: str
) -> None:
    c = build_container(make_settings(tmp_path, database_url))
    await upgrade(c.engine)
    try:
        exchange = PaperExchange(SqlPaperStore(c.sessions))
        await exchange.open_account("a", VenueRules(), {"USDT": Decimal(100000)})
        for coid, symbol, price in (("b1", "BTC/USDT", "50000"), ("e1", "ETH/USDT", "1000")):
            await exchange.create_order(
                "a",
                OrderRequest(
                    client_order_id=coid,
                    symbol=symbol,
                    side=OrderSide.BUY,
                    type=VenueOrderType.LIMIT,
                    amount=Decimal("0.01"),
                    price=Decimal(price),
                ),
            )
        holders = await exchange.store.accounts_with_open_orders_on(["BTC/USDT", "ETH/USDT", "X"])
        assert holders == {"BTC/USDT": ["a"], "ETH/USDT": ["a"]}
        prices = {"BTC/USDT": Decimal(49000), "ETH/USDT": Decimal(990)}
        touched = await exchange.on_prices(prices)
        assert touched == 2  # both resting buys filled in one tick
        assert await exchange.store.accounts_with_open_orders_on(["BTC/USDT", "ETH/USDT"]) == {}
    finally:
        await c.engine.dispose()


async def test_webhook_signal_is_placed_through_the_executions_written_with_it(
    harness: Harness,
) -> None:
    channel_id, secret = await harness.webhook_channel()
    connection_id = await harness.paper_connection()
    await harness.follow(channel_id, connection_id)
    body = {"kind": "signal", "symbol": "BTC/USDT", "side": "long", "order_type": "market"}
    response = await harness.post_signal(channel_id, secret, body)
    assert response.status_code == 202, response.text
    signal_id = response.json()["signal_id"]
    assert "execution_ids" not in response.json()

    async def placed() -> bool:
        async with harness.container.sessions() as s:
            signal = await s.get_one(m.Signal, signal_id)
            return signal.order_acked_at is not None

    await eventually(placed)
    again = await harness.post_signal(channel_id, secret, body)  # same body: same delivery
    assert again.status_code == 200 and again.json()["duplicate"]
    async with harness.container.sessions() as s:
        executions = (
            await s.scalars(select(m.Execution).where(m.Execution.signal_id == signal_id))
        ).all()
        assert len(executions) == 1
        signal = await s.get_one(m.Signal, signal_id)
        assert signal.status == m.SignalStatus.DISPATCHED
        assert signal.received_at <= signal.parsed_at <= signal.dispatched_at  # type: ignore[operator]
        assert signal.dispatched_at <= signal.order_sent_at  # type: ignore[operator]
