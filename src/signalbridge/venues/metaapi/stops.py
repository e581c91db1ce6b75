"""Our resting stop on MetaTrader: the stop loss of the positions an execution opened.

MetaTrader keeps SL and TP on the position, not as orders, and its TP always closes the
whole position; so only the stop rests there (``Capabilities.resting_stops``), and the
monitor keeps the split targets. The protection desk speaks orders, so a reduce-only
``stop_market`` whose request has the role ``OrderRole.STOP`` is read as "set the stop loss
of every open position this execution's entries opened":

- placing sets it (POSITION_MODIFY, keeping each position's take profit); a moved stop is
  placed over the old one in that one call (``Capabilities.stop_replaces_in_place``: the
  protection desk then retires the old generation in its books);
- the order is open while such a position is open with a stop loss, cancelled when the
  stop loss was removed or the position was closed otherwise, and filled when the broker
  closed the positions at their stop loss (closing deals with ``reason`` DEAL_REASON_SL;
  MetaTrader rewrites the comment of such a deal, so it is matched by ``positionId`` to the
  entry deals that carry our client id);
- cancelling removes the stop loss, sent as ``stopLoss: 0`` (MetaApi does not say what a
  level left out of POSITION_MODIFY does), or reports the fill if the broker was first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from signalbridge.domain.signals import Side
from signalbridge.integrations.errors import InvalidRequest, OrderNotFound
from signalbridge.venues.base import (
    OrderRequest,
    OrderSide,
    OrderStatus,
    VenueOrder,
    VenueOrderType,
    parse_client_order_id,
)
from signalbridge.venues.metaapi import convert
from signalbridge.venues.metaapi.account import MetaApiAccount
from signalbridge.venues.metaapi.convert import MetaApiPosition

ZERO = Decimal(0)
STOPPED_OUT = "DEAL_REASON_SL"


class PositionStops:
    """Resting stops as position stop losses, for one MetaApi account."""

    def __init__(self, adapter: MetaApiAccount) -> None:
        self._adapter = adapter

    async def place(self, req: OrderRequest) -> VenueOrder:
        if req.type is not VenueOrderType.STOP_MARKET or req.stop_price is None:
            raise InvalidRequest("a MetaTrader resting stop is a stop_market order")
        held = Side.LONG if req.side is OrderSide.SELL else Side.SHORT
        positions = [
            p for p in await self._positions(req.symbol, req.client_order_id) if p.side is held
        ]
        if not positions:
            raise InvalidRequest(
                f"no open {held} position of this execution on {req.symbol} to protect",
                connection_id=self._adapter.connection_id,
            )
        for p in positions:
            if p.stop_loss != req.stop_price:
                await self._adapter.modify_position(p.position_id, req.stop_price, p.take_profit)
        return self._order(req.client_order_id, positions, OrderStatus.OPEN, req.stop_price)

    async def fetch(self, symbol: str, client_order_id: str) -> VenueOrder:
        positions = await self._positions(symbol, client_order_id)
        if positions:
            stops = [p.stop_loss for p in positions if p.stop_loss is not None]
            status = OrderStatus.OPEN if stops else OrderStatus.CANCELED
            return self._order(client_order_id, positions, status, stops[0] if stops else None)
        return await self._closed(symbol, client_order_id)

    async def cancel(self, symbol: str, client_order_id: str) -> VenueOrder:
        positions = await self._positions(symbol, client_order_id)
        if not positions:
            return await self._closed(symbol, client_order_id)
        for p in positions:
            if p.stop_loss is not None:
                await self._adapter.modify_position(p.position_id, None, p.take_profit)
        return self._order(client_order_id, positions, OrderStatus.CANCELED, None)

    # --- internals --------------------------------------------------------------------

    async def _positions(self, symbol: str, client_order_id: str) -> list[MetaApiPosition]:
        """Open positions opened by the entries of the stop's execution."""
        ident = execution_of(client_order_id)
        return [
            p
            for p in await self._adapter.fetch_position_details(symbol)
            if execution_of(p.client_order_id) == ident
        ]

    async def _closed(self, symbol: str, client_order_id: str) -> VenueOrder:
        """The stop of positions that are gone: filled if the broker stopped them out."""
        ident = execution_of(client_order_id)
        deals = await self._adapter.recent_deals()
        entries = {
            str(d.get("positionId")): d
            for d in deals
            if d.get("entryType") == "DEAL_ENTRY_IN"
            and execution_of(self._adapter.decode_client_id(d.get("clientId"))) == ident
        }
        if not entries:
            raise OrderNotFound(
                f"no position of the execution of {client_order_id!r} in recent history",
                connection_id=self._adapter.connection_id,
            )
        exits = [
            d
            for d in deals
            if d.get("entryType") == "DEAL_ENTRY_OUT" and str(d.get("positionId")) in entries
        ]
        stopped = [d for d in exits if d.get("reason") == STOPPED_OUT]
        first = next(iter(entries.values()))
        held_buy = first.get("type") == "DEAL_TYPE_BUY"
        return _from_deals(self._adapter, client_order_id, symbol, held_buy, stopped, exits)

    def _order(
        self,
        client_order_id: str,
        positions: Sequence[MetaApiPosition],
        status: OrderStatus,
        stop: Decimal | None,
    ) -> VenueOrder:
        now = self._adapter.now()
        volume = sum((p.volume for p in positions), ZERO)
        exit_side = OrderSide.SELL if positions[0].side is Side.LONG else OrderSide.BUY
        return VenueOrder(
            client_order_id=client_order_id,
            venue_order_id="sl:" + ",".join(p.position_id for p in positions),
            symbol=positions[0].symbol,
            side=exit_side,
            type=VenueOrderType.STOP_MARKET,
            status=status,
            amount=volume,
            filled=ZERO,
            average_price=None,
            fee=None,
            created_at=now,
            updated_at=now,
            stop_price=stop,
            reduce_only=True,
            raw={"positions": [p.position_id for p in positions]},
        )


def execution_of(client_order_id: str | None) -> str | None:
    """The execution part of one of our client ids. Only entries open positions (exits are
    reduce-only closes), so a position's or an opening deal's id names the entry of its
    execution."""
    parsed = parse_client_order_id(client_order_id)
    return None if parsed is None else parsed[0]


def _from_deals(
    adapter: MetaApiAccount,
    client_order_id: str,
    symbol: str,
    held_buy: bool,
    stopped: Sequence[Mapping[str, Any]],
    exits: Sequence[Mapping[str, Any]],
) -> VenueOrder:
    now = adapter.now()
    filled = sum((convert.dec(d.get("volume"), "volume") for d in stopped), ZERO)
    total = sum((convert.dec(d.get("volume"), "volume") for d in exits), ZERO)
    average = None
    if filled > 0:
        value = sum(
            (convert.dec(d.get("volume")) * convert.dec(d.get("price")) for d in stopped), ZERO
        )
        average = value / filled
    last = max((str(d.get("time") or "") for d in exits), default="")
    return VenueOrder(
        client_order_id=client_order_id,
        venue_order_id="sl:" + ",".join(sorted({str(d.get("positionId")) for d in exits})),
        symbol=symbol,
        side=OrderSide.SELL if held_buy else OrderSide.BUY,
        type=VenueOrderType.STOP_MARKET,
        status=OrderStatus.FILLED if filled > 0 else OrderStatus.CANCELED,
        amount=max(filled, total),
        filled=filled,
        average_price=average,
        fee=None,
        created_at=now,
        updated_at=convert.parse_time(last, now) if last else now,
        reduce_only=True,
        raw={"deals": [str(d.get("id")) for d in stopped]},
    )
