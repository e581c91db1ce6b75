"""Reliability row 16: several worker processes share one rate budget and one back-off
gate through the real Redis; the fake server's hit timestamps prove nothing overspent."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from tests.fakes.flaky_server import FlakyServer, Reply

pytestmark = pytest.mark.redis

REDIS_URL = "redis://127.0.0.1:6379/0"

WORKER = """
import asyncio, sys
import httpx
import redis.asyncio as aioredis
from signalbridge.integrations.ratelimit import RateLimiter

async def main(url: str, prefix: str, n: int, limit: str) -> None:
    client_redis = aioredis.from_url("redis://127.0.0.1:6379/0")
    limiter = RateLimiter.from_redis_url("redis://127.0.0.1:6379/0", client_redis, prefix=prefix)
    conn = limiter.for_connection("fakeex", "shared-acct", provider_limits=[limit] if limit else [])
    async with httpx.AsyncClient() as http:
        await http.get(url.rsplit("/", 1)[0] + "/warm")  # connect before measuring
        for _ in range(n):
            await conn.acquire()
            await http.get(url)
    await client_redis.aclose()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]))
"""


@pytest.fixture
def prefix() -> Iterator[str]:
    p = f"sbtest-{uuid.uuid4().hex}"
    yield p
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"*{p}*"))
    if keys:
        client.delete(*keys)
    client.close()


def spawn(url: str, prefix: str, n: int, limit: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, url, prefix, str(n), limit],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finish(proc: subprocess.Popen[bytes]) -> None:
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()[-2000:]


def test_budget_shared_by_two_processes_is_never_exceeded(prefix: str) -> None:
    limit, per_second, per_process = "8/second", 8, 12
    with FlakyServer() as server:
        procs = [spawn(server.url("/w"), prefix, per_process, limit) for _ in range(2)]
        for proc in procs:
            finish(proc)
        times = sorted(h.at for h in server.hits_for("/w"))
    assert len(times) == 2 * per_process
    # Any 0.9 s window (1 s minus slack for loopback latency) holds at most the budget.
    worst = max(sum(1 for t in times if start <= t < start + 0.9) for start in times)
    assert worst <= per_second
    assert times[-1] - times[0] >= 2.0 - 0.1  # 24 requests at 8/s need three windows


def test_429_back_off_holds_another_process(prefix: str) -> None:
    import asyncio

    import httpx
    import redis.asyncio as aioredis

    from signalbridge.integrations.ratelimit import RateLimiter

    with FlakyServer() as server:
        server.script("/w", Reply.rate_limited(1.5))

        async def first_worker() -> None:
            client = aioredis.from_url(REDIS_URL)
            try:
                limiter = RateLimiter.from_redis_url(REDIS_URL, client, prefix=prefix)
                conn = limiter.for_connection("fakeex", "shared-acct")
                await conn.acquire()
                async with httpx.AsyncClient() as http:
                    response = await http.get(server.url("/w"))
                assert response.status_code == 429
                await conn.back_off(float(response.headers["retry-after"]))
            finally:
                await client.aclose()

        asyncio.run(first_worker())
        started = time.time()
        finish(spawn(server.url("/w"), prefix, 1, ""))
        hits = server.hits_for("/w")
    assert len(hits) == 2
    assert hits[1].at >= hits[0].at + 1.5  # nothing sent before Retry-After
    assert hits[1].at >= started
