"""The PayPal gateway against the loopback PayPal fake: checkout, capture, subscriptions,
tokens, webhook verification both ways, and PayPal's errors translated to our tree."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from tests.fakes.loopback import loopback_http_factory
from tests.fakes.paypal import CLIENT_ID, CLIENT_SECRET, WEBHOOK_ID, FakePayPal
from tests.fakes.paypal_wire import Delivery, error_body

from signalbridge.integrations.errors import (
    AuthenticationError,
    CallbackRejected,
    InvalidRequest,
    RateLimited,
    TransientError,
)
from signalbridge.integrations.registry import AdapterRegistry
from signalbridge.payments import (
    BillingInterval,
    CheckoutRequest,
    GatewayDeps,
    PaymentEventKind,
    PaymentGateway,
    PlanTerms,
    Subject,
    SubjectKind,
    SubjectStatus,
    build_gateway,
)
from signalbridge.payments.paypal import CompletesApproval, PayPalGateway, register

ONE_TIME = PlanTerms(plan_id=7, name="Gold signals, one month", interval=BillingInterval.ONE_TIME)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def fake() -> Iterator[FakePayPal]:
    with FakePayPal() as server:
        yield server


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_gateway(fake: FakePayPal, clock: Clock | None = None, **overrides: Any) -> PayPalGateway:
    config: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "webhook_id": WEBHOOK_ID,
        "base_url": fake.base_url,
        "cert_hosts": [f"127.0.0.1:{fake.port}"],
        "cert_https_only": False,
    }
    config.update(overrides)
    secrets = {"client_secret": overrides.pop("client_secret", CLIENT_SECRET)}
    config.pop("client_secret", None)
    deps = GatewayDeps(http_factory=loopback_http_factory(), clock=clock or Clock())
    return PayPalGateway.from_config("pp-test", config, secrets, deps=deps)


@pytest.fixture
async def gateway(fake: FakePayPal, clock: Clock) -> Any:
    """A gateway whose flow captures through ``complete_approval`` (the protocol's path)."""
    gw = make_gateway(fake, clock, capture_on_approval=False)
    yield gw
    await gw.close()


_next_payment = iter(range(1000, 10**6))


def request(
    plan: PlanTerms = ONE_TIME, price: str = "10.00", currency: str = "USD"
) -> CheckoutRequest:
    return CheckoutRequest(
        plan=plan,
        price=Decimal(price),
        currency=currency,
        payment_id=next(_next_payment),
        user_id=3,
        success_url="https://signals.example/paid",
        cancel_url="https://signals.example/cancelled",
        email="member@example.com",
    )


async def parse(gw: PayPalGateway, delivery: Delivery, now: datetime | None = None) -> list[Any]:
    return await gw.verify_and_parse(delivery.body, delivery.headers, now or datetime.now(UTC))


# --- registration ------------------------------------------------------------------------


async def test_registered_and_built_as_a_payment_gateway(fake: FakePayPal) -> None:
    registry = AdapterRegistry()
    register(registry)
    public, secrets = registry.split_config(
        "payment",
        "paypal",
        {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "webhook_id": WEBHOOK_ID},
    )
    assert secrets == {"client_secret": CLIENT_SECRET}
    assert CLIENT_SECRET not in str(public)
    assert public["fee_rate"] == "0" and public["fixed_fee"] == "0"
    assert public["base_url"] == "https://api-m.paypal.com"
    deps = GatewayDeps(http_factory=loopback_http_factory())
    gw = build_gateway(registry, "paypal", "pp-1", public, secrets, deps)
    assert isinstance(gw, PaymentGateway) and isinstance(gw, CompletesApproval)
    assert gw.capabilities.event_listing is False
    assert [e async for e in gw.list_events(datetime.now(UTC))] == []
    assert CLIENT_SECRET not in repr(gw)
    await gw.close()


# --- one-time: order → approve → capture --------------------------------------------------


async def test_order_checkout_approve_capture(fake: FakePayPal, gateway: PayPalGateway) -> None:
    req = request()
    checkout = await gateway.create_checkout(req)
    assert checkout.subject_kind is SubjectKind.CHECKOUT
    assert checkout.redirect_url.startswith("https://www.sandbox.paypal.com/checkoutnow?token=")
    order = fake.order(checkout.provider_id)
    unit = order["purchase_units"][0]
    assert unit["custom_id"] == req.reference and unit["invoice_id"] == req.reference
    assert unit["amount"] == {"currency_code": "USD", "value": "10.00"}
    assert order["status"] == "PAYER_ACTION_REQUIRED"

    state = await gateway.fetch_state(checkout.subject)
    assert state.status is SubjectStatus.PENDING and state.reference == req.reference

    [approved] = await parse(gateway, fake.approve(checkout.provider_id))
    assert approved.kind is PaymentEventKind.PAYMENT_PENDING
    assert approved.subject == checkout.subject and approved.provider_status == "APPROVED"
    assert approved.reference == req.reference and approved.amount == Decimal("10.00")

    [paid] = await gateway.complete_approval(approved)
    assert paid.kind is PaymentEventKind.PAYMENT_SUCCEEDED and paid.status is SubjectStatus.PAID
    assert paid.subject.kind is SubjectKind.PAYMENT
    assert paid.reference == req.reference
    assert (paid.amount, paid.currency, paid.fee) == (Decimal("10.00"), "USD", Decimal("0.84"))

    again = await gateway.complete_approval(approved)  # a redelivered approval
    assert [e.key for e in again] == [paid.key]
    assert fake.order(checkout.provider_id)["status"] == "COMPLETED"

    [webhook] = await parse(gateway, fake.capture_delivery(paid.subject.id))
    assert webhook.kind is PaymentEventKind.PAYMENT_SUCCEEDED
    assert (webhook.subject, webhook.reference) == (paid.subject, req.reference)
    assert webhook.provider_updated_at == paid.provider_updated_at

    assert (await gateway.fetch_state(checkout.subject)).status is SubjectStatus.PAID
    capture_state = await gateway.fetch_state(paid.subject)
    assert capture_state.status is SubjectStatus.PAID and capture_state.fee == Decimal("0.84")

    [refunded] = await parse(gateway, fake.refund(paid.subject.id))
    assert refunded.kind is PaymentEventKind.REFUNDED and refunded.subject == paid.subject
    assert refunded.reference == req.reference and refunded.amount == Decimal("10.00")
    assert (await gateway.fetch_state(paid.subject)).status is SubjectStatus.REFUNDED

    [disputed] = await parse(gateway, fake.dispute(paid.subject.id))
    assert disputed.kind is PaymentEventKind.DISPUTED and disputed.subject == paid.subject


async def test_by_default_an_approval_delivery_is_captured_while_verified(
    fake: FakePayPal,
) -> None:
    gw = make_gateway(fake)
    req = request()
    checkout = await gw.create_checkout(req)
    delivery = fake.approve(checkout.provider_id)
    approved, paid = await parse(gw, delivery)
    assert approved.kind is PaymentEventKind.PAYMENT_PENDING
    assert paid.kind is PaymentEventKind.PAYMENT_SUCCEEDED and paid.reference == req.reference
    assert fake.order(checkout.provider_id)["status"] == "COMPLETED"
    again = await parse(gw, delivery)  # PayPal redelivers: the same events, no second capture
    assert [e.key for e in again] == [approved.key, paid.key]
    captures = [p for p in fake.posts() if p.path.endswith(f"{checkout.provider_id}/capture")]
    assert len({p.headers["PayPal-Request-Id"] for p in captures}) == 1

    fake.fail_next("POST", "/v2/checkout/orders/", 503, error_body(503, "INTERNAL", "Down"))
    other = await gw.create_checkout(request())
    with pytest.raises(TransientError):  # the flow answers 503: PayPal delivers again
        await parse(gw, fake.approve(other.provider_id))

    foreign = await gw.create_checkout(request())
    order = fake.order(foreign.provider_id)
    order["status"] = "APPROVED"
    order["purchase_units"][0]["custom_id"] = order["purchase_units"][0]["invoice_id"] = "x-1"
    [not_ours] = await parse(gw, fake.deliver("CHECKOUT.ORDER.APPROVED", order))
    assert not_ours.reference is None  # another app's order: never captured
    assert fake.order(foreign.provider_id)["status"] == "PAYER_ACTION_REQUIRED"
    await gw.close()


async def test_a_capture_paypal_refuses_is_a_failed_payment_not_a_failed_delivery(
    fake: FakePayPal,
) -> None:
    gw = make_gateway(fake)
    checkout = await gw.create_checkout(request())
    refusal = error_body(
        422, "UNPROCESSABLE_ENTITY", "Cannot capture.", "PAYEE_BLOCKED_TRANSACTION"
    )
    fake.fail_next("POST", f"/v2/checkout/orders/{checkout.provider_id}/capture", 422, refusal)
    approved, failed = await parse(gw, fake.approve(checkout.provider_id))
    assert approved.kind is PaymentEventKind.PAYMENT_PENDING
    assert failed.kind is PaymentEventKind.PAYMENT_FAILED and failed.status is SubjectStatus.FAILED
    assert failed.provider_status == "PAYEE_BLOCKED_TRANSACTION"
    assert failed.reference == approved.reference and "debug_id" in (failed.reason or "")
    await gw.close()


async def test_capture_before_approval_is_refused_and_completion_waits(
    fake: FakePayPal, gateway: PayPalGateway
) -> None:
    checkout = await gateway.create_checkout(request())
    with pytest.raises(InvalidRequest, match="ORDER_NOT_APPROVED"):
        await gateway.capture(checkout.provider_id)
    [approved] = await parse(gateway, fake.approve(checkout.provider_id))
    fake.revoke_tokens()  # a token revoked meanwhile is renewed on the way
    [paid] = await gateway.complete_approval(approved)
    assert paid.kind is PaymentEventKind.PAYMENT_SUCCEEDED


async def test_declined_instrument_is_a_failed_payment_event(
    fake: FakePayPal, gateway: PayPalGateway
) -> None:
    checkout = await gateway.create_checkout(request())
    [approved] = await parse(gateway, fake.approve(checkout.provider_id))
    fake.state.decline_next_capture = True
    [failed] = await gateway.complete_approval(approved)
    assert failed.kind is PaymentEventKind.PAYMENT_FAILED
    assert "INSTRUMENT_DECLINED" in (failed.reason or "")
    assert fake.order(checkout.provider_id)["status"] == "APPROVED"


async def test_checkout_is_idempotent_and_every_post_has_a_request_id(
    fake: FakePayPal, gateway: PayPalGateway
) -> None:
    req = request()
    first = await gateway.create_checkout(req)
    second = await gateway.create_checkout(req)
    assert first == second
    posts = fake.posts()
    assert posts and all(p.headers.get("PayPal-Request-Id") for p in posts)
    creates = [p for p in posts if p.path == "/v2/checkout/orders"]
    assert creates[-1].headers["PayPal-Request-Id"] == req.idempotency_key


async def test_amounts_keep_the_currency_decimals(fake: FakePayPal, gateway: PayPalGateway) -> None:
    checkout = await gateway.create_checkout(request(price="1500", currency="JPY"))
    assert fake.order(checkout.provider_id)["purchase_units"][0]["amount"]["value"] == "1500"
    with pytest.raises(InvalidRequest, match="decimals"):
        await gateway.create_checkout(request(price="10.005"))
    with pytest.raises(InvalidRequest, match="does not take"):
        await gateway.create_checkout(request(currency="XAU"))


# --- recurring: subscriptions -------------------------------------------------------------


async def test_subscription_create_activate_renew_cancel(
    fake: FakePayPal, gateway: PayPalGateway
) -> None:
    plan = fake.add_plan("25.00")
    terms = PlanTerms(
        plan_id=9, name="Pro", interval=BillingInterval.MONTH, provider_price_id=plan.id
    )
    req = request(terms, price="25.00")
    checkout = await gateway.create_checkout(req)
    assert checkout.subject_kind is SubjectKind.SUBSCRIPTION
    assert checkout.provider_id.startswith("I-")
    assert "ba_token=" in checkout.redirect_url
    assert fake.subscription(checkout.provider_id)["custom_id"] == req.reference
    assert (await gateway.fetch_state(checkout.subject)).status is SubjectStatus.PENDING

    activated, sale = [(await parse(gateway, d))[0] for d in fake.activate(checkout.provider_id)]
    assert activated.kind is PaymentEventKind.SUBSCRIPTION_UPDATED
    assert activated.status is SubjectStatus.ACTIVE and activated.subject == checkout.subject
    assert activated.reference == req.reference and activated.period_end is not None
    assert sale.kind is PaymentEventKind.PAYMENT_SUCCEEDED and sale.status is SubjectStatus.PAID
    assert sale.subscription_id == checkout.provider_id and sale.reference is None
    assert (sale.amount, sale.fee) == (Decimal("25.00"), Decimal("1.36"))
    assert (await gateway.fetch_state(sale.subject)).status is SubjectStatus.PAID

    [renewal] = await parse(gateway, fake.renew(checkout.provider_id))
    assert renewal.subject != sale.subject and renewal.subscription_id == checkout.provider_id

    [failed] = await parse(
        gateway,
        fake.set_subscription_status(
            checkout.provider_id, "ACTIVE", "BILLING.SUBSCRIPTION.PAYMENT.FAILED"
        ),
    )
    assert failed.kind is PaymentEventKind.PAYMENT_FAILED and failed.subject == checkout.subject

    await gateway.cancel_subscription(checkout.provider_id, "member asked")
    state = await gateway.fetch_state(checkout.subject)
    assert state.status is SubjectStatus.CANCELED and state.period_end is None
    with pytest.raises(InvalidRequest, match="SUBSCRIPTION_STATUS_INVALID"):
        await gateway.client.post(
            f"/v1/billing/subscriptions/{checkout.provider_id}/cancel",
            {"reason": "again"},
            request_id="another-id",
            what="cancelling",
        )
    [cancelled] = await parse(
        gateway,
        fake.set_subscription_status(
            checkout.provider_id, "CANCELLED", "BILLING.SUBSCRIPTION.CANCELLED"
        ),
    )
    assert cancelled.kind is PaymentEventKind.SUBSCRIPTION_CANCELED
    assert cancelled.status is SubjectStatus.CANCELED


async def test_subscription_needs_a_paypal_plan(fake: FakePayPal, gateway: PayPalGateway) -> None:
    terms = PlanTerms(plan_id=11, name="No plan", interval=BillingInterval.MONTH)
    with pytest.raises(InvalidRequest, match="no PayPal billing plan"):
        await gateway.create_checkout(request(terms))
    plan = fake.add_plan("5.00")
    mapped = make_gateway(fake, plan_ids={"11": plan.id})
    checkout = await mapped.create_checkout(request(terms, price="5.00"))
    assert fake.subscription(checkout.provider_id)["plan_id"] == plan.id
    await mapped.close()


# --- tokens ----------------------------------------------------------------------------------


async def test_token_is_cached_renewed_before_expiry_and_after_a_401(fake: FakePayPal) -> None:
    clock = Clock()
    gw = make_gateway(fake, clock)
    before = fake.state.token_requests
    checkout = await gw.create_checkout(request())
    for _ in range(5):
        await gw.fetch_state(checkout.subject)
    assert fake.state.token_requests - before == 1

    clock.now += timedelta(seconds=fake.token_lifetime - 301)  # inside the 300 s margin? no
    await gw.fetch_state(checkout.subject)
    assert fake.state.token_requests - before == 1
    clock.now += timedelta(seconds=2)  # now within the margin: renewed first
    await gw.fetch_state(checkout.subject)
    assert fake.state.token_requests - before == 2

    fake.revoke_tokens()
    state = await gw.fetch_state(checkout.subject)  # 401 invalid_token, renewed once, answered
    assert state.subject == checkout.subject
    assert fake.state.token_requests - before == 3
    await gw.close()


def mangled(value: str) -> str:
    """``value`` with its middle character replaced."""
    i = len(value) // 2
    return value[:i] + ("x" if value[i] != "x" else "y") + value[i + 1 :]


@pytest.mark.parametrize("field", ["client_id", "client_secret"])
async def test_a_credential_changed_by_one_character_is_refused(
    fake: FakePayPal, field: str
) -> None:
    value = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}[field]
    changed: dict[str, Any] = {field: mangled(value)}
    gw = make_gateway(fake, None, **changed)
    with pytest.raises(AuthenticationError):
        await gw.fetch_state(Subject(SubjectKind.CHECKOUT, "5O190127TN364715T"))
    await gw.close()


async def test_wrong_client_secret_is_an_authentication_error(fake: FakePayPal) -> None:
    wrong = "EWrongSecret_not_the_right_one_123456"
    gw = make_gateway(fake, client_secret=wrong)
    with pytest.raises(AuthenticationError, match="invalid_client") as caught:
        await gw.fetch_state(Subject(SubjectKind.CHECKOUT, "5O190127TN364715T"))
    assert wrong not in str(caught.value) and CLIENT_SECRET not in str(caught.value)
    await gw.close()


# --- errors ------------------------------------------------------------------------------------


async def test_paypal_errors_become_our_error_classes(
    fake: FakePayPal, gateway: PayPalGateway
) -> None:
    with pytest.raises(InvalidRequest, match="RESOURCE_NOT_FOUND") as missing:
        await gateway.fetch_state(Subject(SubjectKind.CHECKOUT, "NOSUCHORDER000001"))
    assert "debug_id" in str(missing.value)
    with pytest.raises(InvalidRequest, match="INVALID_RESOURCE_ID"):
        await gateway.fetch_state(Subject(SubjectKind.PAYMENT, "NOSUCHCAPTURE0001"))
    fake.fail_next(
        "GET", "/v2/checkout/orders/", 429, error_body(429, "RATE_LIMIT_REACHED", "Too many")
    )
    with pytest.raises(RateLimited):
        await gateway.fetch_state(Subject(SubjectKind.CHECKOUT, "ANYORDER000000001"))
    fake.fail_next(
        "POST", "/v2/checkout/orders", 503, error_body(503, "SERVICE_UNAVAILABLE", "Down")
    )
    with pytest.raises(TransientError, match="503"):
        await gateway.create_checkout(request())
    fake.fail_next("GET", "/v1/billing/subscriptions/", 200, {"status": "NOT_A_STATUS"})
    with pytest.raises(TransientError, match="cannot be read"):
        await gateway.fetch_state(Subject(SubjectKind.SUBSCRIPTION, "I-AAAAAAAAAAAA"))


async def test_loopback_base_url_needs_the_operators_allow_list(fake: FakePayPal) -> None:
    from prometheus_client import CollectorRegistry

    from signalbridge.integrations.http import HttpClientFactory

    deps = GatewayDeps(http_factory=HttpClientFactory(registry=CollectorRegistry()))
    gw = PayPalGateway.from_config(
        "pp-ssrf",
        {"client_id": CLIENT_ID, "webhook_id": WEBHOOK_ID, "base_url": fake.base_url},
        {"client_secret": CLIENT_SECRET},
        deps=deps,
    )
    before = fake.state.token_requests
    with pytest.raises(InvalidRequest):
        await gw.fetch_state(Subject(SubjectKind.CHECKOUT, "5O190127TN364715T"))
    assert fake.state.token_requests == before
    await gw.close()


# --- webhook verification -----------------------------------------------------------------------


async def test_offline_verification_fetches_the_certificate_once(fake: FakePayPal) -> None:
    gw = make_gateway(fake)
    checkout = await gw.create_checkout(request())
    before = fake.state.cert_fetches
    first = await parse(gw, fake.approve(checkout.provider_id))
    second = await parse(
        gw, fake.deliver("CHECKOUT.ORDER.APPROVED", fake.order(checkout.provider_id))
    )
    assert first and second and first[0].event_id != second[0].event_id
    assert fake.state.cert_fetches - before == 1
    await gw.close()


async def test_online_verification_posts_the_event_back(fake: FakePayPal) -> None:
    gw = make_gateway(fake, verification="online")
    checkout = await gw.create_checkout(request())
    delivery = fake.approve(checkout.provider_id)
    before = fake.state.cert_fetches
    event, captured = await parse(gw, delivery)
    assert event.kind is PaymentEventKind.PAYMENT_PENDING
    assert captured.kind is PaymentEventKind.PAYMENT_SUCCEEDED
    assert fake.state.cert_fetches == before  # online: PayPal checks, we fetch nothing
    verify = [p for p in fake.posts() if p.path.endswith("verify-webhook-signature")][-1]
    assert delivery.body in verify.body  # the event spliced in as the bytes received
    tampered = delivery.with_body(delivery.body.replace(b'"APPROVED"', b'"COMPLETED"', 1))
    with pytest.raises(CallbackRejected) as caught:
        await parse(gw, tampered)
    assert caught.value.reason == "signature"
    await gw.close()


@pytest.mark.parametrize("mode", ["offline", "online"])
async def test_bad_stale_and_replayed_transmissions(fake: FakePayPal, mode: str) -> None:
    gw = make_gateway(fake, verification=mode)
    checkout = await gw.create_checkout(request())
    good = fake.approve(checkout.provider_id)
    now = datetime.now(UTC)

    one_byte = bytearray(good.body)
    one_byte[len(one_byte) // 2] ^= 0x01
    bad = [
        (good.with_body(bytes(one_byte)), ("signature", "malformed")),
        (good.with_headers(PAYPAL_TRANSMISSION_ID="0000-other-id"), ("signature",)),
        (good.with_headers(PAYPAL_TRANSMISSION_TIME="2020-01-01T00:00:00Z"), ("stale",)),
        (good.with_headers(PAYPAL_AUTH_ALGO="SHA1withRSA"), ("signature",)),
        (good.with_headers(PAYPAL_TRANSMISSION_SIG="A" * 344), ("signature",)),
        (Delivery(good.body, {}, good.event), ("signature",)),
    ]
    for delivery, reasons in bad:
        with pytest.raises(CallbackRejected) as caught:
            await parse(gw, delivery, now)
        assert caught.value.reason in reasons, (delivery.headers, caught.value)

    first = await parse(gw, good, now)
    replayed = await parse(gw, good, now)  # within the window: the same event, stored once
    assert [e.key for e in replayed] == [e.key for e in first]
    with pytest.raises(CallbackRejected) as late:
        await parse(gw, good, now + timedelta(seconds=301))
    assert late.value.reason == "stale"
    with pytest.raises(CallbackRejected) as early:
        await parse(gw, good, now - timedelta(seconds=301))
    assert early.value.reason == "stale"

    other_listener = make_gateway(fake, verification=mode, webhook_id="OTHERWEBHOOKID0000000")
    with pytest.raises(CallbackRejected):
        await parse(other_listener, good, now)
    await other_listener.close()
    await gw.close()


async def test_default_cert_hosts_refuse_the_fake_and_fetch_nothing(fake: FakePayPal) -> None:
    gw = make_gateway(fake, cert_hosts=["api.paypal.com", "api-m.paypal.com"], cert_https_only=True)
    checkout = await gw.create_checkout(request())
    delivery = fake.approve(checkout.provider_id)
    before = len(fake.state.requests)
    for url in (
        delivery.headers["PAYPAL-CERT-URL"],
        "https://127.0.0.1/v1/notifications/certs/CERT-1",
        "https://169.254.169.254/v1/notifications/certs/CERT-1",
        "https://api.paypal.com.evil.example/v1/notifications/certs/CERT-1",
        "https://api.paypal.com@127.0.0.1/v1/notifications/certs/CERT-1",
    ):
        with pytest.raises(CallbackRejected, match="cert URL") as caught:
            await parse(gw, delivery.with_headers(PAYPAL_CERT_URL=url))
        assert caught.value.reason == "signature"
    assert len(fake.state.requests) == before  # nothing was fetched, not even a token
    await gw.close()


async def test_a_burst_asks_for_one_token(fake: FakePayPal) -> None:
    gw = make_gateway(fake)
    checkout = await gw.create_checkout(request())
    fresh = make_gateway(fake)
    before = fake.state.token_requests
    states = await asyncio.gather(*(fresh.fetch_state(checkout.subject) for _ in range(20)))
    assert {s.subject for s in states} == {checkout.subject}
    assert fake.state.token_requests - before == 1
    await gw.close()
    await fresh.close()


async def test_no_secret_or_token_reaches_a_log_or_an_error(
    fake: FakePayPal, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    gw = make_gateway(fake)
    texts: list[str] = [repr(gw), repr(gw.client), repr(gw.client.tokens), repr(gw.config)]
    checkout = await gw.create_checkout(request())
    await parse(gw, fake.approve(checkout.provider_id))
    fake.revoke_tokens()
    for subject in (checkout.subject, Subject(SubjectKind.CHECKOUT, "NOSUCHORDER000002")):
        try:
            await gw.fetch_state(subject)
        except InvalidRequest as exc:
            texts.append(str(exc))
    wrong = make_gateway(fake, client_secret="EWrongSecret_canary_55555")
    with pytest.raises(AuthenticationError) as refused:
        await wrong.fetch_state(checkout.subject)
    texts.append(str(refused.value))
    tokens = [
        r.headers["Authorization"][7:]
        for r in fake.state.requests
        if "Bearer" in r.headers.get("Authorization", "")
    ]
    assert tokens
    seen = "\n".join([caplog.text, *texts])
    for secret in (CLIENT_SECRET, "EWrongSecret_canary_55555", *tokens):
        assert secret not in seen
    await gw.close()
    await wrong.close()
