"""Order sync: one list of open orders per connection, a lookup only for what it lacks.

Our resting orders (open or partly filled) are compared with ONE ``fetch_open_orders``
(no symbol) per connection instead of one lookup per order. An order the list shows is
recorded as the list says when its fill or state changed. An order the list does not show
may have filled or been cancelled: it alone is looked up by its client order id through
the engine (:meth:`~.reconcile.OrderLookup.reconcile`), so the settle-window rules and the
exactly-once record of fills stay where they are. "Not found" there changes nothing.

A resting stop or target (``s<g>`` / ``t<k>g<g>``) that the lookup shows cancelled
although we did not cancel it was cancelled by hand on the venue. It is marked
(:data:`~.protection.HAND_CANCELLED`) and logged; the follow's ``on_manual_cancel`` says
what follows: ``replace`` (the default) makes the protection rest it again on the next
monitor tick, ``leave`` keeps it off and the monitor enforces its level at market.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol, TypeVar

import structlog
from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.domain.legs import STOP_ROLE, resting_leg
from signalbridge.domain.management import management_settings
from signalbridge.execution.pool import AdapterPool, Connected
from signalbridge.execution.protection import HAND_CANCELLED
from signalbridge.execution.recorder import log_row
from signalbridge.integrations.errors import ConnectionDisabled, IntegrationError
from signalbridge.store import models as m
from signalbridge.venues.base import VenueOrder

log = structlog.get_logger("signalbridge.order_sync")

T = TypeVar("T")
TRACKED = (m.OrderStatus.OPEN, m.OrderStatus.PARTIALLY_FILLED)
_CHUNK = 500


class SyncDesk(Protocol):
    """What the syncs need of the engine (:class:`~.engine.ExecutionEngine` is one)."""

    settle: timedelta

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]: ...

    @property
    def pool(self) -> AdapterPool: ...

    def now(self) -> datetime: ...

    async def reconcile(self, order_id: int, *, force: bool = False) -> bool: ...

    async def apply_venue_order(
        self, order_id: int, venue_order: VenueOrder, *, reason: str | None = None
    ) -> tuple[str, str]: ...


class Forgetful(Protocol):
    """The protection desk's memory of what rests (``ProtectionDesk.forget``)."""

    def forget(self, execution_id: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Watched:
    """One of our resting orders as the database has it."""

    order_id: int
    connection_id: int
    execution_id: int
    client_order_id: str
    symbol: str
    leg: str
    status: str
    filled: Decimal


def changed(row: Watched, listed: VenueOrder) -> bool:
    """Whether the venue's listing says more than our row (a fill, another state)."""
    return listed.filled != row.filled or listed.status.value != row.status


@dataclass
class OrderSyncResult:
    """What syncing one connection's orders did."""

    requests: int = 0
    applied: list[int] = field(default_factory=list)  # changed as the list says
    looked_up: list[int] = field(default_factory=list)  # not listed: asked one by one
    #: Not listed and not confirmed by the lookup (settle window, lookup failed).
    unsure: list[Watched] = field(default_factory=list)
    by_hand: list[int] = field(default_factory=list)  # protective orders cancelled by hand


async def resting_orders(
    session: AsyncSession, connection_ids: Iterable[int] | None = None
) -> dict[int, list[Watched]]:
    """Our resting orders by connection (of these connections, or of all)."""
    query = select(
        m.Order.id,
        m.Order.connection_id,
        m.Order.execution_id,
        m.Order.client_order_id,
        m.Order.symbol,
        m.Order.leg,
        m.Order.status,
        m.Order.filled,
    ).where(m.Order.status.in_(TRACKED))
    queries = [query]
    if connection_ids is not None:
        ids = list(dict.fromkeys(connection_ids))
        queries = [
            query.where(m.Order.connection_id.in_(ids[i : i + _CHUNK]))
            for i in range(0, len(ids), _CHUNK)
        ]
    out: dict[int, list[Watched]] = {}
    for q in queries:
        for row in (await session.execute(q.order_by(m.Order.id))).all():
            watched = Watched(*row)
            out.setdefault(watched.connection_id, []).append(watched)
    return out


class OrderSync:
    """Keeps resting orders in step with their venues, one list per connection."""

    def __init__(
        self,
        desk: SyncDesk,
        guards: Forgetful | None = None,
        *,
        concurrency: int = 16,
        books: asyncio.Lock | None = None,
    ) -> None:
        self.desk = desk
        self.guards = guards
        self._concurrency = concurrency
        #: Held while one connection's answers are compared with the books, never while
        #: the venues are read: the monitor holds it for a tick, so a stop it is cancelling
        #: is settled in the books before a sync judges it, and a slow venue never holds
        #: the monitor back.
        self.books = books if books is not None else asyncio.Lock()

    async def run_once(self) -> int:
        """Sync every connection with resting orders; returns how many orders were seen."""
        async with self.desk.sessions() as session:
            rows = await resting_orders(session)
        lists = await fetch_all(self.desk.pool, rows, open_orders, self._concurrency)
        for connection_id, listed in lists.items():
            if isinstance(listed, ConnectionDisabled):
                continue  # deactivated: its orders wait until it is active again
            if isinstance(listed, IntegrationError):
                log.warning("order sync failed", connection_id=connection_id, error=listed.message)
                continue
            async with self.books:
                await self.apply(rows[connection_id], listed)
        return sum(len(r) for r in rows.values())

    async def apply(self, rows: Sequence[Watched], listed: Sequence[VenueOrder]) -> OrderSyncResult:
        """Diff one connection's resting orders against its open-order list, in memory."""
        result = OrderSyncResult(requests=1)
        by_client = {o.client_order_id: o for o in listed if o.client_order_id}
        missing: list[Watched] = []
        for row in rows:
            vo = by_client.get(row.client_order_id)
            if vo is None:
                missing.append(row)
            elif changed(row, vo):
                await self.desk.apply_venue_order(row.order_id, vo, reason="order sync")
                result.applied.append(row.order_id)
        if not missing:
            return result
        # Settled since the list was read (the monitor cancelled or filled it): the books
        # already know, and a cancel of ours is never taken for one by hand.
        async with self.desk.sessions() as session:
            still = set(
                (
                    await session.scalars(
                        select(m.Order.id).where(
                            m.Order.id.in_([r.order_id for r in missing]),
                            m.Order.status.in_(TRACKED),
                        )
                    )
                ).all()
            )
        missing = [r for r in missing if r.order_id in still]
        known: dict[int, bool] = {}
        for row in missing:  # filled, cancelled, or not shown yet: ask one by one
            known[row.order_id] = await self.desk.reconcile(row.order_id)
            result.requests += 1
            result.looked_up.append(row.order_id)
        async with self.desk.sessions() as session:
            after = dict(
                (
                    await session.execute(
                        select(m.Order.id, m.Order.status).where(
                            m.Order.id.in_([r.order_id for r in missing])
                        )
                    )
                ).all()
            )
        for row in missing:
            status = after.get(row.order_id)
            if not known[row.order_id] or status in TRACKED:
                result.unsure.append(row)
            elif status == m.OrderStatus.CANCELED and resting_leg(row.leg) is not None:
                if await self._by_hand(row):
                    result.by_hand.append(row.order_id)
        return result

    async def _by_hand(self, row: Watched) -> bool:
        """A protective order we did not cancel is gone: mark it and say what follows."""
        now = self.desk.now()
        async with self.desk.sessions() as session, session.begin():
            position = await session.scalar(
                select(m.Position).where(
                    m.Position.execution_id == row.execution_id,
                    m.Position.status == m.PositionStatus.OPEN,
                )
            )
            if position is None:
                return False  # its position is closed: nothing to protect
            raw = await session.scalar(
                select(m.Follow.management)
                .join(m.Execution, m.Execution.follow_id == m.Follow.id)
                .where(m.Execution.id == row.execution_id)
            )
            try:
                choice = management_settings(raw).on_manual_cancel
            except ValidationError:
                choice = "replace"
            marked = await session.execute(
                update(m.Order)
                .where(m.Order.id == row.order_id, m.Order.status == m.OrderStatus.CANCELED)
                .values(error=HAND_CANCELLED)
            )
            if marked.rowcount != 1:  # type: ignore[attr-defined]
                return False
            parsed = resting_leg(row.leg)
            what = "stop" if parsed and parsed[0] == STOP_ROLE else "take-profit"
            then = (
                "it will rest again (on_manual_cancel: replace)"
                if choice == "replace"
                else "left off; the monitor enforces the level at market (on_manual_cancel: leave)"
            )
            session.add(
                log_row(
                    row.execution_id,
                    "manual_cancel_noticed",
                    order_id=row.order_id,
                    reason=f"the resting {what} {row.client_order_id} was cancelled on the "
                    f"venue, not by SignalBridge; {then}",
                    request={"connection_id": row.connection_id, "on_manual_cancel": choice},
                )
            )
            # The monitor reloads a position whose row changed and brings its resting
            # orders in line (protection places the successor, or leaves it off).
            position.updated_at = now
        if self.guards is not None:
            self.guards.forget(row.execution_id)
        return True


async def open_orders(live: Connected) -> list[VenueOrder]:
    """The connection's open orders on every symbol: one guarded read."""
    return await live.read(lambda: live.adapter.fetch_open_orders())


async def fetch_all(
    pool: AdapterPool,
    connection_ids: Iterable[int],
    read: Callable[[Connected], Awaitable[T]],
    concurrency: int,
) -> dict[int, T | IntegrationError]:
    """``read`` (guarded venue calls) for each connection, ``concurrency`` at a time; an
    error is returned in place of its answer."""
    ids = list(connection_ids)
    lives = await pool.get_many(ids)
    sem = asyncio.Semaphore(concurrency)

    async def one(connection_id: int) -> T | IntegrationError:
        live = lives[connection_id]
        if isinstance(live, IntegrationError):
            return live
        async with sem:
            try:
                return await read(live)
            except IntegrationError as exc:
                return exc

    found = await asyncio.gather(*(one(c) for c in ids))
    return dict(zip(ids, found, strict=True))
