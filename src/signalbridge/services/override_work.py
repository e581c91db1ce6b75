"""Carrying out one manual override with the engine's own desks: no second order path.

A close is an exit action handed to :class:`~signalbridge.execution.exits.ExitDesk`, with
the leg ``m<action id>`` (whole) or ``mp<action id>`` (a share), so its client order id
``sb-<execution>-m<action>`` is derived from the action: carried out twice (a duplicate
that found the action stuck, a restart after a crash) it is one order. A cancel goes
through the :class:`~signalbridge.execution.cancel.Canceller`; a stop is moved on the
position and its resting order replaced by the protection desk, exactly as a provider's
"move SL" is. Every method is idempotent for one action id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.domain.legs import is_entry_leg, resting_leg
from signalbridge.domain.management import Action, ActionKind, PositionView, stopped
from signalbridge.domain.market import floor_to_step
from signalbridge.domain.signals import Side
from signalbridge.execution.engine import ExecutionEngine
from signalbridge.execution.exits import ExitDesk
from signalbridge.execution.protection import Holder
from signalbridge.execution.settlement import end_pending
from signalbridge.execution.views import execution_legs
from signalbridge.integrations.errors import IntegrationError
from signalbridge.store import models as m
from signalbridge.store.types import utcnow

#: Legs are at most 10 characters: "mp" and 8 digits.
MAX_ACTION_ID = 10**8 - 1
LIVE_ORDER = (m.OrderStatus.PENDING, m.OrderStatus.OPEN, m.OrderStatus.PARTIALLY_FILLED)


class Refused(Exception):
    """The action cannot be carried out as asked; ``message`` is safe to show (422)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def close_leg(action_id: int, whole: bool) -> str:
    """The leg of the exit order a manual close writes (see :mod:`signalbridge.domain.legs`)."""
    if not 1 <= action_id <= MAX_ACTION_ID:
        raise ValueError(f"manual action id {action_id} does not fit a leg")
    return f"m{action_id}" if whole else f"mp{action_id}"


@dataclass
class PanicReport:
    """What a panic did, for the action's result."""

    positions: int = 0
    orders_sent: int = 0
    entries_canceled: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)

    def as_result(self) -> dict[str, Any]:
        return {
            "positions": self.positions,
            "orders_sent": self.orders_sent,
            "entries_canceled": self.entries_canceled,
            "executions_skipped": self.skipped,
            "errors": self.errors,
        }


class OverrideDesk:
    """The execution side of manual overrides, on the engine the workers use."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        engine: ExecutionEngine,
        *,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._engine = engine
        self._now = now
        self.exits = ExitDesk(sessions, engine.pool, engine, now=now)

    # --- one position -----------------------------------------------------------------

    async def _position(self, position_id: int) -> tuple[m.Position, PositionView] | None:
        """An open position and its rules' view, else ``None``."""
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(m.Position, m.Follow.management)
                    .join(m.Execution, m.Execution.id == m.Position.execution_id)
                    .join(m.Follow, m.Follow.id == m.Execution.follow_id)
                    .where(m.Position.id == position_id)
                )
            ).one_or_none()
            if row is None or row[0].status != m.PositionStatus.OPEN:
                return None
            position, management = row
            legs = await execution_legs(session, [position.execution_id])
        view = await self.exits.view(position, management, legs.get(position.execution_id, []))
        if view is None:
            raise Refused(f"the venue no longer lists {position.symbol}")
        return position, view

    async def close(
        self, action_id: int, position_id: int, share: Decimal | None, reason: str
    ) -> dict[str, Any]:
        """Close a position (``share`` of it, or all) at market; entries still waiting are
        cancelled with a whole close."""
        found = await self._position(position_id)
        if found is None:
            return {"orders_sent": 0, "note": "the position is not open"}
        position, view = found
        return await self._close(action_id, position, view, share, reason)

    async def _close(
        self,
        action_id: int,
        position: m.Position,
        view: PositionView,
        share: Decimal | None,
        reason: str,
    ) -> dict[str, Any]:
        amount = view.amount
        if share is not None and share < 1:
            amount = floor_to_step(view.amount * share, view.precision.amount_step)
            if amount <= 0:
                raise Refused("that share of the position is below the market's amount step")
        whole = amount >= view.amount
        action = Action(ActionKind.CLOSE, reason, close_leg(action_id, whole), amount)
        carried = await self.exits.carry_out(
            position.id,
            [action],
            source="manual",
            precision=view.precision,
            context={"manual_action": action_id},
        )
        canceled = 0
        if whole:
            canceled = await self.exits.cancel_entries(position.execution_id, reason)
            await self.exits.guards.sweep_closed([position.execution_id])
        return {
            "orders_sent": carried.orders,
            "complete": carried.complete,
            "amount": str(amount),
            "whole": whole,
            "entries_canceled": canceled,
        }

    async def move_stop(
        self, action_id: int, position_id: int, level: Decimal, reason: str
    ) -> dict[str, Any]:
        """Set the position's stop; a stop resting on the venue is replaced (cancelled
        first, its successor placed after) by the protection desk."""
        found = await self._position(position_id)
        if found is None:
            raise Refused("the position is not open")
        position, view = found
        live = await self._engine.pool.get(position.connection_id)
        tickers = await live.read(lambda: live.adapter.fetch_tickers([position.symbol]))
        ticker = tickers.get(position.symbol)
        if ticker is not None and stopped(view.side is Side.LONG, ticker.last, level):
            side = "below" if view.side is Side.LONG else "above"
            raise Refused(
                f"a {view.side.value} position's stop must be {side} the price ({ticker.last})"
            )
        moved_from = position.stop_loss
        await self.exits.carry_out(
            position.id,
            [Action(ActionKind.MOVE_SL, reason, level=level)],
            source="manual",
            precision=view.precision,
            context={"manual_action": action_id},
        )
        result: dict[str, Any] = {
            "stop_loss": str(level),
            "moved_from": None if moved_from is None else str(moved_from),
            "resting": False,
        }
        again = await self._position(position_id)
        if again is not None and again[1].precision.resting_exits:
            moved, moved_view = again
            holder = Holder(moved.execution_id, moved.connection_id, moved.symbol, moved_view)
            report = await self.exits.guards.ensure([holder])
            result["resting"] = True
            result["protection_errors"] = report.errors
            result["protection_settled"] = not report.unsettled
        return result

    # --- orders -------------------------------------------------------------------------

    async def cancel(self, action_id: int, order_id: int, reason: str) -> dict[str, Any]:
        """Cancel one of our orders wherever it is (never sent, being sent, on the venue).

        A stop or target resting for a position follows the position's levels: it is not
        cancelled by hand (move the stop, or close the position, instead).
        """
        async with self._sessions() as session:
            order = await session.get(m.Order, order_id)
            if order is None:
                raise Refused(f"order {order_id} not found")
            leg, status = order.leg, order.status
        if resting_leg(leg) is not None and status not in m.OrderStatus.FINAL:
            raise Refused(
                "a resting stop or target follows its position's levels: move the stop or "
                "close the position instead"
            )
        outcome = await self.exits.canceller.cancel(order_id, reason, "manual_cancel")
        async with self._sessions() as session:
            now_status = await session.scalar(select(m.Order.status).where(m.Order.id == order_id))
        return {
            "settled": outcome.settled,
            "filled": str(outcome.filled),
            "order_status": now_status,
            "action": action_id,
        }

    # --- everything of a connection or a channel ----------------------------------------

    async def panic(
        self,
        action_id: int,
        *,
        connection_id: int | None,
        channel_id: int | None,
        owner_id: int | None,
        reason: str,
    ) -> PanicReport:
        """Close every open position at market and cancel every waiting order of one
        connection or one channel (of ``owner_id``'s connections only, when given);
        executions not planned yet are skipped so they open nothing."""
        report = PanicReport()
        scope = _scope(connection_id, channel_id, owner_id)
        async with self._sessions() as session:
            executions = list(
                (
                    await session.execute(
                        scope.where(m.Execution.status.notin_(m.ExecutionStatus.FINAL)).order_by(
                            m.Execution.id
                        )
                    )
                ).all()
            )
            positions = list(
                (
                    await session.scalars(
                        select(m.Position.id)
                        .where(
                            m.Position.execution_id.in_(
                                scope.with_only_columns(m.Execution.id).scalar_subquery()
                            ),
                            m.Position.status == m.PositionStatus.OPEN,
                        )
                        .order_by(m.Position.id)
                    )
                ).all()
            )
        for execution_id, status in executions:
            if status == m.ExecutionStatus.PENDING:
                async with self._sessions() as session, session.begin():
                    report.skipped += await end_pending(
                        session, execution_id, m.ExecutionStatus.SKIPPED, reason, self._now()
                    )
        for position_id in positions:
            try:
                found = await self._position(position_id)
                if found is None:
                    continue
                position, view = found
                done = await self._close(action_id, position, view, None, reason)
            except (IntegrationError, Refused) as exc:
                report.errors.append(f"position {position_id}: {exc.message}")
                continue
            report.positions += 1
            report.orders_sent += done["orders_sent"]
            report.entries_canceled += done["entries_canceled"]
        for execution_id, _ in executions:
            try:
                report.entries_canceled += await self._cancel_waiting(execution_id, reason)
            except IntegrationError as exc:
                report.errors.append(f"execution {execution_id}: {exc.message}")
        return report

    async def _cancel_waiting(self, execution_id: int, reason: str) -> int:
        """Entries still waiting (a zone's limits), and a closed position's leftovers."""
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(m.Order.id, m.Order.leg).where(
                        m.Order.execution_id == execution_id, m.Order.status.in_(LIVE_ORDER)
                    )
                )
            ).all()
        canceled = 0
        for order_id, leg in rows:
            if is_entry_leg(leg):
                outcome = await self.exits.canceller.cancel(order_id, reason, "entry_canceled")
                canceled += outcome.settled
        return canceled


def _scope(
    connection_id: int | None, channel_id: int | None, owner_id: int | None
) -> Select[int, str]:
    """The executions a panic covers, as ``(id, status)``."""
    query = select(m.Execution.id, m.Execution.status)
    if connection_id is not None:
        query = query.where(m.Execution.connection_id == connection_id)
    if channel_id is not None:
        query = query.join(m.Follow, m.Follow.id == m.Execution.follow_id).where(
            m.Follow.channel_id == channel_id
        )
    if owner_id is not None:
        owned = select(m.ExecutionConnection.id).where(m.ExecutionConnection.owner_id == owner_id)
        query = query.where(m.Execution.connection_id.in_(owned))
    return query
