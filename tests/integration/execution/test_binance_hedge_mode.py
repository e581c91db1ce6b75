"""Hedge mode on Binance USDⓈ-M (issue 13, item 1): the account's position mode is read
once per connection, every order carries what that mode needs (one-way: ``reduceOnly`` on
exits and no ``positionSide``; hedge: ``positionSide`` LONG/SHORT on every order, algo
orders too, and never ``reduceOnly``), positions come back per side, and a mode changed
behind our back (-4061) is read again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import ccxt.async_support as ccxt
import pytest
from tests.fakes.binance import FakeBinance, binance_server, fake_binance  # noqa: F401
from tests.integration.execution.binance_rig import D, adapter, market, stop

from signalbridge.venues.base import OrderSide, OrderStatus, PositionSide
from signalbridge.venues.ccxt.adapter import CcxtAdapter

BUY, SELL = OrderSide.BUY, OrderSide.SELL


@pytest.fixture
def fake(fake_binance: FakeBinance) -> FakeBinance:  # noqa: F811
    return fake_binance


@pytest.fixture
async def linear(fake: FakeBinance) -> AsyncIterator[CcxtAdapter]:
    built = adapter(fake)
    yield built
    await built.close()


@pytest.fixture
async def raw(fake: FakeBinance) -> AsyncIterator[Any]:
    """The real ccxt binance on the fake, without SignalBridge in between."""
    ex = ccxt.binance(
        {
            "apiKey": fake.api_key,
            "secret": fake.secret,
            "urls": {"api": fake.ccxt_urls()},
            "enableRateLimit": False,
            "options": {
                "defaultType": "swap",
                "fetchCurrencies": False,
                "fetchMarkets": {"types": ["linear"]},
            },
        }
    )
    ex.timeout_on_exit = 0
    yield ex
    await ex.close()


# -- the fake tells the truth ------------------------------------------------------------------


async def test_the_fake_keeps_binances_position_mode_rules(raw: Any, fake: FakeBinance) -> None:
    await raw.load_markets()
    assert (await raw.fetch_position_mode("BTC/USDT:USDT"))["hedged"] is False
    await raw.set_position_mode(True)
    assert (await raw.fetch_position_mode("BTC/USDT:USDT"))["hedged"] is True
    with pytest.raises(ccxt.OperationRejected, match="-4059"):  # no need to change
        await raw.set_position_mode(True)
    with pytest.raises(ccxt.OperationRejected, match="-4061"):  # positionSide is required
        await raw.create_order("BTC/USDT:USDT", "market", "buy", 0.01)
    with pytest.raises(ccxt.BadRequest, match="-1106"):  # reduceOnly is forbidden
        await raw.create_order(
            "BTC/USDT:USDT", "market", "sell", 0.01, None,
            {"positionSide": "LONG", "reduceOnly": True},
        )  # fmt: skip
    await raw.create_order("BTC/USDT:USDT", "market", "buy", 0.01, None, {"positionSide": "LONG"})
    await raw.create_order("BTC/USDT:USDT", "market", "sell", 0.02, None, {"positionSide": "SHORT"})
    sides = {(p["side"], p["contracts"]) for p in await raw.fetch_positions()}
    assert sides == {("long", 0.01), ("short", 0.02)}
    with pytest.raises(ccxt.OperationRejected, match="-4068"):  # positions exist
        await raw.set_position_mode(False)


# -- the adapter -----------------------------------------------------------------------------


async def test_one_way_exits_are_reduce_only_without_position_side(
    linear: CcxtAdapter, fake: FakeBinance
) -> None:
    await linear.create_order(market("sb-1-e0", BUY, "0.01"))
    await linear.create_order(market("sb-1-sl", SELL, "0.01", exit_=True))
    entry, exit_ = fake.orders(futures=True)
    assert (entry.position_side, entry.reduce_only) == ("BOTH", False)
    assert (exit_.position_side, exit_.reduce_only) == ("BOTH", True)
    assert await linear.fetch_positions() == []


async def test_hedge_mode_orders_carry_position_side_and_never_reduce_only(
    linear: CcxtAdapter, fake: FakeBinance
) -> None:
    fake.account.dual_side = True
    long = await linear.create_order(market("sb-1-e0", BUY, "0.01"))
    short = await linear.create_order(market("sb-2-e0", SELL, "0.02"))
    assert long.status is short.status is OrderStatus.FILLED
    held = {(p.side, p.amount) for p in await linear.fetch_positions()}
    assert held == {(PositionSide.LONG, D("0.01")), (PositionSide.SHORT, D("0.02"))}
    # A stop for the short rests on the Algo Service with the short's side.
    await linear.create_order(stop("sb-2-s1", BUY, "0.02", "52000"))
    closed = await linear.create_order(market("sb-1-sl", SELL, "0.01", exit_=True))
    assert closed.status is OrderStatus.FILLED
    assert [(p.side, p.amount) for p in await linear.fetch_positions()] == [
        (PositionSide.SHORT, D("0.02"))
    ]
    fake.set_price("BTCUSDT", "52100")  # the stop fires and closes the short
    assert await linear.fetch_positions() == []
    sides = [(o.client_order_id, o.side, o.position_side, o.reduce_only) for o in fake.orders()]
    assert sides[:3] == [
        ("sb-1-e0", "BUY", "LONG", False),
        ("sb-2-e0", "SELL", "SHORT", False),
        ("sb-1-sl", "SELL", "LONG", False),
    ]
    assert sides[3][1:] == ("BUY", "SHORT", False)  # the stop's child
    settings = await linear.configure_symbol("BTC/USDT", 2)  # what gets recorded
    assert settings is not None and settings.position_mode == "hedge"
    assert fake.count("/fapi/v1/positionSide/dual", "GET") == 1  # read once per connection


async def test_a_mode_changed_behind_our_back_is_read_again(
    linear: CcxtAdapter, fake: FakeBinance
) -> None:
    await linear.create_order(market("sb-1-e0", BUY, "0.01"))
    await linear.create_order(market("sb-1-sl", SELL, "0.01", exit_=True))
    fake.account.dual_side = True  # the user switches to hedge mode in Binance's app
    placed = await linear.create_order(market("sb-2-e0", SELL, "0.01"))
    assert placed.status is OrderStatus.FILLED
    assert fake.order("sb-2-e0").position_side == "SHORT"
    assert fake.count("/fapi/v1/positionSide/dual", "GET") == 2
