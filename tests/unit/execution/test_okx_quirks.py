"""OKX's quirks as pure functions: client order ids in OKX's alphabet, the position an order
names in long/short mode, and the key's permissions from ``account/config``."""

from __future__ import annotations

import re
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from signalbridge.venues.base import (
    OrderRequest,
    OrderRole,
    OrderSide,
    VenueOrderType,
    client_order_id,
    part_client_order_id,
)
from signalbridge.venues.ccxt.exchanges import quirks_for
from signalbridge.venues.ccxt.okx import (
    Okx,
    key_rights,
    our_client_id,
    position_side,
    venue_client_id,
)

OKX_CLORDID = re.compile(r"[A-Za-z0-9]{1,32}")
OURS = st.text(alphabet="abcXYZ0129_-", min_size=1, max_size=36)


def test_okx_gets_its_quirks() -> None:
    assert isinstance(quirks_for("okx", "linear"), Okx)


def test_engine_ids_round_trip_in_okx_alphabet() -> None:
    assert venue_client_id("sb-42-e0") == "sbZ142Z1e0"
    assert our_client_id("sbZ142Z1e0") == "sb-42-e0"
    assert venue_client_id("sb-Z_1-tp1_2") == "sbZ1Z0Z21Z1tp1Z22"
    for ours in (client_order_id(10**12, "tp3"), part_client_order_id("sb-99999-e0", 7)):
        assert our_client_id(venue_client_id(ours)) == ours


@given(OURS)
def test_every_id_fits_okx_and_short_ones_come_back(ours: str) -> None:
    venue = venue_client_id(ours)
    assert OKX_CLORDID.fullmatch(venue)
    assert venue_client_id(ours) == venue  # deterministic: a retry finds its order
    if not venue.startswith("Z9"):
        assert our_client_id(venue) == ours


@given(st.text(max_size=64))
def test_any_venue_id_reads_without_error(venue: str) -> None:
    """A foreign order's clOrdId (anything the venue sends) is read, never fatal."""
    assert isinstance(our_client_id(venue), str)


@given(OURS, OURS)
def test_different_ids_never_collide(a: str, b: str) -> None:
    if a != b:
        assert venue_client_id(a) != venue_client_id(b)


def _req(side: OrderSide, role: OrderRole, reduce_only: bool = False) -> OrderRequest:
    return OrderRequest(
        "sb-1-e0", "BTC/USDT", side, VenueOrderType.MARKET, Decimal(1),
        reduce_only=reduce_only, role=role,
    )  # fmt: skip


def test_long_short_mode_position_of_entries_and_exits() -> None:
    assert position_side(_req(OrderSide.BUY, OrderRole.ENTRY)) == "long"
    assert position_side(_req(OrderSide.SELL, OrderRole.ENTRY)) == "short"
    assert position_side(_req(OrderSide.SELL, OrderRole.EXIT, True)) == "long"
    assert position_side(_req(OrderSide.BUY, OrderRole.STOP, True)) == "short"


def test_key_rights_from_account_config() -> None:
    trade = key_rights({"perm": "read_only,trade", "ip": ""})
    assert (trade.can_trade, trade.can_withdraw, trade.ip_restricted) == (True, False, False)
    everything = key_rights({"perm": "read_only, trade ,withdraw", "ip": "203.0.113.7"})
    assert (everything.can_withdraw, everything.ip_restricted) == (True, True)
    assert key_rights({}).can_trade is False
