"""End to end through HTTP on the running platform: a gateway connection and a plan made
through the API, a member's checkout, the gateway's signed webhook, the subscription; an
admin's override; and a member who cannot see another's payments."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from tests.fakes.gateway_double import WORLDS, DoubleProvider, register_double
from tests.platform_fixtures import Harness

from signalbridge.payments.base import (
    PaymentEvent,
    PaymentEventKind,
    Subject,
    SubjectKind,
    SubjectStatus,
    payment_reference,
)
from signalbridge.services.auth import create_token, create_user
from signalbridge.store import models as m

counter = itertools.count(1)


async def member(h: Harness, email: str) -> dict[str, str]:
    async with h.container.sessions() as s, s.begin():
        user = await create_user(s, email, "a long password", "member")
        _, token = await create_token(s, user, "t", ["follows:read", "follows:write"], days=1)
    return {"Authorization": f"Bearer {token}"}


async def call(h: Harness, who: dict[str, str], method: str, path: str, **kw: Any) -> Any:
    return await h.client.request(method, "/api/v1" + path, headers=who, **kw)


async def count(h: Harness, model: type[Any]) -> int:
    async with h.container.sessions() as s:
        found = await s.scalar(select(func.count()).select_from(model))
    return int(found or 0)


def paid(started: dict[str, Any], *, customer: str | None = "cus_e2e") -> PaymentEvent:
    now = datetime.now(UTC)
    return PaymentEvent(
        gateway="double",
        event_id=f"evt_http_{next(counter)}",
        kind=PaymentEventKind.CHECKOUT_COMPLETED,
        subject=Subject(SubjectKind.CHECKOUT, started["checkout_id"]),
        occurred_at=now,
        provider_updated_at=now,
        status=SubjectStatus.PAID,
        reference=payment_reference(started["payment_id"]),
        customer_id=customer,
        amount=Decimal("49.00"),
        currency="USD",
    )


async def test_checkout_webhook_subscription_override_and_privacy(harness: Harness) -> None:
    h = harness
    register_double(h.container.registry)
    provider = DoubleProvider.open(f"http{next(counter)}")
    try:
        await _walkthrough(h, provider)
    finally:
        WORLDS.pop(provider.name, None)


async def _walkthrough(h: Harness, provider: DoubleProvider) -> None:
    admin = h.auth
    gateway = await h.ok(
        "POST",
        "/payment-gateways",
        json={
            "name": "Double",
            "type": "double",
            "config": {
                "world": provider.name,
                "webhook_secret": provider.secret,
                "fee_rate": "0.02",
            },
        },
    )
    gateway_id = gateway["id"]
    assert provider.secret not in str(gateway)
    channel_id, _ = await h.webhook_channel("premium")
    plan = await h.ok(
        "POST",
        "/plans",
        json={
            "name": "Premium",
            "prices": {"USD": "49.00"},
            "interval": "one_time",
            "channel_ids": [channel_id],
        },
    )
    alice = await member(h, "alice@example.com")
    bob = await member(h, "bob@example.com")

    # members read active plans, but do not write them
    listed = (await call(h, alice, "GET", "/plans")).json()["items"]
    assert [(p["id"], p["prices"]) for p in listed] == [(plan["id"], {"USD": "49.00"})]
    refused = await call(h, alice, "POST", "/plans", json={"name": "x", "prices": {"USD": "1"}})
    assert refused.status_code == 403
    bad_plan = await h.api("POST", "/plans", json={"name": "bad", "prices": {"usd": "1"}})
    assert bad_plan.status_code == 422

    offers = (await call(h, alice, "GET", f"/checkout/gateways?plan_id={plan['id']}")).json()
    assert [o["gateway_id"] for o in offers["items"]] == [gateway_id]
    r = await call(
        h,
        alice,
        "POST",
        "/checkout",
        json={"plan_id": plan["id"], "gateway_id": gateway_id, "currency": "USD"},
    )
    assert r.status_code == 201, r.text
    started = r.json()
    assert started["redirect_url"].startswith("https://pay.double.test/")
    wrong_currency = await call(
        h,
        alice,
        "POST",
        "/checkout",
        json={"plan_id": plan["id"], "gateway_id": gateway_id, "currency": "EUR"},
    )
    assert wrong_currency.status_code == 422

    # a bad signature: 400 and nothing written
    body, headers = provider.delivery(paid(started), secret="whsec_wrong")
    r = await h.client.post(f"/webhooks/payments/{gateway_id}", content=body, headers=headers)
    assert r.status_code == 400 and await count(h, m.PaymentEvent) == 0
    # the gateway's signed webhook: paid, the subscription exists
    body, headers = provider.delivery(paid(started))
    r = await h.client.post(f"/webhooks/payments/{gateway_id}", content=body, headers=headers)
    assert r.status_code == 200, r.text
    r = await h.client.post(f"/webhooks/payments/{gateway_id}", content=body, headers=headers)
    assert r.status_code == 200 and r.json()["events"][0]["outcome"] == "duplicate"
    missing = await h.client.post("/webhooks/payments/999999", content=body, headers=headers)
    assert missing.status_code == 404

    subs = (await call(h, alice, "GET", "/subscriptions")).json()["items"]
    assert [(s["plan_id"], s["status"], s["user_id"]) for s in subs] == [
        (plan["id"], "active", subs[0]["user_id"])
    ]
    pays = (await call(h, alice, "GET", "/payments")).json()["items"]
    assert [(p["id"], p["status"], p["fee"]) for p in pays] == [
        (started["payment_id"], "paid", "0.98")
    ]
    portal = await call(
        h,
        alice,
        "POST",
        f"/subscriptions/{subs[0]['id']}/portal",
        json={"return_url": "https://sb.example/back"},
    )
    assert portal.status_code == 200 and portal.json()["url"].startswith("https://billing.")

    # bob sees none of it: another's row answers exactly like a missing one
    assert (await call(h, bob, "GET", "/payments")).json()["items"] == []
    assert (await call(h, bob, "GET", "/subscriptions")).json()["items"] == []
    theirs = await call(h, bob, "GET", f"/payments/{started['payment_id']}")
    absent = await call(h, bob, "GET", f"/payments/{2**62}")
    assert theirs.status_code == absent.status_code == 404
    assert theirs.json()["error"]["message"].replace(str(started["payment_id"]), "N") == (
        absent.json()["error"]["message"].replace(str(2**62), "N")
    )
    assert (
        await call(
            h,
            bob,
            "POST",
            f"/subscriptions/{subs[0]['id']}/portal",
            json={"return_url": "https://sb.example/back"},
        )
    ).status_code == 404

    # the admin's hand: members may not, the admin may, and it is audited
    path = f"/payments/{started['payment_id']}/mark-refunded"
    assert (await call(h, alice, "POST", path, json={"note": "please"})).status_code == 403
    refunded = await h.ok("POST", path, json={"note": "refunded by phone"})
    assert refunded["status"] == "refunded"
    subs = (await call(h, alice, "GET", "/subscriptions")).json()["items"]
    assert subs[0]["status"] == "canceled"
    again = await h.api("POST", path, json={"note": "twice"})
    assert again.status_code == 409
    async with h.container.sessions() as s:
        audited = await s.scalar(
            select(func.count())
            .select_from(m.AuditEntry)
            .where(m.AuditEntry.action == "mark_refunded")
        )
    assert audited == 1
    admin_view = await call(h, admin, "GET", "/payments")
    assert [p["id"] for p in admin_view.json()["items"]] == [started["payment_id"]]


async def test_a_plan_stored_by_the_older_single_price_api_reads_and_sells(
    harness: Harness,
) -> None:
    """``/plans`` is the one plan API; a row written before ``prices`` existed (one
    ``price`` and ``currency``) reads as that one price and a member can still buy it."""
    h = harness
    register_double(h.container.registry)
    provider = DoubleProvider.open(f"http{next(counter)}")
    try:
        config = {"world": provider.name, "webhook_secret": provider.secret}
        gateway = await h.ok(
            "POST", "/payment-gateways", json={"name": "D", "type": "double", "config": config}
        )
        async with h.container.sessions() as s, s.begin():
            old = m.Plan(name="Legacy", price=Decimal("12.50"), currency="EUR", interval="month")
            s.add(old)
            await s.flush()
            plan_id = old.id
        alice = await member(h, "legacy@example.com")
        listed = (await call(h, alice, "GET", "/plans")).json()["items"]
        assert [(p["id"], list(p["prices"]), p["interval"]) for p in listed] == [
            (plan_id, ["EUR"], "month")
        ]
        assert Decimal(listed[0]["prices"]["EUR"]) == Decimal("12.50")
        offers = (await call(h, alice, "GET", f"/checkout/gateways?plan_id={plan_id}")).json()
        assert [(o["gateway_id"], o["currencies"]) for o in offers["items"]] == [
            (gateway["id"], ["EUR"])
        ]
        body = {"plan_id": plan_id, "gateway_id": gateway["id"], "currency": "EUR"}
        r = await call(h, alice, "POST", "/checkout", json=body)
        assert r.status_code == 201, r.text
        assert provider.requests[-1].price == Decimal("12.50")
        assert provider.requests[-1].currency == "EUR"
        # the old body shape is refused, naming what to send instead
        refused = await h.api("POST", "/plans", json={"name": "Old", "price": "5"})
        assert refused.status_code == 422
        assert "prices" in refused.text and "price" in refused.text
    finally:
        WORLDS.pop(provider.name, None)
