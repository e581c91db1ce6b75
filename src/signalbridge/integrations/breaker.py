"""Per-connection circuit breaker with state shared by every process through Redis.

closed → (``failure_threshold`` consecutive counting failures) → open: calls fail fast
with :class:`CircuitOpen` → after ``cooldown`` one caller gets the half-open trial →
success closes, failure re-opens. Only errors whose ``counts_for_breaker`` is true count;
a business error (insufficient funds, invalid order) proves the venue answered, so it
counts as a success. A trial whose caller died is handed to another caller after
``cooldown`` again. Times are wall-clock seconds from an injectable clock, so every process
(and a test) agrees on them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from prometheus_client import CollectorRegistry, Gauge

from signalbridge.integrations.errors import CircuitOpen

T = TypeVar("T")
State = Literal["closed", "open", "half_open"]
_STATE_VALUE: dict[str, int] = {"closed": 0, "half_open": 1, "open": 2}


@dataclass(frozen=True)
class BreakerRecord:
    state: State = "closed"
    failures: int = 0
    opened_at: float | None = None
    trial_at: float | None = None


@dataclass(frozen=True)
class BreakerSnapshot:
    """What the API shows: ``retry_in`` is seconds until the next trial may run."""

    connection_id: str
    state: State
    failures: int
    opened_at: float | None
    retry_in: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "connection_id": self.connection_id,
            "state": self.state,
            "failures": self.failures,
            "opened_at": self.opened_at,
            "retry_in": self.retry_in,
        }


class BreakerStore(Protocol):
    """Atomic state transitions; ``before_call`` returns (allowed, retry_in, state)."""

    async def before_call(
        self, key: str, now: float, cooldown: float
    ) -> tuple[bool, float | None, State]: ...

    async def on_success(self, key: str) -> State: ...

    async def on_failure(self, key: str, now: float, threshold: int) -> State: ...

    async def load(self, key: str) -> BreakerRecord: ...

    async def reset(self, key: str) -> None: ...


class MemoryBreakerStore:
    """In-process state (embedded mode, tests). One lock serialises transitions."""

    def __init__(self) -> None:
        self._records: dict[str, BreakerRecord] = {}
        self._lock = asyncio.Lock()

    async def before_call(
        self, key: str, now: float, cooldown: float
    ) -> tuple[bool, float | None, State]:
        async with self._lock:
            rec = self._records.get(key, BreakerRecord())
            if rec.state == "closed":
                return True, None, "closed"
            since = rec.opened_at if rec.state == "open" else rec.trial_at
            ready_at = (since or 0.0) + cooldown
            if now >= ready_at:
                self._records[key] = BreakerRecord("half_open", rec.failures, rec.opened_at, now)
                return True, None, "half_open"
            return False, ready_at - now, rec.state

    async def on_success(self, key: str) -> State:
        async with self._lock:
            self._records.pop(key, None)
            return "closed"

    async def on_failure(self, key: str, now: float, threshold: int) -> State:
        async with self._lock:
            rec = self._records.get(key, BreakerRecord())
            failures = rec.failures + 1
            if rec.state == "half_open" or (rec.state == "closed" and failures >= threshold):
                self._records[key] = BreakerRecord("open", failures, now, None)
                return "open"
            self._records[key] = BreakerRecord(rec.state, failures, rec.opened_at, rec.trial_at)
            return rec.state

    async def load(self, key: str) -> BreakerRecord:
        return self._records.get(key, BreakerRecord())

    async def reset(self, key: str) -> None:
        async with self._lock:
            self._records.pop(key, None)


_LUA_BEFORE = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state or state == 'closed' then return {1, '', 'closed'} end
local now = tonumber(ARGV[1])
local cooldown = tonumber(ARGV[2])
local since
if state == 'open' then since = redis.call('HGET', KEYS[1], 'opened_at')
else since = redis.call('HGET', KEYS[1], 'trial_at') end
local ready_at = (tonumber(since) or 0) + cooldown
if now >= ready_at then
  redis.call('HSET', KEYS[1], 'state', 'half_open', 'trial_at', ARGV[1])
  return {1, '', 'half_open'}
end
return {0, tostring(ready_at - now), state}
"""

_LUA_FAILURE = """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if state == 'half_open' or (state == 'closed' and failures >= tonumber(ARGV[2])) then
  redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', ARGV[1])
  redis.call('HDEL', KEYS[1], 'trial_at')
  state = 'open'
elseif state == 'closed' then
  redis.call('HSET', KEYS[1], 'state', 'closed')
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return state
"""


class RedisBreakerStore:
    """State in one Redis hash per connection, changed only by Lua scripts (atomic)."""

    def __init__(
        self, redis: Any, *, prefix: str = "signalbridge:breaker:", ttl_seconds: int = 86400
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._before = redis.register_script(_LUA_BEFORE)
        self._failure = redis.register_script(_LUA_FAILURE)

    def _key(self, key: str) -> str:
        return self._prefix + key

    async def before_call(
        self, key: str, now: float, cooldown: float
    ) -> tuple[bool, float | None, State]:
        allowed, retry_in, state = await self._before(
            keys=[self._key(key)], args=[repr(now), repr(cooldown)]
        )
        text = _text(retry_in)
        return bool(int(allowed)), (float(text) if text else None), _state(state)

    async def on_success(self, key: str) -> State:
        await self._redis.delete(self._key(key))
        return "closed"

    async def on_failure(self, key: str, now: float, threshold: int) -> State:
        state = await self._failure(
            keys=[self._key(key)], args=[repr(now), str(threshold), str(self._ttl)]
        )
        return _state(state)

    async def load(self, key: str) -> BreakerRecord:
        raw = await self._redis.hgetall(self._key(key))
        data = {_text(k): _text(v) for k, v in raw.items()}
        if not data:
            return BreakerRecord()
        return BreakerRecord(
            state=_state(data.get("state", "closed")),
            failures=int(data.get("failures", "0")),
            opened_at=float(data["opened_at"]) if data.get("opened_at") else None,
            trial_at=float(data["trial_at"]) if data.get("trial_at") else None,
        )

    async def reset(self, key: str) -> None:
        await self._redis.delete(self._key(key))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _state(value: Any) -> State:
    text = _text(value)
    if text == "open":
        return "open"
    if text == "half_open":
        return "half_open"
    return "closed"


class BreakerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.state = Gauge(
            "signalbridge_breaker_state",
            "Circuit breaker state per connection: 0 closed, 1 half-open, 2 open",
            ["connection"],
            registry=registry if registry is not None else CollectorRegistry(),
        )


class CircuitBreaker:
    """One connection's breaker; cheap to create, the state lives in the store."""

    def __init__(
        self,
        connection_id: str,
        *,
        store: BreakerStore | None = None,
        failure_threshold: int = 5,
        cooldown: float = 30.0,
        clock: Callable[[], float] = time.time,
        metrics: BreakerMetrics | None = None,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.connection_id = connection_id
        self.store: BreakerStore = store or MemoryBreakerStore()
        self.failure_threshold = failure_threshold
        self.cooldown = cooldown
        self._clock = clock
        self._metrics = metrics

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.connection_id!r}, threshold={self.failure_threshold})"

    def _publish(self, state: State) -> None:
        if self._metrics is not None:
            self._metrics.state.labels(self.connection_id).set(_STATE_VALUE[state])

    async def before_call(self) -> None:
        """Raise :class:`CircuitOpen` unless a call may go out now."""
        allowed, retry_in, state = await self.store.before_call(
            self.connection_id, self._clock(), self.cooldown
        )
        self._publish(state)
        if not allowed:
            raise CircuitOpen(
                f"circuit open for connection {self.connection_id}; next trial in "
                f"{(retry_in or 0.0):.1f} s",
                retry_in=retry_in,
                connection_id=self.connection_id,
            )

    async def record_success(self) -> None:
        self._publish(await self.store.on_success(self.connection_id))

    async def record_failure(self, exc: BaseException) -> None:
        """Count ``exc`` if it counts for the breaker; any other error is a sign of life."""
        if getattr(exc, "counts_for_breaker", False):
            state = await self.store.on_failure(
                self.connection_id, self._clock(), self.failure_threshold
            )
            self._publish(state)
        else:
            await self.record_success()

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        await self.before_call()
        try:
            result = await fn()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            await self.record_failure(exc)
            raise
        await self.record_success()
        return result

    async def state(self) -> BreakerSnapshot:
        rec = await self.store.load(self.connection_id)
        retry_in: float | None = None
        now = self._clock()
        if rec.state == "open" and rec.opened_at is not None:
            retry_in = max(0.0, rec.opened_at + self.cooldown - now)
        elif rec.state == "half_open" and rec.trial_at is not None:
            retry_in = max(0.0, rec.trial_at + self.cooldown - now)
        return BreakerSnapshot(self.connection_id, rec.state, rec.failures, rec.opened_at, retry_in)

    async def reset(self) -> None:
        """Manual override: close the breaker now (an operator fixed the cause)."""
        await self.store.reset(self.connection_id)
        self._publish("closed")
