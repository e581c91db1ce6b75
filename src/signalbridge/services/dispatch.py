"""Signal → one execution per active follow of its channel, exactly once per connection.

:func:`open_executions` is the one place executions are created: the intake calls it in
the transaction that stores an accepted signal, the dispatch task (queued by the demo or
the sweeper) for a signal stored without them.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.store import models as m
from signalbridge.store.db import insert_ignore_many
from signalbridge.store.types import utcnow


async def open_executions(session: AsyncSession, signal: m.Signal) -> list[int]:
    """Mark an accepted signal dispatched and write its executions, in the caller's
    transaction; returns the new execution ids (none for a signal not ``accepted``).

    A signal not yet flushed is inserted already ``dispatched`` (one statement, the
    intake's case); a stored one is updated.
    """
    if signal.status != m.SignalStatus.ACCEPTED:
        return []
    signal.status = m.SignalStatus.DISPATCHED
    signal.dispatched_at = utcnow()
    await session.flush()
    return await _create_executions(session, signal.id, signal.channel_id)


async def _create_executions(session: AsyncSession, signal_id: int, channel_id: int) -> list[int]:
    """Write the signal's executions; returns the new ids.

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
        await open_executions(session, signal)
        rows = await session.scalars(
            select(m.Execution.id)
            .where(
                m.Execution.signal_id == signal_id,
                m.Execution.status.in_(m.ExecutionStatus.NOT_STARTED),
            )
            .order_by(m.Execution.id)
        )
        return list(rows.all())
