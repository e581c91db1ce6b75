"""Issue 13, item 7: Binance limits request WEIGHT per IP, spot and USDⓈ-M futures apart.

First the fake is held to Binance's documented behaviour (weights per endpoint and
argument, a counter per family and calendar minute, the used-weight header on every
answer, 429 then a 418 "IP banned until <ms>"), with raw HTTP so a failure points at the
fake. Then the ccxt adapter, called through the kernel's guard as the engine calls it:
each request takes its documented weight from one per-IP budget per family, shared by
every connection and worker (Redis), re-synced from ``X-MBX-USED-WEIGHT-1M``; a ban holds
every connection on that IP for the ban's length.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry
from tests.fakes.binance import FakeBinance
from tests.fakes.loopback import loopback_deps

from signalbridge.integrations import errors as sb
from signalbridge.integrations.breaker import BreakerMetrics, MemoryBreakerStore
from signalbridge.integrations.kernel import Kernel
from signalbridge.integrations.ratelimit import RateLimiter
from signalbridge.integrations.retry import RetryPolicy
from signalbridge.venues.ccxt.adapter import CcxtAdapter

T = TypeVar("T")
REDIS_URL = "redis://127.0.0.1:6379/0"


class WallClock:
    """Epoch seconds that only move when the test says (shared by fake and client)."""

    def __init__(self) -> None:
        self.now = float(int(time.time() // 60) * 60 + 1)  # just after a minute boundary

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def server() -> Iterator[FakeBinance]:
    with FakeBinance() as fake:
        yield fake


@pytest.fixture
def wall() -> WallClock:
    return WallClock()


@pytest.fixture
def fake(server: FakeBinance, wall: WallClock) -> Iterator[FakeBinance]:
    server.reset()
    saved = server.clock
    server.clock = wall
    yield server
    server.clock = saved
    server.reset()


def get(fake: FakeBinance, path: str, **params: str) -> httpx.Response:
    with httpx.Client(base_url=fake.base_url) as client:
        return client.get(path, params=params)


# -- the fake tells the truth ------------------------------------------------------------------


def test_fake_weighs_each_endpoint_by_its_arguments(fake: FakeBinance) -> None:
    r = get(fake, "/fapi/v1/ticker/24hr")  # every symbol: 40
    assert r.headers["X-MBX-USED-WEIGHT-1M"] == "40"
    r = get(fake, "/fapi/v1/ticker/24hr", symbol="BTCUSDT")  # one symbol: 1
    assert r.headers["X-MBX-USED-WEIGHT-1M"] == "41"
    r = get(fake, "/api/v3/ticker/24hr", symbols=json.dumps(["BTCUSDT", "ETHUSDT"]))
    assert r.headers["X-MBX-USED-WEIGHT-1M"] == "2"  # spot counts apart
    get(fake, "/api/v3/ticker/24hr")  # spot, no symbol: 80
    assert (fake.used_weight_of("spot"), fake.used_weight_of("futures")) == (82, 41)


def test_fake_counts_per_calendar_minute_and_states_its_limits(
    fake: FakeBinance, wall: WallClock
) -> None:
    fake.set_weight_limit("futures", 100)
    info = get(fake, "/fapi/v1/exchangeInfo").json()
    weight = [r for r in info["rateLimits"] if r["rateLimitType"] == "REQUEST_WEIGHT"]
    assert weight == [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 100}
    ]
    spot = get(fake, "/api/v3/exchangeInfo").json()["rateLimits"][0]
    assert spot["limit"] == 6000
    fake.spend_weight("futures", 98)  # someone else behind our IP; exchangeInfo took 1
    assert get(fake, "/fapi/v1/ticker/24hr", symbol="BTCUSDT").status_code == 200  # 100 of 100
    refused = get(fake, "/fapi/v1/ticker/24hr", symbol="BTCUSDT")
    assert refused.status_code == 429
    assert refused.json()["code"] == -1003
    assert refused.headers["Retry-After"] == "59"  # until the next minute
    assert get(fake, "/api/v3/ping").status_code == 200  # spot is not held
    wall.advance(60)
    assert get(fake, "/fapi/v1/ticker/24hr", symbol="BTCUSDT").status_code == 200
    assert fake.used_weight_of("futures") == 1


def test_fake_sends_the_used_weight_on_every_answer(fake: FakeBinance) -> None:
    assert get(fake, "/api/v3/nope").status_code == 404
    assert get(fake, "/api/v3/nope").headers["X-MBX-USED-WEIGHT-1M"] == "2"
    error = get(fake, "/fapi/v1/ticker/24hr", symbol="NOPE")
    assert error.status_code == 400 and error.headers["X-MBX-USED-WEIGHT-1M"] == "1"
    sapi = get(fake, "/sapi/v1/account/apiRestrictions")
    assert sapi.headers["X-SAPI-USED-IP-WEIGHT-1M"] == "1"


def test_fake_bans_an_ip_that_keeps_sending(fake: FakeBinance, wall: WallClock) -> None:
    fake.set_weight_limit("spot", 25)
    assert get(fake, "/api/v3/exchangeInfo").status_code == 200  # 20
    first = get(fake, "/api/v3/exchangeInfo")
    assert first.status_code == 429 and first.headers["Retry-After"] == "59"
    fake.retry_after_on_ban = False  # e.g. a proxy in front drops the header
    banned = get(fake, "/api/v3/exchangeInfo")  # ignored the 429: banned
    assert banned.status_code == 418
    assert "Retry-After" not in banned.headers
    until = int((wall.now + 120) * 1000)
    assert banned.json() == {
        "code": -1003,
        "msg": f"Way too much request weight used; IP banned until {until}. "
        "Please use WebSocket Streams for live updates to avoid bans.",
    }
    assert get(fake, "/fapi/v1/ping").status_code == 200  # the futures host is not banned
    wall.advance(121)
    assert get(fake, "/api/v3/ping").status_code == 200


# -- the adapter, through the kernel ------------------------------------------------------------


def kernel(limiter: RateLimiter) -> Kernel:
    k = Kernel(
        breaker_store=MemoryBreakerStore(),
        limiter=limiter,
        metrics=BreakerMetrics(CollectorRegistry()),
    )
    k.failure_threshold = 1000  # these tests are about budgets, not the breaker
    k.policies["exchange"] = RetryPolicy(attempts=1)
    return k


def memory_kernel(wall: WallClock) -> Kernel:
    return kernel(RateLimiter(clock=wall, sleep=wall.sleep, max_wait=0.05))


class Connection:
    """One execution connection: an adapter and its guard (as the pool pairs them)."""

    def __init__(self, k: Kernel, connection_id: int, adapter: CcxtAdapter) -> None:
        self.adapter = adapter
        self.guard = k.guard("exchange", connection_id, "ccxt")

    async def read(self, fn: Callable[[CcxtAdapter], Awaitable[T]]) -> T:
        return await self.guard.call(lambda: fn(self.adapter), idempotent=True)


@pytest.fixture
async def connect(fake: FakeBinance) -> AsyncIterator[Callable[..., Connection]]:
    made: list[CcxtAdapter] = []

    def open_(k: Kernel, connection_id: int, market_type: str = "spot") -> Connection:
        config = fake.adapter_config(market_type, timeout_ms=2000)
        adapter = CcxtAdapter.from_config(
            str(connection_id), config, fake.adapter_secrets(), deps=loopback_deps()
        )
        adapter.exchange.timeout_on_exit = 0
        made.append(adapter)
        return Connection(k, connection_id, adapter)

    yield open_
    for adapter in made:
        await adapter.close()


def refusals(fake: FakeBinance) -> int:
    """Requests the venue answered with 429 or 418."""
    return sum(1 for _, _, status in fake.arrivals if status)


async def refused_locally(fake: FakeBinance, call: Awaitable[Any]) -> sb.RateLimited:
    """``call`` is refused by our own budget: nothing reaches the venue."""
    before = fake.count()
    with pytest.raises(sb.RateLimited) as info:
        await call
    assert fake.count() == before, "the request went out"
    return info.value


async def test_futures_fetch_tickers_without_symbol_weighs_40(
    fake: FakeBinance, wall: WallClock, connect: Callable[..., Connection]
) -> None:
    fake.set_weight_limit("futures", 100)  # exchangeInfo says so; the client reads it
    conn = connect(memory_kernel(wall), 1, "linear")
    both = ["BTC/USDT", "ETH/USDT"]
    await conn.read(lambda a: a.load_markets())  # exchangeInfo 1 (and the time, 1)
    before = fake.used_weight_of("futures")
    await conn.read(lambda a: a.fetch_tickers(both))  # 24hr with no symbol 40 + book 5
    assert fake.used_weight_of("futures") - before == 45
    await conn.read(lambda a: a.fetch_tickers(both))  # over 90 of 100
    error = await refused_locally(fake, conn.read(lambda a: a.fetch_tickers(both)))
    assert error.scope == "binance:fapi" and not error.banned
    assert refusals(fake) == 0  # never a 429: the budget held first


async def test_one_futures_ticker_asks_for_its_symbol(
    fake: FakeBinance, wall: WallClock, connect: Callable[..., Connection]
) -> None:
    conn = connect(memory_kernel(wall), 1, "linear")
    await conn.read(lambda a: a.load_markets())
    before = fake.used_weight_of("futures")
    tickers = await conn.read(lambda a: a.fetch_tickers(["BTC/USDT"]))
    assert tickers["BTC/USDT"].bid is not None and tickers["BTC/USDT"].ask is not None
    assert fake.used_weight_of("futures") - before == 1 + 2  # 24hr and book of one symbol


async def test_spot_and_futures_budgets_are_independent(
    fake: FakeBinance, wall: WallClock, connect: Callable[..., Connection]
) -> None:
    fake.set_weight_limit("spot", 45)
    k = memory_kernel(wall)
    spot, linear = connect(k, 1, "spot"), connect(k, 2, "linear")
    await spot.read(lambda a: a.load_markets())  # 20 (and the time, 1)
    await spot.read(lambda a: a.fetch_balance())  # 20 more: over 40 of 45
    spent = fake.used_weight_of("spot")
    error = await refused_locally(fake, spot.read(lambda a: a.fetch_balance()))
    assert error.scope == "binance:spot"
    await linear.read(lambda a: a.load_markets())
    before = fake.used_weight_of("futures")
    for _ in range(5):  # futures still has its own 2,400
        await linear.read(lambda a: a.fetch_balance())
    assert fake.used_weight_of("futures") - before == 5 * 5
    assert fake.used_weight_of("spot") == spent
    assert refusals(fake) == 0


async def test_429_on_spot_holds_spot_connections_only(
    fake: FakeBinance, wall: WallClock, connect: Callable[..., Connection]
) -> None:
    k = memory_kernel(wall)
    spot, other, linear = connect(k, 1, "spot"), connect(k, 2, "spot"), connect(k, 3, "linear")
    for conn in (spot, other, linear):
        await conn.read(lambda a: a.load_markets())
    fake.rate_limit(5, ban_after=10, family="spot")
    with pytest.raises(sb.RateLimited) as info:
        await spot.read(lambda a: a.fetch_balance())
    assert (info.value.retry_after, info.value.scope) == (5, "binance:spot")
    await refused_locally(fake, other.read(lambda a: a.fetch_balance()))
    await linear.read(lambda a: a.fetch_balance())  # futures is another budget
    wall.advance(5)
    await other.read(lambda a: a.fetch_balance())


async def test_used_weight_header_resyncs_the_budget(
    fake: FakeBinance, wall: WallClock, connect: Callable[..., Connection]
) -> None:
    conn = connect(memory_kernel(wall), 1, "spot")
    await conn.read(lambda a: a.load_markets())  # 20
    fake.spend_weight("spot", 5940)  # another program behind our IP
    await conn.read(lambda a: a.fetch_tickers(["BTC/USDT"]))  # 2: the header says 5962
    await conn.read(lambda a: a.fetch_balance())  # 20: 5982
    await refused_locally(fake, conn.read(lambda a: a.fetch_balance()))  # would be 6002
    assert refusals(fake) == 0


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    p = f"sbtest:{uuid.uuid4().hex}"
    yield p
    client = aioredis.from_url(REDIS_URL)
    keys = [k async for k in client.scan_iter(match=p + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def redis_kernels(prefix: str, wall: WallClock) -> AsyncIterator[Callable[[], Kernel]]:
    """Kernels as two worker processes build them: each its own Redis client."""
    clients: list[aioredis.Redis] = []

    def make() -> Kernel:
        client = aioredis.from_url(REDIS_URL)
        clients.append(client)
        limiter = RateLimiter.from_redis_url(
            REDIS_URL, client, prefix=prefix, clock=wall, sleep=wall.sleep, max_wait=0.05
        )
        return kernel(limiter)

    yield make
    for client in clients:
        await client.aclose()


@pytest.mark.redis
async def test_two_workers_share_one_ip_budget_through_redis(
    fake: FakeBinance,
    connect: Callable[..., Connection],
    redis_kernels: Callable[[], Kernel],
) -> None:
    fake.set_weight_limit("spot", 100)
    one = connect(redis_kernels(), 1, "spot")  # worker 1, account 1
    two = connect(redis_kernels(), 2, "spot")  # worker 2, account 2
    await one.read(lambda a: a.load_markets())  # 20 each (and the time)
    await two.read(lambda a: a.load_markets())
    turns = 0
    while fake.used_weight_of("spot") + 20 <= 100:  # the two take turns, 20 a call
        await (one, two)[turns % 2].read(lambda a: a.fetch_balance())
        turns += 1
    assert turns >= 2  # both spent from the one budget
    await refused_locally(fake, one.read(lambda a: a.fetch_balance()))
    await refused_locally(fake, two.read(lambda a: a.fetch_balance()))
    assert refusals(fake) == 0


@pytest.mark.redis
async def test_418_without_retry_after_holds_every_connection_until_the_ban_ends(
    fake: FakeBinance,
    wall: WallClock,
    connect: Callable[..., Connection],
    redis_kernels: Callable[[], Kernel],
) -> None:
    one = connect(redis_kernels(), 1, "spot")
    two = connect(redis_kernels(), 2, "spot")  # another worker, another account, same IP
    linear = connect(redis_kernels(), 3, "linear")
    for conn in (one, two, linear):
        await conn.read(lambda a: a.load_markets())
    fake.retry_after_on_ban = False
    fake.ban(600, family="spot")
    banned_at = wall.now
    with pytest.raises(sb.RateLimited) as info:
        await one.read(lambda a: a.fetch_balance())
    assert info.value.banned and info.value.banned_until == pytest.approx(banned_at + 600)
    for seconds in (2, 60, 500):  # a 1 s back-off would have let these out
        wall.advance(seconds)
        held = await refused_locally(fake, two.read(lambda a: a.fetch_balance()))
        assert held.retry_after == pytest.approx(banned_at + 600 - wall.now)
        await refused_locally(fake, one.read(lambda a: a.fetch_tickers(["BTC/USDT"])))
    await linear.read(lambda a: a.fetch_balance())  # the futures host never banned us
    wall.advance(banned_at + 601 - wall.now)  # the ban is over
    assert isinstance(await two.read(lambda a: a.fetch_balance()), dict)
    assert fake.requests_while_limited == 1
