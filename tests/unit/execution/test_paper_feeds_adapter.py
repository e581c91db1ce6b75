"""Price feeds, market config and the paper ExchangeAdapter on the in-memory store."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D
from pathlib import Path

import pytest

from signalbridge.domain.market import MarketKind
from signalbridge.integrations.errors import SymbolNotListed
from signalbridge.venues.base import (
    AdapterDeps,
    OrderRequest,
    OrderSide,
    OrderStatus,
    VenueOrderType,
    client_order_id,
)
from signalbridge.venues.paper.adapter import PaperAdapter
from signalbridge.venues.paper.feeds import RandomWalkFeed, ReplayFeed
from signalbridge.venues.paper.markets import markets_from_config


def test_random_walk_is_deterministic_and_stays_decimal() -> None:
    starts = {"BTC/USDT": D(60000), "ETH/USDT": D(3000)}
    a = RandomWalkFeed(7, starts, D("0.01"))
    b = RandomWalkFeed(7, starts, D("0.01"))
    ticks_a = [a.advance() for _ in range(50)]
    assert ticks_a == [b.advance() for _ in range(50)]
    assert ticks_a != [RandomWalkFeed(8, starts, D("0.01")).advance() for _ in range(50)]
    for tick in ticks_a:
        for symbol, price in tick.items():
            assert isinstance(price, D) and price > 0
            assert abs(price / starts[symbol] - 1) < D("0.7")
    with pytest.raises(ValueError):
        RandomWalkFeed(1, starts, D(2))


def test_replay_csv_and_jsonl(tmp_path: Path) -> None:
    csv_file = tmp_path / "prices.csv"
    csv_file.write_text(
        "ts,symbol,price\n"
        "2026-01-01T00:00:00Z,BTC/USDT,60000\n"
        "2026-01-01T00:00:00Z,ETH/USDT,3000.5\n"
        "2026-01-01T00:01:00Z,BTC/USDT,59000.25\n"
    )
    feed = ReplayFeed(csv_file)
    assert feed.current() == {"BTC/USDT": D(60000), "ETH/USDT": D("3000.5")}
    assert feed.advance() == {"BTC/USDT": D("59000.25")}
    assert feed.exhausted and feed.advance() == {}
    jsonl = tmp_path / "prices.jsonl"
    jsonl.write_text(
        '{"ts": 1, "symbol": "btc/usdt", "price": "1.5"}\n\n'
        '{"ts": 2, "symbol": "BTC/USDT", "price": 1.25}\n'
    )
    feed = ReplayFeed(jsonl)
    assert feed.current() == {"BTC/USDT": D("1.5")}
    assert feed.advance() == {"BTC/USDT": D("1.25")}
    bad = tmp_path / "bad.csv"
    bad.write_text("ts,symbol,price\n1,BTC/USDT,abc\n")
    with pytest.raises(ValueError, match="line 2"):
        ReplayFeed(bad)


def test_market_config_overrides_and_additions() -> None:
    markets = markets_from_config(
        {
            "BTC/USDT": {"price_tick": "0.1"},
            "PEPE/USDT": {"price_tick": "0.00000001", "amount_step": "1"},
        }
    )
    assert markets["BTC/USDT"].price_tick == D("0.1")
    assert markets["PEPE/USDT"].kind is MarketKind.SPOT and markets["PEPE/USDT"].quote == "USDT"
    assert markets["XAUUSD"].contract_size == 100 and markets["XAUUSD"].tick_value == 1
    with pytest.raises(ValueError, match="unknown field"):
        markets_from_config({"BTC/USDT": {"tick": "1"}})


async def test_adapter_trades_and_follows_the_feed(tmp_path: Path) -> None:
    prices = tmp_path / "p.csv"
    prices.write_text("ts,symbol,price\n1,BTC/USDT,60000\n2,BTC/USDT,59500\n3,BTC/USDT,58900\n")
    deps = AdapterDeps(data_dir=tmp_path)
    config = {
        "futures": True,
        "balances": {"USDT": "1000"},
        "feed": {"type": "replay", "path": prices.name},  # relative to the data directory
    }
    adapter = PaperAdapter.from_config("c1", config, {}, deps=deps)
    other = PaperAdapter.from_config("c2", {"balances": {"USDT": "50"}}, {}, deps=deps)
    assert other.exchange is adapter.exchange  # one shared venue per process

    markets = await adapter.load_markets()
    assert markets["BTC/USDT"].kind is MarketKind.LINEAR
    assert markets["BTC/USDT"].venue_symbol == "BTC/USDT:USDT"
    assert (await other.load_markets())["BTC/USDT"].kind is MarketKind.SPOT
    tickers = await adapter.fetch_tickers(["BTC/USDT"])
    assert tickers["BTC/USDT"].last == D(60000)
    with pytest.raises(SymbolNotListed):
        await adapter.fetch_tickers(["NOPE/USDT"])

    await adapter.set_leverage("BTC/USDT", 10)
    cid = client_order_id(1, "e0")
    order = await adapter.create_order(
        OrderRequest(cid, "BTC/USDT", OrderSide.BUY, VenueOrderType.LIMIT, D("0.1"), price=D(59000))
    )
    assert order.status is OrderStatus.OPEN
    assert [o.client_order_id for o in await adapter.fetch_open_orders()] == [cid]
    assert await other.fetch_open_orders() == []
    await adapter.exchange.advance()
    assert (await adapter.fetch_order("BTC/USDT", cid)).status is OrderStatus.OPEN
    await adapter.exchange.advance()
    filled = await adapter.fetch_order("BTC/USDT", cid)
    assert filled.status is OrderStatus.FILLED and filled.raw["venue"] == "paper"
    [position] = await adapter.fetch_positions()
    assert position.leverage == 10 and position.unrealised_pnl == D(-10)
    balance = (await adapter.fetch_balance())["USDT"]
    assert balance.used == D(590) and balance.total == balance.free + balance.used

    probe = await adapter.probe()
    assert probe.ok and probe.can_trade and not probe.can_withdraw
    await adapter.close()


async def test_thousand_accounts_concurrently() -> None:
    """The benchmark's shape: 1,000 follows each placing one order on its own account.

    How fast is measured by ``bench/bench_fanout.py --paper 1000``, not here.
    """
    deps = AdapterDeps()
    adapters = [
        PaperAdapter.from_config(f"acc-{n}", {"futures": True}, {}, deps=deps) for n in range(1000)
    ]
    await asyncio.gather(*(a.probe() for a in adapters))
    orders = await asyncio.gather(
        *(
            a.create_order(
                OrderRequest(
                    client_order_id(n, "e0"),
                    "BTC/USDT",
                    OrderSide.BUY,
                    VenueOrderType.MARKET,
                    D("0.01"),
                )
            )
            for n, a in enumerate(adapters)
        )
    )
    assert all(o.status is OrderStatus.FILLED for o in orders)
    assert len({o.client_order_id for o in orders}) == 1000
    positions = await asyncio.gather(*(a.fetch_positions() for a in adapters))
    assert all(len(p) == 1 and p[0].amount == D("0.01") for p in positions)
