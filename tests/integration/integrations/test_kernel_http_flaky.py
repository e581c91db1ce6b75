"""The HTTP factory and the connection guard against a real loopback server that misbehaves."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import CollectorRegistry
from tests.fakes.flaky_server import FlakyServer, Reply, gzip_bomb_bytes

from signalbridge.integrations.breaker import CircuitBreaker
from signalbridge.integrations.errors import (
    AmbiguousOutcome,
    CircuitOpen,
    RateLimited,
    TransientError,
)
from signalbridge.integrations.guard import ConnectionGuard
from signalbridge.integrations.http import (
    HttpClientFactory,
    HttpConfig,
    ResponseDeadlineExceeded,
    ResponseTooLarge,
    fetch,
)
from signalbridge.integrations.ratelimit import RateLimiter
from signalbridge.integrations.retry import RetryPolicy


@pytest.fixture
def server() -> Iterator[FlakyServer]:
    with FlakyServer() as s:
        yield s


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_guard(t: FakeTime, *, attempts: int = 4, threshold: int = 5) -> ConnectionGuard:
    return ConnectionGuard(
        "conn-http",
        breaker=CircuitBreaker(
            "conn-http", failure_threshold=threshold, cooldown=60, clock=t.clock
        ),
        retry_policy=RetryPolicy(
            attempts=attempts,
            base_backoff=0.5,
            max_backoff=4,
            jitter=0.0,
            total_budget=60,
            sleep=t.sleep,
            clock=t.clock,
        ),
        limiter=RateLimiter(sleep=t.sleep, clock=t.clock).for_connection("fakeex", "acct"),
    )


async def call_api(client: httpx.AsyncClient, method: str, path: str) -> str:
    """A minimal adapter: HTTP status → our exception tree."""
    response = await client.request(method, path)
    if response.status_code in (429, 418):
        retry_after = float(response.headers.get("retry-after", "1"))
        raise RateLimited(
            f"HTTP {response.status_code}",
            retry_after=retry_after,
            banned=response.status_code == 418,
        )
    if response.status_code >= 500:
        raise TransientError(f"HTTP {response.status_code}")
    return response.text


def factory(server: FlakyServer, **cfg: float) -> tuple[HttpClientFactory, CollectorRegistry]:
    registry = CollectorRegistry()
    config = HttpConfig(**{"read_timeout": 0.3, "total_timeout": 2.0, **cfg})  # type: ignore[arg-type]
    return HttpClientFactory(config=config, registry=registry), registry


async def test_5xx_burst_is_retried_with_controlled_clock(server: FlakyServer) -> None:
    server.script("/t", Reply(503), Reply(502), Reply(500))
    t = FakeTime()
    f, registry = factory(server)
    async with f.create("conn-http", base_url=server.url()) as client:
        real_start = time.monotonic()
        result = await make_guard(t).call(lambda: call_api(client, "GET", "/t"), idempotent=True)
        real_elapsed = time.monotonic() - real_start
    assert result == "ok"
    assert len(server.hits_for("/t")) == 4
    assert t.sleeps == [0.5, 1.0, 2.0]
    assert real_elapsed < sum(t.sleeps)  # the backoff went to the fake clock, not real time
    assert (
        registry.get_sample_value(
            "signalbridge_http_requests_total",
            {"connection": "conn-http", "method": "GET", "status": "503"},
        )
        == 1
    )


async def test_always_failing_gives_up_within_attempts(server: FlakyServer) -> None:
    server.set_default("/down", Reply(503))
    t = FakeTime()
    f, _ = factory(server)
    guard = make_guard(t, attempts=3)
    async with f.create("conn-http", base_url=server.url()) as client:
        with pytest.raises(TransientError):
            await guard.call(lambda: call_api(client, "GET", "/down"), idempotent=True)
    assert len(server.hits_for("/down")) == 3
    assert t.now - 1_700_000_000.0 == pytest.approx(1.5)
    assert guard.health.consecutive_failures == 1


async def test_connection_reset_read_retried_post_not(server: FlakyServer) -> None:
    server.script("/r", Reply(reset=True))
    server.script("/order", Reply(reset=True))
    t = FakeTime()
    f, registry = factory(server)
    async with f.create("conn-http", base_url=server.url()) as client:
        guard = make_guard(t)
        assert await guard.call(lambda: call_api(client, "GET", "/r"), idempotent=True) == "ok"
        with pytest.raises(AmbiguousOutcome):
            await guard.call(lambda: call_api(client, "POST", "/order"), idempotent=False)
    assert len(server.hits_for("/r")) == 2
    assert len(server.hits_for("/order")) == 1  # never a second POST without a key
    errors = registry.get_sample_value(
        "signalbridge_http_errors_total", {"connection": "conn-http", "error": "ReadError"}
    ) or registry.get_sample_value(
        "signalbridge_http_errors_total",
        {"connection": "conn-http", "error": "RemoteProtocolError"},
    )
    assert errors and errors >= 1


async def test_read_timeout_is_transient(server: FlakyServer) -> None:
    server.script("/slow", Reply(delay=1.0))
    t = FakeTime()
    f, _ = factory(server, read_timeout=0.2)
    async with f.create("conn-http", base_url=server.url()) as client:
        result = await make_guard(t).call(lambda: call_api(client, "GET", "/slow"), idempotent=True)
    assert result == "ok"
    assert len(server.hits_for("/slow")) == 2


async def test_429_nothing_sent_before_retry_after(server: FlakyServer) -> None:
    server.script("/rl", Reply.rate_limited(3.0))
    t = FakeTime()
    sent_at: list[float] = []
    f, _ = factory(server)
    guard = make_guard(t)
    async with f.create("conn-http", base_url=server.url()) as client:

        async def call() -> str:
            sent_at.append(t.now)
            return await call_api(client, "GET", "/rl")

        assert await guard.call(call, idempotent=True) == "ok"
    assert len(sent_at) == 2
    assert sent_at[1] - sent_at[0] >= 3.0


async def test_418_ban_longer_than_budget_stops_and_gates_everyone(server: FlakyServer) -> None:
    server.script("/ban", Reply.rate_limited(600, status=418))
    t = FakeTime()
    f, _ = factory(server)
    guard = make_guard(t)
    async with f.create("conn-http", base_url=server.url()) as client:
        with pytest.raises(RateLimited) as info:
            await guard.call(lambda: call_api(client, "GET", "/ban"), idempotent=True)
        assert info.value.banned
        with pytest.raises(RateLimited):  # the gate now refuses without sending
            await guard.call(lambda: call_api(client, "GET", "/other"), idempotent=True)
    assert len(server.hits) == 1


async def test_breaker_opens_on_5xx_and_stops_calls(server: FlakyServer) -> None:
    server.set_default("/x", Reply(500))
    t = FakeTime()
    f, _ = factory(server)
    guard = make_guard(t, attempts=1, threshold=3)
    async with f.create("conn-http", base_url=server.url()) as client:
        for _ in range(3):
            with pytest.raises(TransientError):
                await guard.call(lambda: call_api(client, "GET", "/x"), idempotent=True)
        for _ in range(5):
            with pytest.raises(CircuitOpen):
                await guard.call(lambda: call_api(client, "GET", "/x"), idempotent=True)
        assert len(server.hits) == 3
        t.now += 60
        server.set_default("/x", Reply(200, body=b"back"))
        assert await guard.call(lambda: call_api(client, "GET", "/x"), idempotent=True) == "back"
    assert (await guard.breaker.state()).state == "closed"


async def test_gzip_bomb_cut_at_cap_with_bounded_memory(server: FlakyServer) -> None:
    size = 100 * 1024 * 1024
    server.set_default("/bomb", Reply(gzip_bomb=size))
    assert len(gzip_bomb_bytes(size)) < 200 * 1024  # ~100 KB on the wire
    f, _ = factory(server, max_response_bytes=1024 * 1024)
    async with f.create("scrape", base_url=server.url()) as client:
        tracemalloc.start()
        try:
            with pytest.raises(ResponseTooLarge):
                await client.get("/bomb")
            with pytest.raises(ResponseTooLarge):
                await fetch(client, "GET", "/bomb", max_bytes=256 * 1024)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 16 * 1024 * 1024  # measured ~3 MB; inflating it whole would take 100 MB


async def test_slow_endless_body_cut_at_total_timeout(server: FlakyServer) -> None:
    server.set_default("/drip", Reply(drip=0.02))
    f, _ = factory(server, read_timeout=5.0, total_timeout=0.3)
    async with f.create("scrape", base_url=server.url()) as client:
        start = time.monotonic()
        with pytest.raises(ResponseDeadlineExceeded):
            await client.get("/drip")
        # the drip never pauses long enough for the 5 s read timeout: only the total
        # deadline can end it, so finishing before the read timeout proves the cut
        assert time.monotonic() - start < 5.0
        start = time.monotonic()
        with pytest.raises(ResponseDeadlineExceeded):
            await fetch(client, "GET", "/drip", max_bytes=10**9, deadline=0.2)
        assert time.monotonic() - start < 5.0


async def test_hung_server_cut_at_total_timeout(server: FlakyServer) -> None:
    server.set_default("/hang", Reply(delay=3.0))
    f, registry = factory(server, read_timeout=10.0, total_timeout=0.3)
    async with f.create("scrape", base_url=server.url()) as client:
        with pytest.raises(ResponseDeadlineExceeded):
            await client.get("/hang")
    assert (
        registry.get_sample_value(
            "signalbridge_http_errors_total",
            {"connection": "scrape", "error": "ResponseDeadlineExceeded"},
        )
        == 1
    )


async def test_concurrent_calls_share_one_client(server: FlakyServer) -> None:
    f, _ = factory(server)
    async with f.create("c", base_url=server.url()) as client:
        results = await asyncio.gather(*(client.get(f"/p{i}") for i in range(20)))
    assert all(r.status_code == 200 for r in results)
    assert len(server.hits) == 20
