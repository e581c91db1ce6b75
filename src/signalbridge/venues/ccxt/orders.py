"""A ccxt order structure read as a :class:`VenueOrder` (``Decimal`` amounts, UTC times)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from signalbridge.venues.base import Fee, OrderSide, OrderStatus, VenueOrder, VenueOrderType
from signalbridge.venues.ccxt.markets import ccxt_decimal

_STATUS = {
    "open": OrderStatus.OPEN,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}
_TYPES = {
    "market": VenueOrderType.MARKET,
    "limit": VenueOrderType.LIMIT,
    "stop": VenueOrderType.STOP_MARKET,
    "stop_market": VenueOrderType.STOP_MARKET,
    "stop_loss": VenueOrderType.STOP_MARKET,
    "stop_limit": VenueOrderType.STOP_LIMIT,
    "stop_loss_limit": VenueOrderType.STOP_LIMIT,
    "take_profit": VenueOrderType.TAKE_PROFIT_MARKET,
    "take_profit_market": VenueOrderType.TAKE_PROFIT_MARKET,
    "take_profit_limit": VenueOrderType.TAKE_PROFIT_LIMIT,
}


def sum_fees(items: Iterable[Any]) -> tuple[Fee, ...]:
    """ccxt fee structures (``{"cost", "currency"}``) added up per asset, in the order the
    assets first appear (an entry without a cost is left out; a zero fee is a fee)."""
    totals: dict[str, Decimal] = {}
    for item in items:
        if not isinstance(item, Mapping):
            continue
        cost = ccxt_decimal(item.get("cost"))
        if cost is None:
            continue
        asset = str(item.get("currency") or "")
        totals[asset] = totals.get(asset, Decimal(0)) + cost
    return tuple(Fee(cost, asset) for asset, cost in totals.items())


def order_fees(o: Mapping[str, Any]) -> tuple[Fee, ...]:
    """Every fee of a ccxt order, per asset: its ``fees`` list, else its one ``fee``."""
    listed = o.get("fees")
    if isinstance(listed, list) and listed:
        return sum_fees(listed)
    return sum_fees([o.get("fee")])


def time_of(ms: Any, clock: Callable[[], datetime]) -> datetime:
    """A ccxt millisecond timestamp; the clock's now when the venue gave none."""
    if isinstance(ms, int | float) and ms > 0:
        return datetime.fromtimestamp(ms / 1000, tz=UTC)
    return clock()


def order_from_ccxt(
    o: Mapping[str, Any],
    client_order_id: str | None,
    canonical: Callable[[str], str],
    clock: Callable[[], datetime],
) -> VenueOrder:
    """One ccxt order; ``canonical`` maps the venue symbol to ours."""
    info = o.get("info")
    raw_info = info if isinstance(info, Mapping) else {}
    # binance spot answers a cancel with the cancel request's own id in clientOrderId
    cid = client_order_id or o.get("clientOrderId") or raw_info.get("origClientOrderId")
    amount = ccxt_decimal(o.get("amount")) or Decimal(0)
    filled = ccxt_decimal(o.get("filled")) or Decimal(0)
    status = _STATUS.get(str(o.get("status")), OrderStatus.OPEN)
    if status is OrderStatus.OPEN and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    price = ccxt_decimal(o.get("price"))
    type_ = _TYPES.get(
        str(o.get("type")).lower(), VenueOrderType.LIMIT if price else VenueOrderType.MARKET
    )
    fee_raw = o.get("fee")
    fee = None
    if isinstance(fee_raw, Mapping) and fee_raw.get("cost") is not None:
        fee = Fee(
            ccxt_decimal(fee_raw.get("cost")) or Decimal(0), str(fee_raw.get("currency") or "")
        )
    fees = order_fees(o)
    if fee is None and len(fees) == 1:
        fee = fees[0]
    created = time_of(o.get("timestamp"), clock)
    updated = time_of(
        o.get("lastUpdateTimestamp") or o.get("lastTradeTimestamp") or o.get("timestamp"), clock
    )
    return VenueOrder(
        client_order_id=str(cid) if cid else None,
        venue_order_id=str(o.get("id") or ""),
        symbol=canonical(str(o.get("symbol"))),
        side=OrderSide(str(o.get("side") or "buy").lower()),
        type=type_,
        status=status,
        amount=amount,
        filled=filled,
        average_price=ccxt_decimal(o.get("average")),
        fee=fee,
        created_at=created,
        updated_at=max(updated, created),
        price=price if price else None,
        stop_price=ccxt_decimal(o.get("triggerPrice")) or None,
        reduce_only=bool(o.get("reduceOnly")),
        raw=dict(raw_info),
        fees=fees,
    )
