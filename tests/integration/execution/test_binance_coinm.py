"""Binance COIN-M inverse perpetuals (issue 18, item 5b) through the real ccxt on the fake
``/dapi``: markets in contracts worth a fixed USD amount, margin and PnL in the base coin,
the account's position mode, margin type and leverage set on ``/dapi`` (never ``/fapi``),
reduce-only exits in one-way mode and ``positionSide`` in hedge mode, and a position opened
and closed by the engine and the monitor with its PnL in BTC."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.fakes.binance import FakeBinance
from tests.fakes.loopback import loopback_deps
from tests.integration.execution.binance_rig import D, adapter, market
from tests.integration.execution.test_engine_fixtures import build_rig

from signalbridge.execution.monitor import PositionMonitor
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

BUY, SELL = OrderSide.BUY, OrderSide.SELL
PERP = "BTCUSD_PERP"


@pytest.fixture
def fake(fake_binance: FakeBinance) -> FakeBinance:
    fake_binance.set_coinm_wallet("BTC", "1")
    fake_binance.set_coinm_price(PERP, "50000")
    return fake_binance


@pytest.fixture
async def coinm(fake: FakeBinance) -> AsyncIterator[CcxtAdapter]:
    built = adapter(fake, "inverse")
    yield built
    await built.close()


async def test_markets_are_contracts_in_usd_with_coin_margin(coinm: CcxtAdapter) -> None:
    markets = await coinm.load_markets()
    btc = markets["BTC/USD"]
    assert btc.venue_symbol == "BTC/USD:BTC" and btc.inverse
    assert (btc.contract_size, btc.amount_step, btc.min_amount) == (100, 1, 1)
    assert btc.margin_asset == "BTC" and btc.quote == "USD"
    assert markets["ETH/USD"].contract_size == 10
    assert (await coinm.fetch_balance())["BTC"].free == 1
    ticker = (await coinm.fetch_tickers(["BTC/USD"]))["BTC/USD"]
    assert (ticker.bid, ticker.ask, ticker.last) == (50000, 50000, 50000)


async def test_usdt_signals_map_onto_the_coin_margined_perpetual(fake: FakeBinance) -> None:
    """Providers post BTCUSDT; a COIN-M connection maps it onto BTCUSD_PERP explicitly."""
    mapped = adapter(fake, "inverse", symbol_map={"BTC/USDT": "BTC/USD:BTC"})
    try:
        assert (await mapped.load_markets())["BTC/USDT"].venue_symbol == "BTC/USD:BTC"
        assert (await mapped.fetch_tickers(["BTC/USDT"]))["BTC/USDT"].last == 50000
    finally:
        await mapped.close()


async def test_symbol_settings_and_orders_go_to_dapi(coinm: CcxtAdapter, fake: FakeBinance) -> None:
    settings = await coinm.configure_symbol("BTC/USD", 5)
    assert settings is not None
    assert (settings.position_mode, settings.leverage, settings.margin_type) == (
        "one_way",
        5,
        "isolated",
    )
    entry = await coinm.create_order(market("sb-1-e0", BUY, "25", symbol="BTC/USD"))
    assert entry.filled == 25 and entry.average_price == 50000
    held = await coinm.fetch_positions()
    assert [(p.symbol, p.side, p.amount, p.leverage) for p in held] == [
        ("BTC/USD", PositionSide.LONG, D(25), 5)
    ]
    with pytest.raises(sb.InvalidRequest, match="-2022"):  # reduce-only may not add
        await coinm.create_order(market("sb-1-x1", BUY, "1", symbol="BTC/USD", exit_=True))
    with pytest.raises(sb.InsufficientFunds):  # -2019: 60000 contracts need 2.4 BTC at 5x
        await coinm.create_order(market("sb-1-e1", BUY, "60000", symbol="BTC/USD"))
    fake.set_coinm_price(PERP, "40000")
    out = await coinm.create_order(market("sb-1-sl", SELL, "25", symbol="BTC/USD", exit_=True))
    assert out.filled == 25 and (await coinm.fetch_positions()) == []
    sent = fake.coinm_orders()
    assert [(o.client_order_id, o.reduce_only, o.qty) for o in sent] == [
        ("sb-1-e0", False, 25),
        ("sb-1-sl", True, 25),
    ]
    # 25 × 100 × (1/50000 − 1/40000) BTC realised; taker fees 0.05 % of 0.05 and 0.0625 BTC
    assert fake.coinm_wallet("BTC") == D(1) - D("0.0125") - D("0.000025") - D("0.00003125")
    assert fake.count("/dapi/v1/marginType", "POST") == 1
    assert fake.count("/dapi/v1/leverage", "POST") == 1
    assert fake.count("/fapi/v1/leverage") + fake.count("/fapi/v1/marginType") == 0
    assert fake.count("/fapi/v1/exchangeInfo") + fake.count("/api/v3/exchangeInfo") == 0


async def test_resting_orders_are_listed_cancelled_and_traded(
    coinm: CcxtAdapter, fake: FakeBinance
) -> None:
    limit = OrderRequest(
        "sb-3-e0", "BTC/USD", BUY, VenueOrderType.LIMIT, D(4), price=D(49000), role=OrderRole.ENTRY
    )
    assert (await coinm.create_order(limit)).status is OrderStatus.OPEN
    listed = await coinm.fetch_open_orders()  # every symbol, one request
    assert [(o.client_order_id, o.amount, o.price) for o in listed] == [("sb-3-e0", 4, 49000)]
    cancelled = await coinm.cancel_order("BTC/USD", "sb-3-e0")
    assert cancelled.status is OrderStatus.CANCELED and await coinm.fetch_open_orders() == []
    since = datetime.now(UTC) - timedelta(minutes=1)
    await coinm.create_order(market("sb-3-e1", BUY, "10", symbol="BTC/USD"))
    [trade] = await coinm.fetch_trades_since("BTC/USD", since, 10) or []
    # 10 contracts of 100 USD at 50000 = 0.02 BTC; the 0.05 % taker fee is in BTC
    assert (trade.amount, trade.price) == (10, 50000)
    assert trade.fee is not None and (trade.fee.amount, trade.fee.asset) == (D("0.00001"), "BTC")


async def test_funding_is_read_in_the_coin(coinm: CcxtAdapter, fake: FakeBinance) -> None:
    now = datetime.now(UTC)
    at = int(now.timestamp() * 1000) - 60_000
    fake.coinm.income.add_funding(PERP, "-0.0000012", asset="BTC", at_ms=at)
    [paid] = await coinm.fetch_funding("BTC/USD", now - timedelta(hours=1)) or []
    assert (paid.symbol, paid.amount, paid.asset) == ("BTC/USD", D("-0.0000012"), "BTC")
    assert fake.count("/dapi/v1/income") == 1 and fake.count("/fapi/v1/income") == 0


async def test_hedge_mode_names_the_position(coinm: CcxtAdapter, fake: FakeBinance) -> None:
    fake.set_coinm_hedge_mode(True)
    await coinm.create_order(market("sb-2-e0", SELL, "3", symbol="BTC/USD"))
    await coinm.create_order(market("sb-2-tp1", BUY, "3", symbol="BTC/USD", exit_=True))
    sent = fake.coinm_orders()
    assert [(o.position_side, o.reduce_only) for o in sent] == [("SHORT", False), ("SHORT", False)]
    assert fake.coinm_position(PERP, "SHORT") == (0, 0)


async def test_a_key_that_can_withdraw_is_refused(coinm: CcxtAdapter, fake: FakeBinance) -> None:
    assert (await coinm.probe()).ok
    fake.withdrawals_enabled = True
    result = await coinm.probe()
    assert not result.ok and result.can_withdraw and result.message == WITHDRAW_REFUSAL


async def test_a_mangled_secret_is_refused_on_dapi(fake: FakeBinance) -> None:
    secrets = {"api_key": fake.api_key, "secret": fake.secret + "x"}
    cfg = fake.adapter_config("inverse", timeout_ms=2000)
    built = CcxtAdapter.from_config("conn-x", cfg, secrets, deps=loopback_deps())
    built.exchange.timeout_on_exit = 0
    try:
        result = await built.probe()
    finally:
        await built.close()
    assert not result.ok and result.message.startswith("key refused")
    assert fake.count("/dapi/v1/account") == 1 and fake.coinm_orders() == []


async def test_a_position_opened_and_closed_by_the_engine(
    tmp_path: Path, fake: FakeBinance
) -> None:
    """0.01 BTC of margin at 5x on BTCUSD_PERP at 50000: 0.05 BTC = 25 contracts of 100 USD.
    The stop at 45000 is hit at 44000: 25 × 100 × (1/50000 − 1/44000) BTC."""
    rig = await build_rig(tmp_path)
    try:
        connection = await rig.connection(
            "ccxt", fake.adapter_config("inverse", timeout_ms=2000), fake.adapter_secrets()
        )
        follow = await rig.follow(
            connection, sizing={"mode": "fixed_quote", "value": "0.01", "leverage": 5}
        )
        signal_id = await rig.signal(
            symbol="BTC/USD", stop_loss=Decimal(45000), take_profits=["60000"]
        )
        execution_id = await rig.execution(signal_id, follow)
        await rig.engine.run(execution_id)
        execution = await rig.execution_row(execution_id)
        assert execution.contract_size == 100 and execution.pnl_asset == "BTC"
        async with rig.sessions() as s:
            position = await s.scalar(select(m.Position).where(m.Position.signal_id == signal_id))
        assert position is not None and position.status == m.PositionStatus.OPEN
        assert (position.amount, position.entry_price) == (25, 50000)
        assert position.inverse is True and position.pnl_asset == "BTC"
        assert fake.coinm_position(PERP) == (25, 50000)

        fake.set_coinm_price(PERP, "44000")  # through the 45000 stop
        report = await PositionMonitor(rig.sessions, rig.pool, rig.engine, now=rig.clock).run_once()
        assert report.orders == 1, report
        [stop] = await rig.orders(leg="sl")
        assert (stop.side, stop.amount, stop.reduce_only, stop.status) == (
            "sell",
            25,
            True,
            m.OrderStatus.FILLED,
        )
        async with rig.sessions() as s:
            closed = await s.get_one(m.Position, position.id)
        assert closed.status == m.PositionStatus.CLOSED and closed.amount == 0
        assert closed.inverse is True and closed.pnl_asset == "BTC"
        # gross: 2500 × (1/50000 − 1/44000) = −0.00681818… BTC; taker fees 0.05 % of the
        # 0.05 BTC bought and of the 2500/44000 BTC sold, in BTC: 0.000025 + 0.0000284090…
        assert closed.fees == D("0.000053409091")
        assert closed.realized_pnl == D("-0.006871590909")
        # what the venue's BTC wallet says, to the 12 places positions are kept in
        assert closed.realized_pnl == (fake.coinm_wallet("BTC") - 1).quantize(D("1e-12"))
        assert fake.coinm_position(PERP) == (0, 0)
    finally:
        await rig.pool.close()
        await rig.container.engine.dispose()
