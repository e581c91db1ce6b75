"""Splitting a market order under the venue's MARKET_LOT_SIZE cap: pure rules."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from signalbridge.venues.base import (
    Fee,
    OrderRequest,
    OrderSide,
    OrderStatus,
    VenueOrder,
    VenueOrderType,
)
from signalbridge.venues.ccxt.market_lots import (
    combine,
    market_cap,
    may_be_split,
    parts_of,
    split_amount,
)

D = Decimal
AT = datetime(2026, 1, 1, tzinfo=UTC)


@given(
    cap_units=st.integers(min_value=1, max_value=10**5),
    times=st.integers(min_value=0, max_value=40),
    extra=st.integers(min_value=1, max_value=10**5),
    exponent=st.integers(min_value=-8, max_value=0),
)
def test_parts_add_up_stay_under_the_cap_and_differ_by_one_step(
    cap_units: int, times: int, extra: int, exponent: int
) -> None:
    units = cap_units * times + min(extra, cap_units)  # up to 41 parts
    step = D(1).scaleb(exponent)
    amount, cap = units * step, cap_units * step
    parts = split_amount(amount, cap, step)
    assert sum(parts) == amount
    assert all(p <= cap and p > 0 and p % step == 0 for p in parts)
    assert max(parts) - min(parts) <= step
    assert len(parts) == -(-units // cap_units)
    assert parts == sorted(parts)


def test_the_edge_that_a_naive_split_gets_wrong() -> None:
    parts = split_amount(D("359.999"), D(120), D("0.001"))
    assert parts == [D("119.999"), D(120), D(120)]


def test_only_market_orders_above_the_cap_are_split() -> None:
    req = OrderRequest("sb-1-e0", "BTC/USDT", OrderSide.BUY, VenueOrderType.MARKET, D(250))
    assert parts_of(req, None, D("0.001")) == [req]
    assert parts_of(req, D(250), D("0.001")) == [req]
    limit = OrderRequest(
        "sb-1-e1", "BTC/USDT", OrderSide.BUY, VenueOrderType.LIMIT, D(250), price=D(1)
    )
    assert parts_of(limit, D(120), D("0.001")) == [limit]
    parts = parts_of(req, D(120), D("0.001"))
    assert [(p.client_order_id, p.amount) for p in parts] == [
        ("sb-1-e0", D("83.333")),
        ("sb-1-e0_1", D("83.333")),
        ("sb-1-e0_2", D("83.334")),
    ]


def test_the_cap_comes_from_ccxts_market_limits() -> None:
    assert market_cap({"limits": {"market": {"min": 0.001, "max": 120.0}}}) == D(120)
    assert market_cap({"limits": {"market": {"min": None, "max": None}}}) is None
    assert market_cap({"limits": {"market": {"max": 0}}}) is None
    assert market_cap({}) is None


def _part(cid: str, amount: str, price: str, fee: Fee | None) -> VenueOrder:
    return VenueOrder(
        cid, cid + "v", "BTC/USDT", OrderSide.BUY, VenueOrderType.MARKET, OrderStatus.FILLED,
        D(amount), D(amount), D(price), fee, AT, AT, fees=(fee,) if fee else (),
    )  # fmt: skip


def test_parts_combine_into_one_order() -> None:
    one = _part("sb-1-e0", "1", "100", Fee(D("0.001"), "BTC"))
    two = _part("sb-1-e0_1", "3", "104", Fee(D("0.003"), "BTC"))
    whole = combine([one, two], "sb-1-e0", D(3))
    assert (whole.client_order_id, whole.amount, whole.filled) == ("sb-1-e0", D(4), D(4))
    assert whole.average_price == D(103) and whole.status is OrderStatus.FILLED
    assert whole.fee == Fee(D("0.004"), "BTC") and whole.fees == (Fee(D("0.004"), "BTC"),)
    assert [p["client_order_id"] for p in whole.raw["split"]["parts"]] == ["sb-1-e0", "sb-1-e0_1"]
    assert combine([one], "sb-1-e0", D(3)) is one
    assert may_be_split(two, D(3)) and not may_be_split(one, D(3)) and not may_be_split(two, None)
