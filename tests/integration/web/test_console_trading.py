"""Executions, orders, positions, execution logs and manual actions in the console, over
HTTP on a running platform with a paper account: the lists and their filters, the detail
pages (a position's PnL fields), the live positions table, and the manual override forms
(close, cancel, pause, resume, panic) with their CSRF check and the operator's read-only
view of accounts."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from tests.console_rig import PageClient, logged_in
from tests.platform_fixtures import Harness, eventually

from signalbridge.store import models as m

PAGES = (
    "/console/executions",
    "/console/orders",
    "/console/positions",
    "/console/positions/rows",
    "/console/execution-logs",
    "/console/manual-actions",
    "/console/executions/1",
    "/console/positions/1",
)
OVERRIDES = (
    "/console/overrides/positions/1/close",
    "/console/overrides/orders/1/cancel",
    "/console/overrides/follows/1/pause",
    "/console/overrides/follows/1/resume",
    "/console/overrides/connections/1/panic",
    "/console/overrides/panic",
)


def signal(**fields: Any) -> dict[str, Any]:
    return {
        "kind": "signal",
        "symbol": "BTC/USDT",
        "side": "long",
        "order_type": "market",
        "stop_loss": "58000",
        "take_profits": ["65000"],
        **fields,
    }


async def rows(h: Harness, model: Any, **where: Any) -> list[Any]:
    async with h.container.sessions() as s:
        query = select(model).order_by(model.id)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return list((await s.scalars(query)).all())


async def account(h: Harness, name: str) -> tuple[int, str, int]:
    """A webhook channel followed by a paper account: (channel, secret, connection)."""
    channel_id, secret = await h.webhook_channel(f"hook-{name}")
    connection_id = await h.paper_connection(f"paper-{name}", account_id=name)
    await h.follow(channel_id, connection_id, management={"native_exits": False})
    return channel_id, secret, connection_id


async def opened(h: Harness, channel_id: int, secret: str, **fields: Any) -> m.Position:
    answer = await h.post_signal(channel_id, secret, signal(**fields))
    assert answer.status_code == 202, answer.text
    signal_id = answer.json()["signal_id"]
    found: list[m.Position] = []

    async def open_now() -> bool:
        found[:] = await rows(h, m.Position, signal_id=signal_id)
        return bool(found)

    await eventually(open_now)
    return found[0]


async def position(h: Harness, position_id: int) -> m.Position:
    [row] = await rows(h, m.Position, id=position_id)
    return row


def ids(html: str, path: str) -> list[int]:
    return [int(x) for x in re.findall(rf'<a href="{path}/(\d+)">', html)]


async def test_trading_pages_are_for_staff(harness: Harness) -> None:
    anon = PageClient(harness)
    for path in PAGES:
        away = await anon.get(path)
        assert away.status_code == 303, path
        assert away.headers["location"].startswith("/login?next=/console/")
    member = await logged_in(harness, "member@example.com", "member")
    for path in PAGES:
        assert (await member.get(path)).status_code == 403, path
    for path in OVERRIDES:
        assert (await member.post(path)).status_code == 403, path
    assert await rows(harness, m.ManualAction) == []
    await anon.aclose()
    await member.aclose()


async def test_lists_details_and_filters(harness: Harness) -> None:
    h = harness
    channel_id, secret, connection_id = await account(h, "lists")
    pos = await opened(h, channel_id, secret)
    staff = await logged_in(h, "op@example.com", "operator")

    executions = await staff.get("/console/executions")
    assert executions.status_code == 200
    assert ids(executions.text, "/console/executions") == [pos.execution_id]
    assert "paper-lists" in executions.text
    other = connection_id + 1000
    for path in ("/console/executions", "/console/orders", "/console/positions"):
        none = await staff.get(f"{path}?connection_id={other}&status=")
        assert none.status_code == 200 and "No " in none.text, path
        mine = await staff.get(f"{path}?connection_id={connection_id}")
        assert f'value="{connection_id}"' in mine.text
    filled = await staff.get(f"/console/orders?execution_id={pos.execution_id}&status=filled")
    assert "BTC/USDT" in filled.text and "e0" in filled.text
    assert "BTC/USDT" not in (await staff.get("/console/orders?status=canceled")).text
    assert ids((await staff.get("/console/positions?status=open")).text, "/console/positions")
    closed = await staff.get(f"/console/positions?status=closed&signal_id={pos.signal_id}")
    assert ids(closed.text, "/console/positions") == []
    logs = await staff.get(f"/console/execution-logs?execution_id={pos.execution_id}")
    assert "order_placed" in logs.text
    assert (await staff.get("/console/execution-logs?execution_id=x")).status_code == 422

    # the positions table is live: its body re-fetches itself on the "positions" event
    listing = await staff.get("/console/positions?status=open")
    body = re.search(r"<tbody[^>]*>", listing.text.split("Positions, newest first", 1)[1])
    assert body is not None
    for attribute in (
        'hx-ext="sse"',
        'sse-connect="/console/events/positions"',
        'hx-trigger="sse:positions"',
        'hx-get="/console/positions/rows?status=open"',
    ):
        assert attribute in body.group(0)
    # a refusal sent by htmx (4xx) replaces the page as the plain form post does
    assert '"code": "[234]..", "swap": true' in listing.text
    fragment = await staff.get("/console/positions/rows?status=open")
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert f'<a href="/console/positions/{pos.id}">' in fragment.text

    detail = await staff.get(f"/console/executions/{pos.execution_id}")
    assert detail.status_code == 200
    assert f'<a href="/console/positions/{pos.id}">' in detail.text
    assert "order_placed" in detail.text and "e0" in detail.text
    held = await staff.get(f"/console/positions/{pos.id}")
    assert held.status_code == 200 and held.text.count("<h1>") == 1
    for label in ("Unrealised PnL", "Mark price", "Total PnL", "Realised PnL"):
        assert label in held.text
    assert (await staff.get("/console/positions/987654")).status_code == 404
    assert (await staff.get("/console/executions/987654")).status_code == 404
    await staff.aclose()


async def test_operators_see_accounts_read_only(harness: Harness) -> None:
    h = harness
    channel_id, secret, connection_id = await account(h, "ro")
    pos = await opened(h, channel_id, secret)
    operator = await logged_in(h, "op@example.com", "operator")
    page = await operator.get(f"/console/positions/{pos.id}")
    assert "lacks the scope &#39;connections:write&#39;: read-only" in page.text
    assert "/close" not in page.text
    execution = await operator.get(f"/console/executions/{pos.execution_id}")
    assert "/panic" not in execution.text and "/pause" not in execution.text
    [follow] = await rows(h, m.Follow, connection_id=connection_id)
    for path in (
        f"/console/overrides/positions/{pos.id}/close",
        f"/console/overrides/connections/{connection_id}/panic",
        f"/console/overrides/follows/{follow.id}/pause",
        "/console/overrides/panic",
    ):
        refused = await operator.post(path, {"next": f"/console/positions/{pos.id}"})
        assert refused.status_code == 403, (path, refused.text)
        assert 'role="alert"' in refused.text and "lacks the scope" in refused.text
    assert (await position(h, pos.id)).status == m.PositionStatus.OPEN
    assert await rows(h, m.ManualAction) == []
    await operator.aclose()


async def test_overrides_through_the_forms(harness: Harness) -> None:
    h = harness
    channel_id, secret, connection_id = await account(h, "act")
    pos = await opened(h, channel_id, secret)
    admin = await logged_in(h, "boss@example.com", "admin")
    page = await admin.get(f"/console/positions/{pos.id}")
    assert f'action="/console/overrides/positions/{pos.id}/close"' in page.text
    assert 'hx-confirm="Close position' in page.text
    close = f"/console/overrides/positions/{pos.id}/close"

    # no token, or a foreign one: refused, nothing done
    bare = await admin.http.post(close, data={"share": "0.5"})
    assert bare.status_code == 403
    forged = await admin.http.post(close, data={"share": "0.5", "csrf_token": "x" * 43})
    assert forged.status_code == 403
    assert await rows(h, m.ManualAction) == []
    # the API's bounds on the share
    too_much = await admin.post(close, {"share": "2", "next": f"/console/positions/{pos.id}"})
    assert too_much.status_code == 422 and "share must be" in too_much.text
    assert (await position(h, pos.id)).amount == pos.amount

    half = await admin.post(close, {"share": "0.5", "next": f"/console/positions/{pos.id}"})
    assert half.status_code == 303, half.text
    target = half.headers["location"]
    assert target.startswith(f"/console/positions/{pos.id}?action=")
    shown = await admin.get(target)
    assert "The close is done." in shown.text and "orders_sent" in shown.text
    assert (await position(h, pos.id)).amount < pos.amount
    rest = await admin.post(close, {"next": f"/console/positions/{pos.id}"})
    assert rest.status_code == 303
    assert (await position(h, pos.id)).status == m.PositionStatus.CLOSED
    [first, second] = await rows(h, m.ManualAction, kind="close")
    assert first.requested_by is not None and first.status == second.status == "done"
    audit = await rows(h, m.AuditEntry, entity="position", entity_id=str(pos.id))
    assert [a.action for a in audit] == ["close", "close"]
    assert audit[0].actor == "boss@example.com"

    # pause and resume the follow from the execution page
    [follow] = await rows(h, m.Follow, connection_id=connection_id)
    back = f"/console/executions/{pos.execution_id}"
    paused = await admin.post(f"/console/overrides/follows/{follow.id}/pause", {"next": back})
    assert paused.status_code == 303 and paused.headers["location"].startswith(back + "?action=")
    assert (await rows(h, m.Follow, id=follow.id))[0].paused_at is not None
    page = await admin.get(paused.headers["location"])
    assert "The pause is done." in page.text and f"Resume follow {follow.id}" in page.text
    resumed = await admin.post(f"/console/overrides/follows/{follow.id}/resume", {"next": back})
    assert resumed.status_code == 303
    assert (await rows(h, m.Follow, id=follow.id))[0].paused_at is None

    # cancel a waiting entry from the orders list
    far = {"order_type": "limit", "entry": {"low": "59000", "high": "59000"}}
    answer = await h.post_signal(channel_id, secret, signal(**far))
    signal_id = answer.json()["signal_id"]
    waiting: list[m.Order] = []

    async def resting() -> bool:
        executions = await rows(h, m.Execution, signal_id=signal_id)
        if executions:
            waiting[:] = await rows(h, m.Order, execution_id=executions[0].id, status="open")
        return bool(waiting)

    await eventually(resting)
    order = waiting[0]
    listing = await admin.get("/console/orders?status=open")
    cancel = f"/console/overrides/orders/{order.id}/cancel"
    assert f'action="{cancel}"' in listing.text
    done = await admin.post(cancel, {"next": "/console/orders"})
    assert done.status_code == 303 and done.headers["location"].startswith(
        "/console/orders?action="
    )
    assert (await rows(h, m.Order, id=order.id))[0].status == m.OrderStatus.CANCELED

    # panic: one connection, then everything
    again = await opened(h, channel_id, secret, take_profits=["66000"])
    panic = await admin.post(
        f"/console/overrides/connections/{connection_id}/panic",
        {"next": f"/console/positions/{again.id}"},
    )
    assert panic.status_code == 303
    assert (await position(h, again.id)).status == m.PositionStatus.CLOSED
    last = await opened(h, channel_id, secret, take_profits=["67000"])
    everything = await admin.post("/console/overrides/panic")
    assert everything.status_code == 303
    assert everything.headers["location"] == "/console/manual-actions?kind=panic"
    assert (await position(h, last.id)).status == m.PositionStatus.CLOSED
    actions = await admin.get(everything.headers["location"])
    assert actions.status_code == 200
    assert actions.text.count("<td>panic</td>") == 2
    # an unsafe "next" never leaves the site
    outside = await admin.post(
        f"/console/overrides/follows/{follow.id}/pause", {"next": "https://evil.example/"}
    )
    assert outside.headers["location"].startswith("/console/executions?action=")
    await admin.aclose()
