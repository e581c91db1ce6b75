"""Binance USDⓈ-M commissions (issue 18, "realised PnL includes fees"), through the real ccxt
against the fake Binance.

A regular account pays 0.0200 % of a fill's notional as maker and 0.0500 % as taker, in
USDT, debited from the futures wallet; ``GET /fapi/v1/order`` carries no fills, so the
adapter reads a filled order's commission from ``GET /fapi/v1/userTrades`` by order id (one
request per filled order, none for an unfilled one). A round trip's realised PnL is the
move less both commissions, exactly what the fake wallet gained.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.fakes.binance import FakeBinance
from tests.integration.execution.test_ccxt_adapter import make
from tests.integration.execution.test_engine_fixtures import build_rig

from signalbridge.execution.monitor import PositionMonitor
from signalbridge.store import models as m
from signalbridge.venues.base import (
    Fee,
    OrderRequest,
    OrderSide,
    OrderStatus,
    TimeInForce,
    VenueOrderType,
)
from signalbridge.venues.ccxt.adapter import CcxtAdapter

D = Decimal
TRADES = "/fapi/v1/userTrades"


@pytest.fixture
async def linear(fake_binance: FakeBinance) -> AsyncIterator[CcxtAdapter]:
    adapter = make(fake_binance, "linear")
    yield adapter
    await adapter.close()


async def wallet(adapter: CcxtAdapter) -> Decimal:
    """The futures wallet balance as ``/fapi/v2`` reports it (no position open: total)."""
    return (await adapter.fetch_balance())["USDT"].total


async def test_a_taker_entry_and_a_maker_exit_pay_their_rates_from_the_wallet(
    linear: CcxtAdapter, fake_binance: FakeBinance
) -> None:
    fake = fake_binance
    entry = OrderRequest("sb-1-e0", "BTC/USDT", OrderSide.BUY, VenueOrderType.MARKET, D("0.01"))
    bought = await linear.create_order(entry)
    # taker: 0.01 × 50,000 × 0.0005
    assert bought.status is OrderStatus.FILLED and bought.fees == (Fee(D("0.25"), "USDT"),)
    assert bought.fee == Fee(D("0.25"), "USDT")
    assert fake.count(TRADES, "GET") == 1

    resting = OrderRequest(
        "sb-1-t1",
        "BTC/USDT",
        OrderSide.SELL,
        VenueOrderType.LIMIT,
        D("0.01"),
        price=D(51000),
        time_in_force=TimeInForce.GTC,
        reduce_only=True,
    )
    placed = await linear.create_order(resting)
    assert placed.status is OrderStatus.OPEN and placed.fees == ()
    assert fake.count(TRADES, "GET") == 1  # nothing filled: no trades to read

    fake.set_price("BTCUSDT", "51000")  # the resting sell fills as maker
    sold = await linear.fetch_order("BTC/USDT", "sb-1-t1")
    # maker: 0.01 × 51,000 × 0.0002
    assert sold.status is OrderStatus.FILLED and sold.fees == (Fee(D("0.102"), "USDT"),)
    assert fake.count(TRADES, "GET") == 2
    # 10,000 + the realised (51,000 − 50,000) × 0.01 − 0.25 − 0.102
    assert await wallet(linear) == D("10009.648")

    # userTrades as ccxt reads it: each fill's role, commission and (closing) realised PnL
    raw = await linear.exchange.fetch_my_trades("BTC/USDT:USDT")
    assert [
        (t["order"], t["takerOrMaker"], t["info"]["commission"], t["info"]["realizedPnl"])
        for t in raw
    ] == [
        (bought.venue_order_id, "taker", "0.25000000", "0.00000000"),
        (sold.venue_order_id, "maker", "0.10200000", "10.00000000"),
    ]


async def test_a_zero_rate_is_a_zero_fee(linear: CcxtAdapter, fake_binance: FakeBinance) -> None:
    """The knob a test about fee-free arithmetic uses: the fill still reports its (zero)
    commission, so the adapter records a fee of 0 rather than none, and asks only once."""
    fake_binance.set_futures_commission("0")
    entry = OrderRequest("sb-2-e0", "BTC/USDT", OrderSide.BUY, VenueOrderType.MARKET, D("0.01"))
    assert (await linear.create_order(entry)).fees == (Fee(D(0), "USDT"),)
    assert await wallet(linear) == D(10000)
    assert fake_binance.count(TRADES, "GET") == 1


async def test_a_round_trip_realises_the_move_less_both_commissions(
    tmp_path: Path, database_url: str, fake_binance: FakeBinance
) -> None:
    """Market entry (taker) and a target resting on the Algo Service, whose triggered
    child fills at market (taker): every figure by hand, and the fake wallet agrees."""
    fake = fake_binance
    rig = await build_rig(tmp_path, database_url=database_url)
    probe = make(fake, "linear")
    try:
        before = await wallet(probe)
        connection = await rig.connection(
            "ccxt", fake.adapter_config("linear"), fake.adapter_secrets()
        )
        follow = await rig.follow(connection, sizing={"mode": "fixed_quote", "value": "1000"})
        signal_id = await rig.signal(stop_loss=D(45000), take_profits=["52000"])
        await rig.engine.run(await rig.execution(signal_id, follow))
        monitor = PositionMonitor(rig.sessions, rig.pool, rig.engine, now=rig.clock)
        assert not (await monitor.run_once()).errors  # the stop and target rest on Binance

        fake.set_price("BTCUSDT", "52000")  # Binance fires the target
        report = await monitor.run_once()
        assert not report.errors, report.errors
        legs = {o.leg: o for o in await rig.orders()}
        entry, target = legs["e0"], legs["t1g1"]
        assert (entry.filled, entry.average_price) == (D("0.02"), D(50000))
        assert (target.status, target.average_price) == (m.OrderStatus.FILLED, D(52000))
        # taker both ways: 0.02 × 50,000 × 0.0005 = 0.5 and 0.02 × 52,000 × 0.0005 = 0.52
        assert (entry.fee, entry.fee_asset) == (D("0.5"), "USDT")
        assert (target.fee, target.fee_asset) == (D("0.52"), "USDT")
        async with rig.sessions() as s:
            position = await s.scalar(select(m.Position).where(m.Position.signal_id == signal_id))
        assert position is not None and position.status == m.PositionStatus.CLOSED
        assert position.fees == D("1.02")
        # (52,000 − 50,000) × 0.02 − 0.5 − 0.52
        assert position.realized_pnl == D("38.98")
        assert await wallet(probe) - before == position.realized_pnl
    finally:
        await probe.close()
        await rig.pool.close()
        await rig.container.engine.dispose()
