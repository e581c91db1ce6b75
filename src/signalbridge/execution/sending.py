"""Sending written intents to the venue, exactly once, and recording what happened.

Sending first moves the row to ``sending`` in its own transaction (the fan-out path writes
its intents as ``sending`` directly), so whatever happens next (timeout, reset, SIGKILL)
the row says an order *may* exist. A failed POST is refused before the venue (back to
``pending``), rejected, or unknown: an unknown one is looked up by its client order id
(:class:`~signalbridge.execution.reconcile.OrderLookup`) before anything else is done.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.execution.outcomes import Answer, Outcomes, elapsed_ms
from signalbridge.execution.pool import AdapterPool, Connected
from signalbridge.execution.reconcile import OrderLookup
from signalbridge.execution.recorder import mark_stage
from signalbridge.execution.rows import OrderSnapshot
from signalbridge.integrations.errors import (
    CircuitOpen,
    ConnectionDisabled,
    IntegrationError,
    InvalidRequest,
    RateLimited,
)
from signalbridge.store import models as m
from signalbridge.venues.base import VenueOrder


class SendHooks(Protocol):
    """Observation points around the one irreversible step (the POST of an order).

    The public seam for watching that step from outside: production runs with
    :class:`NoHooks`; the fan-out benchmark times the last POST and answer with it, and
    crash tests stop the process at a named point, so the engine has no test-only branches.
    """

    async def before_post(self, order_id: int) -> None:
        """The intent is committed as ``sending``; the request is not sent yet."""

    async def after_answer(self, order_id: int, venue_order: VenueOrder) -> None:
        """The venue answered; what it said is not committed yet."""


class NoHooks:
    """The hooks of a production engine: nothing is observed."""

    async def before_post(self, order_id: int) -> None:
        return None

    async def after_answer(self, order_id: int, venue_order: VenueOrder) -> None:
        return None


class OrderDesk(Protocol):
    """What exits, protective orders and cancels need to have an order sent or looked up
    (the engine is one)."""

    #: How long the venue may take to show an order it accepted.
    settle: timedelta

    async def place(self, order_id: int) -> None: ...

    async def reconcile(self, order_id: int, *, force: bool = False) -> bool: ...


class Sender:
    """Claims, POSTs and records orders whose intents are written."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        pool: AdapterPool,
        outcomes: Outcomes,
        lookup: OrderLookup,
        *,
        hooks: SendHooks,
        concurrency: int,
        now: Callable[[], datetime],
    ) -> None:
        self._sessions = sessions
        self._pool = pool
        self._outcomes = outcomes
        self._lookup = lookup
        self._now = now
        self.hooks = hooks
        self.concurrency = concurrency

    async def place(self, order_id: int) -> None:
        """Send one order if it was never sent; otherwise reconcile it with the venue."""
        now = self._now()
        async with self._sessions() as session, session.begin():
            # The claim is one conditional UPDATE: of two racing workers only one wins, on
            # SQLite and PostgreSQL alike, so only one of them ever POSTs.
            claimed = (
                await session.execute(
                    update(m.Order)
                    .where(m.Order.id == order_id, m.Order.status == m.OrderStatus.PENDING)
                    .values(status=m.OrderStatus.SENDING, updated_at=now)
                )
            ).rowcount == 1  # type: ignore[attr-defined]
            order = await session.get_one(m.Order, order_id)
            execution = await session.get_one(m.Execution, order.execution_id)
            resend = claimed and order.sent_at is not None
            if claimed:
                order.sent_at = now
                await mark_stage(session, execution.signal_id, "order_sent_at", now)
            snapshot = OrderSnapshot.of(order, execution.signal_id)
        if not claimed:
            if snapshot.status == m.OrderStatus.SENDING:
                await self._lookup.reconcile(order_id)
            return
        try:
            live = await self._pool.get(snapshot.connection_id)
        except IntegrationError as exc:
            await self._outcomes.unsent(snapshot, exc.message)
            return
        await self.post(live, snapshot, resend=resend)

    async def post(self, live: Connected, snapshot: OrderSnapshot, *, resend: bool) -> None:
        """POST one claimed (``sending``) order and record the outcome."""
        order_id = snapshot.order_id
        await self.hooks.before_post(order_id)
        started = time.perf_counter()
        try:
            venue_order = await live.write(lambda: live.adapter.create_order(snapshot.request()))
        except BaseException as exc:
            await self.failed(snapshot, exc, started, resend=resend)
            return
        await self.hooks.after_answer(order_id, venue_order)
        await self._outcomes.placed([(snapshot, venue_order, started)])

    async def post_many(self, sends: Sequence[tuple[Connected, OrderSnapshot]]) -> None:
        """POST committed ``sending`` intents concurrently (bounded); record every answer in
        one commit; failures are handled one by one, as on the single path."""
        sem = asyncio.Semaphore(self.concurrency)
        answered: list[Answer] = []
        failed: list[tuple[OrderSnapshot, BaseException, float]] = []

        async def send(live: Connected, snapshot: OrderSnapshot) -> None:
            async with sem:
                await self.hooks.before_post(snapshot.order_id)
                started = time.perf_counter()
                try:
                    venue_order = await live.write(
                        lambda: live.adapter.create_order(snapshot.request())
                    )
                except IntegrationError as exc:
                    failed.append((snapshot, exc, started))
                    return
                await self.hooks.after_answer(snapshot.order_id, venue_order)
                answered.append((snapshot, venue_order, started))

        await asyncio.gather(*(send(live, s) for live, s in sends))
        if answered:
            await self._outcomes.placed(answered)
        for snapshot, exc, started in failed:
            await self.failed(snapshot, exc, started, resend=False)

    async def failed(
        self, snapshot: OrderSnapshot, exc: BaseException, started: float, *, resend: bool
    ) -> None:
        """What a failed POST means: refused before the venue, rejected, or unknown."""
        if not isinstance(exc, IntegrationError):
            raise exc
        if isinstance(exc, RateLimited | CircuitOpen | ConnectionDisabled):
            await self._outcomes.unsent(snapshot, exc.message)  # refused before the venue
            return
        if isinstance(exc, InvalidRequest) and not resend:
            await self._outcomes.rejected(snapshot, exc.message, started)
            return
        # Unknown outcome, or a refusal of a second attempt (e.g. "duplicate client order
        # id": the first attempt may exist after all): ask the venue before anything else.
        await self._outcomes.note(
            snapshot.execution_id,
            "order_outcome_unknown",
            order_id=snapshot.order_id,
            reason=exc.message,
            latency_ms=elapsed_ms(started),
        )
        found = await self._lookup.reconcile(snapshot.order_id, force=True)
        if not found and isinstance(exc, InvalidRequest):
            await self._outcomes.rejected(snapshot, exc.message, started)
