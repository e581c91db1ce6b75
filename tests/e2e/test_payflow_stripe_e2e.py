"""Issue 16's end to end, on the running platform against the fake Stripe on loopback (the
real ``stripe`` library through the kernel's HTTP client): a member pays a plan on Stripe's
hosted checkout, Stripe's signed webhooks reach ``POST /webhooks/payments/{id}``, the
member follows the plan's channel and their paper account copies the next signal; the
subscription is cancelled at Stripe, and the next signal is skipped with the reason.
Then a missed webhook is recovered by ``payments reconcile`` from Stripe's event list."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from tests.fakes.stripe import FakeStripe
from tests.platform_fixtures import SIGNAL, Harness, eventually, make_settings, running_harness

from signalbridge.services.auth import SCOPES, create_token, create_user
from signalbridge.services.payments import reconcile
from signalbridge.store import models as m
from signalbridge.store.types import utcnow

MEMBER_SCOPES = [s for s in SCOPES if s != "admin"]


async def test_pay_on_stripe_copy_cancel_skip(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, allowed_hosts=["127.0.0.1"])
    with FakeStripe() as fake:
        endpoint = fake.add_endpoint()
        async with running_harness(settings) as h:
            await _walkthrough(h, fake, endpoint)


async def _walkthrough(h: Harness, fake: FakeStripe, endpoint: Any) -> None:
    gateway = await h.ok(
        "POST",
        "/payment-gateways",
        json={
            "name": "Stripe",
            "type": "stripe",
            "config": {
                "api_key": fake.api_key,
                "webhook_secret": endpoint.secret,
                "base_url": fake.base_url,
                "fee_rate": "0.029",
                "fixed_fee": "0.30",
            },
        },
    )
    endpoint.url = f"/webhooks/payments/{gateway['id']}"
    channel = await h.ok(
        "POST", "/channels", json={"name": "premium", "type": "webhook", "visibility": "plan"}
    )
    channel_id, secret = channel["id"], channel["generated_secrets"]["secret"]
    plan = await h.ok(
        "POST",
        "/plans",
        json={
            "name": "Premium",
            "prices": {"USD": "29.00"},
            "interval": "month",
            "channel_ids": [channel_id],
        },
    )
    async with h.container.sessions() as s, s.begin():
        user = await create_user(s, "payer@example.com", "a long enough password", "member")
        _, token = await create_token(s, user, "t", MEMBER_SCOPES)
    alice = {"Authorization": f"Bearer {token}"}

    async def call(method: str, path: str, **kw: Any) -> Any:
        return await h.client.request(method, "/api/v1" + path, headers=alice, **kw)

    cfg = {"futures": True, "feed": {"seed": 3, "volatility": "0"}, "account_id": "alice"}
    r = await call("POST", "/connections", json={"name": "alice", "type": "paper", "config": cfg})
    connection_id = r.json()["id"]
    follow = {
        "channel_id": channel_id,
        "connection_id": connection_id,
        "sizing": {"mode": "fixed_quote", "value": "100"},
    }
    assert (await call("POST", "/follows", json=follow)).status_code == 403  # not entitled yet

    # the member pays on Stripe's hosted page; Stripe's webhooks arrive, signed
    r = await call(
        "POST",
        "/checkout",
        json={"plan_id": plan["id"], "gateway_id": gateway["id"], "currency": "USD"},
    )
    assert r.status_code == 201, r.text
    started = r.json()
    assert started["redirect_url"].startswith(fake.base_url)
    fake.complete_checkout(started["checkout_id"])
    delivered = await fake.deliver_async(h.client, endpoint)
    assert delivered and all(status == 200 for _, status in delivered), delivered
    subs = (await call("GET", "/subscriptions")).json()["items"]
    assert [(s["plan_id"], s["status"]) for s in subs] == [(plan["id"], "active")]
    assert subs[0]["external_id"].startswith("sub_") and subs[0]["customer_id"].startswith("cus_")
    pays = (await call("GET", "/payments")).json()["items"]
    assert [(p["status"], p["amount"], p["currency"]) for p in pays] == [("paid", "29", "USD")]
    portal = await call(
        "POST",
        f"/subscriptions/{subs[0]['id']}/portal",
        json={"return_url": "https://sb.example/account"},
    )
    assert portal.status_code == 200 and portal.json()["url"].startswith(fake.base_url)

    # entitled: the follow is accepted and the next signal is copied
    r = await call("POST", "/follows", json=follow)
    assert r.status_code == 201, r.text
    first = (await h.post_signal(channel_id, secret, SIGNAL)).json()["signal_id"]

    async def copied() -> bool:
        return (await _execution(h, first, connection_id)) not in (None, m.ExecutionStatus.SKIPPED)

    await eventually(copied)

    # cancelled at Stripe: the next signal is skipped with the reason
    fake.cancel(subs[0]["external_id"])
    delivered = await fake.deliver_async(h.client, endpoint)
    assert delivered and all(status == 200 for _, status in delivered), delivered
    subs = (await call("GET", "/subscriptions")).json()["items"]
    assert subs[0]["status"] == "canceled"
    second = (await h.post_signal(channel_id, secret, {**SIGNAL, "stop_loss": "57000"})).json()

    async def skipped() -> bool:
        return await _execution(h, second["signal_id"], connection_id) == m.ExecutionStatus.SKIPPED

    await eventually(skipped)
    async with h.container.sessions() as s:
        execution = await s.scalar(
            select(m.Execution).where(m.Execution.signal_id == second["signal_id"])
        )
    assert execution is not None and execution.reason is not None
    assert execution.reason.startswith(f"not entitled to channel {channel_id}")

    # a second member's webhooks are lost (endpoint down); reconcile reads Stripe's events
    r = await call(
        "POST",
        "/checkout",
        json={"plan_id": plan["id"], "gateway_id": gateway["id"], "currency": "USD"},
    )
    lost = r.json()
    fake.complete_checkout(lost["checkout_id"])
    payments = h.container.payments
    reports = await reconcile.run(
        h.container.sessions,
        payments.directory,
        payments.callbacks,
        since=utcnow() - timedelta(days=1),
    )
    assert reports[0].method == "events" and reports[0].ok, reports
    assert reports[0].outcomes["applied"] >= 1
    async with h.container.sessions() as s:
        row = await s.get(m.Payment, lost["payment_id"])
    assert row is not None and row.status == "paid"
    again = await reconcile.run(
        h.container.sessions,
        payments.directory,
        payments.callbacks,
        since=utcnow() - timedelta(days=1),
    )
    assert set(again[0].outcomes) == {"duplicate"}  # no drift, nothing applied twice


async def _execution(h: Harness, signal_id: int, connection_id: int) -> str | None:
    async with h.container.sessions() as s:
        row = await s.scalar(
            select(m.Execution).where(
                m.Execution.signal_id == signal_id, m.Execution.connection_id == connection_id
            )
        )
    return None if row is None else row.status
