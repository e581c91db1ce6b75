"""An executed signal's edited stop loss and take-profits, applied to its open positions.

services/edits.py records an edit of an executed signal as a
:class:`~signalbridge.store.models.SignalEdit` with the difference and, when the channel
applies edits (or an operator approves one), a provider update with action ``edit``. The
update task (services/updates.py) hands such an update here. Like every update it is
applied once: its row's status records the outcome and a second call returns it.

Only the position's stop and targets change (no order is sent for them): the stop moves to
the edited level unless the position's own stop was since moved tighter (break-even,
trailing) and the edit would loosen it; a target moves unless it was already acted upon.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.domain.management import Action, ActionKind, PositionView, tighter
from signalbridge.execution.engine import ExecutionEngine
from signalbridge.execution.exits import ExitDesk
from signalbridge.execution.pool import AdapterPool
from signalbridge.execution.views import execution_legs
from signalbridge.store import models as m
from signalbridge.store.types import utcnow

#: The ``signal_updates.action`` of an edit of an executed signal's levels.
EDIT_ACTION = "edit"
APPLIED = "applied"
NOTHING_OPEN = "nothing_open"
NO_SIGNAL = "no_signal"
_DONE = (APPLIED, NOTHING_OPEN, NO_SIGNAL)
#: :func:`apply_edit`'s answer for an update that is no edit (or no update at all).
NOT_AN_EDIT = "not_an_edit"


@dataclass(frozen=True, slots=True)
class EditApplied:
    status: str
    signal_id: int | None = None
    positions: int = 0


def _level(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        level = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return level if level.is_finite() and level > 0 else None


def edit_actions(changes: dict[str, Any], view: PositionView, update_id: int) -> list[Action]:
    """What an edit's ``{field: [old, new]}`` means for one open position (pure)."""
    if view.closing or view.amount <= 0:
        return []
    why = f"provider edit {update_id}"
    actions: list[Action] = []
    stop = changes.get("stop_loss")
    if isinstance(stop, list) and len(stop) == 2:
        old, new = _level(stop[0]), _level(stop[1])
        current = view.stop_loss
        if new is not None and new != current:
            if current is None or current == old or tighter(view.long, new, current):
                actions.append(Action(ActionKind.MOVE_SL, f"{why}: stop {old} -> {new}", level=new))
    targets = changes.get("take_profits")
    if isinstance(targets, list) and len(targets) == 2 and isinstance(targets[1], list):
        before = targets[0] if isinstance(targets[0], list) else []
        for index, raw in enumerate(targets[1], start=1):
            level = _level(raw)
            if level is None or index <= view.tp_done:
                continue
            if index <= len(before) and _level(before[index - 1]) == level:
                continue  # this target was not edited
            if index <= len(view.take_profits) and view.take_profits[index - 1] == level:
                continue
            if index > len(view.take_profits) + 1:
                break  # targets are appended in order only
            actions.append(
                Action(
                    ActionKind.MODIFY_TP, f"{why}: target {index} -> {level}", level=level,
                    tp_index=index,
                )
            )  # fmt: skip
    return actions


async def apply_edit(
    sessions: async_sessionmaker[AsyncSession],
    engine: ExecutionEngine,
    update_id: int,
    *,
    pool: AdapterPool,
    now: Callable[[], datetime] = utcnow,
) -> EditApplied:
    """Apply one ``edit`` update to the open positions of its signal. Idempotent."""
    async with sessions() as session:
        row = await session.get(m.SignalUpdate, update_id)
        if row is None or row.action != EDIT_ACTION:
            return EditApplied(NOT_AN_EDIT)
        if row.status in _DONE or row.status in ("review", "rejected"):
            return EditApplied(row.status, row.signal_id)
        record = await session.scalar(
            select(m.SignalEdit).where(m.SignalEdit.update_id == update_id)
        )
        signal_id = row.signal_id
        positions: list[tuple[m.Position, dict[str, Any] | None]] = []
        legs: dict[int, list[tuple[str, Decimal]]] = {}
        if record is not None and signal_id is not None:
            found = await session.execute(
                select(m.Position, m.Follow.management)
                .join(m.Execution, m.Execution.id == m.Position.execution_id)
                .join(m.Follow, m.Follow.id == m.Execution.follow_id)
                .where(
                    m.Position.signal_id == signal_id,
                    m.Position.status == m.PositionStatus.OPEN,
                )
                .order_by(m.Position.id)
            )
            positions = [(p, raw) for p, raw in found.all()]
            legs = await execution_legs(session, [p.execution_id for p, _ in positions])
    if record is None or signal_id is None:
        return await _finish(sessions, update_id, NO_SIGNAL, {}, now())
    changes = dict(record.changes)
    desk = ExitDesk(sessions, pool, engine, now=now)
    touched = 0
    for position, raw in positions:
        view = await desk.view(position, raw, legs.get(position.execution_id, []))
        if view is None:
            continue
        actions = edit_actions(changes, view, update_id)
        if actions:
            await desk.carry_out(
                position.id,
                actions,
                source="edit",
                precision=view.precision,
                context={"update_id": update_id, "signal_edit_id": record.id},
            )
            touched += 1
    status = APPLIED if positions else NOTHING_OPEN
    return await _finish(sessions, update_id, status, changes, now(), touched)


async def _finish(
    sessions: async_sessionmaker[AsyncSession],
    update_id: int,
    status: str,
    changes: dict[str, Any],
    at: datetime,
    touched: int = 0,
) -> EditApplied:
    """Close the update and its edit record; the signal now holds the edited levels."""
    async with sessions() as session, session.begin():
        row = await session.get_one(m.SignalUpdate, update_id)
        if row.status in _DONE:
            return EditApplied(row.status, row.signal_id, touched)
        row.status, row.applied_at = status, at
        record = await session.scalar(
            select(m.SignalEdit).where(m.SignalEdit.update_id == update_id)
        )
        if record is not None:
            record.outcome, record.applied_at = status, at
        signal = None if row.signal_id is None else await session.get(m.Signal, row.signal_id)
        if signal is not None and status == APPLIED:
            stop = changes.get("stop_loss")
            if isinstance(stop, list) and len(stop) == 2 and _level(stop[1]) is not None:
                signal.stop_loss = _level(stop[1])
            targets = changes.get("take_profits")
            if isinstance(targets, list) and len(targets) == 2 and isinstance(targets[1], list):
                signal.take_profits = [str(t) for t in targets[1]]
        return EditApplied(status, row.signal_id, touched)
