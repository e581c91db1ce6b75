"""Binance forgets orders (issue 13, item 3): a stop that is gone after 3 days is replaced.

USDⓈ-M lookups (``/fapi/v1/order``, ``/fapi/v1/algoOrder``) stop finding orders that were
cancelled or expired unfilled once they were created more than 3 days ago, and every order
created more than 90 days ago; spot archives unfilled finished orders after 90 days. The
fake ages its orders on a clock the tests move (``FakeBinance.advance``). The engine
decides by the venue's open orders, not by a lookup allowed to forget: a resting stop that
is neither open nor known is gone, and its replacement is placed, so the position keeps
its protection. An order whose POST never reached the venue is still found absent and sent
again after the settle window.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.fakes.binance import FakeBinance
from tests.integration.execution.test_ccxt_adapter import make
from tests.integration.execution.test_engine_fixtures import Rig, build_rig

from signalbridge.execution.monitor import PositionMonitor
from signalbridge.integrations import errors as sb
from signalbridge.store import models as m
from signalbridge.venues.base import OrderRequest, OrderRole, OrderSide, OrderStatus, VenueOrderType
from signalbridge.venues.ccxt.adapter import CcxtAdapter

D = Decimal
DAY = 86_400.0


@pytest.fixture
def fake(fake_binance: FakeBinance) -> FakeBinance:
    return fake_binance


@pytest.fixture
async def linear(fake: FakeBinance) -> AsyncIterator[CcxtAdapter]:
    adapter = make(fake, "linear")
    yield adapter
    await adapter.close()


@pytest.fixture
async def spot(fake: FakeBinance) -> AsyncIterator[CcxtAdapter]:
    adapter = make(fake)
    yield adapter
    await adapter.close()


def order(cid: str, side: OrderSide, amount: str = "0.01", **kw: Any) -> OrderRequest:
    kind = kw.pop("type", VenueOrderType.MARKET)
    return OrderRequest(cid, "BTC/USDT", side, kind, D(amount), **kw)


def stop(cid: str, trigger: str = "48000") -> OrderRequest:
    return order(
        cid,
        OrderSide.SELL,
        type=VenueOrderType.STOP_MARKET,
        stop_price=D(trigger),
        reduce_only=True,
        role=OrderRole.STOP,
    )


def now_ms() -> int:
    return int(time.time() * 1000)


# --- the fake forgets as Binance does, and the adapter reads it as "not found" ---------------


async def test_futures_lookups_forget_after_3_and_90_days(
    linear: CcxtAdapter, fake: FakeBinance
) -> None:
    resting = order("sb-1-e1", OrderSide.BUY, type=VenueOrderType.LIMIT, price=D(40000))
    await linear.create_order(resting)
    await linear.create_order(order("sb-1-e0", OrderSide.BUY))  # filled at once
    await linear.cancel_order("BTC/USDT", "sb-1-e1")
    await linear.create_order(order("sb-1-e2", OrderSide.BUY, type=VenueOrderType.LIMIT,
                                    price=D(41000)))  # fmt: skip
    fake.advance(days=2)
    assert (await linear.fetch_order("BTC/USDT", "sb-1-e1")).status is OrderStatus.CANCELED
    fake.advance(days=2)  # 4 days: the unfilled cancelled order is forgotten
    with pytest.raises(sb.OrderNotFound):
        await linear.fetch_order("BTC/USDT", "sb-1-e1")
    assert (await linear.fetch_order("BTC/USDT", "sb-1-e0")).status is OrderStatus.FILLED
    fake.advance(days=87)  # 91 days: every order, even an open one, is unknown to lookups
    for cid in ("sb-1-e0", "sb-1-e2"):
        with pytest.raises(sb.OrderNotFound):
            await linear.fetch_order("BTC/USDT", cid)
    listed = [o.client_order_id for o in await linear.fetch_open_orders("BTC/USDT")]
    assert listed == ["sb-1-e2"]  # the open-order list still shows it


async def test_algo_lookups_forget_and_unknown_ids_are_not_found(
    linear: CcxtAdapter, fake: FakeBinance
) -> None:
    await linear.create_order(order("sb-2-e0", OrderSide.BUY))
    await linear.create_order(stop("sb-2-s1"))
    with pytest.raises(sb.OrderNotFound):  # -20124 "Invalid algo id or it has been completed."
        await linear.fetch_order("BTC/USDT", "sb-9-s1", OrderRole.STOP)
    canceled = await linear.cancel_order("BTC/USDT", "sb-2-s1", OrderRole.STOP)
    assert canceled.status is OrderStatus.CANCELED
    with pytest.raises(sb.OrderNotFound):  # cancelling it again: -20124 too
        await linear.cancel_order("BTC/USDT", "sb-2-s1", OrderRole.STOP)
    fake.advance(days=4)
    with pytest.raises(sb.OrderNotFound):
        await linear.fetch_order("BTC/USDT", "sb-2-s1", OrderRole.STOP)


async def test_a_resting_stop_is_cancelled_on_the_algo_service_only(
    linear: CcxtAdapter, fake: FakeBinance
) -> None:
    """On fapi.binance.com ccxt reads the matching engine's -2011 (unknown order) as a plain
    ExchangeError, not OrderNotFound: a stop must not be looked for there first."""
    await linear.create_order(order("sb-3-e0", OrderSide.BUY))
    await linear.create_order(stop("sb-3-s1"))
    assert (await linear.fetch_order("BTC/USDT", "sb-3-s1", OrderRole.STOP)).type is (
        VenueOrderType.STOP_MARKET
    )
    await linear.cancel_order("BTC/USDT", "sb-3-s1", OrderRole.STOP)
    assert fake.count("/fapi/v1/order", "DELETE") == 0
    assert fake.count("/fapi/v1/order", "GET") == 0
    assert fake.algo.orders[0].status == "CANCELED"


async def test_spot_archives_unfilled_finished_orders_after_90_days(
    spot: CcxtAdapter, fake: FakeBinance
) -> None:
    resting = order("sb-4-e0", OrderSide.BUY, type=VenueOrderType.LIMIT, price=D(40000))
    await spot.create_order(resting)
    await spot.cancel_order("BTC/USDT", "sb-4-e0")
    fake.advance(days=30)  # spot keeps more than futures
    assert (await spot.fetch_order("BTC/USDT", "sb-4-e0")).status is OrderStatus.CANCELED
    fake.advance(days=61)
    with pytest.raises(sb.OrderNotFound, match="archived"):  # -2026
        await spot.fetch_order("BTC/USDT", "sb-4-e0")


async def test_client_ids_are_unique_among_open_orders_only(
    linear: CcxtAdapter, spot: CcxtAdapter, fake: FakeBinance
) -> None:
    """Binance's documented rule (the fake's "open" mode): a finished order's id may be
    used again, an open one's may not."""
    fake.book.client_id_uniqueness = "open"
    await spot.create_order(order("sb-5-e0", OrderSide.BUY))
    await spot.create_order(order("sb-5-e0", OrderSide.BUY))  # the first one filled
    limit = order("sb-5-e1", OrderSide.BUY, type=VenueOrderType.LIMIT, price=D(40000))
    await spot.create_order(limit)
    with pytest.raises(sb.InvalidRequest, match="Duplicate"):
        await spot.create_order(limit)
    await linear.create_order(order("sb-5-e2", OrderSide.BUY))
    await linear.create_order(stop("sb-5-s1"))
    with pytest.raises(sb.InvalidRequest, match="duplicated"):
        await linear.create_order(stop("sb-5-s1"))
    await linear.cancel_order("BTC/USDT", "sb-5-s1", OrderRole.STOP)
    again = await linear.create_order(stop("sb-5-s1"))  # cancelled: the id is free again
    assert again.status is OrderStatus.OPEN
    assert [o.client_algo_id for o in fake.algo.orders] == ["sb-5-s1", "sb-5-s1"]


async def test_the_account_holds_at_most_200_conditional_orders(
    linear: CcxtAdapter, fake: FakeBinance
) -> None:
    await linear.create_order(order("sb-6-e0", OrderSide.BUY))
    base = {"algoType": "CONDITIONAL", "type": "STOP_MARKET", "side": "SELL", "quantity": "0.001"}
    for i in range(199):  # placed by the user on other symbols and in the app
        symbol = "ETHUSDT" if i % 2 else "BTCUSDT"
        trigger = "2000" if symbol == "ETHUSDT" else "30000"
        fake.algo.new({**base, "symbol": symbol, "triggerPrice": trigger}, now_ms())
    assert (await linear.create_order(stop("sb-6-s1"))).status is OrderStatus.OPEN  # the 200th
    with pytest.raises(sb.InvalidRequest, match="200 open conditional orders"):  # -4045
        await linear.create_order(stop("sb-6-s2", "47000"))
    assert len(fake.algo.open(None)) == 200


# --- the engine: a resting stop that is gone is replaced -----------------------------------


@pytest.fixture
async def rig(tmp_path: Path, database_url: str) -> AsyncIterator[Rig]:
    """The engine on SQLite and on PostgreSQL."""
    built = await build_rig(tmp_path, database_url=database_url)
    try:
        yield built
    finally:
        await built.pool.close()
        await built.container.engine.dispose()


async def trailing_position(rig: Rig, fake: FakeBinance) -> PositionMonitor:
    """A long whose stop trails 1000 behind the price, resting on the Algo Service at 49000."""
    connection = await rig.connection("ccxt", fake.adapter_config("linear"), fake.adapter_secrets())
    follow = await rig.follow(
        connection,
        sizing={"mode": "fixed_quote", "value": "100"},
        management={"trailing": {"distance": "1000"}},
    )
    signal_id = await rig.signal(stop_loss=D(45000), take_profits=["60000"])
    await rig.engine.run(await rig.execution(signal_id, follow))
    monitor = PositionMonitor(rig.sessions, rig.pool, rig.engine, now=rig.clock)
    report = await monitor.run_once()
    assert not report.errors, report.errors
    [s1] = await rig.orders(leg="s1")
    assert (s1.status, s1.stop_price) == (m.OrderStatus.OPEN, D(49000))
    return monitor


def resting_stops(fake: FakeBinance) -> list[tuple[str, Decimal]]:
    return [(o.client_algo_id, o.trigger) for o in fake.algo.open("BTCUSDT")
            if o.order_type == "STOP_MARKET"]  # fmt: skip


async def days_pass(rig: Rig, fake: FakeBinance, days: float) -> None:
    fake.advance(days=days)
    rig.clock.advance(days * DAY)


async def test_a_stop_cancelled_by_hand_days_ago_is_replaced(rig: Rig, fake: FakeBinance) -> None:
    monitor = await trailing_position(rig, fake)
    [s1] = await rig.orders(leg="s1")
    fake.algo.cancel({"clientAlgoId": s1.client_order_id}, now_ms())  # by hand, in the app
    await days_pass(rig, fake, 4)  # now its lookup has forgotten it
    fake.set_price("BTCUSDT", "52000")  # the stop trails to 51000: the old one is replaced
    report = await monitor.run_once()
    assert not report.errors, report.errors
    legs = {o.leg: o for o in await rig.orders()}
    assert legs["s1"].status == m.OrderStatus.CANCELED
    assert legs["s2"].status == m.OrderStatus.OPEN
    assert resting_stops(fake) == [(legs["s2"].client_order_id, D(51000))]


async def test_a_stop_the_lookup_forgot_is_replaced(rig: Rig, fake: FakeBinance) -> None:
    """After 90 days the stop still rests, but its lookup no longer finds it."""
    monitor = await trailing_position(rig, fake)
    [s1] = await rig.orders(leg="s1")
    await days_pass(rig, fake, 91)
    fake.set_price("BTCUSDT", "52000")
    report = await monitor.run_once()
    assert not report.errors, report.errors
    legs = {o.leg: o for o in await rig.orders()}
    assert legs["s1"].status == m.OrderStatus.CANCELED
    assert fake.algo.find({"clientAlgoId": s1.client_order_id}).status == "CANCELED"
    assert resting_stops(fake) == [(legs["s2"].client_order_id, D(51000))]


async def test_a_stop_whose_post_never_arrived_is_sent_again(rig: Rig, fake: FakeBinance) -> None:
    connection = await rig.connection("ccxt", fake.adapter_config("linear"), fake.adapter_secrets())
    follow = await rig.follow(connection, sizing={"mode": "fixed_quote", "value": "100"})
    signal_id = await rig.signal(stop_loss=D(48000), take_profits=["60000"])
    await rig.engine.run(await rig.execution(signal_id, follow))
    monitor = PositionMonitor(rig.sessions, rig.pool, rig.engine, now=rig.clock)
    fake.fail_next("/fapi/v1/algoOrder", 2, kind="reset", method="POST")  # stop and target
    await monitor.run_once()
    [s1] = await rig.orders(leg="s1")
    assert s1.status == m.OrderStatus.SENDING and fake.algo.orders == []
    await monitor.run_once()  # looked up inside the settle window: not known yet
    assert (await rig.orders(leg="s1"))[0].status == m.OrderStatus.SENDING
    rig.clock.advance(31)  # past the settle window: absent, so sent again with its id
    for _ in range(3):
        await monitor.run_once()
    [s1] = await rig.orders(leg="s1")
    assert s1.status == m.OrderStatus.OPEN
    assert resting_stops(fake) == [(s1.client_order_id, D(48000))]
