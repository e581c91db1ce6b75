"""Position sync on the paper venue through the real platform: a position closed or reduced
by hand is picked up in one sync (closed_outside, resting orders cancelled or resized), a
stop cancelled by hand is rested again or left to the monitor as the follow says, and a
foreign position is reported and never touched."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select, update
from tests.integration.execution.test_monitor_exits import Rig, market_signal
from tests.platform_fixtures import Harness

from signalbridge.store import models as m
from signalbridge.store.types import utcnow
from signalbridge.venues.base import (
    OrderRequest,
    OrderRole,
    OrderSide,
    VenueOrderType,
)

D = Decimal
HAND = itertools.count(1)
LIVE = ("pending", "sending", "open", "partially_filled")


async def opened(harness: Harness, name: str = "p", **management: object) -> tuple[Rig, int]:
    """A long BTC/USDT position on its own paper futures account, with its stop and TP1
    resting there."""
    rig = Rig(harness)
    rig.monitor = harness.container.monitor  # the scheduler's monitor, beside its sync
    await rig.setup(dict(management), name, native=True)
    signal_id = await rig.open(market_signal())
    await rig.tick("59500")  # the stop and TP1 rest on the venue
    await settled(rig)
    return rig, signal_id


async def settled(rig: Rig) -> None:
    """Our rows were last changed a while ago: outside the settle window."""
    async with rig.h.container.sessions() as s, s.begin():
        await s.execute(update(m.Position).values(updated_at=utcnow() - timedelta(minutes=5)))


async def by_hand(rig: Rig, side: OrderSide, amount: Decimal, symbol: str = "BTC/USDT") -> None:
    """A market order the user places on the venue itself, without our client id."""
    live = await rig.h.container.adapter_pool.get(rig.connection_id)
    req = OrderRequest(f"web{next(HAND)}", symbol, side, VenueOrderType.MARKET, amount)
    await live.adapter.create_order(req)


def legs(orders: list[m.Order]) -> dict[str, m.Order]:
    return {o.leg: o for o in orders}


async def test_closed_by_hand_is_closed_outside_and_a_foreign_position_is_left_alone(
    harness: Harness,
) -> None:
    rig, signal_id = await opened(harness)
    position = await rig.position(signal_id)
    assert position is not None
    await by_hand(rig, OrderSide.BUY, D("0.5"), "ETH/USDT")  # opened by the user
    await by_hand(rig, OrderSide.SELL, position.amount)  # ours, closed by the user

    report = await harness.platform.sync_positions()

    assert report.closed_outside == [position.id] and not report.failed
    closed = await rig.position(signal_id)
    assert closed is not None and closed.status == "closed" and closed.amount == 0
    assert closed.close_reason == "closed_outside"
    shown = await harness.ok("GET", f"/positions/{position.id}")
    assert shown["close_reason"] == "closed_outside"
    orders = legs(await rig.orders(signal_id))
    exit_ = orders["x1"]
    assert (exit_.status, exit_.filled, exit_.side) == ("filled", position.amount, "sell")
    assert exit_.sent_at is None  # recorded, never sent
    # realised PnL at the price used, as far as we know it (no fee known for the hand close)
    gross = (exit_.average_price - position.entry_price) * position.amount  # type: ignore[operator]
    assert closed.realized_pnl == gross - closed.fees
    assert orders["s1"].status == orders["t1g1"].status == "canceled"
    live = await harness.container.adapter_pool.get(rig.connection_id)
    assert await live.adapter.fetch_open_orders() == []
    [row] = [r for r in await rig.logs(signal_id) if r.action == "closed_outside"]
    assert row.reason and "outside SignalBridge" in row.reason and "price" in row.reason
    # positions (read twice: a close outside is acted on only when a second read agrees)
    # and open orders; a ticker only when the monitor left no mark price
    assert report.requests == 3 + ("ticker" in row.reason)

    # the foreign position: recorded and shown, nothing ever sent for it
    assert report.foreign_new == 1
    async with harness.container.sessions() as s:
        [foreign] = (await s.scalars(select(m.ForeignPosition))).all()
        eth_orders = await s.scalar(select(m.Order.id).where(m.Order.symbol == "ETH/USDT"))
    assert (foreign.symbol, foreign.side, foreign.amount) == ("ETH/USDT", "long", D("0.5"))
    assert foreign.gone_at is None and eth_orders is None
    body = await harness.ok("GET", "/foreign-positions")
    assert [(p["symbol"], p["side"], D(p["amount"])) for p in body["items"]] == [
        ("ETH/USDT", "long", D("0.5"))
    ]

    again = await harness.platform.sync_positions()  # nothing new
    assert again.closed_outside == again.reduced_outside == [] and again.foreign_new == 0
    await by_hand(rig, OrderSide.SELL, D("0.5"), "ETH/USDT")  # the user closes it
    gone = await harness.platform.sync_positions()
    assert gone.foreign_gone == 1
    async with harness.container.sessions() as s:
        [foreign] = (await s.scalars(select(m.ForeignPosition))).all()
        actions = (
            await s.scalars(
                select(m.ExecutionLog.action).where(
                    m.ExecutionLog.action.in_(("foreign_position", "foreign_position_gone"))
                )
            )
        ).all()
    assert foreign.gone_at is not None
    assert sorted(actions) == ["foreign_position", "foreign_position_gone"]


async def test_hand_cancelled_stops_rest_again_or_stay_off_and_a_reduction_resizes(
    harness: Harness,
) -> None:
    again, again_id = await opened(harness, "p")  # on_manual_cancel: replace (the default)
    left, left_id = await opened(harness, "q", on_manual_cancel="leave")
    stops = {}
    for rig, signal_id in ((again, again_id), (left, left_id)):
        stop = legs(await rig.orders(signal_id))["s1"]
        live = await harness.container.adapter_pool.get(rig.connection_id)
        await live.adapter.cancel_order("BTC/USDT", stop.client_order_id, OrderRole.STOP)
        stops[rig.connection_id] = stop

    report = await harness.platform.sync_positions()

    assert sorted(report.by_hand) == sorted(s.id for s in stops.values())
    for rig, signal_id in ((again, again_id), (left, left_id)):
        row = legs(await rig.orders(signal_id))["s1"]
        assert row.status == "canceled" and row.error == "cancelled by hand on the venue"
    [note] = [r for r in await again.logs(again_id) if r.action == "manual_cancel_noticed"]
    assert note.reason and "rest again" in note.reason
    [note] = [r for r in await left.logs(left_id) if r.action == "manual_cancel_noticed"]
    assert note.reason and "left off" in note.reason

    await again.tick("59500")  # one monitor tick for both accounts
    await again.tick("59400")
    s2 = legs(await again.orders(again_id))["s2"]
    assert s2.status == "open" and s2.stop_price == stops[again.connection_id].stop_price
    assert "s2" not in legs(await left.orders(left_id))  # left off

    # the first account's position is halved by hand: its stop is resized on the next tick
    position = await again.position(again_id)
    assert position is not None
    half = (position.amount / 2).quantize(D("0.00001"))
    await by_hand(again, OrderSide.SELL, half)
    await settled(again)
    report = await harness.platform.sync_positions()
    assert report.reduced_outside == [position.id] and report.closed_outside == []
    reduced = await again.position(again_id)
    assert reduced is not None and reduced.status == "open" and reduced.close_reason is None
    assert reduced.amount == position.amount - half
    await again.tick("59500")
    live_stops = [o for o in await again.orders(again_id) if o.leg[0] == "s" and o.status in LIVE]
    assert [o.amount for o in live_stops] == [reduced.amount]

    await left.tick("57900")  # through the stop level left off: the monitor closes at market
    closed = await left.position(left_id)
    assert closed is not None and closed.status == "closed"
    assert legs(await left.orders(left_id))["sl"].status == "filled"
