"""The payment flow against the real database (SQLite and PostgreSQL) and the gateway double.

Reliability rows 1 (50 concurrent duplicates, one effect), 2 (a handler that fails after
writing rolls back; the redelivery applies once), 3 (every order of a subscription's
lifecycle ends in the provider's latest state), 7 (amount and currency mismatch, status
steps duplicated and out of order: one credit) and 8 (endpoint down, reconcile: no drift),
plus checkout, the gateway fallback and the admin's override.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from tests.fakes.gateway_double import WORLDS, DoubleProvider, register_double
from tests.platform_fixtures import make_settings

from signalbridge.bootstrap import Container, build_container
from signalbridge.integrations.retry import RetryPolicy
from signalbridge.integrations.sealing import seal
from signalbridge.payments.base import (
    GatewayCapabilities,
    PaymentEvent,
    PaymentEventKind,
    Subject,
    SubjectKind,
    SubjectState,
    SubjectStatus,
    payment_reference,
)
from signalbridge.services.auth import create_user
from signalbridge.services.payments import checkout, override, reconcile
from signalbridge.services.payments.errors import Unavailable
from signalbridge.store import models as m
from signalbridge.store.migrate import upgrade

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
counter = itertools.count(1)


@dataclass
class World:
    c: Container
    provider: DoubleProvider
    gateway_id: int
    user_id: int
    monthly: int
    once: int

    async def scalar(self, query: Any) -> Any:
        async with self.c.sessions() as s:
            return await s.scalar(query)

    async def count(self, model: type[Any], *where: Any) -> int:
        return int(await self.scalar(select(func.count()).select_from(model).where(*where)))


async def add_gateway(
    c: Container, world: str, *, name: str = "double", active: bool = True, **config: Any
) -> int:
    async with c.sessions() as s, s.begin():
        row = m.PaymentGateway(
            name=name, type="double", config={"world": world, **config}, is_active=active
        )
        s.add(row)
        await s.flush()
        row.secrets_enc = seal(
            c.vault, "payment_gateways", row.id, {"webhook_secret": WORLDS[world].secret}
        )
        return row.id


@pytest.fixture
async def world(tmp_path: Path, database_url: str) -> AsyncIterator[World]:
    c = build_container(make_settings(tmp_path, database_url))
    await upgrade(c.engine)
    register_double(c.registry)
    c.kernel.policies["payment"] = RetryPolicy(attempts=2, base_backoff=0.01, max_backoff=0.01)
    name = f"flow{next(counter)}"
    provider = DoubleProvider.open(name)
    gateway_id = await add_gateway(c, name, fee_rate="0.029", fixed_fee="0.30")
    async with c.sessions() as s, s.begin():
        user = await create_user(
            s, f"buyer{next(counter)}@example.com", "a long password", "member"
        )
        monthly = m.Plan(
            name="Gold",
            price=Decimal("19.00"),
            currency="USD",
            interval="month",
            prices={"USD": "19.00", "EUR": "18.00"},
            channel_ids=[],
        )
        once = m.Plan(
            name="Lifetime",
            price=Decimal("99"),
            currency="USD",
            interval="one_time",
            prices={"USD": "99"},
            channel_ids=[],
        )
        s.add_all([monthly, once])
        await s.flush()
        ids = (user.id, monthly.id, once.id)
    try:
        yield World(c, provider, gateway_id, *ids)
    finally:
        WORLDS.pop(name, None)
        await c.close()


async def start(w: World, plan_id: int, currency: str = "USD", gateway: int | None = None) -> Any:
    return await checkout.start(
        w.c.sessions,
        w.c.payments.directory,
        user_id=w.user_id,
        plan_id=plan_id,
        connection_id=gateway or w.gateway_id,
        currency=currency,
        success_url="https://sb.example/ok",
        cancel_url="https://sb.example/no",
    )


def paid_event(
    started: Any,
    *,
    amount: str = "99",
    currency: str = "USD",
    event_id: str | None = None,
    at: datetime = T0,
    kind: PaymentEventKind = PaymentEventKind.CHECKOUT_COMPLETED,
    status: SubjectStatus = SubjectStatus.PAID,
    fee: str | None = None,
    **kw: Any,
) -> PaymentEvent:
    return PaymentEvent(
        gateway="double",
        event_id=event_id or f"evt_{next(counter)}",
        kind=kind,
        subject=Subject(SubjectKind.CHECKOUT, started.checkout_id),
        occurred_at=at,
        provider_updated_at=at,
        status=status,
        reference=payment_reference(started.payment_id),
        amount=Decimal(amount),
        currency=currency,
        fee=Decimal(fee) if fee is not None else None,
        **kw,
    )


async def deliver(w: World, *events: PaymentEvent, secret: str | None = None) -> Any:
    body, headers = w.provider.delivery(*events, secret=secret)
    return await w.c.payments.callbacks.receive(w.gateway_id, body, headers)


async def payment(w: World, payment_id: int) -> m.Payment:
    async with w.c.sessions() as s:
        row = await s.get(m.Payment, payment_id)
    assert row is not None
    return row


# --- checkout -------------------------------------------------------------------------


async def test_checkout_writes_pending_row_before_the_gateway(world: World) -> None:
    started = await start(world, world.monthly, "EUR")
    row = await payment(world, started.payment_id)
    assert (row.status, row.amount, row.currency) == ("pending", Decimal("18.00"), "EUR")
    assert row.checkout_id == started.checkout_id and row.external_id is None
    assert started.redirect_url.startswith("https://pay.double.test/")
    request = world.provider.requests[-1]
    assert request.payment_id == started.payment_id and request.reference == f"sbpay_{row.id}"
    assert request.plan.interval.value == "month" and request.price == Decimal("18.00")


async def test_a_failing_gateway_closes_the_row_and_another_one_sells(world: World) -> None:
    other = await add_gateway(world.c, world.provider.name, name="second")
    world.provider.fail_checkouts = 10  # more than the kernel's retries
    with pytest.raises(Unavailable):
        await start(world, world.once)
    failed = await world.scalar(select(m.Payment).order_by(m.Payment.id.desc()).limit(1))
    assert failed.status == "failed" and "could not create the checkout" in failed.reason
    world.provider.fail_checkouts = 0
    started = await start(world, world.once, gateway=other)
    assert (await payment(world, started.payment_id)).connection_id == other


async def test_inactive_and_open_breaker_gateways_are_hidden(world: World) -> None:
    inactive = await add_gateway(world.c, world.provider.name, name="off", active=False)
    broken = await add_gateway(world.c, world.provider.name, name="broken")
    breaker = world.c.kernel.breaker("payment", broken)
    for _ in range(world.c.kernel.failure_threshold):
        await breaker.store.on_failure(breaker.connection_id, 1e12, breaker.failure_threshold)
    async with world.c.sessions() as s:
        offers = await checkout.offers(s, world.c.payments.directory, world.monthly)
    assert [o.connection_id for o in offers] == [world.gateway_id]
    assert offers[0].currencies == ("USD", "EUR")
    for hidden in (inactive, broken):
        with pytest.raises(Unavailable):
            await start(world, world.monthly, gateway=hidden)
    pending = await world.count(m.Payment, m.Payment.connection_id.in_((inactive, broken)))
    assert pending == 0  # a refused checkout writes nothing


async def test_a_gateway_that_cannot_sell_the_plan_is_not_offered(world: World) -> None:
    world.provider.capabilities = GatewayCapabilities(one_time=True, currencies=frozenset({"USD"}))
    name = f"narrow{next(counter)}"
    WORLDS[name] = DoubleProvider(name, capabilities=world.provider.capabilities)
    narrow = await add_gateway(world.c, name, name="narrow")
    async with world.c.sessions() as s:
        for_monthly = await checkout.offers(s, world.c.payments.directory, world.monthly)
        for_once = await checkout.offers(s, world.c.payments.directory, world.once)
    assert narrow not in [o.connection_id for o in for_monthly]
    assert [(o.connection_id, o.currencies) for o in for_once if o.connection_id == narrow] == [
        (narrow, ("USD",))
    ]
    WORLDS.pop(name)


# --- paying, one-time ------------------------------------------------------------------


async def test_paid_creates_the_subscription_and_records_the_fee(world: World) -> None:
    started = await start(world, world.once)
    answer = await deliver(world, paid_event(started))
    assert answer.status == 200, answer.body
    row = await payment(world, started.payment_id)
    assert row.status == "paid" and row.paid_at == T0
    assert row.fee == Decimal("0.029") * 99 + Decimal("0.30")  # from the gateway's config
    sub = await world.scalar(select(m.Subscription).where(m.Subscription.id == row.subscription_id))
    assert (sub.user_id, sub.plan_id, sub.status) == (world.user_id, world.once, "active")
    assert sub.current_period_end is None  # a one-time plan has no end
    assert sub.external_id == f"sbpay_{row.id}" and sub.connection_id == world.gateway_id


async def test_the_fee_the_event_reports_wins(world: World) -> None:
    started = await start(world, world.once)
    await deliver(world, paid_event(started, fee="3.17"))
    assert (await payment(world, started.payment_id)).fee == Decimal("3.17")


async def test_row1_fifty_concurrent_duplicates_give_one_effect(world: World) -> None:
    started = await start(world, world.once)
    event = paid_event(started, event_id="evt_dup")
    answers = await asyncio.gather(*(deliver(world, event) for _ in range(50)))
    assert [a.status for a in answers] == [200] * 50
    outcomes = sorted(a.body["events"][0]["outcome"] for a in answers)
    assert outcomes.count("applied") == 1 and outcomes.count("duplicate") == 49
    assert await world.count(m.Subscription, m.Subscription.user_id == world.user_id) == 1
    assert await world.count(m.Payment, m.Payment.status == "paid") == 1
    assert await world.count(m.PaymentEvent, m.PaymentEvent.event_id == "evt_dup") == 1


async def test_row2_a_failure_after_writing_rolls_back_and_redelivery_applies_once(
    world: World,
) -> None:
    started = await start(world, world.once)
    event = paid_event(started, event_id="evt_fails_once")
    calls = 0

    async def fail_once(session: AsyncSession, _: PaymentEvent) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("disk full after the write")

    world.c.payments.callbacks.after_apply = fail_once
    first = await deliver(world, event)
    assert first.status == 500
    assert (await payment(world, started.payment_id)).status == "pending"  # rolled back
    assert await world.count(m.Subscription) == 0
    failed = await world.scalar(
        select(m.PaymentEvent).where(m.PaymentEvent.event_id == event.event_id)
    )
    assert (failed.status, failed.attempts) == ("failed", 1) and "disk full" in failed.error
    second = await deliver(world, event)
    third = await deliver(world, event)
    assert (second.status, third.status) == (200, 200)
    assert [second.body["events"][0]["outcome"], third.body["events"][0]["outcome"]] == [
        "applied",
        "duplicate",
    ]
    assert await world.count(m.Subscription) == 1
    applied = await world.scalar(
        select(m.PaymentEvent).where(m.PaymentEvent.event_id == event.event_id)
    )
    assert (applied.status, applied.attempts, applied.error) == ("applied", 2, None)


async def test_bad_signature_is_400_and_writes_nothing(world: World) -> None:
    started = await start(world, world.once)
    answer = await deliver(world, paid_event(started), secret="not the secret")
    assert answer.status == 400 and answer.body["reason"] == "signature"
    assert await world.count(m.PaymentEvent) == 0
    assert (await payment(world, started.payment_id)).status == "pending"


# --- row 7: amounts and status steps --------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency"), [("98.99", "USD"), ("99.01", "USD"), ("99", "EUR"), ("0", "USD")]
)
async def test_row7_a_mismatch_never_pays(world: World, amount: str, currency: str) -> None:
    started = await start(world, world.once)
    answer = await deliver(world, paid_event(started, amount=amount, currency=currency))
    assert answer.status == 200 and answer.body["events"][0]["outcome"] == "ignored"
    row = await payment(world, started.payment_id)
    assert row.status == "pending" and (row.reason or "").startswith("amount mismatch")
    assert await world.count(m.Subscription) == 0


async def test_row7_status_steps_duplicated_and_out_of_order_credit_once(world: World) -> None:
    started = await start(world, world.once)

    def step(status: int, minute: int) -> PaymentEvent:
        kind = (
            PaymentEventKind.PAYMENT_SUCCEEDED
            if status >= 100
            else PaymentEventKind.PAYMENT_PENDING
        )
        return paid_event(
            started,
            event_id=f"txn_1:{status}",
            at=T0 + timedelta(minutes=minute),
            kind=kind,
            status=SubjectStatus.PAID if status >= 100 else SubjectStatus.PENDING,
            reason=None if status >= 100 else f"status {status}",
        )

    steps = [step(100, 2), step(0, 0), step(1, 1), step(100, 2), step(0, 0), step(1, 1)]
    for event in steps:
        assert (await deliver(world, event)).status == 200
    row = await payment(world, started.payment_id)
    assert row.status == "paid" and row.paid_at == T0 + timedelta(minutes=2)
    assert await world.count(m.Subscription) == 1
    assert await world.count(m.Payment, m.Payment.status == "paid") == 1


async def test_an_underpayment_stays_pending_with_its_reason(world: World) -> None:
    started = await start(world, world.once)
    event = paid_event(
        started,
        kind=PaymentEventKind.PAYMENT_PENDING,
        status=SubjectStatus.PENDING,
        amount="50",
        reason="underpaid: 50 of 99 USD received",
    )
    await deliver(world, event)
    row = await payment(world, started.payment_id)
    assert (row.status, row.reason) == ("pending", "underpaid: 50 of 99 USD received")


# --- refunds, disputes, override ---------------------------------------------------------


async def test_refund_and_dispute_end_the_subscription(world: World) -> None:
    for kind, status in (
        (PaymentEventKind.REFUNDED, "refunded"),
        (PaymentEventKind.DISPUTED, "disputed"),
    ):
        started = await start(world, world.once)
        await deliver(world, paid_event(started, at=T0))
        later = T0 + timedelta(days=1)
        answer = await deliver(
            world, paid_event(started, kind=kind, status=SubjectStatus(status), at=later)
        )
        assert answer.body["events"][0]["outcome"] == "applied"
        row = await payment(world, started.payment_id)
        assert row.status == status
        sub = await world.scalar(
            select(m.Subscription).where(m.Subscription.id == row.subscription_id)
        )
        assert sub.status == "canceled" and sub.current_period_end == later


async def test_a_dispute_naming_only_its_charge_is_traced_through_the_provider(
    world: World,
) -> None:
    started = await start(world, world.once)
    await deliver(world, paid_event(started))
    charge = Subject(SubjectKind.PAYMENT, "ch_only")
    world.provider.states[charge] = SubjectState(
        subject=charge,
        status=SubjectStatus.DISPUTED,
        provider_status="disputed",
        as_of=T0 + timedelta(days=2),
        reference=payment_reference(started.payment_id),
    )
    dispute = PaymentEvent(
        gateway="double",
        event_id="evt_dispute_charge",
        kind=PaymentEventKind.DISPUTED,
        subject=charge,
        occurred_at=T0 + timedelta(days=2),
        provider_updated_at=T0 + timedelta(days=2),
        status=SubjectStatus.DISPUTED,
    )
    answer = await deliver(world, dispute)
    assert answer.status == 200 and answer.body["events"][0]["outcome"] == "applied"
    assert (await payment(world, started.payment_id)).status == "disputed"
    assert charge in world.provider.fetches


async def test_an_event_about_nothing_of_ours_is_stored_and_answered_200(world: World) -> None:
    stranger = PaymentEvent(
        gateway="double",
        event_id="evt_stranger",
        kind=PaymentEventKind.REFUNDED,
        subject=Subject(SubjectKind.PAYMENT, "ch_someone_else"),
        occurred_at=T0,
        provider_updated_at=T0,
    )
    answer = await deliver(world, stranger)
    assert answer.status == 200 and answer.body["events"][0]["outcome"] == "ignored"
    row = await world.scalar(
        select(m.PaymentEvent).where(m.PaymentEvent.event_id == "evt_stranger")
    )
    assert row.status == "ignored" and "no payment of ours" in row.error
    world.provider.fetch_down = True  # a provider that cannot answer: 5xx, delivered again
    other = PaymentEvent(
        gateway="double",
        event_id="evt_stranger_2",
        kind=PaymentEventKind.REFUNDED,
        subject=Subject(SubjectKind.PAYMENT, "ch_unknown"),
        occurred_at=T0,
        provider_updated_at=T0,
    )
    assert (await deliver(world, other)).status == 500


async def test_admin_marks_paid_and_refunded_by_hand_audited(world: World) -> None:
    started = await start(world, world.monthly)
    now = T0 + timedelta(hours=1)
    async with world.c.sessions() as s, s.begin():
        await override.mark_paid(
            s, started.payment_id, note="bank transfer 42", actor="admin@x", actor_id=None, now=now
        )
    row = await payment(world, started.payment_id)
    sub = await world.scalar(select(m.Subscription).where(m.Subscription.id == row.subscription_id))
    assert row.status == "paid" and sub.status == "active"
    assert sub.current_period_end == datetime(2027, 1, 1, 13, 0, tzinfo=UTC)  # one month
    async with world.c.sessions() as s, s.begin():
        await override.mark_refunded(
            s,
            started.payment_id,
            note="goodwill",
            actor="admin@x",
            actor_id=None,
            now=now + timedelta(days=2),
        )
    row = await payment(world, started.payment_id)
    sub = await world.scalar(select(m.Subscription).where(m.Subscription.id == row.subscription_id))
    assert row.status == "refunded" and sub.status == "canceled"
    actions = (
        await world.scalar(
            select(func.group_concat(m.AuditEntry.action)).where(m.AuditEntry.entity == "payment")
        )
        if world.c.engine.dialect.name == "sqlite"
        else await world.scalar(
            select(func.string_agg(m.AuditEntry.action, ",")).where(
                m.AuditEntry.entity == "payment"
            )
        )
    )
    assert sorted(actions.split(",")) == ["mark_paid", "mark_refunded"]


# --- row 3: subscription lifecycle in any order ---------------------------------------


def lifecycle(started: Any, sub_id: str, cancel: bool) -> tuple[list[PaymentEvent], SubjectState]:
    """A subscription's events, markers strictly increasing, and the provider's last state."""
    pe1, pe2 = T0 + timedelta(days=31), T0 + timedelta(days=62)

    def sub_event(
        i: int, kind: PaymentEventKind, status: SubjectStatus, pe: datetime
    ) -> PaymentEvent:
        return PaymentEvent(
            gateway="double",
            event_id=f"{sub_id}:e{i}",
            kind=kind,
            subject=Subject(SubjectKind.SUBSCRIPTION, sub_id),
            occurred_at=T0 + timedelta(minutes=i),
            provider_updated_at=T0 + timedelta(minutes=i),
            status=status,
            reference=payment_reference(started.payment_id),
            subscription_id=sub_id,
            customer_id="cus_1",
            period_end=pe,
        )

    def invoice(i: int, pe: datetime) -> PaymentEvent:
        return PaymentEvent(
            gateway="double",
            event_id=f"{sub_id}:e{i}",
            kind=PaymentEventKind.PAYMENT_SUCCEEDED,
            subject=Subject(SubjectKind.PAYMENT, f"in_{sub_id}_{i}"),
            occurred_at=T0 + timedelta(minutes=i),
            provider_updated_at=T0 + timedelta(minutes=i),
            status=SubjectStatus.PAID,
            subscription_id=sub_id,
            amount=Decimal("19.00"),
            currency="USD",
            period_end=pe,
        )

    events = [
        paid_event(
            started,
            amount="19.00",
            subscription_id=sub_id,
            customer_id="cus_1",
            at=T0 + timedelta(minutes=1),
            event_id=f"{sub_id}:e1",
        ),
        sub_event(2, PaymentEventKind.SUBSCRIPTION_UPDATED, SubjectStatus.ACTIVE, pe1),
        invoice(3, pe1),
        sub_event(4, PaymentEventKind.SUBSCRIPTION_UPDATED, SubjectStatus.PAST_DUE, pe1),
        invoice(5, pe2),
        sub_event(6, PaymentEventKind.SUBSCRIPTION_UPDATED, SubjectStatus.ACTIVE, pe2),
    ]
    if cancel:
        events.append(
            sub_event(7, PaymentEventKind.SUBSCRIPTION_CANCELED, SubjectStatus.CANCELED, pe2)
        )
    last = events[-1] if cancel else events[5]
    assert last.status is not None
    state = SubjectState(
        subject=Subject(SubjectKind.SUBSCRIPTION, sub_id),
        status=last.status,
        provider_status=last.status.value,
        as_of=last.provider_updated_at,
        reference=payment_reference(started.payment_id),
        subscription_id=sub_id,
        customer_id="cus_1",
        period_end=pe2,
    )
    return events, state


async def _lifecycle_in_order(w: World, order: list[int], cancel: bool, duplicate: int) -> None:
    started = await start(w, w.monthly)
    sub_id = f"sub_{next(counter)}"
    events, latest = lifecycle(started, sub_id, cancel)
    w.provider.states[latest.subject] = latest
    chosen = [events[i % len(events)] for i in order]
    chosen = list(dict.fromkeys(chosen)) + [e for e in events if e not in chosen]
    chosen.insert(duplicate % (len(chosen) + 1), chosen[duplicate % len(chosen)])
    for event in chosen:
        answer = await deliver(w, event)
        assert answer.status == 200, answer.body
    sub = await w.scalar(
        select(m.Subscription).where(
            m.Subscription.gateway == "double", m.Subscription.external_id == sub_id
        )
    )
    # the provider's latest object: paid through its period, or ended when it was canceled
    end = latest.as_of if latest.status is SubjectStatus.CANCELED else latest.period_end
    assert (sub.status, sub.current_period_end) == (latest.status.value, end)
    assert sub.provider_updated_at == latest.as_of
    row = await payment(w, started.payment_id)
    assert row.status == "paid" and row.subscription_id == sub.id
    renewals = await w.count(m.Payment, m.Payment.subscription_id == sub.id)
    assert renewals == 2  # the checkout (its first invoice linked to it) and one renewal


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    order=st.permutations(range(7)),
    cancel=st.booleans(),
    duplicate=st.integers(min_value=0, max_value=20),
)
async def test_row3_every_order_ends_in_the_providers_latest_state(
    world: World, order: list[int], cancel: bool, duplicate: int
) -> None:
    await _lifecycle_in_order(world, order, cancel, duplicate)


async def test_row3_reverse_order_and_equal_markers_fetch(world: World) -> None:
    await _lifecycle_in_order(world, list(range(6, -1, -1)), True, 0)
    started = await start(world, world.monthly)
    sub_id = f"sub_{next(counter)}"
    events, latest = lifecycle(started, sub_id, cancel=False)
    world.provider.states[latest.subject] = latest
    for event in events:
        await deliver(world, event)
    clash = PaymentEvent(
        gateway="double",
        event_id=f"{sub_id}:clash",
        kind=PaymentEventKind.SUBSCRIPTION_UPDATED,
        subject=latest.subject,
        occurred_at=latest.as_of,
        provider_updated_at=latest.as_of,
        status=SubjectStatus.PAST_DUE,
        subscription_id=sub_id,
    )
    before = len(world.provider.fetches)
    await deliver(world, clash)
    assert latest.subject in world.provider.fetches[before:]  # same marker: asked the provider
    sub = await world.scalar(select(m.Subscription).where(m.Subscription.external_id == sub_id))
    assert sub.status == "active"


# --- row 8: endpoint down, then reconcile --------------------------------------------------


async def test_row8_reconcile_from_the_event_list_leaves_no_drift(world: World) -> None:
    started = await start(world, world.monthly)
    sub_id = f"sub_{next(counter)}"
    events, latest = lifecycle(started, sub_id, cancel=True)
    world.provider.states[latest.subject] = latest
    delivered, missed = events[:2], events[2:]
    for event in delivered:
        await deliver(world, event)
    for event in events:  # the provider's history has them all; the endpoint saw two
        world.provider.record(event)
    for _ in range(2):  # twice: the second run changes nothing
        reports = await reconcile.run(
            world.c.sessions,
            world.c.payments.directory,
            world.c.payments.callbacks,
            since=T0 - timedelta(days=1),
        )
        assert all(r.ok for r in reports)
    assert reports[0].method == "events" and reports[0].outcomes == {"duplicate": len(events)}
    sub = await world.scalar(select(m.Subscription).where(m.Subscription.external_id == sub_id))
    assert (sub.status, sub.current_period_end) == ("canceled", latest.as_of)
    assert await world.count(m.PaymentEvent) == len(events)
    assert len(missed) == 5


async def test_row8_reconcile_by_state_for_gateways_without_a_list(world: World) -> None:
    world.provider.capabilities = GatewayCapabilities(one_time=True, subscriptions=True)
    name = world.provider.name
    gateway = await add_gateway(world.c, name, name="no list")
    started = await start(world, world.once, gateway=gateway)
    subject = Subject(SubjectKind.CHECKOUT, started.checkout_id)
    world.provider.states[subject] = SubjectState(
        subject=subject,
        status=SubjectStatus.PAID,
        provider_status="complete",
        as_of=T0,
        reference=payment_reference(started.payment_id),
        amount=Decimal("99"),
        currency="USD",
    )
    world.provider.fetch_down = True
    down = await reconcile.run(
        world.c.sessions,
        world.c.payments.directory,
        world.c.payments.callbacks,
        since=T0 - timedelta(days=3650),
        connection_id=gateway,
    )
    assert not down[0].ok and (await payment(world, started.payment_id)).status == "pending"
    world.provider.fetch_down = False
    for _ in range(2):
        reports = await reconcile.run(
            world.c.sessions,
            world.c.payments.directory,
            world.c.payments.callbacks,
            since=T0 - timedelta(days=3650),
            connection_id=gateway,
        )
        assert reports[0].method == "states" and reports[0].ok
    assert (await payment(world, started.payment_id)).status == "paid"
    assert await world.count(m.Subscription) == 1
