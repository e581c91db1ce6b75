"""Cancelling one of our orders, wherever it is: never sent, being sent, or on the venue.

Entries left over when a position closes and resting stops or targets that must move are
cancelled the same way, so the rule lives once: an order never sent is cancelled in the
database unless the engine claims it first; an order whose POST outcome is unknown is
looked up, not cancelled blind; an order on the venue is cancelled there and the venue's
answer (which may be "filled after all") is recorded like any other answer.

A venue's lookup may forget: Binance stops finding futures orders cancelled or expired
unfilled more than 3 days after they were created, and any order after 90 days. So when
neither the cancel nor the lookup knows the order, the venue's open orders decide: an
order that is not among them is gone (cancelled by hand, expired, forgotten) and is
recorded as cancelled, so a stop that must move is replaced and the position keeps its
protection. Only an order acknowledged a settle window ago is judged that way (a venue
may not show an order it has just accepted yet).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.execution.pool import AdapterPool, Connected
from signalbridge.execution.recorder import log_row, record_order
from signalbridge.execution.rows import order_role
from signalbridge.execution.sending import OrderDesk
from signalbridge.integrations.errors import IntegrationError, InvalidRequest, OrderNotFound
from signalbridge.store import models as m
from signalbridge.store.types import utcnow
from signalbridge.venues.base import OrderRole, VenueOrder

ZERO = Decimal(0)
GONE = "not open on the venue and unknown to its lookup (cancelled, expired or forgotten)"


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
        self._settle = orders.settle

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
            acked = order.acked_at or order.sent_at
            signal_id = await session.scalar(
                select(m.Execution.signal_id).where(m.Execution.id == execution_id)
            )
        if signal_id is None:
            return UNSURE
        try:
            live = await self._pool.get(connection_id)
            venue_order = await self._ask(live, symbol, coid, role)
        except IntegrationError as exc:
            async with self._sessions() as session, session.begin():
                session.add(
                    log_row(execution_id, "cancel_failed", order_id=order_id, reason=exc.message)
                )
            return UNSURE
        if venue_order is None:
            if acked is None or self._now() - acked < self._settle:
                return UNSURE  # it may not show yet: ask again later
            return await self._gone(order_id, execution_id, reason, action)
        async with self._sessions() as session, session.begin():
            row = await session.get_one(m.Order, order_id)
            await record_order(session, row, venue_order, signal_id, self._now())
            session.add(log_row(execution_id, action, order_id=order_id, reason=reason))
            settled = row.status in m.OrderStatus.FINAL
            return Canceled(settled, row.filled)

    async def _ask(
        self, live: Connected, symbol: str, coid: str, role: OrderRole
    ) -> VenueOrder | None:
        """Cancel on the venue and say what the order is now; None when it is gone."""
        try:
            return await live.read(lambda: live.adapter.cancel_order(symbol, coid, role))
        except (InvalidRequest, OrderNotFound):
            # Refused because it is no longer open (filled or cancelled a moment ago;
            # venues say so in different ways): what it became is what counts.
            pass
        try:
            return await live.read(lambda: live.adapter.fetch_order(symbol, coid, role))
        except OrderNotFound:
            pass  # a lookup may forget: the open orders decide
        listed = await live.read(lambda: live.adapter.fetch_open_orders(symbol))
        return next((o for o in listed if o.client_order_id == coid), None)

    async def _gone(self, order_id: int, execution_id: int, reason: str, action: str) -> Canceled:
        """Record an order the venue no longer has as cancelled, with what it had filled."""
        async with self._sessions() as session, session.begin():
            row = await session.get_one(m.Order, order_id)
            if row.status in m.OrderStatus.FINAL:
                return Canceled(True, row.filled)
            row.status = m.OrderStatus.CANCELED
            row.error = GONE
            row.updated_at = self._now()
            session.add(
                log_row(execution_id, action, order_id=order_id, reason=f"{reason}; {GONE}")
            )
            return Canceled(True, row.filled)
