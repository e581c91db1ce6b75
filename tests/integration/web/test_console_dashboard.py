"""The staff dashboard over HTTP: who may see it, and the last day's figures (signals per
hour, latency per stage, open positions and PnL, errors, breakers) from a running
platform; the dashboard's queries checked against rows with known times."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from tests.console_rig import PageClient, logged_in
from tests.platform_fixtures import Harness, eventually

from signalbridge.integrations.errors import TransientError
from signalbridge.services import dashboard
from signalbridge.services.auth import Principal
from signalbridge.store import models as m
from signalbridge.store.types import utcnow

STAFF = Principal(user_id=1, email="admin@example.com", role="admin", scopes=frozenset({"admin"}))


def market(**fields: Any) -> dict[str, Any]:
    return {
        "kind": "signal",
        "symbol": "BTC/USDT",
        "side": "long",
        "order_type": "market",
        "stop_loss": "58000",
        "take_profits": ["65000"],
        **fields,
    }


async def open_position(h: Harness) -> tuple[int, int]:
    """A channel followed by a paper account, and a position opened from it: (channel,
    connection)."""
    channel_id, secret = await h.webhook_channel("dash")
    connection_id = await h.paper_connection("dash-paper", account_id="dash")
    await h.follow(channel_id, connection_id, management={"native_exits": False})
    answer = await h.post_signal(channel_id, secret, market())
    assert answer.status_code == 202, answer.text
    signal_id = answer.json()["signal_id"]

    async def opened() -> bool:
        async with h.container.sessions() as s:
            return bool(
                await s.scalar(select(m.Position.id).where(m.Position.signal_id == signal_id))
            )

    await eventually(opened)
    wrong_side = await h.post_signal(channel_id, secret, market(stop_loss="70000"))
    assert wrong_side.status_code == 422  # stored as a rejected message
    return channel_id, connection_id


async def test_only_staff_see_the_dashboard(harness: Harness) -> None:
    anon = PageClient(harness)
    away = await anon.get("/console")
    assert away.status_code == 303 and away.headers["location"] == "/login?next=/console"
    member = await logged_in(harness, "member@example.com", "member")
    refused = await member.get("/console")
    assert refused.status_code == 403 and "operators and admins" in refused.text
    await anon.aclose()
    await member.aclose()


async def test_dashboard_shows_the_last_day(harness: Harness) -> None:
    h = harness
    channel_id, connection_id = await open_position(h)
    tripped = h.container.kernel.breaker("channel", channel_id)
    for _ in range(tripped.failure_threshold):
        await tripped.record_failure(TransientError("the source timed out"))
    operator = await logged_in(h, "op@example.com", "operator")
    page = await operator.get("/console")
    assert page.status_code == 200, page.text
    html = page.text
    assert html.count("<h1>") == 1
    # signals per hour: the chart and its table
    assert 'role="img"' in html and "Signals per hour" in html
    assert "1 signal in total" in html  # the rejected one made no signal
    # latency per stage
    for step in ("received → parsed", "parsed → dispatched", "acknowledged → filled"):
        assert step in html
    assert "whole way: received → filled" in html
    # open positions and PnL per asset
    assert '<strong class="num">1</strong>' in html
    assert '<th scope="row">USDT</th>' in html
    # errors: the rejected message
    assert "Rejected messages" in html and "stop" in html.lower()
    # breakers: the tripped channel needs attention; the paper account is closed
    attention = html.split("Connections needing attention", 1)[1].split("</table>", 1)[0]
    assert f"{channel_id} dash" in attention and '<span class="badge">open</span>' in attention
    assert f"{connection_id} dash-paper" in html
    await operator.aclose()


async def test_dashboard_figures_from_known_times(harness: Harness) -> None:
    h = harness
    channel_id, _ = await h.webhook_channel("timed")
    now = utcnow().replace(minute=30, second=0, microsecond=0)
    ms = timedelta(milliseconds=1)
    async with h.container.sessions() as s, s.begin():
        for i, (hours_ago, parse_ms) in enumerate(((0, 10), (0, 30), (2, 20), (30, 5))):
            received = now - timedelta(hours=hours_ago)
            message = m.Message(channel_id=channel_id, external_id=f"t{i}", text="x")
            s.add(message)
            await s.flush()
            s.add(
                m.Signal(
                    message_id=message.id,
                    channel_id=channel_id,
                    symbol="BTC/USDT",
                    side="long",
                    order_type="market",
                    received_at=received,
                    parsed_at=received + parse_ms * ms,
                    dispatched_at=received + (parse_ms + 100) * ms,
                )
            )
    async with h.container.sessions() as s:
        hours = await dashboard.signals_per_hour(s, STAFF, now)
        latencies = await dashboard.stage_latencies(s, STAFF, now - dashboard.WINDOW)
    assert len(hours) == 24 and hours[-1].start == now.replace(minute=0)
    assert hours[-1].count == 2 and hours[-3].count == 1  # the 30 h old one is out
    assert sum(x.count for x in hours) == 3
    parsed, dispatched, *_rest, whole = latencies.stages
    assert latencies.signals == 3 and not latencies.truncated
    assert (parsed.count, parsed.median_ms) == (3, Decimal("20.000"))
    assert parsed.p95_ms == Decimal("29.000")  # between 20 and 30, 90 % of the way
    assert (dispatched.count, dispatched.median_ms) == (3, Decimal("100.000"))
    assert whole.count == 0 and whole.median_ms is None  # nothing filled
