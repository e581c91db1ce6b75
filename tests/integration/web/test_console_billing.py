"""The console's billing pages over HTTP: plans (admins write, operators read what is on
sale), payment gateways against the fake Stripe and PayPal (secrets masked, never in a
page), payments and subscriptions with their filters and owners, and grants by hand."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.console_rig import PageClient, logged_in, make_user
from tests.fakes.loopback import LOOPBACK_HOSTS
from tests.fakes.paypal import CLIENT_ID, CLIENT_SECRET, WEBHOOK_ID, FakePayPal
from tests.fakes.stripe import FakeStripe
from tests.platform_fixtures import Harness, make_settings, running_harness

from signalbridge.store import models as m
from signalbridge.store.types import utcnow

STRIPE_KEY = "sk_test_51ConsoleBillingKey0123456789abcdWXYZ"
WEBHOOK_SECRET = "whsec_consoleBillingSecret0123456789LMNO"
PAGES = (
    "/console/billing",
    "/console/billing/plans/new",
    "/console/billing/gateways",
    "/console/billing/gateways/new",
    "/console/billing/payments",
    "/console/billing/subscriptions",
    "/console/billing/grants",
)
ALICE_CELL = "<td>alice@example.com</td>"
ADMIN_ONLY = (
    "/console/billing/plans/new",
    "/console/billing/gateways",
    "/console/billing/gateways/new",
)


@pytest.fixture
async def h(tmp_path: Path, database_url: str) -> AsyncIterator[Harness]:
    settings = make_settings(tmp_path, database_url, allowed_hosts=list(LOOPBACK_HOSTS))
    async with running_harness(settings) as harness:
        yield harness


async def audit_rows(h: Harness, entity: str, entity_id: int | None = None) -> list[m.AuditEntry]:
    query = select(m.AuditEntry).where(m.AuditEntry.entity == entity)
    if entity_id is not None:
        query = query.where(m.AuditEntry.entity_id == str(entity_id))
    async with h.container.sessions() as s:
        return list((await s.scalars(query.order_by(m.AuditEntry.id))).all())


def no_secret(*pages: str) -> None:
    for page in pages:
        for secret in (STRIPE_KEY, WEBHOOK_SECRET, CLIENT_SECRET):
            assert secret not in page


async def add_plan(h: Harness, name: str, *, active: bool = True) -> int:
    body = await h.ok(
        "POST",
        "/plans",
        json={"name": name, "prices": {"USD": "19.00"}, "is_active": active},
    )
    return int(body["id"])


async def test_who_may_open_the_billing_pages(h: Harness) -> None:
    anon = PageClient(h)
    for path in PAGES:
        gone = await anon.get(path)
        assert gone.status_code == 303 and gone.headers["location"].startswith("/login"), path
    member = await logged_in(h, "member@example.com", "member")
    for path in PAGES:
        assert (await member.get(path)).status_code == 403, path
    await add_plan(h, "Gold")
    await add_plan(h, "Retired", active=False)
    operator = await logged_in(h, "op@example.com", "operator")
    for path in PAGES:
        expected = 403 if path in ADMIN_ONLY else 200
        assert (await operator.get(path)).status_code == expected, path
    plans = await operator.get("/console/billing")
    assert "Gold" in plans.text and "Retired" not in plans.text  # what GET /plans shows
    assert "/console/billing/gateways" not in plans.text  # no link to an admin-only page
    admin = await logged_in(h, "boss@example.com", "admin")
    for path in PAGES:
        assert (await admin.get(path)).status_code == 200, path
    everything = await admin.get("/console/billing")
    assert "Gold" in everything.text and "Retired" in everything.text
    assert (await admin.get("/console/billing/plans/999999")).status_code == 404
    for client in (anon, member, operator, admin):
        await client.aclose()


async def test_admin_creates_edits_and_takes_a_plan_off_sale(h: Harness) -> None:
    channel_id, _ = await h.webhook_channel("premium")
    admin = await logged_in(h, "boss@example.com", "admin")
    await admin.get("/console/billing/plans/new")
    fields = {
        "name": "Pro",
        "prices": "USD 29.50\nEUR 27",
        "interval": "month",
        "interval_count": "1",
        "trial_days": "7",
        "channel_ids": str(channel_id),
        "gateway_prices": '{"stripe": "price_123"}',
        "is_active": "true",
    }
    assert (await admin.http.post("/console/billing/plans/new", data=fields)).status_code == 403
    bad = await admin.post("/console/billing/plans/new", {**fields, "prices": "USD -1"})
    assert bad.status_code == 422 and 'value="Pro"' in bad.text
    worse = await admin.post("/console/billing/plans/new", {**fields, "gateway_prices": "{"})
    assert worse.status_code == 422 and "JSON" in worse.text
    made = await admin.post("/console/billing/plans/new", fields)
    assert made.status_code == 303, made.text
    plan_id = int(re.findall(r"/plans/(\d+)", made.headers["location"])[0])
    async with h.container.sessions() as s:
        plan = await s.get(m.Plan, plan_id)
        assert plan is not None and plan.prices == {"USD": "29.50", "EUR": "27"}
        assert plan.channel_ids == [channel_id] and plan.trial_days == 7
        assert plan.gateway_prices == {"stripe": "price_123"}
    edit = await admin.get(made.headers["location"])
    assert "USD 29.50" in edit.text and "The plan is created." in edit.text
    saved = await admin.post(
        f"/console/billing/plans/{plan_id}", {**fields, "name": "Pro+", "trial_days": "0"}
    )
    assert saved.status_code == 303
    taken = await admin.post(f"/console/billing/plans/{plan_id}/deactivate")
    assert taken.status_code == 303
    async with h.container.sessions() as s:
        plan = await s.get(m.Plan, plan_id)
        assert plan is not None and plan.name == "Pro+" and plan.trial_days == 0
        assert plan.is_active is False and plan.prices == {"USD": "29.50", "EUR": "27"}
    listed = await admin.get("/console/billing")
    assert "off sale" in listed.text
    twin = await add_plan(h, "Twin")
    clash = await admin.post(f"/console/billing/plans/{twin}", {**fields, "name": "Pro+"})
    assert clash.status_code == 422 and "exists already" in clash.text
    audit = await audit_rows(h, "plan", plan_id)
    assert [e.action for e in audit] == ["create", "update", "update"]
    assert audit[-1].changes["is_active"] == [True, False]
    operator = await logged_in(h, "op@example.com", "operator")
    assert (await operator.post(f"/console/billing/plans/{plan_id}/activate")).status_code == 403
    await admin.aclose()
    await operator.aclose()


async def test_gateways_are_created_tested_and_toggled_with_secrets_masked(h: Harness) -> None:
    admin = await logged_in(h, "boss@example.com", "admin")
    with FakeStripe(api_key=STRIPE_KEY) as stripe, FakePayPal() as paypal:
        form = await admin.get("/console/billing/gateways/new?type=stripe")
        assert 'name="cfg_webhook_secret"' in form.text
        fields = {
            "type": "stripe",
            "name": "stripe-main",
            "is_active": "true",
            "cfg_api_key": STRIPE_KEY,
            "cfg_webhook_secret": WEBHOOK_SECRET,
            "cfg_base_url": stripe.base_url,
            "cfg_price_ids": '{"1": "price_abc"}',
        }
        missing = await admin.post(
            "/console/billing/gateways/new", {**fields, "cfg_webhook_secret": ""}
        )
        assert missing.status_code == 422 and "webhook_secret" in missing.text
        no_secret(missing.text)
        made = await admin.post("/console/billing/gateways/new", fields)
        assert made.status_code == 303, made.text
        gateway_id = int(made.headers["location"].split("/")[-1].split("?")[0])
        detail = await admin.get(made.headers["location"])
        assert "****" + STRIPE_KEY[-4:] in detail.text
        tested = await admin.post(f"/console/billing/gateways/{gateway_id}/test")
        assert "The test passed." in tested.text
        listed = await admin.get("/console/billing/gateways")
        assert "stripe-main" in listed.text and f"/webhooks/payments/{gateway_id}" in listed.text
        no_secret(detail.text, tested.text, listed.text)

        pp = await admin.post(
            "/console/billing/gateways/new",
            {
                "type": "paypal",
                "name": "paypal",
                "is_active": "true",
                "cfg_client_id": CLIENT_ID,
                "cfg_client_secret": CLIENT_SECRET,
                "cfg_webhook_id": WEBHOOK_ID,
                "cfg_base_url": paypal.base_url,
                "cfg_capture_on_approval": "false",
            },
        )
        assert pp.status_code == 303, pp.text
        paypal_id = int(pp.headers["location"].split("/")[-1].split("?")[0])
        async with h.container.sessions() as s:
            row = await s.get(m.PaymentGateway, paypal_id)
            assert row is not None and row.config["capture_on_approval"] is False
        paypal_page = await admin.get(f"/console/billing/gateways/{paypal_id}")
        assert "The test" not in paypal_page.text
        ok = await admin.post(f"/console/billing/gateways/{paypal_id}/test")
        assert "The test passed." in ok.text, ok.text
        no_secret(paypal_page.text, ok.text)

        # an edit keeps the stored secrets when their fields stay blank
        await admin.get(f"/console/billing/gateways/{gateway_id}")
        kept = await admin.post(
            f"/console/billing/gateways/{gateway_id}",
            {"name": "stripe-renamed", "cfg_base_url": stripe.base_url, "cfg_fee_rate": "0.029"},
        )
        assert kept.status_code == 303, kept.text
        again = await admin.post(f"/console/billing/gateways/{gateway_id}/test")
        assert "The test passed." in again.text
    off = await admin.post(f"/console/billing/gateways/{gateway_id}/deactivate", {"back": "list"})
    assert off.headers["location"] == "/console/billing/gateways?done=deactivated"
    after = await admin.get(off.headers["location"])
    assert "stripe-renamed" in after.text and "inactive" in after.text
    audit = await audit_rows(h, "payment_gateway", gateway_id)
    assert [e.action for e in audit][:2] == ["create", "update"]
    no_secret(after.text, str([e.changes for e in audit]))
    await admin.aclose()


async def test_payments_and_subscriptions_lists_filter_and_keep_to_their_owner(
    h: Harness,
) -> None:
    plan_id = await add_plan(h, "Gold")
    alice = await make_user(h, "alice@example.com", "member")
    operator = await logged_in(h, "op@example.com", "operator")
    async with h.container.sessions() as s:
        op_id = await s.scalar(select(m.User.id).where(m.User.email == "op@example.com"))
    assert op_id is not None
    now = utcnow()
    async with h.container.sessions() as s, s.begin():
        for n in range(3):
            s.add(
                m.Payment(
                    user_id=alice,
                    gateway="stripe",
                    external_id=f"in_{n}",
                    amount=Decimal("19.00"),
                    currency="USD",
                    status="paid" if n else "failed",
                    plan_id=plan_id,
                )
            )
        s.add(m.Payment(user_id=op_id, gateway="paypal", external_id="op_1",
                        amount=Decimal("7.25"), currency="EUR", status="paid"))  # fmt: skip
        s.add(
            m.Subscription(
                user_id=alice,
                plan_id=plan_id,
                gateway="stripe",
                external_id="sub_alice",
                status="active",
                current_period_end=now + timedelta(days=30),
            )
        )
    admin = await logged_in(h, "boss@example.com", "admin")
    everything = await admin.get("/console/billing/payments")
    assert everything.text.count(ALICE_CELL) == 3 and "7.25" in everything.text
    failed = await admin.get("/console/billing/payments?status=failed")
    assert failed.text.count(ALICE_CELL) == 1
    by_gateway = await admin.get("/console/billing/payments?gateway=paypal")
    assert ALICE_CELL not in by_gateway.text and "7.25" in by_gateway.text
    by_user = await admin.get("/console/billing/payments?user=alice%40example.com")
    assert by_user.text.count(ALICE_CELL) == 3 and "7.25" not in by_user.text
    nobody = await admin.get("/console/billing/payments?user=nobody%40example.com")
    assert "No payment." in nobody.text
    subs = await admin.get("/console/billing/subscriptions?status=active")
    assert ALICE_CELL in subs.text and "Gold" in subs.text
    assert (now + timedelta(days=30)).strftime("%Y-%m-%d") in subs.text
    # an operator sees only its own, as the API's lists
    own = await operator.get("/console/billing/payments")
    assert "7.25" in own.text and ALICE_CELL not in own.text
    none = await operator.get("/console/billing/subscriptions?user=alice%40example.com")
    assert ALICE_CELL not in none.text and "No subscription." in none.text
    bad = await admin.get("/console/billing/payments?before_id=0")
    assert bad.status_code == 422
    await admin.aclose()
    await operator.aclose()


async def test_payments_page_pages_older_rows(h: Harness) -> None:
    async with h.container.sessions() as s, s.begin():
        for n in range(55):
            s.add(m.Payment(gateway="stripe", external_id=f"in_{n}", amount=Decimal(n + 1),
                            currency="USD", status="paid"))  # fmt: skip
    admin = await logged_in(h, "boss@example.com", "admin")
    first = await admin.get("/console/billing/payments?gateway=stripe")
    older = re.findall(r'href="(/console/billing/payments\?[^"]+)">Older', first.text)
    assert older and "gateway=stripe" in older[0]
    second = await admin.get(older[0].replace("&amp;", "&"))
    assert second.status_code == 200 and "Older" not in second.text
    assert second.text.count('<th scope="row">') == 5
    await admin.aclose()


async def test_staff_grant_and_revoke_a_plan_by_hand(h: Harness) -> None:
    plan_id = await add_plan(h, "Gold")
    member_id = await make_user(h, "alice@example.com", "member")
    operator = await logged_in(h, "op@example.com", "operator")
    page = await operator.get("/console/billing/grants")
    assert "Grant a plan" in page.text
    no_csrf = await operator.http.post(
        "/console/billing/grants", data={"email": "alice@example.com", "plan_id": str(plan_id)}
    )
    assert no_csrf.status_code == 403
    unknown = await operator.post(
        "/console/billing/grants", {"email": "ghost@example.com", "plan_id": str(plan_id)}
    )
    assert unknown.status_code == 422 and "ghost@example.com" in unknown.text
    made = await operator.post(
        "/console/billing/grants",
        {"email": "alice@example.com", "plan_id": str(plan_id), "days": "30", "note": "promo"},
    )
    assert made.status_code == 303, made.text
    listed = await operator.get("/console/billing/grants")
    assert "alice@example.com" in listed.text and "promo" in listed.text
    assert "active" in listed.text
    async with h.container.sessions() as s:
        grant = await s.scalar(select(m.PlanGrant).where(m.PlanGrant.user_id == member_id))
    assert grant is not None and grant.granted_by == "op@example.com"
    revoked = await operator.post(f"/console/billing/grants/{grant.id}/revoke")
    assert revoked.status_code == 303
    twice = await operator.post(f"/console/billing/grants/{grant.id}/revoke")
    assert twice.status_code == 409 and "revoked already" in twice.text
    missing = await operator.post("/console/billing/grants/999999/revoke")
    assert missing.status_code == 404
    filtered = await operator.get("/console/billing/grants?user=someone%40example.com")
    assert "No grant." in filtered.text
    await operator.aclose()
