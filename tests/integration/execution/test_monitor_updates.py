"""Provider updates applied to every position (and unfilled entry) opened from their signal,
through the real platform and the paper venue; each update is applied once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from taskiq import InMemoryBroker
from tests.integration.execution.test_monitor_exits import Rig, market_signal
from tests.platform_fixtures import Harness, eventually

from signalbridge.services.updates import UpdateOutcome, apply_update
from signalbridge.store import models as m

D = Decimal


async def post_update(rig: Rig, action: str, value: str | None = None, **extra: Any) -> int:
    body: dict[str, Any] = {"kind": "update", "action": action, **extra}
    if value is not None:
        body["value"] = value
    response = await rig.h.post_signal(rig.channel_id, rig.secret, body)
    assert response.status_code in (200, 202), response.text
    update_id = response.json()["update_id"]
    assert update_id is not None, response.text
    return int(update_id)


async def apply(rig: Rig, update_id: int) -> UpdateOutcome:
    c = rig.h.container
    outcome = await apply_update(c.sessions, c.execution, update_id, pool=c.adapter_pool)
    # The webhook also queued this update for the harness's worker, which may be applying
    # it at the same time (its orders are the same rows): let that delivery finish too,
    # so that what the test reads next is settled rather than mid-way.
    broker = c.queue.broker
    assert isinstance(broker, InMemoryBroker)
    await broker.wait_all()
    return outcome


async def update_row(rig: Rig, update_id: int) -> m.SignalUpdate:
    async with rig.h.container.sessions() as s:
        return await s.get_one(m.SignalUpdate, update_id)


async def open_rig(harness: Harness, management: dict[str, Any] | None = None) -> tuple[Rig, int]:
    rig = Rig(harness)
    await rig.setup(management)
    return rig, await rig.open(market_signal())


async def test_move_sl_and_stop_to_entry_are_applied_once(harness: Harness) -> None:
    rig, signal_id = await open_rig(harness)
    update_id = await post_update(rig, "move_sl", "59000", symbol="BTC/USDT")
    outcome = await apply(rig, update_id)
    assert outcome.status == "applied" and outcome.signal_id == signal_id
    position = await rig.position(signal_id)
    assert position is not None and position.stop_loss == D(59000)
    row = await update_row(rig, update_id)
    assert row.status == "applied" and row.applied_at is not None and row.signal_id == signal_id
    logs = [(x.action, x.reason) for x in await rig.logs(signal_id)]
    assert ("update_move_sl", f"provider update {update_id}: move stop") in logs

    again = await apply(rig, update_id)
    assert again.status == "applied" and (await update_row(rig, update_id)).applied_at == (
        row.applied_at
    )

    to_entry = await post_update(rig, "move_sl_to_entry")
    assert (await apply(rig, to_entry)).status == "applied"
    position = await rig.position(signal_id)
    assert position is not None and position.stop_loss == position.entry_price
    # The monitor now stops out at the entry.
    await rig.tick(str(position.entry_price))
    position = await rig.position(signal_id)
    assert position is not None and position.status == "closed"


async def test_close_partial_then_close_all(harness: Harness) -> None:
    rig, signal_id = await open_rig(harness)
    opened = (await rig.orders(signal_id))[0].filled
    half = await post_update(rig, "close_partial", "50")
    assert (await apply(rig, half)).orders == 1
    assert (await apply(rig, half)).orders == 0  # a second delivery changes nothing
    orders = {o.leg: o for o in await rig.orders(signal_id)}
    part = (opened / 2).quantize(D("0.00001"), rounding="ROUND_DOWN")
    assert orders[f"p{half}"].filled == part and orders[f"p{half}"].reduce_only
    position = await rig.position(signal_id)
    assert position is not None and position.amount == opened - part and position.status == "open"

    everything = await post_update(rig, "close_all")
    await apply(rig, everything)
    position = await rig.position(signal_id)
    assert position is not None and position.status == "closed" and position.amount == 0
    orders = {o.leg: o for o in await rig.orders(signal_id)}
    assert orders[f"c{everything}"].filled == opened - part
    assert await rig.wallet() - D(10_000) == position.realized_pnl


async def test_sl_hit_and_tp_hit_share_the_monitor_legs(harness: Harness) -> None:
    rig, signal_id = await open_rig(harness, {"break_even_after_tp": 1})
    tp = await post_update(rig, "tp_hit", "1")
    await apply(rig, tp)
    position = await rig.position(signal_id)
    assert position is not None and position.tp_hits == 1
    assert position.stop_loss == position.entry_price  # the follow's break-even rule ran
    await rig.tick("61000")  # the monitor sees TP1 too: no second order
    legs = [o.leg for o in await rig.orders(signal_id)]
    assert legs == ["e0", "t1"]

    stop = await post_update(rig, "sl_hit")
    await apply(rig, stop)
    position = await rig.position(signal_id)
    assert position is not None and position.status == "closed"
    assert [o.leg for o in await rig.orders(signal_id)] == ["e0", "t1", "sl"]
    # Nothing is open any more: a later update records why it did nothing.
    late = await post_update(rig, "close_all", symbol="BTC/USDT")
    assert (await apply(rig, late)).status == "nothing_open"


async def test_modify_tp_moves_the_next_target(harness: Harness) -> None:
    rig, signal_id = await open_rig(harness)
    update_id = await post_update(rig, "modify_tp", "61500")
    await apply(rig, update_id)
    position = await rig.position(signal_id)
    assert position is not None and position.take_profits == ["61500", "62000", "63000"]
    await rig.tick("61200")  # the old TP1 is no target any more
    assert [o.leg for o in await rig.orders(signal_id)] == ["e0"]
    await rig.tick("61500")
    assert [o.leg for o in await rig.orders(signal_id)] == ["e0", "t1"]


async def test_cancel_cancels_unfilled_entries_on_the_venue(harness: Harness) -> None:
    rig = Rig(harness)
    await rig.setup()
    resting = {**market_signal(), "order_type": "limit", "entry": "59500", "stop_loss": "58000"}
    response = await harness.post_signal(rig.channel_id, rig.secret, resting)
    assert response.status_code == 202
    signal_id = int(response.json()["signal_id"])

    async def is_resting() -> bool:
        return any(o.status == "open" for o in await rig.orders(signal_id))

    await eventually(is_resting)
    update_id = await post_update(rig, "cancel")

    async def applied_by_the_queued_task() -> bool:
        return (await update_row(rig, update_id)).status == "applied"

    # The webhook queued the update; the platform's task applies it (exactly once).
    await eventually(applied_by_the_queued_task)
    orders = await rig.orders(signal_id)
    assert [o.status for o in orders] == ["canceled"]
    assert "entry_canceled" in {x.action for x in await rig.logs(signal_id)}
    # The venue agrees: the order no longer fills when the price comes.
    await harness.container.adapter_deps.shared["paper"].on_price("BTC/USDT", D("59400"))
    assert await rig.position(signal_id) is None
    assert (await apply(rig, update_id)).canceled == 0


async def test_every_position_of_the_signal_and_the_latest_signal_rule(harness: Harness) -> None:
    rig = Rig(harness)
    await rig.setup(name="one")
    second = await harness.paper_connection("paper-two", account_id="two")
    await harness.follow(rig.channel_id, second)
    btc = await rig.open(market_signal())

    async def two_positions() -> bool:
        async with harness.container.sessions() as s:
            rows = await s.scalars(select(m.Position).where(m.Position.signal_id == btc))
            return len(rows.all()) == 2

    await eventually(two_positions)
    eth_signal = market_signal(symbol="ETH/USDT", stop_loss="2900", take_profits=["3100"])
    eth = await rig.open(eth_signal)

    btc_update = await post_update(rig, "move_sl", "59000", symbol="BTC/USDT")

    async def applied() -> bool:
        return (await update_row(rig, btc_update)).status == "applied"

    await eventually(applied)  # by the task the webhook queued
    assert (await update_row(rig, btc_update)).signal_id == btc
    async with harness.container.sessions() as s:
        stops = await s.scalars(select(m.Position.stop_loss).where(m.Position.signal_id == btc))
        assert list(stops.all()) == [D(59000), D(59000)]

    latest = await post_update(rig, "move_sl", "2950")  # no symbol: the channel's latest
    assert (await apply(rig, latest)).signal_id == eth


async def test_update_without_any_signal(harness: Harness) -> None:
    rig = Rig(harness)
    await rig.setup()
    update_id = await post_update(rig, "close_all", symbol="SOL/USDT")
    assert (await apply(rig, update_id)).status == "no_signal"
    row = await update_row(rig, update_id)
    assert row.status == "no_signal" and row.applied_at is not None
