"""Paper prices follow the tick: every price a feed emits or the exchange applies is a
multiple of its market's tick, and a market order trades at the book, never refused for
its precision, however long the feed has run (issue 11, part 8)."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signalbridge.integrations.errors import InvalidRequest
from signalbridge.venues.base import (
    AdapterDeps,
    OrderRequest,
    OrderSide,
    OrderStatus,
    VenueOrderType,
    client_order_id,
)
from signalbridge.venues.paper import venue
from signalbridge.venues.paper.adapter import PaperAdapter
from signalbridge.venues.paper.exchange import PaperExchange
from signalbridge.venues.paper.feeds import RandomWalkFeed, ReplayFeed, on_tick
from signalbridge.venues.paper.markets import default_markets, default_start_prices
from signalbridge.venues.paper.rules import Quote, VenueRules
from signalbridge.venues.paper.state import AccountState, PaperBalance
from signalbridge.venues.paper.store import MemoryPaperStore

MARKETS = default_markets()
TICKS = {symbol: market.price_tick for symbol, market in MARKETS.items()}
volatilities = st.decimals(min_value=D(0), max_value=D("0.5"), places=4)


def assert_on_tick(prices: dict[str, D], ticks: dict[str, D]) -> None:
    for symbol, price in prices.items():
        assert price > 0, (symbol, price)
        assert price % ticks[symbol] == 0, f"{symbol} {price} is off the tick {ticks[symbol]}"


@given(seed=st.integers(0, 2**32), volatility=volatilities, ticks=st.integers(1, 200))
def test_random_walk_prices_are_on_every_markets_tick(seed: int, volatility: D, ticks: int) -> None:
    feed = RandomWalkFeed(seed, default_start_prices(), volatility, ticks=TICKS)
    assert_on_tick(feed.current(), TICKS)
    for _ in range(ticks):
        assert_on_tick(feed.advance(), TICKS)
    assert_on_tick(feed.current(), TICKS)


@given(
    seed=st.integers(0, 2**32),
    volatility=volatilities,
    tick=st.sampled_from([D("0.00000001"), D("0.0001"), D("0.25"), D("0.5"), D(1), D(7)]),
    start=st.decimals(min_value=D("0.00000001"), max_value=D(10**7), places=8),
)
def test_random_walk_follows_any_tick_from_any_start(
    seed: int, volatility: D, tick: D, start: D
) -> None:
    ticks = {"X/USDT": tick}
    feed = RandomWalkFeed(seed, {"X/USDT": start}, volatility, ticks=ticks)
    assert_on_tick(feed.current(), ticks)
    for _ in range(50):
        assert_on_tick(feed.advance(), ticks)


def test_random_walk_still_drifts_when_a_move_is_below_half_a_tick() -> None:
    """The walk runs finer than the tick and is shown rounded: it cannot stick."""
    feed = RandomWalkFeed(3, {"X/USDT": D(100)}, D("0.0002"), ticks={"X/USDT": D("0.1")})
    seen = {feed.advance()["X/USDT"] for _ in range(2000)}
    assert len(seen) > 1 and all(price % D("0.1") == 0 for price in seen)


def test_the_same_seed_gives_the_same_ticks() -> None:
    a = RandomWalkFeed(9, default_start_prices(), D("0.01"), ticks=TICKS)
    b = RandomWalkFeed(9, default_start_prices(), D("0.01"), ticks=TICKS)
    assert [a.advance() for _ in range(30)] == [b.advance() for _ in range(30)]


def test_replay_prices_are_rounded_to_the_tick(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(
        "ts,symbol,price\n"
        "1,BTC/USDT,59987.49650743\n"
        "1,DOGE/USDT,0.150004\n"
        "2,BTC/USDT,0.001\n"
        "2,NEW/USDT,1.23456789\n"
    )
    feed = ReplayFeed(path, TICKS)
    assert feed.current() == {"BTC/USDT": D("59987.5"), "DOGE/USDT": D("0.15")}
    # Below half a tick is one tick, never zero; a symbol without a market is left alone.
    assert feed.advance() == {"BTC/USDT": D("0.01"), "NEW/USDT": D("1.23456789")}


def test_on_tick_rounds_to_the_nearest_tick_and_never_below_one() -> None:
    assert on_tick(D("59987.49650743"), D("0.01")) == D("59987.50")
    assert on_tick(D("59987.494"), D("0.01")) == D("59987.49")
    assert on_tick(D("0.004"), D("0.01")) == D("0.01")
    assert on_tick(D("1.23456789"), None) == D("1.23456789")


async def test_the_exchange_puts_any_price_it_is_given_on_the_tick() -> None:
    """Prices set by hand, or by a feed that knows no ticks, still land on the tick."""
    feed = RandomWalkFeed(5, default_start_prices(), D("0.01"))  # no ticks: 8 decimals
    exchange = PaperExchange(MemoryPaperStore(), feed=feed)
    for _ in range(5):
        applied = await exchange.advance()
        assert_on_tick(applied, TICKS)
    await exchange.on_price("BTC/USDT", D("59987.49650743"))
    assert exchange.price("BTC/USDT") == D("59987.50")
    with pytest.raises(ValueError, match="positive"):
        await exchange.on_price("BTC/USDT", D("Infinity"))


def market_buy(n: int, amount: str = "0.01", symbol: str = "BTC/USDT") -> OrderRequest:
    return OrderRequest(
        client_order_id(n, "e0"), symbol, OrderSide.BUY, VenueOrderType.MARKET, D(amount)
    )


@pytest.mark.parametrize("futures", [False, True])
@pytest.mark.parametrize("seed", [1, 7, 42])
async def test_a_market_order_after_many_ticks_fills_at_the_book(seed: int, futures: bool) -> None:
    deps = AdapterDeps()
    config = {"futures": futures, "feed": {"seed": seed, "volatility": "0.003"}}
    adapter = PaperAdapter.from_config("acc", config, {}, deps=deps)
    for n in range(1, 6):
        for _ in range(40):
            await adapter.exchange.advance()
        book = adapter.exchange.price("BTC/USDT")
        order = await adapter.create_order(market_buy(n))
        assert order.status is OrderStatus.FILLED
        assert order.average_price == book  # no spread, no slippage: the book price
        ticker = (await adapter.fetch_tickers(["BTC/USDT"]))["BTC/USDT"]
        assert ticker.last % D("0.01") == 0 and ticker.bid == ticker.ask == ticker.last


@settings(max_examples=25)
@given(
    seed=st.integers(0, 2**32),
    volatility=st.decimals(min_value=D(0), max_value=D("0.05"), places=4),
    ticks=st.integers(1, 60),
    symbol=st.sampled_from(sorted(TICKS)),
)
def test_market_orders_fill_after_any_walk(
    seed: int, volatility: D, ticks: int, symbol: str
) -> None:
    async def run() -> None:
        adapter = PaperAdapter.from_config(
            "acc",
            {
                "futures": True,
                "balances": {"USDT": "1000000000000", "USD": "1000000000000"},
                "feed": {"seed": seed, "volatility": str(volatility)},
            },
            {},
            deps=AdapterDeps(),
        )
        for _ in range(ticks):
            await adapter.exchange.advance()
        market = (await adapter.load_markets())[symbol]
        book = adapter.exchange.price(symbol)
        # Enough for the market's minimum notional at whatever price the walk reached.
        amount = max(market.min_amount, market.amount_step)
        while market.notional(amount, book) < market.min_notional:
            amount *= 10
        order = await adapter.create_order(market_buy(1, str(amount), symbol))
        assert order.status is OrderStatus.FILLED and order.average_price == book

    asyncio.run(run())


def test_the_venue_never_refuses_a_market_order_for_the_books_precision() -> None:
    """Even a book quoted off the tick: the market order is checked for size and notional
    only, and fills on the tick."""
    market = MARKETS["BTC/USDT"]
    state = AccountState("acc", {}, {"USDT": PaperBalance("USDT", D(10_000))}, {}, {})
    off = D("59987.49650743")
    quote = Quote(bid=off, ask=off, last=off)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rules = VenueRules(maker_fee=D(0), taker_fee=D(0))
    order = venue.place(state, market_buy(1), market, quote, rules, now, "o1")
    assert order.status is OrderStatus.FILLED and order.average_price == D("59987.50")
    # A price the order itself names is still held to the tick, and tiny orders to the
    # minimum notional.
    limit = OrderRequest(
        "c2", "BTC/USDT", OrderSide.BUY, VenueOrderType.LIMIT, D("0.01"), price=off
    )
    with pytest.raises(InvalidRequest, match="not a multiple of the tick"):
        venue.place(state, limit, market, quote, rules, now, "o2")
    with pytest.raises(InvalidRequest, match="notional"):
        venue.place(state, market_buy(3, "0.00001"), market, quote, rules, now, "o3")


async def test_a_thousand_ticks_then_market_orders_on_every_symbol() -> None:
    counter = itertools.count(1)
    feed = RandomWalkFeed(11, default_start_prices(), D("0.002"), ticks=TICKS)
    exchange = PaperExchange(MemoryPaperStore(), feed=feed, new_id=lambda: f"o{next(counter)}")
    await exchange.open_account(
        "acc", VenueRules(futures=True), {"USDT": D(10**8), "USD": D(10**8)}
    )
    for _ in range(1000):
        await exchange.advance()
    for n, symbol in enumerate(sorted(TICKS), start=1):
        market = await exchange.market("acc", symbol)
        amount = market.min_amount
        while market.notional(amount, exchange.price(symbol)) < market.min_notional:
            amount *= 10
        order = await exchange.create_order("acc", market_buy(n, str(amount), symbol))
        assert order.status is OrderStatus.FILLED, (symbol, order.raw)
        assert order.average_price == exchange.price(symbol)
