"""An admin's hand: mark a payment paid or refunded when the provider's word cannot come.

A bank transfer settled outside the gateway, a refund made in the provider's dashboard
whose webhook was lost past the retry window: the admin records it here. It changes our
rows only (no call to the provider), does what the event would have done (a paid payment
creates or extends the subscription; a refund ends it) and is written to the audit log
with who, when, the reason and the state before.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.payments.base import SubjectStatus
from signalbridge.services import audit
from signalbridge.services.payments.apply import end_subscription, grant
from signalbridge.services.payments.errors import Conflict, NotFound, PaymentFlowError
from signalbridge.store import models as m

MAX_NOTE = 500


def _note(note: str) -> str:
    text = " ".join(note.split())
    if not text or len(text) > MAX_NOTE:
        raise PaymentFlowError(f"say why, in 1 to {MAX_NOTE} characters")
    return text


async def _payment(session: AsyncSession, payment_id: int) -> m.Payment:
    row: m.Payment | None = await session.scalar(
        select(m.Payment).where(m.Payment.id == payment_id).with_for_update()
    )
    if row is None:
        raise NotFound(f"payment {payment_id} not found")
    return row


async def mark_paid(
    session: AsyncSession,
    payment_id: int,
    *,
    note: str,
    actor: str,
    actor_id: int | None,
    now: datetime,
) -> m.Payment:
    """Mark a pending (or failed, expired) payment paid by hand and grant its plan."""
    why = _note(note)
    payment = await _payment(session, payment_id)
    if payment.status in (SubjectStatus.PAID.value, SubjectStatus.REFUNDED.value):
        raise Conflict(f"payment {payment_id} is {payment.status} already")
    before = {"status": payment.status, "reason": payment.reason}
    payment.status = SubjectStatus.PAID.value
    payment.paid_at = now
    payment.fee = payment.fee if payment.fee is not None else Decimal(0)
    payment.reason = f"marked paid by {actor}: {why}"
    subscription = await grant(
        session,
        payment,
        when=now,
        subscription_id=None,
        customer_id=None,
        period_end=None,
        fetched={},
        marker=None,
    )
    await audit.record(
        session,
        actor=actor,
        actor_id=actor_id,
        action="mark_paid",
        entity="payment",
        entity_id=payment.id,
        changes={
            "status": [before["status"], payment.status],
            "note": why,
            "subscription_id": subscription.id if subscription else None,
        },
    )
    return payment


async def mark_refunded(
    session: AsyncSession,
    payment_id: int,
    *,
    note: str,
    actor: str,
    actor_id: int | None,
    now: datetime,
) -> m.Payment:
    """Mark a paid payment refunded by hand; what it paid for ends now."""
    why = _note(note)
    payment = await _payment(session, payment_id)
    if payment.status not in (SubjectStatus.PAID.value, SubjectStatus.DISPUTED.value):
        raise Conflict(f"payment {payment_id} is {payment.status}: only a paid one is refunded")
    before = payment.status
    payment.status = SubjectStatus.REFUNDED.value
    payment.refunded_at = now
    payment.reason = f"marked refunded by {actor}: {why}"
    ended = await end_subscription(session, payment, now, None)
    await audit.record(
        session,
        actor=actor,
        actor_id=actor_id,
        action="mark_refunded",
        entity="payment",
        entity_id=payment.id,
        changes={"status": [before, payment.status], "note": why, "subscription_ended": ended},
    )
    return payment
