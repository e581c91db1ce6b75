"""The CoinPayments gateway against the loopback fake of the legacy API and its IPNs.

Checkout (create_transaction), state (get_tx_info), wrong keys, faults, the SSRF guard in
front of the configured URL, and reliability row 7 end to end at the gateway: the fake's
IPNs for 0→1→100, duplicated and out of order, give one credit at status 100; a bad HMAC,
another merchant, an underpayment and another amount or currency give none.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from tests.fakes.coinpayments import FakeCoinPayments, IpnDelivery, deliver
from tests.fakes.loopback import loopback_http_factory

from signalbridge.integrations.errors import (
    AmbiguousOutcome,
    AuthenticationError,
    CallbackRejected,
    InvalidRequest,
    TransientError,
)
from signalbridge.integrations.http import HttpClientFactory
from signalbridge.integrations.registry import AdapterRegistry
from signalbridge.payments import (
    BillingInterval,
    CheckoutRequest,
    GatewayDeps,
    PaymentEvent,
    PaymentEventKind,
    PlanTerms,
    Subject,
    SubjectKind,
    SubjectStatus,
    build_gateway,
    coinpayments,
    resolve,
)
from signalbridge.payments.coinpayments import CoinPaymentsGateway
from signalbridge.payments.coinpayments.convert import check_expected, marker

NOW = datetime(2026, 12, 7, 11, 0, tzinfo=UTC)
PUBLIC_KEY = "c0ffee0123456789abcdef"
PRIVATE_KEY = "Priv4teKeyCanary0987654321"
MERCHANT = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
IPN_SECRET = "IpnSecretCanary-1122334455"
IPN_URL = "https://hub.example/webhooks/payments/5"
REQUEST = CheckoutRequest(
    plan=PlanTerms(plan_id=3, name="Gold lifetime", interval=BillingInterval.ONE_TIME),
    price=Decimal("19.99"),
    currency="USD",
    payment_id=42,
    user_id=7,
    success_url="https://hub.example/ok",
    cancel_url="https://hub.example/cancel",
    email="ann@example.com",
    pay_currency="LTCT",
)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeCoinPayments]:
    server = FakeCoinPayments(
        public_key=PUBLIC_KEY, private_key=PRIVATE_KEY, merchant_id=MERCHANT, ipn_secret=IPN_SECRET
    )
    with server:
        yield server


def gateway(
    fake: FakeCoinPayments, *, factory: HttpClientFactory | None = None, **changes: Any
) -> CoinPaymentsGateway:
    registry = AdapterRegistry()
    coinpayments.register(registry)
    config = {
        "base_url": fake.api_url,
        "merchant_id": MERCHANT,
        "public_key": PUBLIC_KEY,
        "private_key": PRIVATE_KEY,
        "ipn_secret": IPN_SECRET,
        "ipn_url": IPN_URL,
        "accepted_coins": ["LTCT", "BTC", "DOGE"],
        **changes,
    }
    public, secrets = registry.split_config("payment", "coinpayments", config)
    deps = GatewayDeps(http_factory=factory or loopback_http_factory(), clock=lambda: NOW)
    built = build_gateway(registry, "coinpayments", "cp-1", public, secrets, deps)
    assert isinstance(built, CoinPaymentsGateway)
    return built


async def parse(gw: CoinPaymentsGateway, delivery: IpnDelivery) -> list[PaymentEvent]:
    return await gw.verify_and_parse(delivery.body, delivery.headers, NOW)


async def test_a_checkout_creates_one_signed_transaction_and_redirects_to_its_page(
    fake: FakeCoinPayments,
) -> None:
    gw = gateway(fake)
    before = len(fake.calls_to("create_transaction"))
    checkout = await gw.create_checkout(REQUEST)
    assert checkout.subject == Subject(SubjectKind.CHECKOUT, checkout.provider_id)
    assert checkout.redirect_url.startswith(f"{fake.base_url}/index.php?cmd=checkout&id=")
    assert checkout.expires_at == NOW + timedelta(seconds=9000)
    [call] = fake.calls_to("create_transaction")[before:]
    sent = call.fields
    assert (sent["version"], sent["key"], sent["format"]) == ("1", PUBLIC_KEY, "json")
    assert (sent["amount"], sent["currency1"], sent["currency2"]) == ("19.99", "USD", "LTCT")
    assert sent["buyer_email"] == "ann@example.com"
    assert sent["invoice"] == sent["custom"] == "sbpay_42"
    assert sent["ipn_url"] == IPN_URL and sent["item_name"] == "Gold lifetime"
    assert PRIVATE_KEY not in str(sent)
    txn = fake.transaction(checkout.provider_id)
    assert txn.amount2 > 0 and txn.currency2 == "LTCT"
    # the same payment row again: the same checkout, no second transaction
    assert await gw.create_checkout(REQUEST) == checkout
    assert len(fake.calls_to("create_transaction")) == before + 1
    other = await gw.create_checkout(replace(REQUEST, payment_id=43, pay_currency=None))
    assert other.provider_id != checkout.provider_id
    assert fake.transaction(other.provider_id).currency2 == "LTCT"  # the first accepted coin
    await gw.close()


async def test_fetch_state_follows_the_transaction_through_get_tx_info(
    fake: FakeCoinPayments,
) -> None:
    gw = gateway(fake)
    checkout = await gw.create_checkout(replace(REQUEST, payment_id=50))
    subject = checkout.subject
    waiting = await gw.fetch_state(subject)
    assert (waiting.status, waiting.provider_status) == (SubjectStatus.PENDING, "0")
    assert (waiting.amount, waiting.currency) == (Decimal("19.99"), "USD")
    assert waiting.reference == "sbpay_50" and waiting.as_of == marker(0)
    asked = fake.transaction(subject.id).amount2
    fake.advance(subject.id, 1, received=asked / 2)
    partial = await gw.fetch_state(subject)
    assert partial.status is SubjectStatus.PENDING
    assert partial.reason is not None and partial.reason.startswith("underpaid: received ")
    fake.advance(subject.id, 100)
    paid = await gw.fetch_state(subject)
    assert (paid.status, paid.as_of, paid.reason) == (SubjectStatus.PAID, marker(100), None)
    with pytest.raises(InvalidRequest, match="unknown transaction"):
        await gw.fetch_state(Subject(SubjectKind.CHECKOUT, "CPNOSUCHTXN"))
    with pytest.raises(InvalidRequest, match="no subscription"):
        await gw.fetch_state(Subject(SubjectKind.SUBSCRIPTION, "sub_1"))
    assert "LTCT" in await gw.client.rates()
    await gw.close()


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"private_key": PRIVATE_KEY[:-1] + "X"}, "HMAC signature does not match"),
        ({"public_key": PUBLIC_KEY[:-1] + "0"}, "Invalid API public key"),
    ],
)
async def test_wrong_keys_are_an_authentication_error_that_names_no_secret(
    fake: FakeCoinPayments,
    changes: dict[str, Any],
    said: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    gw = gateway(fake, **changes)
    with pytest.raises(AuthenticationError, match=said) as caught:
        await gw.create_checkout(replace(REQUEST, payment_id=60))
    assert caught.value.connection_id == "cp-1"
    assert fake.refused[-1].startswith(said)
    for secret in (PRIVATE_KEY, PRIVATE_KEY[:-1] + "X", IPN_SECRET):
        assert secret not in str(caught.value) and secret not in caplog.text
    await gw.close()


async def test_faults_are_translated(fake: FakeCoinPayments) -> None:
    gw = gateway(fake)
    with pytest.raises(InvalidRequest, match="Invalid currency2 coin"):
        await gw.create_checkout(replace(REQUEST, payment_id=70, pay_currency="DOGE"))
    fake.fail_next(status=502, body="<html>Bad gateway</html>")
    with pytest.raises(AmbiguousOutcome, match="look the payment up"):
        await gw.create_checkout(replace(REQUEST, payment_id=71))
    fake.fail_next(body="<html>maintenance</html>")
    with pytest.raises(AmbiguousOutcome, match="unreadable"):
        await gw.create_checkout(replace(REQUEST, payment_id=72))
    checkout = await gw.create_checkout(replace(REQUEST, payment_id=73))
    fake.fail_next(body="<html>maintenance</html>")
    with pytest.raises(TransientError, match="unreadable") as read:
        await gw.fetch_state(checkout.subject)
    assert type(read.value) is TransientError
    fake.fail_next(error="API rate limit exceeded")
    with pytest.raises(TransientError, match="rate limit"):
        await gw.fetch_state(checkout.subject)
    await gw.close()


async def test_the_configured_url_is_behind_the_ssrf_guard(fake: FakeCoinPayments) -> None:
    gw = gateway(fake, factory=HttpClientFactory(registry=CollectorRegistry()))
    before = len(fake.calls)
    with pytest.raises(InvalidRequest, match="loopback address") as caught:
        await gw.create_checkout(replace(REQUEST, payment_id=80))
    assert type(caught.value) is InvalidRequest
    assert len(fake.calls) == before  # nothing reached the fake
    await gw.close()


async def test_ipn_steps_in_any_order_and_duplicated_credit_once_at_100(
    fake: FakeCoinPayments,
) -> None:
    gw = gateway(fake)
    checkout = await gw.create_checkout(replace(REQUEST, payment_id=90))
    txn = checkout.provider_id
    steps = [fake.advance(txn, 0), fake.advance(txn, 1), fake.advance(txn, 100)]
    deliveries = steps * 3  # CoinPayments retries; each step may come several times
    shuffler = random.Random(16)
    for _ in range(20):
        shuffler.shuffle(deliveries)
        events = [e for d in deliveries for e in await parse(gw, d)]
        assert {e.event_id for e in events} == {f"{txn}:0", f"{txn}:1", f"{txn}:100"}
        outcome = resolve(None, events)
        assert outcome.latest is not None and outcome.latest.status is SubjectStatus.PAID
        credits = {e.key for e in outcome.apply if e.status is SubjectStatus.PAID}
        assert credits == {("coinpayments", f"{txn}:100")}
        paid = outcome.latest
        assert check_expected(paid, REQUEST.price, REQUEST.currency) is paid
        assert paid.reference == "sbpay_90"
    # 100 first, then 0 and 1: stale against the stored marker, nothing moves back
    [done] = await parse(gw, steps[2])
    late = [e for d in steps[:2] for e in await parse(gw, d)]
    assert resolve(done.provider_updated_at, late).apply == ()
    await gw.close()


async def test_bad_ipns_give_no_credit(fake: FakeCoinPayments) -> None:
    gw = gateway(fake)
    checkout = await gw.create_checkout(replace(REQUEST, payment_id=91))
    txn = checkout.provider_id
    refused = [
        fake.ipn(txn, status=100, secret="not-the-ipn-secret"),
        fake.ipn(txn, status=100, merchant="0000someoneelse"),
        fake.ipn(txn, status=100, ipn_mode="httpauth"),
        IpnDelivery(fake.ipn(txn, status=100).body + b"&x=1", fake.ipn(txn, status=100).headers),
        IpnDelivery(fake.ipn(txn, status=100).body, {}),
    ]
    for delivery in refused:
        with pytest.raises(CallbackRejected) as caught:
            await parse(gw, delivery)
        assert caught.value.reason == "signature"
        assert IPN_SECRET not in str(caught.value)
    asked = fake.transaction(txn).amount2
    [short] = await parse(gw, fake.ipn(txn, status=100, received=asked - Decimal("0.0001")))
    assert short.kind is PaymentEventKind.PAYMENT_PENDING
    assert short.reason == f"underpaid: received {asked - Decimal('0.0001'):f} of {asked:f} LTCT"
    mismatches: list[dict[str, Any]] = [{"amount1": "1.00000000"}, {"currency1": "EUR"}]
    for changes in mismatches:
        [cheap] = await parse(gw, fake.ipn(txn, status=100, **changes))
        assert cheap.status is SubjectStatus.PAID  # authentic, CoinPayments says complete...
        checked = check_expected(cheap, REQUEST.price, REQUEST.currency)
        assert checked.status is SubjectStatus.PENDING  # ...but not what the row asked
        assert checked.reason is not None and checked.reason.startswith("amount mismatch")
    await gw.close()


async def test_the_ipn_sender_retries_until_2xx_and_at_most_ten_times(
    fake: FakeCoinPayments,
) -> None:
    gw = gateway(fake)
    checkout = await gw.create_checkout(replace(REQUEST, payment_id=92))
    received: list[PaymentEvent] = []
    failures = {"left": 2}

    async def receiver(request: httpx.Request) -> httpx.Response:
        try:
            events = await gw.verify_and_parse(request.content, dict(request.headers), NOW)
        except CallbackRejected:
            return httpx.Response(400)
        if failures["left"]:
            failures["left"] -= 1  # the handler failed after verifying: 5xx, redelivered
            return httpx.Response(500)
        received.extend(events)
        return httpx.Response(200, text="IPN OK")

    hook = "https://hub.example/webhooks/payments/5"
    paid = fake.advance(checkout.provider_id, 100)
    assert await deliver(hook, paid, transport=httpx.MockTransport(receiver)) == [500, 500, 200]
    assert [e.event_id for e in received] == [f"{checkout.provider_id}:100"]
    forged = fake.ipn(checkout.provider_id, status=100, secret="guessed")
    statuses = await deliver(hook, forged, transport=httpx.MockTransport(receiver))
    assert statuses == [400] * 10 and len(received) == 1
    await gw.close()
