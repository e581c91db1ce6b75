"""Each gateway's connection test (``ProbesAccount.probe``) against its loopback fake: a good
key answers ok with test or live mode, a wrong key ok=False with the vendor's reason and no
secret, a fake that is down or failing ok=False; never an exception."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from tests.fakes.coinpayments import FakeCoinPayments
from tests.fakes.loopback import loopback_http_factory
from tests.fakes.paypal import CLIENT_ID, CLIENT_SECRET, WEBHOOK_ID, FakePayPal
from tests.fakes.stripe import DEFAULT_KEY, FakeStripe

from signalbridge.integrations.errors import (
    AuthenticationError,
    IntegrationError,
    TransientError,
)
from signalbridge.integrations.http import HttpClientFactory
from signalbridge.integrations.redaction import register_secret
from signalbridge.integrations.registry import AdapterRegistry
from signalbridge.payments import GatewayDeps, build_gateway, coinpayments, paypal
from signalbridge.payments import stripe as stripe_gateway
from signalbridge.payments.base import GatewayProbe, ProbesAccount
from signalbridge.payments.paypal.probe import sandbox_of
from signalbridge.payments.stripe.config import key_test_mode

LIVE_KEY = "sk_live_51LiveStripeKey0123456789abcdef"
WRONG_STRIPE_KEY = "sk_test_51WrongStripeKey9876543210zyxwv"
WRONG_PAYPAL_SECRET = "EWrongSecret_sandbox_not_this_one_1234567890"
CP_PUBLIC = "c0ffee0123456789abcdef"
CP_PRIVATE = "Priv4teKeyCanary0987654321"
CP_MERCHANT = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
CP_IPN = "IpnSecretCanary-1122334455"


def registry() -> AdapterRegistry:
    found = AdapterRegistry()
    stripe_gateway.register(found)
    paypal.register(found)
    coinpayments.register(found)
    return found


def build(type_: str, config: dict[str, Any], factory: HttpClientFactory | None = None) -> Any:
    """A gateway built the way the flow builds one: the registry splits config and secrets."""
    reg = registry()
    public, secrets = reg.split_config("payment", type_, config)
    deps = GatewayDeps(http_factory=factory or loopback_http_factory())
    gateway = build_gateway(reg, type_, "gw-probe", public, secrets, deps)
    assert isinstance(gateway, ProbesAccount)
    return gateway


async def probe(type_: str, config: dict[str, Any], **kw: Any) -> GatewayProbe:
    gateway = build(type_, config, **kw)
    try:
        result: GatewayProbe = await gateway.probe()
    finally:
        await gateway.close()
    return result


def assert_failed(result: GatewayProbe, error: type[IntegrationError], *secrets: str) -> None:
    assert result.ok is False
    assert isinstance(result.error, error)
    assert result.message
    for secret in secrets:
        assert secret not in result.message
        assert secret not in repr(result)


# --- Stripe --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake_stripe() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server


def stripe_config(fake: FakeStripe, api_key: str | None = None) -> dict[str, Any]:
    return {
        "api_key": api_key or fake.api_key,
        "webhook_secret": "whsec_probeSecret0123456789",
        "base_url": fake.base_url,
    }


async def test_stripe_good_test_key_is_ok_in_test_mode(fake_stripe: FakeStripe) -> None:
    result = await probe("stripe", stripe_config(fake_stripe))
    assert result.ok is True
    assert result.test_mode is True
    assert result.error is None
    assert "test-mode" in result.message
    assert "USD" in result.message
    seen = [r for r in fake_stripe.requests if r.path == "/v1/balance"]
    assert seen and seen[-1].method == "GET"
    assert seen[-1].header("authorization") == f"Bearer {DEFAULT_KEY}"


async def test_stripe_live_key_is_ok_in_live_mode_from_the_answer() -> None:
    with FakeStripe(api_key=LIVE_KEY) as fake:
        result = await probe("stripe", stripe_config(fake))
    assert result.ok is True
    assert result.test_mode is False
    assert "live account" in result.message


async def test_stripe_wrong_key_is_refused_without_the_key(fake_stripe: FakeStripe) -> None:
    result = await probe("stripe", stripe_config(fake_stripe, WRONG_STRIPE_KEY))
    assert_failed(result, AuthenticationError, WRONG_STRIPE_KEY, DEFAULT_KEY)
    assert "401" in result.message
    assert "Invalid API Key" in result.message
    assert result.test_mode is True  # the key's prefix still tells


async def test_stripe_server_error_and_fake_down_are_ok_false() -> None:
    with FakeStripe() as fake:
        config = stripe_config(fake)
        fake.fail_next(500, path="/v1/balance")
        failing = await probe("stripe", config)
    down = await probe("stripe", config)  # the fake is stopped: nothing listens
    assert_failed(failing, TransientError, DEFAULT_KEY)
    assert "500" in failing.message
    assert_failed(down, TransientError, DEFAULT_KEY)
    assert "unreachable" in down.message


def test_stripe_key_prefix_tells_test_from_live() -> None:
    assert key_test_mode("sk_test_abc") is True
    assert key_test_mode("rk_test_abc") is True
    assert key_test_mode("sk_live_abc") is False
    assert key_test_mode("rk_live_abc") is False
    assert key_test_mode("pk_test_abc") is None


# --- PayPal --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake_paypal() -> Iterator[FakePayPal]:
    with FakePayPal() as server:
        yield server


def paypal_config(base_url: str, secret: str = CLIENT_SECRET) -> dict[str, Any]:
    return {
        "client_id": CLIENT_ID,
        "client_secret": secret,
        "webhook_id": WEBHOOK_ID,
        "base_url": base_url,
    }


class ToFake(httpx.AsyncBaseTransport):
    """Sends every request to the fake; records the host name it was meant for."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.hosts: list[str] = []
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.hosts.append(request.headers["Host"])
        moved = request.url.copy_with(scheme="http", host="127.0.0.1", port=self.port)
        forwarded = httpx.Request(
            request.method, moved, headers=request.headers, stream=request.stream
        )
        return await self.inner.handle_async_request(forwarded)

    async def aclose(self) -> None:
        await self.inner.aclose()


def paypal_hosts_factory(fake: FakePayPal) -> tuple[HttpClientFactory, ToFake]:
    """PayPal's real host names, answered by the fake (the test's DNS names no one else)."""

    async def resolver(host: str, port: int) -> list[str]:
        if host.endswith("paypal.com"):
            return ["66.211.168.123"]
        raise TransientError(f"no network in tests ({host})")

    transport = ToFake(fake.port)
    factory = HttpClientFactory(
        transport=transport, resolver=resolver, registry=CollectorRegistry()
    )
    return factory, transport


async def test_paypal_sandbox_host_is_ok_in_test_mode(fake_paypal: FakePayPal) -> None:
    factory, transport = paypal_hosts_factory(fake_paypal)
    before = fake_paypal.state.token_requests
    result = await probe(
        "paypal", paypal_config("https://api-m.sandbox.paypal.com"), factory=factory
    )
    assert result.ok is True
    assert result.test_mode is True
    assert "sandbox" in result.message
    assert transport.hosts == ["api-m.sandbox.paypal.com"]
    assert fake_paypal.state.token_requests == before + 1


async def test_paypal_live_host_is_ok_in_live_mode(fake_paypal: FakePayPal) -> None:
    factory, transport = paypal_hosts_factory(fake_paypal)
    result = await probe("paypal", paypal_config("https://api-m.paypal.com"), factory=factory)
    assert result.ok is True
    assert result.test_mode is False
    assert transport.hosts == ["api-m.paypal.com"]


async def test_paypal_other_base_url_is_ok_with_mode_unknown(fake_paypal: FakePayPal) -> None:
    result = await probe("paypal", paypal_config(fake_paypal.base_url))
    assert result.ok is True
    assert result.test_mode is None
    assert "unknown" in result.message


async def test_paypal_probe_fetches_a_fresh_token_each_time(fake_paypal: FakePayPal) -> None:
    gateway = build("paypal", paypal_config(fake_paypal.base_url))
    try:
        before = fake_paypal.state.token_requests
        assert (await gateway.probe()).ok
        assert (await gateway.probe()).ok
        assert fake_paypal.state.token_requests == before + 2
    finally:
        await gateway.close()


async def test_paypal_wrong_secret_is_refused_without_it(fake_paypal: FakePayPal) -> None:
    factory, _ = paypal_hosts_factory(fake_paypal)
    result = await probe(
        "paypal",
        paypal_config("https://api-m.sandbox.paypal.com", WRONG_PAYPAL_SECRET),
        factory=factory,
    )
    assert_failed(result, AuthenticationError, WRONG_PAYPAL_SECRET, CLIENT_SECRET)
    assert "invalid_client" in result.message
    assert result.test_mode is True  # where the credentials were tried


async def test_paypal_token_host_failing_and_fake_down_are_ok_false() -> None:
    with FakePayPal() as fake:
        config = paypal_config(fake.base_url)
        fake.fail_next(
            "POST",
            "/v1/oauth2/token",
            503,
            {"name": "SERVICE_UNAVAILABLE", "message": "Service Unavailable.", "debug_id": "x1"},
        )
        failing = await probe("paypal", config)
    down = await probe("paypal", config)
    assert_failed(failing, TransientError, CLIENT_SECRET)
    assert "503" in failing.message
    assert_failed(down, TransientError, CLIENT_SECRET)
    assert "without an answer" in down.message


def test_paypal_mode_comes_from_the_host_only() -> None:
    assert sandbox_of("https://api-m.sandbox.paypal.com") is True
    assert sandbox_of("https://api.sandbox.paypal.com/") is True
    assert sandbox_of("https://api-m.paypal.com") is False
    assert sandbox_of("https://API.PayPal.com") is False
    assert sandbox_of("https://api-m.sandbox.paypal.com.evil.example") is None
    assert sandbox_of("http://127.0.0.1:8080") is None


# --- CoinPayments --------------------------------------------------------------------------


@pytest.fixture
def fake_cp() -> Iterator[FakeCoinPayments]:
    server = FakeCoinPayments(
        public_key=CP_PUBLIC, private_key=CP_PRIVATE, merchant_id=CP_MERCHANT, ipn_secret=CP_IPN
    )
    with server:
        yield server


def cp_config(api_url: str, **changes: str) -> dict[str, Any]:
    return {
        "base_url": api_url,
        "merchant_id": CP_MERCHANT,
        "public_key": CP_PUBLIC,
        "private_key": CP_PRIVATE,
        "ipn_secret": CP_IPN,
        **changes,
    }


async def test_coinpayments_good_keys_are_ok_without_a_test_mode(
    fake_cp: FakeCoinPayments,
) -> None:
    result = await probe("coinpayments", cp_config(fake_cp.api_url))
    assert result.ok is True
    assert result.test_mode is None
    assert "no test mode" in result.message
    assert CP_MERCHANT in result.message
    assert [c.cmd for c in fake_cp.calls] == ["get_basic_info"]


async def test_coinpayments_wrong_private_key_is_refused_without_it(
    fake_cp: FakeCoinPayments,
) -> None:
    wrong = "NotThePrivateKey123456789"
    result = await probe("coinpayments", cp_config(fake_cp.api_url, private_key=wrong))
    assert_failed(result, AuthenticationError, wrong, CP_PRIVATE, CP_IPN)
    assert "HMAC signature does not match" in result.message
    assert fake_cp.refused == ["HMAC signature does not match"]


async def test_coinpayments_keys_of_another_merchant_are_refused(
    fake_cp: FakeCoinPayments,
) -> None:
    result = await probe("coinpayments", cp_config(fake_cp.api_url, merchant_id="othermerchant1"))
    assert_failed(result, AuthenticationError, CP_PRIVATE, CP_IPN)
    assert CP_MERCHANT in result.message and "othermerchant1" in result.message


async def test_coinpayments_key_without_get_basic_info_falls_back_to_rates(
    fake_cp: FakeCoinPayments,
) -> None:
    fake_cp.denied_commands.add("get_basic_info")
    result = await probe("coinpayments", cp_config(fake_cp.api_url))
    assert result.ok is True
    assert "not checked" in result.message
    assert [c.cmd for c in fake_cp.calls] == ["get_basic_info", "rates"]


async def test_coinpayments_unreadable_answer_and_fake_down_are_ok_false(
    fake_cp: FakeCoinPayments,
) -> None:
    config = cp_config(fake_cp.api_url)
    fake_cp.fail_next(status=502, body="<html>Bad gateway</html>")
    failing = await probe("coinpayments", config)
    fake_cp.stop()
    down = await probe("coinpayments", config)
    assert_failed(failing, TransientError, CP_PRIVATE)
    assert "502" in failing.message
    assert_failed(down, TransientError, CP_PRIVATE)
    assert "unreachable" in down.message


# --- the answer type -----------------------------------------------------------------------


def test_a_probe_answer_never_carries_a_secret_shape() -> None:
    answer = GatewayProbe(False, "refused sk_live_0123456789abcdefXYZ and Bearer abcdefgh12345")
    assert "0123456789abcdef" not in answer.message
    assert "abcdefgh12345" not in answer.message
    with pytest.raises(ValueError):
        GatewayProbe(True, "ok", error=AuthenticationError("no"))


@given(
    scheme=st.sampled_from(["http", "https"]),
    host=st.from_regex(r"[a-z0-9.-]{1,40}", fullmatch=True),
    port=st.one_of(st.none(), st.integers(1, 65535)),
)
def test_only_paypals_own_hosts_tell_the_mode(scheme: str, host: str, port: int | None) -> None:
    url = f"{scheme}://{host}" + (f":{port}" if port else "") + "/v1"
    found = sandbox_of(url)
    if host.rstrip(".") in {"api-m.sandbox.paypal.com", "api.sandbox.paypal.com"}:
        assert found is True
    elif host.rstrip(".") in {"api-m.paypal.com", "api.paypal.com"}:
        assert found is False
    else:
        assert found is None


@given(st.text(min_size=0, max_size=300))
def test_a_registered_secret_never_survives_in_a_probe_message(noise: str) -> None:
    secret = "GwProbeRegisteredSecret-0123456789"
    register_secret(secret)
    answer = GatewayProbe(False, f"{noise}{secret}{noise}")
    assert secret not in answer.message
