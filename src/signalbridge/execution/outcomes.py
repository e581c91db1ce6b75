"""Recording what became of an order: placed, rejected, put back, or as the venue says.

Each outcome is one commit that writes the order row, the execution log and the
execution's settled status together (:mod:`settlement`). Nothing here talks to a venue.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.execution.recorder import (
    get_rows,
    insert_logs,
    log_row,
    log_values,
    record_order,
    record_orders,
    venue_summary,
)
from signalbridge.execution.rows import OrderSnapshot
from signalbridge.execution.settlement import settle_executions
from signalbridge.store import models as m
from signalbridge.venues.base import VenueOrder

Answer = tuple[OrderSnapshot, VenueOrder, float]
"""A venue's answer to a POST: the order sent, what the venue said, ``perf_counter`` at send."""


def elapsed_ms(started: float) -> float:
    """Milliseconds since ``started`` (a ``time.perf_counter`` reading)."""
    return (time.perf_counter() - started) * 1000


class Outcomes:
    """Writes order outcomes; every method is one transaction."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], now: Callable[[], datetime]
    ) -> None:
        self._sessions = sessions
        self._now = now

    async def placed(self, answers: Sequence[Answer]) -> None:
        """Record venue answers to POSTs with a fixed number of statements, however many."""
        async with self._sessions() as session, session.begin():
            orders = await get_rows(session, m.Order, [s.order_id for s, _, _ in answers])
            with session.no_autoflush:
                await record_orders(
                    session,
                    [(orders[s.order_id], vo, s.signal_id) for s, vo, _ in answers],
                    self._now(),
                )
            await insert_logs(
                session,
                [
                    log_values(
                        snapshot.execution_id,
                        "order_placed",
                        order_id=snapshot.order_id,
                        request=snapshot.summary(),
                        response=venue_summary(venue_order),
                        latency_ms=elapsed_ms(started),
                    )
                    for snapshot, venue_order, started in answers
                ],
            )
            await settle_executions(session, [s.execution_id for s, _, _ in answers])

    async def unsent(self, snapshot: OrderSnapshot, reason: str) -> None:
        """Back to pending: the order certainly does not exist, so it may be sent later."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(m.Order)
                .where(m.Order.id == snapshot.order_id, m.Order.status == m.OrderStatus.SENDING)
                .values(status=m.OrderStatus.PENDING, updated_at=self._now())
            )
            session.add(
                log_row(
                    snapshot.execution_id,
                    "order_deferred",
                    order_id=snapshot.order_id,
                    reason=reason,
                )
            )

    async def rejected(self, snapshot: OrderSnapshot, reason: str, started: float) -> None:
        """The venue refused the order for good."""
        async with self._sessions() as session, session.begin():
            order = await session.get_one(m.Order, snapshot.order_id)
            order.status = m.OrderStatus.REJECTED
            order.error = reason[:2000]
            session.add(
                log_row(
                    snapshot.execution_id,
                    "order_rejected",
                    order_id=order.id,
                    reason=reason,
                    request=snapshot.summary(),
                    latency_ms=elapsed_ms(started),
                )
            )
            await settle_executions(session, [snapshot.execution_id])

    async def as_venue_says(
        self, order_id: int, venue_order: VenueOrder, *, reason: str | None = None
    ) -> tuple[str, str]:
        """Record the venue's view of one of our orders; ``(status before, status after)``.

        A change is written to the execution log (``order_reconciled``, with ``reason``).
        """
        async with self._sessions() as session, session.begin():
            order = await session.get_one(m.Order, order_id)
            execution = await session.get_one(m.Execution, order.execution_id)
            before, filled_before = order.status, order.filled
            await record_order(session, order, venue_order, execution.signal_id, self._now())
            if before != order.status or filled_before != order.filled:
                session.add(
                    log_row(
                        order.execution_id,
                        "order_reconciled",
                        order_id=order_id,
                        reason=reason or f"venue says {venue_order.status.value}; was {before}",
                        response=venue_summary(venue_order),
                    )
                )
            await settle_executions(session, [order.execution_id])
            return before, order.status

    async def unsure(self, snapshot: OrderSnapshot, reason: str, *, flag: bool) -> None:
        """The order may exist although the venue's lookup does not show it: it stays
        ``sending`` (looked up again later, never sent again). With ``flag`` (unsure for too
        long) the execution is flagged for a human, once: an ``order_needs_attention`` log
        row, and the execution's reason."""
        async with self._sessions() as session, session.begin():
            session.add(
                log_row(
                    snapshot.execution_id, "order_unsure", order_id=snapshot.order_id, reason=reason
                )
            )
            if not flag:
                return
            flagged = await session.scalar(
                select(m.ExecutionLog.id).where(
                    m.ExecutionLog.execution_id == snapshot.execution_id,
                    m.ExecutionLog.order_id == snapshot.order_id,
                    m.ExecutionLog.action == "order_needs_attention",
                )
            )
            if flagged is not None:
                return
            why = (
                f"order {snapshot.client_order_id} may exist on the venue but its lookup does "
                f"not show it; it is not sent again. Check the venue's account and settle it "
                f"by hand: {reason}"
            )[:2000]
            session.add(
                log_row(
                    snapshot.execution_id,
                    "order_needs_attention",
                    order_id=snapshot.order_id,
                    reason=why,
                )
            )
            execution = await session.get_one(m.Execution, snapshot.execution_id)
            if execution.status not in m.ExecutionStatus.FINAL:
                execution.reason = why

    async def note(self, execution_id: int, action: str, **fields: object) -> None:
        """One execution log row on its own (e.g. ``plan_deferred``, ``lookup_failed``)."""
        async with self._sessions() as session, session.begin():
            session.add(log_row(execution_id, action, **fields))
