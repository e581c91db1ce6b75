"""MetaApiAdapter against the loopback MetaApi fake (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import pytest
from tests.fakes.loopback import LOOPBACK_HOSTS, loopback_deps
from tests.fakes.metaapi import FakeMetaApi, FakeSymbol

from signalbridge.bootstrap import build_registry
from signalbridge.domain.signals import Side
from signalbridge.integrations.errors import (
    AmbiguousOutcome,
    AuthenticationError,
    InsufficientFunds,
    InvalidRequest,
    OrderNotFound,
    RateLimited,
    SymbolNotListed,
    TransientError,
)
from signalbridge.venues.base import (
    AdapterDeps,
    ExchangeAdapter,
    OrderRequest,
    OrderSide,
    OrderStatus,
    VenueOrderType,
)
from signalbridge.venues.metaapi.adapter import MetaApiAdapter

TOKEN = "eyJhbGciOiJSUzUxMiJ9.metaapi-test-token-5f1c9a77b2"
MAIN = "acc-main"
SUFFIXED = "acc-suffix"
D = Decimal


def _suffixed_symbols() -> list[FakeSymbol]:
    return [
        FakeSymbol("EURUSD.r", 5, D(100000), D(1), D("1.10000"), D("1.10010"), base_currency="EUR"),
        FakeSymbol("GOLD", 2, D(100), D(1), D("2350.00"), D("2350.30"), base_currency="XAU"),
    ]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeMetaApi]:
    server = FakeMetaApi(token=TOKEN)
    server.add_account(MAIN, balance=D(10000))
    server.add_account(SUFFIXED, balance=D(5000), symbols=_suffixed_symbols(), platform="mt4")
    with server:
        yield server


def metaapi_config(fake: FakeMetaApi, account: str = MAIN, **extra: object) -> dict[str, object]:
    return {
        "account_id": account,
        "base_url": fake.base_url,
        "provisioning_url": fake.base_url,
        "symbol_map": {"EURUSD": "EURUSDm"},
        "symbols": ["XAUUSD", "US30"],
        "trade_timeout": 0.5,
        "timeout": 5,
        **extra,
    }


async def _make(fake: FakeMetaApi, token: str = TOKEN, **config: object) -> MetaApiAdapter:
    return MetaApiAdapter.from_config(
        "conn-7", metaapi_config(fake, **config), {"token": token}, deps=loopback_deps()
    )


@pytest.fixture
async def adapter(fake: FakeMetaApi) -> AsyncIterator[MetaApiAdapter]:
    fake.reset()
    made = await _make(fake)
    yield made
    await made.close()


def market_order(coid: str, side: OrderSide, amount: str, symbol: str = "EURUSD") -> OrderRequest:
    return OrderRequest(coid, symbol, side, VenueOrderType.MARKET, D(amount))


# --- wiring -------------------------------------------------------------------------------


def test_registered_and_implements_protocol(fake: FakeMetaApi) -> None:
    spec = build_registry().get("exchange", "metaapi")
    assert spec.factory is MetaApiAdapter and spec.secret_fields == ("token",)
    made = MetaApiAdapter.from_config(
        "c", metaapi_config(fake), {"token": TOKEN}, deps=loopback_deps()
    )
    assert isinstance(made, ExchangeAdapter)
    assert made.capabilities.native_stop_loss and not made.capabilities.leverage
    assert made.capabilities.max_client_order_id_len == 26
    assert TOKEN not in repr(made)


def test_bad_config_is_invalid_request_without_the_token(fake: FakeMetaApi) -> None:
    with pytest.raises(InvalidRequest) as info:
        MetaApiAdapter.from_config(
            "c", {"base_url": "ftp://x", "account_id": ""}, {"token": TOKEN}, deps=AdapterDeps()
        )
    assert "account_id" in info.value.message and "base_url" in info.value.message
    assert TOKEN not in str(info.value)


async def test_works_through_the_kernel_http_factory(fake: FakeMetaApi) -> None:
    from prometheus_client import CollectorRegistry

    from signalbridge.integrations.http import HttpClientFactory

    fake.reset()
    factory = HttpClientFactory(registry=CollectorRegistry(), allowed_hosts=LOOPBACK_HOSTS)
    deps = AdapterDeps(shared={"http_factory": factory})
    made = MetaApiAdapter.from_config("conn-f", metaapi_config(fake), {"token": TOKEN}, deps=deps)
    try:
        assert (await made.fetch_balance())["USD"].total == D(10000)
        fake.drop_next(path="/trade")
        with pytest.raises(AmbiguousOutcome):
            await made.create_order(market_order("sb-70-e0", OrderSide.BUY, "0.1"))
        assert (await made.fetch_order("EURUSD", "sb-70-e0")).status is OrderStatus.FILLED
        fake.delay_next(1.0, path="/trade")
        with pytest.raises(AmbiguousOutcome):
            await made.create_order(market_order("sb-71-e0", OrderSide.BUY, "0.1"))
    finally:
        await made.close()
    assert made.client.http_closed  # the per-connection client is not leaked


# --- markets, prices, account ---------------------------------------------------------------


async def test_load_markets_from_specifications(adapter: MetaApiAdapter) -> None:
    markets = await adapter.load_markets()
    assert set(markets) == {"EURUSD", "XAUUSD", "US30"}
    eur, gold, us30 = markets["EURUSD"], markets["XAUUSD"], markets["US30"]
    assert eur.venue_symbol == "EURUSDm" and eur.price_tick == D("0.00001")
    assert eur.contract_size == D(100000) and eur.amount_step == D("0.01")
    assert (eur.base, eur.quote) == ("EUR", "USD") and eur.tick_value == D(1)
    assert gold.price_tick == D("0.01") and gold.contract_size == D(100)
    assert us30.min_amount == D("0.1") and us30.max_amount == D(50)
    assert us30.tick_value == D("0.1")


async def test_unknown_symbol_and_unknown_account(
    fake: FakeMetaApi, adapter: MetaApiAdapter
) -> None:
    with pytest.raises(SymbolNotListed, match="BTCUSD"):
        await adapter.market("BTCUSD")
    ghost = await _make(fake, account="acc-nobody")
    with pytest.raises(AuthenticationError, match=r"acc-nobody.*not found"):
        await ghost.market("EURUSD")
    with pytest.raises(AuthenticationError, match="not found"):
        await ghost.fetch_balance()
    await ghost.close()


async def test_suffix_mapping_both_ways(fake: FakeMetaApi) -> None:
    fake.reset()
    made = await _make(
        fake, account=SUFFIXED, symbol_map={"XAUUSD": "GOLD"}, symbol_suffix=".r", symbols=[]
    )
    try:
        markets = await made.load_markets()
        assert markets["XAUUSD"].venue_symbol == "GOLD"
        eur = await made.market("EURUSD")
        assert eur.venue_symbol == "EURUSD.r"
        order = await made.create_order(market_order("sb-5-e0", OrderSide.BUY, "0.05"))
        assert order.symbol == "EURUSD"
        (position,) = await made.fetch_positions()
        assert position.symbol == "EURUSD" and position.side is Side.LONG
        tickers = await made.fetch_tickers(["XAUUSD", "eurusd"])
        assert tickers["XAUUSD"].bid == D("2350.00") and tickers["EURUSD"].ask == D("1.10010")
    finally:
        await made.close()


async def test_tickers_one_request_per_symbol(fake: FakeMetaApi, adapter: MetaApiAdapter) -> None:
    tickers = await adapter.fetch_tickers(["EURUSD", "XAUUSD", "US30", "EURUSD"])
    assert set(tickers) == {"EURUSD", "XAUUSD", "US30"}
    eur = tickers["EURUSD"]
    assert (eur.bid, eur.ask) == (D("1.08450"), D("1.08462"))
    assert eur.last == D("1.08456") and eur.at.tzinfo is not None
    assert fake.request_count("current-price") == 3


async def test_tickers_concurrency_is_bounded(fake: FakeMetaApi) -> None:
    fake.reset()
    made = await _make(fake, max_concurrency=2)
    fake.delay_next(0.05, count=3, path="current-price")
    try:
        tickers = await made.fetch_tickers(["EURUSD", "XAUUSD", "US30"])
    finally:
        await made.close()
    assert len(tickers) == 3 and fake.max_in_flight["current-price"] == 2


async def test_tickers_unknown_symbol(adapter: MetaApiAdapter) -> None:
    with pytest.raises(SymbolNotListed):
        await adapter.fetch_tickers(["EURUSD", "NOPE"])


async def test_balance_uses_equity_and_free_margin(adapter: MetaApiAdapter) -> None:
    balance = await adapter.fetch_balance()
    usd = balance["USD"]
    assert (usd.total, usd.free, usd.used) == (D(10000), D(10000), D(0))
    await adapter.create_order(market_order("sb-1-e0", OrderSide.BUY, "0.10", "XAUUSD"))
    usd = (await adapter.fetch_balance())["USD"]
    assert usd.used == D("0.10") * 100 * D("2350.40") / 100
    assert usd.total == D(10000) - D("3.00")  # 0.30 spread = 30 ticks of $1 per lot, 0.1 lot
    assert usd.free == usd.total - usd.used


async def test_probe(fake: FakeMetaApi, adapter: MetaApiAdapter) -> None:
    result = await adapter.probe()
    assert result.ok and result.can_trade and not result.can_withdraw
    assert "connected" in result.message and "1234567" in result.message
    fake.accounts[MAIN].connection_status = "DISCONNECTED_FROM_BROKER"
    result = await adapter.probe()
    assert not result.ok and not result.can_trade
    assert "DISCONNECTED_FROM_BROKER" in result.message
    wrong = await _make(fake, token="not-the-token-123")
    result = await wrong.probe()
    assert not result.ok and "401" in result.message
    await wrong.close()
    before = fake.request_count("account")
    no_status = await _make(fake, provisioning_url=None)
    result = await no_status.probe()
    assert result.ok and fake.request_count("account") == before
    await no_status.close()


async def test_set_leverage_is_refused(adapter: MetaApiAdapter) -> None:
    with pytest.raises(InvalidRequest, match="leverage"):
        await adapter.set_leverage("EURUSD", 50)


# --- orders ----------------------------------------------------------------------------------


async def test_market_order_with_sl_tp(fake: FakeMetaApi, adapter: MetaApiAdapter) -> None:
    order = await adapter.create_order(
        market_order("sb-1-e0", OrderSide.BUY, "0.10"),
        stop_loss=D("1.08000"),
        take_profit=D("1.09000"),
    )
    assert order.status is OrderStatus.FILLED and order.filled == D("0.10")
    assert order.average_price == D("1.08462") and order.client_order_id == "sb-1-e0"
    body = fake.trade_bodies[-1]
    assert body["actionType"] == "ORDER_TYPE_BUY" and body["symbol"] == "EURUSDm"
    assert body["clientId"] == "sb_1_e0" and body["volume"] == D("0.10")
    (position,) = await adapter.fetch_position_details()
    assert position.client_order_id == "sb-1-e0" and position.stop_loss == D("1.08000")
    assert position.take_profit == D("1.09000") and position.volume == D("0.10")
    found = await adapter.fetch_order("EURUSD", "sb-1-e0")
    assert found.status is OrderStatus.FILLED and found.average_price == D("1.08462")
    assert found.venue_order_id == order.venue_order_id


async def test_sell_market_order_fills_at_bid(adapter: MetaApiAdapter) -> None:
    order = await adapter.create_order(market_order("sb-2-e0", OrderSide.SELL, "1", "XAUUSD"))
    assert order.average_price == D("2350.10") and order.side is OrderSide.SELL
    (position,) = await adapter.fetch_positions()
    assert position.side is Side.SHORT and position.entry_price == D("2350.10")
    assert position.unrealised_pnl == D("-30.00")


async def test_limit_order_rests_then_fills(fake: FakeMetaApi, adapter: MetaApiAdapter) -> None:
    req = OrderRequest(
        "sb-3-e0", "EURUSD", OrderSide.BUY, VenueOrderType.LIMIT, D("0.20"), price=D("1.08000")
    )
    order = await adapter.create_order(req, stop_loss=D("1.07500"))
    assert order.status is OrderStatus.OPEN and order.filled == 0
    assert fake.trade_bodies[-1]["openPrice"] == D("1.08000")
    (open_order,) = await adapter.fetch_open_orders("EURUSD")
    assert open_order.client_order_id == "sb-3-e0" and open_order.price == D("1.08000")
    assert open_order.type is VenueOrderType.LIMIT
    assert await adapter.fetch_open_orders("XAUUSD") == []
    fake.set_price(MAIN, "EURUSDm", D("1.07990"), D("1.07998"))
    filled = await adapter.fetch_order("EURUSD", "sb-3-e0")
    assert filled.status is OrderStatus.FILLED and filled.average_price == D("1.08000")
    assert await adapter.fetch_open_orders() == []
    position = await adapter.find_position("sb-3-e0")
    assert position is not None and position.stop_loss == D("1.07500")


async def test_stop_order_cancel_is_idempotent(fake: FakeMetaApi, adapter: MetaApiAdapter) -> None:
    req = OrderRequest(
        "sb-4-e0",
        "XAUUSD",
        OrderSide.SELL,
        VenueOrderType.STOP_MARKET,
        D("0.5"),
        stop_price=D("2340.00"),
    )
    order = await adapter.create_order(req)
    assert order.status is OrderStatus.OPEN
    assert fake.trade_bodies[-1]["actionType"] == "ORDER_TYPE_SELL_STOP"
    canceled = await adapter.cancel_order("XAUUSD", "sb-4-e0")
    assert canceled.status is OrderStatus.CANCELED and canceled.stop_price == D("2340.00")
    again = await adapter.cancel_order("XAUUSD", "sb-4-e0")
    assert again.status is OrderStatus.CANCELED
    fetched = await adapter.fetch_order("XAUUSD", "sb-4-e0")
    assert fetched.status is OrderStatus.CANCELED and fetched.venue_order_id == order.venue_order_id


async def test_stop_limit_order_mapping(fake: FakeMetaApi, adapter: MetaApiAdapter) -> None:
    req = OrderRequest(
        "sb-6-e0",
        "EURUSD",
        OrderSide.BUY,
        VenueOrderType.STOP_LIMIT,
        D("0.1"),
        price=D("1.09010"),
        stop_price=D("1.09000"),
    )
    await adapter.create_order(req)
    body = fake.trade_bodies[-1]
    assert body["actionType"] == "ORDER_TYPE_BUY_STOP_LIMIT"
    assert (body["openPrice"], body["stopLimitPrice"]) == (D("1.09000"), D("1.09010"))
    (order,) = await adapter.fetch_open_orders()
    assert order.type is VenueOrderType.STOP_LIMIT and order.price == D("1.09010")


async def test_cancel_and_fetch_unknown_order(adapter: MetaApiAdapter) -> None:
    with pytest.raises(OrderNotFound, match="sb_99_e0"):
        await adapter.fetch_order("EURUSD", "sb-99-e0")
    with pytest.raises(OrderNotFound):
        await adapter.cancel_order("EURUSD", "sb-99-e0")


async def test_take_profit_order_types_are_refused(adapter: MetaApiAdapter) -> None:
    req = OrderRequest(
        "sb-7-tp1",
        "EURUSD",
        OrderSide.SELL,
        VenueOrderType.TAKE_PROFIT_MARKET,
        D("0.1"),
        stop_price=D("1.1"),
    )
    with pytest.raises(InvalidRequest, match="take_profit_market"):
        await adapter.create_order(req)


async def test_business_rejections(fake: FakeMetaApi, adapter: MetaApiAdapter) -> None:
    with pytest.raises(InsufficientFunds, match="NO_MONEY"):
        await adapter.create_order(market_order("sb-10-e0", OrderSide.BUY, "10", "XAUUSD"))
    with pytest.raises(InvalidRequest, match="INVALID_STOPS"):
        await adapter.create_order(
            market_order("sb-11-e0", OrderSide.BUY, "0.1"), stop_loss=D("1.09000")
        )
    with pytest.raises(InvalidRequest, match="INVALID_VOLUME"):
        await adapter.create_order(market_order("sb-12-e0", OrderSide.BUY, "0.001"))
    limit = OrderRequest(
        "sb-13-e0", "EURUSD", OrderSide.BUY, VenueOrderType.LIMIT, D("0.1"), price=D("1.20000")
    )
    with pytest.raises(InvalidRequest, match="INVALID_PRICE"):
        await adapter.create_order(limit)
    fake.accounts[MAIN].symbols["US30"].trade_mode = "SYMBOL_TRADE_MODE_DISABLED"
    with pytest.raises(InvalidRequest, match="MARKET_CLOSED"):
        await adapter.create_order(market_order("sb-14-e0", OrderSide.BUY, "0.1", "US30"))
    assert await adapter.fetch_positions() == [] and await adapter.fetch_open_orders() == []


async def test_forced_return_codes(fake: FakeMetaApi, adapter: MetaApiAdapter) -> None:
    fake.force_trade_result(10004, "TRADE_RETCODE_REQUOTE", "Requote")
    with pytest.raises(TransientError) as info:
        await adapter.create_order(market_order("sb-20-e0", OrderSide.BUY, "0.1"))
    assert not isinstance(info.value, AmbiguousOutcome)
    fake.force_trade_result(10012, "TRADE_RETCODE_TIMEOUT", "Request canceled by timeout")
    with pytest.raises(AmbiguousOutcome):
        await adapter.create_order(market_order("sb-21-e0", OrderSide.BUY, "0.1"))
    fake.force_trade_result(10010, "TRADE_RETCODE_DONE_PARTIAL", "partial")
    partial = await adapter.create_order(market_order("sb-22-e0", OrderSide.BUY, "0.1"))
    # No position id in the forced answer: the size is unknown until fetch_order is asked.
    assert partial.status is OrderStatus.PARTIALLY_FILLED and partial.filled == 0


# --- ambiguity and reconciliation -------------------------------------------------------------


async def test_accept_then_drop_is_ambiguous_and_found_once(
    fake: FakeMetaApi, adapter: MetaApiAdapter
) -> None:
    await adapter.load_markets()
    fake.drop_next(path="/trade")
    req = market_order("sb-30-e0", OrderSide.BUY, "0.30")
    with pytest.raises(AmbiguousOutcome, match="client id"):
        await adapter.create_order(req, stop_loss=D("1.08000"))
    assert fake.request_count("trade") == 1
    found = await adapter.fetch_order("EURUSD", "sb-30-e0")
    assert found.status is OrderStatus.FILLED and found.filled == D("0.30")
    assert found.client_order_id == "sb-30-e0"
    assert len(fake.positions_with_client_id(MAIN, "sb_30_e0")) == 1
    assert len(await adapter.fetch_positions()) == 1


async def test_dropped_trade_found_through_position_while_history_lags(
    fake: FakeMetaApi, adapter: MetaApiAdapter
) -> None:
    fake.history_lagging = True
    fake.drop_next(path="/trade")
    with pytest.raises(AmbiguousOutcome):
        await adapter.create_order(market_order("sb-34-e0", OrderSide.SELL, "0.2", "XAUUSD"))
    found = await adapter.fetch_order("XAUUSD", "sb-34-e0")
    assert found.status is OrderStatus.FILLED and found.side is OrderSide.SELL
    assert found.filled == D("0.2") and found.average_price == D("2350.10")


async def test_dropped_pending_order_found_open(fake: FakeMetaApi, adapter: MetaApiAdapter) -> None:
    fake.drop_next(path="/trade")
    req = OrderRequest(
        "sb-31-e0", "EURUSD", OrderSide.SELL, VenueOrderType.LIMIT, D("0.1"), price=D("1.09000")
    )
    with pytest.raises(AmbiguousOutcome):
        await adapter.create_order(req)
    found = await adapter.fetch_order("EURUSD", "sb-31-e0")
    assert found.status is OrderStatus.OPEN and found.price == D("1.09000")
    assert len(fake.orders_with_client_id(MAIN, "sb_31_e0")) == 1


async def test_trade_timeout_is_ambiguous(fake: FakeMetaApi, adapter: MetaApiAdapter) -> None:
    await adapter.load_markets()
    fake.delay_next(1.5, path="/trade")
    with pytest.raises(AmbiguousOutcome, match="timed out"):
        await adapter.create_order(market_order("sb-32-e0", OrderSide.SELL, "0.1"))
    found = await adapter.fetch_order("EURUSD", "sb-32-e0")
    assert found.status is OrderStatus.FILLED and found.side is OrderSide.SELL


async def test_trade_5xx_is_ambiguous_and_lookup_says_not_there(
    fake: FakeMetaApi, adapter: MetaApiAdapter
) -> None:
    await adapter.load_markets()
    fake.fail_next(status=502, path="/trade")
    with pytest.raises(AmbiguousOutcome):
        await adapter.create_order(market_order("sb-33-e0", OrderSide.BUY, "0.1"))
    with pytest.raises(OrderNotFound):
        await adapter.fetch_order("EURUSD", "sb-33-e0")


async def test_read_faults_are_transient_or_rate_limited(
    fake: FakeMetaApi, adapter: MetaApiAdapter
) -> None:
    fake.fail_next(2, status=503, path="/positions")
    for _ in range(2):
        with pytest.raises(TransientError) as info:
            await adapter.fetch_positions()
        assert not isinstance(info.value, AmbiguousOutcome)
    assert await adapter.fetch_positions() == []
    fake.rate_limit_next(retry_after=3, path="/account-information")
    with pytest.raises(RateLimited) as limited:
        await adapter.fetch_balance()
    assert limited.value.retry_after == 3.0
    fake.delay_next(1.0, path="/orders")
    slow = await _make(fake, timeout=0.2)
    with pytest.raises(TransientError, match="timed out"):
        await slow.fetch_open_orders()
    await slow.close()


# --- positions ----------------------------------------------------------------------------------


async def test_modify_position_then_stop_loss_triggers(
    fake: FakeMetaApi, adapter: MetaApiAdapter
) -> None:
    await adapter.create_order(market_order("sb-40-e0", OrderSide.BUY, "0.10"))
    (position,) = await adapter.fetch_position_details()
    await adapter.modify_position(position.position_id, D("1.08300"), D("1.09500"))
    (moved,) = await adapter.fetch_position_details()
    assert (moved.stop_loss, moved.take_profit) == (D("1.08300"), D("1.09500"))
    await adapter.modify_position(position.position_id, D("1.08300"), D("1.09500"))  # no change: ok
    with pytest.raises(InvalidRequest, match="INVALID_STOPS"):
        await adapter.modify_position(position.position_id, D("1.09000"), None)
    fake.set_price(MAIN, "EURUSDm", D("1.08290"), D("1.08302"))
    assert await adapter.fetch_positions() == []
    balance = (await adapter.fetch_balance())["USD"]
    assert balance.total == D(10000) + (D("1.08290") - D("1.08462")) * D(100000) * D("0.10")
    still = await adapter.fetch_order("EURUSD", "sb-40-e0")
    assert still.status is OrderStatus.FILLED


async def test_close_position_partial_then_full(fake: FakeMetaApi, adapter: MetaApiAdapter) -> None:
    await adapter.create_order(market_order("sb-41-e0", OrderSide.SELL, "0.50", "XAUUSD"))
    position = await adapter.find_position("sb-41-e0")
    assert position is not None
    part = await adapter.close_position(position.position_id, D("0.20"), client_order_id="sb-41-x1")
    assert part.side is OrderSide.BUY and part.filled == D("0.20") and part.reduce_only
    assert fake.trade_bodies[-1]["actionType"] == "POSITION_PARTIAL"
    (rest,) = await adapter.fetch_positions()
    assert rest.amount == D("0.30")
    closing = await adapter.fetch_order("XAUUSD", "sb-41-x1")
    assert closing.status is OrderStatus.FILLED and closing.side is OrderSide.BUY
    with pytest.raises(InvalidRequest):
        await adapter.close_position(position.position_id, D("5"))
    await adapter.close_position(position.position_id)
    assert fake.trade_bodies[-1]["actionType"] == "POSITION_CLOSE_ID"
    assert await adapter.fetch_positions() == []
    with pytest.raises(OrderNotFound):
        await adapter.close_position(position.position_id)
    with pytest.raises(OrderNotFound):
        await adapter.modify_position(position.position_id, None, None)


async def test_reduce_only_market_order_closes_opposite_positions(adapter: MetaApiAdapter) -> None:
    await adapter.create_order(market_order("sb-50-e0", OrderSide.BUY, "0.10"))
    await adapter.create_order(market_order("sb-51-e0", OrderSide.BUY, "0.20"))
    reduce = OrderRequest(
        "sb-52-e0", "EURUSD", OrderSide.SELL, VenueOrderType.MARKET, D("0.15"), reduce_only=True
    )
    order = await adapter.create_order(reduce)
    assert order.status is OrderStatus.FILLED and order.filled == D("0.15") and order.reduce_only
    (left,) = await adapter.fetch_position_details()
    assert left.client_order_id == "sb-51-e0" and left.volume == D("0.15")
    with pytest.raises(InvalidRequest, match="no open short"):
        await adapter.create_order(
            OrderRequest(
                "sb-53-e0",
                "EURUSD",
                OrderSide.BUY,
                VenueOrderType.MARKET,
                D("0.1"),
                reduce_only=True,
            )
        )


# --- secrets -----------------------------------------------------------------------------------


async def test_token_never_in_errors_or_logs(
    fake: FakeMetaApi, adapter: MetaApiAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    wrong = await _make(fake, token=TOKEN[::-1])
    for call in (wrong.fetch_balance, wrong.fetch_positions):
        try:
            await call()
        except AuthenticationError as exc:
            errors.append(exc)
    await wrong.close()
    fake.fail_next(status=500, path="/positions", message=f"upstream echoed auth-token {TOKEN}")
    try:
        await adapter.fetch_positions()
    except TransientError as exc:
        errors.append(exc)
    fake.drop_next(path="/trade")
    try:
        await adapter.create_order(market_order("sb-60-e0", OrderSide.BUY, "0.1"))
    except AmbiguousOutcome as exc:
        errors.append(exc)
    assert len(errors) == 4
    assert "****" in str(errors[2])
    for exc in errors:
        assert TOKEN not in str(exc) and TOKEN not in repr(exc)
        assert TOKEN[::-1] not in str(exc)
    assert fake.seen_tokens and TOKEN in fake.seen_tokens  # it really was sent, as a header
    assert TOKEN not in caplog.text
    assert TOKEN not in repr(adapter) and TOKEN not in repr(adapter.client)
