"""Plans in the portal: a plan on offer with a form per usable gateway; paying sends the
member to the gateway (the fake Stripe on loopback) with a 303, the gateway's signed
webhook marks the payment paid, and the return page says so; refusals come back on the
page; nobody sees another member's payments."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests.console_rig import PageClient, logged_in
from tests.fakes.gateway_double import WORLDS, DoubleProvider, register_double
from tests.fakes.stripe import FakeStripe
from tests.platform_fixtures import Harness, make_settings, running_harness

from signalbridge.store import models as m


@pytest.fixture
def stripe() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake


@pytest.fixture
async def shop(
    tmp_path: Path, database_url: str, stripe: FakeStripe
) -> AsyncIterator[tuple[Harness, Any, dict[str, int]]]:
    """The platform with a Stripe gateway (the fake), a second gateway and a plan."""
    settings = make_settings(tmp_path, database_url, allowed_hosts=["127.0.0.1"])
    async with running_harness(settings) as h:
        endpoint = stripe.add_endpoint()
        gateway = await h.ok(
            "POST",
            "/payment-gateways",
            json={
                "name": "Stripe",
                "type": "stripe",
                "config": {
                    "api_key": stripe.api_key,
                    "webhook_secret": endpoint.secret,
                    "base_url": stripe.base_url,
                },
            },
        )
        endpoint.url = f"/webhooks/payments/{gateway['id']}"
        register_double(h.container.registry)
        provider = DoubleProvider.open(f"portal-{tmp_path.name}")
        double = await h.ok(
            "POST",
            "/payment-gateways",
            json={
                "name": "Other gateway",
                "type": "double",
                "config": {"world": provider.name, "webhook_secret": provider.secret},
            },
        )
        channel = await h.ok(
            "POST",
            "/channels",
            json={"name": "Premium room", "type": "webhook", "visibility": "plan"},
        )
        plan = await h.ok(
            "POST",
            "/plans",
            json={
                "name": "Premium",
                "prices": {"USD": "29.00"},
                "interval": "month",
                "channel_ids": [channel["id"]],
            },
        )
        ids = {"stripe": gateway["id"], "double": double["id"], "plan": plan["id"]}
        try:
            yield h, endpoint, ids
        finally:
            WORLDS.pop(provider.name, None)


async def test_choose_a_plan_pay_on_the_gateway_and_come_back(
    shop: tuple[Harness, Any, dict[str, int]], stripe: FakeStripe
) -> None:
    h, endpoint, ids = shop
    alice = await logged_in(h, "alice@example.com", "member")
    page = await alice.get("/portal/plans")
    assert page.status_code == 200
    assert "Premium" in page.text and "29 USD" in page.text and "Premium room" in page.text
    assert "Pay with Stripe" in page.text and "Pay with Other gateway" in page.text

    form = {"plan_id": str(ids["plan"]), "gateway_id": str(ids["stripe"]), "currency": "USD"}
    wrong = await alice.post("/portal/plans/checkout", {**form, "currency": "EUR"})
    assert wrong.status_code == 422 and "not sold in EUR" in wrong.text
    no_gateway = await alice.post("/portal/plans/checkout", {**form, "gateway_id": "999999"})
    assert no_gateway.status_code == 404 and "Premium" in no_gateway.text

    sent = await alice.post("/portal/plans/checkout", form)
    assert sent.status_code == 303, sent.text
    assert sent.headers["location"].startswith(stripe.base_url)
    async with h.container.sessions() as s:
        payment = await s.scalar(select(m.Payment).order_by(m.Payment.id.desc()))
    assert payment is not None and payment.status == "pending" and payment.checkout_id

    waiting = await alice.get("/portal/plans/return?checkout=success")
    assert waiting.status_code == 200 and "waiting for the payment provider" in waiting.text

    stripe.complete_checkout(payment.checkout_id)
    delivered = await stripe.deliver_async(h.client, endpoint)
    assert delivered and all(status == 200 for _, status in delivered), delivered
    back = await alice.get("/portal/plans/return?checkout=success")
    assert f"Payment #{payment.id} is paid" in back.text and "<strong>Premium</strong>" in back.text
    overview = await alice.get("/portal")
    assert "<strong>Premium</strong>" in overview.text and "No active plan" not in overview.text
    plans = await alice.get("/portal/plans")
    assert "You hold" in plans.text and "active" in plans.text
    canceled = await alice.get("/portal/plans/return?checkout=canceled")
    assert "nothing was charged" in canceled.text

    bob = await logged_in(h, "bob@example.com", "member")
    theirs = await bob.get("/portal/plans")
    assert f"#{payment.id}" not in theirs.text and "You hold" not in theirs.text
    assert "None yet." in theirs.text
    assert f"Payment #{payment.id}" not in (await bob.get("/portal/plans/return")).text

    operator = await logged_in(h, "op@example.com", "operator")
    shown = await operator.get("/portal/plans")
    assert shown.status_code == 200 and "Pay with" not in shown.text
    assert (await operator.post("/portal/plans/checkout", form)).status_code == 403

    anonymous = PageClient(h)
    out = await anonymous.get("/portal/plans")
    assert out.status_code == 303 and out.headers["location"] == "/login?next=/portal/plans"
    back = await anonymous.get("/portal/plans/return?checkout=success")
    assert back.status_code == 303 and back.headers["location"].startswith("/login")
    for client in (alice, bob, operator, anonymous):
        await client.aclose()
