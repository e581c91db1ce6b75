from __future__ import annotations

import pytest

from signalbridge.integrations.errors import (
    AmbiguousOutcome,
    AuthenticationError,
    CircuitOpen,
    InsufficientFunds,
    RateLimited,
    TransientError,
)
from signalbridge.integrations.retry import OutcomeUnknown, RetryPolicy, call_with_retry


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def policy(t: FakeTime, **kw: object) -> RetryPolicy:
    base: dict[str, object] = dict(
        attempts=4, base_backoff=0.5, max_backoff=4.0, jitter=0.0, total_budget=30.0
    )
    base.update(kw)
    return RetryPolicy(sleep=t.sleep, clock=t.clock, **base)  # type: ignore[arg-type]


class Failing:
    def __init__(self, *errors: BaseException, result: str = "ok") -> None:
        self.errors = list(errors)
        self.calls = 0
        self.result = result

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.result


async def test_always_failing_gives_up_after_attempts_with_exponential_backoff() -> None:
    t = FakeTime()
    fn = Failing(*[TransientError("5xx")] * 10)
    with pytest.raises(TransientError):
        await call_with_retry(policy(t), fn, idempotent=True)
    assert fn.calls == 4
    assert t.sleeps == [0.5, 1.0, 2.0]
    assert t.now - 1000.0 == pytest.approx(3.5)


async def test_total_budget_stops_before_attempts_run_out() -> None:
    t = FakeTime()
    fn = Failing(*[TransientError("5xx")] * 10)
    with pytest.raises(TransientError):
        await call_with_retry(policy(t, attempts=10, total_budget=5.0), fn, idempotent=True)
    # waits 0.5+1+2 = 3.5; the next (4.0) would cross 5 s, so it stops there.
    assert fn.calls == 4
    assert t.now - 1000.0 <= 5.0


async def test_backoff_is_capped_and_jitter_bounded() -> None:
    p = RetryPolicy(base_backoff=1.0, max_backoff=3.0, jitter=0.5, rand=lambda: 1.0)
    assert p.backoff(1) == pytest.approx(1.0)
    assert p.backoff(10) == pytest.approx(3.0)
    low = RetryPolicy(base_backoff=1.0, max_backoff=3.0, jitter=0.5, rand=lambda: 0.0)
    assert low.backoff(10) == pytest.approx(1.5)


async def test_recovers_after_transient_errors() -> None:
    t = FakeTime()
    fn = Failing(TransientError("a"), TransientError("b"))
    assert await call_with_retry(policy(t), fn, idempotent=True) == "ok"
    assert fn.calls == 3


async def test_retry_after_is_honoured() -> None:
    t = FakeTime()
    fn = Failing(RateLimited("429", retry_after=7.0))
    assert await call_with_retry(policy(t, total_budget=30), fn, idempotent=True) == "ok"
    assert t.sleeps == [7.0]


async def test_retry_after_beyond_budget_gives_up_without_sleeping() -> None:
    t = FakeTime()
    fn = Failing(RateLimited("418", retry_after=120.0, banned=True))
    with pytest.raises(RateLimited):
        await call_with_retry(policy(t, total_budget=30), fn, idempotent=True)
    assert fn.calls == 1 and t.sleeps == []


@pytest.mark.parametrize(
    "error",
    [AuthenticationError("bad key"), InsufficientFunds("no money"), CircuitOpen("open")],
)
async def test_non_retryable_errors_are_raised_at_once(error: Exception) -> None:
    t = FakeTime()
    fn = Failing(error)
    with pytest.raises(type(error)):
        await call_with_retry(policy(t), fn, idempotent=True)
    assert fn.calls == 1


async def test_post_without_idempotency_key_is_never_retried() -> None:
    t = FakeTime()
    for error in (TransientError("reset"), AmbiguousOutcome("timeout after send")):
        fn = Failing(error)
        with pytest.raises(type(error)):
            await call_with_retry(policy(t), fn, idempotent=False)
        assert fn.calls == 1
    assert t.sleeps == []


async def test_post_with_idempotency_key_is_retried() -> None:
    t = FakeTime()
    fn = Failing(AmbiguousOutcome("timeout"), TransientError("502"))
    result = await call_with_retry(policy(t), fn, idempotent=False, idempotency_key="k-1")
    assert result == "ok" and fn.calls == 3


async def test_post_refused_with_429_is_retried_even_without_key() -> None:
    t = FakeTime()
    fn = Failing(RateLimited("429", retry_after=1.0))
    assert await call_with_retry(policy(t), fn, idempotent=False) == "ok"
    assert fn.calls == 2


async def test_lookup_finds_first_attempt_so_no_second_post() -> None:
    t = FakeTime()
    fn = Failing(AmbiguousOutcome("timeout after send"), result="second-order")
    lookups = 0

    async def lookup() -> str | None:
        nonlocal lookups
        lookups += 1
        return "first-order"

    assert await call_with_retry(policy(t), fn, idempotent=False, lookup=lookup) == "first-order"
    assert fn.calls == 1 and lookups == 1


async def test_lookup_shows_absent_then_retry_happens() -> None:
    t = FakeTime()
    fn = Failing(AmbiguousOutcome("reset"), result="placed")
    seen: list[int] = []

    async def lookup() -> str | None:
        seen.append(fn.calls)
        return None

    assert await call_with_retry(policy(t), fn, idempotent=False, lookup=lookup) == "placed"
    assert fn.calls == 2 and seen == [1]


async def test_failing_lookup_stops_with_outcome_unknown() -> None:
    t = FakeTime()
    fn = Failing(AmbiguousOutcome("reset"))

    async def lookup() -> str | None:
        raise TransientError("lookup also down")

    with pytest.raises(OutcomeUnknown):
        await call_with_retry(policy(t), fn, idempotent=False, lookup=lookup)
    assert fn.calls == 1


def test_policy_validation() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(jitter=2)
