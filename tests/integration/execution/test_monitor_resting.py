"""Stops and targets resting on the venue (paper futures): placed after the entry fills,
kept in step with the position, acting while SignalBridge is away, cancelled when they no
longer fit, and never doubled by a market exit of the monitor or of a provider update."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from tests.integration.execution.test_monitor_exits import Rig, execution_of, market_signal
from tests.integration.execution.test_monitor_updates import apply, post_update
from tests.platform_fixtures import Harness

from signalbridge.execution.monitor import PositionMonitor
from signalbridge.execution.sending import NoHooks
from signalbridge.integrations.errors import TransientError
from signalbridge.store import models as m
from signalbridge.venues.base import OrderRole, OrderStatus, VenueOrder

D = Decimal
LIVE = ("pending", "sending", "open", "partially_filled")


async def native_rig(harness: Harness, **management: object) -> tuple[Rig, int]:
    rig = Rig(harness)
    await rig.setup(dict(management), native=True)
    signal_id = await rig.open(market_signal())
    await rig.tick("59500")  # the first tick makes the stop and TP1 rest on the venue
    return rig, signal_id


def new_monitor(rig: Rig, grace: timedelta = timedelta(seconds=10)) -> PositionMonitor:
    """A monitor as a restarted worker has it (an empty memory); ``grace`` as configured."""
    c = rig.h.container
    return PositionMonitor(c.sessions, c.adapter_pool, c.execution, resting_grace=grace)


def by_leg(orders: list[m.Order]) -> dict[str, m.Order]:
    return {o.leg: o for o in orders}


def live_stops(orders: list[m.Order]) -> list[m.Order]:
    return [o for o in orders if o.leg.startswith("s") and o.status in LIVE]


async def venue_orders(rig: Rig) -> list[VenueOrder]:
    live = await rig.h.container.adapter_pool.get(rig.connection_id)
    return list(await live.adapter.fetch_open_orders())


async def venue_moves(rig: Rig, price: str) -> None:
    """The price moves on the venue while no monitor runs (SignalBridge is away)."""
    await rig.h.container.adapter_deps.shared["paper"].on_price("BTC/USDT", D(price))


async def sync_orders(rig: Rig) -> None:
    """What the worker's order-sync job does: ask the venue about every resting order."""
    async with rig.h.container.sessions() as s:
        ids = (await s.scalars(select(m.Order.id).where(m.Order.status.in_(("open",))))).all()
    for order_id in ids:
        await rig.h.container.execution.reconcile(order_id)


async def test_stop_and_first_target_rest_on_the_venue(harness: Harness) -> None:
    rig, signal_id = await native_rig(harness)
    orders = by_leg(await rig.orders(signal_id))
    entry, stop, target = orders["e0"], orders["s1"], orders["t1g1"]
    assert set(orders) == {"e0", "s1", "t1g1"}
    assert (stop.type, stop.side, stop.reduce_only, stop.status) == (
        "stop_market", "sell", True, "open")  # fmt: skip
    assert stop.stop_price == D(58000) and stop.amount == entry.filled
    assert stop.client_order_id == f"sb-{stop.execution_id}-s1"
    third = (entry.filled / 3).quantize(D("0.00001"), rounding="ROUND_DOWN")
    assert (target.type, target.stop_price, target.amount) == (
        "take_profit_market", D(61000), third)  # fmt: skip
    on_venue = {o.client_order_id: o for o in await venue_orders(rig)}
    assert on_venue[stop.client_order_id].stop_price == D(58000)
    assert on_venue[target.client_order_id].reduce_only
    # Another tick at a quiet price changes nothing (no cancel, no new generation).
    await rig.tick("59600")
    assert set(by_leg(await rig.orders(signal_id))) == {"e0", "s1", "t1g1"}
    logs = [row.action for row in await rig.logs(signal_id)]
    assert logs.count("protective_order") == 2


async def test_the_venue_stop_closes_the_position_while_we_are_away(harness: Harness) -> None:
    rig, signal_id = await native_rig(harness)
    await venue_moves(rig, "57900")
    await sync_orders(rig)  # the worker's order sync records the venue's fill
    position = await rig.position(signal_id)
    assert position is not None and position.status == "closed" and position.amount == 0
    orders = by_leg(await rig.orders(signal_id))
    assert orders["s1"].status == "filled" and orders["s1"].filled == orders["e0"].filled
    assert orders["t1g1"].status == "open"  # still on the venue until the next tick
    await rig.tick("57800")
    orders = by_leg(await rig.orders(signal_id))
    assert orders["t1g1"].status == "canceled" and "sl" not in orders
    assert await venue_orders(rig) == []
    gross = (orders["s1"].average_price - orders["e0"].average_price) * orders["e0"].filled  # type: ignore[operator]
    assert position.realized_pnl == gross - orders["e0"].fee - orders["s1"].fee
    assert await rig.wallet() - D(10_000) == position.realized_pnl


async def test_a_stop_seen_by_the_monitor_is_left_to_the_venue(harness: Harness) -> None:
    rig, signal_id = await native_rig(harness)
    await rig.tick("57900")  # the venue fills s1; the monitor asks it instead of selling
    position = await rig.position(signal_id)
    assert position is not None and position.status == "closed"
    orders = by_leg(await rig.orders(signal_id))
    assert "sl" not in orders and orders["s1"].status == "filled"
    await rig.tick("57900")
    assert by_leg(await rig.orders(signal_id))["t1g1"].status == "canceled"


async def test_targets_step_through_and_the_stop_follows_break_even(harness: Harness) -> None:
    rig, signal_id = await native_rig(harness, break_even_after_tp=1)
    entry = by_leg(await rig.orders(signal_id))["e0"]
    await rig.tick("61100")  # TP1 fills on the venue
    await rig.tick("61100")  # the stop is resized, TP2 rests, break-even moves the stop
    await rig.tick("61100")
    orders = await rig.orders(signal_id)
    legs = by_leg(orders)
    third = (entry.filled / 3).quantize(D("0.00001"), rounding="ROUND_DOWN")
    assert legs["t1g1"].status == "filled" and legs["t1g1"].filled == third
    position = await rig.position(signal_id)
    assert position is not None and position.tp_hits == 1
    assert position.stop_loss == position.entry_price
    stops = live_stops(orders)
    assert len(stops) == 1  # never two stops at once
    assert stops[0].stop_price == position.entry_price and stops[0].amount == position.amount
    assert legs["s1"].status == "canceled" and legs["t2g1"].status == "open"
    assert legs["t2g1"].amount == third and legs["t2g1"].stop_price == D(62000)
    # Back to the entry: the resting break-even stop closes the rest, nothing more.
    await rig.tick(str(position.entry_price))
    position = await rig.position(signal_id)
    assert position is not None and position.status == "closed"
    orders = await rig.orders(signal_id)
    exits = [o for o in orders if o.leg != "e0"]
    assert sum(o.filled for o in exits) == entry.filled
    assert not any(o.leg in ("sl", "t1", "t2") for o in orders)  # no market exit at all


async def test_a_missing_resting_stop_falls_back_to_a_market_exit(harness: Harness) -> None:
    rig, signal_id = await native_rig(harness)
    stop = by_leg(await rig.orders(signal_id))["s1"]
    # Someone cancels our stop on the exchange's website.
    live = await rig.h.container.adapter_pool.get(rig.connection_id)
    gone = await live.adapter.cancel_order("BTC/USDT", stop.client_order_id)
    assert gone.status is OrderStatus.CANCELED
    rig.monitor = new_monitor(rig, grace=timedelta(0))
    await rig.tick("57900")
    position = await rig.position(signal_id)
    assert position is not None and position.status == "closed"
    orders = by_leg(await rig.orders(signal_id))
    assert orders["s1"].status == "canceled" and orders["sl"].status == "filled"
    assert orders["sl"].filled == orders["e0"].filled


async def test_a_stop_the_venue_did_not_fire_is_cancelled_before_the_market_exit(
    harness: Harness,
) -> None:
    rig, signal_id = await native_rig(harness)
    rig.monitor = new_monitor(rig, grace=timedelta(0))
    await rig.tick("59500")
    # The stop moved to 59000 in our books, and the price is there before s2 could rest.
    async with rig.h.container.sessions() as s, s.begin():
        await s.execute(
            update(m.Position).where(m.Position.signal_id == signal_id).values(stop_loss=D(59000))
        )
    await rig.tick("58900")
    position = await rig.position(signal_id)
    assert position is not None and position.status == "closed"
    orders = by_leg(await rig.orders(signal_id))
    assert orders["s1"].status == "canceled" and orders["s1"].filled == 0
    assert orders["sl"].filled == orders["e0"].filled
    assert await venue_orders(rig) == []


async def test_provider_updates_release_the_resting_orders_first(harness: Harness) -> None:
    rig, signal_id = await native_rig(harness)
    await venue_moves(rig, "61100")  # TP1 fills on the venue before the provider says so
    tp = await post_update(rig, "tp_hit", "1")
    outcome = await apply(rig, tp)
    assert outcome.orders == 0  # the venue already took TP1: no market order
    orders = by_leg(await rig.orders(signal_id))
    assert "t1" not in orders and orders["t1g1"].status == "filled"

    everything = await post_update(rig, "close_all")
    await apply(rig, everything)
    position = await rig.position(signal_id)
    assert position is not None and position.status == "closed"
    orders = await rig.orders(signal_id)
    assert [o.leg for o in orders if o.status in LIVE] == []
    legs = by_leg(orders)
    assert legs["s1"].status == "canceled"
    assert legs[f"c{everything}"].filled == legs["e0"].filled - legs["t1g1"].filled
    assert await venue_orders(rig) == []


async def test_two_monitors_rest_one_stop(harness: Harness) -> None:
    rig = Rig(harness)
    await rig.setup(native=True)
    signal_id = await rig.open(market_signal())
    other = new_monitor(rig)  # a second worker, ticking at the same time
    await asyncio.gather(rig.monitor.run_once(), other.run_once())
    await rig.tick("59500")
    orders = await rig.orders(signal_id)
    assert sorted(o.leg for o in orders) == ["e0", "s1", "t1g1"]
    assert len(await venue_orders(rig)) == 2


async def test_trailing_replaces_the_resting_stop(harness: Harness) -> None:
    rig = Rig(harness)
    await rig.setup({"trailing": {"distance": "500"}}, native=True)
    signal_id = await rig.open(market_signal(take_profits=["70000"]))
    await rig.tick("60800")
    await rig.tick("61000")
    orders = await rig.orders(signal_id)
    stops = live_stops(orders)
    assert len(stops) == 1 and stops[0].stop_price == D(60500)
    assert [o.stop_price for o in orders if o.leg.startswith("s")] == [D(60300), D(60500)]
    await rig.tick("60400")
    position = await rig.position(signal_id)
    assert position is not None and position.status == "closed"
    assert "sl" not in by_leg(await rig.orders(signal_id))


async def test_opting_out_keeps_every_exit_with_the_monitor(harness: Harness) -> None:
    rig = Rig(harness)
    await rig.setup()  # native_exits false
    signal_id = await rig.open(market_signal())
    await rig.tick("59500")
    assert [o.leg for o in await rig.orders(signal_id)] == ["e0"]
    assert await venue_orders(rig) == []


async def test_the_worker_order_sync_reads_one_list_per_connection(harness: Harness) -> None:
    rig, signal_id = await native_rig(harness)
    await venue_moves(rig, "61100")  # TP1 fills on the venue while no monitor runs
    assert await rig.h.platform.sync_open_orders() == 2  # s1 listed, t1g1 looked up
    orders = by_leg(await rig.orders(signal_id))
    assert orders["s1"].status == "open"
    assert orders["t1g1"].status == "filled"
    position = await rig.position(signal_id)
    assert position is not None and position.tp_hits == 1
    assert position.amount == orders["e0"].filled - orders["t1g1"].filled
    assert await rig.h.platform.sync_open_orders() == 1  # s1: still resting


class Crash(BaseException):
    """Stands for the process dying: nothing after it in the call chain runs."""


class DieAfterAnswer:
    """Engine hooks: the venue accepted the order, the process dies before recording it."""

    def __init__(self, leg_suffix: str) -> None:
        self.leg_suffix = leg_suffix
        self.armed = True

    async def before_post(self, order_id: int) -> None:
        return None

    async def after_answer(self, order_id: int, venue_order: VenueOrder) -> None:
        if self.armed and (venue_order.client_order_id or "").endswith(self.leg_suffix):
            self.armed = False
            raise Crash


async def test_a_crash_after_the_venue_took_the_stop_leaves_one_stop(harness: Harness) -> None:
    rig = Rig(harness)
    await rig.setup(native=True)
    signal_id = await rig.open(market_signal())
    engine = rig.h.container.execution
    engine.hooks = DieAfterAnswer("-s1")
    try:
        await rig.tick("59500")
    except Crash:
        pass
    else:
        raise AssertionError("the crash hook did not fire")
    stop = by_leg(await rig.orders(signal_id))["s1"]
    assert stop.status == "sending"  # the venue has it; our books do not know yet
    on_venue = [o for o in await venue_orders(rig) if o.client_order_id == stop.client_order_id]
    assert len(on_venue) == 1
    # Restart: a new monitor finds the stop by its client order id instead of resending.
    engine.hooks = NoHooks()
    rig.monitor = new_monitor(rig)
    await rig.tick("59500")
    await rig.tick("59500")
    orders = await rig.orders(signal_id)
    assert sorted(o.leg for o in orders) == ["e0", "s1", "t1g1"]
    assert by_leg(orders)["s1"].status == "open"
    venue = await venue_orders(rig)
    assert sorted(o.client_order_id or "" for o in venue) == sorted(
        o.client_order_id for o in orders if o.leg != "e0"
    )


async def test_a_reversal_leaves_the_venue_and_the_books_agreeing(harness: Harness) -> None:
    rig = Rig(harness)
    await rig.setup({"close_on_opposite": True}, native=True)
    long_id = await rig.open(market_signal())
    await rig.tick("60000")  # the long's stop and target rest
    response = await harness.post_signal(rig.channel_id, rig.secret, market_signal("short"))
    short_id = int(response.json()["signal_id"])
    execution = await execution_of(harness, short_id)
    await harness.container.execution.run(execution.id)  # waits: the long is open
    assert await rig.orders(short_id) == []
    await rig.tick("60000")  # the monitor closes the long and its resting orders
    await harness.container.execution.run(execution.id)  # now the short opens
    await rig.tick("60000")  # and its own stop and target rest
    closed, opened = await rig.position(long_id), await rig.position(short_id)
    assert closed is not None and closed.status == "closed"
    assert opened is not None and opened.status == "open"
    live = await rig.h.container.adapter_pool.get(rig.connection_id)
    [held] = await live.adapter.fetch_positions()
    assert (held.side.value, held.amount) == ("short", opened.amount)
    resting = {o.client_order_id for o in await venue_orders(rig)}
    assert resting == {o.client_order_id for o in await rig.orders(short_id) if o.leg != "e0"}
    assert len(resting) == 2


class CancelsLost:
    """Wraps a live adapter: while ``lost``, every cancel is lost on the network (the
    kernel's retries included)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.lost = True
        self.failed = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def cancel_order(
        self, symbol: str, client_order_id: str, role: OrderRole | None = None
    ) -> VenueOrder:
        if self.lost:
            self.failed += 1
            raise TransientError("connection reset during cancel")
        result: VenueOrder = await self._inner.cancel_order(symbol, client_order_id, role)
        return result


async def test_a_replacement_whose_cancel_failed_is_tried_again(harness: Harness) -> None:
    rig, signal_id = await native_rig(harness)
    live = await rig.h.container.adapter_pool.get(rig.connection_id)
    flaky = CancelsLost(live.adapter)
    live.adapter = flaky  # type: ignore[assignment]
    async with rig.h.container.sessions() as s, s.begin():
        await s.execute(
            update(m.Position).where(m.Position.signal_id == signal_id).values(stop_loss=D(58500))
        )
    await rig.tick("59500")  # s1 must go: its cancel is lost, s1 stays, nothing doubles
    assert flaky.failed
    legs = by_leg(await rig.orders(signal_id))
    assert legs["s1"].status == "open" and "s2" not in legs
    flaky.lost = False
    await rig.tick("59500")  # looked at again although nothing changed in the books
    legs = by_leg(await rig.orders(signal_id))
    assert legs["s1"].status == "canceled" and legs["s2"].status == "open"
    assert legs["s2"].stop_price == D(58500)
    assert len(live_stops(await rig.orders(signal_id))) == 1
