"""Market orders larger than the venue's cap on one MARKET order, sent as several.

Binance caps a MARKET order's quantity with its MARKET_LOT_SIZE filter (ccxt reads it into
``market['limits']['market']``), far below LOT_SIZE's maxQty: a bigger market order is
refused (-4005 on futures, -1013 on spot). Capping the order would leave part of an exit
open, so the order is split into near-equal parts under the cap instead, sent one after
another. Part 0 keeps the order's client id and part k gets
:func:`~signalbridge.venues.base.part_client_order_id`, so a retry sends the same ids and a
lookup by the order's id finds its parts. The parts are reported as one order whose
``raw["split"]`` says why and how it was split.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from signalbridge.integrations import errors as sb
from signalbridge.venues.base import (
    Fee,
    OrderRequest,
    OrderStatus,
    VenueOrder,
    VenueOrderType,
    part_client_order_id,
)
from signalbridge.venues.ccxt.markets import ccxt_decimal

log = logging.getLogger(__name__)

Send = Callable[[OrderRequest], Awaitable[VenueOrder]]
Lookup = Callable[[str], Awaitable[VenueOrder | None]]


def market_cap(raw_market: Mapping[str, Any]) -> Decimal | None:
    """The largest amount of one market order (ccxt's ``limits.market.max``), if any."""
    limits = raw_market.get("limits") or {}
    cap = ccxt_decimal((limits.get("market") or {}).get("max"))
    return cap if cap is not None and cap > 0 else None


def split_amount(amount: Decimal, cap: Decimal, step: Decimal) -> list[Decimal]:
    """``amount`` in as few parts as the cap allows, all on the step grid and within one
    step of each other (no tiny remainder a minimum notional would refuse); the larger
    parts come last."""
    units = int((amount / step).to_integral_value(ROUND_FLOOR))
    cap_units = int((cap / step).to_integral_value(ROUND_FLOOR))
    if cap_units <= 0 or units <= cap_units:
        return [amount]
    count = -(-units // cap_units)
    base, extra = divmod(units, count)
    return [(base + (1 if k >= count - extra else 0)) * step for k in range(count)]


def parts_of(req: OrderRequest, cap: Decimal | None, step: Decimal) -> list[OrderRequest]:
    """The requests to send for ``req``: itself, or its parts when it is a market order
    above the cap."""
    if cap is None or req.type is not VenueOrderType.MARKET or req.amount <= cap:
        return [req]
    amounts = split_amount(req.amount, cap, step)
    return [
        dataclasses.replace(
            req, client_order_id=part_client_order_id(req.client_order_id, k), amount=amount
        )
        for k, amount in enumerate(amounts)
    ]


def may_be_split(order: VenueOrder, cap: Decimal | None) -> bool:
    """Whether an order found by its id may be part 0 of a split (its parts are each more
    than half the cap; a third leaves room for rounding)."""
    return cap is not None and order.type is VenueOrderType.MARKET and order.amount * 3 > cap


async def send_parts(parts: Sequence[OrderRequest], send: Send, cap: Decimal) -> VenueOrder:
    """Send the parts one after another. A part whose outcome is unknown raises (the order
    is then looked up by its id, which finds every part that exists); a part refused after
    others went through ends the split, and the parts sent stand."""
    done: list[VenueOrder] = []
    stopped: str | None = None
    for part in parts:
        try:
            done.append(await send(part))
        except sb.AmbiguousOutcome:
            raise
        except sb.IntegrationError as exc:
            if not done:
                raise
            stopped = f"part {part.client_order_id} not sent: {exc.message}"
            break
    order = combine(done, parts[0].client_order_id, cap, planned=len(parts), stopped=stopped)
    log.info(
        "market order split under MARKET_LOT_SIZE",
        extra={"client_order_id": order.client_order_id, "split": order.raw.get("split")},
    )
    return order


async def find_parts(first: VenueOrder, lookup: Lookup, limit: int = 100) -> list[VenueOrder]:
    """Part 0 and every further part the venue knows, in order (until one is unknown)."""
    cid = first.client_order_id or ""
    found = [first]
    for k in range(1, limit):
        part = await lookup(part_client_order_id(cid, k))
        if part is None:
            break
        found.append(part)
    return found


def combine(
    orders: Sequence[VenueOrder],
    client_order_id: str,
    cap: Decimal | None,
    *,
    planned: int | None = None,
    stopped: str | None = None,
) -> VenueOrder:
    """Several parts as one order: amounts and fills summed, the average weighted."""
    first = orders[0]
    if len(orders) == 1 and planned in (None, 1):
        return first
    amount = sum((o.amount for o in orders), Decimal(0))
    filled = sum((o.filled for o in orders), Decimal(0))
    cost = sum((o.filled * (o.average_price or 0) for o in orders), Decimal(0))
    fees = _fees_per_asset(orders)
    reason = f"MARKET_LOT_SIZE caps one market order at {cap}: sent as {len(orders)} orders"
    split: dict[str, Any] = {
        "reason": reason if stopped is None else f"{reason}; {stopped}",
        "parts": [
            {
                "client_order_id": o.client_order_id,
                "venue_order_id": o.venue_order_id,
                "amount": str(o.amount),
                "filled": str(o.filled),
                "status": o.status.value,
            }
            for o in orders
        ],
    }
    return dataclasses.replace(
        first,
        client_order_id=client_order_id,
        status=_status(orders, filled),
        amount=amount,
        filled=filled,
        average_price=cost / filled if filled else None,
        fee=fees[0] if len(fees) == 1 else None,
        fees=fees,
        updated_at=max(o.updated_at for o in orders),
        raw={**first.raw, "split": split},
    )


def _fees_per_asset(orders: Sequence[VenueOrder]) -> tuple[Fee, ...]:
    """Every part's fees added up per asset (a part may report ``fee`` only)."""
    totals: dict[str, Decimal] = {}
    for o in orders:
        for f in o.fees or ((o.fee,) if o.fee is not None else ()):
            totals[f.asset] = totals.get(f.asset, Decimal(0)) + f.amount
    return tuple(Fee(amount, asset) for asset, amount in totals.items())


def _status(orders: Sequence[VenueOrder], filled: Decimal) -> OrderStatus:
    if any(not o.status.is_final for o in orders):
        return OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.OPEN
    if all(o.status is OrderStatus.FILLED for o in orders):
        return OrderStatus.FILLED
    return next(o.status for o in orders if o.status is not OrderStatus.FILLED)
