"""Reconcile: what the webhooks missed, read back from the provider (reliability row 8).

A provider gives up on an endpoint after its retry window (Stripe three days, PayPal 25
tries, CoinPayments 10). A gateway that lists its events (``capabilities.event_listing``,
Stripe's ``/v1/events``) is read from ``since`` and every event goes through the same
store-once-and-apply path as a webhook, so what was delivered already is a duplicate. For
the others, every pending payment with a checkout, and every live subscription, is asked
for its state (``fetch_state``), and that state is applied as an event keyed by the
subject, the status and the provider's marker: asked twice, it is applied once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.integrations.errors import IntegrationError
from signalbridge.integrations.redaction import redact
from signalbridge.payments.base import (
    PaymentEvent,
    PaymentEventKind,
    Subject,
    SubjectKind,
    SubjectState,
    SubjectStatus,
)
from signalbridge.services.payments.callbacks import FAILED, Callbacks, fetch_state_of
from signalbridge.services.payments.errors import PaymentFlowError
from signalbridge.services.payments.gateways import GatewayDirectory, LiveGateway
from signalbridge.store import models as m

#: Subscription states still worth asking about (the others are final).
_LIVE_SUBSCRIPTIONS = (
    SubjectStatus.ACTIVE.value,
    SubjectStatus.TRIALING.value,
    SubjectStatus.PAST_DUE.value,
    SubjectStatus.PENDING.value,
)
_CHECKOUT_KIND = {
    SubjectStatus.PAID: PaymentEventKind.CHECKOUT_COMPLETED,
    SubjectStatus.ACTIVE: PaymentEventKind.CHECKOUT_COMPLETED,
    SubjectStatus.TRIALING: PaymentEventKind.CHECKOUT_COMPLETED,
    SubjectStatus.EXPIRED: PaymentEventKind.CHECKOUT_EXPIRED,
    SubjectStatus.FAILED: PaymentEventKind.PAYMENT_FAILED,
    SubjectStatus.CANCELED: PaymentEventKind.CHECKOUT_EXPIRED,
    SubjectStatus.REFUNDED: PaymentEventKind.REFUNDED,
    SubjectStatus.DISPUTED: PaymentEventKind.DISPUTED,
    SubjectStatus.PENDING: PaymentEventKind.PAYMENT_PENDING,
}


@dataclass
class GatewayReport:
    """What one gateway's reconcile run found: outcome counts and errors."""

    connection_id: int
    type: str
    method: str
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.outcomes.get(FAILED)


async def run(
    sessions: async_sessionmaker[AsyncSession],
    directory: GatewayDirectory,
    callbacks: Callbacks,
    *,
    since: datetime,
    connection_id: int | None = None,
    states_since: datetime | None = None,
) -> list[GatewayReport]:
    """Reconcile every gateway connection (or one) from ``since``; a report per gateway.

    ``states_since`` (default ``since``): how far back pending checkouts are asked about,
    for gateways without an event list; a scheduled run lists events from its last run
    but asks about every checkout still pending (jobs/payments_reconcile.py)."""
    async with sessions() as session:
        query = select(m.PaymentGateway).order_by(m.PaymentGateway.id)
        if connection_id is not None:
            query = query.where(m.PaymentGateway.id == connection_id)
        rows = list((await session.scalars(query)).all())
    if connection_id is not None and not rows:
        raise PaymentFlowError(f"payment gateway {connection_id} not found")
    reports = []
    for row in rows:
        try:
            live = await directory.live(row)
        except PaymentFlowError as exc:
            report = GatewayReport(row.id, row.type, "none")
            report.errors.append(exc.message)
            reports.append(report)
            continue
        if live.gateway.capabilities.event_listing:
            reports.append(await _from_listing(live, callbacks, since))
        else:
            reports.append(await _from_states(sessions, live, callbacks, states_since or since))
    return reports


async def _from_listing(live: LiveGateway, callbacks: Callbacks, since: datetime) -> GatewayReport:
    report = GatewayReport(live.connection_id, live.type, "events")
    try:
        async for event in live.gateway.list_events(since):
            outcome = await callbacks.store_and_apply(live, event)
            report.outcomes[outcome.outcome] += 1
    except IntegrationError as exc:
        report.errors.append(redact(f"{type(exc).__name__}: {exc.message}"))
    return report


async def _from_states(
    sessions: async_sessionmaker[AsyncSession],
    live: LiveGateway,
    callbacks: Callbacks,
    since: datetime,
) -> GatewayReport:
    report = GatewayReport(live.connection_id, live.type, "states")
    async with sessions() as session:
        checkouts = (
            await session.scalars(
                select(m.Payment.checkout_id).where(
                    m.Payment.connection_id == live.connection_id,
                    m.Payment.status.in_(
                        (SubjectStatus.PENDING.value, SubjectStatus.TRIALING.value)
                    ),
                    m.Payment.checkout_id.is_not(None),
                    m.Payment.created_at >= since,
                )
            )
        ).all()
        subscriptions = (
            await session.scalars(
                select(m.Subscription.external_id).where(
                    m.Subscription.connection_id == live.connection_id,
                    m.Subscription.status.in_(_LIVE_SUBSCRIPTIONS),
                    m.Subscription.external_id.not_like("sbpay\\_%", escape="\\"),
                )
            )
        ).all()
    subjects = [Subject(SubjectKind.CHECKOUT, c) for c in checkouts if c] + [
        Subject(SubjectKind.SUBSCRIPTION, s) for s in subscriptions
    ]
    for subject in subjects:
        try:
            state = await fetch_state_of(live, subject)
        except IntegrationError as exc:
            report.errors.append(redact(f"{subject.kind} {subject.id}: {exc.message}"))
            continue
        event = state_event(live.type, state)
        if event is None:
            report.outcomes["unchanged"] += 1
            continue
        outcome = await callbacks.store_and_apply(live, event)
        report.outcomes[outcome.outcome] += 1
    return report


def state_event(gateway_type: str, state: SubjectState) -> PaymentEvent | None:
    """A fetched state as an event, keyed by subject, status and marker (applied once)."""
    if state.subject.kind is SubjectKind.SUBSCRIPTION:
        kind = (
            PaymentEventKind.SUBSCRIPTION_CANCELED
            if state.status in (SubjectStatus.CANCELED, SubjectStatus.EXPIRED)
            else PaymentEventKind.SUBSCRIPTION_UPDATED
        )
    else:
        found = _CHECKOUT_KIND.get(state.status)
        if found is None:
            return None
        kind = found
    marker = state.as_of.strftime("%Y%m%dT%H%M%S.%f")
    return PaymentEvent(
        gateway=gateway_type,
        event_id=f"reconcile:{state.subject.kind.value}:{state.subject.id}:{state.status.value}:{marker}"[
            :200
        ],
        kind=kind,
        subject=state.subject,
        occurred_at=state.as_of,
        provider_updated_at=state.as_of,
        status=state.status,
        provider_status=state.provider_status,
        reference=state.reference,
        subscription_id=state.subscription_id
        or (state.subject.id if state.subject.kind is SubjectKind.SUBSCRIPTION else None),
        customer_id=state.customer_id,
        amount=state.amount,
        currency=state.currency,
        fee=state.fee,
        period_end=state.period_end,
        reason=state.reason,
        payload=state.payload,
    )
