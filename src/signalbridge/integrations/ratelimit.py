"""Rate limits per provider and per account, shared by every worker through Redis.

Budgets use the ``limits`` package's moving window (atomic in Redis, so several processes
never overspend one budget). On top sits a back-off gate: when a provider answers 429 or
bans us (418), :meth:`ConnectionLimiter.back_off` records "nothing before T" and every
process waits until T before sending anything to that provider again.

A budget is a key with limits: a provider and account (what the connection guard takes per
call), or an API host's own per-IP budget that an adapter takes per request, weighed by the
venue's table (Binance: ``"binance:spot"``, ``"binance:fapi"``). The guard makes its
process limiter :func:`current_limiter` for the duration of each call, so an adapter reaches
the same (Redis-shared) limiter without holding one; outside a guard there is none.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from signalbridge.integrations.errors import InvalidRequest, RateLimited

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]
_MIN_SLEEP = 0.005
#: How long a ban whose length the provider did not state holds (Binance's shortest ban:
#: two minutes; its bans grow to three days for repeat offenders).
BAN_DEFAULT = 120.0
_SERVING: ContextVar[RateLimiter | None] = ContextVar("signalbridge_limiter", default=None)


def current_limiter() -> RateLimiter | None:
    """The process limiter of the guarded call under way (None outside a connection guard)."""
    return _SERVING.get()


@contextmanager
def serving(limiter: RateLimiter | None) -> Iterator[None]:
    """Make ``limiter`` the :func:`current_limiter` inside the block (the guard's call)."""
    token = _SERVING.set(limiter)
    try:
        yield
    finally:
        _SERVING.reset(token)


class BackoffGate(Protocol):
    """Shared "nothing before T" marks (T in wall-clock seconds)."""

    async def not_before(self, key: str) -> float | None: ...

    async def block_until(self, key: str, until: float, now: float) -> None: ...

    async def clear(self, key: str) -> None: ...


class MemoryBackoffGate:
    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    async def not_before(self, key: str) -> float | None:
        return self._until.get(key)

    async def block_until(self, key: str, until: float, now: float) -> None:
        if until > self._until.get(key, 0.0):
            self._until[key] = until

    async def clear(self, key: str) -> None:
        self._until.pop(key, None)


_LUA_BLOCK = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 1
"""


class RedisBackoffGate:
    """The mark is a Redis key holding T, only ever moved later, expiring after T."""

    def __init__(self, redis: Any, *, prefix: str = "signalbridge:backoff:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._block = redis.register_script(_LUA_BLOCK)

    async def not_before(self, key: str) -> float | None:
        raw = await self._redis.get(self._prefix + key)
        if raw is None:
            return None
        return float(raw.decode() if isinstance(raw, bytes) else raw)

    async def block_until(self, key: str, until: float, now: float) -> None:
        ttl_ms = max(1000, math.ceil((until - now) * 1000) + 1000)
        await self._block(keys=[self._prefix + key], args=[repr(until), str(ttl_ms)])

    async def clear(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)


@dataclass
class RateLimiter:
    """Process-wide limiter; :meth:`for_connection` binds it to one provider and account.

    ``clock`` must be wall-clock time (``time.time``) when processes share the gate.
    """

    storage: Storage = field(default_factory=MemoryStorage)
    gate: BackoffGate = field(default_factory=MemoryBackoffGate)
    sleep: Sleep = asyncio.sleep
    clock: Clock = time.time
    max_wait: float = 60.0
    #: Limits a provider stated at run time, by budget key (``"binance:spot"`` →
    #: ``"6000/minute"`` from Binance's exchangeInfo): every connection of the process
    #: budgets by what the venue said rather than by a documented default.
    stated_limits: dict[str, str] = field(default_factory=dict)
    _strategy: MovingWindowRateLimiter = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._strategy = MovingWindowRateLimiter(self.storage)

    @classmethod
    def from_redis_url(
        cls, redis_url: str, redis: Any, *, prefix: str = "signalbridge", **kwargs: Any
    ) -> RateLimiter:
        """Budgets and gate in Redis (``redis`` is a ``redis.asyncio.Redis`` for the gate)."""
        uri = redis_url if redis_url.startswith("async+") else "async+" + redis_url
        storage = RedisStorage(uri, implementation="redispy", key_prefix=f"{prefix}:limits")
        return cls(
            storage=storage, gate=RedisBackoffGate(redis, prefix=f"{prefix}:backoff:"), **kwargs
        )

    def for_connection(
        self,
        provider: str,
        account: str | None = None,
        *,
        provider_limits: Sequence[str] = (),
        account_limits: Sequence[str] = (),
        gate_scope: str = "provider",
    ) -> ConnectionLimiter:
        """Limits as strings such as ``"1200/minute"`` or ``"10 per second"``."""
        return ConnectionLimiter(
            self,
            provider=provider,
            account=account,
            provider_items=tuple(parse(s) for s in provider_limits),
            account_items=tuple(parse(s) for s in account_limits),
            gate_key=provider
            if gate_scope == "provider" or account is None
            else f"{provider}:{account}",
        )

    async def wait_gate(self, key: str, *, wait: bool, max_wait: float) -> None:
        until = await self.gate.not_before(key)
        if until is None:
            return
        delay = until - self.clock()
        if delay <= 0:
            return
        if not wait or delay > max_wait:
            raise RateLimited(
                f"backing off from {key} for {delay:.1f} s (provider asked us to wait)",
                retry_after=delay,
                scope=key,
            )
        await self.sleep(delay)

    async def take(
        self,
        scopes: Sequence[tuple[RateLimitItem, tuple[str, ...]]],
        cost: int,
        *,
        wait: bool,
        max_wait: float,
        scope: str | None = None,
    ) -> None:
        """Consume ``cost`` from every scope, waiting for room (never overspending).

        ``scope`` names the budget on the :class:`RateLimited` raised when there is none.
        """
        for item, _ in scopes:
            if cost > item.amount:
                raise InvalidRequest(f"request weight {cost} exceeds the whole budget {item}")
        started = self.clock()
        while True:
            blocked_until: float | None = None
            for item, ids in scopes:
                if not await self._strategy.test(item, *ids, cost=cost):
                    stats = await self._strategy.get_window_stats(item, *ids)
                    blocked_until = max(blocked_until or 0.0, stats.reset_time)
            if blocked_until is None:
                for item, ids in scopes:
                    if not await self._strategy.hit(item, *ids, cost=cost):
                        # Another worker took the room between test and hit: wait, retry.
                        stats = await self._strategy.get_window_stats(item, *ids)
                        blocked_until = stats.reset_time
                        break
                else:
                    return
            now = self.clock()
            delay = max(_MIN_SLEEP, (blocked_until or now) - now)
            if not wait or (now - started) + delay > max_wait:
                raise RateLimited("local rate limit reached", retry_after=delay, scope=scope)
            await self.sleep(delay)

    async def top_up(
        self, scopes: Sequence[tuple[RateLimitItem, tuple[str, ...]]], used: int
    ) -> None:
        """Raise each scope's count in its window to ``used`` (never lower it)."""
        for item, ids in scopes:
            stats = await self._strategy.get_window_stats(item, *ids)
            missing = min(used, item.amount) - (item.amount - stats.remaining)
            if missing > 0:  # a concurrent hit may refuse it: the count is then higher anyway
                await self._strategy.hit(item, *ids, cost=missing)


@dataclass
class ConnectionLimiter:
    """What the connection guard calls: ``acquire`` before a request, ``back_off`` after a 429."""

    limiter: RateLimiter
    provider: str
    account: str | None
    provider_items: tuple[RateLimitItem, ...]
    account_items: tuple[RateLimitItem, ...]
    gate_key: str

    def _scopes(self) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
        scopes: list[tuple[RateLimitItem, tuple[str, ...]]] = [
            (item, ("provider", self.provider)) for item in self.provider_items
        ]
        if self.account is not None:
            scopes += [
                (item, ("account", self.provider, self.account)) for item in self.account_items
            ]
        return scopes

    async def acquire(
        self,
        cost: int = 1,
        *,
        wait: bool = True,
        max_wait: float | None = None,
        wait_for_gate: bool = True,
    ) -> None:
        """Wait for the back-off gate and for room in every budget, then take ``cost``
        (a request of weight 0 waits for the gate only).

        Raises :class:`RateLimited` (its ``scope`` this budget's key) when ``wait`` is false
        or the wait exceeds ``max_wait``. With ``wait_for_gate`` false a closed gate refuses
        at once: a caller already holding permits of its own (an adapter inside the guard's
        call) is retried with fresh ones instead of spending them long after they were
        granted, all at once when the gate opens.
        """
        limit = self.limiter.max_wait if max_wait is None else max_wait
        scopes = self._scopes()
        while True:
            await self.limiter.wait_gate(self.gate_key, wait=wait and wait_for_gate, max_wait=limit)
            if scopes and cost > 0:
                await self.limiter.take(
                    scopes, cost, wait=wait, max_wait=limit, scope=self.gate_key
                )
            # A 429 may have arrived from another worker while we waited for room. A permit
            # taken before that wait would be spent long after it was granted (and could
            # overrun the budget with fresh permits then): drop it, wait, take a new one.
            until = await self.limiter.gate.not_before(self.gate_key)
            if until is None or until <= self.limiter.clock():
                return

    async def back_off(
        self,
        retry_after: float | None,
        *,
        default: float = 1.0,
        banned: bool = False,
        until: float | None = None,
    ) -> float:
        """Record "nothing before T" for everyone; returns T.

        T is the later of ``until`` (an end the provider stated, wall-clock seconds) and now
        + ``retry_after``; with neither, now + ``default``, or :data:`BAN_DEFAULT` for a ban.
        """
        now = self.limiter.clock()
        stated = [t for t in (until, now + (retry_after or 0.0)) if t is not None and t > now]
        target = max(stated) if stated else now + (BAN_DEFAULT if banned else default)
        await self.limiter.gate.block_until(self.gate_key, target, now)
        return target

    async def sync_used(self, used: int) -> None:
        """The provider says ``used`` of its budget is spent in this window (Binance's
        ``X-MBX-USED-WEIGHT-1M``): count at least that much, so traffic we did not send
        (another program behind the same IP) or weighed too low is not spent again."""
        scopes = [(item, ("provider", self.provider)) for item in self.provider_items]
        await self.limiter.top_up(scopes, used)

    async def not_before(self) -> float | None:
        return await self.limiter.gate.not_before(self.gate_key)
