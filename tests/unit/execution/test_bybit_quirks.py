"""Bybit's quirks as pure rules: orderLinkId shape, the hedge-mode position index, and a
key's rights read from whatever ``/v5/user/query-api`` answers (untrusted input)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from signalbridge.venues.base import OrderRequest, OrderRole, OrderSide, VenueOrderType
from signalbridge.venues.ccxt.bybit import client_id_problem, key_rights, position_idx
from signalbridge.venues.ccxt.exchanges import quirks_for

RULE = re.compile(r"[A-Za-z0-9_-]{1,36}")
SCALAR = st.none() | st.booleans() | st.integers() | st.sampled_from(["1", "0", "*", "Withdraw"])
FIELDS = st.sampled_from(["readOnly", "uta", "ips", "expiredAt", "permissions", "other"])
ANSWERS = st.dictionaries(
    FIELDS,
    SCALAR
    | st.text(max_size=25)
    | st.lists(SCALAR, max_size=3)
    | st.dictionaries(
        st.sampled_from(["Spot", "Wallet", "ContractTrade"]), SCALAR | st.lists(SCALAR, max_size=3)
    ),
    max_size=6,
)


@given(st.text(max_size=60))
def test_a_client_id_is_refused_exactly_when_bybit_would(text: str) -> None:
    assert (client_id_problem(text) is None) == bool(RULE.fullmatch(text))


def test_our_ids_fit_and_longer_or_dotted_ones_do_not() -> None:
    assert client_id_problem("sb-" + "1" * 30 + "-e0") is None  # 36 characters
    assert client_id_problem("sb-" + "1" * 31 + "-e0") is not None
    assert client_id_problem("sb-1.5-e0") is not None


def req(side: OrderSide, *, exit_: bool) -> OrderRequest:
    return OrderRequest(
        "sb-1-e0",
        "BTC/USDT",
        side,
        VenueOrderType.MARKET,
        Decimal(1),
        reduce_only=exit_,
        role=OrderRole.EXIT if exit_ else OrderRole.ENTRY,
    )


def test_position_index_in_each_mode() -> None:
    assert position_idx(req(OrderSide.BUY, exit_=False), hedged=False) == 0
    assert position_idx(req(OrderSide.BUY, exit_=False), hedged=True) == 1
    assert position_idx(req(OrderSide.SELL, exit_=True), hedged=True) == 1  # closes a long
    assert position_idx(req(OrderSide.SELL, exit_=False), hedged=True) == 2
    assert position_idx(req(OrderSide.BUY, exit_=True), hedged=True) == 2  # closes a short


@settings(max_examples=40)
@given(ANSWERS, st.sampled_from(["spot", "linear"]))
def test_key_rights_never_fail_on_any_answer(answer: dict[str, Any], market: str) -> None:
    rights = key_rights(answer, market)
    assert not rights.can_trade or str(answer.get("uta")) == "1"


def test_key_rights_of_documented_answers() -> None:
    base: dict[str, Any] = {
        "readOnly": 0,
        "uta": 1,
        "ips": ["*"],
        "expiredAt": "2027-03-01T03:21:05Z",
        "permissions": {"Spot": ["SpotTrade"], "ContractTrade": ["Order", "Position"]},
    }
    spot = key_rights(base, "spot")
    assert spot.can_trade and not spot.can_withdraw and spot.ip_restricted is False
    assert "2027-03-01 03:21" in spot.notes[0]
    moves = key_rights({**base, "permissions": {"Wallet": ["AccountTransfer"]}}, "linear")
    assert moves.can_transfer and not moves.can_trade
    assert key_rights({**base, "permissions": {"Wallet": ["Withdraw"]}}, "spot").can_withdraw
    assert not key_rights({**base, "readOnly": 1}, "spot").can_trade
    assert key_rights({**base, "ips": ["203.0.113.7"]}, "linear").ip_restricted is True


def test_bybit_is_chosen_by_exchange_id() -> None:
    quirks = quirks_for("bybit", "linear")
    assert quirks.options()["fetchMarkets"] == {"types": ["linear"]}
    assert quirks.options()["enableUnifiedAccount"] is True
    assert not quirks.resting_types
