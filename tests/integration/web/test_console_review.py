"""The review desk page over HTTP: pending items beside their raw messages, approve (the
signal then executes for its follow, as through the API), reject, edit with the API's
validation (typed values kept), the API's refusal of a stale item; staff only."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from tests.console_rig import PageClient, logged_in
from tests.platform_fixtures import Harness, eventually

from signalbridge.store import models as m
from signalbridge.store.types import utcnow

#: A PineConnector command: read exactly, at 0.95, so below a 0.99 threshold.
PINE = b"LIC123456,buy,BTCUSDT,sl=58000,tp=62000"
#: A provider update in free text, read at 0.96.
MOVE_SL = b"BTC/USDT move sl to 59000"


async def desk(h: Harness, **settings: Any) -> tuple[int, str]:
    """A webhook channel with a 0.99 threshold, followed by one paper account."""
    channel_id, secret = await h.webhook_channel("desk")
    await h.ok("PATCH", f"/channels/{channel_id}", json={"min_confidence": "0.99", **settings})
    await h.follow(channel_id, await h.paper_connection())
    return channel_id, secret


async def pending_signal(h: Harness, channel_id: int, secret: str) -> int:
    response = await h.post_signal(channel_id, secret, PINE)
    assert response.status_code == 202 and response.json()["status"] == "review", response.text
    return int(response.json()["signal_id"])


async def signal_row(h: Harness, signal_id: int) -> m.Signal:
    async with h.container.sessions() as s:
        return await s.get_one(m.Signal, signal_id)


async def count(h: Harness, model: Any, *where: Any) -> int:
    async with h.container.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_the_desk_is_for_staff_only(harness: Harness) -> None:
    h = harness
    channel_id, secret = await desk(h)
    signal_id = await pending_signal(h, channel_id, secret)
    anon = PageClient(h)
    for path in ("/console/review", f"/console/review/signals/{signal_id}"):
        response = await anon.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
    member = await logged_in(h, "member@example.com", "member")
    assert (await member.get("/console/review")).status_code == 403
    assert (await member.get(f"/console/review/signals/{signal_id}")).status_code == 403
    await member.get("/portal")
    for action in ("approve", "reject", "edit"):
        refused = await member.post(f"/console/review/signals/{signal_id}/{action}")
        assert refused.status_code == 403, action
    assert (await signal_row(h, signal_id)).status == "review"
    staff = await logged_in(h, "op@example.com", "operator")
    assert (await staff.get("/console/review/signals/987654")).status_code == 404
    assert (await staff.get("/console/review/nonsense/1")).status_code == 422
    for client in (anon, member, staff):
        await client.aclose()


async def test_approving_from_the_desk_executes_the_signal_once(harness: Harness) -> None:
    h = harness
    channel_id, secret = await desk(h)
    signal_id = await pending_signal(h, channel_id, secret)
    page = await logged_in(h, "op@example.com", "operator")
    shown = await page.get("/console/review")
    assert shown.status_code == 200
    assert PINE.decode() in shown.text  # the raw message beside the parse
    assert f"Signal {signal_id}" in shown.text and "58000" in shown.text
    assert 'sse-connect="/console/events/review"' in shown.text
    approved = await page.post(f"/console/review/signals/{signal_id}/approve")
    assert approved.status_code == 303, approved.text
    after = await page.get(approved.headers["location"])
    assert f"Signal {signal_id} approved." in after.text and "Executions opened: 1." in after.text
    assert PINE.decode() not in after.text and "Nothing waits for review." in after.text
    assert (await signal_row(h, signal_id)).status == "dispatched"

    async def opened() -> bool:
        return await count(h, m.Position, m.Position.signal_id == signal_id) == 1

    await eventually(opened)
    again = await page.post(f"/console/review/signals/{signal_id}/approve")
    assert again.status_code == 409 and "no longer in review" in again.text
    assert await count(h, m.Execution, m.Execution.signal_id == signal_id) == 1
    await page.aclose()


async def test_rejecting_closes_the_item_with_the_reason(harness: Harness) -> None:
    h = harness
    channel_id, secret = await desk(h)
    signal_id = await pending_signal(h, channel_id, secret)
    page = await logged_in(h, "op@example.com", "operator")
    await page.get("/console/review")
    rejected = await page.post(
        f"/console/review/signals/{signal_id}/reject", {"reason": "provider retracted it"}
    )
    assert rejected.status_code == 303
    row = await signal_row(h, signal_id)
    assert row.status == "rejected" and "provider retracted it" in row.reasons[-1]
    assert await count(h, m.Execution, m.Execution.signal_id == signal_id) == 0
    assert "Nothing waits for review." in (await page.get(rejected.headers["location"])).text
    await page.aclose()


async def test_an_edit_is_validated_like_the_api_and_keeps_what_was_typed(
    harness: Harness,
) -> None:
    h = harness
    channel_id, secret = await desk(h)
    signal_id = await pending_signal(h, channel_id, secret)
    page = await logged_in(h, "op@example.com", "operator")
    item = await page.get(f"/console/review/signals/{signal_id}")
    assert item.status_code == 200
    assert 'value="BTC/USDT"' in item.text and 'value="58000"' in item.text
    assert PINE.decode() in item.text
    form = {
        "symbol": "BTC/USDT",
        "side": "long",
        "order_type": "limit",
        "entry_low": "60000",
        "entry_high": "",
        "stop_loss": "61000",  # above a long's entry: refused
        "take_profits": "62000\n64000",
        "leverage": "5",
    }
    refused = await page.post(f"/console/review/signals/{signal_id}/edit", form)
    assert refused.status_code == 422
    assert 'role="alert"' in refused.text and "stop" in refused.text.lower()
    assert 'value="61000"' in refused.text and "62000\n64000</textarea>" in refused.text
    row = await signal_row(h, signal_id)
    assert row.stop_loss is not None and row.stop_loss == 58000 and row.status == "review"

    saved = await page.post(
        f"/console/review/signals/{signal_id}/edit", {**form, "stop_loss": "57000"}
    )
    assert saved.status_code == 303
    assert "saved; it is still pending" in (await page.get(saved.headers["location"])).text
    row = await signal_row(h, signal_id)
    assert (row.stop_loss, row.order_type, row.leverage) == (Decimal(57000), "limit", 5)
    assert row.take_profits == ["62000", "64000"] and row.status == "review"

    approved = await page.post(
        f"/console/review/signals/{signal_id}/edit",
        {**form, "stop_loss": "56000", "then": "approve"},
    )
    assert approved.status_code == 303 and "done=approved" in approved.headers["location"]
    row = await signal_row(h, signal_id)
    assert row.stop_loss == 56000 and row.status == "dispatched"
    await page.aclose()


async def test_an_update_is_shown_and_edited_with_its_own_fields(harness: Harness) -> None:
    h = harness
    channel_id, secret = await desk(h)
    response = await h.post_signal(channel_id, secret, MOVE_SL)
    assert response.json()["status"] == "review", response.text
    update_id = response.json()["update_id"]
    page = await logged_in(h, "op@example.com", "operator")
    shown = await page.get("/console/review?kind=update")
    assert f"Update {update_id}" in shown.text and "move_sl" in shown.text
    item = await page.get(f"/console/review/updates/{update_id}")
    assert 'name="action"' in item.text and 'value="59000"' in item.text
    saved = await page.post(
        f"/console/review/updates/{update_id}/edit",
        {"action": "move_sl", "symbol": "BTC/USDT", "value": "59500"},
    )
    assert saved.status_code == 303
    async with h.container.sessions() as s:
        row = await s.get_one(m.SignalUpdate, update_id)
    assert row.value == 59500 and row.status == "review"
    await page.aclose()


async def test_approving_a_stale_item_shows_the_api_refusal(harness: Harness) -> None:
    h = harness
    channel_id, secret = await desk(h, max_signal_age_seconds=60)
    signal_id = await pending_signal(h, channel_id, secret)
    async with h.container.sessions() as s, s.begin():
        message_id = select(m.Signal.message_id).where(m.Signal.id == signal_id)
        await s.execute(
            update(m.Message)
            .where(m.Message.id.in_(message_id))
            .values(received_at=utcnow() - timedelta(hours=1))
        )
    page = await logged_in(h, "op@example.com", "operator")
    await page.get("/console/review")
    refused = await page.post(f"/console/review/signals/{signal_id}/approve")
    assert refused.status_code == 409
    assert 'role="alert"' in refused.text and "maximum signal age of 60 s" in refused.text
    assert (await signal_row(h, signal_id)).status == "rejected"
    assert await count(h, m.Execution, m.Execution.signal_id == signal_id) == 0
    await page.aclose()


async def test_the_list_fragment_for_the_live_refresh(harness: Harness) -> None:
    h = harness
    channel_id, secret = await desk(h)
    signal_id = await pending_signal(h, channel_id, secret)
    page = await logged_in(h, "op@example.com", "operator")
    fragment = await page.get(
        "/console/review?kind=&channel_id=",
        headers={"HX-Request": "true", "HX-Target": "review-items"},
    )
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<section id="review-items"')
    assert "<html" not in fragment.text and f"Signal {signal_id}" in fragment.text
    other = await page.get(f"/console/review?channel_id={channel_id + 1}")
    assert f"Signal {signal_id}" not in other.text
    await page.aclose()
