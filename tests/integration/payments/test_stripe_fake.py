"""The fake Stripe proven against the official library on its own HTTP client: the
library parses its answers into its own classes, raises its own errors for its error
bodies, and ``stripe.Webhook.construct_event`` accepts its signed deliveries, also
during a secret rotation and when POSTed to an endpoint URL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import stripe
from aiohttp import web
from tests.fakes.aiohttp_thread import ThreadedAiohttpServer
from tests.fakes.stripe import FakeStripe

SESSION = {
    "mode": "subscription",
    "line_items": [
        {
            "quantity": 1,
            "price_data": {
                "currency": "usd",
                "unit_amount": 1500,
                "product_data": {"name": "Gold"},
                "recurring": {"interval": "month"},
            },
        }
    ],
    "success_url": "https://app.example/ok",
    "cancel_url": "https://app.example/no",
    "client_reference_id": "sbpay_5",
    "metadata": {"payment_reference": "sbpay_5"},
    "subscription_data": {"metadata": {"payment_reference": "sbpay_5"}},
}


# The library's own HTTPXClient hands httpx its form body as ``data=`` text.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=:DeprecationWarning")

_OPEN: list[stripe.HTTPXClient] = []


@pytest.fixture
async def fake() -> AsyncIterator[FakeStripe]:
    with FakeStripe() as server:
        server.add_endpoint()
        yield server
        while _OPEN:
            await _OPEN.pop().close_async()


def sdk(fake: FakeStripe, key: str | None = None) -> stripe.StripeClient:
    """The library with its own httpx client, not ours: the fake is judged by the SDK."""
    http = stripe.HTTPXClient()
    _OPEN.append(http)
    return stripe.StripeClient(
        key or fake.api_key,
        base_addresses={"api": fake.base_url},
        max_network_retries=0,
        http_client=http,
    )


async def test_the_library_parses_a_session_and_replays_it_by_key(fake: FakeStripe) -> None:
    client = sdk(fake)
    session = await client.v1.checkout.sessions.create_async(
        SESSION,  # type: ignore[arg-type]
        {"idempotency_key": "k-1"},
    )
    assert isinstance(session, stripe.checkout.Session)
    assert session.status == "open" and session.url is not None
    assert session.metadata is not None
    assert session.metadata.to_dict() == {"payment_reference": "sbpay_5"}
    again = await client.v1.checkout.sessions.create_async(
        SESSION,  # type: ignore[arg-type]
        {"idempotency_key": "k-1"},
    )
    assert again.id == session.id
    assert again.last_response is not None
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    other = SESSION | {"client_reference_id": "sbpay_6"}
    with pytest.raises(stripe.IdempotencyError):
        await client.v1.checkout.sessions.create_async(
            other,  # type: ignore[arg-type]
            {"idempotency_key": "k-1"},
        )
    fetched = await client.v1.checkout.sessions.retrieve_async(session.id)
    assert fetched.to_dict() == session.to_dict()


async def test_the_library_sends_a_key_of_its_own_on_every_post(fake: FakeStripe) -> None:
    await sdk(fake).v1.checkout.sessions.create_async(SESSION)  # type: ignore[arg-type]
    [post] = [r for r in fake.requests if r.method == "POST"]
    assert post.header("Idempotency-Key")


async def test_the_library_reads_the_fakes_errors(fake: FakeStripe) -> None:
    with pytest.raises(stripe.AuthenticationError) as refused:
        await sdk(fake, "sk_test_not_the_key_0000").v1.subscriptions.retrieve_async("sub_1")
    assert refused.value.http_status == 401
    assert "sk_test_****" in str(refused.value.user_message) and "0000" in str(
        refused.value.user_message
    )
    with pytest.raises(stripe.InvalidRequestError) as missing:
        await sdk(fake).v1.subscriptions.retrieve_async("sub_nothere")
    assert missing.value.code == "resource_missing" and missing.value.param == "id"
    fake.fail_next(429, "Too many requests", headers={"Retry-After": "4"})
    with pytest.raises(stripe.RateLimitError) as limited:
        await sdk(fake).v1.subscriptions.retrieve_async("sub_1")
    assert limited.value.headers is not None and limited.value.headers["Retry-After"] == "4"
    fake.fail_next(500)
    with pytest.raises(stripe.APIError) as failed:
        await sdk(fake).v1.subscriptions.retrieve_async("sub_1")
    assert failed.value.http_status == 500
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        await sdk(fake).v1.checkout.sessions.create_async(
            SESSION | {"surprise": "x"}  # type: ignore[arg-type]
        )
    assert unknown.value.param == "surprise"


def test_a_request_without_a_key_gets_stripes_401(fake: FakeStripe) -> None:
    answer = httpx.get(f"{fake.base_url}/v1/events", trust_env=False)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="Stripe"'
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "You did not provide an API key" in error["message"]
    assert answer.headers["Request-Id"].startswith("req_")


def test_form_arrays_in_either_spelling(fake: FakeStripe) -> None:
    headers = {"Authorization": f"Bearer {fake.api_key}"}
    fake.add_customer()
    for query in ("limit=2&types[]=customer.created", "limit=2&types[0]=customer.created"):
        answer = httpx.get(f"{fake.base_url}/v1/events?{query}", headers=headers, trust_env=False)
        assert answer.status_code == 200
        assert answer.json()["object"] == "list"


async def test_the_library_parses_the_lifecycle_objects_and_lists_events(
    fake: FakeStripe,
) -> None:
    client = sdk(fake)
    session = await client.v1.checkout.sessions.create_async(SESSION)  # type: ignore[arg-type]
    fake.complete_checkout(session.id)
    sub_id = fake.events("customer.subscription.created")[0]["data"]["object"]["id"]
    sub = await client.v1.subscriptions.retrieve_async(sub_id)
    assert isinstance(sub, stripe.Subscription) and sub.status == "active"
    assert sub["items"].data[0].current_period_end > sub.start_date
    invoice_id = fake.events("invoice.paid")[0]["data"]["object"]["id"]
    plain = await client.v1.invoices.retrieve_async(invoice_id)
    assert "payments" not in plain  # includable: only when expanded
    invoice = await client.v1.invoices.retrieve_async(invoice_id, {"expand": ["payments"]})
    assert isinstance(invoice, stripe.Invoice) and invoice.status == "paid"
    assert invoice.parent is not None and invoice.parent.subscription_details is not None
    intent_id = invoice.payments.data[0].payment.payment_intent  # type: ignore[union-attr]
    intent = await client.v1.payment_intents.retrieve_async(
        str(intent_id), {"expand": ["latest_charge.balance_transaction"]}
    )
    charge = intent.latest_charge
    assert isinstance(charge, stripe.Charge)
    assert isinstance(charge.balance_transaction, stripe.BalanceTransaction)
    assert charge.balance_transaction.fee == round(1500 * 0.029) + 30
    with pytest.raises(stripe.InvalidRequestError, match="more than 4 levels"):
        await client.v1.invoices.retrieve_async(
            invoice_id,
            {"expand": ["payments.data.payment.payment_intent.latest_charge.balance_transaction"]},
        )
    page = await client.v1.events.list_async({"limit": 2})
    assert isinstance(page.data[0], stripe.Event) and page.has_more
    rest = await client.v1.events.list_async({"limit": 100, "starting_after": page.data[-1].id})
    ids = [e.id for e in page.data] + [e.id for e in rest.data]
    assert ids == [e["id"] for e in reversed(fake.events())]  # newest first
    older = await client.v1.events.list_async({"limit": 1, "ending_before": rest.data[0].id})
    assert older.data[0].id == page.data[-1].id
    portal = await client.v1.billing_portal.sessions.create_async(
        {"customer": sub.customer, "return_url": "https://app.example/"}  # type: ignore[typeddict-item]
    )
    assert isinstance(portal, stripe.billing_portal.Session) and portal.url


async def test_construct_event_accepts_every_delivery_also_during_a_rotation(
    fake: FakeStripe,
) -> None:
    endpoint = fake.endpoints[0]
    old = endpoint.secret
    session = await sdk(fake).v1.checkout.sessions.create_async(SESSION)  # type: ignore[arg-type]
    fake.complete_checkout(session.id)
    new = endpoint.roll_secret()
    sub_id = fake.events("customer.subscription.created")[0]["data"]["object"]["id"]
    fake.renew(sub_id, paid=False)
    deliveries = fake.deliveries()
    assert {d.type for d in deliveries} >= {
        "checkout.session.completed",
        "invoice.paid",
        "invoice.payment_failed",
        "customer.subscription.updated",
    }
    for delivery in deliveries:
        rotated = delivery.signature.count("v1=") == 2
        for secret in (new, old) if rotated else (old,):
            event = stripe.Webhook.construct_event(delivery.body, delivery.signature, secret)
            assert isinstance(event, stripe.Event) and event.id == delivery.event_id
            assert event.data.object["object"] in (
                "customer",
                "subscription",
                "invoice",
                "charge",
                "payment_intent",
                "checkout.session",
            )
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(deliveries[0].body, deliveries[0].signature, new)


class Receiver(ThreadedAiohttpServer):
    """A webhook endpoint that records what it receives and answers ``status``."""

    name = "webhook receiver"

    def __init__(self) -> None:
        super().__init__()
        self.status = 200
        self.received: list[tuple[bytes, dict[str, str]]] = []

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.received.append((await request.read(), dict(request.headers)))
        return web.Response(status=self.status)


async def test_deliveries_post_to_the_endpoint_url_and_failures_stay_pending(
    fake: FakeStripe,
) -> None:
    with Receiver() as receiver:
        endpoint = fake.add_endpoint(
            url=f"{receiver.base_url}/webhooks/payments/1",
            enabled_events=("checkout.session.completed", "invoice.paid"),
        )
        session = await sdk(fake).v1.checkout.sessions.create_async(SESSION)  # type: ignore[arg-type]
        fake.complete_checkout(session.id)
        receiver.status = 500
        assert [status for _, status in fake.deliver(endpoint)] == [500, 500]
        assert len(fake.deliveries(endpoint)) == 2
        receiver.status = 200
        fake.advance(60)
        sent = fake.deliver(endpoint)
        assert [status for _, status in sent] == [200, 200]
        assert fake.deliveries(endpoint) == []
    body, headers = receiver.received[-1]
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    signed_at = int(headers["Stripe-Signature"].split(",")[0].removeprefix("t="))
    assert signed_at == fake.now  # re-signed at the attempt, as Stripe does
    event: Any = json.loads(body)
    assert event["type"] in endpoint.enabled_events
    stripe.Webhook.construct_event(body, headers["Stripe-Signature"], endpoint.secret, tolerance=0)


async def test_deliveries_through_an_in_process_client(fake: FakeStripe) -> None:
    seen: list[httpx.Request] = []

    def app(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200 if len(seen) > 1 else 503)

    endpoint = fake.add_endpoint(url="/webhooks/payments/1", enabled_events=("customer.created",))
    with fake.account.locked():
        fake.account.emit("customer.created", fake.account.add_customer())
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(app), base_url="http://app.test"
    ) as client:
        first = await fake.deliver_async(client, endpoint)
        assert [status for _, status in first] == [503]
        second = await fake.deliver_async(client, endpoint)
    assert [status for _, status in second] == [200]
    assert fake.deliveries(endpoint) == [] and len(endpoint.delivered) == 1
    assert seen[-1].url.path == "/webhooks/payments/1"
    stripe.Webhook.construct_event(
        seen[-1].content, seen[-1].headers["Stripe-Signature"], endpoint.secret
    )
