"""Position sync through the real clients against each venue's loopback fake: a position
closed by hand on the venue's website (a market order without our client id) is closed in
our books within one sync, with one positions read and one open-orders read; the order
sync reads one list per connection and looks up only the orders it does not show.

Each test gets the ``rig`` fixture (``test_engine_fixtures``, via this folder's conftest:
a fresh database, closed after the test) and connects it to the module's fake."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from sqlalchemy import select
from tests.fakes.binance import FakeBinance
from tests.fakes.bybit import FakeBybit, bybit_server, fake_bybit  # noqa: F401
from tests.fakes.metaapi import FakeMetaApi
from tests.fakes.okx import FakeOkx, fake_okx, okx_server  # noqa: F401
from tests.integration.execution.test_engine_fixtures import Rig
from tests.integration.execution.test_metaapi_adapter import MAIN, TOKEN, metaapi_config

from signalbridge.execution.order_sync import OrderSync, resting_orders
from signalbridge.execution.position_sync import PositionSync, SyncReport
from signalbridge.store import models as m

D = Decimal
LIMIT = {"order_type": "limit", "entry_low": D(49900), "entry_high": D(50000)}


@pytest.fixture(scope="module")
def metaapi() -> Iterator[FakeMetaApi]:
    server = FakeMetaApi(token=TOKEN)
    server.add_account(MAIN, balance=D(10000))
    with server:
        yield server


async def ccxt_connection(rig: Rig, fake: FakeBinance | FakeBybit | FakeOkx, kind: str) -> int:
    """A ccxt connection of ``kind`` (``linear``, ``spot``) to ``fake``."""
    return await rig.connection("ccxt", fake.adapter_config(kind), fake.adapter_secrets())


async def resting_follow(rig: Rig, fake: FakeBinance, connection: int) -> int:
    """A follow whose ``LIMIT`` entries rest: the market is above the entry zone."""
    follow = await rig.follow(connection, sizing={"mode": "fixed_quote", "value": "100"})
    fake.set_price("BTCUSDT", "50010")
    return follow


async def closed_by_hand(
    rig: Rig,
    connection: int,
    hand_close: Callable[[Decimal], None],
    *,
    sizing: dict[str, str] | None = None,
    **signal: object,
) -> tuple[m.Position, SyncReport]:
    """Open a position through the engine, close it by hand on the venue, sync once."""
    follow = await rig.follow(connection, sizing=sizing or {"mode": "fixed_quote", "value": "100"})
    signal_id = await rig.signal(**signal)
    await rig.engine.run(await rig.execution(signal_id, follow))
    async with rig.sessions() as s:
        position = await s.scalar(select(m.Position).where(m.Position.signal_id == signal_id))
    assert position is not None and position.status == m.PositionStatus.OPEN
    hand_close(position.amount)
    rig.clock.advance(60)  # outside the settle window
    report = await PositionSync(rig.engine).run_once()
    async with rig.sessions() as s:
        after = await s.get_one(m.Position, position.id)
    assert report.closed_outside == [position.id], report
    assert after.status == m.PositionStatus.CLOSED and after.close_reason == "closed_outside"
    assert after.amount == 0
    [exit_] = await rig.orders(execution_id=position.execution_id, leg="x1")
    assert exit_.status == m.OrderStatus.FILLED and exit_.filled == position.amount
    assert len(await rig.logs("closed_outside")) == 1
    again = await PositionSync(rig.engine).run_once()
    assert again.closed_outside == [] and again.reduced_outside == []
    return position, report


async def test_binance_futures(fake_binance: FakeBinance, rig: Rig) -> None:
    fake = fake_binance
    connection = await ccxt_connection(rig, fake, "linear")
    lists, risks = fake.count("/fapi/v1/openOrders"), fake.count("/fapi/v3/positionRisk")
    algo = fake.count("/fapi/v1/openAlgoOrders")
    _, report = await closed_by_hand(
        rig, connection, lambda amount: fake.trade_by_hand("SELL", amount, reduce_only=True)
    )
    # per sync: one positions read, one open-orders read (Binance keeps stops on its Algo
    # Service: that list is part of the one read), a ticker for the price of the close,
    # and a second positions read that confirms the close before anything is cancelled
    assert report.requests == 4
    # (the second sync asks nothing: no position, no resting order left)
    assert fake.count("/fapi/v1/openOrders") - lists == 1
    assert fake.count("/fapi/v1/openAlgoOrders") - algo == 1
    assert fake.count("/fapi/v3/positionRisk") - risks == 2


async def test_bybit_linear(fake_bybit: FakeBybit, rig: Rig) -> None:  # noqa: F811
    bybit = fake_bybit
    connection = await ccxt_connection(rig, bybit, "linear")
    await closed_by_hand(
        rig, connection, lambda amount: bybit.trade_by_hand("Sell", amount, reduce_only=True)
    )
    assert bybit.position_size("BTCUSDT") == 0


async def test_okx_swap(fake_okx: FakeOkx, rig: Rig) -> None:  # noqa: F811
    connection = await ccxt_connection(rig, fake_okx, "linear")
    await closed_by_hand(
        rig, connection, lambda sz: fake_okx.trade_by_hand("sell", sz, reduce_only=True)
    )
    assert fake_okx.positions() == []


async def test_metaapi(metaapi: FakeMetaApi, rig: Rig) -> None:
    metaapi.reset()
    connection = await rig.connection("metaapi", metaapi_config(metaapi), {"token": TOKEN})
    await closed_by_hand(
        rig,
        connection,
        lambda _: metaapi.close_by_hand(MAIN),
        sizing={"mode": "fixed_base", "value": "0.1"},
        symbol="EURUSD",
        stop_loss=D("1.08300"),
        take_profits=["1.11000"],
    )
    assert metaapi.accounts[MAIN].positions == {}


async def test_order_sync_reads_one_list_per_connection(
    fake_binance: FakeBinance, rig: Rig
) -> None:
    fake = fake_binance
    follow = await resting_follow(rig, fake, await ccxt_connection(rig, fake, "linear"))
    executions = [await rig.execution(await rig.signal(**LIMIT), follow) for _ in range(4)]
    for execution_id in executions:
        await rig.engine.run(execution_id)
    rows = await rig.orders()
    assert len(rows) >= 4 and all(o.status == m.OrderStatus.OPEN for o in rows)
    sync = OrderSync(rig.engine)
    lists, lookups = (
        fake.count("/fapi/v1/openOrders", "GET"),
        fake.count("/fapi/v1/order", "GET"),
    )

    assert await sync.run_once() == len(rows)
    assert fake.count("/fapi/v1/openOrders", "GET") - lists == 1  # one list, not one each
    assert fake.count("/fapi/v1/order", "GET") == lookups  # nothing looked up

    whole = fake.order(rows[0].client_order_id).qty
    fake.set_order_status(rows[0].client_order_id, "FILLED", executed_qty=whole)
    await sync.run_once()
    assert fake.count("/fapi/v1/openOrders", "GET") - lists == 2
    assert fake.count("/fapi/v1/order", "GET") - lookups == 1  # only the one not listed
    [filled] = await rig.orders(id=rows[0].id)
    assert filled.status == m.OrderStatus.FILLED
    assert await rig.count(m.Position, execution_id=filled.execution_id) == 1


async def test_an_order_settled_after_the_list_was_read_is_not_judged_again(
    fake_binance: FakeBinance, rig: Rig
) -> None:
    """The venues are read outside the books' lock: an order our own cancel settled between
    the list and the comparison is neither looked up nor taken for a cancel by hand."""
    fake = fake_binance
    connection = await ccxt_connection(rig, fake, "linear")
    follow = await resting_follow(rig, fake, connection)
    await rig.engine.run(await rig.execution(await rig.signal(**LIMIT), follow))
    async with rig.sessions() as s:
        rows = (await resting_orders(s))[connection]
    [order] = rows
    fake.set_order_status(order.client_order_id, "CANCELED")
    live = await rig.pool.get(connection)
    listed = await live.adapter.fetch_open_orders()
    async with rig.sessions() as s, s.begin():  # what our cancel records meanwhile
        row = await s.get_one(m.Order, order.order_id)
        row.status = m.OrderStatus.CANCELED
    lookups = fake.count("/fapi/v1/order", "GET")
    result = await OrderSync(rig.engine).apply(rows, listed)
    assert result.looked_up == [] and result.by_hand == [] and result.unsure == []
    assert fake.count("/fapi/v1/order", "GET") == lookups


async def test_spot_balances_are_not_positions(fake_binance: FakeBinance, rig: Rig) -> None:
    fake = fake_binance
    connection = await ccxt_connection(rig, fake, "spot")
    follow = await rig.follow(connection, sizing={"mode": "fixed_quote", "value": "100"})
    await rig.engine.run(await rig.execution(await rig.signal(), follow))
    assert await rig.count(m.Position, status=m.PositionStatus.OPEN) == 1
    fake.set_spot_balance("BTC", "0")  # sold elsewhere: a balance, not a position
    rig.clock.advance(60)
    risks = fake.count("/fapi/v3/positionRisk") + fake.count("/fapi/v2/positionRisk")
    report = await PositionSync(rig.engine).run_once()
    assert report.closed_outside == [] and report.foreign_new == 0 and not report.failed
    assert fake.count("/fapi/v3/positionRisk") + fake.count("/fapi/v2/positionRisk") == risks
    assert await rig.count(m.Position, status=m.PositionStatus.OPEN) == 1
