"""Stops and targets resting on Binance USDⓈ-M through the real ccxt and the fake's Algo
Service: placed, found by client id before and after they trigger (the triggered child's
fill is the order's fill), cancelled, listed with the open orders; and, through the
monitor, a position closed by its resting stop with no market exit beside it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.fakes.binance import FakeBinance, binance_server, fake_binance  # noqa: F401
from tests.integration.execution.test_ccxt_adapter import make
from tests.integration.execution.test_engine_fixtures import build_rig

from signalbridge.execution.monitor import PositionMonitor
from signalbridge.integrations import errors as sb
from signalbridge.store import models as m
from signalbridge.venues.base import OrderRequest, OrderRole, OrderSide, OrderStatus, VenueOrderType
from signalbridge.venues.ccxt.adapter import CcxtAdapter

D = Decimal


@pytest.fixture
def fake(fake_binance: FakeBinance) -> FakeBinance:  # noqa: F811
    return fake_binance


@pytest.fixture
async def linear(fake: FakeBinance) -> AsyncIterator[CcxtAdapter]:
    adapter = make(fake, "linear")
    yield adapter
    await adapter.close()


def exit_order(cid: str, kind: VenueOrderType, trigger: str, amount: str = "0.01") -> OrderRequest:
    role = OrderRole.STOP if kind is VenueOrderType.STOP_MARKET else OrderRole.TARGET
    return OrderRequest(
        cid,
        "BTC/USDT",
        OrderSide.SELL,
        kind,
        D(amount),
        stop_price=D(trigger),
        reduce_only=True,
        role=role,
    )


async def open_long(adapter: CcxtAdapter) -> None:
    entry = OrderRequest("sb-1-e0", "BTC/USDT", OrderSide.BUY, VenueOrderType.MARKET, D("0.01"))
    assert (await adapter.create_order(entry)).status is OrderStatus.FILLED


async def test_only_binance_futures_keep_resting_exits(
    linear: CcxtAdapter, fake: FakeBinance
) -> None:
    caps = linear.capabilities
    assert caps.resting_stops and caps.resting_targets and caps.stop_orders
    spot = make(fake, "spot")
    try:
        assert not (spot.capabilities.resting_stops or spot.capabilities.resting_targets)
        with pytest.raises(sb.InvalidRequest, match="monitor enforces"):
            await spot.create_order(exit_order("sb-1-s1", VenueOrderType.STOP_MARKET, "48000"))
    finally:
        await spot.close()


async def test_a_resting_stop_triggers_and_reads_as_filled(
    linear: CcxtAdapter, fake: FakeBinance
) -> None:
    await open_long(linear)
    placed = await linear.create_order(exit_order("sb-1-s1", VenueOrderType.STOP_MARKET, "48000"))
    assert (placed.status, placed.type, placed.stop_price) == (
        OrderStatus.OPEN, VenueOrderType.STOP_MARKET, D(48000))  # fmt: skip
    assert placed.client_order_id == "sb-1-s1" and placed.reduce_only
    [algo] = fake.algo.orders
    assert (algo.client_algo_id, algo.order_type, algo.trigger) == (
        "sb-1-s1", "STOP_MARKET", D(48000))  # fmt: skip
    assert (
        fake.count("/fapi/v1/algoOrder", "POST") == 1 and fake.count("/fapi/v1/order", "POST") == 1
    )
    listed = {o.client_order_id: o for o in await linear.fetch_open_orders("BTC/USDT")}
    assert listed["sb-1-s1"].type is VenueOrderType.STOP_MARKET
    found = await linear.fetch_order("BTC/USDT", "sb-1-s1")
    assert found.status is OrderStatus.OPEN and found.filled == 0

    fake.set_price("BTCUSDT", "47900")
    done = await linear.fetch_order("BTC/USDT", "sb-1-s1")
    assert (done.status, done.filled, done.average_price) == (
        OrderStatus.FILLED,
        D("0.01"),
        D(47900),
    )
    assert done.type is VenueOrderType.STOP_MARKET and done.client_order_id == "sb-1-s1"
    assert await linear.fetch_positions() == []
    assert await linear.fetch_open_orders() == []
    # Cancelling what already filled says so: the caller reads the order instead.
    with pytest.raises(sb.OrderNotFound):
        await linear.cancel_order("BTC/USDT", "sb-1-s1")


async def test_a_resting_target_is_cancelled_and_refusals_are_clear(
    linear: CcxtAdapter, fake: FakeBinance
) -> None:
    await open_long(linear)
    target = exit_order("sb-1-t1g1", VenueOrderType.TAKE_PROFIT_MARKET, "52000")
    assert (await linear.create_order(target)).status is OrderStatus.OPEN
    canceled = await linear.cancel_order("BTC/USDT", "sb-1-t1g1")
    assert canceled.status is OrderStatus.CANCELED and canceled.filled == 0
    assert canceled.type is VenueOrderType.TAKE_PROFIT_MARKET
    assert fake.algo.orders[0].status == "CANCELED"
    fake.set_price("BTCUSDT", "52500")  # a cancelled target never fires
    assert [o.side for o in fake.orders(futures=True)] == ["BUY"]
    with pytest.raises(sb.InvalidRequest, match="immediately trigger"):
        await linear.create_order(exit_order("sb-1-s2", VenueOrderType.STOP_MARKET, "53000"))
    with pytest.raises(sb.OrderNotFound):
        await linear.fetch_order("BTC/USDT", "sb-9-s1")


async def test_the_monitor_leaves_the_stop_to_binance(tmp_path: Path, fake: FakeBinance) -> None:
    rig = await build_rig(tmp_path)
    try:
        connection = await rig.connection(
            "ccxt", fake.adapter_config("linear"), fake.adapter_secrets()
        )
        follow = await rig.follow(connection, sizing={"mode": "fixed_quote", "value": "100"})
        signal_id = await rig.signal(stop_loss=Decimal(48000), take_profits=["52000", "54000"])
        await rig.engine.run(await rig.execution(signal_id, follow))
        monitor = PositionMonitor(rig.sessions, rig.pool, rig.engine, now=rig.clock)
        report = await monitor.run_once()
        assert not report.errors, report.errors
        legs = {o.leg: o for o in await rig.orders()}
        assert set(legs) == {"e0", "s1", "t1g1"}
        assert legs["s1"].status == "open" and legs["s1"].amount == legs["e0"].filled
        assert {a.client_algo_id for a in fake.algo.open("BTCUSDT")} == {
            legs["s1"].client_order_id, legs["t1g1"].client_order_id}  # fmt: skip

        fake.set_price("BTCUSDT", "47500")  # Binance fires the stop
        report = await monitor.run_once()
        assert not report.errors and report.orders == 0, report
        async with rig.sessions() as s:
            position = await s.scalar(select(m.Position).where(m.Position.signal_id == signal_id))
        assert position is not None and position.status == m.PositionStatus.CLOSED
        legs = {o.leg: o for o in await rig.orders()}
        assert legs["s1"].status == "filled" and legs["s1"].average_price == D(47500)
        assert "sl" not in legs
        await monitor.run_once()  # the leftover target is cancelled on Binance
        legs = {o.leg: o for o in await rig.orders()}
        assert legs["t1g1"].status == "canceled"
        assert fake.algo.open(None) == []
        sells = [o for o in fake.orders(futures=True) if o.side == "SELL"]
        assert len(sells) == 1 and sells[0].reduce_only
    finally:
        await rig.pool.close()
        await rig.container.engine.dispose()
