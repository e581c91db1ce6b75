from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from signalbridge.integrations.breaker import BreakerMetrics, CircuitBreaker
from signalbridge.integrations.errors import (
    AmbiguousOutcome,
    CircuitOpen,
    InsufficientFunds,
    InvalidRequest,
    TransientError,
)


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


class Dependency:
    def __init__(self) -> None:
        self.calls = 0
        self.error: Exception | None = TransientError("503")

    async def __call__(self) -> str:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return "ok"


async def test_opens_fails_fast_half_opens_and_closes() -> None:
    clock = Clock()
    registry = CollectorRegistry()
    breaker = CircuitBreaker(
        "conn-1",
        failure_threshold=3,
        cooldown=10.0,
        clock=clock,
        metrics=BreakerMetrics(registry),
    )
    dep = Dependency()
    for _ in range(3):
        with pytest.raises(TransientError):
            await breaker.call(dep)
    snap = await breaker.state()
    assert snap.state == "open" and snap.failures == 3 and snap.retry_in == pytest.approx(10.0)
    assert registry.get_sample_value("signalbridge_breaker_state", {"connection": "conn-1"}) == 2

    for _ in range(5):
        with pytest.raises(CircuitOpen) as info:
            await breaker.call(dep)
    assert dep.calls == 3  # no calls while open
    assert info.value.retry_in == pytest.approx(10.0)
    assert info.value.connection_id == "conn-1"

    clock.now += 10.0
    dep.error = None
    assert await breaker.call(dep) == "ok"  # the half-open trial
    assert dep.calls == 4
    assert (await breaker.state()).state == "closed"
    assert registry.get_sample_value("signalbridge_breaker_state", {"connection": "conn-1"}) == 0


async def test_only_one_trial_when_half_open_and_failure_reopens() -> None:
    clock = Clock()
    breaker = CircuitBreaker("c", failure_threshold=1, cooldown=5.0, clock=clock)
    dep = Dependency()
    with pytest.raises(TransientError):
        await breaker.call(dep)
    clock.now += 5.0
    await breaker.before_call()  # this caller holds the trial
    with pytest.raises(CircuitOpen):
        await breaker.before_call()  # a second caller is refused meanwhile
    await breaker.record_failure(TransientError("still down"))
    snap = await breaker.state()
    assert snap.state == "open" and snap.opened_at == clock.now
    with pytest.raises(CircuitOpen):
        await breaker.call(dep)


async def test_abandoned_trial_is_handed_over_after_cooldown() -> None:
    clock = Clock()
    breaker = CircuitBreaker("c", failure_threshold=1, cooldown=5.0, clock=clock)
    await breaker.record_failure(TransientError("x"))
    clock.now += 5.0
    await breaker.before_call()  # trial taken, caller dies without reporting
    clock.now += 5.0
    await breaker.before_call()  # another caller gets a trial
    await breaker.record_success()
    assert (await breaker.state()).state == "closed"


@pytest.mark.parametrize("error", [InsufficientFunds("no funds"), InvalidRequest("bad qty")])
async def test_business_errors_never_trip(error: Exception) -> None:
    breaker = CircuitBreaker("c", failure_threshold=2, cooldown=5.0, clock=Clock())
    dep = Dependency()
    dep.error = error
    for _ in range(10):
        with pytest.raises(type(error)):
            await breaker.call(dep)
    assert (await breaker.state()).state == "closed"
    assert dep.calls == 10


async def test_business_error_resets_consecutive_count() -> None:
    breaker = CircuitBreaker("c", failure_threshold=3, cooldown=5.0, clock=Clock())
    await breaker.record_failure(TransientError("a"))
    await breaker.record_failure(AmbiguousOutcome("b"))
    await breaker.record_failure(InsufficientFunds("c"))
    await breaker.record_failure(TransientError("d"))
    snap = await breaker.state()
    assert snap.state == "closed" and snap.failures == 1


async def test_manual_reset_closes() -> None:
    breaker = CircuitBreaker("c", failure_threshold=1, cooldown=60.0, clock=Clock())
    await breaker.record_failure(TransientError("x"))
    assert (await breaker.state()).state == "open"
    await breaker.reset()
    snap = await breaker.state()
    assert snap.to_dict() == {
        "connection_id": "c",
        "state": "closed",
        "failures": 0,
        "opened_at": None,
        "retry_in": None,
    }


def test_threshold_validation() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker("c", failure_threshold=0)
