"""Writing what the venue said: order state, positions, stage timestamps, the execution log."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.execution.base import OrderStatus as VenueStatus
from signalbridge.execution.base import VenueOrder
from signalbridge.store import models as m
from signalbridge.store.db import insert_ignore

_STATUS = {
    VenueStatus.OPEN: m.OrderStatus.OPEN,
    VenueStatus.PARTIALLY_FILLED: m.OrderStatus.PARTIALLY_FILLED,
    VenueStatus.FILLED: m.OrderStatus.FILLED,
    VenueStatus.CANCELED: m.OrderStatus.CANCELED,
    VenueStatus.REJECTED: m.OrderStatus.REJECTED,
    VenueStatus.EXPIRED: m.OrderStatus.EXPIRED,
}
STAGES = ("order_sent_at", "order_acked_at", "filled_at")


async def mark_stage(session: AsyncSession, signal_id: int, stage: str, at: datetime) -> None:
    """Set a signal's stage timestamp once: the first execution to get there sets it."""
    column = getattr(m.Signal, stage)
    await session.execute(
        update(m.Signal).where(m.Signal.id == signal_id, column.is_(None)).values({stage: at})
    )


def log_row(
    execution_id: int | None,
    action: str,
    *,
    order_id: int | None = None,
    reason: str | None = None,
    request: dict[str, Any] | None = None,
    response: dict[str, Any] | None = None,
    latency_ms: float | None = None,
) -> m.ExecutionLog:
    return m.ExecutionLog(
        execution_id=execution_id,
        order_id=order_id,
        action=action,
        reason=reason,
        request=request,
        response=response,
        latency_ms=None if latency_ms is None else Decimal(str(round(latency_ms, 3))),
    )


def venue_summary(vo: VenueOrder) -> dict[str, Any]:
    return {
        "venue_order_id": vo.venue_order_id,
        "status": vo.status.value,
        "filled": str(vo.filled),
        "average_price": None if vo.average_price is None else str(vo.average_price),
        "fee": None if vo.fee is None else f"{vo.fee.amount} {vo.fee.asset}",
    }


async def record_order(
    session: AsyncSession, order: m.Order, vo: VenueOrder, signal_id: int, now: datetime
) -> None:
    """Apply the venue's view of one of our orders; never moves a final order backwards."""
    if order.status in m.OrderStatus.FINAL and order.status != _STATUS[vo.status]:
        return
    order.venue_order_id = vo.venue_order_id
    order.status = _STATUS[vo.status]
    order.filled = vo.filled
    order.average_price = vo.average_price
    if vo.fee is not None:
        order.fee, order.fee_asset = vo.fee.amount, vo.fee.asset
    order.acked_at = order.acked_at or now
    await mark_stage(session, signal_id, "order_acked_at", order.acked_at)
    if vo.status is VenueStatus.FILLED:
        order.filled_at = order.filled_at or now
    if vo.filled > 0:
        await mark_stage(session, signal_id, "filled_at", order.filled_at or now)
        if order.leg.startswith("e"):
            await refresh_position(session, order.execution_id, now)


async def refresh_position(session: AsyncSession, execution_id: int, now: datetime) -> None:
    """The position of an execution is the sum of its filled entry orders."""
    await session.flush()
    rows = (
        await session.scalars(
            select(m.Order).where(m.Order.execution_id == execution_id, m.Order.filled > 0)
        )
    ).all()
    entries = [o for o in rows if o.leg.startswith("e")]
    filled = sum((o.filled for o in entries), Decimal(0))
    if filled <= 0:
        return
    cost = sum((o.filled * (o.average_price or o.price or Decimal(0)) for o in entries), Decimal(0))
    fees = sum((o.fee for o in entries), Decimal(0))
    execution = await session.get_one(m.Execution, execution_id)
    signal = await session.get_one(m.Signal, execution.signal_id)
    values = {
        "execution_id": execution_id,
        "signal_id": signal.id,
        "connection_id": execution.connection_id,
        "symbol": signal.symbol,
        "side": signal.side,
        "amount": filled,
        "entry_price": cost / filled,
        "stop_loss": signal.stop_loss,
        "take_profits": list(signal.take_profits),
        "fees": fees,
        "opened_at": now,
    }
    new_id = await insert_ignore(session, m.Position, values, conflict=("execution_id",))
    if new_id is None:
        await session.execute(
            update(m.Position)
            .where(m.Position.execution_id == execution_id)
            .values(amount=filled, entry_price=cost / filled, fees=fees)
        )
    if execution.status in m.ExecutionStatus.NOT_STARTED:
        execution.status = m.ExecutionStatus.OPEN
