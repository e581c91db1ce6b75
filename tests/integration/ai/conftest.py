"""Fakes and builders for the AI adapter tests: one fake server of each flavour per module."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from tests.fakes.loopback import loopback_http_factory
from tests.fakes.openai_compat import FakeOpenAI

from signalbridge.ai.client import ChatClient
from signalbridge.ai.registration import openai_compatible_client, openrouter_client
from signalbridge.integrations.breaker import BreakerMetrics, MemoryBreakerStore
from signalbridge.integrations.http import HttpClientFactory, HttpConfig
from signalbridge.integrations.kernel import Kernel
from signalbridge.integrations.ratelimit import RateLimiter

MakeClient = Callable[..., ChatClient]


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-fake-openai-KEY0123456789") as server:
        yield server


@pytest.fixture(scope="module")
def router_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-or-v1-fakeROUTERkey0123456789", flavour="openrouter") as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeOpenAI) -> FakeOpenAI:
    fake_server.reset()
    return fake_server


@pytest.fixture
def router(router_server: FakeOpenAI) -> FakeOpenAI:
    router_server.reset()
    router_server.down_models.clear()
    return router_server


@pytest.fixture
def http_factory() -> HttpClientFactory:
    # The fakes speak plain HTTP: no certificate is ever checked, and not loading the CA
    # bundle for every client's first connection saves ~0.2 s per client.
    return loopback_http_factory(config=HttpConfig(verify=False))


@pytest.fixture
def kernel() -> Kernel:
    return Kernel(
        breaker_store=MemoryBreakerStore(),
        limiter=RateLimiter(),
        metrics=BreakerMetrics(CollectorRegistry()),
        failure_threshold=3,
    )


@pytest.fixture
async def make_client(http_factory: HttpClientFactory) -> Any:
    """``make_client(server, config_id=1, priority=0, **config)``; closed after the test."""
    made: list[ChatClient] = []

    def build(
        server: FakeOpenAI, config_id: int = 1, priority: int = 0, **changes: Any
    ) -> ChatClient:
        config = server.config(**changes)
        key = config.pop("api_key", None)
        factory = openrouter_client if server.flavour == "openrouter" else openai_compatible_client
        client = factory(
            config_id,
            config,
            {} if key is None else {"api_key": key},
            http_factory=http_factory,
            priority=priority,
        )
        made.append(client)
        return client

    yield build
    for client in made:
        await client.aclose()
