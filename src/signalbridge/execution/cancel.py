"""Cancelling one of our orders, wherever it is: never sent, being sent, or on the venue.

Entries left over when a position closes and resting stops or targets that must move are
cancelled the same way, so the rule lives once: an order never sent is cancelled in the
database unless the engine claims it first; an order whose POST outcome is unknown is
looked up, not cancelled blind; an order on the venue is cancelled there and the venue's
answer (which may be "filled after all") is recorded like any other answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.execution.pool import AdapterPool
from signalbridge.execution.recorder import log_row, record_order
from signalbridge.execution.rows import order_role
from signalbridge.execution.sending import OrderDesk
from signalbridge.integrations.errors import IntegrationError, InvalidRequest, OrderNotFound
from signalbridge.store import models as m
from signalbridge.store.types import utcnow

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Canceled:
    """What became of a cancel. ``settled`` is False when the order's fate is not known
    yet (a cancel that failed, or an order being sent): act on it again later."""

    settled: bool
    filled: Decimal = ZERO


UNSURE = Canceled(settled=False)


class Canceller:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        pool: AdapterPool,
        orders: OrderDesk,
        *,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._pool = pool
        self._orders = orders
        self._now = now

    async def cancel(self, order_id: int, reason: str, action: str) -> Canceled:
        """Cancel one order; ``action`` names the execution-log row written on success."""
        async with self._sessions() as session:
            order = await session.get(m.Order, order_id)
            if order is None:
                return UNSURE
            status, execution_id = order.status, order.execution_id
            if status in m.OrderStatus.FINAL:
                return Canceled(True, order.filled)
        if status == m.OrderStatus.PENDING:
            return await self._cancel_unsent(order_id, execution_id, reason, action)
        if status == m.OrderStatus.SENDING:
            await self._orders.reconcile(order_id)
            return UNSURE
        return await self._cancel_on_venue(order_id, reason, action)

    async def _cancel_unsent(
        self, order_id: int, execution_id: int, reason: str, action: str
    ) -> Canceled:
        async with self._sessions() as session, session.begin():
            done = await session.execute(
                update(m.Order)
                .where(m.Order.id == order_id, m.Order.status == m.OrderStatus.PENDING)
                .values(status=m.OrderStatus.CANCELED, error=reason[:2000])
            )
            if done.rowcount != 1:  # type: ignore[attr-defined]
                return UNSURE  # the engine claimed it in between
            session.add(log_row(execution_id, action, order_id=order_id, reason=reason))
        return Canceled(True)

    async def _cancel_on_venue(self, order_id: int, reason: str, action: str) -> Canceled:
        async with self._sessions() as session:
            order = await session.get_one(m.Order, order_id)
            execution_id, connection_id = order.execution_id, order.connection_id
            coid, symbol = order.client_order_id, order.symbol
            role = order_role(order.leg)
            signal_id = await session.scalar(
                select(m.Execution.signal_id).where(m.Execution.id == execution_id)
            )
        if signal_id is None:
            return UNSURE
        try:
            live = await self._pool.get(connection_id)
            try:
                venue_order = await live.read(lambda: live.adapter.cancel_order(symbol, coid, role))
            except (InvalidRequest, OrderNotFound):
                # Refused because it is no longer open (filled or cancelled a moment ago;
                # venues say so in different ways): what it became is what counts.
                venue_order = await live.read(lambda: live.adapter.fetch_order(symbol, coid, role))
        except IntegrationError as exc:
            async with self._sessions() as session, session.begin():
                session.add(
                    log_row(execution_id, "cancel_failed", order_id=order_id, reason=exc.message)
                )
            return UNSURE
        async with self._sessions() as session, session.begin():
            row = await session.get_one(m.Order, order_id)
            await record_order(session, row, venue_order, signal_id, self._now())
            session.add(log_row(execution_id, action, order_id=order_id, reason=reason))
            settled = row.status in m.OrderStatus.FINAL
            return Canceled(settled, row.filled)
