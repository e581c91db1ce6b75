"""The Stripe gateway against the loopback fake, through the real ``stripe`` library on the
kernel's httpx: checkouts in both modes replayed under their idempotency key, states,
the events list paged, the billing portal, error translation, and the member's whole
lifecycle as signed deliveries."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import stripe
from tests.fakes.loopback import loopback_http_factory
from tests.fakes.stripe import FakeStripe, WebhookEndpoint

from signalbridge.integrations.errors import (
    AuthenticationError,
    CallbackRejected,
    InvalidRequest,
    RateLimited,
    TransientError,
)
from signalbridge.integrations.http import HttpClientFactory
from signalbridge.integrations.registry import AdapterRegistry
from signalbridge.payments import (
    BillingInterval,
    CheckoutRequest,
    CustomerPortal,
    GatewayDeps,
    PaymentEventKind,
    PaymentGateway,
    PlanTerms,
    Subject,
    SubjectKind,
    SubjectStatus,
    build_gateway,
    resolve,
)
from signalbridge.payments.stripe import client as stripe_client
from signalbridge.payments.stripe import register
from signalbridge.payments.stripe.gateway import StripeGateway

ANSWERED_AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        server.add_endpoint()
        yield server


def build(
    fake: FakeStripe,
    *,
    api_key: str | None = None,
    factory: HttpClientFactory | None = None,
    **config: Any,
) -> StripeGateway:
    registry = AdapterRegistry()
    register(registry)
    public, secrets = registry.split_config(
        "payment",
        "stripe",
        {
            "api_key": api_key or fake.api_key,
            "webhook_secret": ",".join(fake.endpoints[0].secrets),
            "base_url": fake.base_url,
            "fee_rate": "0.05",
            "fixed_fee": "0.10",
        }
        | config,
    )
    deps = GatewayDeps(http_factory=factory or loopback_http_factory(), clock=lambda: ANSWERED_AT)
    gateway = build_gateway(registry, "stripe", "conn-7", public, secrets, deps)
    assert isinstance(gateway, StripeGateway)
    return gateway


@pytest.fixture
async def gateway(fake: FakeStripe) -> AsyncIterator[StripeGateway]:
    built = build(fake)
    yield built
    await built.close()


def request(
    interval: BillingInterval = BillingInterval.MONTH,
    *,
    payment_id: int = 42,
    price: str = "19.99",
    trial: int = 0,
    plan_id: int = 3,
    **extra: Any,
) -> CheckoutRequest:
    return CheckoutRequest(
        plan=PlanTerms(plan_id=plan_id, name="Gold", interval=interval, trial_days=trial),
        price=Decimal(price),
        currency="USD",
        payment_id=payment_id,
        user_id=7,
        success_url="https://app.example/paid?session={CHECKOUT_SESSION_ID}",
        cancel_url="https://app.example/cancel",
        **extra,
    )


def posts(fake: FakeStripe, path: str) -> list[Any]:
    return [r for r in fake.requests if r.method == "POST" and r.path == path]


def at(fake: FakeStripe) -> datetime:
    return datetime.fromtimestamp(fake.now, UTC)


def test_the_gateway_is_both_protocols(gateway: StripeGateway) -> None:
    assert isinstance(gateway, PaymentGateway) and isinstance(gateway, CustomerPortal)
    assert gateway.capabilities.event_listing and gateway.capabilities.customer_portal
    assert "sk_test" not in repr(gateway)


async def test_a_subscription_checkout_is_replayed_under_its_idempotency_key(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    first = await gateway.create_checkout(request(trial=7, email="m@example.com"))
    again = await gateway.create_checkout(request(trial=7, email="m@example.com"))
    assert again == first
    assert first.redirect_url == f"{fake.base_url}/c/pay/{first.provider_id}"
    sent = posts(fake, "/v1/checkout/sessions")
    assert [r.header("Idempotency-Key") for r in sent] == ["sbpay_42_checkout"] * 2
    sessions = [o for o in fake.account.objects.values() if o["object"] == "checkout.session"]
    assert len(sessions) == 1  # the second answer was the first one replayed
    # what the real library put on the wire, as the fake read it
    wire = sent[0]
    assert wire.header("Authorization") == f"Bearer {fake.api_key}"
    assert wire.header("Content-Type") == "application/x-www-form-urlencoded"
    assert wire.header("Stripe-Version") == stripe.api_version
    assert "line_items[0][price_data][recurring][interval]=month" in wire.raw_body
    assert "subscription_data[metadata][payment_reference]=sbpay_42" in wire.raw_body
    assert wire.params["mode"] == "subscription"
    assert wire.params["client_reference_id"] == "sbpay_42"
    assert wire.params["subscription_data"]["trial_period_days"] == "7"
    assert wire.params["customer_email"] == "m@example.com"


async def test_a_one_time_checkout_is_a_payment_session(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    checkout = await gateway.create_checkout(request(BillingInterval.ONE_TIME, payment_id=8))
    assert await gateway.create_checkout(request(BillingInterval.ONE_TIME, payment_id=8)) == (
        checkout
    )
    session = fake.object(checkout.provider_id)
    assert session["mode"] == "payment" and session["amount_total"] == 1999
    wire, replayed = posts(fake, "/v1/checkout/sessions")
    assert (
        wire.header("Idempotency-Key") == replayed.header("Idempotency-Key") == "sbpay_8_checkout"
    )
    assert sum(o["object"] == "checkout.session" for o in fake.account.objects.values()) == 1
    assert wire.params["payment_intent_data"]["metadata"]["payment_reference"] == "sbpay_8"
    assert wire.params["customer_creation"] == "always"


async def test_the_same_key_with_other_parameters_is_refused(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    await gateway.create_checkout(request())
    with pytest.raises(InvalidRequest, match="idempotency"):
        await gateway.create_checkout(request(price="29.99"))


async def test_a_configured_price_id_is_used(fake: FakeStripe) -> None:
    price = fake.add_price(990, interval="month")
    gateway = build(fake, price_ids={"3": price})
    try:
        checkout = await gateway.create_checkout(request())
    finally:
        await gateway.close()
    assert fake.object(checkout.provider_id)["amount_total"] == 990
    [wire] = posts(fake, "/v1/checkout/sessions")
    assert wire.params["line_items"] == [{"price": price, "quantity": "1"}]


async def test_a_price_stripe_refuses_is_an_invalid_request(fake: FakeStripe) -> None:
    one_time = fake.add_price(990)
    gateway = build(fake, price_ids={"3": one_time})
    try:
        with pytest.raises(InvalidRequest, match="recurring price"):
            await gateway.create_checkout(request())
    finally:
        await gateway.close()


async def test_fetch_state_of_every_subject_kind(fake: FakeStripe, gateway: StripeGateway) -> None:
    checkout = await gateway.create_checkout(request())
    events = fake.complete_checkout(checkout.provider_id)
    by_type = {e["type"]: e["data"]["object"] for e in events}
    session = await gateway.fetch_state(checkout.subject)
    assert (session.status, session.reference, session.as_of) == (
        SubjectStatus.PAID,
        "sbpay_42",
        ANSWERED_AT,
    )
    sub = await gateway.fetch_state(
        Subject(SubjectKind.SUBSCRIPTION, by_type["customer.subscription.created"]["id"])
    )
    assert sub.status is SubjectStatus.ACTIVE and sub.reference == "sbpay_42"
    assert sub.period_end == at(fake) + timedelta(days=30)
    invoice = await gateway.fetch_state(Subject(SubjectKind.PAYMENT, by_type["invoice.paid"]["id"]))
    assert invoice.status is SubjectStatus.PAID
    assert invoice.fee == Decimal("0.88")  # Stripe's balance transaction, not ours (1.10)
    charge_id = by_type["charge.succeeded"]["id"]
    fake.refund(charge_id)
    charge = await gateway.fetch_state(Subject(SubjectKind.PAYMENT, charge_id))
    assert charge.status is SubjectStatus.REFUNDED and charge.fee == Decimal("0.88")
    seen = [r for r in fake.requests if r.method == "GET"]
    assert any(r.params.get("expand") == ["payments"] for r in seen)
    assert any(r.params.get("expand") == ["latest_charge.balance_transaction"] for r in seen)
    assert any(r.params.get("expand") == ["balance_transaction"] for r in seen)


async def test_fetch_state_of_a_missing_or_foreign_subject(gateway: StripeGateway) -> None:
    with pytest.raises(InvalidRequest, match="resource_missing"):
        await gateway.fetch_state(Subject(SubjectKind.SUBSCRIPTION, "sub_nothere"))
    with pytest.raises(InvalidRequest, match="invoice"):
        await gateway.fetch_state(Subject(SubjectKind.PAYMENT, "pi_123"))


async def test_list_events_pages_oldest_first(
    fake: FakeStripe, gateway: StripeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stripe_client, "EVENT_PAGE_SIZE", 3)
    since = at(fake)
    checkout = await gateway.create_checkout(request())
    fake.complete_checkout(checkout.provider_id)
    sub_id = fake.events("customer.subscription.created")[0]["data"]["object"]["id"]
    for paid in (True, False, True):
        fake.advance(30 * 86400)
        fake.renew(sub_id, paid=paid)
    fake.advance(1)  # in the same second as the renewal, the order would be undecided
    fake.cancel(sub_id)
    listed = [e async for e in gateway.list_events(since)]
    ours = [
        e
        for e in fake.events()
        if e["type"]
        in {
            "checkout.session.completed",
            "invoice.paid",
            "invoice.payment_failed",
            "customer.subscription.created",
            "customer.subscription.updated",
            "customer.subscription.deleted",
        }
    ]
    assert [e.event_id for e in listed] == [e["id"] for e in ours]
    assert [e.occurred_at for e in listed] == sorted(e.occurred_at for e in listed)
    pages = [r for r in fake.requests if r.path == "/v1/events"]
    assert len(pages) == -(-len(ours) // 3)
    assert pages[0].params["created"] == {"gte": str(int(since.timestamp()))}
    assert pages[0].params["limit"] == "3"
    assert "starting_after" in pages[1].params and "types" in pages[0].params
    # the listing ends in the provider's latest state: the subscription is cancelled
    sub_events = [e for e in listed if e.subject == Subject(SubjectKind.SUBSCRIPTION, sub_id)]
    latest = resolve(None, sub_events).latest
    assert latest is not None and latest.status is SubjectStatus.CANCELED


async def test_list_events_since_later_is_empty(fake: FakeStripe, gateway: StripeGateway) -> None:
    checkout = await gateway.create_checkout(request())
    fake.complete_checkout(checkout.provider_id)
    assert [e async for e in gateway.list_events(at(fake) + timedelta(seconds=1))] == []


async def test_the_portal_url(fake: FakeStripe, gateway: StripeGateway) -> None:
    customer = fake.add_customer("m@example.com")
    url = await gateway.portal_url(customer, "https://app.example/account")
    assert url.startswith(f"{fake.base_url}/p/session/")
    [wire] = posts(fake, "/v1/billing_portal/sessions")
    assert wire.params == {"customer": customer, "return_url": "https://app.example/account"}
    assert (wire.header("Idempotency-Key") or "").startswith("sbportal_")
    with pytest.raises(InvalidRequest, match="No such customer"):
        await gateway.portal_url("cus_unknown", "https://app.example/account")
    with pytest.raises(InvalidRequest):
        await gateway.portal_url("acct_1", "https://app.example/account")
    with pytest.raises(ValueError, match="return_url"):
        await gateway.portal_url(customer, "javascript:alert(1)")


@pytest.mark.parametrize("mangle", ["other", "one_character"])
async def test_a_wrong_key_is_an_authentication_error_without_the_key(
    fake: FakeStripe, mangle: str
) -> None:
    key = fake.api_key
    middle = len(key) // 2
    wrong = (
        "sk_test_wrongwrongwrong1234"
        if mangle == "other"
        else key[:middle] + ("x" if key[middle] != "x" else "y") + key[middle + 1 :]
    )
    gateway = build(fake, api_key=wrong)
    try:
        with pytest.raises(AuthenticationError) as refused:
            await gateway.create_checkout(request())
    finally:
        await gateway.close()
    assert "401" in str(refused.value) and wrong not in str(refused.value)


async def test_rate_limit_with_retry_after(fake: FakeStripe, gateway: StripeGateway) -> None:
    fake.fail_next(429, "Too many requests", headers={"Retry-After": "7"})
    with pytest.raises(RateLimited) as limited:
        await gateway.create_checkout(request())
    assert limited.value.retry_after == 7.0 and limited.value.connection_id == "conn-7"
    assert len(posts(fake, "/v1/checkout/sessions")) == 1  # the library did not retry
    # the refused attempt stored nothing: the same key goes through afterwards
    assert (await gateway.create_checkout(request())).provider_id.startswith("cs_test_")


async def test_a_400_is_an_invalid_request(fake: FakeStripe, gateway: StripeGateway) -> None:
    fake.fail_next(400, "Invalid currency: usx", code="parameter_invalid_string")
    with pytest.raises(InvalidRequest, match="parameter_invalid_string"):
        await gateway.create_checkout(request())


async def test_a_500_is_transient_and_not_retried_inside(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    fake.fail_next(500)
    with pytest.raises(TransientError) as failed:
        await gateway.create_checkout(request())
    assert not isinstance(failed.value, RateLimited)
    assert len(posts(fake, "/v1/checkout/sessions")) == 1


async def test_every_call_goes_through_the_kernels_guarded_client(fake: FakeStripe) -> None:
    """Without loopback on the operator's allow-list, the SSRF guard refuses the fake's
    address: the library really uses the kernel's client, and our refusal passes through."""
    gateway = build(fake, factory=HttpClientFactory())
    try:
        with pytest.raises(InvalidRequest) as refused:
            await gateway.create_checkout(request())
    finally:
        await gateway.close()
    assert not isinstance(refused.value, CallbackRejected)
    assert posts(fake, "/v1/checkout/sessions") == []


async def test_close_closes_the_http_client(fake: FakeStripe) -> None:
    gateway = build(fake)
    assert not gateway.api.closed
    await gateway.close()
    assert gateway.api.closed


async def test_a_members_lifecycle_as_signed_deliveries(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    checkout = await gateway.create_checkout(request(BillingInterval.ONE_TIME))
    fake.complete_checkout(checkout.provider_id)
    charge_id = fake.events("charge.succeeded")[0]["data"]["object"]["id"]
    fake.refund(charge_id, 500)
    dispute = fake.dispute(charge_id)
    fake.close_dispute(dispute["id"], "lost")
    kinds = []
    for delivery in fake.deliveries():
        events = await gateway.verify_and_parse(delivery.body, delivery.headers, at(fake))
        assert (
            stripe.Webhook.construct_event(
                delivery.body, delivery.signature, fake.endpoints[0].secret
            ).id
            == delivery.event_id
        )
        kinds += [(e.kind, e.status, e.reference) for e in events]
    assert kinds == [
        (PaymentEventKind.CHECKOUT_COMPLETED, SubjectStatus.PAID, "sbpay_42"),
        (PaymentEventKind.REFUNDED, SubjectStatus.PAID, "sbpay_42"),
        (PaymentEventKind.DISPUTED, SubjectStatus.DISPUTED, None),
        (PaymentEventKind.DISPUTE_CLOSED, SubjectStatus.DISPUTED, None),
    ]
    # a dispute does not carry the reference: its charge does
    state = await gateway.fetch_state(Subject(SubjectKind.PAYMENT, charge_id))
    assert state.reference == "sbpay_42" and state.status is SubjectStatus.DISPUTED


async def test_a_rotated_secret_and_a_stale_redelivery(fake: FakeStripe) -> None:
    endpoint: WebhookEndpoint = fake.endpoints[0]
    old = endpoint.secret
    endpoint.roll_secret()
    rotated = build(fake)  # holds both secrets
    only_old = build(fake, webhook_secret=old)
    try:
        checkout = await rotated.create_checkout(request())
        fake.complete_checkout(checkout.provider_id)
        delivery = fake.deliveries()[-1]
        assert delivery.signature.count("v1=") == 2
        assert await rotated.verify_and_parse(delivery.body, delivery.headers, at(fake))
        assert await only_old.verify_and_parse(delivery.body, delivery.headers, at(fake))
        endpoint.expire_old_secrets()
        fresh = fake.sign(delivery.event)
        with pytest.raises(CallbackRejected):
            await only_old.verify_and_parse(fresh.body, fresh.headers, at(fake))
        later = at(fake) + timedelta(seconds=301)
        with pytest.raises(CallbackRejected) as stale:
            await rotated.verify_and_parse(delivery.body, delivery.headers, later)
        assert stale.value.reason == "stale"
    finally:
        await rotated.close()
        await only_old.close()


async def test_events_of_one_second_that_disagree_are_settled_by_fetch_state(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    """Stripe objects carry no updated time: an event's marker is its ``created`` second.
    A failed renewal and a cancellation in the same second leave the order unknown, so
    resolve() asks for the subscription, and Stripe's answer decides."""
    checkout = await gateway.create_checkout(request())
    fake.complete_checkout(checkout.provider_id)
    sub_id = fake.events("customer.subscription.created")[0]["data"]["object"]["id"]
    subject = Subject(SubjectKind.SUBSCRIPTION, sub_id)
    stored = at(fake)
    fake.advance(30 * 86400)
    fake.renew(sub_id, paid=False)
    fake.cancel(sub_id)
    parsed = []
    for delivery in fake.deliveries():
        if delivery.signed_at > stored.timestamp():
            parsed += await gateway.verify_and_parse(delivery.body, delivery.headers, at(fake))
    about = [e for e in parsed if e.subject == subject]
    assert {e.status for e in about} == {SubjectStatus.PAST_DUE, SubjectStatus.CANCELED}
    resolution = resolve(stored, reversed(about))
    assert resolution.needs_fetch and resolution.latest is None
    state = await gateway.fetch_state(subject)
    assert state.status is SubjectStatus.CANCELED and state.as_of == ANSWERED_AT


async def test_the_member_pays_on_the_hosted_page(fake: FakeStripe, gateway: StripeGateway) -> None:
    checkout = await gateway.create_checkout(request())
    async with httpx.AsyncClient(trust_env=False) as browser:
        page = await browser.get(checkout.redirect_url)
        assert page.status_code == 200 and "19.99" not in page.text  # minor units: 1999
        assert (await browser.post(checkout.redirect_url)).status_code == 200
        assert (await browser.post(checkout.redirect_url)).status_code == 400  # complete now
    state = await gateway.fetch_state(checkout.subject)
    assert state.status is SubjectStatus.PAID and state.subscription_id is not None


async def test_a_proxys_html_page_is_transient(fake: FakeStripe, gateway: StripeGateway) -> None:
    fake.fail_next(502, raw="<html>Bad gateway</html>")
    with pytest.raises(TransientError, match="502"):
        await gateway.fetch_state(Subject(SubjectKind.SUBSCRIPTION, "sub_1"))


async def test_stripe_unreachable_is_transient(fake: FakeStripe) -> None:
    gateway = build(fake, base_url="http://127.0.0.1:9")  # nothing listens on discard
    try:
        with pytest.raises(TransientError, match="unreachable") as failed:
            await gateway.create_checkout(request())
    finally:
        await gateway.close()
    assert failed.value.connection_id == "conn-7"


async def test_the_library_is_only_used_async() -> None:
    http = stripe_client.KernelHttpClient(httpx.AsyncClient())
    with pytest.raises(RuntimeError, match="async only"):
        http.request("get", "http://x", {})
    await http.close_async()
    assert http.closed
