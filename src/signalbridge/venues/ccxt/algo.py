"""Binance USDⓈ-M conditional orders (stop / take-profit market) read as our orders.

Since December 2025 Binance keeps these on its Algo Service (``/fapi/v1/algoOrder``, ccxt
routes there when a trigger price is given): the order rests with an ``algoStatus`` and,
once triggered, lives on as a MARKET order in the matching engine whose id is the algo
order's ``actualOrderId``. What we call one order is therefore the algo order (trigger,
amount, our client id) plus, after the trigger, its child (fills, average price, final
status). Only the documented fields are read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from signalbridge.venues.base import OrderStatus, VenueOrder, VenueOrderType

#: What each algoStatus means for the order as a whole (None: ask the triggered child).
ALGO_STATUS: dict[str, OrderStatus | None] = {
    "NEW": OrderStatus.OPEN,
    "TRIGGERING": OrderStatus.OPEN,
    "TRIGGERED": None,
    "FINISHED": None,
    "CANCELED": OrderStatus.CANCELED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
}
ALGO_TYPES = {
    "STOP_MARKET": VenueOrderType.STOP_MARKET,
    "TAKE_PROFIT_MARKET": VenueOrderType.TAKE_PROFIT_MARKET,
}
#: Order types the adapter sends to the Algo Service (reduce-only exits on futures).
RESTING_TYPES = frozenset(ALGO_TYPES.values())


def info_of(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    info = raw.get("info")
    return info if isinstance(info, Mapping) else {}


def is_algo(raw: Mapping[str, Any]) -> bool:
    """Whether a ccxt order came from the Algo Service."""
    return "algoStatus" in info_of(raw)


def child_id(raw: Mapping[str, Any]) -> str | None:
    """The matching-engine order a triggered algo order became, if any."""
    actual = info_of(raw).get("actualOrderId")
    return str(actual) if actual not in (None, "", 0, "0") else None


def combine(parent: VenueOrder, raw: Mapping[str, Any], child: VenueOrder | None) -> VenueOrder:
    """The algo order as one of ours: its trigger and amount, its child's fills."""
    info = info_of(raw)
    state = str(info.get("algoStatus") or "")
    status = ALGO_STATUS.get(state, OrderStatus.OPEN)
    if status is None:  # triggered: the child says how it went
        status = child.status if child is not None else OrderStatus.OPEN
    kind = ALGO_TYPES.get(str(info.get("orderType") or ""), parent.type)
    return dataclasses.replace(
        parent,
        type=kind,
        status=status,
        filled=child.filled if child is not None else parent.filled,
        average_price=child.average_price if child is not None else parent.average_price,
        fee=child.fee if child is not None else parent.fee,
        updated_at=max(parent.updated_at, child.updated_at) if child else parent.updated_at,
        price=None,
    )
