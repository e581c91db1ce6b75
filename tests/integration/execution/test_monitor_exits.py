"""The position monitor against the paper venue through the real platform: stop loss,
take-profits with even and given splits, break-even, trailing stop, opposite signal, and
one batched ticker request per connection per tick."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from tests.platform_fixtures import Harness, eventually

from signalbridge.execution.monitor import PositionMonitor
from signalbridge.execution.pool import AdapterPool
from signalbridge.execution.recorder import unrealised_pnl
from signalbridge.store import models as m
from signalbridge.venues.base import Ticker

D = Decimal
SYMBOL = "BTC/USDT"
START_BALANCE = D(10_000)


def market_signal(side: str = "long", **fields: Any) -> dict[str, Any]:
    long = side == "long"
    return {
        "kind": "signal",
        "symbol": SYMBOL,
        "side": side,
        "order_type": "market",
        "stop_loss": "58000" if long else "62000",
        "take_profits": ["61000", "62000", "63000"] if long else ["59000", "58000", "57000"],
        **fields,
    }


class Rig:
    def __init__(self, h: Harness) -> None:
        self.h = h
        self.monitor = PositionMonitor(
            h.container.sessions,
            h.container.adapter_pool,
            h.container.execution,
        )
        self.channel_id = 0
        self.secret = ""
        self.connection_id = 0

    async def setup(
        self, management: dict[str, Any] | None = None, name: str = "p", *, native: bool = False
    ) -> None:
        """A channel, a paper futures account and a follow. These tests are about the
        monitor's own exits, so nothing rests on the venue unless ``native`` is set."""
        self.channel_id, self.secret = await self.h.webhook_channel(f"hook-{name}")
        self.connection_id = await self.h.paper_connection(f"paper-{name}", account_id=name)
        settings = {"native_exits": native, **(management or {})}
        await self.h.follow(self.channel_id, self.connection_id, management=settings)

    async def open(self, payload: dict[str, Any]) -> int:
        """Post a signal and wait for its position; returns the signal id."""
        response = await self.h.post_signal(self.channel_id, self.secret, payload)
        assert response.status_code == 202, response.text
        signal_id = int(response.json()["signal_id"])

        async def has_position() -> bool:
            return await self.position(signal_id) is not None

        await eventually(has_position)
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

    async def logs(self, signal_id: int) -> list[m.ExecutionLog]:
        async with self.h.container.sessions() as s:
            return list(
                (
                    await s.scalars(
                        select(m.ExecutionLog)
                        .join(m.Execution, m.Execution.id == m.ExecutionLog.execution_id)
                        .where(m.Execution.signal_id == signal_id)
                        .order_by(m.ExecutionLog.id)
                    )
                ).all()
            )

    async def tick(self, price: str, symbol: str = SYMBOL) -> None:
        await self.h.container.adapter_deps.shared["paper"].on_price(symbol, D(price))
        report = await self.monitor.run_once()
        assert not report.errors, report.errors

    async def wallet(self) -> Decimal:
        pool: AdapterPool = self.h.container.adapter_pool
        live = await pool.get(self.connection_id)
        balances = await live.adapter.fetch_balance()
        return balances["USDT"].total


def _exits(orders: list[m.Order]) -> dict[str, m.Order]:
    return {o.leg: o for o in orders if not o.leg.startswith("e")}


async def test_stop_loss_closes_everything_with_fees_in_the_pnl(harness: Harness) -> None:
    rig = Rig(harness)
    await rig.setup()
    signal_id = await rig.open(market_signal())
    await rig.tick("59000")  # between the stop and the first target: nothing to do
    position = await rig.position(signal_id)
    assert position is not None and position.status == "open"
    assert unrealised_pnl("long", position.entry_price, position.amount, D(59000), D(1)) < 0
    assert set(_exits(await rig.orders(signal_id))) == set()

    await rig.tick("57900")
    position = await rig.position(signal_id)
    assert position is not None and position.status == "closed"
    assert position.amount == 0 and position.closed_at is not None
    orders = await rig.orders(signal_id)
    entry, stop = orders[0], _exits(orders)["sl"]
    assert stop.reduce_only and stop.side == "sell" and stop.type == "market"
    assert stop.status == "filled" and stop.filled == entry.filled
    assert stop.client_order_id == f"sb-{stop.execution_id}-sl"
    gross = (stop.average_price - entry.average_price) * entry.filled  # type: ignore[operator]
    assert position.fees == entry.fee + stop.fee and stop.fee > 0
    assert position.realized_pnl == gross - entry.fee - stop.fee
    # The paper wallet moved by exactly the realised PnL (fees included).
    assert await rig.wallet() - START_BALANCE == position.realized_pnl
    actions = [row.action for row in await rig.logs(signal_id)]
    assert "monitor_close" in actions

    await rig.tick("57000")  # evaluated again: the closed position is never sold twice
    assert [o.leg for o in await rig.orders(signal_id)] == ["e0", "sl"]


async def test_three_targets_split_evenly_and_the_last_closes_the_rest(harness: Harness) -> None:
    rig = Rig(harness)
    await rig.setup()
    signal_id = await rig.open(market_signal())
    opened = (await rig.orders(signal_id))[0].filled
    await rig.tick("61000")
    await rig.tick("61000")  # the same level twice is one order
    exits = _exits(await rig.orders(signal_id))
    assert set(exits) == {"t1"}
    third = (opened / 3).quantize(D("0.00001"), rounding="ROUND_DOWN")
    assert exits["t1"].filled == third
    position = await rig.position(signal_id)
    assert position is not None and position.tp_hits == 1 and position.amount == opened - third

    await rig.tick("63500")  # jumps past TP2 and TP3 in one tick
    exits = _exits(await rig.orders(signal_id))
    assert set(exits) == {"t1", "t2", "t3"}
    assert exits["t2"].filled == third and exits["t3"].filled == opened - 2 * third
    assert sum(o.filled for o in exits.values()) == opened
    position = await rig.position(signal_id)
    assert position is not None and position.status == "closed" and position.tp_hits == 3
    assert position.realized_pnl > 0
    assert await rig.wallet() - START_BALANCE == position.realized_pnl


async def test_given_split_and_break_even_after_tp1(harness: Harness) -> None:
    rig = Rig(harness)
    await rig.setup({"tp_split": ["50", "30", "20"], "break_even_after_tp": 1})
    signal_id = await rig.open(market_signal())
    opened = (await rig.orders(signal_id))[0].filled
    await rig.tick("61100")
    position = await rig.position(signal_id)
    assert position is not None
    exits = _exits(await rig.orders(signal_id))
    assert exits["t1"].filled == (opened / 2).quantize(D("0.00001"), rounding="ROUND_DOWN")
    assert position.stop_loss == position.entry_price  # break-even after TP1
    await rig.tick("62000")
    exits = _exits(await rig.orders(signal_id))
    assert exits["t2"].filled == (opened * D("0.3")).quantize(D("0.00001"), rounding="ROUND_DOWN")
    # Back to the entry: the break-even stop closes what is left, no more.
    await rig.tick(str(position.entry_price))
    position = await rig.position(signal_id)
    exits = _exits(await rig.orders(signal_id))
    assert position is not None and position.status == "closed"
    assert set(exits) == {"t1", "t2", "sl"}
    assert sum(o.filled for o in exits.values()) == opened
    reasons = {row.reason for row in await rig.logs(signal_id)}
    assert "break_even" in reasons


async def test_trailing_stop_follows_up_never_down_then_closes(harness: Harness) -> None:
    rig = Rig(harness)
    await rig.setup({"trailing": {"distance": "500"}})
    signal_id = await rig.open(market_signal(take_profits=["70000"]))
    await rig.tick("60800")
    position = await rig.position(signal_id)
    assert position is not None and position.stop_loss == D("60300")
    await rig.tick("60400")  # falls back: the stop stays
    position = await rig.position(signal_id)
    assert position is not None and position.stop_loss == D("60300")
    await rig.tick("61000")
    position = await rig.position(signal_id)
    assert position is not None and position.stop_loss == D("60500")
    await rig.tick("60450")
    position = await rig.position(signal_id)
    assert position is not None and position.status == "closed"
    assert set(_exits(await rig.orders(signal_id))) == {"sl"}
    assert position.realized_pnl > 0  # the trailed stop locked a profit in


async def execution_of(h: Harness, signal_id: int) -> m.Execution:
    async with h.container.sessions() as s:
        return (
            await s.scalars(select(m.Execution).where(m.Execution.signal_id == signal_id))
        ).one()


async def test_opposite_signal_closes_the_old_position_then_opens(harness: Harness) -> None:
    """The paper futures account nets one position per symbol, so the short waits for
    the monitor to close the long, then opens: venue and books agree throughout."""
    rig = Rig(harness)
    await rig.setup({"close_on_opposite": True})
    long_id = await rig.open(market_signal())
    short = {**market_signal("short"), "order_type": "limit", "entry": "60500"}
    response = await harness.post_signal(rig.channel_id, rig.secret, short)
    assert response.status_code == 202, response.text
    short_id = int(response.json()["signal_id"])

    async def short_waits() -> bool:
        return "plan_deferred" in {row.action for row in await rig.logs(short_id)}

    await eventually(short_waits)
    assert await rig.orders(short_id) == []
    await rig.tick("60000")
    position = await rig.position(long_id)
    assert position is not None and position.status == "closed"
    assert [o.leg for o in await rig.orders(long_id)] == ["e0", "opp"]
    assert "opposite_close" in {row.action for row in await rig.logs(long_id)}
    # The sweeper runs a pending execution again; here the test does it at once.
    execution = await execution_of(harness, short_id)
    await harness.container.execution.run(execution.id)
    assert [(o.leg, o.status) for o in await rig.orders(short_id)] == [("e0", "open")]


async def test_opposite_signal_is_skipped_unless_configured(harness: Harness) -> None:
    rig = Rig(harness)
    await rig.setup()
    long_id = await rig.open(market_signal())
    short = {**market_signal("short"), "order_type": "limit", "entry": "60500"}
    response = await harness.post_signal(rig.channel_id, rig.secret, short)
    assert response.status_code == 202
    short_id = int(response.json()["signal_id"])

    async def skipped() -> bool:
        return (await execution_of(harness, short_id)).status == "skipped"

    await eventually(skipped)
    reason = (await execution_of(harness, short_id)).reason or ""
    assert "would be netted" in reason and "close_on_opposite" in reason
    await rig.tick("60000")
    position = await rig.position(long_id)
    assert position is not None and position.status == "open"
    assert await rig.orders(short_id) == []


class CountingAdapter:
    """Wraps a live adapter and counts the ticker requests the monitor makes."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.calls: list[list[str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def fetch_tickers(self, symbols: Iterable[str]) -> dict[str, Ticker]:
        wanted = list(symbols)
        self.calls.append(wanted)
        result: dict[str, Ticker] = await self._inner.fetch_tickers(wanted)
        return result


async def test_one_ticker_request_per_connection_per_tick(harness: Harness) -> None:
    h = harness
    rigs = [Rig(h), Rig(h)]
    for i, rig in enumerate(rigs):
        await rig.setup(name=f"b{i}")
    for rig in rigs:
        for stop in ("58000", "58100"):  # two different messages (same body is a duplicate)
            await rig.open(market_signal(stop_loss=stop))
        await rig.open({**market_signal(), "symbol": "ETH/USDT", "stop_loss": "2900",
                        "take_profits": ["3100"]})  # fmt: skip
    pool: AdapterPool = h.container.adapter_pool
    counters = []
    for rig in rigs:
        live = await pool.get(rig.connection_id)
        counter = CountingAdapter(live.adapter)
        live.adapter = counter  # type: ignore[assignment]
        counters.append(counter)
    monitor = rigs[0].monitor
    report = await monitor.run_once()
    assert report.positions == 6 and report.ticker_calls == 2
    for counter in counters:
        assert len(counter.calls) == 1 and sorted(counter.calls[0]) == ["BTC/USDT", "ETH/USDT"]
    await monitor.run_once()
    assert all(len(c.calls) == 2 for c in counters)


async def test_the_index_follows_changed_settings_and_stops(harness: Harness) -> None:
    rig = Rig(harness)
    await rig.setup()
    signal_id = await rig.open(market_signal())
    await rig.tick("60500")  # loaded once: plain stop at 58000, nothing to do
    assert rig.monitor.index.get(1) is not None
    async with harness.container.sessions() as s:
        follow_id = await s.scalar(select(m.Follow.id))
    await harness.ok("PATCH", f"/follows/{follow_id}", json={"management": {
        "trailing": {"distance": "300"}}})  # fmt: skip
    await rig.tick("60500")
    position = await rig.position(signal_id)
    assert position is not None and position.stop_loss == D("60200")
    report = await rig.monitor.run_once()  # reads back its own stop move
    assert report.reloaded == 1 and report.actions == 0
    report = await rig.monitor.run_once()  # nothing changed since: no reload, no action
    assert report.reloaded == 0 and report.actions == 0 and report.positions == 1
