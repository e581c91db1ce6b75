"""Binance spot fees (issue 13, item 2): a BUY pays its commission in the coin bought (or in
BNB), so a full exit sells what is held net of that fee, rounded down to the step.

Through the real ccxt against the fake Binance: the fake charges the commission the way
Binance does and refuses an oversell with -2010; the adapter reports every fee with its
asset, also where the order answer has no fills (``GET /api/v3/myTrades``); the recorder
keeps them per order; and a spot position opened and closed in full (stop, targets, a
provider's close) leaves no open position and no open order behind.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests.fakes.binance import FakeBinance
from tests.integration.execution.test_ccxt_adapter import make
from tests.integration.execution.test_engine_fixtures import Rig, build_rig

from signalbridge.domain.management import Action, ActionKind
from signalbridge.execution.monitor import PositionMonitor
from signalbridge.integrations import errors as sb
from signalbridge.store import models as m
from signalbridge.venues.base import Fee, OrderRequest, OrderSide, OrderStatus, VenueOrderType
from signalbridge.venues.ccxt.adapter import CcxtAdapter

D = Decimal
STANDARD = "0.001"  # Binance's regular spot rate (0.1 %)


@pytest.fixture
def fake(fake_binance: FakeBinance) -> FakeBinance:
    fake_binance.set_spot_commission(STANDARD)
    fake_binance.set_spot_balance("BTC", "0")  # only what the tests buy
    return fake_binance


@pytest.fixture
async def spot(fake: FakeBinance) -> AsyncIterator[CcxtAdapter]:
    adapter = make(fake)
    yield adapter
    await adapter.close()


def market(cid: str, side: OrderSide, amount: str) -> OrderRequest:
    return OrderRequest(cid, "BTC/USDT", side, VenueOrderType.MARKET, D(amount))


# --- the fake and the adapter --------------------------------------------------------------


async def test_a_buy_pays_in_the_coin_bought_and_an_oversell_is_refused(
    spot: CcxtAdapter, fake: FakeBinance
) -> None:
    bought = await spot.create_order(market("sb-1-e0", OrderSide.BUY, "0.01"))
    assert bought.status is OrderStatus.FILLED and bought.filled == D("0.01")
    assert bought.fees == (Fee(D("0.00001"), "BTC"),)  # from the FULL answer's fills
    assert fake.book.spot_free["BTC"] == D("0.00999")
    assert (await spot.fetch_balance())["BTC"].free == D("0.00999")
    with pytest.raises(sb.InsufficientFunds, match="insufficient balance"):
        await spot.create_order(market("sb-1-sl", OrderSide.SELL, "0.01"))  # -2010
    sold = await spot.create_order(market("sb-1-c1", OrderSide.SELL, "0.00999"))
    assert sold.fees == (Fee(D("0.4995"), "USDT"),)  # a sell pays in what it receives
    assert fake.book.spot_free["BTC"] == 0


async def test_fees_come_from_my_trades_when_the_answer_has_no_fills(
    spot: CcxtAdapter, fake: FakeBinance
) -> None:
    """GET /api/v3/order has no fills: the adapter reads the order's trades."""
    await spot.create_order(market("sb-2-e0", OrderSide.BUY, "0.01"))
    found = await spot.fetch_order("BTC/USDT", "sb-2-e0")
    assert found.fees == (Fee(D("0.00001"), "BTC"),)
    assert found.fee == Fee(D("0.00001"), "BTC")
    assert fake.count("/api/v3/myTrades", "GET") == 1
    # Only filled spot orders need it: a resting one does not ask.
    limit = OrderRequest(
        "sb-2-e1", "BTC/USDT", OrderSide.BUY, VenueOrderType.LIMIT, D("0.01"), price=D(40000)
    )
    await spot.create_order(limit)
    assert (await spot.fetch_order("BTC/USDT", "sb-2-e1")).fees == ()
    assert fake.count("/api/v3/myTrades", "GET") == 1


async def test_bnb_pays_when_switched_on_and_held(spot: CcxtAdapter, fake: FakeBinance) -> None:
    fake.set_spot_commission(STANDARD, pay_with_bnb=True, bnb_price="500")
    fake.set_spot_balance("BNB", "1")
    bought = await spot.create_order(market("sb-3-e0", OrderSide.BUY, "0.01"))
    # 0.01 BTC x 50000 x 0.1 % x 0.75 (BNB discount) / 500 = 0.00075 BNB
    assert bought.fees == (Fee(D("0.00075"), "BNB"),)
    assert fake.book.spot_free["BTC"] == D("0.01")
    fake.set_spot_balance("BNB", "0")  # BNB ran out: the coin bought pays again
    again = await spot.create_order(market("sb-4-e0", OrderSide.BUY, "0.01"))
    assert again.fees == (Fee(D("0.00001"), "BTC"),)


def test_ccxt_parses_the_fakes_trades_with_their_commission(fake: FakeBinance) -> None:
    """The fake's FULL fills and myTrades entries, read by ccxt's own parsers."""
    import ccxt

    fake.set_spot_balance("USDT", "10000")
    exchange: Any = ccxt.binance(
        {
            "apiKey": fake.api_key,
            "secret": fake.secret,
            "urls": {"api": fake.ccxt_urls()},
            "options": {
                "fetchCurrencies": False,
                "fetchMargins": False,
                "fetchMarkets": {"types": ["spot"]},
            },
        }
    )
    order = exchange.create_order("BTC/USDT", "market", "buy", 0.01, None, {"clientOrderId": "x1"})
    assert (order["fee"]["cost"], order["fee"]["currency"]) == (0.00001, "BTC")
    [trade] = exchange.fetch_order_trades(order["id"], "BTC/USDT")
    assert trade["fee"]["cost"] == 0.00001 and trade["fee"]["currency"] == "BTC"
    assert trade["order"] == order["id"] and trade["amount"] == 0.01


# --- the engine: a spot position opened and closed in full ---------------------------------


@pytest.fixture
async def rig(tmp_path: Path, database_url: str, fake: FakeBinance) -> AsyncIterator[Rig]:
    """The engine on SQLite and on PostgreSQL."""
    built = await build_rig(tmp_path, database_url=database_url)
    try:
        yield built
    finally:
        await built.pool.close()
        await built.container.engine.dispose()


async def open_spot(rig: Rig, fake: FakeBinance, **signal: Any) -> tuple[int, PositionMonitor]:
    connection = await rig.connection("ccxt", fake.adapter_config("spot"), fake.adapter_secrets())
    follow = await rig.follow(connection, sizing={"mode": "fixed_quote", "value": "100"})
    signal_id = await rig.signal(**signal)
    await rig.engine.run(await rig.execution(signal_id, follow))
    return signal_id, PositionMonitor(rig.sessions, rig.pool, rig.engine, now=rig.clock)


async def position_of(rig: Rig, signal_id: int) -> m.Position:
    async with rig.sessions() as s:
        position = await s.scalar(select(m.Position).where(m.Position.signal_id == signal_id))
    assert position is not None
    return position


def nothing_left(fake: FakeBinance) -> None:
    assert fake.book.open_orders(False, None) == []
    assert fake.book.spot_free["BTC"] < D("0.00001")  # below one step: unsellable dust only


async def test_the_moved_stop_sells_what_is_held_net_of_the_fee(
    rig: Rig, fake: FakeBinance
) -> None:
    signal_id, monitor = await open_spot(rig, fake, stop_loss=D(48000), take_profits=["60000"])
    opened = await position_of(rig, signal_id)
    [entry] = await rig.orders(leg="e0")
    assert (entry.filled, entry.fee, entry.fee_asset) == (D("0.002"), D("0.000002"), "BTC")
    assert entry.fees == [{"asset": "BTC", "amount": "0.000002"}]
    assert opened.amount == D("0.001998")  # what the account holds: 0.002 minus the fee
    assert (await monitor.run_once()).orders == 0
    precision = await monitor.desk.precision(opened.connection_id, "BTC/USDT")
    assert precision is not None
    moved = Action(ActionKind.MOVE_SL, "provider moves the stop", level=D(49000))
    await monitor.desk.carry_out(opened.id, [moved], source="update", precision=precision)

    fake.set_price("BTCUSDT", "48500")  # through the moved stop (not the first one)
    report = await monitor.run_once()
    assert not report.errors and report.orders == 1, report
    [stop] = await rig.orders(leg="sl")
    assert stop.status == m.OrderStatus.FILLED, stop.error
    assert stop.amount == D("0.00199")  # net, rounded down to the 0.00001 step
    closed = await position_of(rig, signal_id)
    assert closed.status == m.PositionStatus.CLOSED and closed.amount == 0
    # Fees in USDT: the BTC fee at its fill price (0.1) and the sell's 0.096515.
    assert closed.fees == D("0.196515")
    assert closed.realized_pnl == D("-2.985") - D("0.196515")
    nothing_left(fake)
    assert (await monitor.run_once()).orders == 0


async def test_targets_and_a_providers_close_sell_the_net_amount(
    rig: Rig, fake: FakeBinance
) -> None:
    signal_id, monitor = await open_spot(
        rig, fake, stop_loss=D(40000), take_profits=["51000", "52000", "60000"]
    )
    fake.set_price("BTCUSDT", "52000")  # targets 1 and 2 at once
    report = await monitor.run_once()
    assert not report.errors and report.orders == 2, report
    legs = {o.leg: o for o in await rig.orders()}
    assert legs["t1"].status == legs["t2"].status == m.OrderStatus.FILLED
    position = await position_of(rig, signal_id)
    assert position.status == m.PositionStatus.OPEN
    precision = await monitor.desk.precision(position.connection_id, "BTC/USDT")
    assert precision is not None
    close = Action(ActionKind.CLOSE, "provider close", "c7", position.amount)
    carried = await monitor.desk.carry_out(
        position.id, [close], source="update", precision=precision
    )
    assert carried.orders == 1 and carried.complete
    [final] = await rig.orders(leg="c7")
    assert final.status == m.OrderStatus.FILLED, final.error
    assert final.amount + legs["t1"].amount + legs["t2"].amount <= D("0.001998")
    closed = await position_of(rig, signal_id)
    assert closed.status == m.PositionStatus.CLOSED and closed.amount == 0
    nothing_left(fake)


async def test_with_bnb_paying_the_whole_amount_is_sold(rig: Rig, fake: FakeBinance) -> None:
    fake.set_spot_commission(STANDARD, pay_with_bnb=True)
    fake.set_spot_balance("BNB", "1")
    signal_id, monitor = await open_spot(rig, fake, stop_loss=D(48000), take_profits=["60000"])
    [entry] = await rig.orders(leg="e0")
    assert entry.fee_asset == "BNB"
    assert (await position_of(rig, signal_id)).amount == D("0.002")
    fake.set_price("BTCUSDT", "47000")
    assert (await monitor.run_once()).orders == 1
    [stop] = await rig.orders(leg="sl")
    assert (stop.status, stop.amount) == (m.OrderStatus.FILLED, D("0.002"))
    assert (await position_of(rig, signal_id)).status == m.PositionStatus.CLOSED
    assert fake.book.spot_free["BTC"] == 0
