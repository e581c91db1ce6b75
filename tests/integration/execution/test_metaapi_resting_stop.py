"""MetaTrader's own stop loss as the resting stop (against the loopback MetaApi fake): set
on the positions an execution opened, read back as an order (open, cancelled, or filled
when the broker stopped the positions out), and, through the monitor, a position closed at
its broker-side stop with no market exit beside it; the split targets stay with the monitor."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.fakes.loopback import loopback_deps
from tests.fakes.metaapi import FakeMetaApi
from tests.integration.execution.test_engine_fixtures import build_rig
from tests.integration.execution.test_metaapi_adapter import (
    MAIN,
    TOKEN,
    market_order,
    metaapi_config,
)

from signalbridge.execution.monitor import PositionMonitor
from signalbridge.integrations.errors import InvalidRequest, OrderNotFound
from signalbridge.store import models as m
from signalbridge.venues.base import (
    OrderRequest,
    OrderRole,
    OrderSide,
    OrderStatus,
    VenueOrderType,
)
from signalbridge.venues.metaapi.adapter import MetaApiAdapter

D = Decimal


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeMetaApi]:
    server = FakeMetaApi(token=TOKEN)
    server.add_account(MAIN, balance=D(10000))
    with server:
        yield server


@pytest.fixture
async def adapter(fake: FakeMetaApi) -> AsyncIterator[MetaApiAdapter]:
    fake.reset()
    made = MetaApiAdapter.from_config(
        "conn-9", metaapi_config(fake), {"token": TOKEN}, deps=loopback_deps()
    )
    yield made
    await made.close()


def stop(coid: str, trigger: str, amount: str = "0.10") -> OrderRequest:
    return OrderRequest(
        coid,
        "EURUSD",
        OrderSide.SELL,
        VenueOrderType.STOP_MARKET,
        D(amount),
        stop_price=D(trigger),
        reduce_only=True,
        role=OrderRole.STOP,
    )


async def test_capabilities_say_stops_rest_and_targets_do_not(adapter: MetaApiAdapter) -> None:
    caps = adapter.capabilities
    assert caps.resting_stops and not caps.resting_targets and caps.reduce_only


async def test_the_stop_is_the_positions_stop_loss(
    fake: FakeMetaApi, adapter: MetaApiAdapter
) -> None:
    await adapter.create_order(market_order("sb-70-e0", OrderSide.BUY, "0.10"))
    await adapter.create_order(market_order("sb-71-e0", OrderSide.BUY, "0.20"))  # another execution
    placed = await adapter.create_order(stop("sb-70-s1", "1.08300"))
    assert (placed.status, placed.stop_price, placed.type) == (
        OrderStatus.OPEN, D("1.08300"), VenueOrderType.STOP_MARKET)  # fmt: skip
    by_client = {p.client_order_id: p for p in await adapter.fetch_position_details()}
    assert by_client["sb-70-e0"].stop_loss == D("1.08300")
    assert by_client["sb-71-e0"].stop_loss is None  # only this execution's position
    found = await adapter.fetch_order("EURUSD", "sb-70-s1", OrderRole.STOP)
    assert found.status is OrderStatus.OPEN and found.amount == D("0.10")

    canceled = await adapter.cancel_order("EURUSD", "sb-70-s1", OrderRole.STOP)
    assert canceled.status is OrderStatus.CANCELED
    by_client = {p.client_order_id: p for p in await adapter.fetch_position_details()}
    assert by_client["sb-70-e0"].stop_loss is None

    await adapter.create_order(stop("sb-70-s2", "1.08350"))
    fake.set_price(MAIN, "EURUSDm", D("1.08340"), D("1.08352"))  # the broker stops it out
    filled = await adapter.fetch_order("EURUSD", "sb-70-s2", OrderRole.STOP)
    assert (filled.status, filled.filled, filled.average_price) == (
        OrderStatus.FILLED, D("0.10"), D("1.08340"))  # fmt: skip
    assert (
        await adapter.cancel_order("EURUSD", "sb-70-s2", OrderRole.STOP)
    ).status is OrderStatus.FILLED
    [left] = await adapter.fetch_position_details()
    assert left.client_order_id == "sb-71-e0" and left.volume == D("0.20")


async def test_closed_by_us_reads_cancelled_and_refusals(adapter: MetaApiAdapter) -> None:
    with pytest.raises(InvalidRequest, match="no open long position"):
        await adapter.create_order(stop("sb-72-s1", "1.08300"))
    with pytest.raises(OrderNotFound):
        await adapter.fetch_order("EURUSD", "sb-72-s1", OrderRole.STOP)
    await adapter.create_order(market_order("sb-73-e0", OrderSide.BUY, "0.10"))
    await adapter.create_order(stop("sb-73-s1", "1.08300"))
    close = OrderRequest(
        "sb-73-sl", "EURUSD", OrderSide.SELL, VenueOrderType.MARKET, D("0.10"), reduce_only=True
    )
    assert (await adapter.create_order(close)).status is OrderStatus.FILLED
    after = await adapter.fetch_order("EURUSD", "sb-73-s1", OrderRole.STOP)
    assert after.status is OrderStatus.CANCELED and after.filled == 0
    with pytest.raises(InvalidRequest, match="INVALID_STOPS"):
        await adapter.create_order(market_order("sb-74-e0", OrderSide.BUY, "0.10"))
        await adapter.create_order(stop("sb-74-s1", "1.09000"))  # above the price


async def test_a_reduce_closes_its_own_executions_position_first(adapter: MetaApiAdapter) -> None:
    await adapter.create_order(market_order("sb-75-e0", OrderSide.BUY, "0.10"))
    await adapter.create_order(market_order("sb-76-e0", OrderSide.BUY, "0.10"))
    close = OrderRequest(
        "sb-76-t1", "EURUSD", OrderSide.SELL, VenueOrderType.MARKET, D("0.10"), reduce_only=True
    )
    await adapter.create_order(close)
    [left] = await adapter.fetch_position_details()
    assert left.client_order_id == "sb-75-e0"  # not the oldest: the one execution 76 opened


async def test_the_monitor_leaves_the_stop_to_the_broker(tmp_path: Path, fake: FakeMetaApi) -> None:
    fake.reset()
    rig = await build_rig(tmp_path)
    try:
        connection = await rig.connection("metaapi", metaapi_config(fake), {"token": TOKEN})
        follow = await rig.follow(connection, sizing={"mode": "fixed_base", "value": "0.1"})
        signal_id = await rig.signal(
            symbol="EURUSD",
            stop_loss=D("1.08300"),
            take_profits=["1.09000", "1.09500"],
        )
        await rig.engine.run(await rig.execution(signal_id, follow))
        monitor = PositionMonitor(rig.sessions, rig.pool, rig.engine, now=rig.clock)
        report = await monitor.run_once()
        assert not report.errors, report.errors
        legs = {o.leg: o for o in await rig.orders()}
        assert set(legs) == {"e0", "s1"}  # targets stay with the monitor on MetaTrader
        assert legs["s1"].status == "open" and legs["s1"].stop_price == D("1.08300")
        [position] = fake.accounts[MAIN].positions.values()
        assert position.stop_loss == D("1.08300")

        fake.set_price(MAIN, "EURUSDm", D("1.08280"), D("1.08292"))  # the broker fires
        report = await monitor.run_once()
        assert not report.errors and report.orders == 0, report
        legs = {o.leg: o for o in await rig.orders()}
        assert legs["s1"].status == "filled" and legs["s1"].filled == legs["e0"].filled
        assert "sl" not in legs
        async with rig.sessions() as s:
            row = await s.scalar(select(m.Position).where(m.Position.signal_id == signal_id))
        assert row is not None and row.status == m.PositionStatus.CLOSED
        # Valued with the market's contract size (100,000 per lot), not 1.
        expected = (D("1.08280") - row.entry_price) * legs["e0"].filled * D(100000)
        assert row.realized_pnl == expected - row.fees
        execution = await rig.execution_row(row.execution_id)
        assert execution.contract_size == D(100000)
    finally:
        await rig.pool.close()
        await rig.container.engine.dispose()
