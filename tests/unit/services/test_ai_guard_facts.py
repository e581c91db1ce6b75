"""Gathering the guard rails' market facts (services/ai_guard_facts.py): every venue is read
through its guard, and a venue that cannot be read is a problem, never a pass."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar, cast

from signalbridge.ai.guard import GuardLimits, check
from signalbridge.domain.market import Market, MarketKind
from signalbridge.domain.signals import EntryZone, Noise, OrderType, Side, Signal
from signalbridge.execution.pool import AdapterPool, Connected
from signalbridge.integrations.errors import ConnectionDisabled, IntegrationError, TransientError
from signalbridge.integrations.guard import ConnectionGuard
from signalbridge.services.ai_guard_facts import (
    FollowFacts,
    guard_problems,
    limits_for,
    market_facts,
)
from signalbridge.store import models as m
from signalbridge.venues.base import Balance, Ticker

T = TypeVar("T")
D = Decimal
NOW = datetime(2026, 1, 1, tzinfo=UTC)
BTC = Market(
    symbol="BTC/USDT",
    venue_symbol="BTCUSDT",
    base="BTC",
    quote="USDT",
    kind=MarketKind.LINEAR,
    price_tick=D("0.01"),
    amount_step=D("0.001"),
    max_leverage=50,
)
SIGNAL = Signal(
    symbol="BTC/USDT",
    side=Side.LONG,
    order_type=OrderType.LIMIT,
    entry=EntryZone.of(D(60000)),
    stop_loss=D(58000),
    take_profits=(D(62000),),
    leverage=5,
)


class Venue:
    """A venue that lists what it is given, at the prices it is given, or is down."""

    def __init__(self, markets: Mapping[str, Market], price: Decimal, *, down: bool = False):
        self.markets = markets
        self.price = price
        self.down = down
        self.reads = 0

    async def load_markets(self) -> Mapping[str, Market]:
        self.reads += 1
        if self.down:
            raise TransientError("venue timed out")
        return self.markets

    async def fetch_tickers(self, symbols: Iterable[str]) -> dict[str, Ticker]:
        return {s: Ticker(s, self.price, self.price, self.price, NOW) for s in symbols}

    async def fetch_balance(self) -> dict[str, Balance]:
        return {"USDT": Balance("USDT", D(1000), D(0), D(1000))}


class PassGuard:
    """Runs the call once and counts it, as a closed breaker would let it through."""

    def __init__(self) -> None:
        self.calls: list[tuple[bool, int]] = []

    async def call(self, fn: Callable[[], Awaitable[T]], *, idempotent: bool, weight: int = 1) -> T:
        self.calls.append((idempotent, weight))
        return await fn()


class Pool:
    def __init__(self, live: dict[int, Connected | IntegrationError]) -> None:
        self.live = live

    async def get_many(self, ids: Iterable[int]) -> dict[int, Connected | IntegrationError]:
        return {i: self.live[i] for i in ids if i in self.live}


def connected(connection_id: int, venue: Venue, guard: PassGuard) -> Connected:
    return Connected(connection_id, "paper", cast(Any, venue), cast(ConnectionGuard, guard), NOW)


async def test_each_follow_is_read_through_its_guard_and_failures_are_problems() -> None:
    guard = PassGuard()
    sound = Venue({"BTC/USDT": BTC}, D(60000))
    moved = Venue({"BTC/USDT": BTC}, D(70000))
    bare = Venue({}, D(1))
    down = Venue({"BTC/USDT": BTC}, D(60000), down=True)
    pool = Pool(
        {
            1: connected(1, sound, guard),
            2: connected(2, moved, guard),
            3: connected(3, bare, guard),
            4: connected(4, down, guard),
            5: ConnectionDisabled("execution connection 5 is deactivated"),
        }
    )
    sizing = {"mode": "fixed_quote", "value": "100", "max_leverage": 3}
    follows = [(11, 1, sizing), (12, 2, {}), (13, 3, {}), (14, 4, {}), (15, 5, {}), (16, 6, {})]
    facts = await market_facts(cast(AdapterPool, pool), "BTC/USDT", follows)

    first = facts.venues[0]
    assert (first.market, first.price, first.balance) == (BTC, D(60000), D(1000))
    assert first.sizing is not None and first.sizing.max_leverage == 3
    assert guard.calls == [(True, 3)] * 4  # one idempotent read of weight 3 per venue
    assert check(SIGNAL, facts, GuardLimits()) == [
        "follow 11: leverage 5 is above the cap 3",
        "follow 12: entry 60000 is more than 5 % from the current price 70000",
        "follow 13: BTC/USDT is not listed by the venue",
        "follow 14: the venue could not be read (venue timed out)",
        "follow 15: the venue could not be read (execution connection 5 is deactivated)",
        "follow 16: the venue could not be read (connection 6 is missing)",
    ]


async def test_bad_sizing_is_a_problem_and_nothing_is_read_without_a_symbol() -> None:
    venue = Venue({"BTC/USDT": BTC}, D(60000))
    pool = cast(AdapterPool, Pool({1: connected(1, venue, PassGuard())}))
    facts = await market_facts(pool, "BTC/USDT", [(11, 1, {"mode": "nonsense"})])
    assert facts.venues[0].error == "the follow's sizing settings are invalid"
    blind = await market_facts(pool, None, [(11, 1, {})])
    assert blind.venues[0].market is None and venue.reads == 0


async def test_without_a_pool_or_for_noise_the_answer_is_no() -> None:
    channel = m.ChannelSource(id=1, name="c", type="webhook")
    follows: list[FollowFacts] = [(11, 1, {})]
    assert await guard_problems(SIGNAL, channel, text="BTC long", follows=follows, pool=None) == [
        "the venues cannot be read here (no adapter pool): nothing checked"
    ]
    assert await guard_problems(SIGNAL, channel, text="ETH long", follows=follows, pool=None) == [
        "symbol BTC/USDT is not named in the message",
        "the venues cannot be read here (no adapter pool): nothing checked",
    ]
    noise = await guard_problems(Noise(), channel, text="gm", follows=follows, pool=None)
    assert noise == ["noise does not act"]


def test_the_channel_sets_the_entry_band() -> None:
    assert limits_for(m.ChannelSource()).max_price_distance_percent == 5
    narrow = m.ChannelSource(ai_max_price_distance_percent=D("1.5"))
    assert limits_for(narrow).max_price_distance_percent == D("1.5")
