"""Writing what the venue said: order state, positions, stage timestamps, the execution log.

A position is always *derived* from its execution's filled orders (entries ``e0``, ``e1``...
open it; every other leg is a reduce-only exit), so recording the same fill twice, or in
any order, gives the same position: amount, average entry, fees and realised PnL.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.domain.market import tidy
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
        if is_entry_leg(order.leg):
            await mark_stage(session, signal_id, "filled_at", order.filled_at or now)
        await refresh_position(session, order.execution_id, now)


def is_entry_leg(leg: str) -> bool:
    """Entry legs are ``e<n>``; every other leg (``t1``, ``sl``, ``opp``, ``c7``...) is an exit."""
    return leg.startswith("e") and leg[1:].isdigit()


_EXACT = Decimal("1e-12")
ZERO = Decimal(0)


def exact(value: Decimal) -> Decimal:
    """Derived money kept to 12 places, so SQLite text and PostgreSQL NUMERIC hold the same."""
    return tidy(value.quantize(_EXACT)) if value else ZERO


@dataclass(frozen=True, slots=True)
class Fill:
    leg: str
    filled: Decimal
    price: Decimal
    fee: Decimal


@dataclass(frozen=True, slots=True)
class Book:
    """A position as its fills define it. ``realized_pnl`` is net of every fee paid so far."""

    opened: Decimal
    amount: Decimal
    entry_price: Decimal
    realized_pnl: Decimal
    fees: Decimal
    tp_hits: int

    @property
    def closed(self) -> bool:
        return self.amount <= 0


def book(fills: Iterable[Fill], long: bool, contract_size: Decimal = Decimal(1)) -> Book | None:
    """Pure accounting of one execution's fills; ``None`` while no entry has filled."""
    entries = [f for f in fills if f.filled > 0 and is_entry_leg(f.leg)]
    exits = [f for f in fills if f.filled > 0 and not is_entry_leg(f.leg)]
    opened = sum((f.filled for f in entries), ZERO)
    if opened <= 0:
        return None
    entry_price = exact(sum((f.filled * f.price for f in entries), ZERO) / opened)
    closed = sum((f.filled for f in exits), ZERO)
    sign = 1 if long else -1
    gross = sum(((f.price - entry_price) * f.filled * sign for f in exits), ZERO) * contract_size
    fees = sum((f.fee for f in (*entries, *exits)), ZERO)
    tp_hits = max((int(f.leg[1:]) for f in exits if _is_tp_leg(f.leg)), default=0)
    return Book(
        opened=opened,
        amount=max(opened - closed, ZERO),
        entry_price=entry_price,
        realized_pnl=exact(gross - fees),
        fees=exact(fees),
        tp_hits=tp_hits,
    )


def _is_tp_leg(leg: str) -> bool:
    return leg.startswith("t") and leg[1:].isdigit()


def unrealised_pnl(
    side: str, entry_price: Decimal, amount: Decimal, price: Decimal, contract_size: Decimal
) -> Decimal:
    """Open profit of what is left of a position at ``price``, before exit fees."""
    sign = 1 if side == "long" else -1
    return exact((price - entry_price) * amount * contract_size * sign)


async def refresh_position(
    session: AsyncSession,
    execution_id: int,
    now: datetime,
    *,
    contract_size: Decimal | None = None,
) -> None:
    """Create or update the execution's position from its filled orders.

    ``contract_size`` (base units per amount unit) values the realised PnL. The engine does
    not know the market and leaves it at 1 (right for crypto); the monitor, which places the
    exits and knows the market, refreshes with the venue's size right after each exit.
    """
    await session.flush()
    rows = (
        await session.scalars(
            select(m.Order).where(m.Order.execution_id == execution_id, m.Order.filled > 0)
        )
    ).all()
    fills = [Fill(o.leg, o.filled, o.average_price or o.price or ZERO, o.fee or ZERO) for o in rows]
    execution = await session.get_one(m.Execution, execution_id)
    signal = await session.get_one(m.Signal, execution.signal_id)
    result = book(fills, signal.side == "long", contract_size or Decimal(1))
    if result is None:
        return
    values: dict[str, object] = {
        "execution_id": execution_id,
        "signal_id": signal.id,
        "connection_id": execution.connection_id,
        "symbol": signal.symbol,
        "side": signal.side,
        "amount": result.amount,
        "entry_price": result.entry_price,
        "stop_loss": signal.stop_loss,
        "take_profits": list(signal.take_profits),
        "fees": result.fees,
        "realized_pnl": result.realized_pnl,
        "tp_hits": result.tp_hits,
        "opened_at": now,
    }
    new_id = await insert_ignore(session, m.Position, values, conflict=("execution_id",))
    if new_id is None:
        position = await session.scalar(
            select(m.Position).where(m.Position.execution_id == execution_id)
        )
        assert position is not None  # the conflict proves it exists
        position.amount = result.amount
        position.entry_price = result.entry_price
        position.fees = result.fees
        position.realized_pnl = result.realized_pnl
        position.tp_hits = max(position.tp_hits, result.tp_hits)
        if result.closed and position.status != m.PositionStatus.CLOSED:
            position.status = m.PositionStatus.CLOSED
            position.closed_at = now
    if execution.status in m.ExecutionStatus.NOT_STARTED:
        execution.status = m.ExecutionStatus.OPEN
    if result.closed and execution.status not in m.ExecutionStatus.FINAL:
        execution.status = m.ExecutionStatus.CLOSED
        execution.reason = "position closed"
