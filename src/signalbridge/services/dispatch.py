"""Signal → one execution per active follow of its channel, exactly once per connection."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.store import models as m
from signalbridge.store.db import insert_ignore_many
from signalbridge.store.types import utcnow


async def create_executions(session: AsyncSession, signal_id: int, channel_id: int) -> list[int]:
    """Write the signal's executions in the caller's transaction; returns the new ids.

    Two statements whatever the number of follows: the follows are read once and the
    executions written with one idempotent multi-row insert keyed by (signal, connection).
    A deactivated connection still gets its execution: the engine ends it with the reason
    recorded, so nothing is dropped silently.
    """
    follows = await session.execute(
        select(m.Follow.id, m.Follow.connection_id)
        .where(m.Follow.channel_id == channel_id, m.Follow.is_active.is_(True))
        .order_by(m.Follow.id)
    )
    rows = [
        {
            "signal_id": signal_id,
            "follow_id": follow_id,
            "connection_id": connection_id,
            "status": m.ExecutionStatus.PENDING,
        }
        for follow_id, connection_id in follows.all()
    ]
    created = await insert_ignore_many(session, m.Execution, rows, ("signal_id", "connection_id"))
    return sorted(created)


async def dispatch_signal(sessions: async_sessionmaker[AsyncSession], signal_id: int) -> list[int]:
    """Create the executions of an accepted signal; returns the ids that still need work.

    Safe to run any number of times: executions are keyed by (signal, connection), and a
    second run only returns the executions that have not finished yet.
    """
    async with sessions() as session, session.begin():
        signal = await session.get(m.Signal, signal_id)
        if signal is None or signal.status not in (
            m.SignalStatus.ACCEPTED,
            m.SignalStatus.DISPATCHED,
        ):
            return []
        if signal.status == m.SignalStatus.ACCEPTED:
            await create_executions(session, signal_id, signal.channel_id)
            await session.execute(
                update(m.Signal)
                .where(m.Signal.id == signal_id)
                .values(status=m.SignalStatus.DISPATCHED, dispatched_at=utcnow())
            )
        rows = await session.scalars(
            select(m.Execution.id)
            .where(
                m.Execution.signal_id == signal_id,
                m.Execution.status.in_(m.ExecutionStatus.NOT_STARTED),
            )
            .order_by(m.Execution.id)
        )
        return list(rows.all())
