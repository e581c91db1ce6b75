"""A COIN-M (inverse) ccxt connection: accepted on Binance only, built with ccxt's inverse
sub-type, its markets chosen and read as inverse, its requests budgeted on ``/dapi``."""

from __future__ import annotations

from decimal import Decimal

import pytest
from ccxt.base.decimal_to_precision import TICK_SIZE
from pydantic import ValidationError

from signalbridge.venues.base import MarketKind
from signalbridge.venues.ccxt.binance_weights import budget_of, request_weight
from signalbridge.venues.ccxt.config import CcxtConfig, build_exchange, capabilities_of, is_wanted
from signalbridge.venues.ccxt.exchanges import quirks_for
from signalbridge.venues.ccxt.markets import market_from_ccxt

#: ccxt's BTCUSD_PERP market, as it parses Binance's /dapi/v1/exchangeInfo.
PERP = {
    "symbol": "BTC/USD:BTC",
    "base": "BTC",
    "quote": "USD",
    "swap": True,
    "linear": False,
    "inverse": True,
    "contractSize": 100.0,
    "precision": {"amount": 1.0, "price": 0.1},
    "limits": {"amount": {"min": 1.0, "max": 1000000.0}, "cost": {"min": None}},
}
LINEAR = {**PERP, "symbol": "BTC/USDT:USDT", "linear": True, "inverse": False}


def test_inverse_is_accepted_on_binance_and_refused_elsewhere() -> None:
    assert CcxtConfig(exchange="binance", market_type="inverse").market_type == "inverse"
    for other in ("bybit", "okx", "kraken"):
        with pytest.raises(ValidationError, match="inverse"):
            CcxtConfig(exchange=other, market_type="inverse")
    with pytest.raises(ValidationError):
        CcxtConfig(exchange="binance", market_type="delivery")


def test_ccxt_is_built_for_coin_m_only() -> None:
    config = CcxtConfig(exchange="binance", market_type="inverse")
    quirks = quirks_for("binance", "inverse")
    exchange = build_exchange(config, {}, quirks)
    options = exchange.options
    assert (options["defaultType"], options["defaultSubType"]) == ("swap", "inverse")
    assert options["fetchMarkets"]["types"] == ["inverse"]  # /dapi/v1/exchangeInfo only
    assert quirks.resting_types == frozenset()  # the monitor enforces stops and targets
    caps = capabilities_of(MarketKind.LINEAR, resting=False)
    assert caps.reduce_only and caps.leverage and caps.max_client_order_id_len == 36


def test_markets_are_chosen_and_read_as_inverse() -> None:
    assert is_wanted(PERP, MarketKind.LINEAR, inverse=True)
    assert not is_wanted(LINEAR, MarketKind.LINEAR, inverse=True)
    assert not is_wanted(PERP, MarketKind.LINEAR)
    market = market_from_ccxt(PERP, "BTC/USD", MarketKind.LINEAR, TICK_SIZE)
    assert market is not None and market.inverse and market.contract_size == 100
    assert market.margin_asset == "BTC"
    linear = market_from_ccxt(LINEAR, "BTC/USDT", MarketKind.LINEAR, TICK_SIZE)
    assert linear is not None and not linear.inverse


def test_coin_m_requests_have_their_own_budget() -> None:
    assert budget_of("/dapi/v1/order") == "binance:dapi"
    assert request_weight("GET", "/dapi/v1/positionSide/dual", {}) == 30
    assert request_weight("GET", "/dapi/v1/openOrders", {}) == 40
    assert request_weight("GET", "/dapi/v1/openOrders", {"symbol": "BTCUSD_PERP"}) == 1
    assert request_weight("POST", "/dapi/v1/order", {"quantity": Decimal(1)}) == 0
