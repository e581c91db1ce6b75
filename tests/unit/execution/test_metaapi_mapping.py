"""MetaApi clientId codec, JSON encoding and spec → Market conversion (pure functions)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from signalbridge.integrations.errors import TransientError
from signalbridge.venues.base import OrderSide, OrderStatus, VenueOrderType, client_order_id
from signalbridge.venues.metaapi import convert
from signalbridge.venues.metaapi.client import encode_json
from signalbridge.venues.metaapi.client_ids import (
    MAX_CLIENT_ID_LEN,
    from_venue_client_id,
    to_venue_client_id,
)
from signalbridge.venues.metaapi.config import MetaApiConfig

NOW = datetime(2026, 1, 5, tzinfo=UTC)
_VENUE_ID = r"^[A-Za-z0-9]+_[A-Za-z0-9]+_[A-Za-z0-9]+$"


def test_simple_ids_map_both_ways() -> None:
    assert to_venue_client_id("sb-42-e0") == "sb_42_e0"
    assert from_venue_client_id("sb_42_e0") == "sb-42-e0"


def test_foreign_or_empty_venue_ids_do_not_decode() -> None:
    assert from_venue_client_id(None) is None
    assert from_venue_client_id("") is None
    assert from_venue_client_id("manual") is None
    assert from_venue_client_id(to_venue_client_id("sb-42-tp_1")) is None


@given(st.text(min_size=1, max_size=80))
def test_any_id_maps_to_a_valid_deterministic_client_id(coid: str) -> None:
    venue = to_venue_client_id(coid)
    assert venue == to_venue_client_id(coid)
    assert len(venue) <= MAX_CLIENT_ID_LEN
    assert re.match(_VENUE_ID, venue)
    decoded = from_venue_client_id(venue)
    assert decoded is None or decoded == coid


@given(
    st.one_of(st.integers(min_value=1, max_value=10**30), st.text(min_size=1, max_size=40)),
    st.sampled_from(["e0", "e1", "tp1", "tp_2", "sl", "close"]),
)
def test_engine_ids_round_trip_or_hash_distinctly(execution_id: object, leg: str) -> None:
    coid = client_order_id(str(execution_id), leg, max_len=MAX_CLIENT_ID_LEN)
    venue = to_venue_client_id(coid)
    assert len(venue) <= MAX_CLIENT_ID_LEN
    decoded = from_venue_client_id(venue)
    if all(part.isalnum() and part.isascii() for part in coid.split("-")):
        assert decoded == coid
    else:
        assert decoded is None


def test_distinct_ids_get_distinct_client_ids() -> None:
    ids = {to_venue_client_id(client_order_id(i, "tp_1")) for i in range(2000)}
    assert len(ids) == 2000


def test_encode_json_keeps_decimals_exact() -> None:
    text = encode_json({"volume": Decimal("0.10"), "price": Decimal("1.084625"), "n": [1, None]})
    assert text == '{"volume":0.10,"price":1.084625,"n":[1,null]}'
    assert json.loads(text, parse_float=Decimal)["price"] == Decimal("1.084625")
    with pytest.raises(ValueError, match="non-finite"):
        encode_json(Decimal("NaN"))


SPEC = {
    "symbol": "XAUUSD.r",
    "tickSize": Decimal("0.01"),
    "minVolume": Decimal("0.01"),
    "maxVolume": Decimal("50"),
    "volumeStep": Decimal("0.01"),
    "contractSize": 100,
    "digits": 2,
    "baseCurrency": "XAU",
    "profitCurrency": "USD",
    "tradeMode": "SYMBOL_TRADE_MODE_FULL",
}


def test_market_from_spec() -> None:
    price = {"bid": Decimal("2350.10"), "ask": Decimal("2350.40"), "lossTickValue": Decimal(1)}
    market = convert.market_from_spec("XAUUSD", SPEC, price, "USD")
    assert market.symbol == "XAUUSD" and market.venue_symbol == "XAUUSD.r"
    assert market.price_tick == Decimal("0.01")
    assert market.amount_step == Decimal("0.01") and market.min_amount == Decimal("0.01")
    assert market.max_amount == Decimal(50) and market.contract_size == Decimal(100)
    assert market.tick_value == Decimal(1) and market.active
    assert (market.base, market.quote) == ("XAU", "USD")


def test_market_tick_from_digits_and_disabled_trading() -> None:
    spec = {**SPEC, "tickSize": 0, "digits": 5, "tradeMode": "SYMBOL_TRADE_MODE_DISABLED"}
    spec.pop("baseCurrency")
    market = convert.market_from_spec("EURUSD", spec, None, "USD")
    assert market.price_tick == Decimal("0.00001")
    assert market.tick_value is None and not market.active
    assert (market.base, market.quote) == ("EUR", "USD")


def test_market_without_any_tick_is_transient() -> None:
    with pytest.raises(TransientError):
        convert.market_from_spec("X", {**SPEC, "tickSize": None, "digits": None}, None, "USD")


def test_history_order_with_deals() -> None:
    order = {
        "id": "7",
        "type": "ORDER_TYPE_SELL_STOP",
        "state": "ORDER_STATE_FILLED",
        "symbol": "EURUSDm",
        "volume": Decimal("0.30"),
        "currentVolume": 0,
        "openPrice": Decimal("1.08000"),
        "time": "2026-01-05T10:00:00.000Z",
        "doneTime": "2026-01-05T10:05:00.000Z",
    }
    deals = [
        {"orderId": "7", "volume": Decimal("0.10"), "price": Decimal("1.07990")},
        {"orderId": "7", "volume": Decimal("0.20"), "price": Decimal("1.07980")},
        {"orderId": "8", "volume": Decimal("1"), "price": Decimal("2")},
    ]
    vo = convert.venue_order_from_order(
        order, canonical="EURUSD", client_order_id="sb-1-e0", deals=deals, now=NOW
    )
    assert (vo.side, vo.type, vo.status) == (
        OrderSide.SELL,
        VenueOrderType.STOP_MARKET,
        OrderStatus.FILLED,
    )
    assert vo.filled == Decimal("0.30") and vo.stop_price == Decimal("1.08000")
    assert vo.average_price is not None and abs(vo.average_price - Decimal("1.079833")) < Decimal(
        "0.000001"
    )
    assert vo.updated_at == datetime(2026, 1, 5, 10, 5, tzinfo=UTC)


def test_open_order_partially_filled() -> None:
    order = {
        "id": "9",
        "type": "ORDER_TYPE_BUY_LIMIT",
        "state": "ORDER_STATE_PLACED",
        "volume": Decimal(1),
        "currentVolume": Decimal("0.4"),
        "openPrice": Decimal("1.1"),
    }
    vo = convert.venue_order_from_order(order, canonical="EURUSD", client_order_id=None, now=NOW)
    assert vo.status is OrderStatus.PARTIALLY_FILLED and vo.filled == Decimal("0.6")
    assert vo.price == Decimal("1.1") and vo.created_at == NOW


def test_config_region_and_secret() -> None:
    cfg = MetaApiConfig(account_id="a", token=SecretStr("tok-123456789"), region="london")
    assert cfg.region == "london" and cfg.base_url is None  # the host is looked up, not guessed
    assert "tok-123456789" not in repr(cfg)
    explicit = MetaApiConfig(account_id="a", token=SecretStr("t"), base_url="http://127.0.0.1:1")
    assert explicit.base_url == "http://127.0.0.1:1"
