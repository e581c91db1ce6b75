"""The spine end to end through HTTP: signed webhook → message → signal → execution →
paper order → position, with every stage timestamped and visible in the API."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import func, select
from tests.platform_fixtures import SIGNAL, Harness, eventually

from signalbridge.store import models as m


async def count(h: Harness, model: type, **where: object) -> int:
    async with h.container.sessions() as s:
        query = select(func.count()).select_from(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return int(await s.scalar(query) or 0)


async def test_signed_signal_becomes_a_paper_position(harness: Harness) -> None:
    h = harness
    channel_id, secret = await h.webhook_channel()
    connection_id = await h.paper_connection()
    await h.follow(channel_id, connection_id)

    response = await h.post_signal(channel_id, secret, SIGNAL)
    assert response.status_code == 202, response.text
    signal_id = response.json()["signal_id"]

    async def has_position() -> bool:
        return await count(h, m.Position, signal_id=signal_id) == 1

    await eventually(has_position)
    signal = await h.ok("GET", f"/signals/{signal_id}")
    assert signal["symbol"] == "BTC/USDT" and signal["side"] == "long"
    assert signal["entry_low"] == "59900" and signal["take_profits"] == ["62000", "64000"]
    stages = signal["stages"]
    for stage in ("received", "parsed", "dispatched", "order_sent", "order_acked", "filled"):
        assert stages[stage] is not None, stage
    assert stages["received"] <= stages["parsed"] <= stages["dispatched"] <= stages["order_sent"]
    assert stages["order_sent"] <= stages["order_acked"] <= stages["filled"]

    executions = (await h.ok("GET", f"/executions?signal_id={signal_id}"))["items"]
    assert [e["status"] for e in executions] == ["open"]
    orders = (await h.ok("GET", f"/orders?execution_id={executions[0]['id']}"))["items"]
    assert len(orders) == 1 and orders[0]["status"] == "filled"
    assert orders[0]["client_order_id"] == f"sb-{executions[0]['id']}-e0"
    positions = (await h.ok("GET", f"/positions?signal_id={signal_id}"))["items"]
    assert positions[0]["side"] == "long" and positions[0]["status"] == "open"
    assert positions[0]["stop_loss"] == "58000"
    logs = (await h.ok("GET", f"/execution-logs?execution_id={executions[0]['id']}"))["items"]
    assert {"planned", "order_placed"} <= {row["action"] for row in logs}


async def test_fifty_concurrent_deliveries_act_once(harness: Harness) -> None:
    h = harness
    channel_id, secret = await h.webhook_channel()
    first = await h.paper_connection("paper-a")
    second = await h.paper_connection("paper-b", account_id="b")
    await h.follow(channel_id, first)
    await h.follow(channel_id, second)
    body = json.dumps(SIGNAL).encode()

    responses = await asyncio.gather(*(h.post_signal(channel_id, secret, body) for _ in range(50)))
    assert all(r.status_code in (200, 202) for r in responses), [r.text for r in responses]
    assert sum(r.status_code == 202 for r in responses) == 1
    assert len({r.json()["signal_id"] for r in responses}) == 1

    async def settled() -> bool:
        return await count(h, m.Position) == 2

    await eventually(settled)
    await asyncio.sleep(0.3)  # let any duplicate task that slipped through show itself
    assert await count(h, m.Message) == 1
    assert await count(h, m.Signal) == 1
    assert await count(h, m.Execution) == 2
    assert await count(h, m.Order) == 2
    async with h.container.sessions() as s:
        from signalbridge.store.paper_tables import PaperOrderRow

        venue_orders = (await s.scalars(select(PaperOrderRow.client_order_id))).all()
    assert sorted(venue_orders) == sorted(set(venue_orders)) and len(venue_orders) == 2
