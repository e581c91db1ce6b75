"""The kernel assembled: one guard per connection, breaker and limits shared via Redis.

The composition root builds one :class:`Kernel` per process from settings. Adapters never
construct breakers, limiters or retry policies themselves; they get a guard from here.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry

from signalbridge.integrations.breaker import (
    BreakerMetrics,
    BreakerStore,
    CircuitBreaker,
    MemoryBreakerStore,
    RedisBreakerStore,
)
from signalbridge.integrations.guard import ConnectionGuard
from signalbridge.integrations.health import HealthState
from signalbridge.integrations.ratelimit import RateLimiter
from signalbridge.integrations.retry import DEFAULT_POLICIES, RetryPolicy

#: Request budgets per connection type (provider-wide and per account); empty means none.
DEFAULT_LIMITS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ccxt": ((), ("1000/minute",)),
    "metaapi": ((), ("600/minute",)),
}
HEALTH_PERSIST_SECONDS = 30.0
HealthSink = Callable[[str, int, HealthState], Awaitable[None]]


@dataclass
class Kernel:
    breaker_store: BreakerStore
    limiter: RateLimiter
    metrics: BreakerMetrics
    health_sink: HealthSink | None = None
    policies: dict[str, RetryPolicy] = field(default_factory=lambda: dict(DEFAULT_POLICIES))
    failure_threshold: int = 5
    cooldown: float = 30.0
    #: request budgets by connection type: (provider-wide limits, per-account limits)
    limits: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(
        default_factory=lambda: dict(DEFAULT_LIMITS)
    )
    _guards: dict[tuple[str, int], ConnectionGuard] = field(default_factory=dict)
    _persisted: dict[tuple[str, int], tuple[int, float]] = field(default_factory=dict)

    @classmethod
    def from_settings(
        cls,
        settings: Any,
        registry: CollectorRegistry,
        health_sink: HealthSink | None = None,
    ) -> Kernel:
        metrics = BreakerMetrics(registry)
        if settings.redis_url:
            from redis.asyncio import Redis

            redis = Redis.from_url(settings.redis_url)
            prefix = settings.redis_prefix
            return cls(
                breaker_store=RedisBreakerStore(redis, prefix=f"{prefix}:breaker:"),
                limiter=RateLimiter.from_redis_url(settings.redis_url, redis, prefix=prefix),
                metrics=metrics,
                health_sink=health_sink,
            )
        return cls(
            breaker_store=MemoryBreakerStore(),
            limiter=RateLimiter(),
            metrics=metrics,
            health_sink=health_sink,
        )

    def breaker(self, kind: str, connection_id: int) -> CircuitBreaker:
        return CircuitBreaker(
            f"{kind}:{connection_id}",
            store=self.breaker_store,
            failure_threshold=self.failure_threshold,
            cooldown=self.cooldown,
            metrics=self.metrics,
        )

    def guard(self, kind: str, connection_id: int, type_: str) -> ConnectionGuard:
        key = (kind, connection_id)
        guard = self._guards.get(key)
        if guard is None:
            provider_limits, account_limits = self.limits.get(type_, ((), ()))
            limiter = None
            if provider_limits or account_limits:
                limiter = self.limiter.for_connection(
                    type_,
                    str(connection_id),
                    provider_limits=provider_limits,
                    account_limits=account_limits,
                )
            guard = ConnectionGuard(
                f"{kind}:{connection_id}",
                breaker=self.breaker(kind, connection_id),
                retry_policy=self.policies.get(kind, RetryPolicy()),
                limiter=limiter,
                on_health=self._health_sink(kind, connection_id),
            )
            self._guards[key] = guard
        return guard

    async def record(
        self, kind: str, connection_id: int, type_: str, error: Exception | None = None
    ) -> None:
        """Health of a passive connection (an inbound channel): a delivery, or why it failed."""
        guard = self.guard(kind, connection_id, type_)
        now = datetime.now(UTC)
        if error is None:
            guard.health.record_success(now)
        else:
            guard.health.record_failure(error, now)
        if self.health_sink is not None:
            await self._health_sink(kind, connection_id)(guard.health)

    async def breaker_state(self, kind: str, connection_id: int) -> dict[str, Any]:
        return (await self.breaker(kind, connection_id).state()).to_dict()

    async def reset_breaker(self, kind: str, connection_id: int) -> None:
        await self.breaker(kind, connection_id).reset()

    def _health_sink(
        self, kind: str, connection_id: int
    ) -> Callable[[HealthState], Awaitable[None]]:
        """Persist health when it changes, and at most every 30 s while it does not."""

        async def sink(state: HealthState) -> None:
            if self.health_sink is None:
                return
            key = (kind, connection_id)
            last = self._persisted.get(key)
            now = time.monotonic()
            if (
                last is not None
                and last[0] == state.consecutive_failures
                and (now - last[1] < HEALTH_PERSIST_SECONDS)
            ):
                return
            self._persisted[key] = (state.consecutive_failures, now)
            await self.health_sink(kind, connection_id, state)

        return sink
