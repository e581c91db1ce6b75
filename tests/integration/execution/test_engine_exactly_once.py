"""Reliability rows 9, 10, 12, 13 and 15 through the engine, the real ccxt and the fake
Binance: a timeout never means that an order failed, and an order is never sent twice.

The fake follows Binance's client-id rule (unique among OPEN orders only): a filled order's
id would be accepted again, so row 12 holds only because the engine proves absence a second
way before any re-send (:mod:`signalbridge.execution.absence`). Runs on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError
from tests.fakes.binance import FakeBinance
from tests.integration.execution.test_engine_fixtures import Rig, build_rig

from signalbridge.store import models as m

POST_ORDER = ("/api/v3/order", "POST")


@pytest.fixture
async def rig(tmp_path: Path, database_url: str) -> AsyncIterator[Rig]:
    built = await build_rig(tmp_path, database_url=database_url)
    try:
        yield built
    finally:
        await built.pool.close()
        await built.container.engine.dispose()


async def ccxt_follow(rig: Rig, fake: FakeBinance) -> int:
    connection_id = await rig.connection(
        "ccxt", fake.adapter_config("spot", timeout_ms=1000), fake.adapter_secrets()
    )
    return await rig.follow(connection_id, sizing={"mode": "fixed_quote", "value": "50"})


async def test_row9_accept_then_drop_100_times_one_order_each(
    rig: Rig, fake_binance: FakeBinance
) -> None:
    fake = fake_binance
    follow_id = await ccxt_follow(rig, fake)
    fake.accept_then_drop(100, kind="reset")
    executions = [await rig.execution(await rig.signal(), follow_id) for _ in range(100)]
    for execution_id in executions:
        await rig.engine.run(execution_id)
    assert fake.count(*POST_ORDER) == 100  # one POST per signal, never a blind second one
    venue = fake.orders()
    assert len(venue) == 100 and len({o.client_order_id for o in venue}) == 100
    rows = await rig.orders()
    assert {o.client_order_id for o in rows} == {o.client_order_id for o in venue}
    assert all(o.status == m.OrderStatus.FILLED for o in rows)  # matches the venue
    assert len(await rig.logs("order_outcome_unknown")) == 100


async def test_row10_no_second_post_until_lookup_says_absent(
    rig: Rig, fake_binance: FakeBinance
) -> None:
    fake = fake_binance
    follow_id = await ccxt_follow(rig, fake)
    execution_id = await rig.execution(await rig.signal(), follow_id)
    # the POST fails without being processed (reset before the matching engine)
    fake.fail_next("/api/v3/order", 1, kind="reset", method="POST")
    await rig.engine.run(execution_id)
    assert fake.count(*POST_ORDER) == 1
    assert fake.count("/api/v3/order", "GET") >= 1  # the lookup came first
    [order] = await rig.orders()
    assert order.status == m.OrderStatus.SENDING and fake.orders() == []
    # inside the settle window a not-found lookup never re-sends
    for _ in range(3):
        await rig.engine.run(execution_id)
    assert fake.count(*POST_ORDER) == 1
    # after the window, the venue still does not know it: back to pending, then sent again
    rig.clock.advance(31)
    await rig.engine.run(execution_id)
    await rig.engine.run(execution_id)
    assert fake.count(*POST_ORDER) == 2
    assert [o.client_order_id for o in fake.orders()] == [order.client_order_id]
    [order] = await rig.orders()
    assert order.status == m.OrderStatus.FILLED
    gets = [i for i, (meth, p) in enumerate(fake.request_log) if p == "/api/v3/order"]
    methods = [fake.request_log[i][0] for i in gets]
    assert methods[0] == "POST" and methods[-1] == "POST"
    assert "GET" in methods[1:-1]  # a lookup proved absence between the two POSTs
    # and so did the account's trades and open orders on the symbol (the second proof)
    assert fake.count("/api/v3/myTrades", "GET") >= 1
    assert fake.count("/api/v3/openOrders", "GET") >= 1


async def test_row12_not_found_k_times_neither_cancelled_nor_placed_again(
    rig: Rig, fake_binance: FakeBinance
) -> None:
    fake = fake_binance
    follow_id = await ccxt_follow(rig, fake)
    execution_id = await rig.execution(await rig.signal(), follow_id)
    fake.hide_new_orders(4)
    fake.accept_then_drop(1, kind="reset")
    await rig.engine.run(execution_id)  # created, answer lost, lookup: not found (1)
    for _ in range(2):
        await rig.engine.run(execution_id)  # not found (2, 3) inside the window
    rig.clock.advance(31)
    # (4) after the window the venue still says not found. Binance would accept the same id
    # again (the first order FILLED, so it is no longer open): the account's trades since
    # the intent show a fill no known order explains, so nothing is sent; (5) the lookup
    # finds the order: tracked, once.
    await rig.engine.run(execution_id)
    await rig.engine.run(execution_id)
    assert fake.count(*POST_ORDER) == 1
    assert fake.count("/api/v3/order", "DELETE") == 0
    venue = fake.orders()
    assert len(venue) == 1
    [order] = await rig.orders()
    assert order.status == m.OrderStatus.FILLED and order.venue_order_id == str(venue[0].order_id)
    assert (await rig.execution_row(execution_id)).status == m.ExecutionStatus.OPEN


async def test_row12_not_found_inside_window_resumes_tracking(
    rig: Rig, fake_binance: FakeBinance
) -> None:
    fake = fake_binance
    follow_id = await ccxt_follow(rig, fake)
    execution_id = await rig.execution(await rig.signal(), follow_id)
    fake.hide_new_orders(3)
    fake.accept_then_drop(1, kind="reset")
    await rig.engine.run(execution_id)
    await rig.engine.run(execution_id)
    await rig.engine.run(execution_id)
    assert (await rig.orders())[0].status == m.OrderStatus.SENDING
    await rig.engine.run(execution_id)  # the venue shows it now
    [order] = await rig.orders()
    assert order.status == m.OrderStatus.FILLED
    assert fake.count(*POST_ORDER) == 1 and fake.count("/api/v3/order", "DELETE") == 0
    assert len(await rig.logs("order_not_found_yet")) >= 1


async def test_row13_network_errors_while_polling_keep_the_order_tracked(
    rig: Rig, fake_binance: FakeBinance
) -> None:
    fake = fake_binance
    connection_id = await rig.connection(
        "ccxt", fake.adapter_config("spot", timeout_ms=1000), fake.adapter_secrets()
    )
    follow_id = await rig.follow(connection_id, sizing={"mode": "fixed_quote", "value": "50"})
    execution_id = await rig.execution(
        await rig.signal(order_type="limit", entry_low=Decimal(49900), entry_high=Decimal(50000)),
        follow_id,
    )
    fake.set_price("BTCUSDT", "50010")
    await rig.engine.run(execution_id)
    [order] = await rig.orders()
    assert order.status == m.OrderStatus.OPEN
    # "minutes" of connection errors: every poll over 10 simulated minutes fails
    fake.fail_next("/api/v3/order", 1000, kind="reset", method="GET")
    for _ in range(20):
        rig.clock.advance(30)
        assert await rig.engine.reconcile(order.id) is False
    [order] = await rig.orders()
    assert order.status == m.OrderStatus.OPEN  # a network error is not "not found"
    assert len(await rig.logs("lookup_failed")) == 20
    fake.clear_faults()  # the network comes back
    fake.set_price("BTCUSDT", "49950")  # the resting limit fills while we could not see it
    gets = fake.count("/api/v3/order", "GET")
    assert await rig.engine.reconcile(order.id) is False  # the breaker opened: no call
    assert fake.count("/api/v3/order", "GET") == gets
    rig.kernel.ticks.advance(31)  # its cool-down passes; the half-open trial succeeds
    assert await rig.engine.reconcile(order.id) is True
    [order] = await rig.orders()
    assert order.status == m.OrderStatus.FILLED and order.filled == order.amount
    assert await rig.count(m.Position, execution_id=execution_id) == 1
    assert fake.count(*POST_ORDER) == 1


async def test_row15_reused_client_id_stopped_by_our_unique_constraint(
    rig: Rig, fake_binance: FakeBinance
) -> None:
    fake = fake_binance
    fake.reuse_client_order_ids = True  # the venue would accept the same id twice
    follow_id = await ccxt_follow(rig, fake)
    execution_id = await rig.execution(await rig.signal(), follow_id)
    # many workers race on the same execution and on its order
    await asyncio.gather(*(rig.engine.run(execution_id) for _ in range(5)))
    [order] = await rig.orders()
    await asyncio.gather(*(rig.engine.place(order.id) for _ in range(5)))
    assert fake.count(*POST_ORDER) == 1 and len(fake.orders()) == 1
    # a second intent with the same (connection, client order id) cannot even be written
    async with rig.sessions() as s:
        s.add(
            m.Order(
                execution_id=execution_id,
                connection_id=order.connection_id,
                client_order_id=order.client_order_id,
                leg="e0",
                symbol="BTC/USDT",
                side="buy",
                type="market",
                amount=Decimal("0.001"),
            )
        )
        try:
            await s.commit()
        except IntegrityError:
            await s.rollback()
        else:
            raise AssertionError("the unique constraint let a second intent in")
    assert fake.count(*POST_ORDER) == 1
