"""Reliability row 28: canary credentials never show up in logs, errors or reprs."""

from __future__ import annotations

import io
import logging
import traceback
from collections.abc import Iterator

import httpx
import pytest
import structlog
from prometheus_client import CollectorRegistry
from tests.fakes.flaky_server import FlakyServer, Reply

from signalbridge.integrations import redaction
from signalbridge.integrations.breaker import CircuitBreaker
from signalbridge.integrations.errors import IntegrationError, TransientError
from signalbridge.integrations.guard import ConnectionGuard
from signalbridge.integrations.http import HttpClientFactory, HttpConfig
from signalbridge.integrations.logging import configure_logging
from signalbridge.integrations.retry import RetryPolicy
from signalbridge.integrations.vault import Vault, generate_key

API_KEY = "CANARYKEY-a1b2c3d4e5f6"
API_SECRET = "CANARYSECRET-0f9e8d7c6b5a"
BEARER = "CANARYBEARER-77aa88bb99cc"
SIGNATURE = "CANARYSIG-1234abcd5678"
CANARIES = (API_KEY, API_SECRET, BEARER, SIGNATURE)


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = configure_logging("DEBUG", json=True, stream=stream)
    yield stream
    logging.getLogger().removeHandler(handler)
    logging.getLogger().setLevel(logging.WARNING)
    structlog.reset_defaults()
    redaction.secrets.clear()


async def no_sleep(_: float) -> None:
    return None


async def test_canaries_never_leak(
    log_stream: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    vault = Vault([generate_key()])
    aad = b"execution_connections:1:api_secret"
    token = vault.encrypt(API_SECRET, aad)
    secret = vault.decrypt(token, aad)
    # What the credential loader does with every decrypted secret:
    redaction.register_secret(API_KEY)
    redaction.register_secret(secret)

    with FlakyServer() as server:
        server.set_default(
            "/api/order", Reply(500, body=f"bad key {API_KEY} / {API_SECRET}".encode())
        )
        factory = HttpClientFactory(
            config=HttpConfig(total_timeout=5), registry=CollectorRegistry()
        )
        client = factory.create(
            "conn-canary",
            base_url=server.url(),
            headers={"Authorization": f"Bearer {BEARER}", "X-MBX-APIKEY": API_KEY},
        )
        guard = ConnectionGuard(
            "conn-canary",
            breaker=CircuitBreaker("conn-canary"),
            retry_policy=RetryPolicy(attempts=2, sleep=no_sleep),
        )
        log = structlog.get_logger("adapter.test")

        async def place() -> str:
            response = await client.get(
                "/api/order",
                params={"symbol": "BTCUSDT", "signature": SIGNATURE, "api_key": API_KEY},
            )
            log.debug("sent", headers=dict(response.request.headers), url=str(response.request.url))
            if response.status_code >= 500:
                raise TransientError(f"HTTP {response.status_code}: {response.text}")
            return response.text

        with pytest.raises(IntegrationError) as info:
            await guard.call(place, idempotent=True)
        log.exception("order failed", error=info.value, api_secret=secret)
        logging.getLogger("adapter.stdlib").error("failed for key %s", API_KEY, exc_info=info.value)

        async def boom() -> str:
            raise RuntimeError(f"vendor lib exploded with secret={API_SECRET} key {API_KEY}")

        with pytest.raises(IntegrationError) as foreign:
            await guard.call(boom, idempotent=True)
        texts = [
            log_stream.getvalue(),
            caplog.text,
            str(info.value),
            repr(info.value),
            str(foreign.value),
            repr(foreign.value),
            "".join(traceback.format_exception(foreign.value)),
            repr(client),
            repr(guard),
            repr(vault),
            repr(factory),
            guard.health.last_error or "",
            str(guard.health.to_dict()),
        ]
        await client.aclose()
        assert len(server.hits) == 2 and server.hits[0].headers["x-mbx-apikey"] == API_KEY
    assert "HTTP Request" in log_stream.getvalue()  # httpx's own log line went through
    assert '"event": "order failed"' in log_stream.getvalue()
    assert '"x-mbx-apikey": "****"' in log_stream.getvalue()
    assert "signature=****" in caplog.text
    for text in texts:
        for canary in CANARIES:
            assert canary not in text


def test_httpx_request_repr_and_url_redaction() -> None:
    url = httpx.URL("https://api.test/x", params={"signature": SIGNATURE, "apikey": API_KEY})
    assert SIGNATURE not in redaction.redact_url(str(url))
    assert API_KEY not in redaction.redact_url(str(url))
