"""The scheduled payments reconcile on the running platform, against the fake Stripe on
loopback (the real ``stripe`` library through the kernel's HTTP client): a member pays
on Stripe's hosted checkout, every webhook is lost (none is delivered), and the
scheduler's job reads Stripe's event list and applies the payment: the payment is paid
and the subscription active, and later runs apply nothing twice. While Stripe's event
list fails, the job keeps its window and the failure changes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from tests.fakes.stripe import FakeStripe
from tests.platform_fixtures import Harness, eventually, make_settings, running_harness

from signalbridge.services.auth import SCOPES, create_token, create_user
from signalbridge.store import models as m

MEMBER_SCOPES = [s for s in SCOPES if s != "admin"]


def event_lists(fake: FakeStripe) -> list[Any]:
    return [r for r in fake.requests if r.method == "GET" and r.path == "/v1/events"]


async def count(h: Harness, model: Any) -> int:
    async with h.container.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_the_scheduled_reconcile_recovers_a_missed_webhook(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(
        tmp_path, database_url, allowed_hosts=["127.0.0.1"], payments_reconcile_seconds=0.2
    )
    with FakeStripe() as fake:
        endpoint = fake.add_endpoint()  # registered, and never delivered to: all are missed
        async with running_harness(settings, scheduler=True) as h:
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
                    },
                },
            )
            plan = await h.ok(
                "POST",
                "/plans",
                json={"name": "Premium", "prices": {"USD": "29.00"}, "interval": "month"},
            )
            async with h.container.sessions() as s, s.begin():
                user = await create_user(s, "late@example.com", "a long enough password", "member")
                _, token = await create_token(s, user, "t", MEMBER_SCOPES)
            member = {"Authorization": f"Bearer {token}"}

            # Stripe's event list is down: the job's runs fail and change nothing.
            fake.fail_next(500, path="/v1/events", times=1000)
            lists_before = len(event_lists(fake))
            started = await h.client.post(
                "/api/v1/checkout",
                headers=member,
                json={"plan_id": plan["id"], "gateway_id": gateway["id"], "currency": "USD"},
            )
            assert started.status_code == 201, started.text
            checkout = started.json()
            fake.complete_checkout(checkout["checkout_id"])

            async def tried_twice() -> bool:
                return len(event_lists(fake)) >= lists_before + 2

            await eventually(tried_twice, timeout=30)
            async with h.container.sessions() as s:
                row = await s.get(m.Payment, checkout["payment_id"])
            assert row is not None and row.status == "pending"
            assert await count(h, m.PaymentEvent) == 0

            # Every failed run read from the same start: the window waits for a clean run.
            held = {r.params["created"]["gte"] for r in event_lists(fake)[lists_before:]}
            assert len(held) == 1, held

            # Stripe answers again: the next run reads the events the webhooks missed.
            fake.clear_faults()

            async def paid() -> bool:
                async with h.container.sessions() as s:
                    row = await s.get(m.Payment, checkout["payment_id"])
                return row is not None and row.status == "paid"

            await eventually(paid, timeout=30)
            subs = (await h.client.get("/api/v1/subscriptions", headers=member)).json()["items"]
            assert [(s["plan_id"], s["status"]) for s in subs] == [(plan["id"], "active")]
            events = await count(h, m.PaymentEvent)
            assert events >= 1

            # Later runs read again (from their last clean run) and apply nothing twice.
            seen = len(event_lists(fake))

            async def ran_twice_more() -> bool:
                return len(event_lists(fake)) >= seen + 2

            await eventually(ran_twice_more, timeout=30)
            assert await count(h, m.PaymentEvent) == events
            assert await count(h, m.Subscription) == 1
            assert endpoint.url is None and fake.deliveries(endpoint) != []  # all missed
