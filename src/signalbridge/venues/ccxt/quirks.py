"""What sets one ccxt exchange apart from ccxt's unified API: the generic case.

The adapter is written against ccxt's unified calls only. Where an exchange needs more
(extra options, orders kept on a separate service, a way to read a key's permissions) it
gets a small subclass in its own module (``binance.py``), chosen once by exchange id in
``exchanges.py``; this class is what every other exchange gets.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from signalbridge.integrations import errors as sb
from signalbridge.venues.base import OrderRequest, SymbolSettings, VenueOrder, VenueOrderType

#: The adapter's call through its error boundary (translation, URL policy).
Call = Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]]
#: A connection's market type: spot, USDⓈ-margined (linear) or coin-margined (inverse)
#: futures.
MarketType = Literal["spot", "linear", "inverse"]


@dataclass(frozen=True, slots=True)
class KeyRights:
    """What an API key may do, as the venue reports it."""

    can_trade: bool
    can_withdraw: bool
    #: Funds can leave the account by transfer (Binance: internal or universal transfers).
    can_transfer: bool = False
    #: Whether the key only works from trusted IPs (None: the venue does not say).
    ip_restricted: bool | None = None
    #: What the key's owner should know (e.g. a permission that expires).
    notes: tuple[str, ...] = ()


class ExchangeQuirks:
    """The generic exchange: ccxt's unified API and nothing more (no resting exits, key
    permissions not readable)."""

    def __init__(self, exchange_id: str, market_type: MarketType) -> None:
        self.exchange_id = exchange_id
        self.market_type = market_type

    def options(self) -> dict[str, Any]:
        """ccxt options this exchange needs beyond the market type (the config's win)."""
        return {}

    def install(self, exchange: Any) -> None:
        """Fit the new ccxt instance to the venue where options cannot: its own request
        budgets around each request (Binance), ids translated at the request boundary
        (OKX), order calls routed by client id (Bybit). Nothing generically."""

    @property
    def resting_types(self) -> frozenset[VenueOrderType]:
        """Order types that can rest on the venue as exits (none: the monitor enforces
        stops and targets)."""
        return frozenset()

    def resting_order(self, req: OrderRequest, params: dict[str, Any]) -> str:
        """The ccxt order type for a resting exit; adds its trigger to ``params``."""
        params["triggerPrice"] = str(req.stop_price)
        return req.type.value

    def conditional(self, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """Where to look next for an order the matching engine does not know (None: nowhere)."""
        return None

    def open_order_queries(self) -> tuple[dict[str, Any], ...]:
        """Extra ``fetch_open_orders`` params whose answers are open orders too."""
        return ()

    def child_id(self, raw: Mapping[str, Any]) -> str | None:
        """The order a triggered conditional order became, if it lives apart."""
        return None

    def combine(
        self, order: VenueOrder, raw: Mapping[str, Any], child: VenueOrder | None
    ) -> VenueOrder:
        """One order from a conditional order and its child (the generic order is whole)."""
        return order

    async def key_rights(self, exchange: Any, call: Call) -> KeyRights | None:
        """The key's permissions, or None when the exchange has no way to tell."""
        return None

    async def order_params(
        self, exchange: Any, call: Call, req: OrderRequest, params: dict[str, Any]
    ) -> None:
        """Adds what the account needs on an order (generic: ``reduceOnly`` on exits)."""
        if req.reduce_only:
            params["reduceOnly"] = True

    def refused_for_mode(self, exc: sb.IntegrationError) -> bool:
        """Whether an order was refused for the account's position mode, which is then
        read again before the order is sent once more (generic: never)."""
        return False

    async def configure_symbol(
        self, exchange: Any, call: Call, venue: str, symbol: str, leverage: int, margin: str
    ) -> SymbolSettings | None:
        """Set a futures symbol's leverage (generic: no margin type, one-way positions)."""
        await call(lambda: exchange.set_leverage(leverage, venue))
        return SymbolSettings(symbol, "one_way", leverage, None)

    async def resync_clock(self, exchange: Any) -> bool:
        """Measure the venue's clock again after a timestamp refusal, where ccxt adjusts
        for it (``adjustForTimeDifference``); whether it did."""
        if not exchange.options.get("adjustForTimeDifference"):
            return False
        await exchange.load_time_difference()
        return True
