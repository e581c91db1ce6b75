"""PayPal objects to our payment types and back: one case per event type we act on.

Resources follow PayPal's webhook samples (developer.paypal.com/api/rest/webhooks/
event-names) and the paypal-server-sdk models: v2 ``{currency_code, value}`` amounts on
orders, captures and subscriptions, v1 ``{total, currency}`` on sales and their refunds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from signalbridge.payments import (
    BillingInterval,
    CheckoutRequest,
    PaymentEventKind,
    PlanTerms,
    Subject,
    SubjectKind,
    SubjectStatus,
)
from signalbridge.payments.paypal import convert

T0 = "2026-03-01T12:00:00Z"
T1 = "2026-03-01T12:05:00Z"
NOW = datetime(2026, 3, 1, 13, 0, tzinfo=UTC)


def env(event_type: str, resource: dict[str, Any], event_id: str = "WH-1A2B3C") -> dict[str, Any]:
    return {
        "id": event_id,
        "event_version": "1.0",
        "create_time": T1,
        "resource_type": "x",
        "event_type": event_type,
        "resource": resource,
    }


def one(event_type: str, resource: dict[str, Any], prefix: str = "") -> Any:
    [event] = convert.events_from_webhook(env(event_type, resource), prefix=prefix)
    assert event.gateway == "paypal" and event.event_id == "WH-1A2B3C"
    assert event.occurred_at == datetime(2026, 3, 1, 12, 5, tzinfo=UTC)
    return event


CAPTURE = {
    "id": "2GG279541U471931P",
    "status": "COMPLETED",
    "amount": {"currency_code": "USD", "value": "10.00"},
    "final_capture": True,
    "custom_id": "sbpay_12",
    "invoice_id": "sbpay_12",
    "seller_receivable_breakdown": {
        "gross_amount": {"currency_code": "USD", "value": "10.00"},
        "paypal_fee": {"currency_code": "USD", "value": "0.84"},
        "net_amount": {"currency_code": "USD", "value": "9.16"},
    },
    "create_time": T0,
    "update_time": T0,
}
SUBSCRIPTION = {
    "id": "I-BW452GLLEP1G",
    "plan_id": "P-5ML4271244454362WXNWU5NQ",
    "status": "ACTIVE",
    "status_update_time": T0,
    "custom_id": "sbpay_40",
    "subscriber": {"payer_id": "2J6QB8YJQSJRJ", "email_address": "b@example.com"},
    "billing_info": {
        "cycle_executions": [
            {"tenure_type": "REGULAR", "sequence": 1, "cycles_completed": 1, "total_cycles": 0}
        ],
        "next_billing_time": "2026-04-01T10:00:00Z",
        "last_failed_payment": {
            "amount": {"currency_code": "USD", "value": "25.00"},
            "time": T0,
            "reason_code": "PAYMENT_DENIED",
        },
    },
    "create_time": "2026-02-01T10:00:00Z",
    "update_time": T0,
}
SALE = {
    "id": "80021663DE681814L",
    "state": "completed",
    "amount": {"total": "25.00", "currency": "USD", "details": {"subtotal": "25.00"}},
    "billing_agreement_id": "I-BW452GLLEP1G",
    "custom": "sbpay_40",
    "transaction_fee": {"value": "1.36", "currency": "USD"},
    "create_time": T0,
    "update_time": T0,
}


def test_order_approved_is_pending_and_awaits_capture() -> None:
    order = {
        "id": "5O190127TN364715T",
        "status": "APPROVED",
        "intent": "CAPTURE",
        "purchase_units": [
            {"custom_id": "sbpay_12", "amount": {"currency_code": "USD", "value": "10.00"}}
        ],
        "create_time": T0,
        "update_time": T0,
    }
    event = one("CHECKOUT.ORDER.APPROVED", order)
    assert event.kind is PaymentEventKind.PAYMENT_PENDING
    assert event.subject == Subject(SubjectKind.CHECKOUT, "5O190127TN364715T")
    assert (event.status, event.provider_status) == (SubjectStatus.PENDING, "APPROVED")
    assert event.reference == "sbpay_12" and event.amount == Decimal("10.00")
    assert event.provider_updated_at == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("event_type", "status", "kind", "state"),
    [
        ("PAYMENT.CAPTURE.COMPLETED", "COMPLETED", "payment_succeeded", "paid"),
        ("PAYMENT.CAPTURE.PENDING", "PENDING", "payment_pending", "pending"),
        ("PAYMENT.CAPTURE.DENIED", "DECLINED", "payment_failed", "failed"),
        ("PAYMENT.CAPTURE.DECLINED", "DECLINED", "payment_failed", "failed"),
    ],
)
def test_capture_events(event_type: str, status: str, kind: str, state: str) -> None:
    resource = {**CAPTURE, "status": status}
    if status == "PENDING":
        resource["status_details"] = {"reason": "PENDING_REVIEW"}
    event = one(event_type, resource)
    assert (event.kind.value, event.status.value) == (kind, state)
    assert event.subject == Subject(SubjectKind.PAYMENT, "2GG279541U471931P")
    assert (event.amount, event.currency, event.fee) == (Decimal("10.00"), "USD", Decimal("0.84"))
    assert event.reference == "sbpay_12"
    assert event.reason == ("PENDING_REVIEW" if status == "PENDING" else None)


@pytest.mark.parametrize("event_type", ["PAYMENT.CAPTURE.REFUNDED", "PAYMENT.CAPTURE.REVERSED"])
def test_capture_refund_names_its_capture(event_type: str) -> None:
    refund = {
        "id": "1JU08902781691411",
        "status": "COMPLETED",
        "amount": {"currency_code": "USD", "value": "10.00"},
        "custom_id": "sbpay_12",
        "create_time": T1,
        "update_time": T1,
        "links": [
            {
                "href": "https://api.paypal.com/v2/payments/captures/2GG279541U471931P",
                "rel": "up",
                "method": "GET",
            }
        ],
    }
    event = one(event_type, refund)
    assert event.kind is PaymentEventKind.REFUNDED and event.status is SubjectStatus.REFUNDED
    assert event.subject == Subject(SubjectKind.PAYMENT, "2GG279541U471931P")
    assert event.reference == "sbpay_12" and event.amount == Decimal("10.00")
    assert (event.reason is not None) == event_type.endswith("REVERSED")


@pytest.mark.parametrize(
    ("event_type", "status", "kind", "state"),
    [
        ("BILLING.SUBSCRIPTION.CREATED", "APPROVAL_PENDING", "subscription_updated", "pending"),
        ("BILLING.SUBSCRIPTION.ACTIVATED", "ACTIVE", "subscription_updated", "active"),
        ("BILLING.SUBSCRIPTION.UPDATED", "ACTIVE", "subscription_updated", "active"),
        ("BILLING.SUBSCRIPTION.RE-ACTIVATED", "ACTIVE", "subscription_updated", "active"),
        ("BILLING.SUBSCRIPTION.SUSPENDED", "SUSPENDED", "subscription_updated", "past_due"),
        ("BILLING.SUBSCRIPTION.CANCELLED", "CANCELLED", "subscription_canceled", "canceled"),
        ("BILLING.SUBSCRIPTION.EXPIRED", "EXPIRED", "subscription_canceled", "expired"),
        ("BILLING.SUBSCRIPTION.PAYMENT.FAILED", "ACTIVE", "payment_failed", "active"),
    ],
)
def test_subscription_events(event_type: str, status: str, kind: str, state: str) -> None:
    event = one(event_type, {**SUBSCRIPTION, "status": status})
    assert (event.kind.value, event.status.value, event.provider_status) == (kind, state, status)
    assert event.subject == Subject(SubjectKind.SUBSCRIPTION, "I-BW452GLLEP1G")
    assert event.subscription_id == "I-BW452GLLEP1G" and event.reference == "sbpay_40"
    assert event.customer_id == "2J6QB8YJQSJRJ"
    assert event.period_end == datetime(2026, 4, 1, 10, 0, tzinfo=UTC)
    if kind == "payment_failed":
        assert event.amount == Decimal("25.00") and "PAYMENT_DENIED" in (event.reason or "")
    else:
        assert event.amount is None


def test_a_running_trial_is_trialing() -> None:
    trial = {
        **SUBSCRIPTION,
        "billing_info": {
            "cycle_executions": [
                {
                    "tenure_type": "TRIAL",
                    "sequence": 1,
                    "cycles_completed": 0,
                    "cycles_remaining": 1,
                }
            ]
        },
    }
    assert one("BILLING.SUBSCRIPTION.ACTIVATED", trial).status is SubjectStatus.TRIALING


def test_subscription_marker_is_its_latest_change() -> None:
    later = {**SUBSCRIPTION, "update_time": "2026-03-02T00:00:00Z"}
    event = one("BILLING.SUBSCRIPTION.UPDATED", later)
    assert event.provider_updated_at == datetime(2026, 3, 2, tzinfo=UTC)


def test_sale_completed_is_a_renewal_payment() -> None:
    event = one("PAYMENT.SALE.COMPLETED", SALE)
    assert event.kind is PaymentEventKind.PAYMENT_SUCCEEDED and event.status is SubjectStatus.PAID
    assert event.subject == Subject(SubjectKind.PAYMENT, "80021663DE681814L")
    assert event.subscription_id == "I-BW452GLLEP1G"
    # the sale echoes the subscription's custom_id, which names the checkout, not this sale
    assert event.reference is None and event.payload["resource"]["custom"] == "sbpay_40"
    assert (event.amount, event.currency, event.fee) == (Decimal("25.00"), "USD", Decimal("1.36"))


@pytest.mark.parametrize("event_type", ["PAYMENT.SALE.REFUNDED", "PAYMENT.SALE.REVERSED"])
def test_sale_refund_names_its_sale(event_type: str) -> None:
    refund = {
        "id": "4LD52446P6457491B",
        "state": "completed",
        "amount": {"total": "-25.00", "currency": "USD"},
        "sale_id": "80021663DE681814L",
        "billing_agreement_id": "I-BW452GLLEP1G",
        "custom": "sbpay_40",
        "create_time": T1,
        "update_time": T1,
    }
    event = one(event_type, refund)
    assert event.kind is PaymentEventKind.REFUNDED
    assert event.subject == Subject(SubjectKind.PAYMENT, "80021663DE681814L")
    assert event.amount == Decimal("25.00") and event.reference is None


@pytest.mark.parametrize(
    ("event_type", "outcome", "kind", "state"),
    [
        ("CUSTOMER.DISPUTE.CREATED", None, "disputed", "disputed"),
        ("CUSTOMER.DISPUTE.RESOLVED", "RESOLVED_BUYER_FAVOUR", "dispute_closed", "refunded"),
        ("CUSTOMER.DISPUTE.RESOLVED", "RESOLVED_SELLER_FAVOUR", "dispute_closed", "paid"),
    ],
)
def test_disputes(event_type: str, outcome: str | None, kind: str, state: str) -> None:
    dispute: dict[str, Any] = {
        "dispute_id": "PP-D-27803",
        "create_time": T0,
        "update_time": T1,
        "disputed_transactions": [
            {"seller_transaction_id": "2GG279541U471931P", "custom": "sbpay_12"}
        ],
        "reason": "MERCHANDISE_OR_SERVICE_NOT_RECEIVED",
        "status": "RESOLVED" if outcome else "OPEN",
        "dispute_amount": {"currency_code": "USD", "value": "10.00"},
    }
    if outcome:
        dispute["dispute_outcome"] = {"outcome_code": outcome}
    event = one(event_type, dispute)
    assert (event.kind.value, event.status.value) == (kind, state)
    assert event.subject == Subject(SubjectKind.PAYMENT, "2GG279541U471931P")
    assert event.reference is None  # a dispute may be about a sale: found by the payment id


def test_unhandled_types_give_nothing_but_the_envelope_must_be_whole() -> None:
    assert convert.events_from_webhook(env("CATALOG.PRODUCT.CREATED", {"id": "PROD-1"})) == []
    for broken in ({"event_type": "X"}, {**env("X", {}), "create_time": "yesterday"}):
        with pytest.raises(ValueError):
            convert.events_from_webhook(broken)


def test_reference_is_ours_only_behind_our_prefix() -> None:
    foreign = {**CAPTURE, "custom_id": "other-app-7", "invoice_id": "INV-7"}
    assert one("PAYMENT.CAPTURE.COMPLETED", foreign).reference is None
    by_invoice = {**CAPTURE, "custom_id": "other-app-7"}
    assert one("PAYMENT.CAPTURE.COMPLETED", by_invoice).reference == "sbpay_12"
    prefixed = {**CAPTURE, "custom_id": "eu1-sbpay_12", "invoice_id": "eu1-sbpay_12"}
    assert one("PAYMENT.CAPTURE.COMPLETED", prefixed, prefix="eu1-").reference == "sbpay_12"
    assert one("PAYMENT.CAPTURE.COMPLETED", prefixed, prefix="us2-").reference is None


@pytest.mark.parametrize(
    "value", ["1e3", "10.0.0", " 10.00", "NaN", "-", "1" * 40, "10.0000000000000000001"]
)
def test_amounts_must_be_plain_decimal_strings(value: str) -> None:
    resource = {**CAPTURE, "amount": {"currency_code": "USD", "value": value}}
    with pytest.raises(ValueError):
        convert.events_from_webhook(env("PAYMENT.CAPTURE.COMPLETED", resource))


def test_amount_as_json_number_is_refused() -> None:
    resource = {**CAPTURE, "amount": {"currency_code": "USD", "value": 10}}
    with pytest.raises(ValueError):
        convert.events_from_webhook(env("PAYMENT.CAPTURE.COMPLETED", resource))


# --- outbound ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [("10", "USD", "10.00"), ("10.5", "EUR", "10.50"), ("1500", "JPY", "1500"), ("7", "HUF", "7")],
)
def test_money_value_uses_the_currency_decimals(amount: str, currency: str, text: str) -> None:
    assert convert.money_value(Decimal(amount), currency) == text


@pytest.mark.parametrize(("amount", "currency"), [("10.005", "USD"), ("5.5", "JPY"), ("1", "XAU")])
def test_money_value_never_rounds(amount: str, currency: str) -> None:
    with pytest.raises(ValueError):
        convert.money_value(Decimal(amount), currency)


def _request(interval: BillingInterval) -> CheckoutRequest:
    return CheckoutRequest(
        plan=PlanTerms(plan_id=3, name="Gold", interval=interval, provider_price_id=None),
        price=Decimal("19.9"),
        currency="EUR",
        payment_id=55,
        user_id=2,
        success_url="https://s.example/ok",
        cancel_url="https://s.example/no",
        email="m@example.com",
    )


def test_order_body() -> None:
    body = convert.order_body(_request(BillingInterval.ONE_TIME), prefix="p-", brand_name="SB")
    unit = body["purchase_units"][0]
    assert body["intent"] == "CAPTURE"
    assert unit["custom_id"] == unit["invoice_id"] == "p-sbpay_55"
    assert unit["amount"] == {"currency_code": "EUR", "value": "19.90"}
    context = body["payment_source"]["paypal"]["experience_context"]
    assert context["return_url"] == "https://s.example/ok" and context["brand_name"] == "SB"


def test_subscription_body() -> None:
    body = convert.subscription_body(_request(BillingInterval.MONTH), "P-ABC")
    assert body["plan_id"] == "P-ABC" and body["custom_id"] == "sbpay_55"
    assert body["subscriber"] == {"email_address": "m@example.com"}
    assert body["application_context"]["cancel_url"] == "https://s.example/no"


def test_redirect_link_prefers_payer_action() -> None:
    links = [
        {"href": "https://x.example/approve", "rel": "approve"},
        {"href": "https://x.example/pay", "rel": "payer-action"},
    ]
    assert convert.redirect_link({"links": links}) == "https://x.example/pay"
    assert convert.redirect_link({"links": links[:1]}) == "https://x.example/approve"
    with pytest.raises(ValueError):
        convert.redirect_link({"links": [{"href": "https://x.example/self", "rel": "self"}]})


# --- fetched states -------------------------------------------------------------------------


def test_order_state_follows_its_capture() -> None:
    order = {
        "id": "5O190127TN364715T",
        "status": "COMPLETED",
        "purchase_units": [
            {
                "custom_id": "sbpay_12",
                "amount": {"currency_code": "USD", "value": "10.00"},
                "payments": {"captures": [{**CAPTURE, "status": "REFUNDED"}]},
            }
        ],
        "update_time": T1,
    }
    state = convert.order_state(order, NOW)
    assert state.status is SubjectStatus.REFUNDED and state.reference == "sbpay_12"
    assert state.fee == Decimal("0.84")
    assert state.as_of == datetime(2026, 3, 1, 12, 5, tzinfo=UTC)
    created = {"id": "X1", "status": "PAYER_ACTION_REQUIRED", "purchase_units": []}
    assert convert.order_state(created, NOW).status is SubjectStatus.PENDING
    assert convert.order_state(created, NOW).as_of == NOW


def test_subscription_sale_and_capture_states() -> None:
    sub = convert.subscription_state({**SUBSCRIPTION, "status": "SUSPENDED"}, NOW)
    assert sub.status is SubjectStatus.PAST_DUE and sub.reference == "sbpay_40"
    sale = convert.sale_state({**SALE, "state": "refunded"}, NOW)
    assert sale.status is SubjectStatus.REFUNDED and sale.subscription_id == "I-BW452GLLEP1G"
    capture = convert.capture_state({**CAPTURE, "status": "PARTIALLY_REFUNDED"}, NOW)
    assert capture.status is SubjectStatus.PAID and capture.reason == "partially refunded"
    with pytest.raises(ValueError):
        convert.subscription_state({**SUBSCRIPTION, "status": "WEIRD"}, NOW)
