"""Entitlement on the running platform (SQLite and PostgreSQL): a plan-only channel is
followed and copied only by entitled members; dispatch skips the others with the reason
while an entitled follower of the same signal executes; grants are audited; reminders
and end notices are issued once; the listing SQL agrees with the pure rules."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from tests.platform_fixtures import SIGNAL, Harness, eventually, make_settings, running_harness

from signalbridge.notifications.events import kinds_for
from signalbridge.services import entitlement
from signalbridge.services.auth import SCOPES, create_token, create_user
from signalbridge.services.entitlement_notices import send_notices
from signalbridge.services.entitlement_rules import decide
from signalbridge.store import models as m
from signalbridge.store.types import utcnow

MEMBER_SCOPES = [s for s in SCOPES if s != "admin"]
DAY = timedelta(days=1)


class Member:
    def __init__(self, user_id: int, token: str) -> None:
        self.id = user_id
        self.auth = {"Authorization": f"Bearer {token}"}


async def member(h: Harness, email: str, role: str = m.Role.MEMBER) -> Member:
    async with h.container.sessions() as s, s.begin():
        user = await create_user(s, email, "a long enough password", role)
        _, token = await create_token(s, user, "t", MEMBER_SCOPES)
    return Member(user.id, token)


async def call(h: Harness, who: Member, method: str, path: str, **kw: Any) -> Any:
    return await h.client.request(method, "/api/v1" + path, headers=who.auth, **kw)


async def paper(h: Harness, who: Member, account: str) -> int:
    cfg = {"futures": True, "feed": {"seed": 3, "volatility": "0"}, "account_id": account}
    r = await call(
        h, who, "POST", "/connections", json={"name": account, "type": "paper", "config": cfg}
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def follow_body(channel_id: int, connection_id: int) -> dict[str, Any]:
    return {
        "channel_id": channel_id,
        "connection_id": connection_id,
        "sizing": {"mode": "fixed_quote", "value": "100"},
    }


async def plan_channel(h: Harness, name: str = "premium") -> tuple[int, str, int]:
    body = await h.ok(
        "POST", "/channels", json={"name": name, "type": "webhook", "visibility": "plan"}
    )
    async with h.container.sessions() as s, s.begin():
        plan = m.Plan(name=f"Gold {name}", price=Decimal("10"), channel_ids=[body["id"]])
        s.add(plan)
        await s.flush()
        plan_id = plan.id
    return int(body["id"]), body["generated_secrets"]["secret"], plan_id


async def subscribe(
    h: Harness, user_id: int, plan_id: int, status: str, end: Any, ext: str = "sub_1"
) -> int:
    async with h.container.sessions() as s, s.begin():
        row = m.Subscription(
            user_id=user_id,
            plan_id=plan_id,
            gateway="stripe",
            external_id=ext,
            status=status,
            current_period_end=end,
        )
        s.add(row)
        await s.flush()
        return int(row.id)


async def set_subscription(h: Harness, sub_id: int, **values: Any) -> None:
    async with h.container.sessions() as s, s.begin():
        row = await s.get_one(m.Subscription, sub_id)
        for key, value in values.items():
            setattr(row, key, value)


async def executions_of(h: Harness, signal_id: int) -> dict[int, m.Execution]:
    async with h.container.sessions() as s:
        rows = (
            await s.scalars(select(m.Execution).where(m.Execution.signal_id == signal_id))
        ).all()
        return {x.connection_id: x for x in rows}


async def orders_of(h: Harness, execution_id: int) -> list[m.Order]:
    async with h.container.sessions() as s:
        return list(
            (await s.scalars(select(m.Order).where(m.Order.execution_id == execution_id))).all()
        )


async def orders_of_conn(h: Harness, c: int) -> list[m.Order]:
    async with h.container.sessions() as s:
        return list((await s.scalars(select(m.Order).where(m.Order.connection_id == c))).all())


async def test_visibility_validated_and_follow_needs_the_entitlement(harness: Harness) -> None:
    h = harness
    r = await h.api("POST", "/channels", json={"name": "x", "type": "webhook", "visibility": "vip"})
    assert r.status_code == 422
    channel_id, _, plan_id = await plan_channel(h)
    alice, bob = await member(h, "alice@example.com"), await member(h, "bob@example.com")
    ops = await member(h, "ops@example.com", m.Role.OPERATOR)
    conn_a, conn_b = await paper(h, alice, "a"), await paper(h, bob, "b")

    # bob holds nothing: a clear refusal naming the plan that sells it, and nothing written
    r = await call(h, bob, "POST", "/follows", json=follow_body(channel_id, conn_b))
    assert r.status_code == 403, r.text
    error = r.json()["error"]
    assert error["code"] == "not_entitled"
    assert "no subscription or grant" in error["message"] and str(plan_id) in error["message"]
    # neither listed nor readable for him
    listed = (await call(h, bob, "GET", "/channels")).json()["items"]
    assert channel_id not in {c["id"] for c in listed}
    assert (await call(h, bob, "GET", f"/channels/{channel_id}")).status_code == 404

    # alice pays: she sees it and follows
    await subscribe(h, alice.id, plan_id, "active", utcnow() + 30 * DAY)
    listed = (await call(h, alice, "GET", "/channels")).json()["items"]
    assert channel_id in {c["id"] for c in listed}
    r = await call(h, alice, "POST", "/follows", json=follow_body(channel_id, conn_a))
    assert r.status_code == 201, r.text
    # staff need no plan
    conn_o = await paper(h, ops, "o")
    r = await call(h, ops, "POST", "/follows", json=follow_body(channel_id, conn_o))
    assert r.status_code == 201, r.text

    # an expired subscription explains itself
    sub = await subscribe(h, bob.id, plan_id, "refunded", utcnow() + 30 * DAY, ext="sub_b")
    r = await call(h, bob, "POST", "/follows", json=follow_body(channel_id, conn_b))
    assert r.status_code == 403 and f"subscription {sub}" in r.json()["error"]["message"]
    assert "refunded" in r.json()["error"]["message"]
    async with h.container.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(m.Follow)) == 2

    # a plan-only channel that no plan sells and bob never held: as good as missing
    hidden = await h.ok(
        "POST", "/channels", json={"name": "h", "type": "webhook", "visibility": "plan"}
    )
    r = await call(h, bob, "POST", "/follows", json=follow_body(hidden["id"], conn_b))
    assert r.status_code == 422
    assert r.json()["error"]["message"] == f"channel {hidden['id']} does not exist"


async def resting_stop(h: Harness, connection_id: int) -> m.Order | None:
    for order in await orders_of_conn(h, connection_id):
        if order.leg.startswith("s") and order.status == m.OrderStatus.OPEN:
            return order
    return None


async def test_dispatch_skips_the_unentitled_with_the_reason(
    tmp_path: Path, database_url: str
) -> None:
    # the scheduler's monitor makes each position's stop rest on the paper venue
    settings = make_settings(tmp_path, database_url, monitor_seconds=0.1, paper_tick_seconds=60)
    async with running_harness(settings, scheduler=True) as h:
        await _dispatch_skips(h)


async def _dispatch_skips(h: Harness) -> None:
    channel_id, secret, plan_id = await plan_channel(h)
    alice, bob = await member(h, "alice@example.com"), await member(h, "bob@example.com")
    conn_a, conn_b = await paper(h, alice, "a"), await paper(h, bob, "b")
    await subscribe(h, alice.id, plan_id, "active", utcnow() + 30 * DAY)
    sub_b = await subscribe(h, bob.id, plan_id, "active", utcnow() + 30 * DAY, ext="sub_b")
    for who, conn in ((alice, conn_a), (bob, conn_b)):
        r = await call(h, who, "POST", "/follows", json=follow_body(channel_id, conn))
        assert r.status_code == 201, r.text

    first = (await h.post_signal(channel_id, secret, SIGNAL)).json()["signal_id"]

    async def bob_protected() -> bool:
        return await resting_stop(h, conn_b) is not None

    await eventually(bob_protected)

    # bob's payment is refunded. His open position keeps its protection and the
    # provider's updates still manage it (a stop moved to 59000 reaches it too) ...
    await set_subscription(h, sub_b, status="refunded")
    update = {"kind": "update", "action": "move_sl", "symbol": "BTC/USDT", "value": "59000"}
    r = await h.post_signal(channel_id, secret, update)
    assert r.status_code == 202, r.text

    async def bob_stop_moved() -> bool:
        stop = await resting_stop(h, conn_b)
        return stop is not None and stop.stop_price == Decimal("59000")

    await eventually(bob_stop_moved)

    # ... but his next signal is skipped with the reason, while alice's executes
    second = {**SIGNAL, "stop_loss": "57000"}
    r = await h.post_signal(channel_id, secret, second)
    assert r.status_code == 202, r.text
    signal_id = r.json()["signal_id"]

    async def alice_filled() -> bool:
        x = (await executions_of(h, signal_id)).get(conn_a)
        return x is not None and x.status == m.ExecutionStatus.OPEN

    await eventually(alice_filled)
    executions = await executions_of(h, signal_id)
    skipped = executions[conn_b]
    assert skipped.status == m.ExecutionStatus.SKIPPED
    assert skipped.reason is not None
    assert skipped.reason.startswith(f"not entitled to channel {channel_id}: ")
    assert f"subscription {sub_b}" in skipped.reason and "refunded" in skipped.reason
    assert await orders_of(h, skipped.id) == []
    assert len(await orders_of(h, executions[conn_a].id)) >= 1
    logs = (await call(h, bob, "GET", f"/execution-logs?execution_id={skipped.id}")).json()
    assert [(x["action"], x["reason"]) for x in logs["items"]] == [("skipped", skipped.reason)]

    # his position is still open, its stop still resting on the venue at 59000
    stop = await resting_stop(h, conn_b)
    assert stop is not None and stop.stop_price == Decimal("59000")
    async with h.container.sessions() as s:
        positions = (
            await s.scalars(select(m.Position).where(m.Position.connection_id == conn_b))
        ).all()
    assert [(p.signal_id, p.status, p.stop_loss) for p in positions] == [
        (first, m.PositionStatus.OPEN, Decimal("59000"))
    ]


async def test_grants_are_audited_and_gate_copying(harness: Harness) -> None:
    h = harness
    channel_id, secret, plan_id = await plan_channel(h)
    bob = await member(h, "bob@example.com")
    eve = await member(h, "eve@example.com")
    ops = await member(h, "ops@example.com", m.Role.OPERATOR)
    conn_b = await paper(h, bob, "b")

    # members may not grant; bad input is refused and writes nothing
    r = await call(h, bob, "POST", "/grants", json={"user_id": bob.id, "plan_id": plan_id})
    assert r.status_code == 403
    for body in (
        {"user_id": bob.id, "plan_id": plan_id, "days": 0},
        {"user_id": bob.id, "email": "bob@example.com", "plan_id": plan_id},
        {"plan_id": plan_id},
        {"user_id": bob.id, "plan_id": 2**62},
        {"email": "nobody@example.com", "plan_id": plan_id},
    ):
        r = await call(h, ops, "POST", "/grants", json=body)
        assert r.status_code == 422, (body, r.text)
    async with h.container.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(m.PlanGrant)) == 0

    r = await call(
        h, ops, "POST", "/grants", json={"email": "bob@example.com", "plan_id": plan_id, "days": 7}
    )
    assert r.status_code == 201, r.text
    grant = r.json()
    assert grant["state"] == "active" and grant["ends_at"] is not None
    assert grant["granted_by"] == "ops@example.com"
    r = await call(h, bob, "POST", "/follows", json=follow_body(channel_id, conn_b))
    assert r.status_code == 201, r.text
    # his entitlements name the grant; eve sees neither his grant nor his entitlements
    mine = (await call(h, bob, "GET", f"/users/{bob.id}/entitlements")).json()
    assert [(i["channel_id"], i["code"], i["source"]["kind"]) for i in mine["items"]] == [
        (channel_id, "grant", "grant")
    ]
    assert (await call(h, eve, "GET", "/grants")).json()["items"] == []
    assert (await call(h, eve, "GET", f"/users/{bob.id}/entitlements")).status_code == 404
    assert (await call(h, eve, "POST", f"/grants/{grant['id']}/revoke")).status_code in (403, 404)
    staff_view = (await call(h, ops, "GET", f"/users/{bob.id}/entitlements")).json()
    assert staff_view["items"][0]["channel_id"] == channel_id

    ok = (await h.post_signal(channel_id, secret, SIGNAL)).json()["signal_id"]

    async def executed() -> bool:
        x = (await executions_of(h, ok)).get(conn_b)
        return x is not None and x.status == m.ExecutionStatus.OPEN

    await eventually(executed)

    r = await call(h, ops, "POST", f"/grants/{grant['id']}/revoke")
    assert r.status_code == 200 and r.json()["state"] == "revoked"
    assert (await call(h, ops, "POST", f"/grants/{grant['id']}/revoke")).status_code == 409
    r = await h.post_signal(channel_id, secret, {**SIGNAL, "stop_loss": "57500"})
    skipped = (await executions_of(h, r.json()["signal_id"]))[conn_b]
    assert skipped.status == m.ExecutionStatus.SKIPPED
    assert skipped.reason is not None and f"grant {grant['id']}" in skipped.reason
    assert "revoked" in skipped.reason

    async with h.container.sessions() as s:
        audit = (
            await s.scalars(
                select(m.AuditEntry).where(m.AuditEntry.entity == "grant").order_by(m.AuditEntry.id)
            )
        ).all()
    assert [(a.action, a.actor, a.entity_id) for a in audit] == [
        ("create", "ops@example.com", str(grant["id"])),
        ("revoke", "ops@example.com", str(grant["id"])),
    ]
    assert audit[0].changes["user"] == "bob@example.com" and audit[0].changes["plan_id"] == plan_id


async def test_reminders_and_end_notices_are_sent_once(harness: Harness) -> None:
    h = harness
    _, _, plan_id = await plan_channel(h)
    alice = await member(h, "alice@example.com")
    async with h.container.sessions() as s, s.begin():
        s.add(m.NotificationChat(user_id=alice.id, chat_id=4242, events=list(kinds_for("member"))))
    now = utcnow()
    end = now + 2 * DAY
    sub = await subscribe(h, alice.id, plan_id, "active", end)
    sessions = h.container.sessions

    first = await h.platform.entitlement_notices()  # the scheduler's job, its settings
    again = await send_notices(sessions, reminder_days=3, now=now + timedelta(hours=1))
    assert (first.expiring, first.ended, again.expiring, again.ended) == (1, 0, 0, 0)

    # the period renews: the next period gets its own reminder, once
    await set_subscription(h, sub, current_period_end=end + 30 * DAY)
    later = end + 28 * DAY
    assert (await send_notices(sessions, reminder_days=3, now=later)).expiring == 1
    assert (await send_notices(sessions, reminder_days=3, now=later)).expiring == 0

    # it is refunded: one end notice, whatever the number of runs
    await set_subscription(h, sub, status="refunded")
    ended = await send_notices(sessions, reminder_days=3, now=utcnow() + timedelta(minutes=1))
    assert (ended.expiring, ended.ended) == (0, 1)
    assert (await send_notices(sessions, reminder_days=3, now=utcnow())).ended == 0

    async with sessions() as s:
        outbox = (
            await s.scalars(select(m.NotificationOutbox).order_by(m.NotificationOutbox.id))
        ).all()
        notices = await s.scalar(select(func.count()).select_from(m.EntitlementNotice))
    assert [o.kind for o in outbox] == [
        "subscription_expiring",
        "subscription_expiring",
        "subscription_ended",
    ]
    assert all(o.chat_id == 4242 and o.user_id == alice.id for o in outbox)
    assert "renews on" in outbox[0].text and "refunded" in outbox[2].text
    assert notices == 3


async def test_a_lapsed_grant_and_a_failed_renewal_end_once(harness: Harness) -> None:
    h = harness
    _, _, plan_id = await plan_channel(h)
    alice = await member(h, "alice@example.com")
    bob = await member(h, "bob@example.com")
    async with h.container.sessions() as s, s.begin():
        for who, chat in ((alice, 1), (bob, 2)):
            s.add(m.NotificationChat(user_id=who.id, chat_id=chat, events=["subscription_ended"]))
        now = utcnow()
        s.add(
            m.PlanGrant(
                user_id=alice.id,
                plan_id=plan_id,
                starts_at=now - 10 * DAY,
                ends_at=now - DAY,
                granted_by="cli",
            )
        )
    await subscribe(h, bob.id, plan_id, "past_due", now - DAY)  # in grace (3 days)
    report = await send_notices(h.container.sessions, reminder_days=0, now=now)
    assert (report.expiring, report.ended) == (0, 1)  # the grant; bob is in grace
    report = await send_notices(h.container.sessions, reminder_days=0, now=now + 3 * DAY)
    assert (report.expiring, report.ended) == (0, 1)  # bob's grace is over
    report = await send_notices(h.container.sessions, reminder_days=0, now=now + 4 * DAY)
    assert (report.expiring, report.ended) == (0, 0)


CASES: list[tuple[str, Any, bool]] = [
    # (status, period end offset in days or None, visible in listings)
    ("active", 5, True),
    ("active", -1, False),
    ("active", None, True),
    ("trialing", 1, True),
    ("canceled", 2, True),
    ("canceled", -2, False),
    ("canceled", None, False),
    ("refunded", 9, False),
    ("disputed", 9, False),
    ("pending", 9, False),
    ("past_due", -1, True),
    ("past_due", -30, True),  # listings are lenient while the provider retries
    ("past_due", None, False),
]


async def test_listing_sql_agrees_with_the_rules(harness: Harness) -> None:
    """``holds_channel`` (SQL, both databases) gives what the pure decision gives, except
    the documented leniency: a failed renewal stays visible past its grace."""
    h = harness
    now = utcnow()
    async with h.container.sessions() as s, s.begin():
        users = []
        for i, (status, offset, _) in enumerate(CASES):
            user = m.User(email=f"u{i}@example.com", password_hash="-", role="member")
            s.add(user)
            await s.flush()
            channel = m.ChannelSource(name=f"c{i}", type="webhook", visibility="plan", config={})
            other = m.ChannelSource(name=f"o{i}", type="webhook", visibility="plan", config={})
            s.add_all([channel, other])
            await s.flush()
            plan = m.Plan(name=f"p{i}", price=Decimal(1), channel_ids=[other.id, channel.id])
            s.add(plan)
            await s.flush()
            end = None if offset is None else now + timedelta(days=offset)
            s.add(
                m.Subscription(
                    user_id=user.id,
                    plan_id=plan.id,
                    gateway="stripe",
                    external_id=f"s{i}",
                    status=status,
                    current_period_end=end,
                )
            )
            users.append((user.id, channel.id))
        grantee = await create_user(s, "g@example.com", "a long enough password", "member")
        s.add(m.PlanGrant(user_id=grantee.id, plan_id=plan.id, starts_at=now, granted_by="t"))
    async with h.container.sessions() as s:
        grace = entitlement.grace_of(s)
        for (user_id, channel_id), (status, _, expected) in zip(users, CASES, strict=True):
            seen = set(
                (
                    await s.scalars(
                        select(m.ChannelSource.id).where(entitlement.holds_channel(user_id, now))
                    )
                ).all()
            )
            assert (channel_id in seen) == expected, (status, seen)
            held = (await entitlement.holdings_of(s, [user_id], channel_id))[user_id]
            exact = decide(held, now, grace).entitled
            if status != "past_due":
                assert exact == expected, status
            decision = await entitlement.check(s, user_id, channel_id, now=now)
            assert decision.entitled == exact
        seen = set(
            (
                await s.scalars(
                    select(m.ChannelSource.id).where(entitlement.holds_channel(grantee.id, now))
                )
            ).all()
        )
        assert seen == {plan.channel_ids[0], plan.channel_ids[1]}
        assert await entitlement.plans_offering(s, users[0][1]) == [plan.id - len(CASES) + 1]


async def test_the_grace_setting_reaches_every_session(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, payments_grace_days=0)
    async with running_harness(settings) as h:
        channel_id, _, plan_id = await plan_channel(h)
        bob = await member(h, "bob@example.com")
        await subscribe(h, bob.id, plan_id, "past_due", utcnow() - timedelta(minutes=1))
        async with h.container.sessions() as s:
            assert entitlement.grace_of(s) == timedelta(0)
            decision = await entitlement.check(s, bob.id, channel_id)
        assert (decision.entitled, decision.code) == (False, "renewal_failed")
        async with h.container.sessions() as s:
            later = await entitlement.check(s, bob.id, channel_id, now=utcnow() - DAY)
        assert later.entitled  # a day earlier it was still paid for
