"""CoinPayments registration, configuration, capabilities and error translation (no I/O)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from signalbridge.bootstrap import build_registry
from signalbridge.integrations.errors import (
    AmbiguousOutcome,
    AuthenticationError,
    InvalidRequest,
    RateLimited,
    TransientError,
)
from signalbridge.integrations.http import HttpClientFactory
from signalbridge.integrations.registry import AdapterConfigError
from signalbridge.payments import (
    BillingInterval,
    CheckoutRequest,
    GatewayDeps,
    PaymentGateway,
    PlanTerms,
    build_gateway,
)
from signalbridge.payments.coinpayments import CoinPaymentsGateway
from signalbridge.payments.coinpayments.config import DEFAULT_BASE_URL
from signalbridge.payments.coinpayments.errors import api_error, http_error, transport_error

PRIVATE_KEY = "priv-canary-7f3e9a1b2c"
IPN_SECRET = "ipn-canary-5d4c3b2a19"
CONFIG: dict[str, Any] = {
    "merchant_id": "m0123abc",
    "public_key": "pub0123abc",
    "private_key": PRIVATE_KEY,
    "ipn_secret": IPN_SECRET,
}
ONE_TIME = PlanTerms(plan_id=3, name="Gold", interval=BillingInterval.ONE_TIME)
REQUEST = CheckoutRequest(
    plan=ONE_TIME,
    price=Decimal("19.99"),
    currency="USD",
    payment_id=42,
    user_id=7,
    success_url="https://hub.example/ok",
    cancel_url="https://hub.example/cancel",
    email="ann@example.com",
)


def gateway(**changes: Any) -> PaymentGateway:
    registry = build_registry()
    public, secrets = registry.split_config("payment", "coinpayments", {**CONFIG, **changes})
    deps = GatewayDeps(http_factory=HttpClientFactory())
    return build_gateway(registry, "coinpayments", "cp-1", public, secrets, deps)


def test_bootstrap_registers_coinpayments_with_its_secrets_sealed_apart() -> None:
    registry = build_registry()
    assert "coinpayments" in registry.types("payment")
    public, secrets = registry.split_config(
        "payment", "coinpayments", {**CONFIG, "fee_rate": "0.01", "fixed_fee": "0.30"}
    )
    assert secrets == {"private_key": PRIVATE_KEY, "ipn_secret": IPN_SECRET}
    assert public["base_url"] == DEFAULT_BASE_URL == "https://www.coinpayments.net/api.php"
    assert public["fee_rate"] == "0.01" and public["fixed_fee"] == "0.30"
    assert public["accepted_coins"] == ["BTC"] and public["merchant_id"] == "m0123abc"
    assert PRIVATE_KEY not in str(public) and IPN_SECRET not in str(public)


@pytest.mark.parametrize(
    "changes",
    [
        {"base_url": "file:///etc/passwd"},
        {"base_url": "http://user:pw@127.0.0.1/api.php"},
        {"ipn_url": "gopher://x"},
        {"accepted_coins": ["btc"]},
        {"accepted_coins": []},
        {"accepted_coins": ["BTC", "BTC"]},
        {"price_currencies": ["dollars"]},
        {"fee_rate": "1"},
        {"fee_rate": "-0.1"},
        {"fixed_fee": "NaN"},
        {"merchant_id": "m 1"},
        {"surprise": 1},
        {"private_key": "**********"},
    ],
)
def test_bad_configuration_is_refused_without_echoing_secrets(changes: dict[str, Any]) -> None:
    with pytest.raises(AdapterConfigError) as caught:
        build_registry().split_config("payment", "coinpayments", {**CONFIG, **changes})
    assert PRIVATE_KEY not in str(caught.value) and IPN_SECRET not in str(caught.value)


def test_from_config_refuses_a_bad_row_with_our_error() -> None:
    with pytest.raises(InvalidRequest, match="invalid CoinPayments configuration") as caught:
        CoinPaymentsGateway.from_config("cp-1", {"merchant_id": "m"}, {}, deps=GatewayDeps())
    assert "public_key" in str(caught.value)


async def test_capabilities_sell_one_time_plans_only_and_list_no_events() -> None:
    gw = gateway(price_currencies=["USD"], accepted_coins=["LTCT", "BTC"])
    caps = gw.capabilities
    assert (caps.subscriptions, caps.one_time, caps.event_listing) == (False, True, False)
    monthly = PlanTerms(plan_id=4, name="Monthly", interval=BillingInterval.MONTH)
    cases = [
        (replace(REQUEST, plan=monthly), "recurring"),
        (replace(REQUEST, currency="EUR"), "does not take EUR"),
        (replace(REQUEST, pay_currency="ETH"), "takes LTCT, BTC, not ETH"),
        (replace(REQUEST, email=None), "email"),
    ]
    for request, why in cases:
        with pytest.raises(InvalidRequest, match=why):
            await gw.create_checkout(request)  # refused before any call (no server exists)
    assert [e async for e in gw.list_events(datetime(2026, 1, 1, tzinfo=UTC))] == []
    await gw.close()


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("HMAC signature does not match", AuthenticationError),
        ("No HMAC signature sent.", AuthenticationError),
        ("Invalid API public key passed!", AuthenticationError),
        ("This API Key does not have permission to use that command!", AuthenticationError),
        ("API rate limit exceeded", RateLimited),
        ("Too many requests", RateLimited),
        ("Site is in maintenance mode, try again later", TransientError),
        ("Invalid currency2 coin!", InvalidRequest),
        ("Invalid or unknown transaction ID!", InvalidRequest),
        ("", InvalidRequest),
    ],
)
def test_envelope_errors_are_translated(message: str, kind: type[Exception]) -> None:
    error = api_error(message, "create_transaction", connection_id="cp-1")
    assert type(error) is kind
    assert error.connection_id == "cp-1"
    assert str(error).startswith("CoinPayments refused create_transaction: ")


def test_an_envelope_error_quoting_a_secret_is_scrubbed() -> None:
    from signalbridge.integrations.redaction import register_secret

    register_secret(PRIVATE_KEY)
    error = api_error(f"bad key {PRIVATE_KEY}", "rates")
    assert PRIVATE_KEY not in str(error)


def test_http_and_transport_failures_of_a_create_are_ambiguous_and_of_a_read_transient() -> None:
    assert type(http_error(502, "create_transaction", write=True)) is AmbiguousOutcome
    assert type(http_error(502, "get_tx_info", write=False)) is TransientError
    assert type(http_error(429, "rates", write=False)) is RateLimited
    assert type(http_error(403, "rates", write=False)) is AuthenticationError
    assert type(http_error(404, "rates", write=False)) is InvalidRequest
    request = httpx.Request("POST", "https://www.coinpayments.net/api.php")
    refused = httpx.ConnectError("refused", request=request)
    cut = httpx.ReadTimeout("slow", request=request)
    assert type(transport_error(refused, "create_transaction", write=True)) is TransientError
    assert type(transport_error(cut, "create_transaction", write=True)) is AmbiguousOutcome
    assert type(transport_error(cut, "get_tx_info", write=False)) is TransientError
    assert AmbiguousOutcome("x").counts_for_breaker and not InvalidRequest("x").counts_for_breaker
