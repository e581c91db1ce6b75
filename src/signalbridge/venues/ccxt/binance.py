"""Binance: its ccxt options, its key permissions and its Algo Service conditional orders;
the account's position mode and symbol settings live in :mod:`.binance_account`.

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

from signalbridge.integrations import errors as sb
from signalbridge.venues.base import (
    OrderRequest,
    OrderStatus,
    SymbolSettings,
    VenueOrder,
    VenueOrderType,
)
from signalbridge.venues.ccxt.binance_account import FuturesAccount, key_rights
from signalbridge.venues.ccxt.binance_budget import WeightBudgets
from signalbridge.venues.ccxt.quirks import Call, ExchangeQuirks, KeyRights, MarketType

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
        fees=child.fees if child is not None else parent.fees,
        updated_at=max(parent.updated_at, child.updated_at) if child else parent.updated_at,
        price=None,
    )


class BinanceFamily(ExchangeQuirks):
    """Every Binance venue: no currency or margin side calls, one market type's markets,
    the server's clock measured once a signed request is refused for its timestamp (-1021),
    and key permissions from ``GET /sapi/v1/account/apiRestrictions``."""

    def options(self) -> dict[str, Any]:
        return {
            "fetchCurrencies": False,
            "fetchMargins": False,
            "warnOnFetchOpenOrdersWithoutSymbol": False,
            # one market type's exchangeInfo only (spot, USDⓈ-M /fapi or COIN-M /dapi)
            "fetchMarkets": {"types": [self.market_type]},
        }

    async def key_rights(self, exchange: Any, call: Call) -> KeyRights:
        r: Mapping[str, Any] = await call(lambda: exchange.sapi_get_account_apirestrictions())
        return key_rights(r, self.market_type)

    async def resync_clock(self, exchange: Any) -> bool:
        """Turn on ccxt's ``adjustForTimeDifference`` at the first -1021 and measure the
        clock now (ccxt measures it again whenever it loads markets from then on). Not on
        from the start: ccxt would spend a ``/time`` request, outside every budget, on each
        adapter built for a venue whose clock agrees with ours."""
        exchange.options["adjustForTimeDifference"] = True
        await exchange.load_time_difference()
        return True


class Binance(BinanceFamily):
    """Binance and Binance USDⓈ-M: on linear markets stops and targets rest on the Algo
    Service, and an order is looked up there when the matching engine does not know it.

    COIN-M (``inverse``, ``/dapi``) keeps the futures account rules of
    :class:`FuturesAccount` (position mode, margin type and leverage per symbol, reduce-only
    exits in one-way mode, ``positionSide`` in hedge mode; ccxt routes each call to
    ``/dapi`` by the connection's ``defaultSubType``); its stops and targets do not rest on
    the venue: the position monitor enforces them."""

    def __init__(self, exchange_id: str, market_type: MarketType) -> None:
        super().__init__(exchange_id, market_type)
        self.account = FuturesAccount()  # position mode and symbol settings, read once

    @property
    def resting_types(self) -> frozenset[VenueOrderType]:
        return RESTING_TYPES if self.market_type == "linear" else frozenset()

    async def order_params(
        self, exchange: Any, call: Call, req: OrderRequest, params: dict[str, Any]
    ) -> None:
        if self.market_type == "spot":
            await super().order_params(exchange, call, req, params)
            return
        await self.account.order_params(exchange, call, req, params)

    def refused_for_mode(self, exc: sb.IntegrationError) -> bool:
        return self.market_type != "spot" and self.account.refused_for_mode(exc)

    async def configure_symbol(
        self, exchange: Any, call: Call, venue: str, symbol: str, leverage: int, margin: str
    ) -> SymbolSettings | None:
        return await self.account.configure(exchange, call, venue, symbol, leverage, margin)

    def resting_order(self, req: OrderRequest, params: dict[str, Any]) -> str:
        params["triggerPrice"] = str(req.stop_price)  # a trigger price routes to the service
        return req.type.value.upper()

    def conditional(self, params: Mapping[str, Any]) -> dict[str, Any] | None:
        return {**params, "trigger": True} if self.resting_types else None

    def open_order_queries(self) -> tuple[dict[str, Any], ...]:
        return ({"trigger": True},) if self.resting_types else ()

    def install(self, exchange: Any) -> None:
        """Binance's per-IP request-weight budgets (``binance:spot`` / ``binance:fapi`` /
        ``binance:sapi``), taken before every request: :mod:`.binance_budget`."""
        WeightBudgets(exchange).install()

    def child_id(self, raw: Mapping[str, Any]) -> str | None:
        return child_id(raw)

    def combine(
        self, order: VenueOrder, raw: Mapping[str, Any], child: VenueOrder | None
    ) -> VenueOrder:
        return combine(order, raw, child)
