"""Many accounts on one venue share one market table, through the REAL ccxt against the
loopback fake Binance (venues/ccxt/market_cache.py): one ``exchangeInfo`` for N
connections, a reload that reaches them all, a failure that poisons nothing, and a venue
with another base URL that keeps its own table."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import pytest
from tests.fakes.binance import (  # noqa: F401
    FakeBinance,
    binance_server,
    fake_binance,
    running_fake_binance,
)
from tests.fakes.loopback import loopback_deps

from signalbridge.integrations import errors as sb
from signalbridge.venues.base import AdapterDeps
from signalbridge.venues.ccxt.adapter import CcxtAdapter
from signalbridge.venues.ccxt.market_cache import SHARED_KEY, MarketCache

INFO = "/api/v3/exchangeInfo"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


Make = Callable[..., CcxtAdapter]


@pytest.fixture
async def make(fake_binance: FakeBinance) -> AsyncIterator[Make]:  # noqa: F811
    built: list[CcxtAdapter] = []

    def build(
        deps: AdapterDeps, fake: FakeBinance = fake_binance, key: str | None = None
    ) -> CcxtAdapter:
        secrets = fake.adapter_secrets()
        if key is not None:  # another account on the same venue
            fake.add_credentials(key, f"secret-of-{key}")
            secrets = {"api_key": key, "secret": f"secret-of-{key}"}
        adapter = CcxtAdapter.from_config(
            str(len(built)), fake.adapter_config("spot"), secrets, deps=deps
        )
        adapter.exchange.timeout_on_exit = 0
        built.append(adapter)
        return adapter

    yield build
    for adapter in built:
        await adapter.close()


async def tick(adapter: CcxtAdapter) -> Decimal:
    """The price tick the connection sees now (its table in hand: no request)."""
    return (await adapter.load_markets())["BTC/USDT"].price_tick


async def test_one_exchange_info_for_many_accounts(make: Make, fake_binance: FakeBinance) -> None:  # noqa: F811
    deps = loopback_deps()
    adapters = [make(deps, key=f"account-{i:04d}") for i in range(12)]
    tables = await asyncio.gather(*(a.load_markets() for a in adapters))
    assert fake_binance.count(INFO) == 1
    assert all(t is tables[0] for t in tables)
    assert all(a.exchange.markets is adapters[0].exchange.markets for a in adapters)
    # Each account still signs with its own key, and ccxt loads no table of its own.
    balances = await asyncio.gather(*(a.fetch_balance() for a in adapters[:3]))
    assert all("USDT" in b for b in balances)
    fresh = make(deps, key="late-account")
    await fresh.fetch_balance()  # a first call of any kind takes the shared table
    assert fake_binance.count(INFO) == 1
    assert fresh.exchange.markets is adapters[0].exchange.markets


async def test_the_old_way_loads_one_table_per_account(
    make: Make,
    fake_binance: FakeBinance,  # noqa: F811
) -> None:
    deps = loopback_deps(shared={SHARED_KEY: MarketCache(share=False)})
    adapters = [make(deps) for _ in range(3)]
    await asyncio.gather(*(a.load_markets() for a in adapters))
    assert fake_binance.count(INFO) == 3


async def test_a_reload_reaches_every_connection(make: Make, fake_binance: FakeBinance) -> None:  # noqa: F811
    clock = Clock()
    deps = loopback_deps(shared={SHARED_KEY: MarketCache(ttl=60, clock=clock)})
    a, b = make(deps), make(deps, key="second-account")
    await asyncio.gather(a.load_markets(), b.load_markets())
    assert await tick(a) == await tick(b) == Decimal("0.01")
    fake_binance.set_tick("BTCUSDT", "0.1")
    clock.now += 61
    await a.load_markets()
    await b.load_markets()
    assert fake_binance.count(INFO) == 2
    assert await tick(a) == await tick(b) == Decimal("0.1")
    assert b.exchange.markets is a.exchange.markets  # ccxt's own rounding sees it too
    assert b.exchange.markets["BTC/USDT"]["precision"]["price"] == 0.1


async def test_a_failed_load_poisons_nothing(make: Make, fake_binance: FakeBinance) -> None:  # noqa: F811
    clock = Clock()
    deps = loopback_deps(shared={SHARED_KEY: MarketCache(ttl=60, retry=10, clock=clock)})
    a, b = make(deps), make(deps, key="second-account")
    fake_binance.fail_next(INFO, 1, status=503)
    with pytest.raises(sb.IntegrationError):
        await a.load_markets()
    await b.load_markets()  # the next connection loads it
    await a.load_markets()
    assert fake_binance.count(INFO) == 2
    # Once a table exists, a failed reload keeps it in use.
    clock.now += 61
    fake_binance.fail_next(INFO, 1, status=503)
    assert (await a.load_markets())["BTC/USDT"].price_tick == Decimal("0.01")
    assert fake_binance.count(INFO) == 3


async def test_another_base_url_has_its_own_table(make: Make, fake_binance: FakeBinance) -> None:  # noqa: F811
    deps = loopback_deps()
    with running_fake_binance() as other:
        other.set_tick("BTCUSDT", "0.5")
        here, there = make(deps), make(deps, fake=other)
        await asyncio.gather(here.load_markets(), there.load_markets())
        assert (await tick(here), await tick(there)) == (Decimal("0.01"), Decimal("0.5"))
        assert (fake_binance.count(INFO), other.count(INFO)) == (1, 1)
        await there.close()
