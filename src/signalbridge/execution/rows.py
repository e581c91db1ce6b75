"""Rows to domain values and back: what the lifecycle reads out of a transaction.

A row is only valid inside its session; placement reads what it needs into a frozen
:class:`OrderSnapshot` so the POST (outside any transaction) never touches the ORM.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from signalbridge.domain.legs import role_of_leg
from signalbridge.domain.signals import EntryZone, OrderType, Side, Signal
from signalbridge.execution.planner import Plan
from signalbridge.store import models as m
from signalbridge.venues.base import OrderRequest, OrderRole, OrderSide, VenueOrderType


def signal_from_row(row: m.Signal) -> Signal:
    """The domain signal a stored signal row holds."""
    entry = None
    if row.entry_low is not None and row.entry_high is not None:
        entry = EntryZone(row.entry_low, row.entry_high)
    return Signal(
        symbol=row.symbol,
        side=Side(row.side),
        order_type=OrderType(row.order_type),
        entry=entry,
        stop_loss=row.stop_loss,
        take_profits=tuple(Decimal(tp) for tp in row.take_profits),
        leverage=row.leverage,
    )


@dataclass(frozen=True, slots=True)
class OrderSnapshot:
    """What placement needs of an order row, read inside a transaction and used outside."""

    order_id: int
    execution_id: int
    connection_id: int
    signal_id: int
    client_order_id: str
    symbol: str
    side: str
    type: str
    status: str
    amount: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    reduce_only: bool
    sent_at: datetime | None
    leg: str

    @classmethod
    def of(cls, order: m.Order, signal_id: int) -> OrderSnapshot:
        return cls(
            order_id=order.id,
            execution_id=order.execution_id,
            connection_id=order.connection_id,
            signal_id=signal_id,
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            type=order.type,
            status=order.status,
            amount=order.amount,
            price=order.price,
            stop_price=order.stop_price,
            reduce_only=order.reduce_only,
            sent_at=order.sent_at,
            leg=order.leg,
        )

    def request(self) -> OrderRequest:
        """The venue request for this order (same client order id on every attempt)."""
        return OrderRequest(
            client_order_id=self.client_order_id,
            symbol=self.symbol,
            side=OrderSide(self.side),
            type=VenueOrderType(self.type),
            amount=self.amount,
            price=self.price,
            stop_price=self.stop_price,
            reduce_only=self.reduce_only,
            role=order_role(self.leg),
        )

    def summary(self) -> dict[str, object]:
        """The request as the execution log keeps it."""
        return {
            "client_order_id": self.client_order_id,
            "symbol": self.symbol,
            "side": self.side,
            "type": self.type,
            "amount": str(self.amount),
            "price": None if self.price is None else str(self.price),
        }


def order_role(leg: str) -> OrderRole:
    """What an order with this leg is for, as its venue requests carry it."""
    return OrderRole(role_of_leg(leg))


def contract_size_of(plan: Plan) -> Decimal | None:
    """What the execution row keeps: nothing for the common 1 (crypto)."""
    return None if plan.contract_size == 1 else plan.contract_size


def plan_summary(plan: Plan) -> dict[str, object]:
    """A plan as the ``planned`` execution log row keeps it."""
    return {
        "orders": [
            {
                "leg": o.leg,
                "type": o.type.value,
                "amount": str(o.amount),
                "price": None if o.price is None else str(o.price),
            }
            for o in plan.orders
        ],
        "leverage": plan.leverage,
        "capped_by": list(plan.sized.capped_by),
    }
