"""MARKET_LOT_SIZE (issue 13, item 5): Binance caps the quantity of one MARKET order well
below LOT_SIZE's maxQty (-4005 on futures, -1013 on spot). The adapter splits a larger
market order into near-equal parts under the cap, each with its own deterministic client
id (``<id>``, ``<id>_1``, ...), reports them as one order and finds them again by the
first part's id; the split is recorded in the order's raw answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import ccxt.async_support as ccxt
import pytest
from tests.fakes.binance import FakeBinance, binance_server, fake_binance  # noqa: F401
from tests.integration.execution.binance_rig import D, adapter, market

from signalbridge.integrations import errors as sb
from signalbridge.venues.base import Fee, OrderSide, OrderStatus, part_client_order_id
from signalbridge.venues.ccxt.adapter import CcxtAdapter

BUY, SELL = OrderSide.BUY, OrderSide.SELL


@pytest.fixture
def fake(fake_binance: FakeBinance) -> FakeBinance:  # noqa: F811
    fake_binance.set_futures_wallet("2000000")
    return fake_binance


@pytest.fixture
async def linear(fake: FakeBinance) -> AsyncIterator[CcxtAdapter]:
    built = adapter(fake)
    yield built
    await built.close()


async def test_the_fake_caps_market_orders_and_ccxt_reads_the_cap(fake: FakeBinance) -> None:
    ex: Any = ccxt.binance(
        {
            "apiKey": fake.api_key,
            "secret": fake.secret,
            "urls": {"api": fake.ccxt_urls()},
            "options": {
                "defaultType": "swap",
                "fetchCurrencies": False,
                "fetchMarkets": {"types": ["linear"]},
            },
        }
    )
    ex.timeout_on_exit = 0
    try:
        markets = await ex.load_markets()
        btc = markets["BTC/USDT:USDT"]
        assert btc["limits"]["market"]["max"] == 120 and btc["limits"]["amount"]["max"] == 1000
        with pytest.raises(ccxt.BadRequest, match="-4005"):
            await ex.create_order("BTC/USDT:USDT", "market", "buy", 121)
        await ex.create_order("BTC/USDT:USDT", "limit", "buy", 121, 40000)  # limits: LOT_SIZE
    finally:
        await ex.close()


def test_part_ids_are_deterministic_and_distinct() -> None:
    assert part_client_order_id("sb-42-e0", 0) == "sb-42-e0"
    parts = [part_client_order_id("sb-42-e0", k) for k in range(1, 4)]
    assert parts == ["sb-42-e0_1", "sb-42-e0_2", "sb-42-e0_3"]
    long_leg = part_client_order_id("sb-42-c12345678", 2)
    assert long_leg == part_client_order_id("sb-42-c12345678", 2) and len(long_leg) <= 36
    hashed = "sb-h0123456789abcdef0123456789-e0"
    assert len(part_client_order_id(hashed, 7)) <= 36


async def test_a_large_market_order_is_split_under_the_cap(
    linear: CcxtAdapter, fake: FakeBinance
) -> None:
    placed = await linear.create_order(market("sb-1-e0", BUY, "250"))
    assert (placed.client_order_id, placed.status) == ("sb-1-e0", OrderStatus.FILLED)
    assert (placed.amount, placed.filled, placed.average_price) == (D(250), D(250), D(50000))
    sent = [(o.client_order_id, o.qty) for o in fake.orders(futures=True)]
    assert sent == [
        ("sb-1-e0", D("83.333")),
        ("sb-1-e0_1", D("83.333")),
        ("sb-1-e0_2", D("83.334")),
    ]
    assert "MARKET_LOT_SIZE" in placed.raw["split"]["reason"]
    found = await linear.fetch_order("BTC/USDT", "sb-1-e0")
    assert (found.amount, found.filled, found.status) == (D(250), D(250), OrderStatus.FILLED)
    # Every part's commission, also when found by lookup: 250 × 50,000 × 0.05 % (taker).
    assert placed.fees == found.fees == (Fee(D(6250), "USDT"),)
    [position] = await linear.fetch_positions()
    assert position.amount == D(250)
    # The exit of the whole position is split the same way.
    closed = await linear.create_order(market("sb-1-sl", SELL, "250", exit_=True))
    assert closed.filled == D(250) and await linear.fetch_positions() == []


async def test_an_order_under_the_cap_is_one_order(linear: CcxtAdapter, fake: FakeBinance) -> None:
    await linear.create_order(market("sb-2-e0", BUY, "120"))
    assert [o.client_order_id for o in fake.orders()] == ["sb-2-e0"]
    found = await linear.fetch_order("BTC/USDT", "sb-2-e0")
    assert found.filled == D(120)


async def test_a_lost_answer_mid_split_is_found_whole(
    linear: CcxtAdapter, fake: FakeBinance
) -> None:
    await linear.load_markets()
    fake.accept_then_drop(1, kind="reset")  # the first part executes, its answer is lost
    with pytest.raises(sb.AmbiguousOutcome):
        await linear.create_order(market("sb-3-e0", BUY, "200"))
    found = await linear.fetch_order("BTC/USDT", "sb-3-e0")
    assert (found.filled, found.status) == (D(100), OrderStatus.FILLED)  # only what exists
    assert [o.client_order_id for o in fake.orders()] == ["sb-3-e0"]


async def test_spot_market_orders_are_split_too(fake: FakeBinance) -> None:
    fake.set_market_lot("ETHUSDT", "1")
    spot = adapter(fake, "spot")
    try:
        placed = await spot.create_order(market("sb-4-e0", BUY, "2.5", symbol="ETH/USDT"))
        assert placed.filled == D("2.5")
        assert [o.qty for o in fake.orders()] == [D("0.8333"), D("0.8333"), D("0.8334")]
    finally:
        await spot.close()
