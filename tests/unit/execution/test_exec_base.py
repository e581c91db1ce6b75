"""The protocol's own rules: client order ids, request validation, capabilities."""

from __future__ import annotations

import re
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signalbridge.venues.base import (
    AdapterDeps,
    ExchangeAdapter,
    OrderRequest,
    OrderSide,
    OrderStatus,
    VenueOrderType,
    client_order_id,
    is_ours,
    parse_client_order_id,
)
from signalbridge.venues.paper.adapter import PaperAdapter

BINANCE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")


def test_client_order_id_is_short_and_deterministic() -> None:
    assert client_order_id(42, "e0") == "sb-42-e0"
    assert client_order_id("42", "e0") == client_order_id(42, "e0")
    assert parse_client_order_id("sb-42-tp1") == ("42", "tp1")
    assert is_ours("sb-42-e0") and not is_ours("web_123") and not is_ours(None)
    assert not is_ours("sb-42-e0", prefix="xx") and is_ours(client_order_id(1, "e0", "xx"), "xx")


@given(
    execution_id=st.one_of(st.integers(min_value=0, max_value=10**30), st.text(min_size=1)),
    leg=st.from_regex(r"[A-Za-z0-9_]{1,10}", fullmatch=True),
    max_len=st.integers(min_value=26, max_value=36),
)
def test_any_id_fits_binance_and_is_recognised(
    execution_id: int | str, leg: str, max_len: int
) -> None:
    value = client_order_id(execution_id, leg, max_len=max_len)
    assert BINANCE.match(value) and len(value) <= max_len
    assert value == client_order_id(execution_id, leg, max_len=max_len)
    assert is_ours(value) and parse_client_order_id(value) is not None
    assert parse_client_order_id(value)[1] == leg  # type: ignore[index]


def test_distinct_long_ids_stay_distinct() -> None:
    ids = {client_order_id(f"execution-{n:040d}", "e0") for n in range(2000)}
    assert len(ids) == 2000


def test_bad_legs_and_prefixes_are_refused() -> None:
    with pytest.raises(ValueError):
        client_order_id(1, "tp-1")
    with pytest.raises(ValueError):
        client_order_id(1, "e0", prefix="s-b")
    with pytest.raises(ValueError):
        client_order_id("x" * 20, "e0", max_len=10)


def test_order_request_validation() -> None:
    with pytest.raises(ValueError):
        OrderRequest("sb-1-e0", "BTC/USDT", OrderSide.BUY, VenueOrderType.LIMIT, D(1))
    with pytest.raises(ValueError):
        OrderRequest("sb-1-e0", "BTC/USDT", OrderSide.BUY, VenueOrderType.STOP_MARKET, D(1))
    with pytest.raises(ValueError):
        OrderRequest("sb-1-e0", "BTC/USDT", OrderSide.BUY, VenueOrderType.MARKET, D(0))
    assert OrderSide.BUY.opposite is OrderSide.SELL
    assert OrderStatus.CANCELED.is_final and not OrderStatus.PARTIALLY_FILLED.is_final


def test_paper_adapter_satisfies_the_protocol() -> None:
    adapter = PaperAdapter.from_config("c1", {}, {}, deps=AdapterDeps())
    assert isinstance(adapter, ExchangeAdapter)
    assert not hasattr(adapter, "withdraw") and not hasattr(adapter, "transfer")


@pytest.mark.parametrize("ident", ["12\n", "12\r\n", "a\n"])
def test_a_trailing_newline_is_not_alphanumeric(ident: str) -> None:
    """``$`` matches before a final newline; the id rules use fullmatch, so it is hashed."""
    coid = client_order_id(ident, "e0")
    assert "\n" not in coid and "\r" not in coid
    assert parse_client_order_id(coid) is None or parse_client_order_id(coid) != (ident, "e0")
