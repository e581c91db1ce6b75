"""Provider updates ("TP1 hit", "move SL to entry", "close 50 %"...) applied to every position
and unfilled entry opened from the signal they refer to.

An update is applied once: its row's status records the outcome (``applied``,
``no_signal``, ``nothing_open``) and a second call returns it unchanged. Orders an update
causes have client order ids derived from the update id (``c<id>`` close all, ``p<id>``
close part) or shared with the monitor (``t<k>`` take-profit k, ``sl`` stop loss), so a
crash half-way and a retry, or the monitor seeing the same level, never doubles an order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.domain.legs import is_entry_leg
from signalbridge.domain.management import (
    Action,
    ActionKind,
    PositionView,
    evaluate,
)
from signalbridge.domain.market import floor_to_step
from signalbridge.domain.signals import UpdateAction
from signalbridge.execution.engine import ExecutionEngine
from signalbridge.execution.exits import ExitDesk
from signalbridge.execution.pool import AdapterPool
from signalbridge.execution.views import execution_legs
from signalbridge.services.edit_apply import NOT_AN_EDIT, apply_edit
from signalbridge.store import models as m
from signalbridge.store.types import utcnow

HUNDRED = Decimal(100)
APPLIED = "applied"
NO_SIGNAL = "no_signal"
NOTHING_OPEN = "nothing_open"
DONE = (APPLIED, NO_SIGNAL, NOTHING_OPEN)
#: Updates below the channel's confidence wait for a human, and those the human rejected
#: stay so (services/review.py); neither is ever applied here.
REVIEW = "review"
REJECTED = "rejected"
WAITING = (REVIEW, REJECTED)
_MAX_UPDATE_ID = 10**9  # legs are at most 10 characters: "c" + 9 digits


@dataclass(frozen=True, slots=True)
class UpdateOutcome:
    status: str
    signal_id: int | None = None
    positions: int = 0
    orders: int = 0
    canceled: int = 0


async def apply_update(
    sessions: async_sessionmaker[AsyncSession],
    engine: ExecutionEngine,
    update_id: int,
    *,
    pool: AdapterPool,
    now: Callable[[], datetime] = utcnow,
) -> UpdateOutcome:
    """Apply one stored provider update to what its signal opened. Idempotent."""
    edited = await apply_edit(sessions, engine, update_id, pool=pool, now=now)
    if edited.status != NOT_AN_EDIT:  # an executed signal's edited stop and targets
        return UpdateOutcome(edited.status, edited.signal_id, edited.positions)
    async with sessions() as session:
        row = await session.get(m.SignalUpdate, update_id)
        if row is None:
            return UpdateOutcome("missing")
        if row.status in DONE or row.status in WAITING:
            return UpdateOutcome(row.status, row.signal_id)
        signal_id = row.signal_id or await _latest_signal(session, row)
        action, value = UpdateAction(row.action), row.value
        legs: dict[int, list[tuple[str, Decimal]]] = {}
        if signal_id is None:
            positions, executions = [], []
        else:
            positions = await _open_positions(session, signal_id)
            legs = await execution_legs(session, [p.execution_id for p, _ in positions])
            executions = await _executions_with_unfilled_entries(session, signal_id)
    if signal_id is None:
        return await _finish(sessions, update_id, NO_SIGNAL, None, now())
    if not positions and not executions:
        return await _finish(sessions, update_id, NOTHING_OPEN, signal_id, now())
    desk = ExitDesk(sessions, pool, engine, now=now)
    orders = canceled = 0
    if action is UpdateAction.CANCEL or action in _CLOSES_ALL:
        why = f"provider update {update_id}: {action.value}"
        for execution_id in executions:
            canceled += await desk.cancel_entries(execution_id, why)
    for position, raw in positions:
        view = await desk.view(position, raw, legs.get(position.execution_id, []))
        if view is None:
            continue
        actions = actions_for(action, value, view, update_id)
        if actions:
            carried = await desk.carry_out(
                position.id,
                actions,
                source="update",
                precision=view.precision,
                context={"update_id": update_id, "update": action.value},
            )
            orders += carried.orders
    outcome = await _finish(sessions, update_id, APPLIED, signal_id, now())
    return UpdateOutcome(outcome.status, signal_id, len(positions), orders, canceled)


_CLOSES_ALL = (UpdateAction.CLOSE_ALL, UpdateAction.SL_HIT)


def actions_for(
    action: UpdateAction, value: Decimal | None, view: PositionView, update_id: int
) -> list[Action]:
    """What one update means for one open position (pure)."""
    if not 0 < update_id < _MAX_UPDATE_ID:
        raise ValueError("update id does not fit a client order id leg")
    why = f"provider update {update_id}"
    if view.closing or view.amount <= 0:
        return []
    if action is UpdateAction.SL_HIT:
        return [Action(ActionKind.CLOSE, f"{why}: stop loss hit", "sl", view.amount)]
    if action is UpdateAction.CLOSE_ALL:
        return [Action(ActionKind.CLOSE, f"{why}: close all", f"c{update_id}", view.amount)]
    if action is UpdateAction.CLOSE_PARTIAL and value is not None:
        part = floor_to_step(view.amount * value / HUNDRED, view.precision.amount_step)
        if part <= 0:
            return []
        leg = f"c{update_id}" if part >= view.amount else f"p{update_id}"
        return [Action(ActionKind.CLOSE, f"{why}: close {value} %", leg, part)]
    if action is UpdateAction.MOVE_SL_TO_ENTRY:
        return [Action(ActionKind.MOVE_SL, f"{why}: stop to entry", level=view.entry)]
    if action is UpdateAction.MOVE_SL and value is not None:
        return [Action(ActionKind.MOVE_SL, f"{why}: move stop", level=value)]
    if action is UpdateAction.MODIFY_TP and value is not None:
        index = view.tp_done + 1  # the next target not reached yet
        return [Action(ActionKind.MODIFY_TP, f"{why}: modify target", level=value, tp_index=index)]
    if action is UpdateAction.TP_HIT:
        return _tp_hit(view, value)
    return []


def _tp_hit(view: PositionView, value: Decimal | None) -> list[Action]:
    """Do what the monitor would do had the price reached TP ``value`` (default: the next)."""
    if not view.take_profits:
        return []
    k = int(value) if value is not None else view.tp_done + 1
    k = max(1, min(k, len(view.take_profits)))
    if k <= view.tp_done:
        return []
    return [a for a in evaluate(view, view.take_profits[k - 1]) if a.tp_index <= k]


async def _latest_signal(session: AsyncSession, row: m.SignalUpdate) -> int | None:
    """The channel's latest signal before the update (for its symbol when it names one)."""
    query = select(m.Signal.id).where(
        m.Signal.channel_id == row.channel_id, m.Signal.message_id < row.message_id
    )
    if row.symbol is not None:
        query = query.where(m.Signal.symbol == row.symbol)
    return await session.scalar(query.order_by(m.Signal.id.desc()).limit(1))


async def _open_positions(
    session: AsyncSession, signal_id: int
) -> list[tuple[m.Position, dict[str, object] | None]]:
    rows = await session.execute(
        select(m.Position, m.Follow.management)
        .join(m.Execution, m.Execution.id == m.Position.execution_id)
        .join(m.Follow, m.Follow.id == m.Execution.follow_id)
        .where(m.Position.signal_id == signal_id, m.Position.status == m.PositionStatus.OPEN)
        .order_by(m.Position.id)
    )
    return [(p, raw) for p, raw in rows.all()]


async def _executions_with_unfilled_entries(session: AsyncSession, signal_id: int) -> list[int]:
    rows = await session.execute(
        select(m.Order.execution_id, m.Order.leg)
        .join(m.Execution, m.Execution.id == m.Order.execution_id)
        .where(
            m.Execution.signal_id == signal_id,
            m.Order.status.in_(
                (m.OrderStatus.PENDING, m.OrderStatus.OPEN, m.OrderStatus.PARTIALLY_FILLED)
            ),
        )
    )
    return sorted({execution_id for execution_id, leg in rows.all() if is_entry_leg(leg)})


async def _finish(
    sessions: async_sessionmaker[AsyncSession],
    update_id: int,
    status: str,
    signal_id: int | None,
    at: datetime,
) -> UpdateOutcome:
    async with sessions() as session, session.begin():
        row = await session.get_one(m.SignalUpdate, update_id)
        if row.status not in DONE:
            row.status = status
            row.applied_at = at
            if row.signal_id is None and signal_id is not None:
                row.signal_id = signal_id
        return UpdateOutcome(row.status, row.signal_id)
