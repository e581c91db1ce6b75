"""The fan-out path: one signal's many executions planned and placed together.

Per execution the single path needs about five commits; here a whole batch shares one
planning commit (skips + claims + ``sending`` intents + log rows) and one recording commit,
and the POSTs in between run concurrently. The exactly-once rule is unchanged: every intent
is committed as ``sending`` before its POST, and anything that goes wrong with one order
falls back to the single-order handling (unsend, reject, or look up by id).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.execution.analyst_gate import analyst_views, gate, gated
from signalbridge.execution.decide import Looks, decide, opposite_open
from signalbridge.execution.intents import Planned, write_plans
from signalbridge.execution.planner import Skip, Wait
from signalbridge.execution.pool import AdapterPool
from signalbridge.execution.recorder import log_row
from signalbridge.execution.rows import signal_from_row
from signalbridge.execution.sending import Sender
from signalbridge.execution.settlement import end_pending
from signalbridge.integrations.errors import (
    ConnectionDisabled,
    IntegrationError,
    InvalidRequest,
    SymbolNotListed,
)
from signalbridge.store import models as m


class BatchPlacer:
    """Plans and places the pending executions of a batch (:meth:`run`)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        pool: AdapterPool,
        sender: Sender,
        *,
        now: Callable[[], datetime],
        concurrency: int,
    ) -> None:
        self._sessions = sessions
        self._pool = pool
        self._sender = sender
        self._now = now
        self._concurrency = concurrency

    async def run(self, execution_ids: list[int]) -> set[int]:
        """Plan and place the pending executions among ``execution_ids``; returns those."""
        # One query for the executions with their signal and follow.
        executions: list[m.Execution] = []
        signals: dict[int, m.Signal] = {}
        follows: dict[int, m.Follow] = {}
        async with self._sessions() as session:
            rows = await session.execute(
                select(m.Execution, m.Signal, m.Follow)
                .join(m.Signal, m.Signal.id == m.Execution.signal_id)
                .join(m.Follow, m.Follow.id == m.Execution.follow_id)
                .where(
                    m.Execution.id.in_(execution_ids),
                    m.Execution.status == m.ExecutionStatus.PENDING,
                )
                .order_by(m.Execution.id)
            )
            for execution, signal_row, follow in rows.all():
                executions.append(execution)
                signals[signal_row.id] = signal_row
                follows[follow.id] = follow
            keys = {
                (x.connection_id, signals[x.signal_id].symbol, signals[x.signal_id].side)
                for x in executions
            }
            opposite = await opposite_open(session, keys)
            # The follows' analyst gate (execution/analyst_gate.py): one read for the batch.
            gates = {x.id: r for x in executions if (r := gated(follows[x.follow_id])) is not None}
            views = await analyst_views(
                session, [signals[x.signal_id] for x in executions if x.id in gates]
            )
        if not executions:
            return set()
        lives = await self._pool.get_many({x.connection_id for x in executions})
        sem = asyncio.Semaphore(self._concurrency)
        skips: list[tuple[int, str]] = []
        deferred: list[tuple[int, str]] = []
        planned: list[Planned] = []
        looks: Looks = {}  # one market read per connection and symbol for the whole batch

        async def one(x: m.Execution) -> None:
            risk = gates.get(x.id)
            held = gate(risk, views[x.signal_id], self._now()) if risk is not None else None
            if held is not None:
                (skips if isinstance(held, Skip) else deferred).append((x.id, held.reason))
                return
            live = lives.get(x.connection_id)
            if isinstance(live, IntegrationError) or live is None:
                reason = live.message if live is not None else "connection missing"
                if isinstance(live, ConnectionDisabled | InvalidRequest) or live is None:
                    skips.append((x.id, reason))
                else:
                    deferred.append((x.id, reason))
                return
            row = signals[x.signal_id]
            async with sem:
                key = (x.connection_id, row.symbol, row.side)
                try:
                    outcome = await decide(
                        live,
                        signal_from_row(row),
                        row.received_at,
                        follows[x.follow_id],
                        now=self._now,
                        opposite=key in opposite,
                        sessions=self._sessions,
                        looks=looks,
                    )
                except (SymbolNotListed, InvalidRequest) as exc:
                    skips.append((x.id, exc.message))
                    return
                except IntegrationError as exc:
                    deferred.append((x.id, exc.message))
                    return
            if isinstance(outcome, str):
                skips.append((x.id, outcome))
            elif isinstance(outcome, Wait):
                deferred.append((x.id, outcome.reason))
            else:
                planned.append(Planned(x.id, row, live, outcome))

        await asyncio.gather(*(one(x) for x in executions))
        now = self._now()
        # One commit: skips, deferrals, claims and every intent as ``sending``; nothing is
        # sent before it.
        async with self._sessions() as session, session.begin():
            for execution_id, reason in skips:
                await end_pending(session, execution_id, m.ExecutionStatus.SKIPPED, reason, now)
            for execution_id, reason in deferred:
                session.add(log_row(execution_id, "plan_deferred", reason=reason))
            sends = await write_plans(session, planned, now, sending=True)
        await self._sender.post_many(sends)
        return {x.id for x in executions}
