"""``POST /api/v1/payment-gateways/{id}/test`` on the running platform, against the fakes:
the gateway's probe runs through the connection's guard, its answer shows ``test_mode``,
failures are 200 with ``ok: false`` (never a 5xx, never a secret), and they reach
``connection_health`` (kind "payment") and the gateway's detail like any connection's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests.fakes.coinpayments import FakeCoinPayments
from tests.fakes.loopback import LOOPBACK_HOSTS
from tests.fakes.paypal import CLIENT_ID, CLIENT_SECRET, WEBHOOK_ID, FakePayPal
from tests.fakes.stripe import FakeStripe
from tests.platform_fixtures import Harness, make_settings, running_harness

from signalbridge.integrations.errors import TransientError
from signalbridge.payments.base import Subject, SubjectKind
from signalbridge.store import models as m

WRONG_KEY = "sk_test_51WrongKeyForTheProbe0123456789"
WEBHOOK_SECRET = "whsec_httpProbeSecret0123456789"


@pytest.fixture
async def h(tmp_path: Path, database_url: str) -> AsyncIterator[Harness]:
    settings = make_settings(tmp_path, database_url, allowed_hosts=list(LOOPBACK_HOSTS))
    async with running_harness(settings) as harness:
        yield harness


async def add_gateway(h: Harness, type_: str, config: dict[str, Any], name: str = "gw") -> int:
    body = await h.ok(
        "POST", "/payment-gateways", json={"name": name, "type": type_, "config": config}
    )
    return int(body["id"])


async def probe_gateway(h: Harness, gateway_id: int) -> dict[str, Any]:
    response = await h.api("POST", f"/payment-gateways/{gateway_id}/test")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def health_row(h: Harness, gateway_id: int) -> m.ConnectionHealth | None:
    async with h.container.sessions() as s:
        found: m.ConnectionHealth | None = await s.scalar(
            select(m.ConnectionHealth).where(
                m.ConnectionHealth.kind == "payment",
                m.ConnectionHealth.connection_id == gateway_id,
            )
        )
    return found


def stripe_config(fake: FakeStripe, api_key: str) -> dict[str, Any]:
    return {"api_key": api_key, "webhook_secret": WEBHOOK_SECRET, "base_url": fake.base_url}


async def test_stripe_probe_shows_test_mode_and_failures_reach_health(h: Harness) -> None:
    with FakeStripe() as fake:
        gateway_id = await add_gateway(h, "stripe", stripe_config(fake, WRONG_KEY))

        refused = await probe_gateway(h, gateway_id)
        assert refused["ok"] is False
        assert refused["error_class"] == "AuthenticationError"
        assert "401" in refused["message"] and "Invalid API Key" in refused["message"]
        assert refused["test_mode"] is True
        assert WRONG_KEY not in str(refused) and fake.api_key not in str(refused)

        detail = await h.ok("GET", f"/payment-gateways/{gateway_id}")
        assert detail["health"]["consecutive_failures"] == 1
        assert "AuthenticationError" in detail["health"]["last_error"]
        assert WRONG_KEY not in str(detail)
        assert detail["breaker"]["state"] == "closed"
        row = await health_row(h, gateway_id)
        assert row is not None and row.error_count == 1

        # the operator replaces the key: the next test uses it and health recovers
        await h.ok(
            "PUT", f"/payment-gateways/{gateway_id}/credentials", json={"api_key": fake.api_key}
        )
        good = await probe_gateway(h, gateway_id)
        assert good["ok"] is True
        assert good["test_mode"] is True
        assert "test-mode" in good["message"]
        assert "error_class" not in good
        assert fake.api_key not in str(good)
        listed = await h.ok("GET", "/payment-gateways")
        mine = next(item for item in listed["items"] if item["id"] == gateway_id)
        assert mine["health"]["consecutive_failures"] == 0
        assert mine["health"]["last_success_at"] is not None
        assert mine["health"]["error_count"] == 1
    # the fake is gone: a transient failure, retried by the kernel, then ok false
    down = await probe_gateway(h, gateway_id)
    assert down["ok"] is False
    assert down["error_class"] == "TransientError"
    assert "unreachable" in down["message"]
    after = await h.ok("GET", f"/payment-gateways/{gateway_id}")
    assert after["health"]["consecutive_failures"] == 1
    assert after["breaker"]["failures"] >= 1


async def test_paypal_and_coinpayments_probes_over_http(h: Harness) -> None:
    with FakePayPal() as paypal, FakeCoinPayments() as cp:
        paypal_id = await add_gateway(
            h,
            "paypal",
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "webhook_id": WEBHOOK_ID,
                "base_url": paypal.base_url,
            },
            name="paypal",
        )
        cp_id = await add_gateway(
            h,
            "coinpayments",
            {
                "base_url": cp.api_url,
                "merchant_id": cp.merchant_id,
                "public_key": cp.public_key,
                "private_key": cp.private_key,
                "ipn_secret": cp.ipn_secret,
            },
            name="coins",
        )
        pp = await probe_gateway(h, paypal_id)
        coins = await probe_gateway(h, cp_id)
        assert pp["ok"] is True and pp["test_mode"] is None  # a loopback URL: unknown
        assert "PayPal accepted" in pp["message"]
        assert coins["ok"] is True and coins["test_mode"] is None
        assert "no test mode" in coins["message"]
        assert CLIENT_SECRET not in str(pp) and cp.private_key not in str(coins)

        # a wrong PayPal secret: ok false, the reason, no secret
        wrong = "EWrongSecret_for_the_http_probe_0123456789"
        await h.ok(
            "PUT", f"/payment-gateways/{paypal_id}/credentials", json={"client_secret": wrong}
        )
        refused = await probe_gateway(h, paypal_id)
        assert refused["ok"] is False and refused["error_class"] == "AuthenticationError"
        assert "invalid_client" in refused["message"]
        assert wrong not in str(refused) and CLIENT_SECRET not in str(refused)

        # an inactive gateway can still be tested (before it is switched on)
        await h.ok("POST", f"/payment-gateways/{cp_id}/deactivate")
        assert (await probe_gateway(h, cp_id))["ok"] is True


async def test_the_flows_gateway_failures_reach_health(h: Harness) -> None:
    """Not only probes: any call the payment flow makes through its directory is counted."""
    with FakeStripe() as fake:
        gateway_id = await add_gateway(h, "stripe", stripe_config(fake, fake.api_key))
        live = await h.container.payments.directory.get(gateway_id)
    assert live.guard is not None
    with pytest.raises(TransientError):
        await live.read(
            lambda: live.gateway.fetch_state(Subject(SubjectKind.CHECKOUT, "cs_test_gone"))
        )
    row = await health_row(h, gateway_id)
    assert row is not None
    assert row.consecutive_failures == 1
    assert row.last_error is not None and "unreachable" in row.last_error
    detail = await h.ok("GET", f"/payment-gateways/{gateway_id}")
    assert detail["health"]["consecutive_failures"] == 1
    assert detail["breaker"]["failures"] >= 1


async def test_a_gateway_that_cannot_be_built_is_ok_false(h: Harness) -> None:
    with FakeStripe() as fake:
        gateway_id = await add_gateway(h, "stripe", stripe_config(fake, fake.api_key))
    async with h.container.sessions() as s, s.begin():
        row = await s.get(m.PaymentGateway, gateway_id)
        assert row is not None
        row.secrets_enc = "not sealed by this vault"
    answer = await probe_gateway(h, gateway_id)
    assert answer["ok"] is False
    assert "secrets cannot be read" in answer["message"]


async def test_an_open_breaker_answers_ok_false_without_calling(h: Harness) -> None:
    with FakeStripe() as fake:
        gateway_id = await add_gateway(h, "stripe", stripe_config(fake, fake.api_key))
        breaker = h.container.kernel.breaker("payment", gateway_id)
        for _ in range(h.container.kernel.failure_threshold):
            await breaker.record_failure(TransientError("Stripe unreachable (test)"))
        calls = len(fake.requests)
        answer = await probe_gateway(h, gateway_id)
        assert answer["ok"] is False
        assert answer["error_class"] == "CircuitOpen"
        assert len(fake.requests) == calls  # not attempted
        await h.ok("POST", f"/payment-gateways/{gateway_id}/breaker/reset")
        assert (await probe_gateway(h, gateway_id))["ok"] is True
