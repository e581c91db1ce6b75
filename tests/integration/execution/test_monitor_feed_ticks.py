"""The position monitor on a paper venue whose feed really moves: after many random-walk
ticks, a market entry fills and the monitor's market exit closes the position; levels off
the tick rest on the venue rounded, never refused (issue 11, part 8)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from tests.platform_fixtures import Harness, eventually

from signalbridge.execution.monitor import PositionMonitor
from signalbridge.store import models as m
from signalbridge.venues.paper.exchange import PaperExchange

D = Decimal
SYMBOL = "BTC/USDT"


class Walk:
    """A channel, a paper futures account on a moving feed, a follow and a monitor."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.monitor = PositionMonitor(
            h.container.sessions, h.container.adapter_pool, h.container.execution
        )
        self.channel_id, self.secret, self.connection_id = 0, "", 0

    async def setup(self, *, native: bool) -> PaperExchange:
        self.channel_id, self.secret = await self.h.webhook_channel("walk")
        self.connection_id = await self.h.paper_connection(
            "walk", feed={"seed": 5, "volatility": "0.002"}
        )
        await self.h.follow(
            self.channel_id, self.connection_id, management={"native_exits": native}
        )
        live = await self.h.container.adapter_pool.get(self.connection_id)
        exchange = live.adapter.exchange
        assert isinstance(exchange, PaperExchange)
        for _ in range(100):
            await exchange.advance()
        assert exchange.price(SYMBOL) != D(60000)  # the walk has moved the book
        return exchange

    async def open(self, payload: dict[str, Any]) -> int:
        response = await self.h.post_signal(self.channel_id, self.secret, payload)
        assert response.status_code == 202, response.text
        signal_id = int(response.json()["signal_id"])

        async def opened() -> bool:
            position = await self.position(signal_id)
            return position is not None and position.status == "open"

        await eventually(opened)
        return signal_id

    async def position(self, signal_id: int) -> m.Position | None:
        async with self.h.container.sessions() as s:
            return await s.scalar(select(m.Position).where(m.Position.signal_id == signal_id))

    async def orders(self, signal_id: int) -> list[m.Order]:
        async with self.h.container.sessions() as s:
            return list(
                (
                    await s.scalars(
                        select(m.Order)
                        .join(m.Execution, m.Execution.id == m.Order.execution_id)
                        .where(m.Execution.signal_id == signal_id)
                        .order_by(m.Order.id)
                    )
                ).all()
            )

    async def walk_until_closed(self, exchange: PaperExchange, signal_id: int) -> int:
        """Feed ticks and monitor ticks until the position is closed; returns how many."""
        for n in range(1, 3001):
            await exchange.advance()
            report = await self.monitor.run_once()
            assert not report.errors, report.errors
            position = await self.position(signal_id)
            assert position is not None
            if position.status == "closed":
                return n
        raise AssertionError("the walk never reached the stop or the target")


def signal(price: D, *, places: str) -> dict[str, Any]:
    """A market long with a stop and one target 0.4 % either side of ``price``."""
    q = D(places)
    return {
        "kind": "signal",
        "symbol": SYMBOL,
        "side": "long",
        "order_type": "market",
        "stop_loss": str((price * D("0.996")).quantize(q)),
        "take_profits": [str((price * D("1.004")).quantize(q))],
        "leverage": 5,
    }


async def test_a_market_exit_after_many_feed_ticks_fills(harness: Harness) -> None:
    walk = Walk(harness)
    exchange = await walk.setup(native=False)
    signal_id = await walk.open(signal(exchange.price(SYMBOL), places="0.01"))
    entry = (await walk.orders(signal_id))[0]
    assert entry.status == "filled" and entry.average_price is not None
    assert entry.average_price % D("0.01") == 0

    await walk.walk_until_closed(exchange, signal_id)
    orders = await walk.orders(signal_id)
    [exit_order] = [o for o in orders if o.leg in ("sl", "t1")]
    assert exit_order.type == "market" and exit_order.reduce_only
    assert exit_order.status == "filled" and exit_order.filled == entry.filled
    assert exit_order.average_price is not None and exit_order.average_price % D("0.01") == 0
    assert all(o.status != "rejected" for o in orders)


async def test_levels_off_the_tick_rest_on_the_venue_rounded(harness: Harness) -> None:
    """A provider's stop and target with more decimals than the tick: the resting
    stop_market and take_profit_market are placed on the tick, in the position's favour."""
    walk = Walk(harness)
    exchange = await walk.setup(native=True)
    payload = signal(exchange.price(SYMBOL), places="0.001")
    payload["stop_loss"] = str(D(payload["stop_loss"]) + D("0.003"))  # surely off the tick
    payload["take_profits"] = [str(D(payload["take_profits"][0]) + D("0.003"))]
    signal_id = await walk.open(payload)
    await walk.monitor.run_once()  # brings the resting orders in line

    async def resting() -> bool:
        live = [o for o in await walk.orders(signal_id) if o.leg.startswith(("s", "t"))]
        return len(live) == 2 and all(o.status == "open" for o in live)

    await eventually(resting)
    by_type = {o.type: o for o in await walk.orders(signal_id) if o.reduce_only}
    stop, target = by_type["stop_market"], by_type["take_profit_market"]
    assert stop.stop_price is not None and target.stop_price is not None
    assert stop.stop_price % D("0.01") == 0 and target.stop_price % D("0.01") == 0
    assert D(payload["stop_loss"]) < stop.stop_price < D(payload["stop_loss"]) + D("0.01")
    level = D(payload["take_profits"][0])
    assert level < target.stop_price < level + D("0.01")

    await walk.walk_until_closed(exchange, signal_id)
    assert all(o.status != "rejected" for o in await walk.orders(signal_id))
