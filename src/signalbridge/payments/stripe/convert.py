"""Stripe objects ↔ our payment types. Pure functions, no I/O.

Stripe sends amounts as integers in the currency's minor unit and currencies in lower
case; ours are ``Decimal`` in major units and upper case. Event payloads follow the
endpoint's API version; the shapes read here are those of the library's pinned version
(2025 "basil" onward): a subscription's period is on its items
(``items.data[].current_period_end``), an invoice reaches its subscription through
``parent.subscription_details`` and its charges through ``payments.data[].payment``.
Older fields (``subscription.current_period_end``, ``invoice.subscription``) are read when
the new ones are absent.

**provider_updated_at.** Stripe objects carry no last-modified time. An event's marker is
therefore the event's own ``created`` (when Stripe recorded the change, in whole seconds);
two events about one object in the same second that disagree are left undecided by
:func:`signalbridge.payments.ordering.resolve`, which then asks
:meth:`~signalbridge.payments.PaymentGateway.fetch_state`, whose ``as_of`` is the time the
answer arrived.

Every reader here raises ``ValueError`` (or ``TypeError``/``KeyError``) on a shape it
cannot use, never anything else; :mod:`.webhook` turns that into ``CallbackRejected``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeGuard

from signalbridge.payments.base import (
    Checkout,
    CheckoutRequest,
    PaymentEvent,
    PaymentEventKind,
    Subject,
    SubjectKind,
    SubjectState,
    SubjectStatus,
)

__all__ = [
    "EVENT_TYPES",
    "FeeRule",
    "checkout_of",
    "checkout_params",
    "event_of",
    "from_minor",
    "intent_balance_transaction",
    "invoice_payment_intent",
    "state_of",
    "subscription_status",
    "to_minor",
]

GATEWAY = "stripe"
REFERENCE_KEY = "payment_reference"

#: Stripe's zero-decimal currencies (docs.stripe.com/currencies#zero-decimal).
ZERO_DECIMAL = frozenset("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split())
#: Three-decimal currencies (docs.stripe.com/currencies#three-decimal).
THREE_DECIMAL = frozenset("BHD JOD KWD OMR TND".split())

_CHECKOUT_EVENTS = {
    "checkout.session.completed": PaymentEventKind.CHECKOUT_COMPLETED,
    "checkout.session.async_payment_succeeded": PaymentEventKind.CHECKOUT_COMPLETED,
    "checkout.session.async_payment_failed": PaymentEventKind.PAYMENT_FAILED,
    "checkout.session.expired": PaymentEventKind.CHECKOUT_EXPIRED,
}
_INVOICE_EVENTS = {
    "invoice.paid": PaymentEventKind.PAYMENT_SUCCEEDED,
    "invoice.payment_failed": PaymentEventKind.PAYMENT_FAILED,
}
_SUBSCRIPTION_EVENTS = {
    "customer.subscription.created": PaymentEventKind.SUBSCRIPTION_UPDATED,
    "customer.subscription.updated": PaymentEventKind.SUBSCRIPTION_UPDATED,
    "customer.subscription.deleted": PaymentEventKind.SUBSCRIPTION_CANCELED,
}
_CHARGE_EVENTS = {
    "charge.refunded": PaymentEventKind.REFUNDED,
    "charge.dispute.created": PaymentEventKind.DISPUTED,
    "charge.dispute.closed": PaymentEventKind.DISPUTE_CLOSED,
}
#: The event types the gateway acts on (also the ``types[]`` filter of ``/v1/events``,
#: which takes at most 20).
EVENT_TYPES: tuple[str, ...] = (
    *_CHECKOUT_EVENTS,
    *_INVOICE_EVENTS,
    *_SUBSCRIPTION_EVENTS,
    *_CHARGE_EVENTS,
)

_SUBSCRIPTION_STATUS = {
    "trialing": SubjectStatus.TRIALING,
    "active": SubjectStatus.ACTIVE,
    "past_due": SubjectStatus.PAST_DUE,
    "unpaid": SubjectStatus.PAST_DUE,
    "paused": SubjectStatus.PAST_DUE,  # a trial ended without a payment method
    "incomplete": SubjectStatus.PENDING,
    "incomplete_expired": SubjectStatus.EXPIRED,
    "canceled": SubjectStatus.CANCELED,
}
_INVOICE_STATUS = {
    "draft": SubjectStatus.PENDING,
    "open": SubjectStatus.PENDING,
    "paid": SubjectStatus.PAID,
    "uncollectible": SubjectStatus.FAILED,
    "void": SubjectStatus.CANCELED,
}
_DISPUTE_CLOSED_STATUS = {
    "won": SubjectStatus.PAID,
    "warning_closed": SubjectStatus.PAID,
    "lost": SubjectStatus.DISPUTED,
}
_MAX_UNIX = 2**33  # year 2242: beyond it a "timestamp" is garbage, not a date


@dataclass(frozen=True, slots=True)
class FeeRule:
    """The configured fee (``fee_rate`` × amount + ``fixed_fee``) for when Stripe's own
    balance transaction is not at hand."""

    rate: Decimal = Decimal(0)
    fixed: Decimal = Decimal(0)

    def fee(self, amount: Decimal, currency: str, balance_transaction: object = None) -> Decimal:
        """Stripe's fee from an expanded balance transaction in the same currency, else
        the configured one; nothing is charged on nothing."""
        if isinstance(balance_transaction, Mapping):
            fee = balance_transaction.get("fee")
            bt_currency = balance_transaction.get("currency")
            if _is_int(fee) and isinstance(bt_currency, str) and bt_currency.upper() == currency:
                return from_minor(fee, currency)
        if amount == 0:
            return Decimal(0)
        unit = Decimal(1).scaleb(-exponent(currency))
        return (amount * self.rate + self.fixed).quantize(unit, rounding=ROUND_HALF_UP)


# --- money ------------------------------------------------------------------------------


def exponent(currency: str) -> int:
    """Digits after the point in Stripe's minor unit of ``currency`` (upper case)."""
    if currency in ZERO_DECIMAL:
        return 0
    return 3 if currency in THREE_DECIMAL else 2


def to_minor(amount: Decimal, currency: str) -> int:
    """``amount`` in ``currency``'s minor unit; ``ValueError`` when it is not a whole one."""
    scaled = amount.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(
            f"{amount} {currency} is not a whole number of the currency's smallest unit"
        )
    return int(scaled)


def from_minor(value: int, currency: str) -> Decimal:
    return Decimal(value).scaleb(-exponent(currency))


# --- checkout ---------------------------------------------------------------------------


def checkout_params(
    req: CheckoutRequest, *, price_id: str | None = None, product_prefix: str = ""
) -> dict[str, Any]:
    """``POST /v1/checkout/sessions`` parameters for ``req`` (the library form-encodes them).

    A recurring plan is ``mode=subscription`` (its price id, or ``price_data`` with
    ``recurring``; a trial as ``subscription_data[trial_period_days]``), a one-time plan
    ``mode=payment``. Our reference travels as ``client_reference_id`` and in
    ``metadata``, and is copied to the subscription (so its invoices and events carry it)
    or to the PaymentIntent (so its charge, refunds and disputes can be traced back).
    """
    plan = req.plan
    reference = req.reference
    metadata = {REFERENCE_KEY: reference, "user_id": str(req.user_id), "plan_id": str(plan.plan_id)}
    item: dict[str, Any] = {"quantity": 1}
    if price_id:
        item["price"] = price_id
    else:
        price_data: dict[str, Any] = {
            "currency": req.currency.lower(),
            "unit_amount": to_minor(req.price, req.currency),
            "product_data": {"name": f"{product_prefix}{plan.name}"[:250]},
        }
        if plan.recurring:
            price_data["recurring"] = {
                "interval": plan.interval.value,
                "interval_count": plan.interval_count,
            }
        item["price_data"] = price_data
    params: dict[str, Any] = {
        "mode": "subscription" if plan.recurring else "payment",
        "line_items": [item],
        "success_url": req.success_url,
        "cancel_url": req.cancel_url,
        "client_reference_id": reference,
        "metadata": metadata,
    }
    if plan.recurring:
        subscription_data: dict[str, Any] = {"metadata": dict(metadata)}
        if plan.trial_days:
            subscription_data["trial_period_days"] = plan.trial_days
        params["subscription_data"] = subscription_data
    else:
        params["payment_intent_data"] = {"metadata": dict(metadata)}
        if not req.customer_id:
            params["customer_creation"] = "always"  # a customer for the billing portal
    if req.customer_id:
        params["customer"] = req.customer_id
    elif req.email:
        params["customer_email"] = req.email
    return params


def checkout_of(session: Mapping[str, Any]) -> Checkout:
    """The member's redirect from a created Checkout Session."""
    url = _opt_str(session, "url")
    if not url:
        raise ValueError("the Checkout Session has no url (not a hosted page?)")
    expires = session.get("expires_at")
    return Checkout(
        provider_id=_str(session, "id"),
        subject_kind=SubjectKind.CHECKOUT,
        redirect_url=url,
        expires_at=None if expires is None else _time(expires),
    )


# --- events -----------------------------------------------------------------------------


def event_of(event: Mapping[str, Any], fees: FeeRule) -> PaymentEvent | None:
    """The :class:`PaymentEvent` a Stripe event object stands for; None for other types."""
    if event.get("object") != "event":
        raise ValueError("not a Stripe event object (a thin v2 notification is not read)")
    event_id = _str(event, "id")
    type_ = _str(event, "type")
    created = _time(event.get("created"))
    data = _map(event, "data")
    obj = _map(data, "object")
    common: dict[str, Any] = {
        "gateway": GATEWAY,
        "event_id": event_id,
        "occurred_at": created,
        "provider_updated_at": created,
        "payload": event,
    }
    if type_ in _CHECKOUT_EVENTS:
        return _checkout_event(_CHECKOUT_EVENTS[type_], obj, fees, common)
    if type_ in _INVOICE_EVENTS:
        return _invoice_event(_INVOICE_EVENTS[type_], obj, fees, common)
    if type_ in _SUBSCRIPTION_EVENTS:
        return _subscription_event(_SUBSCRIPTION_EVENTS[type_], obj, common)
    if type_ == "charge.refunded":
        return _refund_event(obj, common)
    if type_ in _CHARGE_EVENTS:
        return _dispute_event(_CHARGE_EVENTS[type_], obj, common)
    return None


def _checkout_event(
    kind: PaymentEventKind, session: Mapping[str, Any], fees: FeeRule, common: dict[str, Any]
) -> PaymentEvent:
    _expect(session, "checkout.session")
    status = _checkout_status(session)
    if kind is PaymentEventKind.PAYMENT_FAILED:
        status = SubjectStatus.FAILED
    amount, currency = _money(session, "amount_total")
    fee = None
    if status is SubjectStatus.PAID and amount is not None and currency is not None:
        fee = fees.fee(amount, currency)
    return PaymentEvent(
        kind=kind,
        subject=Subject(SubjectKind.CHECKOUT, _str(session, "id")),
        status=status,
        provider_status=_checkout_provider_status(session),
        reference=_reference(session),
        subscription_id=_id_of(session.get("subscription")),
        customer_id=_id_of(session.get("customer")),
        amount=amount,
        currency=currency,
        fee=fee,
        reason="the payment failed" if kind is PaymentEventKind.PAYMENT_FAILED else None,
        **common,
    )


def _invoice_event(
    kind: PaymentEventKind, invoice: Mapping[str, Any], fees: FeeRule, common: dict[str, Any]
) -> PaymentEvent:
    _expect(invoice, "invoice")
    paid = kind is PaymentEventKind.PAYMENT_SUCCEEDED
    amount, currency = _money(invoice, "amount_paid" if paid else "amount_due")
    fee = None
    if paid and amount is not None and currency is not None:
        fee = fees.fee(amount, currency, _invoice_balance_transaction(invoice))
    return PaymentEvent(
        kind=kind,
        subject=Subject(SubjectKind.PAYMENT, _str(invoice, "id")),
        status=SubjectStatus.PAID if paid else SubjectStatus.FAILED,
        provider_status=_opt_str(invoice, "status"),
        reference=_invoice_reference(invoice),
        subscription_id=_invoice_subscription(invoice),
        customer_id=_id_of(invoice.get("customer")),
        amount=amount,
        currency=currency,
        fee=fee,
        period_end=_invoice_period_end(invoice),
        reason=None if paid else _invoice_failure(invoice),
        **common,
    )


def _subscription_event(
    kind: PaymentEventKind, sub: Mapping[str, Any], common: dict[str, Any]
) -> PaymentEvent:
    _expect(sub, "subscription")
    provider_status = _str(sub, "status")
    return PaymentEvent(
        kind=kind,
        subject=Subject(SubjectKind.SUBSCRIPTION, _str(sub, "id")),
        status=subscription_status(provider_status),
        provider_status=provider_status,
        reference=_reference(sub),
        subscription_id=_str(sub, "id"),
        customer_id=_id_of(sub.get("customer")),
        period_end=_subscription_period_end(sub),
        reason=_subscription_note(sub),
        **common,
    )


def _refund_event(charge: Mapping[str, Any], common: dict[str, Any]) -> PaymentEvent:
    _expect(charge, "charge")
    full = charge.get("refunded") is True
    amount, currency = _money(charge, "amount_refunded")
    return PaymentEvent(
        kind=PaymentEventKind.REFUNDED,
        subject=Subject(SubjectKind.PAYMENT, _str(charge, "id")),
        status=SubjectStatus.REFUNDED if full else SubjectStatus.PAID,
        provider_status="refunded" if full else "partially_refunded",
        reference=_reference(charge),
        customer_id=_id_of(charge.get("customer")),
        amount=amount,
        currency=currency,
        reason=None if full else "partially refunded",
        **common,
    )


def _dispute_event(
    kind: PaymentEventKind, dispute: Mapping[str, Any], common: dict[str, Any]
) -> PaymentEvent:
    """A dispute is about its charge: the subject is the charge (``fetch_state`` of it
    gives the charge's reference, which a dispute object does not carry)."""
    _expect(dispute, "dispute")
    provider_status = _str(dispute, "status")
    if kind is PaymentEventKind.DISPUTED:
        status = SubjectStatus.DISPUTED
    else:
        status = _DISPUTE_CLOSED_STATUS.get(provider_status, SubjectStatus.DISPUTED)
    amount, currency = _money(dispute, "amount")
    charge = _id_of(dispute.get("charge"))
    if charge is None:
        raise ValueError("a dispute without its charge")
    return PaymentEvent(
        kind=kind,
        subject=Subject(SubjectKind.PAYMENT, charge),
        status=status,
        provider_status=provider_status,
        reference=_reference(dispute),
        amount=amount,
        currency=currency,
        reason=_short(f"dispute: {_opt_str(dispute, 'reason') or 'unknown reason'}"),
        **common,
    )


# --- states (fetch_state) ---------------------------------------------------------------


def state_of(
    subject: Subject,
    obj: Mapping[str, Any],
    as_of: datetime,
    fees: FeeRule,
    balance_transaction: object = None,
) -> SubjectState:
    """``subject``'s state from the object Stripe answered with (``as_of``: answer time).

    ``balance_transaction`` is the fee's source for an invoice (looked up through its
    PaymentIntent); a charge carries its own when retrieved with it expanded.
    """
    common: dict[str, Any] = {"subject": subject, "as_of": as_of, "payload": obj}
    object_type = _str(obj, "object")
    if subject.kind is SubjectKind.CHECKOUT and object_type == "checkout.session":
        status = _checkout_status(obj)
        amount, currency = _money(obj, "amount_total")
        fee = None
        if status is SubjectStatus.PAID and amount is not None and currency is not None:
            fee = fees.fee(amount, currency)
        return SubjectState(
            status=status,
            provider_status=_checkout_provider_status(obj),
            reference=_reference(obj),
            subscription_id=_id_of(obj.get("subscription")),
            customer_id=_id_of(obj.get("customer")),
            amount=amount,
            currency=currency,
            fee=fee,
            **common,
        )
    if subject.kind is SubjectKind.SUBSCRIPTION and object_type == "subscription":
        provider_status = _str(obj, "status")
        return SubjectState(
            status=subscription_status(provider_status),
            provider_status=provider_status,
            reference=_reference(obj),
            subscription_id=_str(obj, "id"),
            customer_id=_id_of(obj.get("customer")),
            period_end=_subscription_period_end(obj),
            reason=_subscription_note(obj),
            **common,
        )
    if subject.kind is SubjectKind.PAYMENT and object_type == "invoice":
        provider_status = _str(obj, "status")
        status = _INVOICE_STATUS.get(provider_status, SubjectStatus.PENDING)
        if status is SubjectStatus.PENDING and _is_int(obj.get("attempt_count")):
            if obj["attempt_count"] > 0:
                status = SubjectStatus.FAILED
        amount, currency = _money(
            obj, "amount_paid" if status is SubjectStatus.PAID else "amount_due"
        )
        fee = None
        if status is SubjectStatus.PAID and amount is not None and currency is not None:
            fee = fees.fee(
                amount, currency, balance_transaction or _invoice_balance_transaction(obj)
            )
        return SubjectState(
            status=status,
            provider_status=provider_status,
            reference=_invoice_reference(obj),
            subscription_id=_invoice_subscription(obj),
            customer_id=_id_of(obj.get("customer")),
            amount=amount,
            currency=currency,
            fee=fee,
            period_end=_invoice_period_end(obj),
            reason=_invoice_failure(obj) if status is SubjectStatus.FAILED else None,
            **common,
        )
    if subject.kind is SubjectKind.PAYMENT and object_type == "charge":
        status, provider_status = _charge_status(obj)
        amount, currency = _money(obj, "amount")
        fee = None
        if amount is not None and currency is not None and obj.get("paid") is True:
            fee = fees.fee(amount, currency, obj.get("balance_transaction"))
        return SubjectState(
            status=status,
            provider_status=provider_status,
            reference=_reference(obj),
            customer_id=_id_of(obj.get("customer")),
            amount=amount,
            currency=currency,
            fee=fee,
            **common,
        )
    raise ValueError(f"a Stripe {object_type[:40]!r} is not a {subject.kind.value}")


# --- readers ----------------------------------------------------------------------------


def subscription_status(provider_status: str) -> SubjectStatus:
    """Ours for Stripe's; a status Stripe adds later is pending (grants nothing) and its
    raw text stays beside it, rather than an authentic event being refused."""
    return _SUBSCRIPTION_STATUS.get(provider_status, SubjectStatus.PENDING)


def _checkout_status(session: Mapping[str, Any]) -> SubjectStatus:
    """open → pending; expired; complete → paid, or trialing when nothing was due
    (a subscription's free trial), or pending while an async payment method settles."""
    status = _str(session, "status")
    payment_status = _opt_str(session, "payment_status")
    if status == "expired":
        return SubjectStatus.EXPIRED
    if status != "complete":
        return SubjectStatus.PENDING
    if payment_status == "paid":
        return SubjectStatus.PAID
    if payment_status == "no_payment_required":
        if session.get("mode") == "subscription":
            return SubjectStatus.TRIALING
        return SubjectStatus.PAID
    return SubjectStatus.PENDING


def _checkout_provider_status(session: Mapping[str, Any]) -> str:
    payment_status = _opt_str(session, "payment_status")
    status = _str(session, "status")
    return f"{status}/{payment_status}" if payment_status else status


def _charge_status(charge: Mapping[str, Any]) -> tuple[SubjectStatus, str]:
    if charge.get("disputed") is True:
        return SubjectStatus.DISPUTED, "disputed"
    if charge.get("refunded") is True:
        return SubjectStatus.REFUNDED, "refunded"
    status = _str(charge, "status")
    found = {
        "succeeded": SubjectStatus.PAID,
        "pending": SubjectStatus.PENDING,
        "failed": SubjectStatus.FAILED,
    }.get(status, SubjectStatus.PENDING)
    return found, status


def _money(obj: Mapping[str, Any], field: str) -> tuple[Decimal | None, str | None]:
    value = obj.get(field)
    currency = obj.get("currency")
    if value is None or currency is None:
        return None, None
    if not _is_int(value) or value < 0:
        raise ValueError(f"{field} must be a whole number of minor units")
    if not isinstance(currency, str):
        raise ValueError("currency must be text")
    code = currency.upper()
    return from_minor(value, code), code


def _reference(obj: Mapping[str, Any]) -> str | None:
    """Our reference: ``client_reference_id`` (a session), else ``metadata[payment_reference]``."""
    found = _opt_str(obj, "client_reference_id")
    if found:
        return found
    metadata = obj.get("metadata")
    if isinstance(metadata, Mapping):
        return _opt_str(metadata, REFERENCE_KEY) or None
    return None


def _invoice_details(invoice: Mapping[str, Any]) -> Mapping[str, Any]:
    parent = invoice.get("parent")
    if isinstance(parent, Mapping):
        details = parent.get("subscription_details")
        if isinstance(details, Mapping):
            return details
    return {}


def _invoice_subscription(invoice: Mapping[str, Any]) -> str | None:
    found = _id_of(_invoice_details(invoice).get("subscription"))
    return found if found is not None else _id_of(invoice.get("subscription"))


def _invoice_reference(invoice: Mapping[str, Any]) -> str | None:
    """The subscription's metadata as the invoice snapshot it (``parent``), else the
    invoice's own, else a subscription line's (Stripe copies the subscription's there)."""
    found = _reference(_invoice_details(invoice)) or _reference(invoice)
    if found:
        return found
    lines = invoice.get("lines")
    if isinstance(lines, Mapping) and isinstance(lines.get("data"), list):
        for line in lines["data"]:
            if isinstance(line, Mapping) and (from_line := _reference(line)):
                return from_line
    return None


def _invoice_period_end(invoice: Mapping[str, Any]) -> datetime | None:
    """The end of the period the invoice pays for: its lines' latest ``period.end``."""
    lines = invoice.get("lines")
    ends: list[datetime] = []
    if isinstance(lines, Mapping) and isinstance(lines.get("data"), list):
        for line in lines["data"]:
            period = line.get("period") if isinstance(line, Mapping) else None
            if isinstance(period, Mapping) and period.get("end") is not None:
                ends.append(_time(period["end"]))
    if ends:
        return max(ends)
    return None


def _invoice_payments(invoice: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The ``payment`` hashes of an invoice's paid payments (``payments`` when included)."""
    payments = invoice.get("payments")
    if not isinstance(payments, Mapping) or not isinstance(payments.get("data"), list):
        return []
    found = []
    for entry in payments["data"]:
        if isinstance(entry, Mapping) and entry.get("status") in ("paid", None):
            payment = entry.get("payment")
            if isinstance(payment, Mapping):
                found.append(payment)
    return found


def invoice_payment_intent(invoice: Mapping[str, Any]) -> str | None:
    """The PaymentIntent that paid ``invoice``, when its ``payments`` were included."""
    for payment in _invoice_payments(invoice):
        intent = payment.get("payment_intent")
        if isinstance(intent, str) and intent:
            return intent
    return None


def intent_balance_transaction(intent: Mapping[str, Any]) -> object:
    """The balance transaction of a PaymentIntent's expanded latest charge, if there."""
    charge = intent.get("latest_charge")
    if isinstance(charge, Mapping):
        return charge.get("balance_transaction")
    return None


def _invoice_balance_transaction(invoice: Mapping[str, Any]) -> object:
    """An expanded balance transaction of the invoice's paid charge, if present."""
    for payment in _invoice_payments(invoice):
        charge = payment.get("charge")
        if isinstance(charge, Mapping) and isinstance(charge.get("balance_transaction"), Mapping):
            return charge["balance_transaction"]
    return None


def _invoice_failure(invoice: Mapping[str, Any]) -> str:
    attempts = invoice.get("attempt_count")
    text = "the renewal payment failed"
    if _is_int(attempts) and attempts > 0:
        text += f" (attempt {attempts})"
    retry = invoice.get("next_payment_attempt")
    if retry is not None:
        text += f"; Stripe retries at {_time(retry).isoformat()}"
    return text


def _subscription_period_end(sub: Mapping[str, Any]) -> datetime | None:
    ends: list[datetime] = []
    items = sub.get("items")
    if isinstance(items, Mapping) and isinstance(items.get("data"), list):
        for item in items["data"]:
            if isinstance(item, Mapping) and item.get("current_period_end") is not None:
                ends.append(_time(item["current_period_end"]))
    if ends:
        return max(ends)
    legacy = sub.get("current_period_end")
    return None if legacy is None else _time(legacy)


def _subscription_note(sub: Mapping[str, Any]) -> str | None:
    if sub.get("cancel_at_period_end") is True:
        return "cancels at the end of the period"
    return None


def _expect(obj: Mapping[str, Any], object_type: str) -> None:
    if obj.get("object") != object_type:
        raise ValueError(f"the event's object is not a {object_type}")


def _map(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = obj.get(key)
    if not isinstance(value, Mapping):
        raise ValueError(f"{key} must be an object")
    return value


def _str(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} must be non-empty text")
    return value


def _opt_str(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} must be text")
    return value


def _id_of(value: object) -> str | None:
    """An id, or an expanded object's id."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        value = value.get("id")
    if not isinstance(value, str) or not value:
        raise ValueError("an id must be non-empty text")
    return value


def _time(value: object) -> datetime:
    if not _is_int(value) or not 0 <= value < _MAX_UNIX:
        raise ValueError("a time must be Unix seconds")
    return datetime.fromtimestamp(value, UTC)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _short(text: str) -> str:
    return text[:300]
