"""Prices from one ``ccxt.pro`` websocket per venue, REST as the fallback.

Real ccxt (REST and ``ccxt.pro``) against loopback fakes: Binance's REST API and its
USDⓈ-M market streams; Bybit's and OKX's REST APIs and their v5 public streams. The
stream's price and the REST price differ on purpose, so a test can tell which was used.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from tests.fakes.binance import FakeBinance
from tests.fakes.binance_ws import FakeBinanceStreams, fresh, running_fake_streams
from tests.fakes.bybit import FakeBybit, running_fake_bybit
from tests.fakes.bybit_ws import FakeBybitStreams, running_fake_bybit_streams
from tests.fakes.loopback import loopback_deps, loopback_http_factory
from tests.fakes.okx import running_fake_okx
from tests.fakes.okx_ws import running_fake_okx_streams
from tests.integration.execution.test_engine_fixtures import build_rig

from signalbridge.execution.monitor import PositionMonitor
from signalbridge.store import models as m
from signalbridge.venues.ccxt.adapter import CcxtAdapter
from signalbridge.venues.ccxt.stream import CcxtPriceStreams

TICKER_PATHS = ("/fapi/v1/ticker/24hr", "/fapi/v1/ticker/bookTicker", "/fapi/v1/ticker/price")
BTC = "BTC/USDT"  # canonical; the venue symbol is BTC/USDT:USDT
ETH = "ETH/USDT"


def rest_ticker_calls(fake: FakeBinance) -> int:
    return sum(fake.count(path) for path in TICKER_PATHS)


def config(fake: FakeBinance, streams: FakeBinanceStreams) -> dict[str, Any]:
    return fake.adapter_config("linear", urls={**fake.ccxt_urls(), "ws": streams.ws_url})


def hub(**kwargs: Any) -> CcxtPriceStreams:
    kwargs.setdefault("stale_seconds", 2.0)
    kwargs.setdefault("retry_seconds", 0.05)
    return CcxtPriceStreams(loopback_http_factory().ssrf_policy, **kwargs)


async def eventually(check: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def streamed(prices: CcxtPriceStreams, adapter: CcxtAdapter, symbol: str, last: str) -> None:
    """Wait until the stream answers ``last`` for ``symbol``."""

    def arrived() -> bool:
        t = prices.latest(adapter, [symbol]).get(symbol)
        return t is not None and t.last == Decimal(last)

    await eventually(arrived)


@pytest.fixture(scope="module")
def streams_server() -> Iterator[FakeBinanceStreams]:
    with running_fake_streams() as server:
        yield server


@pytest.fixture
def ws(streams_server: FakeBinanceStreams) -> FakeBinanceStreams:
    return fresh(streams_server)


@pytest.fixture
async def adapters(
    fake_binance: FakeBinance, ws: FakeBinanceStreams
) -> AsyncIterator[list[CcxtAdapter]]:
    """Two accounts on the same venue (two key pairs on the fake Binance)."""
    fake_binance.add_credentials("second-account-key-0123456789", "second-secret-0123456789ab")
    built = [
        CcxtAdapter.from_config(str(i), config(fake_binance, ws), secrets, deps=loopback_deps())
        for i, secrets in enumerate(
            [
                fake_binance.adapter_secrets(),
                {
                    "api_key": "second-account-key-0123456789",
                    "secret": "second-secret-0123456789ab",
                },
            ]
        )
    ]
    yield built
    for adapter in built:
        await adapter.close()


@pytest.fixture
def both(
    fake_binance: FakeBinance, ws: FakeBinanceStreams
) -> Iterator[tuple[FakeBinance, FakeBinanceStreams]]:
    yield fake_binance, ws


async def test_streamed_price_triggers_the_stop_without_a_rest_ticker(
    tmp_path: Path, both: tuple[FakeBinance, FakeBinanceStreams]
) -> None:
    fake, ws = both
    rig = await build_rig(tmp_path)
    prices = hub()
    try:
        connection = await rig.connection("ccxt", config(fake, ws), fake.adapter_secrets())
        follow = await rig.follow(connection, sizing={"mode": "fixed_quote", "value": "100"})
        signal_id = await rig.signal(stop_loss=Decimal(48000), take_profits=["60000"])
        await rig.engine.run(await rig.execution(signal_id, follow))
        monitor = PositionMonitor(
            rig.sessions, rig.pool, rig.engine, now=rig.clock,
            resting_grace=timedelta(0), streams=prices,
        )  # fmt: skip
        first = await monitor.run_once()  # nothing streamed yet: REST, and subscribe
        assert first.ticker_calls == 1 and first.streamed == 0 and first.orders == 0
        await eventually(lambda: "btcusdt@ticker" in ws.subscribed())

        live = await rig.pool.get(connection)
        assert isinstance(live.adapter, CcxtAdapter)
        ws.push("BTCUSDT", "47000")  # through the 48000 stop; REST still says 50000
        await streamed(prices, live.adapter, BTC, "47000")
        before = rest_ticker_calls(fake)
        report = await monitor.run_once()
        assert report.streamed == 1 and report.ticker_calls == 0, report
        assert rest_ticker_calls(fake) == before  # not one REST ticker request
        assert report.orders >= 1, report
        async with rig.sessions() as s:
            position = await s.scalar(select(m.Position).where(m.Position.signal_id == signal_id))
        assert position is not None and position.status == m.PositionStatus.CLOSED
        assert ws.connections_opened == 1
    finally:
        await prices.close()
        await rig.pool.close()
        await rig.container.engine.dispose()
    assert ws.live_connections == 0  # closed with the container's streams


async def test_dropped_socket_falls_back_to_rest_then_the_stream_takes_over(
    adapters: list[CcxtAdapter], both: tuple[FakeBinance, FakeBinanceStreams]
) -> None:
    _, ws = both
    adapter = adapters[0]
    prices = hub(stale_seconds=0.3)
    try:
        prices.latest(adapter, [BTC])
        await eventually(lambda: "btcusdt@ticker" in ws.subscribed())
        ws.push("BTCUSDT", "50100")
        await streamed(prices, adapter, BTC, "50100")

        ws.down = True  # the endpoint is unreachable: reconnecting fails for now
        assert ws.drop_connections() == 1
        await asyncio.sleep(0.35)  # one staleness bound
        assert prices.latest(adapter, [BTC]) == {}  # stale: the monitor goes to REST
        rest = await adapter.fetch_tickers([BTC])
        assert rest[BTC].last == Decimal(50000)

        ws.down = False
        await eventually(lambda: "btcusdt@ticker" in ws.subscribed())
        ws.push("BTCUSDT", "50200")
        await streamed(prices, adapter, BTC, "50200")
        assert ws.connections_opened == 2 and ws.live_connections == 1
    finally:
        await prices.close()


async def test_two_accounts_on_one_venue_share_one_socket(
    adapters: list[CcxtAdapter], both: tuple[FakeBinance, FakeBinanceStreams]
) -> None:
    _, ws = both
    prices = hub()
    try:
        prices.latest(adapters[0], [BTC, "NOPE/USDT"])  # one symbol the venue does not list
        prices.latest(adapters[1], [BTC, ETH])
        await eventually(lambda: ws.subscribed() == {"btcusdt@ticker", "ethusdt@ticker"})
        ws.push("BTCUSDT", "50300")
        ws.push("ETHUSDT", "3000")
        await streamed(prices, adapters[0], BTC, "50300")
        await streamed(prices, adapters[1], ETH, "3000")
        assert prices.latest(adapters[1], [BTC])[BTC].last == Decimal("50300")
        assert ws.connections_opened == 1 and len(prices.venues) == 1
        # subscriptions batched: at most one SUBSCRIBE per change of the symbol set
        assert [m for m, _ in ws.requests] == ["SUBSCRIBE"] * len(ws.requests)
        assert len(ws.requests) <= 2 and ws.rate_limited == 0
    finally:
        await prices.close()


async def test_symbols_come_and_go_with_the_positions(
    adapters: list[CcxtAdapter], both: tuple[FakeBinance, FakeBinanceStreams]
) -> None:
    _, ws = both
    adapter = adapters[0]
    prices = hub(idle_seconds=0.3)
    held = [BTC]  # the symbols open positions hold, asked for on every monitor tick

    async def monitor_ticks() -> None:
        while True:
            if held:
                prices.latest(adapter, list(held))
            await asyncio.sleep(0.05)

    ticks = asyncio.create_task(monitor_ticks())
    try:
        await eventually(lambda: ws.subscribed() == {"btcusdt@ticker"})
        held.append(ETH)  # a position on ETH opens
        await eventually(lambda: ws.subscribed() == {"btcusdt@ticker", "ethusdt@ticker"})
        held.remove(ETH)  # and closes
        await eventually(lambda: ws.subscribed() == {"btcusdt@ticker"})
        assert ("UNSUBSCRIBE", ["ethusdt@ticker"]) in ws.requests
        held.clear()  # nothing held any more
        await eventually(lambda: ws.subscribed() == set())
        assert ws.connections_opened == 1 and ws.rate_limited == 0
    finally:
        ticks.cancel()
        await prices.close()


async def test_the_fake_speaks_binance_market_streams(
    ws: FakeBinanceStreams,
) -> None:
    """The fake's wire, checked on its own: what Binance documents, not what ccxt sends."""
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{ws.base_url}/market/ws") as sock:
            await sock.send_str("{not json")
            assert (await sock.receive_json())["code"] == 3
            await sock.send_json({"method": "SUBSCRIBED", "params": [], "id": 7})
            assert (await sock.receive_json()) | {"msg": ""} == {"code": 2, "msg": "", "id": 7}
            await sock.send_json({"method": "SUBSCRIBE", "params": ["BTCUSDT@ticker"], "id": 8})
            assert (await sock.receive_json())["code"] == 2  # stream names are lower case
            request = {"method": "SUBSCRIBE", "params": ["btcusdt@ticker", "btcusdt@bookTicker"]}
            await sock.send_json({**request, "id": 9})
            assert await sock.receive_json() == {"result": None, "id": 9}
            await sock.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 10})
            listed = await sock.receive_json()
            assert listed == {"result": ["btcusdt@bookTicker", "btcusdt@ticker"], "id": 10}
            assert ws.push("BTCUSDT", "50000", bid="49999.9", ask="50000.1") == 1
            event = await sock.receive_json()  # book data is served on /public only
            assert (event["e"], event["s"], event["c"]) == ("24hrTicker", "BTCUSDT", "50000")
        async with session.ws_connect(
            f"{ws.base_url}/public/stream?streams=btcusdt@bookTicker"
        ) as sock:
            await eventually(lambda: ws.live_connections == 1)
            ws.push("BTCUSDT", "50000", bid="49999.9", ask="50000.1")
            wrapped = await sock.receive_json()
            assert wrapped["stream"] == "btcusdt@bookTicker"
            assert (wrapped["data"]["e"], wrapped["data"]["b"], wrapped["data"]["a"]) == (
                "bookTicker", "49999.9", "50000.1")  # fmt: skip
        async with session.ws_connect(f"{ws.base_url}/ws") as sock:
            for i in range(ws.max_messages_per_second + 1):  # over 10 messages a second
                await sock.send_json({"method": "LIST_SUBSCRIPTIONS", "id": i})
            replies = [await sock.receive() for _ in range(ws.max_messages_per_second + 1)]
            assert replies[-1].type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.rate_limited == 1


@pytest.fixture(scope="module")
def bybit_pair() -> Iterator[tuple[FakeBybit, FakeBybitStreams]]:
    with running_fake_bybit() as rest, running_fake_bybit_streams() as streams:
        yield rest, streams


async def test_bybit_linear_streams_snapshot_then_deltas_on_one_socket(
    bybit_pair: tuple[FakeBybit, FakeBybitStreams],
) -> None:
    rest, ws = bybit_pair
    cfg = rest.adapter_config("linear", urls={**rest.ccxt_urls(), "ws": ws.ws_url("linear")})
    adapters = [
        CcxtAdapter.from_config(str(i), cfg, rest.adapter_secrets(), deps=loopback_deps())
        for i in (1, 2)
    ]
    prices = hub()
    try:
        prices.latest(adapters[0], [BTC])
        prices.latest(adapters[1], [BTC, ETH])
        await eventually(lambda: ws.subscribed() == {"tickers.BTCUSDT", "tickers.ETHUSDT"})
        ws.push("BTCUSDT", "50100", bid="50099", ask="50101")  # the snapshot
        await streamed(prices, adapters[1], BTC, "50100")
        ws.push("BTCUSDT", "50100", bid="50098", ask="50101")  # a delta: the bid only
        await eventually(lambda: prices.latest(adapters[0], [BTC])[BTC].bid == Decimal(50098))
        assert prices.latest(adapters[0], [BTC])[BTC].last == Decimal(50100)
        ws.push("BTCUSDT", "50150")  # a delta with the last price
        await streamed(prices, adapters[0], BTC, "50150")
        assert ws.connections_opened == 1 and len(prices.venues) == 1
        # each topic subscribed once: Bybit refuses a topic already subscribed
        subscribed = [t for op, args in ws.requests if op == "subscribe" for t in args]
        assert sorted(subscribed) == ["tickers.BTCUSDT", "tickers.ETHUSDT"]

        assert ws.drop_connections() == 1  # reconnects and subscribes again
        await eventually(lambda: ws.subscribed() == {"tickers.BTCUSDT", "tickers.ETHUSDT"})
        ws.push("ETHUSDT", "3001")
        await streamed(prices, adapters[1], ETH, "3001")
        assert ws.connections_opened == 2
    finally:
        await prices.close()
        for adapter in adapters:
            await adapter.close()


async def test_okx_swap_tickers_on_one_socket_come_and_go() -> None:
    with running_fake_okx() as rest, running_fake_okx_streams() as ws:
        cfg = rest.adapter_config("linear", urls={**rest.ccxt_urls(), "ws": ws.ws_url})
        adapters = [
            CcxtAdapter.from_config(str(i), cfg, rest.adapter_secrets(), deps=loopback_deps())
            for i in (1, 2)
        ]
        prices = hub(idle_seconds=0.3)
        held = {0: [BTC], 1: [BTC, ETH]}  # per connection, asked for on every tick

        async def monitor_ticks() -> None:
            while True:
                for i, symbols in held.items():
                    prices.latest(adapters[i], symbols)
                await asyncio.sleep(0.05)

        ticks = asyncio.create_task(monitor_ticks())
        try:
            await eventually(lambda: ws.subscribed() == {"BTC-USDT-SWAP", "ETH-USDT-SWAP"})
            ws.push("BTC-USDT-SWAP", "50100", bid="50099", ask="50101")
            await streamed(prices, adapters[0], BTC, "50100")
            ticker = prices.latest(adapters[1], [BTC])[BTC]
            assert (ticker.bid, ticker.ask) == (Decimal(50099), Decimal(50101))
            held[1] = [BTC]  # the second account's ETH position closes
            await eventually(lambda: ws.subscribed() == {"BTC-USDT-SWAP"})
            assert ws.connections_opened == 1 and len(prices.venues) == 1
        finally:
            ticks.cancel()
            await prices.close()
            for adapter in adapters:
                await adapter.close()


async def test_binance_spot_streams_its_own_payloads(fake_binance: FakeBinance) -> None:
    with running_fake_streams(spot=True) as ws:
        cfg = fake_binance.adapter_config(
            "spot", urls={**fake_binance.ccxt_urls(), "ws": ws.ws_url}
        )
        adapter = CcxtAdapter.from_config(
            "1", cfg, fake_binance.adapter_secrets(), deps=loopback_deps()
        )
        prices = hub()
        try:
            prices.latest(adapter, [BTC])
            await eventually(lambda: ws.subscribed() == {"btcusdt@ticker"})
            ws.push("BTCUSDT", "50100", bid="50099", ask="50101")
            await streamed(prices, adapter, BTC, "50100")
            ticker = prices.latest(adapter, [BTC])[BTC]
            assert (ticker.bid, ticker.ask) == (Decimal(50099), Decimal(50101))
        finally:
            await prices.close()
            await adapter.close()
