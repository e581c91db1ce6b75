"""Payment events to payment and subscription state, inside the caller's transaction.

Facts and states are told apart (payments/ordering.py):

- a *fact* happened whatever came before it: a payment succeeded, failed, was refunded
  or disputed. It is recorded on its payment row once (a paid row is never paid again, a
  refunded one never paid again) and extends a subscription's paid-through time only
  forward, so facts give the same result in any order;
- a *state* is the provider's latest view of a subscription (updated, canceled). It moves
  the row only when newer than the stored marker (:func:`~signalbridge.payments.resolve`);
  when the order cannot be told, the provider is asked (``fetch_state``).

Nothing here talks to the network: when a fetched state is needed and not in
``fetched``, :class:`NeedsState` is raised and the caller (callbacks.py) rolls back,
fetches outside the transaction and applies again (an event that names none of our rows,
a dispute that names only its charge, is looked up this way for the reference its
subject carries at the provider). A paid event whose amount or currency
differs from the payment row never pays it (reliability row 7): the row stays pending
with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.payments.base import (
    BillingInterval,
    PaymentEvent,
    PaymentEventKind,
    Subject,
    SubjectKind,
    SubjectState,
    SubjectStatus,
    payment_id_from_reference,
    payment_reference,
)
from signalbridge.payments.ordering import resolve
from signalbridge.services.payments.periods import add_interval
from signalbridge.store import models as m

__all__ = ["APPLIED", "IGNORED", "STALE", "Effect", "NeedsState", "apply_event", "grant"]

APPLIED, STALE, IGNORED = "applied", "stale", "ignored"
#: Provider states fetched for this event; None: the provider does not know the subject.
Fetched = Mapping[Subject, SubjectState | None]
#: Payment rows in these states are never paid again by an event.
_SETTLED = frozenset({SubjectStatus.PAID, SubjectStatus.REFUNDED, SubjectStatus.DISPUTED})
#: Subscription states that mean it is over at the provider.
_ENDED = frozenset({SubjectStatus.CANCELED.value, SubjectStatus.EXPIRED.value})
#: Subscription states a payment brings back to active (a renewal paid after all).
_REVIVED_BY_PAYMENT = frozenset({SubjectStatus.PENDING, SubjectStatus.PAST_DUE})
#: A checkout's payment row that the subscription's first invoice settles.
_FIRST_INVOICE = (
    SubjectStatus.PAID.value,
    SubjectStatus.PENDING.value,
    SubjectStatus.TRIALING.value,
)
_PAID_CHECKOUT = frozenset({None, SubjectStatus.PAID, SubjectStatus.ACTIVE})


class FeeTerms(Protocol):
    """What applying needs of a gateway connection (services/payments/gateways.LiveGateway)."""

    connection_id: int

    def fee_for(self, amount: Decimal) -> Decimal: ...


class NeedsState(Exception):
    """The provider's current state of ``subject`` is needed to apply this event."""

    def __init__(self, subject: Subject) -> None:
        super().__init__(f"needs the provider's state of {subject.kind} {subject.id}")
        self.subject = subject


@dataclass(frozen=True)
class Effect:
    """What one event did: ``applied``, ``stale`` or ``ignored``, with a note why."""

    outcome: str
    note: str | None = None
    payment_id: int | None = None
    subscription_id: int | None = None


async def apply_event(
    session: AsyncSession,
    event: PaymentEvent,
    gateway: FeeTerms,
    fetched: Fetched,
) -> Effect:
    """Apply one stored event; raises :class:`NeedsState` when the provider must be asked."""
    kind = event.kind
    if kind in (PaymentEventKind.SUBSCRIPTION_UPDATED, PaymentEventKind.SUBSCRIPTION_CANCELED):
        return await _subscription_state(session, event, gateway, fetched)
    payment = await _payment_for(session, event, fetched)
    if payment is None and event.subscription_id is None and event.subject not in fetched:
        raise NeedsState(event.subject)  # its reference may be known to the provider
    if kind is PaymentEventKind.CHECKOUT_COMPLETED and event.status is SubjectStatus.TRIALING:
        return await _trial(session, event, payment, gateway, fetched)
    if kind is PaymentEventKind.PAYMENT_SUCCEEDED or (
        kind is PaymentEventKind.CHECKOUT_COMPLETED and event.status in _PAID_CHECKOUT
    ):
        return await _paid(session, event, payment, gateway, fetched)
    if payment is None:
        return Effect(IGNORED, "no payment of ours matches this event")
    if kind is PaymentEventKind.CHECKOUT_COMPLETED or kind is PaymentEventKind.PAYMENT_PENDING:
        return _still_pending(payment, event)
    if kind is PaymentEventKind.CHECKOUT_EXPIRED:
        return _closed(payment, event, SubjectStatus.EXPIRED, "the checkout expired")
    if kind is PaymentEventKind.PAYMENT_FAILED:
        return _closed(payment, event, SubjectStatus.FAILED, "the payment failed")
    if kind is PaymentEventKind.REFUNDED and event.status is SubjectStatus.PAID:
        return _partial_refund(payment, event)
    if kind is PaymentEventKind.REFUNDED:
        return await _reversed(session, payment, event, SubjectStatus.REFUNDED)
    if kind is PaymentEventKind.DISPUTED:
        return await _reversed(session, payment, event, SubjectStatus.DISPUTED)
    return _dispute_closed(payment, event)


# --- finding our rows ---------------------------------------------------------------


async def _payment_for(
    session: AsyncSession, event: PaymentEvent, fetched: Fetched
) -> m.Payment | None:
    """Our payment row: by the echoed reference, the checkout id, or the provider's id."""
    state = fetched.get(event.subject)
    for reference in (event.reference, state.reference if state else None):
        payment_id = payment_id_from_reference(reference)
        if payment_id is not None:
            row = await session.scalar(
                select(m.Payment).where(m.Payment.id == payment_id).with_for_update()
            )
            if row is not None and row.gateway == event.gateway:
                return row
    column = (
        m.Payment.checkout_id
        if event.subject.kind is SubjectKind.CHECKOUT
        else m.Payment.external_id
    )
    found: m.Payment | None = await session.scalar(
        select(m.Payment)
        .where(m.Payment.gateway == event.gateway, column == event.subject.id)
        .order_by(m.Payment.id)
        .limit(1)
        .with_for_update()
    )
    return found


async def _subscription_by_external(
    session: AsyncSession, gateway: str, external_id: str | None
) -> m.Subscription | None:
    if external_id is None:
        return None
    found: m.Subscription | None = await session.scalar(
        select(m.Subscription)
        .where(m.Subscription.gateway == gateway, m.Subscription.external_id == external_id)
        .with_for_update()
    )
    return found


def _state_of(fetched: Fetched, subject: Subject) -> SubjectState | None:
    """The provider's state of ``subject`` (None: it knows no such object); asks if unknown."""
    if subject not in fetched:
        raise NeedsState(subject)
    return fetched[subject]


# --- facts --------------------------------------------------------------------------


async def _paid(
    session: AsyncSession,
    event: PaymentEvent,
    payment: m.Payment | None,
    gateway: FeeTerms,
    fetched: Fetched,
) -> Effect:
    if payment is None:
        return await _renewal(session, event, gateway, fetched)
    if payment.status in _SETTLED:
        _link_external(payment, event)
        return Effect(IGNORED, f"payment {payment.id} is {payment.status} already", payment.id)
    amount, currency, fee = event.amount, event.currency, event.fee
    if amount is None:  # the callback did not say how much: ask the provider
        state = _state_of(fetched, event.subject)
        if state is not None:
            amount, currency, fee = state.amount, state.currency, state.fee
    if amount is None or currency is None:
        payment.reason = "the provider did not report the amount paid: not credited"
        return Effect(IGNORED, payment.reason, payment.id)
    if currency != payment.currency or amount != payment.amount:
        payment.reason = (
            f"amount mismatch: expected {format(payment.amount, 'f')} {payment.currency}, "
            f"the provider reports {format(amount, 'f')} {currency}: not credited"
        )
        return Effect(IGNORED, payment.reason, payment.id)
    payment.status = SubjectStatus.PAID.value
    payment.paid_at = event.occurred_at
    payment.fee = fee if fee is not None else gateway.fee_for(amount)
    payment.reason = None
    _link_external(payment, event)
    _mark(payment, event.provider_updated_at)
    subscription = await grant(
        session,
        payment,
        when=event.occurred_at,
        subscription_id=event.subscription_id,
        customer_id=event.customer_id,
        period_end=event.period_end,
        fetched=fetched,
        marker=event.provider_updated_at,
    )
    return Effect(APPLIED, "paid", payment.id, subscription.id if subscription else None)


async def _renewal(
    session: AsyncSession,
    event: PaymentEvent,
    gateway: FeeTerms,
    fetched: Fetched,
) -> Effect:
    """A payment of a subscription we know (a renewal, or the first invoice of a checkout)."""
    subscription = await _subscription_by_external(session, event.gateway, event.subscription_id)
    if subscription is None:
        # Maybe ours under a reference only the provider's subscription carries.
        if event.subscription_id is not None:
            state = _state_of(fetched, Subject(SubjectKind.SUBSCRIPTION, event.subscription_id))
            payment_id = payment_id_from_reference(state.reference if state else None)
            row = await session.get(m.Payment, payment_id) if payment_id else None
            if row is not None and row.gateway == event.gateway:
                return await _paid(session, event, row, gateway, fetched)
        return Effect(IGNORED, "no payment or subscription of ours matches this event")
    first = await session.scalar(
        select(m.Payment)
        .where(
            m.Payment.subscription_id == subscription.id,
            m.Payment.external_id.is_(None),
            m.Payment.status.in_(_FIRST_INVOICE),
        )
        .order_by(m.Payment.id)
        .limit(1)
        .with_for_update()
    )
    if first is not None and event.subject.kind is SubjectKind.PAYMENT:
        # The checkout's own first invoice: the same money as the checkout, not a renewal.
        if first.status != SubjectStatus.PAID.value:
            return await _paid(session, event, first, gateway, fetched)
        first.external_id = event.subject.id
        _extend(subscription, event.period_end, event.provider_updated_at)
        return Effect(APPLIED, "first invoice of the checkout", first.id, subscription.id)
    if event.amount is None or event.currency is None:
        return Effect(IGNORED, "a renewal without an amount is not recorded")
    row = m.Payment(
        user_id=subscription.user_id,
        plan_id=subscription.plan_id,
        subscription_id=subscription.id,
        gateway=event.gateway,
        connection_id=subscription.connection_id or gateway.connection_id,
        external_id=event.subject.id if event.subject.kind is SubjectKind.PAYMENT else None,
        amount=event.amount,
        currency=event.currency,
        fee=event.fee if event.fee is not None else gateway.fee_for(event.amount),
        status=SubjectStatus.PAID.value,
        paid_at=event.occurred_at,
        provider_updated_at=event.provider_updated_at,
    )
    session.add(row)
    _extend(subscription, event.period_end, event.provider_updated_at)
    await session.flush()
    return Effect(APPLIED, "renewal paid", row.id, subscription.id)


async def _trial(
    session: AsyncSession,
    event: PaymentEvent,
    payment: m.Payment | None,
    gateway: FeeTerms,
    fetched: Fetched,
) -> Effect:
    if payment is None:
        return Effect(IGNORED, "no payment of ours matches this event")
    if payment.status in _SETTLED or payment.status == SubjectStatus.TRIALING.value:
        return Effect(IGNORED, f"payment {payment.id} is {payment.status} already", payment.id)
    payment.status = SubjectStatus.TRIALING.value
    payment.reason = "trial: the first charge comes at the end of the trial"
    _mark(payment, event.provider_updated_at)
    subscription = await grant(
        session,
        payment,
        when=event.occurred_at,
        subscription_id=event.subscription_id,
        customer_id=event.customer_id,
        period_end=event.period_end,
        fetched=fetched,
        marker=event.provider_updated_at,
        status=SubjectStatus.TRIALING,
    )
    return Effect(APPLIED, "trial started", payment.id, subscription.id if subscription else None)


def _still_pending(payment: m.Payment, event: PaymentEvent) -> Effect:
    if payment.status != SubjectStatus.PENDING.value:
        return Effect(STALE, f"payment {payment.id} is {payment.status} already", payment.id)
    if event.reason:
        payment.reason = event.reason
    _mark(payment, event.provider_updated_at)
    return Effect(APPLIED, event.reason or "still pending", payment.id)


def _closed(payment: m.Payment, event: PaymentEvent, status: SubjectStatus, default: str) -> Effect:
    if payment.status != SubjectStatus.PENDING.value:
        return Effect(STALE, f"payment {payment.id} is {payment.status} already", payment.id)
    payment.status = status.value
    payment.reason = event.reason or default
    _mark(payment, event.provider_updated_at)
    return Effect(APPLIED, payment.reason, payment.id)


async def _reversed(
    session: AsyncSession, payment: m.Payment, event: PaymentEvent, status: SubjectStatus
) -> Effect:
    """A refund or a dispute: the payment is reversed and what it paid for ends."""
    if payment.status == status.value or payment.status == SubjectStatus.REFUNDED.value:
        return Effect(IGNORED, f"payment {payment.id} is {payment.status} already", payment.id)
    payment.status = status.value
    if status is SubjectStatus.REFUNDED:
        payment.refunded_at = event.occurred_at
    payment.reason = event.reason or f"{status.value} at the provider"
    _mark(payment, event.provider_updated_at)
    ended = await end_subscription(session, payment, event.occurred_at, event.provider_updated_at)
    return Effect(APPLIED, payment.reason, payment.id, ended)


def _partial_refund(payment: m.Payment, event: PaymentEvent) -> Effect:
    """Part of the money went back and the payment stays paid (the provider says so)."""
    part = f" of {format(event.amount, 'f')} {event.currency}" if event.amount is not None else ""
    payment.reason = event.reason or f"partially refunded{part}; the payment stays paid"
    _mark(payment, event.provider_updated_at)
    return Effect(APPLIED, payment.reason, payment.id)


def _dispute_closed(payment: m.Payment, event: PaymentEvent) -> Effect:
    if payment.status != SubjectStatus.DISPUTED.value:
        return Effect(IGNORED, f"payment {payment.id} is not disputed", payment.id)
    if event.status is SubjectStatus.PAID:
        payment.status = SubjectStatus.PAID.value
        payment.reason = "dispute won; the subscription stays ended until an admin restores it"
    else:
        payment.reason = event.reason or "dispute lost"
    _mark(payment, event.provider_updated_at)
    return Effect(APPLIED, payment.reason, payment.id)


def _link_external(payment: m.Payment, event: PaymentEvent) -> None:
    if payment.external_id is None and event.subject.kind is SubjectKind.PAYMENT:
        payment.external_id = event.subject.id


def _mark(row: m.Payment | m.Subscription, marker: datetime) -> None:
    if row.provider_updated_at is None or marker > row.provider_updated_at:
        row.provider_updated_at = marker


def _extend(subscription: m.Subscription, period_end: datetime | None, marker: datetime) -> None:
    """A payment moves the paid-through time forward only, and revives a lapsed renewal;
    an ended subscription stays ended (a late payment event does not reopen it)."""
    if subscription.status in _ENDED:
        return
    if period_end is not None and subscription.current_period_end is not None:
        subscription.current_period_end = max(subscription.current_period_end, period_end)
    if subscription.status in _REVIVED_BY_PAYMENT and (
        subscription.provider_updated_at is None or marker > subscription.provider_updated_at
    ):
        subscription.status = SubjectStatus.ACTIVE.value


# --- subscriptions --------------------------------------------------------------------


async def grant(
    session: AsyncSession,
    payment: m.Payment,
    *,
    when: datetime,
    subscription_id: str | None,
    customer_id: str | None,
    period_end: datetime | None,
    fetched: Fetched,
    marker: datetime | None,
    status: SubjectStatus = SubjectStatus.ACTIVE,
) -> m.Subscription | None:
    """Create or extend the subscription ``payment`` pays for; None without a plan.

    A provider subscription (``subscription_id``) is created from the provider's state of
    it, so its status, paid-through time and marker are the provider's, whatever order
    the events came in. A one-time plan's subscription has no end; a recurring plan paid
    without a provider subscription (an admin's hand) runs one interval from now, or from
    the end of the time already paid.
    """
    plan = await session.get(m.Plan, payment.plan_id) if payment.plan_id else None
    if plan is None or payment.user_id is None:
        return None
    interval = BillingInterval(plan.interval)
    external = subscription_id or payment_reference(payment.id)
    subscription = await _subscription_by_external(session, payment.gateway, external)
    if subscription is None and payment.subscription_id is not None:
        subscription = await session.get(m.Subscription, payment.subscription_id)
    if subscription is not None:
        _extend(subscription, period_end, marker or when)
        if subscription_id is None and interval is not BillingInterval.ONE_TIME:
            start = max(when, subscription.current_period_end or when)
            subscription.current_period_end = add_interval(start, interval, plan.interval_count)
        subscription.customer_id = subscription.customer_id or customer_id
        payment.subscription_id = subscription.id
        return subscription
    subscription = m.Subscription(
        user_id=payment.user_id,
        plan_id=plan.id,
        gateway=payment.gateway,
        external_id=external,
        connection_id=payment.connection_id,
        customer_id=customer_id,
        status=status.value,
    )
    if subscription_id is not None:
        state = _state_of(fetched, Subject(SubjectKind.SUBSCRIPTION, subscription_id))
        if state is not None:
            _set_state(subscription, state.status, state.period_end, state.as_of, when)
            subscription.customer_id = customer_id or state.customer_id
        else:  # the provider does not know it (yet): what the event says, no marker
            subscription.current_period_end = period_end
    else:
        subscription.current_period_end = add_interval(when, interval, plan.interval_count)
    session.add(subscription)
    await session.flush()
    payment.subscription_id = subscription.id
    return subscription


async def end_subscription(
    session: AsyncSession, payment: m.Payment, when: datetime, marker: datetime | None
) -> int | None:
    """End what ``payment`` paid for (a refund, a dispute): canceled now."""
    if payment.subscription_id is None:
        return None
    subscription = await session.get(m.Subscription, payment.subscription_id)
    if subscription is None:
        return None
    subscription.status = SubjectStatus.CANCELED.value
    subscription.canceled_at = subscription.canceled_at or when
    if subscription.current_period_end is None or subscription.current_period_end > when:
        subscription.current_period_end = when
    if marker is not None:
        _mark(subscription, marker)
    return subscription.id


async def _subscription_state(
    session: AsyncSession,
    event: PaymentEvent,
    gateway: FeeTerms,
    fetched: Fetched,
) -> Effect:
    external = event.subscription_id or event.subject.id
    subscription = await _subscription_by_external(session, event.gateway, external)
    if subscription is None:
        # The provider's subscription exists: create ours from it, if the payment is ours.
        payment = await _payment_for(session, event, fetched)
        if payment is None:
            state = _state_of(fetched, event.subject)
            payment_id = payment_id_from_reference(state.reference if state else None)
            payment = await session.get(m.Payment, payment_id) if payment_id else None
            if payment is None or payment.gateway != event.gateway:
                return Effect(IGNORED, "no subscription of ours matches this event")
        subject = Subject(SubjectKind.SUBSCRIPTION, external)
        known = dict(fetched)
        if subject not in known:
            has_state = event.status is not None or (
                event.kind is PaymentEventKind.SUBSCRIPTION_CANCELED
            )
            known[subject] = _as_state(event) if has_state else _state_of(known, subject)
        subscription = await grant(
            session,
            payment,
            when=event.occurred_at,
            subscription_id=external,
            customer_id=event.customer_id,
            period_end=event.period_end,
            fetched=known,
            marker=event.provider_updated_at,
        )
        if subscription is None:
            return Effect(IGNORED, "the payment has no plan", payment.id)
        return Effect(APPLIED, "subscription created", payment.id, subscription.id)
    resolution = resolve(subscription.provider_updated_at, [event])
    if resolution.stale:
        return Effect(STALE, "older than the state stored", None, subscription.id)
    latest = resolution.latest
    if latest is not None and latest.status is not None:
        status = latest.status
        if latest.kind is PaymentEventKind.SUBSCRIPTION_CANCELED:
            status = SubjectStatus.CANCELED
        _set_state(subscription, status, latest.period_end, latest.provider_updated_at, None)
    else:  # same marker as stored, or no status: the provider says which
        state = _state_of(fetched, event.subject)
        if state is None:
            return Effect(IGNORED, "the provider does not know this subscription")
        if subscription.provider_updated_at is not None and state.as_of < (
            subscription.provider_updated_at
        ):
            return Effect(STALE, "the provider's answer is older than the state stored")
        _set_state(subscription, state.status, state.period_end, state.as_of, None)
    subscription.customer_id = subscription.customer_id or event.customer_id
    return Effect(APPLIED, f"subscription {subscription.status}", None, subscription.id)


def _as_state(event: PaymentEvent) -> SubjectState:
    """A subscription event read as the provider's state of it (when it has a status)."""
    status = event.status or SubjectStatus.ACTIVE
    if event.kind is PaymentEventKind.SUBSCRIPTION_CANCELED:
        status = SubjectStatus.CANCELED
    return SubjectState(
        subject=Subject(SubjectKind.SUBSCRIPTION, event.subscription_id or event.subject.id),
        status=status,
        provider_status=event.provider_status or status.value,
        as_of=event.provider_updated_at,
        reference=event.reference,
        subscription_id=event.subscription_id,
        customer_id=event.customer_id,
        period_end=event.period_end,
    )


def _set_state(
    subscription: m.Subscription,
    status: SubjectStatus,
    period_end: datetime | None,
    marker: datetime,
    when: datetime | None,
) -> None:
    subscription.status = status.value
    if period_end is not None:
        subscription.current_period_end = period_end
    if status is SubjectStatus.TRIALING and period_end is not None:
        subscription.trial_end = period_end
    if status in _ENDED:
        # The provider says it has ended (a cancellation at the period's end stays active
        # until then): it ended at the provider's marker, whatever was paid beyond it.
        subscription.canceled_at = subscription.canceled_at or marker
        end = subscription.current_period_end
        subscription.current_period_end = marker if end is None else min(end, marker)
    subscription.provider_updated_at = marker
