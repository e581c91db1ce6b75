"""The paper venue driven by hand-set prices: fills, fees, futures PnL, rejections."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from signalbridge.integrations.errors import (
    InsufficientFunds,
    InvalidRequest,
    OrderNotFound,
    SymbolNotListed,
)
from signalbridge.venues.base import (
    OrderRequest,
    OrderSide,
    OrderStatus,
    PositionSide,
    TimeInForce,
    VenueOrderType,
)
from signalbridge.venues.paper.exchange import PaperExchange
from signalbridge.venues.paper.rules import VenueRules
from signalbridge.venues.paper.store import MemoryPaperStore

BUY, SELL = OrderSide.BUY, OrderSide.SELL
MARKET, LIMIT = VenueOrderType.MARKET, VenueOrderType.LIMIT
ZERO_FEES = {"maker_fee": D(0), "taker_fee": D(0)}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


async def make(
    futures: bool = False, balances: dict[str, D] | None = None, **rules: D | bool
) -> PaperExchange:
    counter = itertools.count(1)
    ex = PaperExchange(MemoryPaperStore(), clock=Clock(), new_id=lambda: f"o{next(counter)}")
    await ex.on_price("BTC/USDT", D(60000))
    await ex.open_account(
        "acc", VenueRules(futures=futures, **rules), balances or {"USDT": D(10000)}
    )
    return ex


def req(cid: str, side: OrderSide, amount: str, kind: VenueOrderType = MARKET, **kw: object):
    return OrderRequest(cid, "BTC/USDT", side, kind, D(amount), **kw)  # type: ignore[arg-type]


async def test_spot_market_buy_moves_balances_and_charges_taker_fee() -> None:
    ex = await make()
    order = await ex.create_order("acc", req("sb-1-e0", BUY, "0.1"))
    assert order.status is OrderStatus.FILLED
    assert order.average_price == D(60000)
    assert order.fee is not None and order.fee.amount == D(3)  # 6000 × 0.05 %
    balances = await ex.balances("acc")
    assert balances["BTC"].free == D("0.1")
    assert balances["USDT"].free == D(10000) - D(6000) - D(3)
    assert balances["USDT"].used == 0


async def test_limit_buy_rests_then_fills_as_maker_when_price_crosses() -> None:
    ex = await make()
    order = await ex.create_order("acc", req("sb-1-e0", BUY, "0.1", LIMIT, price=D(59000)))
    assert order.status is OrderStatus.OPEN
    usdt = (await ex.balances("acc"))["USDT"]
    assert usdt.used > D(5900)  # reserved with the worst fee
    assert await ex.on_price("BTC/USDT", D(59500)) == 0
    assert await ex.on_price("BTC/USDT", D(58900)) == 1
    done = await ex.fetch_order("acc", "sb-1-e0")
    assert done.status is OrderStatus.FILLED and done.average_price == D(59000)
    assert done.fee is not None and done.fee.amount == D("1.18")  # 5900 × 0.02 %
    usdt = (await ex.balances("acc"))["USDT"]
    assert usdt.used == 0 and usdt.free == D(10000) - D(5900) - D("1.18")


async def test_marketable_limit_fills_immediately_at_the_better_price() -> None:
    ex = await make()
    order = await ex.create_order("acc", req("sb-1-e0", BUY, "0.1", LIMIT, price=D(61000)))
    assert order.status is OrderStatus.FILLED and order.average_price == D(60000)


async def test_partial_fills_per_tick() -> None:
    ex = await make(max_fill_fraction=D("0.25"), **ZERO_FEES)
    order = await ex.create_order("acc", req("sb-1-e0", BUY, "0.12", LIMIT, price=D(59000)))
    assert order.status is OrderStatus.OPEN
    await ex.on_price("BTC/USDT", D(58000))
    first = await ex.fetch_order("acc", "sb-1-e0")
    assert first.status is OrderStatus.PARTIALLY_FILLED and first.filled == D("0.03")
    for _ in range(3):
        await ex.on_price("BTC/USDT", D(58000))
    final = await ex.fetch_order("acc", "sb-1-e0")
    assert final.status is OrderStatus.FILLED and final.filled == D("0.12")
    balances = await ex.balances("acc")
    assert balances["BTC"].free == D("0.12")
    assert balances["USDT"].free == D(10000) - D("0.12") * 59000
    assert balances["USDT"].used == 0


async def test_partial_market_fill_and_cancel_releases_the_rest() -> None:
    ex = await make(max_fill_amount=D("0.05"), **ZERO_FEES)
    order = await ex.create_order("acc", req("sb-1-e0", BUY, "0.1"))
    assert order.status is OrderStatus.PARTIALLY_FILLED and order.filled == D("0.05")
    canceled = await ex.cancel_order("acc", "sb-1-e0")
    assert canceled.status is OrderStatus.CANCELED and canceled.filled == D("0.05")
    usdt = (await ex.balances("acc"))["USDT"]
    assert usdt.used == 0 and usdt.free == D(10000) - D(3000)
    assert await ex.open_orders("acc", None) == []
    with pytest.raises(InvalidRequest):
        await ex.cancel_order("acc", "sb-1-e0")


async def test_stop_market_triggers_when_crossed() -> None:
    ex = await make()
    await ex.create_order("acc", req("sb-1-e0", BUY, "0.1"))
    stop = req("sb-1-sl", SELL, "0.1", VenueOrderType.STOP_MARKET, stop_price=D(59000))
    assert (await ex.create_order("acc", stop)).status is OrderStatus.OPEN
    assert (await ex.balances("acc"))["BTC"].used == D("0.1")
    await ex.on_price("BTC/USDT", D(59500))
    assert (await ex.fetch_order("acc", "sb-1-sl")).status is OrderStatus.OPEN
    await ex.on_price("BTC/USDT", D(58800))
    done = await ex.fetch_order("acc", "sb-1-sl")
    assert done.status is OrderStatus.FILLED and done.average_price == D(58800)
    assert (await ex.balances("acc"))["BTC"].total == 0


async def test_stop_that_would_trigger_immediately_is_refused() -> None:
    ex = await make()
    with pytest.raises(InvalidRequest, match="trigger immediately"):
        await ex.create_order(
            "acc", req("sb-1-sl", SELL, "0.1", VenueOrderType.STOP_MARKET, stop_price=D(61000))
        )


async def test_take_profit_limit_triggers_then_fills_at_its_limit() -> None:
    ex = await make(futures=True, **ZERO_FEES)
    await ex.create_order("acc", req("sb-1-e0", BUY, "0.1"))
    tp = req(
        "sb-1-tp1",
        SELL,
        "0.1",
        VenueOrderType.TAKE_PROFIT_LIMIT,
        price=D(61000),
        stop_price=D(61000),
        reduce_only=True,
    )
    await ex.create_order("acc", tp)
    await ex.on_price("BTC/USDT", D(61200))
    done = await ex.fetch_order("acc", "sb-1-tp1")
    assert done.status is OrderStatus.FILLED and done.average_price == D(61000)
    assert await ex.positions("acc") == []
    assert (await ex.balances("acc"))["USDT"].total == D(10100)


async def test_futures_long_with_leverage_then_close_realises_pnl() -> None:
    ex = await make(futures=True)
    await ex.set_leverage("acc", "BTC/USDT", 10)
    await ex.create_order("acc", req("sb-1-e0", BUY, "1"))
    usdt = (await ex.balances("acc"))["USDT"]
    assert usdt.used == D(6000)  # margin 60000 / 10
    assert usdt.free == D(10000) - D(6000) - D(30)
    [position] = await ex.positions("acc")
    assert position.side is PositionSide.LONG and position.leverage == 10
    assert position.entry_price == D(60000) and position.amount == 1
    await ex.on_price("BTC/USDT", D(61000))
    [position] = await ex.positions("acc")
    assert position.unrealised_pnl == D(1000)
    assert position.liquidation_price is not None and position.liquidation_price < 60000
    close = await ex.create_order("acc", req("sb-1-x", SELL, "1", reduce_only=True))
    assert close.status is OrderStatus.FILLED
    assert await ex.positions("acc") == []
    usdt = (await ex.balances("acc"))["USDT"]
    assert usdt.used == 0
    assert usdt.free == D(10000) + D(1000) - D(30) - D("30.5")


async def test_futures_short_average_entry_and_partial_close() -> None:
    ex = await make(futures=True, **ZERO_FEES)
    await ex.create_order("acc", req("sb-1-e0", SELL, "0.1", leverage=5))
    await ex.on_price("BTC/USDT", D(62000))
    await ex.create_order("acc", req("sb-1-e1", SELL, "0.1", leverage=5))
    [position] = await ex.positions("acc")
    assert position.side is PositionSide.SHORT and position.entry_price == D(61000)
    await ex.on_price("BTC/USDT", D(60000))
    await ex.create_order("acc", req("sb-1-tp1", BUY, "0.1", reduce_only=True))
    [position] = await ex.positions("acc")
    assert position.amount == D("0.1")
    usdt = (await ex.balances("acc"))["USDT"]
    assert usdt.total == D(10000) + D(100)  # (61000 - 60000) × 0.1 realised
    assert usdt.used == D("1220")  # remaining margin 0.1 × 61000 / 5


async def test_reduce_only_rules() -> None:
    ex = await make(futures=True)
    with pytest.raises(InvalidRequest, match="reduce"):
        await ex.create_order("acc", req("sb-1-x", SELL, "0.1", reduce_only=True))
    await ex.create_order("acc", req("sb-1-e0", BUY, "0.1"))
    with pytest.raises(InvalidRequest, match="reduce"):
        await ex.create_order("acc", req("sb-1-y", BUY, "0.1", reduce_only=True))
    big = await ex.create_order("acc", req("sb-1-z", SELL, "0.5", reduce_only=True))
    assert big.filled == D("0.1")  # clamped to the position; never flips it
    assert await ex.positions("acc") == []
    spot = await make()
    with pytest.raises(InvalidRequest, match="futures"):
        await spot.create_order("acc", req("sb-2-x", SELL, "0.1", reduce_only=True))


async def test_resting_reduce_only_is_canceled_when_position_is_gone() -> None:
    ex = await make(futures=True)
    await ex.create_order("acc", req("sb-1-e0", BUY, "0.1"))
    await ex.create_order(
        "acc", req("sb-1-tp", SELL, "0.1", LIMIT, price=D(65000), reduce_only=True)
    )
    await ex.create_order("acc", req("sb-1-x", SELL, "0.1", reduce_only=True))
    await ex.on_price("BTC/USDT", D(66000))
    assert (await ex.fetch_order("acc", "sb-1-tp")).status is OrderStatus.CANCELED


async def test_rejections() -> None:
    ex = await make(balances={"USDT": D(100)})
    with pytest.raises(InsufficientFunds):
        await ex.create_order("acc", req("sb-1-a", BUY, "0.1"))
    with pytest.raises(InsufficientFunds):
        await ex.create_order("acc", req("sb-1-b", SELL, "0.001"))
    with pytest.raises(InvalidRequest, match="step"):
        await ex.create_order("acc", req("sb-1-c", BUY, "0.000001"))
    with pytest.raises(InvalidRequest, match="minimum"):
        await ex.create_order("acc", req("sb-1-d", BUY, "0.00005"))  # 3 USDT < 5
    with pytest.raises(InvalidRequest, match="tick"):
        await ex.create_order("acc", req("sb-1-e", BUY, "0.001", LIMIT, price=D("59000.001")))
    with pytest.raises(SymbolNotListed):
        await ex.create_order("acc", OrderRequest("sb-1-f", "NOPE/USDT", BUY, MARKET, D(1)))
    with pytest.raises(InvalidRequest, match="leverage"):
        await ex.set_leverage("acc", "BTC/USDT", 500)
    assert (await ex.balances("acc"))["USDT"].free == D(100)  # nothing changed
    assert await ex.open_orders("acc", None) == []


async def test_duplicate_client_id_places_nothing_and_lookup_works_forever() -> None:
    ex = await make()
    first = await ex.create_order("acc", req("sb-7-e0", BUY, "0.01"))
    before = await ex.balances("acc")
    with pytest.raises(InvalidRequest, match="duplicate client order id"):
        await ex.create_order("acc", req("sb-7-e0", BUY, "0.01"))
    assert await ex.balances("acc") == before
    again = await ex.fetch_order("acc", "sb-7-e0")
    assert again.venue_order_id == first.venue_order_id
    with pytest.raises(OrderNotFound):
        await ex.fetch_order("acc", "sb-8-e0")


async def test_fill_or_kill_and_ioc() -> None:
    ex = await make(max_fill_fraction=D("0.5"))
    fok = await ex.create_order("acc", req("sb-1-a", BUY, "0.1", time_in_force=TimeInForce.FOK))
    assert fok.status is OrderStatus.EXPIRED and fok.filled == 0
    ioc = await ex.create_order("acc", req("sb-1-b", BUY, "0.1", time_in_force=TimeInForce.IOC))
    assert ioc.status is OrderStatus.CANCELED and ioc.filled == D("0.05")
    assert (await ex.balances("acc"))["USDT"].used == 0


async def test_slippage_and_spread_make_market_orders_pay_more() -> None:
    ex = await make(slippage=D("0.001"), spread=D("0.0002"), **ZERO_FEES)
    order = await ex.create_order("acc", req("sb-1-a", BUY, "0.1"))
    assert order.average_price == D("60066.01")  # ask 60006 × 1.001 = 60066.006, on the tick


async def test_forex_lots_use_contract_size() -> None:
    ex = await make(balances={"USD": D(10000)}, **ZERO_FEES)
    await ex.on_price("EURUSD", D("1.08000"))
    await ex.set_leverage("acc", "EURUSD", 100)
    await ex.create_order("acc", OrderRequest("sb-1-e0", "EURUSD", BUY, MARKET, D("0.1")))
    assert (await ex.balances("acc"))["USD"].used == D(108)  # 10,800 notional / 100
    await ex.on_price("EURUSD", D("1.08100"))
    [position] = await ex.positions("acc")
    assert position.unrealised_pnl == D(10)  # 10 pips × 1 USD per 0.1 lot pip


async def test_orders_on_other_symbols_are_not_matched() -> None:
    ex = await make()
    await ex.on_price("ETH/USDT", D(3000))
    await ex.create_order(
        "acc", OrderRequest("sb-1-e0", "ETH/USDT", BUY, LIMIT, D(1), price=D(2900))
    )
    assert await ex.on_price("BTC/USDT", D(1000)) == 0
    assert len(await ex.open_orders("acc", "ETH/USDT")) == 1
    assert await ex.open_orders("acc", "BTC/USDT") == []
