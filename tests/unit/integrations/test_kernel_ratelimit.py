from __future__ import annotations

import types

import pytest
from limits.aio.storage import memory as limits_memory

from signalbridge.integrations.errors import InvalidRequest, RateLimited
from signalbridge.integrations.ratelimit import (
    BAN_DEFAULT,
    RateLimiter,
    current_limiter,
    serving,
)


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


# -- per-host weight budgets (issue 13, item 7) -------------------------------------------------


async def test_a_ban_without_a_stated_length_holds_for_the_shortest_ban(
    fake_time: FakeTime,
) -> None:
    conn = limiter(fake_time).for_connection("binance:spot")
    assert await conn.back_off(None, banned=True) == fake_time.now + BAN_DEFAULT
    other = limiter(fake_time).for_connection("binance:fapi")
    assert await other.back_off(None) == fake_time.now + 1.0  # a plain 429: one second


async def test_a_stated_ban_end_wins_over_a_shorter_retry_after(fake_time: FakeTime) -> None:
    rl = limiter(fake_time, max_wait=30)
    conn = rl.for_connection("binance:spot")
    until = fake_time.now + 3600
    assert await conn.back_off(5, banned=True, until=until) == until
    with pytest.raises(RateLimited) as info:
        await rl.for_connection("binance:spot", "another account").acquire()
    assert info.value.retry_after == pytest.approx(3600)
    assert info.value.scope == "binance:spot"  # the guard records nothing more


async def test_weight_zero_waits_for_the_gate_only(fake_time: FakeTime) -> None:
    conn = limiter(fake_time).for_connection("binance:fapi", provider_limits=["1/minute"])
    await conn.acquire(1)
    await conn.acquire(0)  # an order: no weight, so no wait for room
    assert fake_time.sleeps == []
    await conn.back_off(4)
    await conn.acquire(0)
    assert fake_time.sleeps == [pytest.approx(4)]


async def test_local_refusal_names_its_budget(fake_time: FakeTime) -> None:
    conn = limiter(fake_time).for_connection("binance:spot", provider_limits=["10/minute"])
    await conn.acquire(10)
    with pytest.raises(RateLimited) as info:
        await conn.acquire(1, wait=False)
    assert info.value.scope == "binance:spot" and not info.value.banned


async def test_used_weight_from_the_venue_raises_the_count_never_lowers_it(
    fake_time: FakeTime,
) -> None:
    rl = limiter(fake_time)
    conn = rl.for_connection("binance:spot", provider_limits=["100/minute"])
    await conn.acquire(10)
    await conn.sync_used(95)  # another program behind our IP spent 85
    await conn.acquire(5)
    with pytest.raises(RateLimited):
        await conn.acquire(1, wait=False)
    await conn.sync_used(3)  # a lower figure (the venue's minute rolled) changes nothing
    with pytest.raises(RateLimited):
        await conn.acquire(1, wait=False)
    same = rl.for_connection("binance:spot", provider_limits=["100/minute"])
    with pytest.raises(RateLimited):  # one budget per key: every connection sees it
        await same.acquire(1, wait=False)


async def test_serving_makes_the_limiter_current_for_the_call_only(fake_time: FakeTime) -> None:
    rl = limiter(fake_time)
    seen: list[RateLimiter | None] = []

    async def call() -> None:
        seen.append(current_limiter())

    assert current_limiter() is None
    with serving(rl):
        await call()
    await call()
    assert seen == [rl, None]
