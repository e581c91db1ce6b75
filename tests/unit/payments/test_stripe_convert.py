"""Stripe objects ↔ our types: every event type we act on, states, money, checkout
parameters, the configuration and the error translation. Objects come from the fake's
account (``tests.fakes.stripe_state``), driven in memory without a server."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import stripe
from tests.fakes.stripe_checkout import create_session
from tests.fakes.stripe_state import StripeAccount

from signalbridge.integrations.errors import (
    AuthenticationError,
    CallbackRejected,
    InvalidRequest,
    RateLimited,
    TransientError,
)
from signalbridge.integrations.registry import AdapterConfigError, AdapterRegistry
from signalbridge.payments import (
    BillingInterval,
    CheckoutRequest,
    PaymentEventKind,
    PlanTerms,
    Subject,
    SubjectKind,
    SubjectStatus,
)
from signalbridge.payments.stripe import StripeConfig, register
from signalbridge.payments.stripe.config import webhook_secrets
from signalbridge.payments.stripe.convert import (
    EVENT_TYPES,
    FeeRule,
    checkout_of,
    checkout_params,
    event_of,
    from_minor,
    state_of,
    to_minor,
)
from signalbridge.payments.stripe.errors import retry_after_seconds, translate
from signalbridge.payments.stripe.webhook import parse_event

FEES = FeeRule(Decimal("0.05"), Decimal("0.10"))
AS_OF = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def request(
    interval: BillingInterval = BillingInterval.MONTH,
    *,
    trial: int = 0,
    price: str = "19.99",
    currency: str = "USD",
    **extra: Any,
) -> CheckoutRequest:
    return CheckoutRequest(
        plan=PlanTerms(plan_id=3, name="Gold", interval=interval, trial_days=trial),
        price=Decimal(price),
        currency=currency,
        payment_id=42,
        user_id=7,
        success_url="https://app.example/paid",
        cancel_url="https://app.example/cancel",
        **extra,
    )


def stringify(value: Any) -> Any:
    """Parameters as the form encoding delivers them to Stripe (all text)."""
    if isinstance(value, dict):
        return {k: stringify(v) for k, v in value.items()}
    if isinstance(value, list):
        return [stringify(v) for v in value]
    return str(value).lower() if isinstance(value, bool) else str(value)


def paid_session(req: CheckoutRequest) -> tuple[StripeAccount, list[dict[str, Any]]]:
    account = StripeAccount(now=1_790_000_000)
    session = create_session(account, stringify(checkout_params(req)), "https://checkout.test")
    return account, account.complete_checkout(session["id"])


def of_type(events: list[dict[str, Any]], type_: str) -> dict[str, Any]:
    return next(e for e in events if e["type"] == type_)


# --- money ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("19.99", "USD", 1999), ("1000", "JPY", 1000), ("1.234", "KWD", 1234), ("0.5", "EUR", 50)],
)
def test_minor_units_both_ways(amount: str, currency: str, minor: int) -> None:
    assert to_minor(Decimal(amount), currency) == minor
    assert from_minor(minor, currency) == Decimal(amount)


@pytest.mark.parametrize(("amount", "currency"), [("19.999", "USD"), ("10.5", "JPY")])
def test_an_amount_finer_than_the_currency_is_refused(amount: str, currency: str) -> None:
    with pytest.raises(ValueError, match="smallest unit"):
        to_minor(Decimal(amount), currency)


def test_the_fee_prefers_stripes_balance_transaction_in_the_same_currency() -> None:
    assert FEES.fee(Decimal("10.00"), "USD") == Decimal("0.60")
    assert FEES.fee(Decimal("10.00"), "USD", {"fee": 59, "currency": "usd"}) == Decimal("0.59")
    assert FEES.fee(Decimal("10.00"), "USD", {"fee": 59, "currency": "eur"}) == Decimal("0.60")
    assert FEES.fee(Decimal("10.00"), "USD", "txn_unexpanded") == Decimal("0.60")
    assert FEES.fee(Decimal(0), "USD") == Decimal(0)


# --- checkout ---------------------------------------------------------------------------


def test_a_recurring_plan_is_a_subscription_session_with_an_inline_price() -> None:
    params = checkout_params(request(trial=7, email="m@example.com"))
    assert params["mode"] == "subscription"
    assert params["client_reference_id"] == "sbpay_42"
    assert params["metadata"]["payment_reference"] == "sbpay_42"
    assert params["subscription_data"]["metadata"]["payment_reference"] == "sbpay_42"
    assert params["subscription_data"]["trial_period_days"] == 7
    [item] = params["line_items"]
    assert item["price_data"] == {
        "currency": "usd",
        "unit_amount": 1999,
        "product_data": {"name": "Gold"},
        "recurring": {"interval": "month", "interval_count": 1},
    }
    assert params["customer_email"] == "m@example.com"
    assert "payment_intent_data" not in params


def test_a_one_time_plan_is_a_payment_session_with_the_reference_on_the_intent() -> None:
    params = checkout_params(request(BillingInterval.ONE_TIME, customer_id="cus_9"))
    assert params["mode"] == "payment"
    assert params["payment_intent_data"]["metadata"]["payment_reference"] == "sbpay_42"
    assert "recurring" not in params["line_items"][0]["price_data"]
    assert "subscription_data" not in params
    assert params["customer"] == "cus_9"
    assert "customer_creation" not in params  # only without a customer


def test_a_price_id_replaces_the_inline_price() -> None:
    params = checkout_params(request(), price_id="price_123")
    assert params["line_items"] == [{"quantity": 1, "price": "price_123"}]


def test_the_fake_accepts_our_parameters_in_both_modes() -> None:
    account = StripeAccount()
    for req in (request(trial=3), request(BillingInterval.ONE_TIME)):
        session = create_session(account, stringify(checkout_params(req)), "https://x.test")
        checkout = checkout_of(session)
        assert checkout.subject.kind is SubjectKind.CHECKOUT
        assert checkout.redirect_url.startswith("https://x.test/c/pay/cs_test_")
        assert checkout.expires_at is not None


def test_a_session_without_a_url_is_refused() -> None:
    with pytest.raises(ValueError, match="no url"):
        checkout_of({"id": "cs_1", "url": None})


# --- events -----------------------------------------------------------------------------


def test_subscription_checkout_events() -> None:
    account, events = paid_session(request())
    completed = event_of(of_type(events, "checkout.session.completed"), FEES)
    assert completed is not None
    assert completed.kind is PaymentEventKind.CHECKOUT_COMPLETED
    assert completed.status is SubjectStatus.PAID
    assert completed.reference == "sbpay_42"
    assert completed.subscription_id is not None and completed.subscription_id.startswith("sub_")
    assert completed.customer_id is not None and completed.customer_id.startswith("cus_")
    assert (completed.amount, completed.currency, completed.fee) == (
        Decimal("19.99"),
        "USD",
        Decimal("1.10"),
    )
    assert completed.provider_updated_at == datetime.fromtimestamp(account.now, UTC)
    created = event_of(of_type(events, "customer.subscription.created"), FEES)
    assert created is not None
    assert created.kind is PaymentEventKind.SUBSCRIPTION_UPDATED
    assert created.status is SubjectStatus.ACTIVE
    assert created.reference == "sbpay_42"  # from subscription_data[metadata]
    assert created.period_end == datetime.fromtimestamp(account.now + 30 * 86400, UTC)
    paid = event_of(of_type(events, "invoice.paid"), FEES)
    assert paid is not None
    assert paid.kind is PaymentEventKind.PAYMENT_SUCCEEDED
    assert paid.subject.kind is SubjectKind.PAYMENT and paid.subject.id.startswith("in_")
    assert paid.reference == "sbpay_42"  # through parent.subscription_details.metadata
    assert paid.subscription_id == created.subject.id
    assert paid.period_end == created.period_end
    assert paid.fee == Decimal("1.10")  # the configured fee: a webhook's invoice is not expanded


def test_a_trial_checkout_is_trialing_and_costs_nothing() -> None:
    _, events = paid_session(request(trial=14))
    completed = event_of(of_type(events, "checkout.session.completed"), FEES)
    assert completed is not None
    assert completed.status is SubjectStatus.TRIALING
    assert completed.provider_status == "complete/no_payment_required"
    assert completed.fee is None
    created = event_of(of_type(events, "customer.subscription.created"), FEES)
    assert created is not None and created.status is SubjectStatus.TRIALING
    paid = event_of(of_type(events, "invoice.paid"), FEES)
    assert paid is not None and paid.amount == Decimal(0) and paid.fee == Decimal(0)


def test_a_one_time_checkout_and_its_refund_and_dispute() -> None:
    account, events = paid_session(request(BillingInterval.ONE_TIME, price="50"))
    completed = event_of(of_type(events, "checkout.session.completed"), FEES)
    assert completed is not None
    assert completed.status is SubjectStatus.PAID and completed.subscription_id is None
    charge = of_type(events, "charge.succeeded")["data"]["object"]
    assert charge["metadata"]["payment_reference"] == "sbpay_42"
    account.refund(charge["id"], 1000)
    partial = event_of(account.events[-2].event, FEES)
    assert partial is not None
    assert partial.kind is PaymentEventKind.REFUNDED
    assert partial.status is SubjectStatus.PAID and partial.reason == "partially refunded"
    assert partial.amount == Decimal("10.00") and partial.reference == "sbpay_42"
    account.refund(charge["id"])
    full = event_of(account.events[-2].event, FEES)
    assert full is not None and full.status is SubjectStatus.REFUNDED
    assert full.amount == Decimal("50.00")
    assert full.subject == Subject(SubjectKind.PAYMENT, charge["id"])
    dispute = account.dispute(charge["id"])
    opened = event_of(account.events[-1].event, FEES)
    assert opened is not None and opened.kind is PaymentEventKind.DISPUTED
    assert opened.subject == Subject(SubjectKind.PAYMENT, charge["id"])
    assert opened.status is SubjectStatus.DISPUTED and opened.reason == "dispute: fraudulent"
    account.close_dispute(dispute["id"], "won")
    closed = event_of(account.events[-1].event, FEES)
    assert closed is not None and closed.kind is PaymentEventKind.DISPUTE_CLOSED
    assert closed.status is SubjectStatus.PAID and closed.provider_status == "won"


def test_renewals_cancellation_and_expiry() -> None:
    account, events = paid_session(request())
    sub_id = of_type(events, "customer.subscription.created")["data"]["object"]["id"]
    account.now += 30 * 86400
    renewed = account.renew(sub_id)
    paid = event_of(of_type(renewed, "invoice.paid"), FEES)
    assert paid is not None and paid.period_end == datetime.fromtimestamp(
        account.now + 30 * 86400, UTC
    )
    account.now += 30 * 86400
    failed_events = account.renew(sub_id, paid=False)
    failed = event_of(of_type(failed_events, "invoice.payment_failed"), FEES)
    assert failed is not None
    assert failed.kind is PaymentEventKind.PAYMENT_FAILED and failed.status is SubjectStatus.FAILED
    assert failed.fee is None and failed.reason is not None and "attempt 1" in failed.reason
    updated = event_of(of_type(failed_events, "customer.subscription.updated"), FEES)
    assert updated is not None and updated.status is SubjectStatus.PAST_DUE
    account.cancel(sub_id, at_period_end=True)
    pending_cancel = event_of(account.events[-1].event, FEES)
    assert (
        pending_cancel is not None and pending_cancel.reason == "cancels at the end of the period"
    )
    account.cancel(sub_id)
    deleted = event_of(account.events[-1].event, FEES)
    assert deleted is not None
    assert deleted.kind is PaymentEventKind.SUBSCRIPTION_CANCELED
    assert deleted.status is SubjectStatus.CANCELED and deleted.reference == "sbpay_42"


def test_an_expired_checkout() -> None:
    account = StripeAccount()
    session = create_session(account, stringify(checkout_params(request())), "https://x.test")
    expired = event_of(account.expire_checkout(session["id"]), FEES)
    assert expired is not None
    assert expired.kind is PaymentEventKind.CHECKOUT_EXPIRED
    assert expired.status is SubjectStatus.EXPIRED and expired.reference == "sbpay_42"


def test_every_event_type_we_list_is_one_we_read_and_fits_stripes_filter() -> None:
    assert len(EVENT_TYPES) <= 20
    assert {"checkout.session.completed", "invoice.paid", "charge.refunded"} <= set(EVENT_TYPES)


def test_a_subscription_of_the_old_api_shape_reads_its_period_on_the_subscription() -> None:
    event = {
        "id": "evt_old",
        "object": "event",
        "created": 1_790_000_000,
        "type": "customer.subscription.updated",
        "data": {
            "object": {
                "id": "sub_1",
                "object": "subscription",
                "status": "active",
                "current_period_end": 1_790_086_400,
            }
        },
    }
    parsed = event_of(event, FEES)
    assert parsed is not None and parsed.period_end == datetime.fromtimestamp(1_790_086_400, UTC)


def test_a_subscription_status_stripe_adds_later_grants_nothing() -> None:
    _, events = paid_session(request())
    event = copy.deepcopy(of_type(events, "customer.subscription.created"))
    event["data"]["object"]["status"] = "teleported"
    [parsed] = parse_event(stripe_json(event), FEES)
    assert parsed.status is SubjectStatus.PENDING and parsed.provider_status == "teleported"
    event["data"]["object"]["status"] = 7
    with pytest.raises(CallbackRejected):
        parse_event(stripe_json(event), FEES)


def stripe_json(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


# --- states -----------------------------------------------------------------------------


def test_states_of_each_object() -> None:
    account, events = paid_session(request(BillingInterval.ONE_TIME, price="50"))
    session_id = of_type(events, "checkout.session.completed")["data"]["object"]["id"]
    session = account.public(account.objects[session_id])
    state = state_of(Subject(SubjectKind.CHECKOUT, session_id), session, AS_OF, FEES)
    assert (state.status, state.reference, state.as_of) == (SubjectStatus.PAID, "sbpay_42", AS_OF)
    charge_id = of_type(events, "charge.succeeded")["data"]["object"]["id"]
    charge = account.public(account.objects[charge_id], ["balance_transaction"])
    state = state_of(Subject(SubjectKind.PAYMENT, charge_id), charge, AS_OF, FEES)
    assert state.status is SubjectStatus.PAID
    assert state.fee == Decimal("1.75")  # Stripe's: 2.9 % + 0.30 of 50.00, not ours (2.60)
    account.dispute(charge_id)
    charge = account.public(account.objects[charge_id])
    state = state_of(Subject(SubjectKind.PAYMENT, charge_id), charge, AS_OF, FEES)
    assert state.status is SubjectStatus.DISPUTED
    assert state.fee == Decimal("2.60")  # not expanded: the configured fee


def test_the_state_of_an_object_of_another_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="is not a"):
        state_of(
            Subject(SubjectKind.SUBSCRIPTION, "in_1"),
            {"object": "invoice", "id": "in_1"},
            AS_OF,
            FEES,
        )


# --- configuration ----------------------------------------------------------------------


def registry() -> AdapterRegistry:
    reg = AdapterRegistry()
    register(reg)
    return reg


def test_the_registry_seals_both_secrets_and_keeps_fees_public() -> None:
    public, secrets = registry().split_config(
        "payment",
        "stripe",
        {
            "api_key": "sk_test_abc12345678",
            "webhook_secret": ["whsec_new_0000000000", "whsec_old_0000000000"],
            "fee_rate": "0.029",
            "fixed_fee": "0.30",
        },
    )
    assert set(secrets) == {"api_key", "webhook_secret"}
    assert webhook_secrets(secrets["webhook_secret"]) == (
        "whsec_new_0000000000",
        "whsec_old_0000000000",
    )
    assert public["fee_rate"] == "0.029" and public["fixed_fee"] == "0.30"
    assert public["base_url"] == "https://api.stripe.com"
    assert public["webhook_tolerance_seconds"] == 300
    assert "sk_test" not in str(public) and "whsec" not in str(public)


@pytest.mark.parametrize(
    "change",
    [
        {"base_url": "ftp://api.stripe.com"},
        {"base_url": "http://user:pw@api.stripe.com"},
        {"fee_rate": "1.5"},
        {"fixed_fee": "-1"},
        {"webhook_secret": " , "},
        {"price_ids": {"gold": "price_1"}},
        {"price_ids": {"3": "prod_1"}},
        {"surprise": True},
    ],
)
def test_a_bad_configuration_is_refused_without_echoing_secrets(change: dict[str, Any]) -> None:
    config = {"api_key": "sk_test_abc12345678", "webhook_secret": "whsec_x_0000000000"} | change
    with pytest.raises(AdapterConfigError) as refused:
        registry().validate_config("payment", "stripe", config)
    assert "sk_test_abc12345678" not in str(refused.value)


def test_webhook_secrets_in_every_accepted_form() -> None:
    assert webhook_secrets("whsec_a") == ("whsec_a",)
    assert webhook_secrets("whsec_a\nwhsec_b ,whsec_a") == ("whsec_a", "whsec_b")
    assert webhook_secrets('["whsec_a", "whsec_b"]') == ("whsec_a", "whsec_b")
    assert webhook_secrets(["whsec_a", "whsec_b"]) == ("whsec_a", "whsec_b")
    assert (
        StripeConfig.model_validate(
            {"api_key": "sk_test_1", "webhook_secret": ["whsec_a", "whsec_b"]}
        ).webhook_secret.get_secret_value()
        == "whsec_a,whsec_b"
    )


# --- errors -----------------------------------------------------------------------------


def test_library_errors_become_ours() -> None:
    rate = stripe.RateLimitError("Too many requests", None, 429, None, {"Retry-After": "2"})
    limited = translate(rate, connection_id="c1")
    assert isinstance(limited, RateLimited) and limited.retry_after == 2.0
    assert limited.connection_id == "c1"
    auth = translate(
        stripe.AuthenticationError("Invalid API Key provided: sk_test_****abcd", None, 401)
    )
    assert isinstance(auth, AuthenticationError)
    assert isinstance(translate(stripe.PermissionError("no", None, 403)), AuthenticationError)
    idem = translate(stripe.IdempotencyError("Keys for idempotent requests …", None, 400))
    assert isinstance(idem, InvalidRequest) and "idempotency" in str(idem)
    invalid = translate(stripe.InvalidRequestError("No such price", "price", "resource_missing"))
    assert isinstance(invalid, InvalidRequest) and "resource_missing" in str(invalid)
    server = translate(stripe.APIError("boom", None, 500))
    assert isinstance(server, TransientError) and not isinstance(server, RateLimited)
    assert isinstance(translate(stripe.APIError("busy", None, 409)), TransientError)


def test_a_network_failure_is_transient_and_our_own_refusal_passes_through() -> None:
    try:
        try:
            raise httpx.ConnectError("refused")
        except httpx.ConnectError as cause:
            raise stripe.APIConnectionError("down") from cause
    except stripe.APIConnectionError as exc:
        assert type(translate(exc)) is TransientError
    ours = InvalidRequest("the address is not allowed")
    try:
        try:
            raise ours
        except InvalidRequest as cause:
            raise stripe.APIConnectionError("guarded") from cause
    except stripe.APIConnectionError as exc:
        assert translate(exc, connection_id="c2") is ours
    assert ours.connection_id == "c2"


def test_a_secret_in_a_stripe_message_is_scrubbed() -> None:
    exc = stripe.InvalidRequestError("bad key sk_test_abcdefghijklmnop here", None)
    assert "sk_test_abcdefghijklmnop" not in str(translate(exc))


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({}, None),
        ({"Retry-After": "x"}, None),
    ],
)
def test_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after_seconds(headers) == seconds


def test_an_invoice_finds_the_reference_on_its_subscription_line_when_parent_lacks_it() -> None:
    _, events = paid_session(request())
    event = copy.deepcopy(of_type(events, "invoice.paid"))
    event["data"]["object"]["parent"] = None
    parsed = event_of(event, FEES)
    assert parsed is not None and parsed.reference == "sbpay_42"
    assert parsed.subscription_id is None  # the link to the subscription went with parent


@pytest.mark.parametrize(
    ("type_", "kind", "status"),
    [
        (
            "checkout.session.async_payment_succeeded",
            PaymentEventKind.CHECKOUT_COMPLETED,
            SubjectStatus.PAID,
        ),
        ("checkout.session.async_payment_failed", PaymentEventKind.PAYMENT_FAILED, None),
    ],
)
def test_delayed_payment_methods_settle_a_checkout_later(
    type_: str, kind: PaymentEventKind, status: SubjectStatus | None
) -> None:
    _, events = paid_session(request(BillingInterval.ONE_TIME))
    event = copy.deepcopy(of_type(events, "checkout.session.completed")) | {"type": type_}
    if status is None:
        event["data"]["object"]["payment_status"] = "unpaid"
    parsed = event_of(event, FEES)
    assert parsed is not None and parsed.kind is kind
    assert parsed.status is (status or SubjectStatus.FAILED)
    if status is None:
        assert parsed.fee is None and parsed.reason == "the payment failed"
    else:
        assert parsed.fee == Decimal("1.10")  # 5 % of 19.99 + 0.10
