"""PayPal objects to and from our payment types. Pure: no I/O, no clock of its own.

Outbound: the Orders v2 and Subscriptions request bodies (amounts as strings with the
currency's own decimals, our payment reference as ``custom_id`` and ``invoice_id``) and the
buyer's redirect link. Inbound: one webhook event (already authenticated) into
:class:`~signalbridge.payments.base.PaymentEvent`, and a fetched order, capture, sale or
subscription into :class:`~signalbridge.payments.base.SubjectState`.

Subjects. A one-time checkout is the *order* (``CHECKOUT``); the money is its *capture*
(``PAYMENT``), and a subscription's renewals are *sales* (``PAYMENT``, with the
subscription id). Refunds, reversals and disputes name the capture or sale they are about,
so a payment's events share one subject whatever their type.

References. Our payment reference travels as the order's ``custom_id``/``invoice_id`` and the
subscription's ``custom_id``; events about those objects (and their captures, which echo
the order's) carry it. A subscription's *sales* echo the subscription's ``custom_id`` too,
but that names the checkout's payment, not this renewal, so sale events, their refunds and
disputes (which may be about a sale) carry no reference: the flow finds them by the sale
or capture id, or by ``subscription_id``.

Anything that does not fit (a missing id, an amount that is not a decimal string, a time
without a zone) raises ``ValueError``; the webhook layer turns that into a refused callback.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from signalbridge.payments.base import (
    CheckoutRequest,
    PaymentEvent,
    PaymentEventKind,
    Subject,
    SubjectKind,
    SubjectState,
    SubjectStatus,
    payment_id_from_reference,
)

GATEWAY = "paypal"

#: Currencies PayPal REST accepts (developer.paypal.com/api/rest/reference/currency-codes).
CURRENCIES: frozenset[str] = frozenset(
    {
        "AUD", "BRL", "CAD", "CNY", "CZK", "DKK", "EUR", "HKD", "HUF", "ILS", "JPY", "MYR",
        "MXN", "TWD", "NZD", "NOK", "PHP", "PLN", "GBP", "SGD", "SEK", "CHF", "THB", "USD",
    }
)  # fmt: skip
#: Currencies PayPal takes without decimals.
ZERO_DECIMAL: frozenset[str] = frozenset({"HUF", "JPY", "TWD"})
MAX_VALUE_LENGTH = 32  # PayPal's ``amount.value`` maxLength
MAX_DESCRIPTION = 127

_VALUE = re.compile(r"-?[0-9]{1,30}(?:\.[0-9]{1,18})?", re.ASCII)
_CAPTURE_URL = re.compile(r"/v2/payments/captures/([A-Za-z0-9_-]{1,100})/?$")

ORDER_STATUS: dict[str, SubjectStatus] = {
    "CREATED": SubjectStatus.PENDING,
    "SAVED": SubjectStatus.PENDING,
    "PAYER_ACTION_REQUIRED": SubjectStatus.PENDING,
    "APPROVED": SubjectStatus.PENDING,
    "VOIDED": SubjectStatus.EXPIRED,
    "COMPLETED": SubjectStatus.PAID,
}
CAPTURE_STATUS: dict[str, SubjectStatus] = {
    "COMPLETED": SubjectStatus.PAID,
    "PENDING": SubjectStatus.PENDING,
    "DECLINED": SubjectStatus.FAILED,
    "FAILED": SubjectStatus.FAILED,
    "REFUNDED": SubjectStatus.REFUNDED,
    "PARTIALLY_REFUNDED": SubjectStatus.PAID,
}
SALE_STATE: dict[str, SubjectStatus] = {
    "completed": SubjectStatus.PAID,
    "pending": SubjectStatus.PENDING,
    "denied": SubjectStatus.FAILED,
    "refunded": SubjectStatus.REFUNDED,
    "partially_refunded": SubjectStatus.PAID,
    "reversed": SubjectStatus.REFUNDED,
}
SUBSCRIPTION_STATUS: dict[str, SubjectStatus] = {
    "APPROVAL_PENDING": SubjectStatus.PENDING,
    "APPROVED": SubjectStatus.PENDING,
    "ACTIVE": SubjectStatus.ACTIVE,
    "SUSPENDED": SubjectStatus.PAST_DUE,
    "CANCELLED": SubjectStatus.CANCELED,
    "EXPIRED": SubjectStatus.EXPIRED,
}
#: A dispute's outcome as the payment's state after it.
DISPUTE_OUTCOME: dict[str, SubjectStatus] = {
    "RESOLVED_BUYER_FAVOUR": SubjectStatus.REFUNDED,
    "RESOLVED_WITH_PAYOUT": SubjectStatus.REFUNDED,
    "ACCEPTED": SubjectStatus.REFUNDED,
    "RESOLVED_SELLER_FAVOUR": SubjectStatus.PAID,
    "CANCELED_BY_BUYER": SubjectStatus.PAID,
    "DENIED": SubjectStatus.PAID,
}


# --- outbound ---------------------------------------------------------------------------


def money_value(amount: Decimal, currency: str) -> str:
    """``amount`` as PayPal's ``value`` string: exactly the currency's decimals.

    Refuses (``ValueError``) an amount the currency cannot express (``10.005`` USD, ``5.5``
    JPY) rather than rounding a price behind the member's back.
    """
    if currency not in CURRENCIES:
        raise ValueError(f"PayPal does not take {currency}")
    places = Decimal(1) if currency in ZERO_DECIMAL else Decimal("0.01")
    value = amount.quantize(places)
    if value != amount:
        raise ValueError(f"{amount} {currency} has more decimals than {currency} allows")
    text = f"{value:f}"
    if value <= 0 or len(text) > MAX_VALUE_LENGTH:
        raise ValueError(f"{amount} {currency} is not an amount PayPal takes")
    return text


def reference_text(req: CheckoutRequest, prefix: str) -> str:
    """What travels as ``custom_id`` and ``invoice_id``: our reference behind the prefix."""
    return f"{prefix}{req.reference}"


def order_body(
    req: CheckoutRequest, *, prefix: str = "", brand_name: str | None = None
) -> dict[str, Any]:
    """``POST /v2/checkout/orders`` for a one-time plan: capture on approval."""
    ours = reference_text(req, prefix)
    context: dict[str, Any] = {
        "return_url": req.success_url,
        "cancel_url": req.cancel_url,
        "user_action": "PAY_NOW",
        "shipping_preference": "NO_SHIPPING",
    }
    if brand_name:
        context["brand_name"] = brand_name
    paypal: dict[str, Any] = {"experience_context": context}
    if req.email:
        paypal["email_address"] = req.email
    return {
        "intent": "CAPTURE",
        "purchase_units": [
            {
                "reference_id": "default",
                "custom_id": ours,
                "invoice_id": ours,
                "description": req.plan.name[:MAX_DESCRIPTION],
                "amount": {
                    "currency_code": req.currency,
                    "value": money_value(req.price, req.currency),
                },
            }
        ],
        "payment_source": {"paypal": paypal},
    }


def subscription_body(
    req: CheckoutRequest, plan_id: str, *, prefix: str = "", brand_name: str | None = None
) -> dict[str, Any]:
    """``POST /v1/billing/subscriptions`` for a recurring plan (the price is the plan's)."""
    context: dict[str, Any] = {
        "return_url": req.success_url,
        "cancel_url": req.cancel_url,
        "user_action": "SUBSCRIBE_NOW",
        "shipping_preference": "NO_SHIPPING",
    }
    if brand_name:
        context["brand_name"] = brand_name
    body: dict[str, Any] = {
        "plan_id": plan_id,
        "custom_id": reference_text(req, prefix),
        "application_context": context,
    }
    if req.email:
        body["subscriber"] = {"email_address": req.email}
    return body


def redirect_link(obj: Mapping[str, Any]) -> str:
    """Where the buyer approves: the ``payer-action`` link, else the ``approve`` one."""
    links = obj.get("links")
    found: dict[str, str] = {}
    if isinstance(links, list):
        for link in links:
            if isinstance(link, Mapping) and isinstance(link.get("href"), str):
                found.setdefault(str(link.get("rel")), link["href"])
    for rel in ("payer-action", "approve"):
        if rel in found:
            return found[rel]
    raise ValueError("PayPal's answer has no approve or payer-action link")


# --- inbound: webhook events ------------------------------------------------------------

Handler = Callable[["_Envelope"], PaymentEvent | None]


class _Envelope:
    """One webhook event's envelope, read strictly, plus where our reference lives."""

    def __init__(self, body: Mapping[str, Any], prefix: str) -> None:
        self.body = body
        self.id = _ident(body, "id")
        self.type = _ident(body, "event_type")
        self.created = parse_time(_ident(body, "create_time"), "create_time")
        self.resource = _mapping(body, "resource")
        self.prefix = prefix

    def reference(self, *candidates: object) -> str | None:
        return our_reference(self.prefix, *candidates)

    def event(self, **fields: Any) -> PaymentEvent:
        fields.setdefault("occurred_at", self.created)
        fields.setdefault("provider_updated_at", self.created)
        return PaymentEvent(gateway=GATEWAY, event_id=self.id, payload=self.body, **fields)


def events_from_webhook(body: Mapping[str, Any], *, prefix: str = "") -> list[PaymentEvent]:
    """The events one authenticated delivery reports: one, or none for a type we ignore."""
    envelope = _Envelope(body, prefix)
    handler = _HANDLERS.get(envelope.type)
    if handler is None:
        return []
    event = handler(envelope)
    return [] if event is None else [event]


def our_reference(prefix: str, *candidates: object) -> str | None:
    """Our payment reference from the first candidate that is ours (behind ``prefix``)."""
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.startswith(prefix):
            rest = candidate[len(prefix) :]
            if payment_id_from_reference(rest) is not None:
                return rest
    return None


def _order_approved(env: _Envelope) -> PaymentEvent:
    order = env.resource
    unit = _first_unit(order)
    amount, currency = _amount_v2(unit.get("amount"))
    status = _text(order.get("status")) or "APPROVED"
    return env.event(
        kind=PaymentEventKind.PAYMENT_PENDING,
        subject=Subject(SubjectKind.CHECKOUT, _ident(order, "id")),
        provider_updated_at=_marker(order, env.created),
        status=ORDER_STATUS.get(status, SubjectStatus.PENDING),
        provider_status=status,
        reference=env.reference(unit.get("custom_id"), unit.get("invoice_id")),
        amount=amount,
        currency=currency,
        reason="approved by the buyer; waiting for capture",
    )


def _capture(env: _Envelope) -> PaymentEvent:
    return capture_event(env.resource, env.id, env.created, env.prefix, payload=env.body)


def capture_event(
    capture: Mapping[str, Any],
    event_id: str,
    occurred_at: datetime,
    prefix: str,
    *,
    payload: Mapping[str, Any],
    fallback_reference: str | None = None,
) -> PaymentEvent:
    """A v2 capture (from a webhook or a capture call's answer) as the payment's event."""
    status = _ident(capture, "status")
    state = CAPTURE_STATUS.get(status)
    if state is None:
        raise ValueError(f"unknown capture status {status!r}")
    kind = {
        SubjectStatus.PAID: PaymentEventKind.PAYMENT_SUCCEEDED,
        SubjectStatus.PENDING: PaymentEventKind.PAYMENT_PENDING,
        SubjectStatus.FAILED: PaymentEventKind.PAYMENT_FAILED,
        SubjectStatus.REFUNDED: PaymentEventKind.REFUNDED,
    }[state]
    amount, currency = _amount_v2(capture.get("amount"))
    details = capture.get("status_details")
    reason = _text(details.get("reason")) if isinstance(details, Mapping) else None
    return PaymentEvent(
        gateway=GATEWAY,
        event_id=event_id,
        kind=kind,
        subject=Subject(SubjectKind.PAYMENT, _ident(capture, "id")),
        occurred_at=occurred_at,
        provider_updated_at=_marker(capture, occurred_at),
        status=state,
        provider_status=status,
        reference=our_reference(prefix, capture.get("custom_id"), capture.get("invoice_id"))
        or fallback_reference,
        amount=amount,
        currency=currency,
        fee=_fee_v2(capture.get("seller_receivable_breakdown"), currency),
        reason=reason,
        payload=payload,
    )


def _capture_refund(env: _Envelope) -> PaymentEvent:
    refund = env.resource
    reversed_ = env.type.endswith(".REVERSED")
    amount, currency = _amount_v2(refund.get("amount"))
    capture_id = _parent_capture(refund) or _ident(refund, "id")
    return env.event(
        kind=PaymentEventKind.REFUNDED,
        subject=Subject(SubjectKind.PAYMENT, capture_id),
        provider_updated_at=_marker(refund, env.created),
        status=SubjectStatus.REFUNDED,
        provider_status="REVERSED" if reversed_ else "REFUNDED",
        reference=env.reference(refund.get("custom_id"), refund.get("invoice_id")),
        amount=None if amount is None else abs(amount),
        currency=currency,
        reason="reversed by PayPal" if reversed_ else None,
    )


def _subscription(env: _Envelope) -> PaymentEvent:
    sub = env.resource
    canceled = env.type in ("BILLING.SUBSCRIPTION.CANCELLED", "BILLING.SUBSCRIPTION.EXPIRED")
    failed = env.type == "BILLING.SUBSCRIPTION.PAYMENT.FAILED"
    status = _text(sub.get("status")) or _STATUS_OF_TYPE.get(env.type) or "ACTIVE"
    fields = _subscription_fields(sub, env.prefix)
    amount = currency = reason = None
    if failed:
        kind = PaymentEventKind.PAYMENT_FAILED
        last = _billing(sub).get("last_failed_payment")
        if isinstance(last, Mapping):
            amount, currency = _amount_v2(last.get("amount"))
            reason = _text(last.get("reason_code"))
        reason = (
            f"a recurring payment failed ({reason})" if reason else "a recurring payment failed"
        )
    elif canceled:
        kind = PaymentEventKind.SUBSCRIPTION_CANCELED
    else:
        kind = PaymentEventKind.SUBSCRIPTION_UPDATED
    return env.event(
        kind=kind,
        subject=Subject(SubjectKind.SUBSCRIPTION, fields.pop("id")),
        provider_updated_at=_marker(sub, env.created, "status_update_time"),
        status=subscription_status(sub, status),
        provider_status=status,
        amount=amount,
        currency=currency,
        reason=reason,
        **fields,
    )


def _sale(env: _Envelope) -> PaymentEvent:
    sale = env.resource
    state = _ident(sale, "state")
    status = SALE_STATE.get(state)
    if status is None:
        raise ValueError(f"unknown sale state {state!r}")
    kind = {
        SubjectStatus.PAID: PaymentEventKind.PAYMENT_SUCCEEDED,
        SubjectStatus.PENDING: PaymentEventKind.PAYMENT_PENDING,
        SubjectStatus.FAILED: PaymentEventKind.PAYMENT_FAILED,
        SubjectStatus.REFUNDED: PaymentEventKind.REFUNDED,
    }[status]
    amount, currency = _amount_v1(sale.get("amount"))
    return env.event(
        kind=kind,
        subject=Subject(SubjectKind.PAYMENT, _ident(sale, "id")),
        provider_updated_at=_marker(sale, env.created),
        status=status,
        provider_status=state,
        reference=None,  # see "References" in the module docstring
        subscription_id=_text(sale.get("billing_agreement_id")),
        amount=amount,
        currency=currency,
        fee=_fee_v2(sale.get("transaction_fee"), currency, key="value"),
        reason=_text(sale.get("reason_code")) if status is not SubjectStatus.PAID else None,
    )


def _sale_refund(env: _Envelope) -> PaymentEvent:
    refund = env.resource
    reversed_ = env.type.endswith(".REVERSED")
    amount, currency = _amount_v1(refund.get("amount"))
    sale_id = _text(refund.get("sale_id")) or _ident(refund, "id")
    return env.event(
        kind=PaymentEventKind.REFUNDED,
        subject=Subject(SubjectKind.PAYMENT, sale_id),
        provider_updated_at=_marker(refund, env.created),
        status=SubjectStatus.REFUNDED,
        provider_status="reversed" if reversed_ else "refunded",
        reference=None,
        subscription_id=_text(refund.get("billing_agreement_id")),
        amount=None if amount is None else abs(amount),
        currency=currency,
        reason=(_text(refund.get("reason_code")) or "reversed by PayPal") if reversed_ else None,
    )


def _dispute(env: _Envelope) -> PaymentEvent | None:
    dispute = env.resource
    transactions = dispute.get("disputed_transactions")
    if not isinstance(transactions, list) or not transactions:
        raise ValueError("a dispute names no disputed transaction")
    first = transactions[0]
    if not isinstance(first, Mapping):
        raise ValueError("disputed_transactions[0] is not an object")
    payment = _ident(first, "seller_transaction_id")
    amount, currency = _amount_v2(dispute.get("dispute_amount"))
    resolved = env.type == "CUSTOMER.DISPUTE.RESOLVED"
    outcome = dispute.get("dispute_outcome")
    code = _text(outcome.get("outcome_code")) if isinstance(outcome, Mapping) else None
    return env.event(
        kind=PaymentEventKind.DISPUTE_CLOSED if resolved else PaymentEventKind.DISPUTED,
        subject=Subject(SubjectKind.PAYMENT, payment),
        provider_updated_at=_marker(dispute, env.created),
        status=DISPUTE_OUTCOME.get(code or "") if resolved else SubjectStatus.DISPUTED,
        provider_status=(code or _text(dispute.get("status")) or "RESOLVED")
        if resolved
        else (_text(dispute.get("status")) or "OPEN"),
        reference=None,  # may be about a sale: see "References" in the module docstring
        amount=amount,
        currency=currency,
        reason=_text(dispute.get("reason")),
    )


_STATUS_OF_TYPE: dict[str, str] = {
    "BILLING.SUBSCRIPTION.CREATED": "APPROVAL_PENDING",
    "BILLING.SUBSCRIPTION.ACTIVATED": "ACTIVE",
    "BILLING.SUBSCRIPTION.RE-ACTIVATED": "ACTIVE",
    "BILLING.SUBSCRIPTION.SUSPENDED": "SUSPENDED",
    "BILLING.SUBSCRIPTION.CANCELLED": "CANCELLED",
    "BILLING.SUBSCRIPTION.EXPIRED": "EXPIRED",
}

_HANDLERS: dict[str, Handler] = {
    "CHECKOUT.ORDER.APPROVED": _order_approved,
    "PAYMENT.CAPTURE.COMPLETED": _capture,
    "PAYMENT.CAPTURE.PENDING": _capture,
    "PAYMENT.CAPTURE.DENIED": _capture,
    "PAYMENT.CAPTURE.DECLINED": _capture,
    "PAYMENT.CAPTURE.REFUNDED": _capture_refund,
    "PAYMENT.CAPTURE.REVERSED": _capture_refund,
    "BILLING.SUBSCRIPTION.CREATED": _subscription,
    "BILLING.SUBSCRIPTION.ACTIVATED": _subscription,
    "BILLING.SUBSCRIPTION.RE-ACTIVATED": _subscription,
    "BILLING.SUBSCRIPTION.UPDATED": _subscription,
    "BILLING.SUBSCRIPTION.SUSPENDED": _subscription,
    "BILLING.SUBSCRIPTION.CANCELLED": _subscription,
    "BILLING.SUBSCRIPTION.EXPIRED": _subscription,
    "BILLING.SUBSCRIPTION.PAYMENT.FAILED": _subscription,
    "PAYMENT.SALE.COMPLETED": _sale,
    "PAYMENT.SALE.PENDING": _sale,
    "PAYMENT.SALE.DENIED": _sale,
    "PAYMENT.SALE.REFUNDED": _sale_refund,
    "PAYMENT.SALE.REVERSED": _sale_refund,
    "CUSTOMER.DISPUTE.CREATED": _dispute,
    "CUSTOMER.DISPUTE.RESOLVED": _dispute,
}
#: The event types the gateway acts on; a delivery of any other type gives no event.
HANDLED_TYPES: frozenset[str] = frozenset(_HANDLERS)


# --- inbound: fetched states ------------------------------------------------------------


def order_state(order: Mapping[str, Any], now: datetime, prefix: str = "") -> SubjectState:
    """An order's state; once captured, its capture's status decides (paid, declined…)."""
    status = _ident(order, "status")
    state = ORDER_STATUS.get(status)
    if state is None:
        raise ValueError(f"unknown order status {status!r}")
    unit = _first_unit(order)
    amount, currency = _amount_v2(unit.get("amount"))
    fee = None
    reason = None
    capture = _first_capture(unit)
    if capture is not None:
        captured = _text(capture.get("status")) or ""
        state = CAPTURE_STATUS.get(captured, state)
        fee = _fee_v2(capture.get("seller_receivable_breakdown"), currency)
        details = capture.get("status_details")
        reason = _text(details.get("reason")) if isinstance(details, Mapping) else None
        if captured == "PARTIALLY_REFUNDED":
            reason = "partially refunded"
    return SubjectState(
        subject=Subject(SubjectKind.CHECKOUT, _ident(order, "id")),
        status=state,
        provider_status=status,
        as_of=_marker(order, now),
        reference=our_reference(prefix, unit.get("custom_id"), unit.get("invoice_id")),
        amount=amount,
        currency=currency,
        fee=fee if amount is not None else None,
        reason=reason,
        payload=order,
    )


def capture_state(capture: Mapping[str, Any], now: datetime, prefix: str = "") -> SubjectState:
    status = _ident(capture, "status")
    state = CAPTURE_STATUS.get(status)
    if state is None:
        raise ValueError(f"unknown capture status {status!r}")
    amount, currency = _amount_v2(capture.get("amount"))
    return SubjectState(
        subject=Subject(SubjectKind.PAYMENT, _ident(capture, "id")),
        status=state,
        provider_status=status,
        as_of=_marker(capture, now),
        reference=our_reference(prefix, capture.get("custom_id"), capture.get("invoice_id")),
        amount=amount,
        currency=currency,
        fee=_fee_v2(capture.get("seller_receivable_breakdown"), currency),
        reason="partially refunded" if status == "PARTIALLY_REFUNDED" else None,
        payload=capture,
    )


def sale_state(sale: Mapping[str, Any], now: datetime, prefix: str = "") -> SubjectState:
    state = _ident(sale, "state")
    status = SALE_STATE.get(state)
    if status is None:
        raise ValueError(f"unknown sale state {state!r}")
    amount, currency = _amount_v1(sale.get("amount"))
    return SubjectState(
        subject=Subject(SubjectKind.PAYMENT, _ident(sale, "id")),
        status=status,
        provider_status=state,
        as_of=_marker(sale, now),
        subscription_id=_text(sale.get("billing_agreement_id")),
        amount=amount,
        currency=currency,
        fee=_fee_v2(sale.get("transaction_fee"), currency, key="value"),
        payload=sale,
    )


def subscription_state(sub: Mapping[str, Any], now: datetime, prefix: str = "") -> SubjectState:
    status = _ident(sub, "status")
    fields = _subscription_fields(sub, prefix)
    return SubjectState(
        subject=Subject(SubjectKind.SUBSCRIPTION, fields.pop("id")),
        status=subscription_status(sub, status),
        provider_status=status,
        as_of=_marker(sub, now, "status_update_time"),
        payload=sub,
        **fields,
    )


def subscription_status(sub: Mapping[str, Any], status: str) -> SubjectStatus:
    """ACTIVE with a trial cycle still running is ``TRIALING``."""
    state = SUBSCRIPTION_STATUS.get(status)
    if state is None:
        raise ValueError(f"unknown subscription status {status!r}")
    if state is SubjectStatus.ACTIVE:
        for cycle in _billing(sub).get("cycle_executions") or ():
            if (
                isinstance(cycle, Mapping)
                and cycle.get("tenure_type") == "TRIAL"
                and isinstance(cycle.get("cycles_remaining"), int)
                and cycle["cycles_remaining"] > 0
            ):
                return SubjectStatus.TRIALING
    return state


# --- reading helpers --------------------------------------------------------------------


def parse_time(text: str, what: str) -> datetime:
    """An RFC 3339 time as PayPal sends it (``Z`` or an offset, optional fraction)."""
    if len(text) > 40:
        raise ValueError(f"{what} is not an RFC 3339 time")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{what} is not an RFC 3339 time") from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{what} has no time zone")
    return when


def parse_value(text: object, what: str) -> Decimal:
    """A PayPal money ``value``/``total`` string; never a JSON number, never exponent form."""
    if not isinstance(text, str) or not _VALUE.fullmatch(text):
        raise ValueError(f"{what} is not a decimal string")
    return Decimal(text)


def _subscription_fields(sub: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    billing = _billing(sub)
    subscriber = sub.get("subscriber")
    payer = _text(subscriber.get("payer_id")) if isinstance(subscriber, Mapping) else None
    next_billing = _text(billing.get("next_billing_time"))
    sub_id = _ident(sub, "id")
    return {
        "id": sub_id,
        "reference": our_reference(prefix, sub.get("custom_id")),
        "subscription_id": sub_id,
        "customer_id": payer,
        "period_end": parse_time(next_billing, "next_billing_time") if next_billing else None,
    }


def _billing(sub: Mapping[str, Any]) -> Mapping[str, Any]:
    billing = sub.get("billing_info")
    return billing if isinstance(billing, Mapping) else {}


def _first_unit(order: Mapping[str, Any]) -> Mapping[str, Any]:
    units = order.get("purchase_units")
    if isinstance(units, list) and units and isinstance(units[0], Mapping):
        return units[0]
    return {}


def _first_capture(unit: Mapping[str, Any]) -> Mapping[str, Any] | None:
    payments = unit.get("payments")
    captures = payments.get("captures") if isinstance(payments, Mapping) else None
    if isinstance(captures, list) and captures and isinstance(captures[-1], Mapping):
        return captures[-1]
    return None


def captures_of(order: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every capture of every purchase unit of an order (a capture call's answer)."""
    found: list[Mapping[str, Any]] = []
    units = order.get("purchase_units")
    for unit in units if isinstance(units, list) else ():
        payments = unit.get("payments") if isinstance(unit, Mapping) else None
        captures = payments.get("captures") if isinstance(payments, Mapping) else None
        found += [c for c in captures or () if isinstance(c, Mapping)]
    return found


def order_reference(order: Mapping[str, Any], prefix: str) -> str | None:
    unit = _first_unit(order)
    return our_reference(prefix, unit.get("custom_id"), unit.get("invoice_id"))


def _parent_capture(refund: Mapping[str, Any]) -> str | None:
    links = refund.get("links")
    for link in links if isinstance(links, list) else ():
        if isinstance(link, Mapping) and link.get("rel") == "up":
            href = link.get("href")
            found = _CAPTURE_URL.search(href) if isinstance(href, str) else None
            if found:
                return found.group(1)
    return None


def _amount_v2(money: object) -> tuple[Decimal | None, str | None]:
    """``{currency_code, value}`` (Orders v2, Subscriptions, disputes)."""
    if money is None:
        return None, None
    if not isinstance(money, Mapping):
        raise ValueError("an amount is not an object")
    return parse_value(money.get("value"), "amount.value"), _currency(money.get("currency_code"))


def _amount_v1(money: object) -> tuple[Decimal | None, str | None]:
    """``{total, currency}`` (v1 sales and refunds)."""
    if money is None:
        return None, None
    if not isinstance(money, Mapping):
        raise ValueError("an amount is not an object")
    return parse_value(money.get("total"), "amount.total"), _currency(money.get("currency"))


def _fee_v2(breakdown: object, currency: str | None, *, key: str = "paypal_fee") -> Decimal | None:
    """PayPal's fee in the payment's currency: ``breakdown.paypal_fee.value`` (v2), or a
    v1 ``transaction_fee {value, currency}`` (``key="value"``)."""
    if not isinstance(breakdown, Mapping) or currency is None:
        return None
    fee = breakdown.get(key) if key != "value" else breakdown
    if not isinstance(fee, Mapping):
        return None
    fee_currency = fee.get("currency_code", fee.get("currency"))
    if fee_currency != currency:
        return None
    return abs(parse_value(fee.get("value"), "fee.value"))


def _currency(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Z]{3}", value):
        raise ValueError("a currency is not a 3-letter code")
    return value


def _marker(obj: Mapping[str, Any], fallback: datetime, *also: str) -> datetime:
    """The object's last-modified time: the latest of ``update_time`` (and ``also``), else
    ``create_time``, else ``fallback`` (the event's or the answer's time)."""
    times = [
        parse_time(text, name)
        for name in ("update_time", *also)
        if (text := _text(obj.get(name))) is not None
    ]
    if times:
        return max(times)
    created = _text(obj.get("create_time"))
    return parse_time(created, "create_time") if created else fallback


def _mapping(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = obj.get(key)
    if not isinstance(value, Mapping):
        raise ValueError(f"{key} is not an object")
    return value


def _ident(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} is missing")
    return value


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
