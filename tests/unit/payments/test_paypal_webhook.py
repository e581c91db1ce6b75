"""PayPal webhook authentication without a network: the signed string, the cert URL rules,
the certificate cache, the transmission headers, and hostile deliveries (hypothesis).

The certificate is pinned in the gateway's cache, so these tests dial nothing; the HTTP
clients given to the gateway fail the test if anything is sent.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fakes.paypal_wire import envelope, rfc3339, signed_delivery, signing_cert

from signalbridge.integrations.errors import CallbackRejected, TransientError
from signalbridge.payments import GatewayDeps, PaymentEvent
from signalbridge.payments.paypal import PayPalConfig, PayPalGateway, convert, webhook

CERT_URL = "https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270"
WEBHOOK_ID = "1JE4291016473214C"
NOW = datetime.now(UTC).replace(microsecond=0)
DEFAULT_HOSTS = PayPalConfig.model_fields["cert_hosts"].default


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def _no_network(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"nothing may be sent: {request.method} {request.url}")


def gateway(**overrides: Any) -> PayPalGateway:
    config = PayPalConfig.model_validate(
        {
            "client_id": "id",
            "client_secret": "secret-xyz",
            "webhook_id": WEBHOOK_ID,
            "capture_on_approval": False,  # no capture call: nothing may be dialled here
            **overrides,
        }
    )
    transport = httpx.MockTransport(_no_network)
    gw = PayPalGateway(
        "pp-unit",
        config,
        api=httpx.AsyncClient(transport=transport, base_url="https://api-m.paypal.com"),
        certs=httpx.AsyncClient(transport=transport),
        deps=GatewayDeps(),
    )
    gw.certificates.put(CERT_URL, signing_cert().pem)
    return gw


def delivery(event: dict[str, Any], *, at: datetime = NOW) -> tuple[bytes, dict[str, str]]:
    signed = signed_delivery(
        event, key=signing_cert().key, webhook_id=WEBHOOK_ID, cert_url=CERT_URL, at=at
    )
    return signed.body, signed.headers


SALE = {
    "id": "80021663DE681814L",
    "state": "completed",
    "amount": {"total": "25.00", "currency": "USD"},
    "billing_agreement_id": "I-BW452GLLEP1G",
    "custom": "sbpay_40",
    "create_time": "2026-03-01T12:00:00Z",
}


# --- the signed string ----------------------------------------------------------------------


def test_signed_message_is_id_time_webhook_and_unsigned_crc32() -> None:
    assert webhook.signed_message("t1", "2026-01-01T00:00:00Z", "WH", b"hello") == (
        b"t1|2026-01-01T00:00:00Z|WH|907060870"
    )
    # crc32(b"a") has its top bit set: it is written unsigned, never negative
    assert webhook.signed_message("t", "x", "w", b"a").endswith(b"|3904355907")


def test_a_signed_delivery_is_accepted_offline() -> None:
    body, headers = delivery(envelope("PAYMENT.SALE.COMPLETED", SALE, NOW, "https://x"))
    [event] = run(gateway().verify_and_parse(body, headers, NOW))
    assert event.subscription_id == "I-BW452GLLEP1G" and event.amount is not None


# --- cert URL rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://api.paypal.com/v1/notifications/certs/CERT-1",
        "https://api-m.paypal.com/v1/notifications/certs/CERT-1",
        "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-1",
        "https://API-M.SANDBOX.PAYPAL.COM:443/v1/notifications/certs/CERT-1",
    ],
)
def test_paypal_cert_urls_pass(url: str) -> None:
    assert webhook.cert_url_problem(url, DEFAULT_HOSTS) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://api.paypal.com/v1/notifications/certs/CERT-1",  # not https
        "https://127.0.0.1/v1/notifications/certs/CERT-1",  # loopback
        "https://localhost/v1/notifications/certs/CERT-1",
        "https://[::1]/v1/notifications/certs/CERT-1",
        "https://169.254.169.254/v1/notifications/certs/CERT-1",  # metadata
        "https://metadata.google.internal/v1/notifications/certs/CERT-1",
        "https://2130706433/v1/notifications/certs/CERT-1",
        "https://api.paypal.com.evil.example/v1/notifications/certs/CERT-1",
        "https://evilpaypal.com/v1/notifications/certs/CERT-1",
        "https://api.paypal.com@127.0.0.1/v1/notifications/certs/CERT-1",
        "https://api.paypal.com:8443/v1/notifications/certs/CERT-1",  # other port
        "https://api.paypal.com/v1/oauth2/token",  # not a cert path
        "https://api.paypal.com/v1/notifications/certs/CERT-1?x=http://127.0.0.1",
        "https://api.paypal.com/v1/notifications/certs/../../oauth2/token",
        "file:///etc/passwd",
        "https://api.paypal.com\\@127.0.0.1/v1/notifications/certs/CERT-1",
        "",
    ],
)
def test_other_cert_urls_are_refused_and_never_fetched(url: str) -> None:
    assert webhook.cert_url_problem(url, DEFAULT_HOSTS) is not None
    gw = gateway()  # its HTTP clients fail the test if anything is dialled
    body, headers = delivery(envelope("PAYMENT.SALE.COMPLETED", SALE, NOW, "https://x"))
    with pytest.raises(CallbackRejected) as caught:
        run(gw.verify_and_parse(body, {**headers, "PAYPAL-CERT-URL": url}, NOW))
    assert caught.value.reason in ("signature", "malformed")
    assert gw.certificates.fetches == 0


def test_a_test_host_is_allowed_only_when_configured_with_its_port() -> None:
    url = "http://127.0.0.1:8123/v1/notifications/certs/CERT-1"
    assert webhook.cert_url_problem(url, ("127.0.0.1:8123",), https_only=False) is None
    assert webhook.cert_url_problem(url, ("127.0.0.1:8123",)) is not None  # https only
    assert webhook.cert_url_problem(url, ("127.0.0.1",), https_only=False) is not None
    assert webhook.cert_url_problem(url, ("127.0.0.1:9999",), https_only=False) is not None


# --- the certificate cache ----------------------------------------------------------------------


def test_certificate_is_fetched_once_even_by_a_burst() -> None:
    calls: list[str] = []

    async def fetch(url: str) -> bytes:
        calls.append(url)
        await asyncio.sleep(0)
        return signing_cert().pem

    async def burst() -> None:
        cache = webhook.CertificateCache(fetch, (".paypal.com",))
        await asyncio.gather(*(cache.public_key(CERT_URL, NOW) for _ in range(20)))
        await cache.public_key(CERT_URL, NOW)
        assert cache.fetches == 1

    run(burst())
    assert calls == [CERT_URL]


def test_certificate_must_be_current_paypals_and_pem() -> None:
    async def serve(pem: bytes) -> webhook.CertificateCache:
        async def fetch(url: str) -> bytes:
            return pem

        return webhook.CertificateCache(fetch, (".paypal.com",))

    async def check() -> None:
        foreign = await serve(signing_cert("evil.example").pem)
        with pytest.raises(CallbackRejected, match="not issued to PayPal"):
            await foreign.public_key(CERT_URL, NOW)
        lookalike = await serve(signing_cert("paypal.com.evil.example").pem)
        with pytest.raises(CallbackRejected):
            await lookalike.public_key(CERT_URL, NOW)
        good = await serve(signing_cert().pem)
        with pytest.raises(CallbackRejected, match="not valid now"):
            await good.public_key(CERT_URL, NOW + timedelta(days=400))
        junk = await serve(b"<html>not a certificate</html>")
        with pytest.raises(CallbackRejected, match="PEM"):
            await junk.public_key(CERT_URL, NOW)

    run(check())


def test_a_failed_fetch_is_transient_and_not_cached() -> None:
    attempts = 0

    async def fetch(url: str) -> bytes:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise TransientError("connection refused")
        return signing_cert().pem

    async def check() -> None:
        cache = webhook.CertificateCache(fetch, (".paypal.com",))
        with pytest.raises(TransientError):
            await cache.public_key(CERT_URL, NOW)
        await cache.public_key(CERT_URL, NOW)
        assert cache.fetches == 1

    run(check())


def test_cache_is_bounded() -> None:
    cache = webhook.CertificateCache(_never, (".paypal.com",), size=2)
    for n in range(5):
        cache.put(f"{CERT_URL}{n}", signing_cert().pem)
    assert len(cache) == 2


async def _never(url: str) -> bytes:
    raise AssertionError("no fetch expected")


# --- transmission headers and the postback -----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("PAYPAL-TRANSMISSION-ID", None, "signature"),
        ("PAYPAL-TRANSMISSION-ID", "a|b", "malformed"),
        ("PAYPAL-TRANSMISSION-TIME", "2026-03-01 12:00", "malformed"),
        ("PAYPAL-TRANSMISSION-TIME", "2026-03-01T12:00:00", "malformed"),  # no zone
        ("PAYPAL-TRANSMISSION-SIG", "not base64!", "malformed"),
        ("PAYPAL-CERT-URL", None, "signature"),
        ("PAYPAL-AUTH-ALGO", "SHA1withRSA", "signature"),
    ],
)
def test_transmission_headers(name: str, value: str | None, reason: str) -> None:
    _, headers = delivery(envelope("PAYMENT.SALE.COMPLETED", SALE, NOW, "https://x"))
    headers = {k.lower(): v for k, v in headers.items()}  # any case is read
    webhook.read_transmission(headers)
    if value is None:
        del headers[name.lower()]
    else:
        headers[name.lower()] = value
    with pytest.raises(CallbackRejected) as caught:
        webhook.read_transmission(headers)
    assert caught.value.reason == reason


def test_postback_splices_the_event_bytes_unchanged() -> None:
    raw = b'{"id":"WH-1","resource":{"amount":{"value":"10.10"}},"n":1.50}'
    _, headers = delivery(envelope("PAYMENT.SALE.COMPLETED", SALE, NOW, "https://x"))
    posted = webhook.postback_body(webhook.read_transmission(headers), WEBHOOK_ID, raw)
    assert raw in posted
    decoded = json.loads(posted)
    assert decoded["webhook_event"] == json.loads(raw)
    assert decoded["webhook_id"] == WEBHOOK_ID and decoded["auth_algo"] == "SHA256withRSA"


# --- hostile deliveries (hypothesis) -------------------------------------------------------------

_HEADER_NAMES = st.sampled_from(
    [
        "PAYPAL-TRANSMISSION-ID",
        "PAYPAL-TRANSMISSION-TIME",
        "PAYPAL-TRANSMISSION-SIG",
        "PAYPAL-CERT-URL",
        "PAYPAL-AUTH-ALGO",
        "paypal-transmission-id",
        "Content-Type",
    ]
)
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.text(max_size=30)
    | st.sampled_from(["10.00", "-5.5", "USD", "EUR", "COMPLETED", "ACTIVE", "sbpay_9", "I-1"])
    | st.sampled_from(["2026-03-01T12:00:00Z", "2026-03-01T12:00:00", "x"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "status",
                    "state",
                    "amount",
                    "value",
                    "currency_code",
                    "total",
                    "currency",
                    "custom_id",
                    "custom",
                    "invoice_id",
                    "purchase_units",
                    "payments",
                    "captures",
                    "billing_info",
                    "next_billing_time",
                    "cycle_executions",
                    "update_time",
                    "create_time",
                    "status_update_time",
                    "seller_receivable_breakdown",
                    "paypal_fee",
                    "transaction_fee",
                    "links",
                    "rel",
                    "href",
                    "disputed_transactions",
                    "seller_transaction_id",
                    "dispute_outcome",
                    "outcome_code",
                    "last_failed_payment",
                    "subscriber",
                    "payer_id",
                    "sale_id",
                    "billing_agreement_id",
                ]
            ),
            children,
            max_size=6,
        )
    ),
    max_leaves=25,
)


@given(
    headers=st.dictionaries(_HEADER_NAMES, st.text(max_size=60), max_size=7),
    body=st.binary(max_size=300) | _JSON.map(lambda v: json.dumps(v).encode()),
)
def test_arbitrary_headers_and_bodies_are_only_refused(
    headers: dict[str, str], body: bytes
) -> None:
    with pytest.raises(CallbackRejected):
        run(gateway().verify_and_parse(body, headers, NOW))


@given(
    event_type=st.sampled_from(sorted(convert.HANDLED_TYPES)) | st.text(max_size=20),
    resource=_JSON,
    event_id=st.text(min_size=0, max_size=210),
)
def test_authentic_deliveries_of_any_shape_give_events_or_a_refusal(
    event_type: str, resource: Any, event_id: str
) -> None:
    event = envelope(event_type, {}, NOW, "https://x")
    event["resource"] = resource
    event["id"] = event_id
    body, headers = delivery(event)
    try:
        events = run(gateway().verify_and_parse(body, headers, NOW))
    except CallbackRejected as refused:
        assert refused.reason == "malformed"
        return
    assert all(isinstance(e, PaymentEvent) for e in events)
    assert len(events) <= 1


def test_stale_and_future_transmissions_are_refused() -> None:
    event = envelope("PAYMENT.SALE.COMPLETED", SALE, NOW, "https://x")
    for skew in (timedelta(seconds=-301), timedelta(seconds=301)):
        body, headers = delivery(event, at=NOW + skew)
        with pytest.raises(CallbackRejected) as caught:
            run(gateway().verify_and_parse(body, headers, NOW))
        assert caught.value.reason == "stale"
    body, headers = delivery(event, at=NOW - timedelta(seconds=299))
    assert run(gateway().verify_and_parse(body, headers, NOW))
    assert rfc3339(NOW).endswith("Z")
