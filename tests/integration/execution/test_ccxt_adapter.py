"""The ccxt adapter, driving the REAL ccxt library against the loopback fake Binance.

One fake server per module; its state is reset before every test. Each test builds its own
adapter (ccxt sessions are bound to the test's event loop).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from tests.fakes.binance import FakeBinance, binance_server, fake_binance  # noqa: F401
from tests.fakes.loopback import loopback_deps

from signalbridge.integrations import errors as sb
from signalbridge.venues.base import (
    ExchangeAdapter,
    Fee,
    MarketKind,
    OrderRequest,
    OrderSide,
    OrderStatus,
    PositionSide,
    VenueOrderType,
)
from signalbridge.venues.ccxt.adapter import WITHDRAW_REFUSAL, CcxtAdapter

D = Decimal


@pytest.fixture
def fake(fake_binance: FakeBinance) -> FakeBinance:  # noqa: F811
    return fake_binance


def make(
    fake: FakeBinance,
    market_type: str = "spot",
    *,
    timeout_ms: int = 2000,
    urls: dict[str, str] | None = None,
    **secrets: str,
) -> CcxtAdapter:
    config = fake.adapter_config(market_type, timeout_ms=timeout_ms)
    if urls is not None:
        config["urls"] = urls
    keys = {**fake.adapter_secrets(), **secrets}
    adapter = CcxtAdapter.from_config("conn-7", config, keys, deps=loopback_deps())
    adapter.exchange.timeout_on_exit = 0  # ccxt sleeps 250 ms on close by default
    return adapter


@pytest.fixture
async def spot(fake: FakeBinance) -> AsyncIterator[CcxtAdapter]:
    adapter = make(fake)
    yield adapter
    await adapter.close()


@pytest.fixture
async def linear(fake: FakeBinance) -> AsyncIterator[CcxtAdapter]:
    adapter = make(fake, "linear")
    yield adapter
    await adapter.close()


def buy(cid: str, amount: str = "0.01", symbol: str = "BTC/USDT", **kw: Any) -> OrderRequest:
    return OrderRequest(
        cid, symbol, OrderSide.BUY, kw.pop("type", VenueOrderType.MARKET), D(amount), **kw
    )


def assert_no_secrets(exc: BaseException, fake: FakeBinance) -> None:
    text = f"{exc} {exc!r}"
    assert fake.secret not in text
    assert fake.api_key not in text
    assert "signature=" not in text
    assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)


# -- protocol and markets -------------------------------------------------------------------


async def test_adapter_satisfies_the_protocol(spot: CcxtAdapter) -> None:
    assert isinstance(spot, ExchangeAdapter)
    assert spot.type == "ccxt"
    assert spot.capabilities.client_order_ids and spot.capabilities.batch_tickers
    assert not spot.capabilities.futures
    assert "secret" not in repr(spot).lower()


async def test_spot_markets_map_binance_filters(spot: CcxtAdapter, fake: FakeBinance) -> None:
    markets = await spot.load_markets()
    btc = markets["BTC/USDT"]
    assert btc.venue_symbol == "BTC/USDT" and btc.kind is MarketKind.SPOT
    assert (btc.price_tick, btc.amount_step) == (D("0.01"), D("0.00001"))
    assert (btc.min_amount, btc.min_notional, btc.max_amount) == (D("0.00001"), D(5), D(9000))
    assert set(markets) == {"BTC/USDT", "ETH/USDT", "SOL/USDT"}
    await spot.load_markets()
    assert fake.count("/api/v3/exchangeInfo") == 1  # cached
    assert fake.count("/fapi/v1/exchangeInfo") == 0
    assert fake.count("/sapi/v1/capital/config/getall") == 0


async def test_linear_markets(linear: CcxtAdapter, fake: FakeBinance) -> None:
    markets = await linear.load_markets()
    btc = markets["BTC/USDT"]
    assert btc.venue_symbol == "BTC/USDT:USDT" and btc.kind is MarketKind.LINEAR
    assert (btc.price_tick, btc.amount_step, btc.min_notional) == (D("0.1"), D("0.001"), D(100))
    assert btc.contract_size == 1
    assert fake.count("/api/v3/exchangeInfo") == 0


async def test_tickers_are_batched(spot: CcxtAdapter, fake: FakeBinance) -> None:
    fake.set_price("ETHUSDT", "3100.5", bid="3100.4", ask="3100.6")
    tickers = await spot.fetch_tickers(["BTC/USDT", "ETH/USDT"])
    assert fake.count("/api/v3/ticker/24hr") == 1
    eth = tickers["ETH/USDT"]
    assert (eth.bid, eth.ask, eth.last) == (D("3100.4"), D("3100.6"), D("3100.5"))
    assert tickers["BTC/USDT"].last == D(50000)
    assert eth.at.tzinfo is not None


async def test_linear_tickers_add_book_prices(linear: CcxtAdapter, fake: FakeBinance) -> None:
    fake.set_price("BTCUSDT", "51000", bid="50999.9", ask="51000.1")
    tickers = await linear.fetch_tickers(["BTC/USDT", "ETH/USDT"])
    btc = tickers["BTC/USDT"]
    assert (btc.bid, btc.ask, btc.last) == (D("50999.9"), D("51000.1"), D(51000))
    assert fake.count("/fapi/v1/ticker/24hr") == 1
    assert fake.count("/fapi/v1/ticker/bookTicker") == 1


async def test_unlisted_symbol(spot: CcxtAdapter, fake: FakeBinance) -> None:
    await spot.load_markets()
    before = fake.count()
    with pytest.raises(sb.SymbolNotListed):
        await spot.fetch_tickers(["DOGE/USDT"])
    with pytest.raises(sb.SymbolNotListed):
        await spot.create_order(buy("sb-1-e0", symbol="DOGE/USDT"))
    assert fake.count() == before


# -- orders ----------------------------------------------------------------------------------


async def test_market_order_fills_with_our_client_id(spot: CcxtAdapter, fake: FakeBinance) -> None:
    order = await spot.create_order(buy("sb-11-e0"))
    assert order.client_order_id == "sb-11-e0"
    assert order.status is OrderStatus.FILLED
    assert (order.amount, order.filled, order.average_price) == (D("0.01"), D("0.01"), D(50000))
    assert order.symbol == "BTC/USDT" and order.side is OrderSide.BUY
    assert order.type is VenueOrderType.MARKET
    # a regular account pays 0.1 % on a spot fill, in the coin bought
    assert order.fees == (Fee(D("0.00001"), "BTC"),) and order.fee == Fee(D("0.00001"), "BTC")
    [placed] = fake.orders()
    assert placed.client_order_id == "sb-11-e0" and str(placed.order_id) == order.venue_order_id
    balances = await spot.fetch_balance()
    assert balances["USDT"].free == D(9500)
    assert balances["BTC"].total == D("1.00999")  # 0.01 bought, less its fee


async def test_limit_rests_then_fills_when_price_moves(
    spot: CcxtAdapter, fake: FakeBinance
) -> None:
    req = buy("sb-12-e0", type=VenueOrderType.LIMIT, price=D("49000"))
    order = await spot.create_order(req)
    assert order.status is OrderStatus.OPEN and order.price == D(49000)
    [listed] = await spot.fetch_open_orders("BTC/USDT")
    assert listed.client_order_id == "sb-12-e0"
    assert (await spot.fetch_balance())["USDT"].used == D(490)
    fake.set_price("BTCUSDT", "48999")
    filled = await spot.fetch_order("BTC/USDT", "sb-12-e0")
    assert filled.status is OrderStatus.FILLED and filled.average_price == D(49000)
    assert await spot.fetch_open_orders() == []


async def test_cancel_by_client_id(spot: CcxtAdapter, fake: FakeBinance) -> None:
    await spot.create_order(buy("sb-13-e0", type=VenueOrderType.LIMIT, price=D("40000")))
    canceled = await spot.cancel_order("BTC/USDT", "sb-13-e0")
    assert canceled.status is OrderStatus.CANCELED
    assert canceled.client_order_id == "sb-13-e0"
    with pytest.raises(sb.OrderNotFound):
        await spot.cancel_order("BTC/USDT", "sb-13-e0")
    assert (await spot.fetch_balance())["USDT"].used == 0


async def test_unknown_order_is_not_found(spot: CcxtAdapter) -> None:
    with pytest.raises(sb.OrderNotFound):
        await spot.fetch_order("BTC/USDT", "sb-404-e0")


async def test_linear_leverage_orders_and_positions(linear: CcxtAdapter, fake: FakeBinance) -> None:
    order = await linear.create_order(buy("sb-14-e0", amount="0.01", leverage=5))
    assert fake.book.leverage["BTCUSDT"] == 5
    assert order.status is OrderStatus.FILLED
    fake.set_price("BTCUSDT", "51000")
    [pos] = await linear.fetch_positions()
    assert (pos.symbol, pos.side, pos.amount, pos.entry_price) == (
        "BTC/USDT",
        PositionSide.LONG,
        D("0.01"),
        D(50000),
    )
    assert pos.unrealised_pnl == D(10)
    close = OrderRequest(
        "sb-14-x0", "BTC/USDT", OrderSide.SELL, VenueOrderType.MARKET, D("0.01"), reduce_only=True
    )
    closed = await linear.create_order(close)
    assert closed.reduce_only and closed.status is OrderStatus.FILLED
    assert await linear.fetch_positions() == []
    # Binance's standard USDⓈ-M taker rate, 0.05 % of each fill's notional, read from
    # userTrades: 0.01 × 50,000 × 0.0005 = 0.25 in, 0.01 × 51,000 × 0.0005 = 0.255 out.
    assert (order.fees, closed.fees) == ((Fee(D("0.25"), "USDT"),), (Fee(D("0.255"), "USDT"),))
    # the wallet: 10,000 + the realised 10 − both commissions
    assert (await linear.fetch_balance())["USDT"].total == D("10009.495")


async def test_set_leverage(linear: CcxtAdapter, spot: CcxtAdapter, fake: FakeBinance) -> None:
    await linear.set_leverage("ETH/USDT", 12)
    assert fake.book.leverage["ETHUSDT"] == 12
    with pytest.raises(sb.InvalidRequest):
        await linear.set_leverage("ETH/USDT", 500)
    with pytest.raises(sb.InvalidRequest):
        await spot.set_leverage("ETH/USDT", 3)
    assert await spot.fetch_positions() == []


# -- error translation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("market_type", "req", "expected"),
    [
        ("spot", buy("sb-20-e0", amount="1"), sb.InsufficientFunds),  # -2010 no balance
        ("spot", buy("sb-21-e0", amount="0.000015"), sb.InvalidRequest),  # off-step: refused
        # before sending (ccxt would silently truncate it to the step)
        ("spot", buy("sb-22-e0", amount="0.00001"), sb.InvalidRequest),  # NOTIONAL
        ("linear", buy("sb-23-e0", amount="5"), sb.InsufficientFunds),  # -2019 margin
        ("linear", buy("sb-24-e0", amount="0.001"), sb.InvalidRequest),  # -4164 notional
    ],
)
async def test_business_errors(
    fake: FakeBinance, market_type: str, req: OrderRequest, expected: type[Exception]
) -> None:
    adapter = make(fake, market_type)
    try:
        with pytest.raises(expected) as info:
            await adapter.create_order(req)
        assert not isinstance(info.value, sb.AmbiguousOutcome)
        assert not info.value.counts_for_breaker
        assert info.value.connection_id == "conn-7"
        assert_no_secrets(info.value, fake)
        assert fake.orders() == []
    finally:
        await adapter.close()


async def test_price_filter(spot: CcxtAdapter, fake: FakeBinance) -> None:
    # the venue coarsens its tick after the markets were loaded: the adapter's own check
    # (on the tick it knows) passes, and the venue's refusal arrives as InvalidRequest
    await spot.load_markets()
    fake.set_tick("BTCUSDT", "0.1")
    order = buy("sb-90-e0", type=VenueOrderType.LIMIT, price=D("40000.01"))
    with pytest.raises(sb.InvalidRequest, match="PRICE_FILTER") as info:
        await spot.create_order(order)
    assert not info.value.counts_for_breaker
    assert fake.orders() == []


async def test_wrong_secret_is_authentication_error(fake: FakeBinance) -> None:
    adapter = make(fake, secret="not-the-secret-at-all-000000")
    try:
        with pytest.raises(sb.AuthenticationError, match="Signature") as info:
            await adapter.fetch_balance()
        assert_no_secrets(info.value, fake)
        assert "not-the-secret-at-all-000000" not in str(info.value)
    finally:
        await adapter.close()


async def test_wrong_api_key_is_authentication_error(fake: FakeBinance) -> None:
    adapter = make(fake, api_key="wrong-key-0000000000000000")
    try:
        with pytest.raises(sb.AuthenticationError):
            await adapter.create_order(buy("sb-25-e0"))
        assert fake.orders() == []
    finally:
        await adapter.close()


async def test_duplicate_client_id_is_refused(spot: CcxtAdapter, fake: FakeBinance) -> None:
    """Binance refuses a client id that an OPEN order holds; once that order is finished
    (here cancelled) the id is free again."""
    resting = buy("sb-26-e0", type=VenueOrderType.LIMIT, price=D("40000"))
    await spot.create_order(resting)
    with pytest.raises(sb.InvalidRequest, match="Duplicate"):
        await spot.create_order(resting)
    assert len(fake.orders()) == 1
    await spot.cancel_order("BTC/USDT", "sb-26-e0")
    again = await spot.create_order(resting)
    assert again.status is OrderStatus.OPEN
    assert [o.status for o in fake.orders()] == ["CANCELED", "NEW"]


async def test_a_filled_orders_client_id_is_accepted_again(
    spot: CcxtAdapter, fake: FakeBinance
) -> None:
    """Binance's rule: a client id is unique among open orders only, so the id of a FILLED
    order is taken as a NEW order. The venue does not stop a blind re-send of a market
    order; the engine must prove absence otherwise (see test_engine_absence.py)."""
    first = await spot.create_order(buy("sb-28-e0"))
    second = await spot.create_order(buy("sb-28-e0"))
    assert first.status is second.status is OrderStatus.FILLED
    assert first.venue_order_id != second.venue_order_id
    assert [o.client_order_id for o in fake.orders()] == ["sb-28-e0", "sb-28-e0"]
    assert (await spot.fetch_balance())["BTC"].total == D("1.01998")  # bought twice


async def test_reused_client_ids_are_accepted_in_reuse_mode(
    spot: CcxtAdapter, fake: FakeBinance
) -> None:
    """Row 15: the venue does not protect us; only our own unique constraint can."""
    fake.reuse_client_order_ids = True
    first = await spot.create_order(buy("sb-27-e0"))
    second = await spot.create_order(buy("sb-27-e0"))
    assert first.venue_order_id != second.venue_order_id
    assert [o.client_order_id for o in fake.orders()] == ["sb-27-e0", "sb-27-e0"]


async def test_5xx_on_read_is_transient(spot: CcxtAdapter, fake: FakeBinance) -> None:
    await spot.load_markets()
    fake.fail_next("/api/v3/account", status=503)
    with pytest.raises(sb.TransientError) as info:
        await spot.fetch_balance()
    assert type(info.value) is sb.TransientError and info.value.counts_for_breaker
    assert (await spot.fetch_balance())["USDT"].free == D(10000)


async def test_5xx_on_create_is_ambiguous(spot: CcxtAdapter, fake: FakeBinance) -> None:
    await spot.load_markets()
    fake.fail_next("/api/v3/order", status=500, method="POST")
    with pytest.raises(sb.AmbiguousOutcome):
        await spot.create_order(buy("sb-30-e0"))
    with pytest.raises(sb.OrderNotFound):  # the lookup shows it is absent: safe to send
        await spot.fetch_order("BTC/USDT", "sb-30-e0")
    await spot.create_order(buy("sb-30-e0"))
    assert len(fake.orders()) == 1


@pytest.mark.parametrize("kind", ["reset", "timeout"])
async def test_accept_then_drop_is_ambiguous_and_found_once(fake: FakeBinance, kind: str) -> None:
    """Rows 9/10: the order exists although the client saw a reset or a timeout."""
    adapter = make(fake, timeout_ms=300)
    try:
        await adapter.load_markets()
        fake.accept_then_drop(kind=kind, delay=0.6)
        with pytest.raises(sb.AmbiguousOutcome) as info:
            await adapter.create_order(buy("sb-31-e0"))
        assert_no_secrets(info.value, fake)
        found = await adapter.fetch_order("BTC/USDT", "sb-31-e0")
        assert found.status is OrderStatus.FILLED
        assert [o.client_order_id for o in fake.orders()] == ["sb-31-e0"]
        assert fake.count("/api/v3/order", "POST") == 1  # nothing retried underneath
    finally:
        await adapter.close()


async def test_read_timeout_and_reset_are_transient(fake: FakeBinance) -> None:
    adapter = make(fake, timeout_ms=300)
    try:
        await adapter.load_markets()
        fake.fail_next("/api/v3/openOrders", kind="timeout", delay=0.6)
        with pytest.raises(sb.TransientError):
            await adapter.fetch_open_orders("BTC/USDT")
        # aiohttp re-sends an idempotent GET once when a reused connection drops
        fake.fail_next("/api/v3/openOrders", 2, kind="reset")
        with pytest.raises(sb.TransientError):
            await adapter.fetch_open_orders("BTC/USDT")
        assert await adapter.fetch_open_orders("BTC/USDT") == []
    finally:
        await adapter.close()


async def test_refused_connection_on_create_is_not_ambiguous(fake: FakeBinance) -> None:
    """Nothing reached the venue, so a plain retry is safe."""
    adapter = make(fake)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    try:
        await adapter.load_markets()
        adapter.exchange.urls["api"] = {
            k: v.replace(str(fake.port), str(dead)) for k, v in fake.ccxt_urls().items()
        }
        with pytest.raises(sb.TransientError) as info:
            await adapter.create_order(buy("sb-32-e0"))
        assert not isinstance(info.value, sb.AmbiguousOutcome)
    finally:
        await adapter.close()


async def test_not_found_right_after_create(spot: CcxtAdapter, fake: FakeBinance) -> None:
    """Row 12: OrderNotFound k times (the engine keeps tracking), then the order appears."""
    fake.hide_new_orders(3)
    await spot.create_order(buy("sb-33-e0"))
    for _ in range(3):
        with pytest.raises(sb.OrderNotFound):
            await spot.fetch_order("BTC/USDT", "sb-33-e0")
    assert (await spot.fetch_order("BTC/USDT", "sb-33-e0")).status is OrderStatus.FILLED
    assert len(fake.orders()) == 1


async def test_429_then_418(spot: CcxtAdapter, fake: FakeBinance) -> None:
    await spot.load_markets()
    fake.rate_limit(retry_after=7, ban_after=1, ban_seconds=120)
    with pytest.raises(sb.RateLimited) as first:
        await spot.fetch_balance()
    assert (first.value.retry_after, first.value.banned) == (7, False)
    with pytest.raises(sb.RateLimited) as second:
        await spot.fetch_balance()
    assert (second.value.retry_after, second.value.banned) == (120, True)
    assert fake.requests_while_limited == 2


async def test_weight_budget_exhaustion_gives_429(fake: FakeBinance) -> None:
    fake.weight_limit = 30
    saved_clock = fake.clock
    fake.clock = lambda: 600.5  # a fixed instant: no minute boundary inside the test
    adapter = make(fake)
    try:
        await adapter.load_markets()  # weight 20
        await adapter.fetch_tickers(["BTC/USDT"])  # 2
        with pytest.raises(sb.RateLimited) as info:
            await adapter.fetch_balance()  # 20: over the budget
        assert info.value.retry_after == 60  # until the next minute window
        assert not info.value.banned
    finally:
        fake.weight_limit = 6000
        fake.clock = saved_clock
        await adapter.close()


# -- probe -------------------------------------------------------------------------------------


async def test_probe_accepts_a_trade_only_key(spot: CcxtAdapter) -> None:
    result = await spot.probe()
    assert result.ok and result.can_trade and not result.can_withdraw
    assert result.latency_ms > 0


async def test_probe_refuses_a_key_that_can_withdraw(
    linear: CcxtAdapter, fake: FakeBinance
) -> None:
    fake.withdrawals_enabled = True
    result = await linear.probe()
    assert not result.ok and result.can_withdraw
    assert result.message == WITHDRAW_REFUSAL
    assert fake.count("/sapi/v1/account/apiRestrictions") == 1
    assert not any("withdraw" in path for _, path in fake.request_log)


async def test_probe_reports_a_key_that_cannot_trade(spot: CcxtAdapter, fake: FakeBinance) -> None:
    fake.trading_enabled = False
    result = await spot.probe()
    assert not result.ok and not result.can_trade and "cannot trade" in result.message


async def test_probe_with_a_bad_secret(fake: FakeBinance) -> None:
    adapter = make(fake, secret="another-wrong-secret-123456")
    try:
        result = await adapter.probe()
        assert not result.ok and "key refused" in result.message
        assert "another-wrong-secret-123456" not in result.message
    finally:
        await adapter.close()


async def test_probe_raises_on_network_trouble(spot: CcxtAdapter, fake: FakeBinance) -> None:
    await spot.load_markets()
    fake.fail_next("/api/v3/account", status=502)
    with pytest.raises(sb.TransientError):
        await spot.probe()
