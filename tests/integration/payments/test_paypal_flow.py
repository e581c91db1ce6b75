"""PayPal through the payment flow, on the real database, against the PayPal fake.

A member pays a one-time plan (order → approval → capture, all from the signed
``CHECKOUT.ORDER.APPROVED`` delivery) or subscribes (activation, a renewal, cancellation);
every delivery goes through ``Callbacks.receive`` exactly as the webhook route hands it
over, so the events the gateway makes are the ones the flow stores once and applies.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.fakes.paypal import CLIENT_ID, CLIENT_SECRET, WEBHOOK_ID, FakePayPal
from tests.fakes.paypal_wire import Delivery
from tests.platform_fixtures import make_settings

from signalbridge.bootstrap import Container, build_container
from signalbridge.integrations.sealing import seal
from signalbridge.services.auth import create_user
from signalbridge.services.payments import checkout
from signalbridge.store import models as m
from signalbridge.store.migrate import upgrade

counter = itertools.count(1)


@dataclass
class World:
    c: Container
    fake: FakePayPal
    gateway_id: int
    user_id: int
    once: int
    monthly: int

    async def receive(self, delivery: Delivery) -> Any:
        return await self.c.payments.callbacks.receive(
            self.gateway_id, delivery.body, delivery.headers
        )

    async def get(self, model: type[Any], row_id: int) -> Any:
        async with self.c.sessions() as s:
            return await s.get(model, row_id)

    async def scalar(self, query: Any) -> Any:
        async with self.c.sessions() as s:
            return await s.scalar(query)

    async def start(self, plan_id: int) -> Any:
        return await checkout.start(
            self.c.sessions,
            self.c.payments.directory,
            user_id=self.user_id,
            plan_id=plan_id,
            connection_id=self.gateway_id,
            currency="USD",
            success_url="https://sb.example/ok",
            cancel_url="https://sb.example/no",
        )


@pytest.fixture(scope="module")
def fake() -> Iterator[FakePayPal]:
    with FakePayPal(seed=7) as server:
        yield server


@pytest.fixture
async def world(tmp_path: Path, database_url: str, fake: FakePayPal) -> AsyncIterator[World]:
    c = build_container(make_settings(tmp_path, database_url, allowed_hosts=["127.0.0.1"]))
    await upgrade(c.engine)
    plan = fake.add_plan("25.00", "USD")
    async with c.sessions() as s, s.begin():
        row = m.PaymentGateway(
            name=f"paypal{next(counter)}",
            type="paypal",
            config={
                "client_id": CLIENT_ID,
                "webhook_id": WEBHOOK_ID,
                "base_url": fake.base_url,
                "cert_hosts": [f"127.0.0.1:{fake.port}"],
                "cert_https_only": False,
                "fee_rate": "0.0349",
                "fixed_fee": "0.49",
            },
            is_active=True,
        )
        s.add(row)
        await s.flush()
        row.secrets_enc = seal(
            c.vault, "payment_gateways", row.id, {"client_secret": CLIENT_SECRET}
        )
        user = await create_user(
            s, f"payer{next(counter)}@example.com", "a long password", "member"
        )
        once = m.Plan(
            name="Lifetime",
            price=Decimal("10.00"),
            currency="USD",
            interval="one_time",
            prices={"USD": "10.00"},
            channel_ids=[],
        )
        monthly = m.Plan(
            name="Monthly",
            price=Decimal("25.00"),
            currency="USD",
            interval="month",
            prices={"USD": "25.00"},
            gateway_prices={"paypal": plan.id},
            channel_ids=[],
        )
        s.add_all([once, monthly])
        await s.flush()
        ids = (row.id, user.id, once.id, monthly.id)
    try:
        yield World(c, fake, *ids)
    finally:
        await c.close()


async def test_a_one_time_payment_is_captured_and_credited_once(world: World) -> None:
    started = await world.start(world.once)
    assert started.redirect_url.startswith("https://www.sandbox.paypal.com/checkoutnow?token=")
    approval = world.fake.approve(started.checkout_id)

    answer = await world.receive(approval)
    assert answer.status == 200, answer.body
    payment = await world.get(m.Payment, started.payment_id)
    assert payment.status == "paid" and payment.fee == Decimal("0.84")
    assert payment.external_id is not None  # the capture id

    again = await world.receive(approval)  # PayPal redelivers the approval
    assert again.status == 200 and {e["outcome"] for e in again.body["events"]} == {"duplicate"}
    captured = world.fake.capture_delivery(payment.external_id)
    assert (await world.receive(captured)).status == 200
    events = await world.scalar(
        select(func.count()).select_from(m.PaymentEvent).where(m.PaymentEvent.gateway == "paypal")
    )
    assert events == 3  # approval, capture (from the approval), capture webhook
    assert (await world.get(m.Payment, started.payment_id)).status == "paid"

    refunded = await world.receive(world.fake.refund(payment.external_id))
    assert refunded.status == 200, refunded.body
    assert (await world.get(m.Payment, started.payment_id)).status == "refunded"


async def test_a_subscription_is_activated_renewed_and_cancelled(world: World) -> None:
    started = await world.start(world.monthly)
    assert started.checkout_id.startswith("I-")
    for delivery in world.fake.activate(started.checkout_id):
        answer = await world.receive(delivery)
        assert answer.status == 200, answer.body
    payment = await world.get(m.Payment, started.payment_id)
    assert payment.status == "paid", payment.reason
    sub = await world.scalar(
        select(m.Subscription).where(m.Subscription.external_id == started.checkout_id)
    )
    assert sub is not None and sub.status == "active" and sub.current_period_end is not None
    renewal = await world.receive(world.fake.renew(started.checkout_id))
    assert renewal.status == 200, renewal.body
    payments = await world.scalar(
        select(func.count()).select_from(m.Payment).where(m.Payment.subscription_id == sub.id)
    )
    assert payments == 2  # the checkout's payment and the renewal, not the checkout twice

    cancelled = world.fake.set_subscription_status(
        started.checkout_id, "CANCELLED", "BILLING.SUBSCRIPTION.CANCELLED"
    )
    assert (await world.receive(cancelled)).status == 200
    sub = await world.get(m.Subscription, sub.id)
    assert sub.status == "canceled"


async def test_a_forged_delivery_writes_nothing(world: World) -> None:
    started = await world.start(world.once)
    approval = world.fake.approve(started.checkout_id)
    forged = approval.with_body(approval.body.replace(b"APPROVED", b"APPROVEX", 1))
    answer = await world.receive(forged)
    assert answer.status == 400
    count = await world.scalar(select(func.count()).select_from(m.PaymentEvent))
    assert count == 0
    assert (await world.get(m.Payment, started.payment_id)).status == "pending"


async def test_the_first_sale_before_the_activation_still_credits_the_checkout(
    world: World,
) -> None:
    started = await world.start(world.monthly)
    activated, sale = world.fake.activate(started.checkout_id)
    for delivery in (sale, activated, sale):  # out of order, and the sale twice
        answer = await world.receive(delivery)
        assert answer.status == 200, answer.body
    payment = await world.get(m.Payment, started.payment_id)
    assert payment.status == "paid" and payment.fee == Decimal("1.36")
    sub = await world.scalar(
        select(m.Subscription).where(m.Subscription.external_id == started.checkout_id)
    )
    assert sub is not None and sub.status == "active"
    payments = await world.scalar(
        select(func.count()).select_from(m.Payment).where(m.Payment.user_id == world.user_id)
    )
    assert payments == 1
