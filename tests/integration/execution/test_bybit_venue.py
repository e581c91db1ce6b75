"""SignalBridge's ccxt adapter on Bybit (Unified Trading Account): the REAL, unmodified ccxt
``bybit`` class against the loopback fake of Bybit's V5 wire format (tests/fakes/bybit.py)."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.fakes.bybit import FakeBybit, bybit_server, fake_bybit  # noqa: F401
from tests.fakes.loopback import loopback_deps
from tests.integration.execution.test_engine_fixtures import Rig

from signalbridge.integrations import errors as sb
from signalbridge.store import models as m
from signalbridge.venues.base import (
    OrderRequest,
    OrderRole,
    OrderSide,
    OrderStatus,
    PositionSide,
    VenueOrderType,
)
from signalbridge.venues.ccxt.adapter import WITHDRAW_REFUSAL, CcxtAdapter

D = Decimal


@pytest.fixture
def fake(fake_bybit: FakeBybit) -> FakeBybit:  # noqa: F811
    return fake_bybit


def make(fake: FakeBybit, market_type: str = "linear", **config: Any) -> CcxtAdapter:
    secrets = {**fake.adapter_secrets(), **config.pop("secrets", {})}
    cfg = fake.adapter_config(market_type, timeout_ms=config.pop("timeout_ms", 2000), **config)
    adapter = CcxtAdapter.from_config("conn-bybit", cfg, secrets, deps=loopback_deps())
    adapter.exchange.timeout_on_exit = 0
    return adapter


@pytest.fixture
async def spot(fake: FakeBybit) -> AsyncIterator[CcxtAdapter]:
    adapter = make(fake, "spot")
    yield adapter
    await adapter.close()


@pytest.fixture
async def linear(fake: FakeBybit) -> AsyncIterator[CcxtAdapter]:
    adapter = make(fake, "linear", margin_type="isolated")
    yield adapter
    await adapter.close()


def order(
    cid: str,
    side: OrderSide,
    amount: str,
    *,
    symbol: str = "BTC/USDT",
    price: str | None = None,
    exit_: bool = False,
    leverage: int | None = None,
) -> OrderRequest:
    return OrderRequest(
        cid,
        symbol,
        side,
        VenueOrderType.LIMIT if price else VenueOrderType.MARKET,
        D(amount),
        price=D(price) if price else None,
        reduce_only=exit_,
        role=OrderRole.EXIT if exit_ else OrderRole.ENTRY,
        leverage=leverage,
    )


# -- markets, prices, spot orders ----------------------------------------------------------------


async def test_markets_and_tickers_of_both_market_types(
    spot: CcxtAdapter, linear: CcxtAdapter, fake: FakeBybit
) -> None:
    spot_markets = await spot.load_markets()
    assert set(spot_markets) == {"BTC/USDT", "ETH/USDT"}
    assert spot_markets["BTC/USDT"].amount_step == D("0.000001")
    linear_markets = await linear.load_markets()
    assert set(linear_markets) == {"BTC/USDT", "ETH/USDT"}
    assert linear_markets["BTC/USDT"].venue_symbol == "BTC/USDT:USDT"
    assert linear_markets["BTC/USDT"].amount_step == D("0.001")
    tickers = await linear.fetch_tickers(["BTC/USDT", "ETH/USDT"])
    assert tickers["BTC/USDT"].bid == D("49999.9") and tickers["ETH/USDT"].last == D(3000)
    # one market type's instruments only, and no account calls to load them
    assert fake.count("/v5/market/instruments-info") == 3  # spot; linear + its PreLaunch page
    assert fake.count("/v5/user/query-api") == fake.count("/v5/account/info") == 0


async def test_spot_market_and_limit_orders_by_our_client_ids(
    spot: CcxtAdapter, fake: FakeBybit
) -> None:
    bought = await spot.create_order(order("sb-1-e0", OrderSide.BUY, "0.02"))
    assert (bought.client_order_id, bought.status, bought.filled) == (
        "sb-1-e0",
        OrderStatus.FILLED,
        D("0.02"),
    )
    assert bought.average_price == D("50000.1") and bought.fee is not None
    assert (bought.fee.amount, bought.fee.asset) == (D("0.00002"), "BTC")
    again = await spot.fetch_order("BTC/USDT", "sb-1-e0")
    assert again.venue_order_id == bought.venue_order_id and again.status is OrderStatus.FILLED

    resting = await spot.create_order(order("sb-2-e0", OrderSide.SELL, "0.01", price="60000"))
    assert resting.status is OrderStatus.OPEN and resting.price == D(60000)
    assert [o.client_order_id for o in await spot.fetch_open_orders("BTC/USDT")] == ["sb-2-e0"]
    canceled = await spot.cancel_order("BTC/USDT", "sb-2-e0")
    assert canceled.status is OrderStatus.CANCELED
    assert await spot.fetch_open_orders("BTC/USDT") == []
    with pytest.raises(sb.OrderNotFound):  # cancelled already: 170213
        await spot.cancel_order("BTC/USDT", "sb-2-e0")
    balances = await spot.fetch_balance()
    assert balances["BTC"].total == D("1.01998")
    assert [o.link_id for o in fake.orders()] == ["sb-1-e0", "sb-2-e0"]


async def test_a_resting_limit_fills_when_the_market_reaches_it(
    spot: CcxtAdapter, fake: FakeBybit
) -> None:
    await spot.create_order(order("sb-3-e0", OrderSide.BUY, "0.01", price="49000"))
    fake.set_price("BTCUSDT", "48990")
    filled = await spot.fetch_order("BTC/USDT", "sb-3-e0")  # from realtime, asked by id
    assert (filled.status, filled.filled, filled.average_price) == (
        OrderStatus.FILLED,
        D("0.01"),
        D(49000),
    )
    [trade] = await spot.fetch_trades_since("BTC/USDT", filled.created_at, 10) or []
    assert trade.amount == D("0.01") and trade.price == D(49000)


# -- linear: leverage, margin, positions, reduce-only ---------------------------------------------


async def test_linear_entry_sets_leverage_and_margin_then_a_reduce_only_exit_closes(
    linear: CcxtAdapter, fake: FakeBybit
) -> None:
    entry = await linear.create_order(order("sb-4-e0", OrderSide.SELL, "0.5", leverage=5))
    assert entry.status is OrderStatus.FILLED and entry.average_price == D("49999.9")
    assert fake.leverage_of("BTCUSDT") == 5 and fake.margin_mode == "ISOLATED_MARGIN"
    assert fake.order("sb-4-e0").position_idx == 0 and not fake.order("sb-4-e0").reduce_only
    [position] = await linear.fetch_positions()
    assert (position.symbol, position.side, position.amount, position.leverage) == (
        "BTC/USDT",
        PositionSide.SHORT,
        D("0.5"),
        5,
    )
    # the same leverage again costs no request; Bybit's "not modified" is success anyway
    await linear.create_order(order("sb-5-e0", OrderSide.SELL, "0.1", leverage=5))
    assert fake.count("/v5/position/set-leverage") == 1
    assert fake.count("/v5/account/info") == 1 and fake.count("/v5/account/set-margin-mode") == 1

    exit_ = await linear.create_order(order("sb-4-x0", OrderSide.BUY, "0.9", exit_=True))
    assert exit_.filled == D("0.6")  # Bybit cuts a reduce-only order to the position
    assert fake.order("sb-4-x0").reduce_only and fake.position_size("BTCUSDT") == 0
    assert await linear.fetch_positions() == []
    with pytest.raises(sb.InvalidRequest, match="110017"):  # nothing left to reduce
        await linear.create_order(order("sb-4-x1", OrderSide.BUY, "0.1", exit_=True))


async def test_margin_mode_stays_when_bybit_refuses_to_switch_it(
    linear: CcxtAdapter, fake: FakeBybit
) -> None:
    await linear.create_order(order("sb-6-e0", OrderSide.BUY, "0.1"))  # cross, no leverage set
    assert fake.margin_mode == "REGULAR_MARGIN"
    settings = await linear.configure_symbol("ETH/USDT", 3)
    assert settings is not None and settings.margin_type is None and settings.leverage == 3
    assert fake.margin_mode == "REGULAR_MARGIN" and fake.leverage_of("ETHUSDT") == 3


async def test_hedge_mode_found_on_refusal_and_the_order_sent_again(
    linear: CcxtAdapter, fake: FakeBybit
) -> None:
    fake.set_hedge_mode(True)
    await linear.create_order(order("sb-7-e0", OrderSide.BUY, "0.2"))
    await linear.create_order(order("sb-7-x0", OrderSide.SELL, "0.2", exit_=True))
    assert [(o.link_id, o.position_idx) for o in fake.orders()] == [
        ("sb-7-e0", 1),
        ("sb-7-x0", 1),
    ]
    assert fake.count("/v5/order/create") == 3  # one refusal (10001), nothing placed by it
    assert fake.position_size("BTCUSDT", 1) == 0


# -- exactly once ---------------------------------------------------------------------------------


async def test_a_lost_answer_is_ambiguous_and_the_lookup_finds_the_one_order(
    fake: FakeBybit,
) -> None:
    adapter = make(fake, "linear", timeout_ms=300)
    try:
        await adapter.load_markets()
        fake.accept_then_drop(kind="timeout", delay=1.0)
        with pytest.raises(sb.AmbiguousOutcome):
            await adapter.create_order(order("sb-8-e0", OrderSide.BUY, "0.1"))
        found = await adapter.fetch_order("BTC/USDT", "sb-8-e0")
        assert found.status is OrderStatus.FILLED and found.filled == D("0.1")
        with pytest.raises(sb.InvalidRequest, match="110072"):  # the id is taken
            await adapter.create_order(order("sb-8-e0", OrderSide.BUY, "0.1"))
        assert len(fake.orders()) == 1 and fake.position_size("BTCUSDT") == D("0.1")
        # the engine's second proof: the account's fills since the order was made
        [fill] = await adapter.fetch_trades_since("BTC/USDT", found.created_at, 10) or []
        assert (fill.amount, fill.price) == (D("0.1"), D("50000.1"))
        # a gateway error before the order reached Bybit: unknown to us, absent on lookup,
        # so it is sent again, and exists once
        fake.fail_next(path="/v5/order/create", kind="status", status=502)
        with pytest.raises(sb.AmbiguousOutcome):
            await adapter.create_order(order("sb-9-e0", OrderSide.BUY, "0.1"))
        with pytest.raises(sb.OrderNotFound):
            await adapter.fetch_order("BTC/USDT", "sb-9-e0")
        await adapter.create_order(order("sb-9-e0", OrderSide.BUY, "0.1"))
        assert [o.link_id for o in fake.orders()] == ["sb-8-e0", "sb-9-e0"]
    finally:
        await adapter.close()


async def test_a_bybit_internal_error_on_a_placement_is_ambiguous_not_a_refusal(
    linear: CcxtAdapter, fake: FakeBybit
) -> None:
    await linear.load_markets()
    fake.answer_code("/v5/order/create", 10016, "Internal error.", executed=True)
    with pytest.raises(sb.AmbiguousOutcome):
        await linear.create_order(order("sb-12-e0", OrderSide.BUY, "0.1"))
    assert (await linear.fetch_order("BTC/USDT", "sb-12-e0")).status is OrderStatus.FILLED
    fake.answer_code("/v5/account/wallet-balance", 10016, "Internal error.", executed=False)
    with pytest.raises(sb.TransientError):
        await linear.fetch_balance()
    fake.blind_lookups(3)  # placed for sure, not yet readable: open, by our id
    placed = await linear.create_order(order("sb-12-e1", OrderSide.BUY, "0.1"))
    assert placed.status is OrderStatus.OPEN and placed.client_order_id == "sb-12-e1"
    assert placed.venue_order_id == fake.order("sb-12-e1").order_id


async def test_after_a_bybit_restart_a_closed_order_is_found_in_history(
    linear: CcxtAdapter, fake: FakeBybit
) -> None:
    await linear.create_order(order("sb-11-e0", OrderSide.BUY, "0.1"))
    await linear.create_order(order("sb-11-t0", OrderSide.SELL, "0.1", price="60000"))
    fake.restart()  # realtime forgets its recent closed orders; history keeps them
    found = await linear.fetch_order("BTC/USDT", "sb-11-e0")
    assert found.status is OrderStatus.FILLED and found.filled == D("0.1")
    assert fake.count("/v5/order/history") == 1
    [resting] = await linear.fetch_open_orders()  # every USDT perpetual (settleCoin)
    assert resting.client_order_id == "sb-11-t0" and resting.status is OrderStatus.OPEN
    canceled = await linear.cancel_order("BTC/USDT", "sb-11-t0")
    assert canceled.status is OrderStatus.CANCELED
    assert fake.order("sb-11-t0").status == "Cancelled"
    with pytest.raises(sb.OrderNotFound):  # 110001
        await linear.cancel_order("BTC/USDT", "sb-11-t0")


async def test_a_client_id_bybit_would_refuse_never_leaves(
    linear: CcxtAdapter, fake: FakeBybit
) -> None:
    await linear.load_markets()
    with pytest.raises(sb.InvalidRequest, match="1-36 characters"):
        await linear.create_order(order("sb-" + "9" * 40 + "-e0", OrderSide.BUY, "0.1"))
    with pytest.raises(sb.InvalidRequest, match="1-36 characters"):
        await linear.create_order(order("sb-1.5-e0", OrderSide.BUY, "0.1"))
    assert fake.count("/v5/order/create") == 0


# -- errors ---------------------------------------------------------------------------------------


async def test_a_wrong_secret_is_an_authentication_error_without_secrets(fake: FakeBybit) -> None:
    wrong = "WrongBybitSecret0123456789abcdefghij"
    adapter = make(fake, "spot", secrets={"secret": wrong})
    try:
        with pytest.raises(sb.AuthenticationError) as caught:
            await adapter.fetch_balance()
        assert "10004" in caught.value.message
        assert fake.api_key not in caught.value.message and wrong not in caught.value.message
        result = await adapter.probe()
        assert not result.ok and result.message.startswith("key refused")
    finally:
        await adapter.close()
    key = fake.api_key
    mangled = make(fake, "spot", secrets={"api_key": key[:-1] + ("x" if key[-1] != "x" else "y")})
    try:
        with pytest.raises(sb.AuthenticationError, match="10003"):
            await mangled.fetch_balance()
    finally:
        await mangled.close()


async def test_insufficient_funds_and_unknown_symbol(
    spot: CcxtAdapter, linear: CcxtAdapter, fake: FakeBybit
) -> None:
    with pytest.raises(sb.InsufficientFunds):  # spot 170131
        await spot.create_order(order("sb-10-e0", OrderSide.BUY, "1"))
    with pytest.raises(sb.InsufficientFunds):  # linear 110007
        await linear.create_order(order("sb-10-e1", OrderSide.BUY, "5"))
    with pytest.raises(sb.SymbolNotListed):
        await linear.create_order(order("sb-10-e2", OrderSide.BUY, "1", symbol="DOGE/USDT"))
    assert fake.orders() == []


async def test_a_rate_limit_waits_for_bybits_reset_and_a_403_is_an_ip_ban(
    linear: CcxtAdapter, fake: FakeBybit
) -> None:
    await linear.load_markets()
    fake.rate_limit(1, reset_in_ms=2500)  # 10006 "Too many visits!", per UID
    before = time.time()
    with pytest.raises(sb.RateLimited) as limited:
        await linear.fetch_balance()
    after = time.time()
    reset = fake.limit_reset_ms  # the X-Bapi-Limit-Reset-Timestamp it sent
    assert reset is not None and not limited.value.banned
    wait = limited.value.retry_after  # reset - now, "now" taken between before and after
    assert wait is not None and reset / 1000 - after <= wait <= reset / 1000 - before
    # the fake stamps its clock in whole milliseconds (truncated): up to 1 ms less
    assert 2.5 - (after - before) - 0.002 <= wait <= 2.5
    fake.rate_limit(1, reset_in_ms=3_600_000)  # an hour off: our clocks disagree
    with pytest.raises(sb.RateLimited) as limited:
        await linear.fetch_balance()
    assert limited.value.retry_after == 60.0
    fake.ban_ip(1)  # HTTP 403 "access too frequent": the IP, not the key
    with pytest.raises(sb.RateLimited) as banned:
        await linear.fetch_positions()
    assert banned.value.banned and banned.value.retry_after == 600.0  # "at least 10 minutes"
    assert banned.value.banned_until is None  # Bybit states no end
    assert (await linear.fetch_balance())["USDT"].total == D(10000)  # over: served again


async def test_a_clock_bybit_disagrees_with_is_measured_and_the_call_repeated(
    spot: CcxtAdapter, fake: FakeBybit
) -> None:
    await spot.load_markets()
    fake.set_clock_skew(30_000)  # our timestamps are 30 s behind Bybit's: 10002
    balances = await spot.fetch_balance()
    assert balances["USDT"].total == D(10000)
    assert fake.count("/v5/market/time") == 1 and fake.count("/v5/account/wallet-balance") == 2


# -- the connection test --------------------------------------------------------------------------


async def test_probe_reads_the_keys_permissions(linear: CcxtAdapter, fake: FakeBybit) -> None:
    result = await linear.probe()
    assert result.ok and result.can_trade and not result.can_withdraw
    assert "no IP whitelist" in result.message
    fake.ips = ["203.0.113.7"]
    assert (await linear.probe()).message == "ok: trade-only key"
    fake.permissions["Wallet"] = ["AccountTransfer", "Withdraw"]
    refused = await linear.probe()
    assert not refused.ok and refused.message == WITHDRAW_REFUSAL
    fake.permissions["Wallet"] = []
    fake.uta = 0
    classic = await linear.probe()
    assert not classic.ok and not classic.can_trade


# -- the fake's own signature rule, byte for byte ------------------------------------------------


def test_the_fake_checks_the_v5_signature(fake: FakeBybit) -> None:
    stamp, window, query = str(int(time.time() * 1000)), "5000", "accountType=UNIFIED"
    payload = stamp + fake.api_key + window + query

    def get(secret: str) -> dict[str, Any]:
        sign = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        headers = {
            "X-BAPI-API-KEY": fake.api_key,
            "X-BAPI-TIMESTAMP": stamp,
            "X-BAPI-RECV-WINDOW": window,
            "X-BAPI-SIGN": sign,
        }
        url = f"{fake.base_url}/v5/account/wallet-balance?{query}"
        answer: dict[str, Any] = httpx.get(url, headers=headers).json()
        return answer

    assert get(fake.secret)["retCode"] == 0
    assert get("not-the-secret")["retCode"] == 10004


# -- through the engine ---------------------------------------------------------------------------


async def test_a_signal_copied_to_a_bybit_follow_opens_the_position(
    rig: Rig, fake: FakeBybit
) -> None:
    """The engine, the pool, the kernel's guard and the real ccxt against the fake: a long
    signal with a stop and a target opens a linear position at the ask, once, and its
    protection is recorded for the position monitor (Bybit exits do not rest here)."""
    config = fake.adapter_config("linear", timeout_ms=1000, margin_type="isolated")
    connection_id = await rig.connection("ccxt", config, fake.adapter_secrets())
    follow_id = await rig.follow(connection_id, sizing={"mode": "fixed_quote", "value": "500"})
    execution_id = await rig.execution(await rig.signal(), follow_id)
    await rig.engine.run(execution_id)
    await rig.engine.run(execution_id)  # a second run sends nothing more
    [placed] = fake.orders()
    assert placed.side == "Buy" and placed.status == "Filled" and placed.link_id
    assert fake.position_size("BTCUSDT") == placed.qty > 0
    [row] = await rig.orders()
    assert row.status == m.OrderStatus.FILLED and row.client_order_id == placed.link_id
    assert (await rig.execution_row(execution_id)).status == m.ExecutionStatus.OPEN
    # no stop or target rests on Bybit here: the position row carries them for the monitor
    async with rig.sessions() as s:
        [position] = (await s.scalars(select(m.Position))).all()
    assert position.amount == placed.qty and position.entry_price == D("50000.1")
    assert position.stop_loss == D(45000) and [D(tp) for tp in position.take_profits] == [D(60000)]
    assert fake.leverage_of("BTCUSDT") is not None and fake.margin_mode == "ISOLATED_MARGIN"
