"""ExchangeAdapter for MetaTrader 4/5 accounts through MetaApi's REST API.

Orders carry our client order id in MetaApi's ``clientId`` (see :mod:`.client_ids`), so an
order whose placement timed out is found again in open orders, positions or history. Stop
loss and take profit live on the MT position (native), which the monitor changes through
:meth:`MetaApiAdapter.modify_position` and :meth:`MetaApiAdapter.close_position`.
Retries, breakers and rate limits are the kernel's job: this module only translates.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from functools import cached_property, partial
from typing import Any, ClassVar, Self

import httpx

from signalbridge.domain.market import Market
from signalbridge.domain.signals import Side
from signalbridge.integrations.errors import IntegrationError, InvalidRequest, OrderNotFound
from signalbridge.integrations.http import HttpClientFactory
from signalbridge.integrations.redaction import register_secret
from signalbridge.integrations.registry import AdapterRegistry, connection_config
from signalbridge.venues.base import (
    AdapterDeps,
    Capabilities,
    OrderRequest,
    OrderRole,
    OrderSide,
    OrderStatus,
    VenueOrder,
    VenueOrderType,
)
from signalbridge.venues.metaapi import convert
from signalbridge.venues.metaapi.account import MetaApiAccount
from signalbridge.venues.metaapi.client import JsonObject, MetaApiClient
from signalbridge.venues.metaapi.client_ids import MAX_CLIENT_ID_LEN
from signalbridge.venues.metaapi.config import MetaApiConfig
from signalbridge.venues.metaapi.stops import PositionStops, execution_of
from signalbridge.venues.symbols import SymbolMap

log = logging.getLogger(__name__)

ZERO = Decimal(0)

_ACTIONS: dict[tuple[OrderSide, VenueOrderType], str] = {
    (OrderSide.BUY, VenueOrderType.MARKET): "ORDER_TYPE_BUY",
    (OrderSide.SELL, VenueOrderType.MARKET): "ORDER_TYPE_SELL",
    (OrderSide.BUY, VenueOrderType.LIMIT): "ORDER_TYPE_BUY_LIMIT",
    (OrderSide.SELL, VenueOrderType.LIMIT): "ORDER_TYPE_SELL_LIMIT",
    (OrderSide.BUY, VenueOrderType.STOP_MARKET): "ORDER_TYPE_BUY_STOP",
    (OrderSide.SELL, VenueOrderType.STOP_MARKET): "ORDER_TYPE_SELL_STOP",
    (OrderSide.BUY, VenueOrderType.STOP_LIMIT): "ORDER_TYPE_BUY_STOP_LIMIT",
    (OrderSide.SELL, VenueOrderType.STOP_LIMIT): "ORDER_TYPE_SELL_STOP_LIMIT",
}


class MetaApiAdapter(MetaApiAccount):
    """One MetaTrader account reached through MetaApi: the ExchangeAdapter's orders."""

    type: ClassVar[str] = "metaapi"
    capabilities = Capabilities(
        market_orders=True,
        limit_orders=True,
        stop_orders=True,
        native_stop_loss=True,
        native_take_profit=True,
        reduce_only=True,
        resting_stops=True,
        stop_replaces_in_place=True,  # one POSITION_MODIFY moves the stop-loss slot
        futures=False,
        leverage=False,
        client_order_ids=True,
        lookup_by_client_id=True,
        batch_tickers=False,
        max_client_order_id_len=MAX_CLIENT_ID_LEN,
    )

    @classmethod
    def from_config(
        cls,
        connection_id: str,
        config: Mapping[str, Any],
        secrets: Mapping[str, str],
        *,
        deps: AdapterDeps,
    ) -> Self:
        cfg = connection_config(
            MetaApiConfig, config, secrets, vendor="MetaApi", connection_id=connection_id
        )
        token = cfg.token.get_secret_value()
        register_secret(token)
        client = MetaApiClient(
            account_id=cfg.account_id,
            token=token,
            base_url=cfg.base_url,
            provisioning_url=cfg.provisioning_url,
            region=cfg.region,
            http=_guarded_client(deps, connection_id),
            owns_http=True,  # built for this connection alone
            timeout=cfg.timeout,
            trade_timeout=cfg.trade_timeout,
            connection_id=connection_id,
            clock=deps.clock,
        )
        symbol_map = SymbolMap.from_config(
            "metaapi",
            {
                "symbol_style": "concat",
                "symbol_prefix": cfg.symbol_prefix,
                "symbol_suffix": cfg.symbol_suffix,
                "symbol_map": cfg.symbol_map,
            },
        )
        return cls(
            connection_id,
            client,
            symbols=symbol_map,
            preload=[*cfg.symbols, *cfg.symbol_map.keys()],
            clock=deps.clock,
            history_days=cfg.history_days,
            max_concurrency=cfg.max_concurrency,
        )

    # --- orders -------------------------------------------------------------------------

    async def create_order(
        self,
        req: OrderRequest,
        *,
        stop_loss: Decimal | None = None,
        take_profit: Decimal | None = None,
    ) -> VenueOrder:
        """Place an order; SL/TP (keywords, or ``req.stop_loss``/``req.take_profit`` when the
        request type carries them) go on the order and end up on the position.

        A timeout or a dropped connection raises AmbiguousOutcome: call :meth:`fetch_order`
        with the same client order id before sending anything again.
        """
        sl = stop_loss if stop_loss is not None else getattr(req, "stop_loss", None)
        tp = take_profit if take_profit is not None else getattr(req, "take_profit", None)
        if req.reduce_only and req.role is OrderRole.STOP:
            return await self._stops.place(req)
        if req.reduce_only:
            return await self._reduce(req)
        action = _ACTIONS.get((req.side, req.type))
        if action is None:
            raise InvalidRequest(
                f"MetaTrader has no {req.type} order; use position stop loss / take profit",
                connection_id=self.connection_id,
            )
        market = await self.market(req.symbol)
        if await self.nets_positions():
            await self._refuse_merge(req, market)
        client_id = self._client_id(req.client_order_id)
        body: dict[str, Any] = {
            "actionType": action,
            "symbol": market.venue_symbol,
            "volume": req.amount,
            "clientId": client_id,
        }
        if req.type is VenueOrderType.LIMIT:
            body["openPrice"] = req.price
        elif req.type is VenueOrderType.STOP_MARKET:
            body["openPrice"] = req.stop_price
        elif req.type is VenueOrderType.STOP_LIMIT:
            body["openPrice"] = req.stop_price
            body["stopLimitPrice"] = req.price
        if sl is not None:
            body["stopLoss"] = sl
        if tp is not None:
            body["takeProfit"] = tp
        result = await self._trade(body)
        return await self._placed(req, market, result, client_id)

    async def fetch_order(
        self, symbol: str, client_order_id: str, role: OrderRole | None = None
    ) -> VenueOrder:
        """Find our order by client id: open orders, then history and positions (a resting
        stop: the stop loss of its execution's positions)."""
        if role is OrderRole.STOP:
            return await self._stops.fetch(symbol, client_order_id)
        client_id = self._client_id(client_order_id)
        for order in await self.client.orders():
            if order.get("clientId") == client_id:
                return self._order(order, client_order_id)
        start, end = self._window()
        reads: list[Callable[[], Awaitable[list[JsonObject]]]] = [
            self.client.positions,
            partial(self.client.history_orders, start, end),
            partial(self.client.history_deals, start, end),
        ]
        positions, history, deals = await self._bounded_all(reads)
        position = next((p for p in positions if p.get("clientId") == client_id), None)
        matches = [o for o in history if o.get("clientId") == client_id]
        if matches:
            first = min(matches, key=lambda o: (str(o.get("time") or ""), str(o.get("id"))))
            return self._order(first, client_order_id, deals=deals, position=position)
        if position is not None:
            return convert.venue_order_from_position(
                position,
                canonical=self._canonical(position.get("symbol")),
                client_order_id=client_order_id,
                now=self._clock(),
            )
        raise OrderNotFound(
            f"no MetaTrader order, position or recent history with clientId {client_id!r} "
            f"(client order id {client_order_id!r})",
            connection_id=self.connection_id,
        )

    async def cancel_order(
        self, symbol: str, client_order_id: str, role: OrderRole | None = None
    ) -> VenueOrder:
        """Cancel a pending order; an order already final is returned as it is."""
        if role is OrderRole.STOP:
            return await self._stops.cancel(symbol, client_order_id)
        client_id = self._client_id(client_order_id)
        pending = next(
            (o for o in await self.client.orders() if o.get("clientId") == client_id), None
        )
        if pending is None:
            return await self.fetch_order(symbol, client_order_id)
        try:
            await self._trade({"actionType": "ORDER_CANCEL", "orderId": str(pending.get("id"))})
        except InvalidRequest:
            # Filled or cancelled between our look and the cancel: report what it became.
            return await self.fetch_order(symbol, client_order_id)
        done = {**pending, "state": "ORDER_STATE_CANCELED", "doneTime": self._clock().isoformat()}
        return self._order(done, client_order_id)

    async def fetch_open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        venue = self.symbols.to_venue(symbol) if symbol else None
        orders = await self.client.orders()
        return [
            self._order(o, self._decode(o.get("clientId")))
            for o in orders
            if venue is None or o.get("symbol") == venue
        ]

    # --- internals ----------------------------------------------------------------------

    @cached_property
    def _stops(self) -> PositionStops:
        return PositionStops(self)

    async def _refuse_merge(self, req: OrderRequest, market: Market) -> None:
        """On a netting account an entry on a symbol that another execution (or a trade of
        someone else) holds or waits to enter would merge into that one position, and its
        stop and exits would act on both: refused. The execution's own entries may add."""
        ours = execution_of(req.client_order_id)
        held = [p.client_order_id for p in await self.fetch_position_details(req.symbol)]
        waiting = [
            self._decode(o.get("clientId"))
            for o in await self.client.orders()
            if o.get("symbol") == market.venue_symbol
        ]
        others = [c for c in (*held, *waiting) if c is None or execution_of(c) != ours]
        if others:
            raise InvalidRequest(
                f"netting account: {market.symbol} is already held or ordered by another "
                "position, and MetaTrader would merge this entry into it; refused",
                connection_id=self.connection_id,
            )

    async def _placed(
        self, req: OrderRequest, market: Market, result: JsonObject, client_id: str
    ) -> VenueOrder:
        """The order as the trade response describes it, with the fill price of a market
        order read from its position (best effort: the order exists either way). MetaApi
        may leave ``positionId`` out of the result: the position is then found by our
        clientId."""
        code = result.get("numericCode")
        now = self._clock()
        status, filled, average = OrderStatus.OPEN, ZERO, None
        if req.type is VenueOrderType.MARKET:
            partial_fill = code == 10010 or result.get("stringCode") == "TRADE_RETCODE_DONE_PARTIAL"
            # A partial fill of unknown size reports 0 filled until fetch_order knows more.
            status = OrderStatus.PARTIALLY_FILLED if partial_fill else OrderStatus.FILLED
            filled = ZERO if partial_fill else req.amount
            try:
                position = await self._position_of(result, client_id)
                if position is not None:
                    average = convert.opt_dec(position.get("openPrice"))
                    if partial_fill:
                        filled = convert.dec(position.get("volume"), "volume")
            except IntegrationError:
                log.warning("metaapi fill price not readable yet", exc_info=True)
        return VenueOrder(
            client_order_id=req.client_order_id,
            venue_order_id=str(result.get("orderId") or result.get("positionId") or ""),
            symbol=market.symbol,
            side=req.side,
            type=req.type,
            status=status,
            amount=req.amount,
            filled=filled,
            average_price=average,
            fee=None,
            created_at=now,
            updated_at=now,
            price=req.price,
            stop_price=req.stop_price,
            raw=dict(result),
        )

    async def _position_of(self, result: JsonObject, client_id: str) -> JsonObject | None:
        """The position a market order opened: by the result's ``positionId``, else by the
        clientId it carries."""
        position_id = result.get("positionId")
        if position_id is not None:
            return await self.client.position(str(position_id))
        return next(
            (p for p in await self.client.positions() if p.get("clientId") == client_id), None
        )

    async def _reduce(self, req: OrderRequest) -> VenueOrder:
        """A reduce-only market order closes that much of the opposite positions: those
        its own execution opened first (a hedging account keeps each execution's positions
        apart), then the oldest; each close is tagged with the order's client id."""
        if req.type is not VenueOrderType.MARKET:
            raise InvalidRequest(
                "MetaTrader reduce-only orders must be market orders; use position SL/TP",
                connection_id=self.connection_id,
            )
        market = await self.market(req.symbol)
        target = Side.LONG if req.side is OrderSide.SELL else Side.SHORT
        ours = execution_of(req.client_order_id)
        positions = sorted(
            (
                p
                for p in await self.fetch_position_details()
                if p.venue_symbol == market.venue_symbol and p.side is target
            ),
            key=lambda p: (execution_of(p.client_order_id) != ours, p.opened_at),
        )
        if not positions:
            raise InvalidRequest(
                f"no open {target} position on {market.symbol} to reduce",
                connection_id=self.connection_id,
            )
        remaining = req.amount
        last: VenueOrder | None = None
        for position in positions:
            if remaining <= 0:
                break
            volume = min(remaining, position.volume)
            last = await self.close_position(
                position.position_id, volume, client_order_id=req.client_order_id
            )
            remaining -= volume
        assert last is not None
        filled = req.amount - remaining
        return VenueOrder(
            client_order_id=req.client_order_id,
            venue_order_id=last.venue_order_id,
            symbol=market.symbol,
            side=req.side,
            type=req.type,
            status=OrderStatus.FILLED if remaining <= 0 else OrderStatus.PARTIALLY_FILLED,
            amount=req.amount,
            filled=filled,
            average_price=None,
            fee=None,
            created_at=last.created_at,
            updated_at=last.updated_at,
            reduce_only=True,
            raw=last.raw,
        )


def _guarded_client(deps: AdapterDeps, connection_id: str) -> httpx.AsyncClient:
    """The connection's client, always behind the SSRF guard: the base and provisioning
    URLs are the member's, so every connection and redirect hop is checked and pinned.

    It comes from the kernel's HttpClientFactory (``deps.http_factory`` or
    ``shared["http_factory"]``), which carries the operator's allow-list; without one, a
    factory with no allow-list at all is used on ``deps.http_transport``. Per-request
    timeouts and the auth header stay ours."""
    factory = deps.http_factory or deps.shared.get("http_factory")
    if factory is None:
        factory = HttpClientFactory(transport=deps.http_transport)
    client: httpx.AsyncClient = factory.create(connection_id, user_url=True)
    return client


def register(registry: AdapterRegistry) -> None:
    """Make ``metaapi`` an exchange type (bootstrap calls this)."""
    registry.register(
        "exchange",
        MetaApiAdapter.type,
        MetaApiAdapter,
        MetaApiConfig,
        secret_fields=("token",),
        description="MetaTrader 4/5 accounts through the MetaApi cloud REST API",
    )
