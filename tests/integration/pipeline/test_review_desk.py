"""The review desk end to end, on SQLite and PostgreSQL: a parse below its channel's
confidence waits; approving sends it through the ordinary path once (staleness included),
an edit is validated like a webhook body, a rejection closes it; racing reviewers execute
it once; only those who may change the channel see it."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from tests.platform_fixtures import Harness, eventually

from signalbridge.domain.signals import parsed_from_dict
from signalbridge.services import review
from signalbridge.services.auth import Principal, create_token, create_user
from signalbridge.services.ingest import Interpretation, ingest
from signalbridge.services.updates import apply_update
from signalbridge.store import models as m
from signalbridge.store.types import utcnow

MARKET: dict[str, Any] = {
    "kind": "signal",
    "symbol": "BTC/USDT",
    "side": "long",
    "order_type": "market",
    "stop_loss": "58000",
    "take_profits": ["62000", "64000"],
    "leverage": 10,
}
MOVE_SL = {"kind": "update", "action": "move_sl", "value": "59000", "symbol": "BTC/USDT"}
#: A PineConnector command: read exactly, at 0.95, so below a 0.99 threshold.
PINE = b"LIC123456,buy,BTCUSDT,sl=58000,tp=62000"


async def desk(h: Harness, **settings: Any) -> tuple[int, str, int]:
    """A webhook channel with a 0.99 threshold, followed by one paper account."""
    channel_id, secret = await h.webhook_channel()
    await h.ok("PATCH", f"/channels/{channel_id}", json={"min_confidence": "0.99", **settings})
    connection_id = await h.paper_connection()
    await h.follow(channel_id, connection_id)
    return channel_id, secret, connection_id


async def park(
    h: Harness, channel_id: int, contract: dict[str, Any] = MARKET, confidence: str = "0.5"
) -> int:
    """Store a message read with ``confidence``, as the intake does; the item's id."""
    async with h.container.sessions() as s, s.begin():
        channel = await s.get_one(m.ChannelSource, channel_id)
        count = await s.scalar(select(func.count()).select_from(m.Message))
        result = await ingest(
            s,
            channel=channel,
            external_id=f"parked-{count}",
            text=json.dumps(contract),
            content_type="application/json",
            received_at=utcnow(),
            interpretation=Interpretation(parsed_from_dict(contract), Decimal(confidence)),
            dispatch=True,
        )
    item = result.signal_id or result.update_id
    assert item is not None and result.status == m.MessageStatus.REVIEW
    return item


async def count(h: Harness, model: Any, *where: Any) -> int:
    async with h.container.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def signal_row(h: Harness, signal_id: int) -> m.Signal:
    async with h.container.sessions() as s:
        return await s.get_one(m.Signal, signal_id)


async def positions_of(h: Harness, signal_id: int) -> list[m.Position]:
    async with h.container.sessions() as s:
        rows = await s.scalars(select(m.Position).where(m.Position.signal_id == signal_id))
        return list(rows.all())


async def audit_actions(h: Harness, kind: str, item_id: int) -> list[str]:
    async with h.container.sessions() as s:
        rows = await s.scalars(
            select(m.AuditEntry.action)
            .where(m.AuditEntry.entity == kind, m.AuditEntry.entity_id == str(item_id))
            .order_by(m.AuditEntry.id)
        )
        return list(rows.all())


async def member(h: Harness, email: str) -> tuple[Principal, str]:
    async with h.container.sessions() as s, s.begin():
        user = await create_user(s, email, "member password 1", m.Role.MEMBER)
        _, token = await create_token(s, user, "t", ["signals:read", "channels:write"])
        who = Principal(user.id, user.email, user.role, frozenset(["channels:write"]))
    return who, token


async def test_a_webhook_parse_below_the_threshold_waits_then_executes_once(
    harness: Harness,
) -> None:
    h = harness
    channel_id, secret, _ = await desk(h)
    response = await h.post_signal(channel_id, secret, PINE)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "review"
    signal_id = response.json()["signal_id"]
    await asyncio.sleep(0.3)
    assert await count(h, m.Execution, m.Execution.signal_id == signal_id) == 0

    items = (await h.ok("GET", "/review"))["items"]
    assert [(i["kind"], i["id"]) for i in items] == [("signal", signal_id)]
    assert items[0]["parse"]["stop_loss"] == "58000"
    detail = await h.ok("GET", f"/review/signals/{signal_id}")
    assert detail["text"] == PINE.decode()
    assert detail["confidence"] == "0.95" and detail["channel"]["id"] == channel_id

    approved = await h.ok("POST", f"/review/signals/{signal_id}/approve")
    assert approved["status"] == "dispatched" and len(approved["execution_ids"]) == 1

    async def opened() -> bool:
        return len(await positions_of(h, signal_id)) == 1

    await eventually(opened)
    again = await h.api("POST", f"/review/signals/{signal_id}/approve")
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_pending"
    assert await count(h, m.Execution, m.Execution.signal_id == signal_id) == 1
    assert (await h.ok("GET", "/review"))["items"] == []
    assert await audit_actions(h, "signal", signal_id) == ["approve"]
    async with h.container.sessions() as s:
        message = await s.get_one(m.Message, detail["message_id"])
    assert message.status == m.MessageStatus.PARSED


async def test_an_edit_is_read_like_a_webhook_body_and_a_bad_one_changes_nothing(
    harness: Harness,
) -> None:
    h = harness
    channel_id, _, _ = await desk(h)
    signal_id = await park(h, channel_id)
    path = f"/review/signals/{signal_id}"
    before = await h.ok("GET", path)
    bad_bodies: list[Any] = [
        {**MARKET, "stop_loss": "65000"},  # a long's stop above its price... and entry
        {**MARKET, "order_type": "limit", "entry": "60000", "stop_loss": "61000"},
        {**MARKET, "stop_loss": "1e40"},
        {**MARKET, "symbol": "BTC/USDT\u202e"},
        {**MARKET, "side": "sideways"},
        MOVE_SL,  # another kind of item
        {"kind": "noise"},
        ["not", "an", "object"],
        {"text": "BTCUSDT long sl 58000"},  # free text is not a contract
    ]
    for body in bad_bodies:
        response = await h.api("PUT", path, json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["message"]
    for raw in (b"{", b'{"kind": "signal", "stop_loss": NaN}', b"\xff\xfe"):
        response = await h.api(
            "PUT", path, content=raw, headers={"Content-Type": "application/json"}
        )
        assert response.status_code in (400, 415, 422), (raw, response.text)
    after_bad = await h.ok("GET", path)
    assert after_bad["parse"] == before["parse"] and after_bad["status"] == "review"
    assert await audit_actions(h, "signal", signal_id) == []

    edited = await h.ok("PUT", path, json={**MARKET, "stop_loss": "59000.5"})
    assert edited["parse"]["stop_loss"] == "59000.5" and edited["status"] == "review"
    assert edited["history"][-1]["action"] == "edit"
    assert edited["history"][-1]["changes"]["stop_loss"] == ["58000", "59000.5"]
    row = await signal_row(h, signal_id)
    assert row.stop_loss == Decimal("59000.5") and row.status == m.SignalStatus.REVIEW

    await h.ok("POST", f"{path}/approve")

    async def opened() -> bool:
        return len(await positions_of(h, signal_id)) == 1

    await eventually(opened)
    (position,) = await positions_of(h, signal_id)
    assert position.stop_loss == Decimal("59000.5")


async def test_a_rejected_item_is_closed_and_never_executed(harness: Harness) -> None:
    h = harness
    channel_id, _, _ = await desk(h)
    signal_id = await park(h, channel_id)
    update_id = await park(h, channel_id, MOVE_SL)
    rejected = await h.ok(
        "POST", f"/review/signals/{signal_id}/reject", json={"reason": "not a call"}
    )
    assert rejected["status"] == "rejected"
    await h.ok("POST", f"/review/updates/{update_id}/reject")
    for path in (f"/review/signals/{signal_id}", f"/review/updates/{update_id}"):
        for action in ("approve", "reject"):
            response = await h.api("POST", f"{path}/{action}")
            assert response.status_code == 409, response.text
        response = await h.api("PUT", path, json=MARKET if "signals" in path else MOVE_SL)
        assert response.status_code == 409
    row = await signal_row(h, signal_id)
    assert row.status == "rejected" and row.reasons[-1] == "rejected in review: not a call"
    outcome = await apply_update(
        h.container.sessions, h.container.execution, update_id, pool=h.container.adapter_pool
    )
    assert outcome.status == "rejected"  # never applied
    assert await count(h, m.Execution, m.Execution.signal_id == signal_id) == 0
    assert await audit_actions(h, "signal", signal_id) == ["reject"]
    assert await audit_actions(h, "update", update_id) == ["reject"]
    assert (await h.ok("GET", "/review"))["items"] == []


async def test_an_item_older_than_the_channel_allows_is_refused_not_executed(
    harness: Harness,
) -> None:
    h = harness
    channel_id, _, _ = await desk(h, max_signal_age_seconds=60)
    signal_id = await park(h, channel_id)
    update_id = await park(h, channel_id, MOVE_SL)
    fresh_id = await park(h, channel_id)
    hour_ago = utcnow() - timedelta(hours=1)
    async with h.container.sessions() as s, s.begin():
        old = select(m.Signal.message_id).where(m.Signal.id == signal_id)
        old_update = select(m.SignalUpdate.message_id).where(m.SignalUpdate.id == update_id)
        await s.execute(
            update(m.Message)
            .where(m.Message.id.in_(old.union(old_update)))
            .values(received_at=hour_ago)
        )
        await s.execute(
            update(m.Signal).where(m.Signal.id == signal_id).values(received_at=hour_ago)
        )
    for path in (f"/review/signals/{signal_id}", f"/review/updates/{update_id}"):
        response = await h.api("POST", f"{path}/approve")
        assert response.status_code == 409, response.text
        error = response.json()["error"]
        assert error["code"] == "stale"
        assert "maximum signal age of 60 s" in error["message"]
    row = await signal_row(h, signal_id)
    assert row.status == "rejected" and "maximum signal age" in row.reasons[-1]
    assert await count(h, m.Execution, m.Execution.signal_id == signal_id) == 0
    assert await audit_actions(h, "signal", signal_id) == ["expire"]
    assert await audit_actions(h, "update", update_id) == ["expire"]
    # a young one on the same channel still goes through
    assert (await h.ok("POST", f"/review/signals/{fresh_id}/approve"))["status"] == "dispatched"


async def test_two_reviewers_racing_execute_an_item_once(harness: Harness) -> None:
    h = harness
    channel_id, _, _ = await desk(h)
    first = await park(h, channel_id)
    answers = await asyncio.gather(
        *(h.api("POST", f"/review/signals/{first}/approve") for _ in range(2))
    )
    assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
    # the service itself, many at once (on PostgreSQL: concurrent transactions)
    second = await park(h, channel_id)
    async with h.container.sessions() as s:
        admin = await s.scalar(select(m.User).where(m.User.role == m.Role.ADMIN))
    assert admin is not None
    who = Principal(admin.id, admin.email, admin.role, frozenset(["admin"]))
    queued: list[Any] = []

    async def hand_on(result: Any) -> None:
        queued.append(result)
        await h.container.intake.hand_on(result)

    outcomes = await asyncio.gather(
        *(review.approve(h.container.sessions, who, "signal", second, hand_on) for _ in range(5)),
        return_exceptions=True,
    )
    won = [o for o in outcomes if isinstance(o, review.Decision)]
    lost = [o for o in outcomes if isinstance(o, review.NotPending)]
    assert len(won) == 1 and len(lost) == 4, outcomes
    assert len(queued) == 1
    for signal_id in (first, second):
        assert await count(h, m.Execution, m.Execution.signal_id == signal_id) == 1

        async def opened(signal_id: int = signal_id) -> bool:
            return len(await positions_of(h, signal_id)) == 1

        await eventually(opened)
    assert await audit_actions(h, "signal", second) == ["approve"]


async def test_an_approved_update_is_applied(harness: Harness) -> None:
    h = harness
    channel_id, secret, _ = await desk(h)
    response = await h.post_signal(channel_id, secret, MARKET)  # canonical: confidence 1
    assert response.status_code == 202 and response.json()["status"] == "parsed"
    signal_id = response.json()["signal_id"]

    async def opened() -> bool:
        return len(await positions_of(h, signal_id)) == 1

    await eventually(opened)
    update_id = await park(h, channel_id, MOVE_SL)
    waiting = await apply_update(
        h.container.sessions, h.container.execution, update_id, pool=h.container.adapter_pool
    )
    assert waiting.status == "review"
    detail = await h.ok("GET", f"/review/updates/{update_id}")
    assert detail["parse"] == MOVE_SL
    assert (await h.ok("POST", f"/review/updates/{update_id}/approve"))["status"] == "received"

    async def moved() -> bool:
        async with h.container.sessions() as s:
            row = await s.get_one(m.SignalUpdate, update_id)
        (position,) = await positions_of(h, signal_id)
        return row.status == "applied" and position.stop_loss == Decimal("59000")

    await eventually(moved)


async def test_only_those_who_may_change_the_channel_see_its_items(harness: Harness) -> None:
    h = harness
    channel_id, _, _ = await desk(h)
    signal_id = await park(h, channel_id)
    who, token = await member(h, "member@example.com")
    auth = {"Authorization": f"Bearer {token}"}
    for method, path in (
        ("GET", "/review"),
        ("GET", f"/review/signals/{signal_id}"),
        ("PUT", f"/review/signals/{signal_id}"),
        ("POST", f"/review/signals/{signal_id}/approve"),
        ("POST", f"/review/signals/{signal_id}/reject"),
    ):
        response = await h.client.request(method, "/api/v1" + path, headers=auth, json=MARKET)
        assert response.status_code == 403, (path, response.text)
    # Even a member who owns the channel (an admin demoted, say) decides nothing on it: the
    # item answers like a missing one.
    async with h.container.sessions() as s, s.begin():
        await s.execute(
            update(m.ChannelSource)
            .where(m.ChannelSource.id == channel_id)
            .values(owner_id=who.user_id)
        )
    async with h.container.sessions() as s:
        assert await review.pending(s, who) == []
        missing = 2**62
        for item in (signal_id, missing):
            try:
                await review.show(s, who, "signal", item)
            except review.ItemNotFound as exc:
                assert exc.message == f"no signal {item} in review"
            else:
                raise AssertionError("a member saw an item")
    try:
        await review.approve(
            h.container.sessions, who, "signal", signal_id, h.container.intake.hand_on
        )
    except review.ItemNotFound:
        pass
    else:
        raise AssertionError("a member approved an item")
    assert (await signal_row(h, signal_id)).status == "review"
    # over HTTP a missing item is a 404 worded like any other
    missing_answer = await h.api("GET", f"/review/signals/{2**62}")
    assert missing_answer.status_code == 404
    assert missing_answer.json()["error"]["message"] == f"no signal {2**62} in review"
    # filters
    items = (await h.ok("GET", f"/review?kind=update&channel_id={channel_id}"))["items"]
    assert items == []
    items = (await h.ok("GET", f"/review?kind=signal&channel_id={channel_id}"))["items"]
    assert [i["id"] for i in items] == [signal_id]
    assert (await h.ok("GET", f"/review?channel_id={channel_id + 1000}"))["items"] == []


async def test_an_approved_signal_is_published_to_the_channel_owner(harness: Harness) -> None:
    """Held back in review, a signal is announced when approved, not before, and once."""
    from tests.fakes.notify_sender import link_chat

    h = harness
    channel_id, _, _ = await desk(h)
    async with h.container.sessions() as s:
        owner = await s.scalar(
            select(m.ChannelSource.owner_id).where(m.ChannelSource.id == channel_id)
        )
    assert owner is not None
    await link_chat(h.container.sessions, owner, 4242)
    published = (m.NotificationOutbox.kind == "signal_published",)
    signal_id = await park(h, channel_id)
    assert await count(h, m.NotificationOutbox, *published) == 0
    await h.ok("POST", f"/review/signals/{signal_id}/approve")
    assert await count(h, m.NotificationOutbox, *published) == 1
