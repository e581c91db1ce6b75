"""Paper venue values ↔ the columns of its tables (``paper_tables``), both ways."""

from __future__ import annotations

from typing import Any

from signalbridge.venues.base import (
    OrderSide,
    OrderStatus,
    PositionSide,
    TimeInForce,
    VenueOrderType,
)
from signalbridge.venues.paper.state import PaperOrder, PaperPosition


def position_from_row(row: Any) -> PaperPosition:
    """From an ORM row or a plain column row (same attribute names)."""
    return PaperPosition(
        row.symbol,
        PositionSide(row.side),
        row.amount,
        row.entry_price,
        row.leverage,
        row.margin,
        row.realised_pnl,
    )


def position_values(p: PaperPosition) -> dict[str, Any]:
    return {
        "symbol": p.symbol,
        "side": p.side.value,
        "amount": p.amount,
        "entry_price": p.entry_price,
        "leverage": p.leverage,
        "margin": p.margin,
        "realised_pnl": p.realised_pnl,
    }


def order_values(order: PaperOrder) -> dict[str, Any]:
    return {
        "client_order_id": order.client_order_id or order.id,
        "symbol": order.symbol,
        "side": order.side.value,
        "type": order.type.value,
        "status": order.status.value,
        "is_open": order.is_open,
        "amount": order.amount,
        "filled": order.filled,
        "price": order.price,
        "stop_price": order.stop_price,
        "reduce_only": order.reduce_only,
        "leverage": order.leverage,
        "time_in_force": order.time_in_force.value,
        "average_price": order.average_price,
        "fee": order.fee,
        "fee_asset": order.fee_asset,
        "reserved": order.reserved,
        "reserved_asset": order.reserved_asset,
        "triggered": order.triggered,
        "reason": order.reason,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
    }


def order_from_row(row: Any) -> PaperOrder:
    """From an ORM row or a plain column row (same attribute names)."""
    return PaperOrder(
        id=row.id,
        account_id=row.account_id,
        client_order_id=row.client_order_id,
        symbol=row.symbol,
        side=OrderSide(row.side),
        type=VenueOrderType(row.type),
        status=OrderStatus(row.status),
        amount=row.amount,
        filled=row.filled,
        price=row.price,
        stop_price=row.stop_price,
        reduce_only=row.reduce_only,
        leverage=row.leverage,
        time_in_force=TimeInForce(row.time_in_force),
        average_price=row.average_price,
        fee=row.fee,
        fee_asset=row.fee_asset,
        reserved=row.reserved,
        reserved_asset=row.reserved_asset,
        triggered=row.triggered,
        reason=row.reason,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
