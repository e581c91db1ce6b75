"""The payment types refuse what the store cannot hold: naive times, unstorable money, bad ids.

Properties: any decimal given as an amount is either refused with a ``ValueError`` or kept
equal in value and storable exactly; every datetime kept is UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signalbridge.domain.bounds import NumberOutOfBounds, check_storable
from signalbridge.payments import (
    BillingInterval,
    Checkout,
    CheckoutRequest,
    GatewayCapabilities,
    PaymentEvent,
    PaymentEventKind,
    PlanTerms,
    Subject,
    SubjectKind,
    SubjectState,
    SubjectStatus,
    header,
    payment_id_from_reference,
    payment_reference,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MONTHLY = PlanTerms(plan_id=1, name="Gold", interval=BillingInterval.MONTH, trial_days=7)
ONCE = PlanTerms(plan_id=2, name="Lifetime", interval=BillingInterval.ONE_TIME)


def event(**overrides: Any) -> PaymentEvent:
    fields: dict[str, Any] = {
        "gateway": "stripe",
        "event_id": "evt_1",
        "kind": PaymentEventKind.PAYMENT_SUCCEEDED,
        "subject": Subject(SubjectKind.PAYMENT, "in_1"),
        "occurred_at": NOW,
        "provider_updated_at": NOW,
        "amount": Decimal("19.99"),
        "currency": "USD",
    }
    fields.update(overrides)
    return PaymentEvent(**fields)


def request(**overrides: Any) -> CheckoutRequest:
    fields: dict[str, Any] = {
        "plan": MONTHLY,
        "price": Decimal("19.99"),
        "currency": "USD",
        "payment_id": 42,
        "user_id": 7,
        "success_url": "https://hub.example/pay/ok",
        "cancel_url": "https://hub.example/pay/cancel",
        "email": "member@example.com",
    }
    fields.update(overrides)
    return CheckoutRequest(**fields)


@pytest.mark.parametrize("name", ["occurred_at", "provider_updated_at", "period_end"])
def test_an_event_refuses_naive_datetimes(name: str) -> None:
    with pytest.raises(ValueError, match=f"{name} must be timezone-aware"):
        event(**{name: datetime(2026, 3, 1, 12, 0)})


def test_naive_datetimes_are_refused_everywhere_else_too() -> None:
    naive = datetime(2026, 3, 1, 12, 0)
    with pytest.raises(ValueError, match="expires_at"):
        Checkout("cs_1", SubjectKind.CHECKOUT, "https://pay.example/cs_1", expires_at=naive)
    with pytest.raises(ValueError, match="as_of"):
        SubjectState(Subject(SubjectKind.SUBSCRIPTION, "sub_1"), SubjectStatus.ACTIVE, "x", naive)


def test_aware_datetimes_are_kept_as_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    got = event(occurred_at=datetime(2026, 3, 1, 14, 0, tzinfo=plus_two))
    assert got.occurred_at == NOW
    assert got.occurred_at.tzinfo is UTC


@pytest.mark.parametrize(
    "amount",
    [
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal("1" * 39),
        Decimal("1" * 21),
        Decimal("0." + "1" * 19),
    ],
)
def test_unstorable_amounts_are_refused(amount: Decimal) -> None:
    with pytest.raises(NumberOutOfBounds):
        event(amount=amount)
    with pytest.raises(NumberOutOfBounds):
        request(price=amount)


def test_negative_money_and_a_free_price_are_refused() -> None:
    with pytest.raises(ValueError, match="amount must be at least 0"):
        event(amount=Decimal("-1"))
    with pytest.raises(ValueError, match="fee must be at least 0"):
        event(fee=Decimal("-0.01"))
    with pytest.raises(ValueError, match="price must be greater than 0"):
        request(price=Decimal("0"))


def test_an_exponent_form_is_rewritten_to_a_plain_value() -> None:
    assert str(event(amount=Decimal("1E+2")).amount) == "100"


@given(st.decimals(allow_nan=True, allow_infinity=True))
def test_any_amount_is_refused_or_kept_storable(amount: Decimal) -> None:
    try:
        got = event(amount=amount)
    except ValueError:
        return
    assert got.amount == amount
    assert got.amount is not None and check_storable(got.amount) == got.amount


def test_amount_and_currency_come_together() -> None:
    with pytest.raises(ValueError, match="together"):
        event(currency=None)
    with pytest.raises(ValueError, match="together"):
        event(amount=None)
    with pytest.raises(ValueError, match="fee needs an amount"):
        event(amount=None, currency=None, fee=Decimal("1"))
    assert event(amount=None, currency=None).amount is None


@pytest.mark.parametrize("currency", ["usd", "US", "USDOLLARSXYZ", "U$D", ""])
def test_currencies_are_upper_case_codes(currency: str) -> None:
    with pytest.raises(ValueError, match="currency"):
        event(currency=currency)
    with pytest.raises(ValueError, match="currency"):
        request(currency=currency)


def test_crypto_codes_are_currencies() -> None:
    assert event(currency="USDT.TRC20").currency == "USDT.TRC20"
    assert request(pay_currency="LTCT").pay_currency == "LTCT"


@pytest.mark.parametrize("event_id", ["", "x" * 201, "evt\n1", "evt\x00"])
def test_ids_are_bounded_text(event_id: str) -> None:
    with pytest.raises(ValueError, match="event_id"):
        event(event_id=event_id)


def test_kinds_and_statuses_are_read_from_their_text() -> None:
    got = event(kind="refunded", status="refunded")
    assert got.kind is PaymentEventKind.REFUNDED
    assert got.status is SubjectStatus.REFUNDED
    with pytest.raises(ValueError):
        event(kind="teleported")


def test_the_raw_payload_is_kept_but_not_compared_or_shown() -> None:
    one = event(payload={"id": "evt_1", "card": "4242"})
    other = event(payload={})
    assert one == other
    assert one.payload["id"] == "evt_1"
    assert "4242" not in repr(one)
    assert one.key == ("stripe", "evt_1")


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "ftp://hub.example/x", "https://", "/relative", "h\nttp://x"]
)
def test_checkout_urls_are_http_with_a_host(url: str) -> None:
    with pytest.raises(ValueError, match="success_url"):
        request(success_url=url)
    with pytest.raises(ValueError, match="redirect_url"):
        Checkout("cs_1", SubjectKind.CHECKOUT, url)


def test_a_checkout_request_checks_the_member_and_the_plan() -> None:
    with pytest.raises(ValueError, match="email"):
        request(email="not an address")
    with pytest.raises(ValueError, match="user_id"):
        request(user_id=0)
    with pytest.raises(ValueError, match="one-time plan has no trial"):
        PlanTerms(plan_id=3, name="Once", interval=BillingInterval.ONE_TIME, trial_days=3)
    with pytest.raises(ValueError, match="interval_count"):
        PlanTerms(plan_id=3, name="Never", interval=BillingInterval.MONTH, interval_count=0)


def test_the_request_links_back_to_our_payment_row() -> None:
    req = request(payment_id=42)
    assert req.reference == "sbpay_42"
    assert payment_id_from_reference(req.reference) == 42
    assert req.idempotency_key.startswith(req.reference)
    assert request(payment_id=42).idempotency_key == req.idempotency_key
    assert request(payment_id=43).idempotency_key != req.idempotency_key


@given(st.integers(min_value=1, max_value=2**63 - 1))
def test_payment_references_round_trip(payment_id: int) -> None:
    assert payment_id_from_reference(payment_reference(payment_id)) == payment_id


@pytest.mark.parametrize(
    "reference", [None, "", "sbpay_", "sbpay_0", "sbpay_01", "sbpay_1x", "order-1", "sbpay_١"]
)
def test_foreign_references_are_not_ours(reference: str | None) -> None:
    assert payment_id_from_reference(reference) is None


def test_capabilities_say_why_a_plan_cannot_be_sold() -> None:
    recurring_only = GatewayCapabilities(subscriptions=True, trials=True)
    assert recurring_only.refusal(request()) is None
    assert recurring_only.refusal(request(plan=ONCE)) == "this gateway does not sell one-time plans"
    once_only = GatewayCapabilities(one_time=True, currencies=frozenset({"USD", "EUR"}))
    assert once_only.refusal(request()) == "this gateway does not sell recurring plans"
    assert once_only.refusal(request(plan=ONCE)) is None
    assert once_only.refusal(request(plan=ONCE, currency="GBP")) == "this gateway does not take GBP"
    no_trials = GatewayCapabilities(subscriptions=True)
    assert no_trials.refusal(request()) == "this gateway does not offer trials"


def test_headers_are_found_whatever_their_case() -> None:
    assert header({"stripe-signature": "t=1"}, "Stripe-Signature") == "t=1"
    assert header({"HMAC": "ab"}, "Hmac") == "ab"
    assert header({"Paypal-Transmission-Id": "x"}, "PAYPAL-TRANSMISSION-ID") == "x"
    assert header({}, "HMAC") is None
