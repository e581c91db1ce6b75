"""Binance: its ccxt options, its key permissions and its Algo Service conditional orders.

Since December 2025 Binance USDⓈ-M keeps conditional orders (stop / take-profit market) on
its Algo Service (``/fapi/v1/algoOrder``, ccxt routes there when a trigger price is given):
the order rests with an ``algoStatus`` and, once triggered, lives on as a MARKET order in
the matching engine whose id is the algo order's ``actualOrderId``. What we call one order
is therefore the algo order (trigger, amount, our client id) plus, after the trigger, its
child (fills, average price, final status). Only the documented fields are read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from signalbridge.venues.base import OrderRequest, OrderStatus, VenueOrder, VenueOrderType
from signalbridge.venues.ccxt.quirks import Call, ExchangeQuirks, KeyRights

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
    if not is_algo(raw):
        return None
    actual = info_of(raw).get("actualOrderId")
    return str(actual) if actual not in (None, "", 0, "0") else None


def combine(parent: VenueOrder, raw: Mapping[str, Any], child: VenueOrder | None) -> VenueOrder:
    """The algo order as one of ours: its trigger and amount, its child's fills."""
    if not is_algo(raw):
        return parent
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


class BinanceFamily(ExchangeQuirks):
    """Every Binance venue: no currency or margin side calls, one market type's markets,
    and key permissions from ``GET /sapi/v1/account/apiRestrictions``."""

    def options(self) -> dict[str, Any]:
        return {
            "fetchCurrencies": False,
            "fetchMargins": False,
            "warnOnFetchOpenOrdersWithoutSymbol": False,
            "fetchMarkets": {"types": ["spot"] if self.market_type == "spot" else ["linear"]},
        }

    async def key_rights(self, exchange: Any, call: Call) -> KeyRights:
        r: Mapping[str, Any] = await call(lambda: exchange.sapi_get_account_apirestrictions())
        flag = "enableSpotAndMarginTrading" if self.market_type == "spot" else "enableFutures"
        return KeyRights(can_trade=bool(r.get(flag)), can_withdraw=bool(r.get("enableWithdrawals")))


class Binance(BinanceFamily):
    """Binance and Binance USDⓈ-M: on linear markets stops and targets rest on the Algo
    Service, and an order is looked up there when the matching engine does not know it."""

    @property
    def resting_types(self) -> frozenset[VenueOrderType]:
        return RESTING_TYPES if self.market_type == "linear" else frozenset()

    def resting_order(self, req: OrderRequest, params: dict[str, Any]) -> str:
        params["triggerPrice"] = str(req.stop_price)  # a trigger price routes to the service
        return req.type.value.upper()

    def conditional(self, params: Mapping[str, Any]) -> dict[str, Any] | None:
        return {**params, "trigger": True} if self.resting_types else None

    def open_order_queries(self) -> tuple[dict[str, Any], ...]:
        return ({"trigger": True},) if self.resting_types else ()

    def child_id(self, raw: Mapping[str, Any]) -> str | None:
        return child_id(raw)

    def combine(
        self, order: VenueOrder, raw: Mapping[str, Any], child: VenueOrder | None
    ) -> VenueOrder:
        return combine(order, raw, child)
