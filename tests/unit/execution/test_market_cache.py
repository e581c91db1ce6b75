"""One market table per venue (venues/ccxt/market_cache.py) and ccxt instances cloned per
account (venues/ccxt/instances.py), without a network: loads are plain coroutines."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.fakes.loopback import loopback_deps

from signalbridge.venues.ccxt.adapter import CcxtAdapter
from signalbridge.venues.ccxt.market_cache import (
    SHARED_KEY,
    MarketCache,
    MarketSnapshot,
    VenueKey,
    market_cache_of,
)

VENUE = VenueKey.of("binance", "spot")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def snapshot(tag: str) -> MarketSnapshot:
    markets = {"BTC/USDT": {"id": "BTCUSDT", "symbol": "BTC/USDT", "tag": tag}}
    exchange = SimpleNamespace(
        id="binance",
        markets=markets,
        markets_by_id={"BTCUSDT": [markets["BTC/USDT"]]},
        symbols=["BTC/USDT"],
        ids=["BTCUSDT"],
        currencies={},
        currencies_by_id={},
        baseCurrencies={},
        quoteCurrencies={},
        codes=[],
        options={},
    )
    return MarketSnapshot(exchange)


class Loader:
    """A load that counts its calls, may fail, and waits for a gate to open."""

    def __init__(self, tag: str, *, fail: bool = False) -> None:
        self.tag, self.fail, self.calls = tag, fail, 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self) -> MarketSnapshot:
        self.calls += 1
        await self.gate.wait()
        if self.fail:
            raise RuntimeError(f"{self.tag} cannot load")
        return snapshot(f"{self.tag}-{self.calls}")


async def test_many_readers_one_load() -> None:
    cache = MarketCache()
    load = Loader("a")
    load.gate.clear()
    readers = [asyncio.ensure_future(cache.snapshot(VENUE, load)) for _ in range(50)]
    await asyncio.sleep(0)
    load.gate.set()
    got = await asyncio.gather(*readers)
    assert load.calls == 1
    assert all(s is got[0] for s in got)
    assert cache.loads(VENUE) == 1


async def test_a_failed_load_is_not_kept() -> None:
    cache = MarketCache()
    with pytest.raises(RuntimeError):
        await cache.snapshot(VENUE, Loader("bad", fail=True))
    good = Loader("good")
    assert (await cache.snapshot(VENUE, good)).markets["BTC/USDT"]["tag"] == "good-1"
    assert good.calls == 1


async def test_a_waiter_loads_itself_when_the_loader_fails() -> None:
    """The first connection's failure may be its own (key, guard, network): a connection
    that waited on it tries once through its own connection."""
    cache = MarketCache()
    bad, good = Loader("bad", fail=True), Loader("good")
    bad.gate.clear()
    first = asyncio.ensure_future(cache.snapshot(VENUE, bad))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(cache.snapshot(VENUE, good))
    await asyncio.sleep(0)
    bad.gate.set()
    with pytest.raises(RuntimeError):
        await first
    assert (await second).markets["BTC/USDT"]["tag"] == "good-1"
    assert (bad.calls, good.calls) == (1, 1)


async def test_old_tables_reload_and_a_failed_reload_keeps_the_old_one() -> None:
    clock = Clock()
    cache = MarketCache(ttl=60, retry=10, clock=clock)
    load = Loader("v")
    first = await cache.snapshot(VENUE, load)
    clock.now += 59
    assert await cache.snapshot(VENUE, load) is first
    clock.now += 2
    second = await cache.snapshot(VENUE, load)
    assert second is not first and load.calls == 2

    clock.now += 61
    load.fail = True
    assert await cache.snapshot(VENUE, load) is second  # kept, nobody sees the failure
    assert load.calls == 3
    clock.now += 5
    assert await cache.snapshot(VENUE, load) is second  # not asked again within ``retry``
    assert load.calls == 3
    clock.now += 6
    load.fail = False
    assert (await cache.snapshot(VENUE, load)).markets["BTC/USDT"]["tag"] == "v-4"


async def test_readers_during_a_reload_get_the_old_table_at_once() -> None:
    clock = Clock()
    cache = MarketCache(ttl=60, clock=clock)
    load = Loader("v")
    old = await cache.snapshot(VENUE, load)
    clock.now += 61
    load.gate.clear()
    reloading = asyncio.ensure_future(cache.snapshot(VENUE, load))
    await asyncio.sleep(0)
    assert await cache.snapshot(VENUE, load) is old
    load.gate.set()
    assert (await reloading) is not old
    assert cache.loads(VENUE) == 2


def test_what_makes_a_venue() -> None:
    """The account never does; the base URL, sandbox, market type and options do."""
    assert VenueKey.of("binance", "spot", urls={"public": "http://a"}) == VenueKey.of(
        "binance", "spot", urls={"public": "http://a"}
    )
    others = {
        VenueKey.of("binance", "linear"),
        VenueKey.of("binance", "spot", sandbox=True),
        VenueKey.of("binance", "spot", urls={"public": "http://b"}),
        VenueKey.of("binance", "spot", options={"recvWindow": 5000}),
        VenueKey.of("bybit", "spot"),
    }
    assert VENUE not in others and len(others) == 5
    shared, own = MarketCache(), MarketCache(share=False)
    assert shared.key(VENUE, "1") == shared.key(VENUE, "2")
    assert own.key(VENUE, "1") != own.key(VENUE, "2")
    assert shared.ssl_context() is shared.ssl_context() is not None
    assert own.ssl_context() is None


_text = st.text(max_size=12)
_urls = st.dictionaries(_text, _text, max_size=5)
_options = st.dictionaries(_text, st.one_of(st.integers(), _text, st.booleans()), max_size=5)


@settings(max_examples=60, deadline=None)
@given(_urls, _options, _urls)
def test_a_venue_key_reads_the_config_not_its_order(
    urls: dict[str, str], options: dict[str, Any], other: dict[str, str]
) -> None:
    """Any connection config gives a key; equal configs written in another order share
    it, and other URLs never do."""
    key = VenueKey.of("binance", "spot", urls=urls, options=options)
    reordered = VenueKey.of(
        "binance",
        "spot",
        urls=dict(reversed(list(urls.items()))),
        options=dict(reversed(list(options.items()))),
    )
    assert key == reordered and hash(key) == hash(reordered)
    assert (VenueKey.of("binance", "spot", urls=other, options=options) == key) == (other == urls)


def adapter(deps: Any, exchange: str = "binance", key: str = "k1") -> CcxtAdapter:
    return CcxtAdapter.from_config(
        key, {"exchange": exchange}, {"api_key": key, "secret": f"s-{key}"}, deps=deps
    )


def test_accounts_share_ccxt_tables_but_not_their_state() -> None:
    deps = loopback_deps()
    a, b = adapter(deps, key="k1"), adapter(deps, key="k2")
    assert market_cache_of(deps) is deps.shared[SHARED_KEY]
    assert a.exchange.api is b.exchange.api  # read-only after construction
    assert (a.exchange.apiKey, b.exchange.apiKey) == ("k1", "k2")
    assert (a.exchange.secret, b.exchange.secret) == ("s-k1", "s-k2")
    for name in ("options", "urls", "headers", "balance", "tokenBucket"):
        assert getattr(a.exchange, name) is not getattr(b.exchange, name), name
    a.exchange.options["timeDifference"] = 1234  # one account's clock offset
    assert b.exchange.options.get("timeDifference", 0) == 0
    assert a.exchange.throttler is not b.exchange.throttler
    assert a.exchange.fetch2 != b.exchange.fetch2  # each its own request budgets wrapper
    [template] = market_cache_of(deps).templates.values()
    assert not template.apiKey and not template.secret  # the cache holds no credentials


def test_other_exchanges_and_the_old_way_build_in_full() -> None:
    deps = loopback_deps()
    assert adapter(deps, "kraken").exchange.api is not adapter(deps, "kraken").exchange.api
    old = loopback_deps(shared={SHARED_KEY: MarketCache(share=False)})
    assert adapter(old).exchange.api is not adapter(old).exchange.api
    assert not market_cache_of(old).templates
