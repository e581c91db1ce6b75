"""Breaker state and back-off gates shared through the real Redis at 127.0.0.1:6379."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from signalbridge.integrations.breaker import CircuitBreaker, RedisBreakerStore
from signalbridge.integrations.errors import CircuitOpen, InsufficientFunds, TransientError
from signalbridge.integrations.ratelimit import RateLimiter, RedisBackoffGate

pytestmark = pytest.mark.redis

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    p = f"sbtest:{uuid.uuid4().hex}:"
    yield p
    client = aioredis.from_url(REDIS_URL)
    keys = [k async for k in client.scan_iter(match=p + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def make_breaker(prefix: str, clock: Clock) -> tuple[CircuitBreaker, aioredis.Redis]:
    client = aioredis.from_url(REDIS_URL)  # one client each, as in two processes
    store = RedisBreakerStore(client, prefix=prefix)
    return CircuitBreaker(
        "conn-7", store=store, failure_threshold=3, cooldown=10, clock=clock
    ), client


async def test_two_breakers_share_state(prefix: str) -> None:
    clock = Clock()
    a, ca = await make_breaker(prefix, clock)
    b, cb = await make_breaker(prefix, clock)
    try:
        await a.record_failure(TransientError("1"))
        await b.record_failure(TransientError("2"))
        assert (await a.state()).failures == 2
        await a.record_failure(InsufficientFunds("business"))  # resets the streak
        assert (await b.state()).failures == 0
        for breaker in (a, b, a):
            await breaker.record_failure(TransientError("x"))
        snap = await b.state()
        assert snap.state == "open" and snap.opened_at == clock.now
        with pytest.raises(CircuitOpen) as info:
            await b.before_call()
        assert info.value.retry_in == pytest.approx(10)

        clock.now += 10
        await a.before_call()  # a holds the one half-open trial
        with pytest.raises(CircuitOpen):
            await b.before_call()
        await a.record_failure(TransientError("still down"))
        assert (await b.state()).state == "open"

        clock.now += 10
        await b.before_call()
        await b.record_success()
        assert (await a.state()).state == "closed"

        for _ in range(3):
            await a.record_failure(TransientError("x"))
        await b.reset()
        assert (await a.state()).state == "closed"
        await a.before_call()
    finally:
        await ca.aclose()
        await cb.aclose()


async def test_backoff_gate_shared_between_limiters(prefix: str) -> None:
    c1 = aioredis.from_url(REDIS_URL)
    c2 = aioredis.from_url(REDIS_URL)
    try:
        now = [1_800_000_000.0]
        slept: list[float] = []

        async def sleep(s: float) -> None:
            slept.append(s)
            now[0] += s

        def clock() -> float:
            return now[0]

        one = RateLimiter(gate=RedisBackoffGate(c1, prefix=prefix), sleep=sleep, clock=clock)
        two = RateLimiter(gate=RedisBackoffGate(c2, prefix=prefix), sleep=sleep, clock=clock)
        until = await one.for_connection("binance", "a").back_off(4.0)
        await one.for_connection("binance", "a").back_off(1.0)  # never moves earlier
        await two.for_connection("binance", "b").acquire()
        assert slept == [pytest.approx(4.0)]
        assert now[0] >= until
    finally:
        await c1.aclose()
        await c2.aclose()
