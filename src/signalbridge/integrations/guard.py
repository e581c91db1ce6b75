"""The one path every adapter call takes: rate limit → breaker → call, inside bounded retries,
then a health update.

Each retry attempt takes its own rate-limit permit and asks the breaker again, so retries
can neither overspend a budget nor hammer an open circuit. Anything an adapter lets escape
that is not from our exception tree is translated here (with a redacted message), so
callers only ever see :mod:`signalbridge.integrations.errors`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import httpx

from signalbridge.integrations.breaker import CircuitBreaker
from signalbridge.integrations.errors import (
    AmbiguousOutcome,
    CircuitOpen,
    IntegrationError,
    InvalidRequest,
    RateLimited,
    TransientError,
)
from signalbridge.integrations.health import HealthState
from signalbridge.integrations.ratelimit import ConnectionLimiter, serving
from signalbridge.integrations.redaction import redact
from signalbridge.integrations.retry import RetryPolicy, call_with_retry

log = logging.getLogger(__name__)

T = TypeVar("T")
HealthListener = Callable[[HealthState], Awaitable[None]]

# Transport errors raised before the request could have been sent: safe for any request.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def translate(exc: BaseException, *, connection_id: str, idempotent: bool) -> IntegrationError:
    """Map a foreign exception to our tree. Writes that may have been sent are ambiguous."""
    if isinstance(exc, IntegrationError):
        if exc.connection_id is None:
            exc.connection_id = connection_id
        cleaned = redact(exc.message)
        if cleaned != exc.message:  # an adapter forgot to redact: fix it on the way out
            exc.message = cleaned
            exc.args = (cleaned, *exc.args[1:])
        return exc
    text = redact(f"{type(exc).__name__}: {exc}")[:500]
    if isinstance(exc, _NOT_SENT):
        return TransientError(f"connection failed: {text}", connection_id=connection_id)
    if isinstance(exc, httpx.TransportError | TimeoutError | ConnectionError | OSError):
        if idempotent:
            return TransientError(f"transport error: {text}", connection_id=connection_id)
        return AmbiguousOutcome(
            f"transport error after the request may have been sent: {text}",
            connection_id=connection_id,
        )
    return IntegrationError(f"unexpected adapter error: {text}", connection_id=connection_id)


class ConnectionGuard:
    """Everything one connection's calls go through. Cheap; one per connection."""

    def __init__(
        self,
        connection_id: str,
        *,
        breaker: CircuitBreaker,
        retry_policy: RetryPolicy,
        limiter: ConnectionLimiter | None = None,
        health: HealthState | None = None,
        on_health: HealthListener | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.connection_id = connection_id
        self.breaker = breaker
        self.retry_policy = retry_policy
        self.limiter = limiter
        self.health = health if health is not None else HealthState()
        self._on_health = on_health
        self._now = now

    def __repr__(self) -> str:
        return f"ConnectionGuard({self.connection_id!r})"

    async def call(
        self,
        fn: Callable[[], Awaitable[T]],
        *,
        idempotent: bool,
        idempotency_key: str | None = None,
        lookup: Callable[[], Awaitable[T | None]] | None = None,
        weight: int = 1,
    ) -> T:
        """Run ``fn`` (one request to the provider) with every protection.

        ``lookup`` is run through the same guard when a write's outcome is unknown.
        """
        safe = idempotent or idempotency_key is not None

        async def one_attempt() -> T:
            return await self._attempt(fn, weight=weight, idempotent=safe)

        guarded_lookup: Callable[[], Awaitable[T | None]] | None = None
        if lookup is not None:

            async def guarded_lookup() -> T | None:
                return await self._attempt(lookup, weight=weight, idempotent=True)

        try:
            result = await call_with_retry(
                self.retry_policy,
                one_attempt,
                idempotent=idempotent,
                idempotency_key=idempotency_key,
                lookup=guarded_lookup,
            )
        except asyncio.CancelledError:
            raise
        except IntegrationError as exc:
            await self._record_failure(exc)
            raise
        await self._record_success()
        return result

    async def _attempt(self, fn: Callable[[], Awaitable[T]], *, weight: int, idempotent: bool) -> T:
        if self.limiter is not None:
            await self.limiter.acquire(weight)
        await self.breaker.before_call()
        try:
            # The adapter may take per-request budgets (an API host's per-IP weight) from
            # the same process limiter, shared through Redis like the rest.
            with serving(self.limiter.limiter if self.limiter is not None else None):
                result = await fn()
        except asyncio.CancelledError:
            raise
        except BaseException as raw:
            if not isinstance(raw, Exception):
                raise
            exc = translate(raw, connection_id=self.connection_id, idempotent=idempotent)
            await self.breaker.record_failure(exc)
            if isinstance(exc, RateLimited) and exc.scope is None and self.limiter is not None:
                # A scoped refusal was recorded on its own budget (one API host's IP) by
                # whoever raised it; holding the whole provider would hold unrelated hosts.
                await self.limiter.back_off(
                    exc.retry_after, banned=exc.banned, until=exc.banned_until
                )
            if exc is raw:
                raise
            raise exc from None
        await self.breaker.record_success()
        return result

    async def _record_success(self) -> None:
        self.health.record_success(self._now())
        await self._publish()

    async def _record_failure(self, exc: IntegrationError) -> None:
        # A wrong request or an open circuit says nothing new about the connection.
        if isinstance(exc, InvalidRequest | CircuitOpen):
            return
        self.health.record_failure(exc, self._now())
        log.warning(
            "connection %s call failed: %s",
            self.connection_id,
            redact(f"{type(exc).__name__}: {exc}"),
        )
        await self._publish()

    async def _publish(self) -> None:
        if self._on_health is not None:
            await self._on_health(self.health)
