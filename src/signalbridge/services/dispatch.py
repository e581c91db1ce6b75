"""Signal → one execution per active follow of its channel, exactly once per connection.

Executions are created in one place, :func:`executions_for`, so a check made there holds
for every path: the intake reaches it through :func:`open_executions` in the transaction
that stores an accepted signal, the dispatch task (queued by the demo or the sweeper) for
a signal stored without them, and a poll's batch (services/batch_intake.py) directly,
its signals inserted already ``dispatched``.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.services.entitlement import skip_unentitled
from signalbridge.store import models as m
from signalbridge.store.db import insert_ignore_many
from signalbridge.store.types import utcnow


async def open_executions(session: AsyncSession, signal: m.Signal) -> list[int]:
    """Mark an accepted signal dispatched and write its executions, in the caller's
    transaction; returns the new execution ids (none for a signal not ``accepted``).

    A signal not yet flushed is inserted already ``dispatched`` (one statement, the
    intake's case); a stored one is updated.
    """
    return (await open_executions_many(session, [signal])).get(signal.id, [])


async def open_executions_many(
    session: AsyncSession, signals: Sequence[m.Signal]
) -> dict[int, list[int]]:
    """:func:`open_executions` for a batch of signals (a poll's posts): one flush, and two
    statements per channel however many signals; returns signal id -> new execution ids."""
    accepted = [s for s in signals if s.status == m.SignalStatus.ACCEPTED]
    if not accepted:
        return {}
    now = utcnow()
    for signal in accepted:
        signal.status = m.SignalStatus.DISPATCHED
        signal.dispatched_at = now
    await session.flush()
    return await executions_for(session, [(s.id, s.channel_id) for s in accepted])


async def executions_for(
    session: AsyncSession, signals: Sequence[tuple[int, int]]
) -> dict[int, list[int]]:
    """Write the executions of signals stored already ``dispatched`` ((signal id, channel
    id) pairs: a poll's batch is inserted so, services/batch_intake.py); returns signal id
    -> new execution ids. Every path that creates executions comes through here."""
    by_channel: dict[int, list[int]] = {}
    for signal_id, channel_id in signals:
        by_channel.setdefault(channel_id, []).append(signal_id)
    created: dict[int, list[int]] = {}
    for channel_id, signal_ids in by_channel.items():
        made = await _create_executions(session, signal_ids, channel_id)
        # A plan-only channel's followers no longer entitled: skipped with the reason.
        created.update(await skip_unentitled(session, channel_id, made))
    return created


async def _create_executions(
    session: AsyncSession, signal_ids: Sequence[int], channel_id: int
) -> dict[int, list[int]]:
    """Write the executions of signals of one channel; returns signal id -> new ids.

    Two statements whatever the number of signals and follows: the follows are read once
    and the executions written with one idempotent multi-row insert keyed by (signal,
    connection). A deactivated connection still gets its execution: the engine ends it
    with the reason recorded, so nothing is dropped silently. A follow paused by hand
    (services/override.py) opens no new entry; its open positions are still managed.
    """
    follows = await session.execute(
        select(m.Follow.id, m.Follow.connection_id)
        .where(
            m.Follow.channel_id == channel_id,
            m.Follow.is_active.is_(True),
            m.Follow.paused_at.is_(None),
        )
        .order_by(m.Follow.id)
    )
    pairs = follows.all()
    rows = [
        {
            "signal_id": signal_id,
            "follow_id": follow_id,
            "connection_id": connection_id,
            "status": m.ExecutionStatus.PENDING,
        }
        for signal_id in signal_ids
        for follow_id, connection_id in pairs
    ]
    created = await insert_ignore_many(
        session, m.Execution, rows, ("signal_id", "connection_id"), returning=("id", "signal_id")
    )
    out: dict[int, list[int]] = {signal_id: [] for signal_id in signal_ids}
    for execution_id, signal_id in created:
        out[signal_id].append(execution_id)
    return {signal_id: sorted(ids) for signal_id, ids in out.items()}


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
