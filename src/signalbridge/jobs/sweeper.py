"""Finds rows stuck in a non-final state and queues their task again.

The queue may lose a task (a killed process, a broker restart); the database never does.
This is what makes "at least once" true for every step of the pipeline.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.integrations.queue import APPLY_UPDATE, DISPATCH_SIGNAL, RUN_EXECUTION, TaskQueue
from signalbridge.services.ai_analysis import ANALYSE_SIGNAL, lost_analyses
from signalbridge.services.ai_parsing import AI_PARSE, lost_parses
from signalbridge.services.override import RESUME_ACTION, stale_actions
from signalbridge.store import models as m
from signalbridge.store.types import utcnow


async def sweep(
    sessions: async_sessionmaker[AsyncSession],
    queue: TaskQueue,
    *,
    stuck_after: timedelta,
    now: datetime | None = None,
    limit: int = 500,
) -> int:
    """Re-queue stuck signals, executions, provider updates, AI parses, market analyses and
    manual actions; returns how many tasks were queued. An update still ``received``
    (neither applied, nor waiting for review) lost its task: applying is idempotent, so
    queuing it again is safe."""
    cutoff = (now or utcnow()) - stuck_after
    async with sessions() as session:
        signal_ids = (
            await session.scalars(
                select(m.Signal.id)
                .where(m.Signal.status == m.SignalStatus.ACCEPTED, m.Signal.received_at <= cutoff)
                .order_by(m.Signal.id)
                .limit(limit)
            )
        ).all()
        stuck_orders = select(m.Order.execution_id).where(
            m.Order.status.in_(m.OrderStatus.UNSETTLED), m.Order.updated_at <= cutoff
        )
        execution_ids = (
            await session.scalars(
                select(m.Execution.id)
                .where(
                    or_(
                        m.Execution.status.in_(m.ExecutionStatus.NOT_STARTED)
                        & (m.Execution.updated_at <= cutoff),
                        m.Execution.id.in_(stuck_orders),
                    )
                )
                .order_by(m.Execution.id)
                .limit(limit)
            )
        ).all()
        update_ids = (
            await session.scalars(
                select(m.SignalUpdate.id)
                .where(m.SignalUpdate.status == "received", m.SignalUpdate.created_at <= cutoff)
                .order_by(m.SignalUpdate.id)
                .limit(limit)
            )
        ).all()
        # AI parses never recorded (or claimed by a worker that died): services/ai_parsing.py
        ai_message_ids = await lost_parses(session, cutoff=cutoff, limit=limit)
        # market analyses claimed by a worker that died: services/ai_analysis.py
        analysis_signal_ids = await lost_analyses(session, cutoff=cutoff, limit=limit)
        # manual actions (services/override.py) whose worker died before they finished
        action_ids = await stale_actions(session, cutoff, limit)
    for signal_id in signal_ids:
        await queue.enqueue(DISPATCH_SIGNAL, signal_id)
    for execution_id in execution_ids:
        await queue.enqueue(RUN_EXECUTION, execution_id)
    for update_id in update_ids:
        await queue.enqueue(APPLY_UPDATE, update_id)
    for message_id in ai_message_ids:
        await queue.enqueue(AI_PARSE, message_id)
    for signal_id in analysis_signal_ids:
        await queue.enqueue(ANALYSE_SIGNAL, signal_id)
    for action_id in action_ids:
        await queue.enqueue(RESUME_ACTION, action_id)
    queued = (
        signal_ids,
        execution_ids,
        update_ids,
        ai_message_ids,
        analysis_signal_ids,
        action_ids,
    )
    return sum(len(ids) for ids in queued)
