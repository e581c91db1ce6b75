from __future__ import annotations

import types

import pytest
from limits.aio.storage import memory as limits_memory

from signalbridge.integrations.errors import InvalidRequest, RateLimited
from signalbridge.integrations.ratelimit import RateLimiter


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    t = FakeTime()
    # The limits memory storage reads time.time(); give it the same fake clock.
    monkeypatch.setattr(limits_memory, "time", types.SimpleNamespace(time=t.time))
    return t


def limiter(t: FakeTime, **kw: float) -> RateLimiter:
    return RateLimiter(sleep=t.sleep, clock=t.time, **kw)  # type: ignore[arg-type]


async def test_budget_waits_for_room_and_never_exceeds(fake_time: FakeTime) -> None:
    conn = limiter(fake_time).for_connection("binance", "acct-1", provider_limits=["5/second"])
    sent: list[float] = []
    for _ in range(12):
        await conn.acquire()
        sent.append(fake_time.now)
    for i, at in enumerate(sent):
        in_window = [s for s in sent[: i + 1] if at - s < 1.0]
        assert len(in_window) <= 5
    assert sent[-1] - sent[0] >= 2.0
    assert fake_time.sleeps  # it waited instead of sending


async def test_provider_budget_is_shared_by_accounts(fake_time: FakeTime) -> None:
    rl = limiter(fake_time)
    a = rl.for_connection(
        "binance", "a", provider_limits=["3/minute"], account_limits=["10/minute"]
    )
    b = rl.for_connection(
        "binance", "b", provider_limits=["3/minute"], account_limits=["10/minute"]
    )
    await a.acquire()
    await b.acquire()
    await a.acquire()
    with pytest.raises(RateLimited) as info:
        await b.acquire(wait=False)
    assert info.value.retry_after is not None and 0 < info.value.retry_after <= 60


async def test_account_budget_is_separate(fake_time: FakeTime) -> None:
    rl = limiter(fake_time)
    a = rl.for_connection("mt", "a", account_limits=["2/minute"])
    b = rl.for_connection("mt", "b", account_limits=["2/minute"])
    await a.acquire()
    await a.acquire()
    await b.acquire()
    await b.acquire()
    with pytest.raises(RateLimited):
        await a.acquire(wait=False)


async def test_weight_counts_and_oversized_weight_is_refused(fake_time: FakeTime) -> None:
    conn = limiter(fake_time).for_connection("binance", None, provider_limits=["10/second"])
    await conn.acquire(cost=6)
    with pytest.raises(RateLimited):
        await conn.acquire(cost=6, wait=False)
    with pytest.raises(InvalidRequest):
        await conn.acquire(cost=11)


async def test_wait_longer_than_max_wait_raises(fake_time: FakeTime) -> None:
    conn = limiter(fake_time, max_wait=5.0).for_connection("x", None, provider_limits=["1/minute"])
    await conn.acquire()
    with pytest.raises(RateLimited):
        await conn.acquire()
    assert fake_time.sleeps == []


async def test_backoff_gate_holds_everything_until_retry_after(fake_time: FakeTime) -> None:
    rl = limiter(fake_time)
    a = rl.for_connection("binance", "a")
    b = rl.for_connection("binance", "b")
    start = fake_time.now
    until = await a.back_off(12.5)
    assert until == start + 12.5
    await b.acquire()  # another account of the same provider waits too
    assert fake_time.now >= until
    assert fake_time.sleeps == [pytest.approx(12.5)]


async def test_backoff_gate_only_moves_later(fake_time: FakeTime) -> None:
    conn = limiter(fake_time).for_connection("binance", "a")
    await conn.back_off(60)
    await conn.back_off(5)
    assert await conn.not_before() == fake_time.now + 60


async def test_ban_beyond_max_wait_raises_rate_limited(fake_time: FakeTime) -> None:
    conn = limiter(fake_time, max_wait=30).for_connection("binance", "a")
    await conn.back_off(600)
    with pytest.raises(RateLimited) as info:
        await conn.acquire()
    assert info.value.retry_after == pytest.approx(600)
    assert fake_time.sleeps == []


async def test_account_scoped_gate_does_not_block_other_accounts(fake_time: FakeTime) -> None:
    rl = limiter(fake_time)
    a = rl.for_connection("mt", "a", gate_scope="account")
    b = rl.for_connection("mt", "b", gate_scope="account")
    await a.back_off(30)
    await b.acquire()
    assert fake_time.sleeps == []
