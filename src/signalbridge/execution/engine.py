"""Turning an execution into orders on the venue, exactly once.

Every order's intent is written (``pending``, with a deterministic client order id) before
it is sent (:mod:`intents`). Sending first moves the row to ``sending`` in its own
transaction (:mod:`sending`), so whatever happens next (timeout, reset, SIGKILL) the row
says an order *may* exist. Such an order is looked up by its client order id before
anything else is done (:mod:`reconcile`); it is sent again (with the same id) only when the
venue still does not know it after a settle window and, on venues that keep a client id
unique only among open orders, neither its trades nor its open orders since the intent
show anything that could be it (:mod:`absence`).

:class:`ExecutionEngine` is the face the workers, the monitor and the exit desks use; the
work is done by the modules it composes: :mod:`decide` (market reads and the plan),
:mod:`intents`, :mod:`sending`, :mod:`outcomes`, :mod:`settlement` and :mod:`batch`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.execution.analyst_gate import hold
from signalbridge.execution.batch import BatchPlacer
from signalbridge.execution.decide import decide, opposite_open
from signalbridge.execution.intents import Planned, write_plans
from signalbridge.execution.outcomes import Outcomes
from signalbridge.execution.planner import Skip, Wait
from signalbridge.execution.pool import AdapterPool
from signalbridge.execution.reconcile import OrderLookup
from signalbridge.execution.rows import signal_from_row
from signalbridge.execution.sending import NoHooks, Sender, SendHooks
from signalbridge.execution.settlement import end_pending
from signalbridge.integrations.errors import (
    CircuitOpen,
    ConnectionDisabled,
    IntegrationError,
    InvalidRequest,
    RateLimited,
    SymbolNotListed,
)
from signalbridge.store import models as m
from signalbridge.store.types import utcnow
from signalbridge.venues.base import VenueOrder


class ExecutionEngine:
    """Plans executions and places, sends and looks up their orders.

    ``hooks`` observe the POST of every order (:class:`~.sending.SendHooks`); the default
    observes nothing.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        pool: AdapterPool,
        *,
        settle_seconds: float = 30.0,
        now: Callable[[], datetime] = utcnow,
        hooks: SendHooks | None = None,
        concurrency: int = 64,
    ) -> None:
        self._sessions = sessions
        self._pool = pool
        self._now = now
        self.concurrency = concurrency
        #: How long the venue may take to show an order it accepted (ORDER_SETTLE_SECONDS).
        self.settle = timedelta(seconds=settle_seconds)
        self._outcomes = Outcomes(sessions, now)
        self._lookup = OrderLookup(sessions, pool, self._outcomes, settle=self.settle, now=now)
        self._sender = Sender(
            sessions,
            pool,
            self._outcomes,
            self._lookup,
            hooks=hooks if hooks is not None else NoHooks(),
            concurrency=concurrency,
            now=now,
        )
        self._batch = BatchPlacer(sessions, pool, self._sender, now=now, concurrency=concurrency)

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self._sessions

    @property
    def pool(self) -> AdapterPool:
        return self._pool

    @property
    def hooks(self) -> SendHooks:
        """What observes the POST of every order (see :class:`~.sending.SendHooks`)."""
        return self._sender.hooks

    @hooks.setter
    def hooks(self, hooks: SendHooks) -> None:
        self._sender.hooks = hooks

    def now(self) -> datetime:
        return self._now()

    async def run_many(self, execution_ids: Sequence[int]) -> None:
        """Run many executions (a signal's fan-out) with batched database work.

        Pending executions are planned together, their intents written as ``sending`` in one
        commit before any POST, and the orders sent concurrently (bounded); answers are
        recorded in one commit. Executions that were already planned take the single path.
        """
        done = await self._batch.run(list(execution_ids))
        rest = [e for e in execution_ids if e not in done]
        sem = asyncio.Semaphore(self.concurrency)

        async def one(execution_id: int) -> None:
            async with sem:
                await self.run(execution_id)

        await asyncio.gather(*(one(e) for e in rest))

    async def run(self, execution_id: int) -> None:
        """Plan (once) and place every unsettled order of one execution. Idempotent."""
        await self.plan(execution_id)
        async with self._sessions() as session:
            order_ids = (
                await session.scalars(
                    select(m.Order.id)
                    .where(
                        m.Order.execution_id == execution_id,
                        m.Order.status.in_(m.OrderStatus.UNSETTLED),
                    )
                    .order_by(m.Order.id)
                )
            ).all()
        for order_id in order_ids:
            await self.place(order_id)

    async def plan(self, execution_id: int) -> None:
        """Decide a pending execution's orders and write them as ``pending`` intents, or
        skip it, or leave it pending (deferred); nothing is sent. Idempotent."""
        async with self._sessions() as session:
            execution = await session.get(m.Execution, execution_id)
            if execution is None or execution.status != m.ExecutionStatus.PENDING:
                return
            signal_row = await session.get_one(m.Signal, execution.signal_id)
            follow = await session.get_one(m.Follow, execution.follow_id)
            held = await hold(session, signal_row, follow, self._now())
        if isinstance(held, Skip):
            await self._skip(execution_id, held.reason)
            return
        if isinstance(held, Wait):  # left pending: the analysis task queues it again
            await self._outcomes.note(execution_id, "plan_deferred", reason=held.reason)
            return
        try:
            live = await self._pool.get(execution.connection_id)
        except ConnectionDisabled as exc:
            await self._skip(execution_id, exc.message)
            return
        opposite = False
        if live.adapter.capabilities.nets_positions:  # the only venues where it matters
            key = (execution.connection_id, signal_row.symbol, signal_row.side)
            async with self._sessions() as session:
                opposite = bool(await opposite_open(session, [key]))
        signal = signal_from_row(signal_row)
        try:
            outcome = await decide(
                live,
                signal,
                signal_row.received_at,
                follow,
                now=self._now,
                opposite=opposite,
                sessions=self._sessions,
            )
        except (SymbolNotListed, InvalidRequest) as exc:
            await self._skip(execution_id, exc.message)
            return
        except (CircuitOpen, RateLimited, IntegrationError) as exc:
            # Nothing was sent: the execution stays pending and the sweeper retries it.
            await self._outcomes.note(execution_id, "plan_deferred", reason=exc.message)
            return
        if isinstance(outcome, str):
            await self._skip(execution_id, outcome)
            return
        if isinstance(outcome, Wait):
            await self._outcomes.note(execution_id, "plan_deferred", reason=outcome.reason)
            return
        async with self._sessions() as session, session.begin():
            planned = Planned(execution_id, signal_row, live, outcome)
            await write_plans(session, [planned], self._now(), sending=False)

    async def place(self, order_id: int) -> None:
        """Send one order if it was never sent; otherwise reconcile it with the venue."""
        await self._sender.place(order_id)

    async def reconcile(self, order_id: int, *, force: bool = False) -> bool:
        """Ask the venue for an order by client order id; whether the venue knows it
        (see :meth:`~.reconcile.OrderLookup.reconcile`: the settle window applies)."""
        return await self._lookup.reconcile(order_id, force=force)

    async def apply_venue_order(
        self, order_id: int, venue_order: VenueOrder, *, reason: str | None = None
    ) -> tuple[str, str]:
        """Record the venue's view of one of our orders; ``(status before, status after)``."""
        return await self._outcomes.as_venue_says(order_id, venue_order, reason=reason)

    async def _skip(self, execution_id: int, reason: str) -> None:
        async with self._sessions() as session, session.begin():
            await end_pending(session, execution_id, m.ExecutionStatus.SKIPPED, reason, self._now())
