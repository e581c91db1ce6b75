from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from signalbridge.integrations.breaker import CircuitBreaker
from signalbridge.integrations.errors import (
    AmbiguousOutcome,
    CircuitOpen,
    InsufficientFunds,
    IntegrationError,
    RateLimited,
    TransientError,
)
from signalbridge.integrations.guard import ConnectionGuard, HealthListener, translate
from signalbridge.integrations.health import HealthState
from signalbridge.integrations.ratelimit import RateLimiter
from signalbridge.integrations.redaction import register_secret, secrets
from signalbridge.integrations.retry import RetryPolicy

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_guard(
    t: FakeTime,
    *,
    threshold: int = 3,
    attempts: int = 3,
    on_health: HealthListener | None = None,
) -> ConnectionGuard:
    limiter = RateLimiter(sleep=t.sleep, clock=t.clock).for_connection("binance", "acct")
    return ConnectionGuard(
        "conn-9",
        breaker=CircuitBreaker("conn-9", failure_threshold=threshold, cooldown=30, clock=t.clock),
        retry_policy=RetryPolicy(
            attempts=attempts, base_backoff=1.0, jitter=0.0, sleep=t.sleep, clock=t.clock
        ),
        limiter=limiter,
        now=lambda: NOW,
        on_health=on_health,
    )


class Script:
    def __init__(self, *outcomes: object) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    async def __call__(self) -> object:
        self.calls += 1
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


async def test_success_updates_health() -> None:
    t = FakeTime()
    published: list[HealthState] = []

    async def on_health(state: HealthState) -> None:
        published.append(state.copy())

    guard = make_guard(t, on_health=on_health)
    assert await guard.call(Script("fine"), idempotent=True) == "fine"
    assert guard.health.last_success_at == NOW and guard.health.consecutive_failures == 0
    assert len(published) == 1


async def test_retries_then_health_failure_and_breaker_opens() -> None:
    t = FakeTime()
    guard = make_guard(t, threshold=3, attempts=3)
    fn = Script(*[TransientError("502")] * 5)
    with pytest.raises(TransientError):
        await guard.call(fn, idempotent=True)
    assert fn.calls == 3
    assert guard.health.consecutive_failures == 1 and guard.health.error_count == 1
    assert "502" in (guard.health.last_error or "")
    assert (await guard.breaker.state()).state == "open"
    with pytest.raises(CircuitOpen):
        await guard.call(fn, idempotent=True)
    assert fn.calls == 3  # no call while open; not retried either


async def test_rate_limited_sets_gate_and_next_attempt_waits() -> None:
    t = FakeTime()
    guard = make_guard(t)
    start = t.now
    fn = Script(RateLimited("429", retry_after=9.0), "ok")
    assert await guard.call(fn, idempotent=True) == "ok"
    assert fn.calls == 2
    assert t.now - start >= 9.0
    assert guard.limiter is not None and await guard.limiter.not_before() == start + 9.0


async def test_business_error_passes_through_without_health_failure() -> None:
    t = FakeTime()
    guard = make_guard(t, threshold=1)
    with pytest.raises(InsufficientFunds):
        await guard.call(Script(InsufficientFunds("margin")), idempotent=False)
    assert guard.health.consecutive_failures == 0
    assert (await guard.breaker.state()).state == "closed"


async def test_foreign_errors_are_translated_and_redacted() -> None:
    secrets.clear()
    register_secret("SECRET-CANARY-123456")
    t = FakeTime()
    guard = make_guard(t, attempts=1)
    with pytest.raises(IntegrationError) as info:
        await guard.call(Script(KeyError("SECRET-CANARY-123456")), idempotent=True)
    assert type(info.value) is IntegrationError
    assert "SECRET-CANARY-123456" not in str(info.value)
    assert info.value.connection_id == "conn-9"
    secrets.clear()


async def test_write_without_key_transport_error_is_ambiguous_and_not_retried() -> None:
    t = FakeTime()
    guard = make_guard(t)
    fn = Script(httpx.ReadTimeout("timed out"))
    with pytest.raises(AmbiguousOutcome):
        await guard.call(fn, idempotent=False)
    assert fn.calls == 1


async def test_write_with_lookup_finds_order_instead_of_resending() -> None:
    t = FakeTime()
    guard = make_guard(t)
    fn = Script(httpx.RemoteProtocolError("reset"), "second")
    lookup = Script("found-first")
    assert await guard.call(fn, idempotent=False, lookup=lookup) == "found-first"
    assert fn.calls == 1 and lookup.calls == 1


def test_translate_connect_error_is_transient() -> None:
    exc = translate(httpx.ConnectError("refused"), connection_id="c", idempotent=False)
    assert isinstance(exc, TransientError) and exc.connection_id == "c"
