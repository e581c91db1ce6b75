"""Bounded retries with backoff on tenacity, safe for writes.

A read is retried on transient errors. A write (``idempotent=False``) is retried only when
that cannot duplicate it: with an idempotency key the provider deduplicates, after a 429 the
request was refused, and otherwise only when ``lookup`` proves the first attempt left no
trace (an order placed before a timeout is found by its client order id and returned
instead of being placed again).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from signalbridge.integrations.errors import AmbiguousOutcome, RateLimited, TransientError
from signalbridge.integrations.redaction import redact

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


class OutcomeUnknown(AmbiguousOutcome):
    """A write's outcome is unknown and the lookup could not settle it: never retried."""


@dataclass(frozen=True)
class RetryPolicy:
    """How one connection type retries. ``sleep``/``clock``/``rand`` are injectable for tests.

    The wait before attempt n+1 is ``min(max_backoff, base_backoff * 2**(n-1))`` with up to
    ``jitter`` of it randomised, or the provider's ``Retry-After`` if longer. Retrying stops
    after ``attempts`` tries or when the next wait would cross ``total_budget`` seconds.
    """

    attempts: int = 4
    base_backoff: float = 0.5
    max_backoff: float = 10.0
    jitter: float = 0.5
    total_budget: float = 30.0
    retry_on: tuple[type[BaseException], ...] = (TransientError, AmbiguousOutcome)
    sleep: Sleep = field(default=asyncio.sleep, compare=False)
    clock: Clock = field(default=time.monotonic, compare=False)
    rand: Callable[[], float] = field(default=random.random, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter is a fraction between 0 and 1")

    def with_(self, **changes: Any) -> RetryPolicy:
        return replace(self, **changes)

    def backoff(self, attempt_number: int, exc: BaseException | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt_number`` (1-based)."""
        base = min(self.max_backoff, self.base_backoff * 2.0 ** (attempt_number - 1))
        delay = base * (1 - self.jitter) + base * self.jitter * self.rand()
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            delay = max(delay, float(exc.retry_after))
        return delay


#: Defaults per connection type; a connection's settings may override any field.
DEFAULT_POLICIES: dict[str, RetryPolicy] = {
    "exchange": RetryPolicy(attempts=4, base_backoff=0.5, max_backoff=8.0, total_budget=30.0),
    "channel": RetryPolicy(attempts=3, base_backoff=1.0, max_backoff=30.0, total_budget=60.0),
    "payment": RetryPolicy(attempts=3, base_backoff=0.5, max_backoff=5.0, total_budget=20.0),
    "ai": RetryPolicy(attempts=3, base_backoff=1.0, max_backoff=10.0, total_budget=90.0),
    "webhook": RetryPolicy(attempts=3, base_backoff=1.0, max_backoff=10.0, total_budget=30.0),
}


async def call_with_retry(
    policy: RetryPolicy,
    fn: Callable[[], Awaitable[T]],
    *,
    idempotent: bool,
    idempotency_key: str | None = None,
    lookup: Callable[[], Awaitable[T | None]] | None = None,
) -> T:
    """Run ``fn`` under ``policy``; raise the last error when giving up.

    ``lookup`` (writes only) returns the result of the earlier attempt if it happened, or
    None if it provably did not. It must be decisive: an error from it ends the call with
    :class:`OutcomeUnknown`.
    """
    safe = idempotent or idempotency_key is not None
    started = policy.clock()

    def retryable(exc: BaseException) -> bool:
        if isinstance(exc, OutcomeUnknown) or not isinstance(exc, policy.retry_on):
            return False
        if safe or isinstance(exc, RateLimited):
            return True
        return lookup is not None

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        return policy.backoff(state.attempt_number, exc)

    def stop(state: RetryCallState) -> bool:
        if state.attempt_number >= policy.attempts:
            return True
        return policy.clock() - started + state.upcoming_sleep > policy.total_budget

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        log.info(
            "retrying after attempt %d in %.2f s: %s",
            state.attempt_number,
            state.upcoming_sleep,
            redact(f"{type(exc).__name__}: {exc}"),
        )

    async def attempt() -> T:
        try:
            return await fn()
        except policy.retry_on as exc:
            if safe or lookup is None or isinstance(exc, RateLimited):
                raise
            found = await _settle(lookup, exc)
            if found is not None:
                return found
            raise

    retrying = AsyncRetrying(
        retry=retry_if_exception(retryable),
        wait=wait,
        stop=stop,
        sleep=policy.sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    return await retrying(attempt)


async def _settle(lookup: Callable[[], Awaitable[T | None]], cause: BaseException) -> T | None:
    try:
        return await lookup()
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        connection_id = getattr(cause, "connection_id", None)
        raise OutcomeUnknown(
            redact(
                f"write outcome unknown ({type(cause).__name__}) and the lookup failed "
                f"({type(exc).__name__}: {exc}); not retried"
            ),
            connection_id=connection_id,
        ) from exc
