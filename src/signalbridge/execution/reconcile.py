"""Start-up reconciliation: compare what the database says with what each venue says.

A process that died (or a venue that changed things while we were away) leaves the two
disagreeing. For every active execution connection this compares our unsettled and resting
orders and our open positions with the venue's open orders, order lookups by client order
id and positions. What can be repaired is (fills, cancels, unknown ``sending`` rows settled
by the engine's settle rule); what cannot is flagged. Either way an execution log row says
what and why. Orders without our client-id prefix are never touched.

:class:`OrderLookup` is the one-order form of the same question, asked whenever an order's
outcome is unknown: the venue is asked by client order id before anything is sent again,
and, where the adapter can list trades, a second way too (:mod:`absence`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.execution.absence import UNSURE_LIMIT, prove_absent
from signalbridge.execution.outcomes import Outcomes
from signalbridge.execution.pool import AdapterPool, Connected
from signalbridge.execution.recorder import log_row, venue_summary
from signalbridge.execution.rows import OrderSnapshot, order_role
from signalbridge.integrations.errors import IntegrationError, OrderNotFound
from signalbridge.store import models as m
from signalbridge.venues.base import DEFAULT_PREFIX, VenueOrder, VenuePosition, is_ours

log = structlog.get_logger("signalbridge.reconcile")

_WATCHED = (
    m.OrderStatus.PENDING,
    m.OrderStatus.SENDING,
    m.OrderStatus.OPEN,
    m.OrderStatus.PARTIALLY_FILLED,
)
_TRACKED = (m.OrderStatus.OPEN, m.OrderStatus.PARTIALLY_FILLED)


class OrderLookup:
    """Asks the venue for one order by its client order id and records what it says."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        pool: AdapterPool,
        outcomes: Outcomes,
        *,
        settle: timedelta,
        now: Callable[[], datetime],
        unsure_limit: timedelta = UNSURE_LIMIT,
    ) -> None:
        self._sessions = sessions
        self._pool = pool
        self._outcomes = outcomes
        self._settle = settle
        self._now = now
        self._unsure_limit = unsure_limit

    async def reconcile(self, order_id: int, *, force: bool = False) -> bool:
        """Ask the venue for an order whose outcome we do not know, by client order id.

        Returns whether the venue knows the order. "Not found" inside the settle window
        changes nothing (the venue may simply not show it yet); only after the window, and
        only when a second source proves it absent too (:func:`.absence.prove_absent`), is
        a ``sending`` order put back to ``pending`` (to be sent again with the same id). A
        network error is never taken for "not found".
        """
        async with self._sessions() as session:
            order = await session.get_one(m.Order, order_id)
            execution = await session.get_one(m.Execution, order.execution_id)
            snapshot = OrderSnapshot.of(order, execution.signal_id)
        if snapshot.status not in (m.OrderStatus.SENDING, *_TRACKED):
            return snapshot.status not in m.OrderStatus.UNSETTLED
        try:
            live = await self._pool.get(snapshot.connection_id)
            venue_order = await live.read(
                lambda: live.adapter.fetch_order(
                    snapshot.symbol, snapshot.client_order_id, order_role(snapshot.leg)
                )
            )
        except OrderNotFound:
            sent_at = snapshot.sent_at or self._now()
            if snapshot.status == m.OrderStatus.SENDING and (self._now() - sent_at >= self._settle):
                return await self._after_window(live, snapshot, self._now() - sent_at)
            if not force:
                await self._outcomes.note(
                    snapshot.execution_id, "order_not_found_yet", order_id=order_id
                )
            return False
        except IntegrationError as exc:
            # A network error is not "not found": keep tracking, try again later.
            await self._outcomes.note(
                snapshot.execution_id, "lookup_failed", order_id=order_id, reason=exc.message
            )
            return False
        await self._outcomes.as_venue_says(order_id, venue_order)
        return True

    async def _after_window(
        self, live: Connected, snapshot: OrderSnapshot, unsure_for: timedelta
    ) -> bool:
        """Not found after the settle window: sent again only when the account's trades and
        open orders show nothing that may be it; else kept unsure (flagged after a while)."""
        try:
            proof = await prove_absent(live, self._sessions, snapshot)
        except IntegrationError as exc:  # nothing proven: keep the order, ask again later
            await self._outcomes.note(
                snapshot.execution_id,
                "lookup_failed",
                order_id=snapshot.order_id,
                reason=f"second proof of absence: {exc.message}",
            )
            return False
        if proof.listed is not None:
            await self._outcomes.as_venue_says(snapshot.order_id, proof.listed, reason=proof.reason)
            return True
        if proof.absent:
            await self._outcomes.unsent(
                snapshot, f"venue does not know the order after the settle window; {proof.reason}"
            )
            return False
        log.warning(
            "order_unsure",
            order_id=snapshot.order_id,
            client_order_id=snapshot.client_order_id,
            reason=proof.reason,
        )
        await self._outcomes.unsure(snapshot, proof.reason, flag=unsure_for >= self._unsure_limit)
        return False


class Desk(Protocol):
    """What start-up reconciliation needs of the engine (:class:`ExecutionEngine`)."""

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]: ...

    @property
    def pool(self) -> AdapterPool: ...

    async def reconcile(self, order_id: int, *, force: bool = False) -> bool: ...

    async def apply_venue_order(
        self, order_id: int, venue_order: VenueOrder, *, reason: str | None = None
    ) -> tuple[str, str]: ...


@dataclass(frozen=True, slots=True)
class Finding:
    """One difference between the database and a venue, and what was done about it."""

    connection_id: int
    action: str  # the execution log action
    reason: str
    order_id: int | None = None
    client_order_id: str | None = None


@dataclass
class ReconcileReport:
    connections: int = 0
    repaired: list[Finding] = field(default_factory=list)
    flagged: list[Finding] = field(default_factory=list)
    foreign_orders: int = 0
    failed_connections: list[int] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        return [*self.repaired, *self.flagged]


async def reconcile_all(
    engine: Desk,
    *,
    prefix: str = DEFAULT_PREFIX,
    connection_ids: Iterable[int] | None = None,
) -> ReconcileReport:
    """Reconcile every active execution connection (or the given ones). Idempotent."""
    async with engine.sessions() as session:
        query = select(m.ExecutionConnection.id).where(m.ExecutionConnection.is_active.is_(True))
        if connection_ids is not None:
            query = query.where(m.ExecutionConnection.id.in_(list(connection_ids)))
        ids = (await session.scalars(query.order_by(m.ExecutionConnection.id))).all()
    report = ReconcileReport()
    for connection_id in ids:
        report.connections += 1
        try:
            await ConnectionReconciler(engine, connection_id, prefix, report).run()
        except IntegrationError as exc:
            # The venue cannot be asked now: nothing is changed, the difference waits.
            report.failed_connections.append(connection_id)
            await _write(
                engine,
                report.flagged,
                Finding(connection_id, "reconcile_failed", f"venue unavailable: {exc.message}"),
            )
    log.info(
        "reconciled",
        connections=report.connections,
        repaired=len(report.repaired),
        flagged=len(report.flagged),
        foreign=report.foreign_orders,
    )
    return report


class ConnectionReconciler:
    def __init__(
        self, engine: Desk, connection_id: int, prefix: str, report: ReconcileReport
    ) -> None:
        self.engine = engine
        self.connection_id = connection_id
        self.prefix = prefix
        self.report = report

    async def run(self) -> None:
        live = await self.engine.pool.get(self.connection_id)
        async with self.engine.sessions() as session:
            rows = (
                await session.scalars(
                    select(m.Order)
                    .where(
                        m.Order.connection_id == self.connection_id,
                        m.Order.status.in_(_WATCHED),
                    )
                    .order_by(m.Order.id)
                )
            ).all()
            known = set(
                (
                    await session.scalars(
                        select(m.Order.client_order_id).where(
                            m.Order.connection_id == self.connection_id
                        )
                    )
                ).all()
            )
        venue_open = await live.read(lambda: live.adapter.fetch_open_orders())
        by_client = {o.client_order_id: o for o in venue_open if o.client_order_id}
        for row in rows:
            await self._order(live, row, by_client.get(row.client_order_id))
        for vo in venue_open:
            if not is_ours(vo.client_order_id, self.prefix):
                self.report.foreign_orders += 1  # not ours: left alone, not even logged
            elif vo.client_order_id not in known:
                await self._flag(
                    "reconcile_orphan_order",
                    f"the venue has our order {vo.client_order_id} ({vo.symbol} {vo.side.value} "
                    f"{vo.amount}, {vo.status.value}) but no row exists",
                    client_order_id=vo.client_order_id,
                    response=venue_summary(vo),
                )
        if live.adapter.capabilities.futures:
            positions = await live.read(live.adapter.fetch_positions)
            await self._positions(positions)

    async def _order(self, live: Connected, row: m.Order, listed: VenueOrder | None) -> None:
        engine = self.engine
        if row.status == m.OrderStatus.PENDING:
            if listed is not None:  # cannot happen unless state was lost: take the venue's
                await self._apply(row, listed, "a pending intent is open on the venue")
            return  # certainly never sent: the engine sends it when the sweeper runs it
        if row.status == m.OrderStatus.SENDING:
            if listed is not None:
                await self._apply(row, listed, "outcome was unknown; the venue has it open")
                return
            found = await engine.reconcile(row.id, force=True)
            async with engine.sessions() as session:
                after = await session.scalar(select(m.Order.status).where(m.Order.id == row.id))
            if found:
                why = f"outcome was unknown; the venue knows it ({after})"
                await self._note(self.report.repaired, "reconcile_repaired", why, row)
            elif after == m.OrderStatus.PENDING:
                why = "the venue does not know it after the settle window: it will be sent again"
                await self._note(self.report.repaired, "reconcile_repaired", why, row)
            else:
                why = (
                    "outcome unknown: the venue does not show it yet (settle window), or its "
                    "trades or open orders may hold it (not sent again)"
                )
                await self._flag("reconcile_unsettled", why, row=row)
            return
        # open or partially filled in the database
        if listed is not None:
            if listed.filled != row.filled or _status(listed) != row.status:
                await self._apply(row, listed, "fills happened while we were away")
            return
        try:
            role = order_role(row.leg)
            vo = await live.read(
                lambda: live.adapter.fetch_order(row.symbol, row.client_order_id, role)
            )
        except OrderNotFound:
            await self._flag(
                "reconcile_missing_on_venue",
                f"the database tracks {row.client_order_id} as {row.status} but the venue "
                "does not know it",
                row=row,
            )
            return
        await self._apply(row, vo, f"no longer open on the venue: {vo.status.value}")

    async def _apply(self, row: m.Order, vo: VenueOrder, why: str) -> None:
        before, after = await self.engine.apply_venue_order(row.id, vo, reason=why)
        if before != after or vo.filled != row.filled:
            await self._note(
                self.report.repaired, "reconcile_repaired", f"{why}; {before} -> {after}", row
            )

    async def _positions(self, venue: list[VenuePosition]) -> None:
        async with self.engine.sessions() as session:
            ours = (
                await session.scalars(
                    select(m.Position).where(
                        m.Position.connection_id == self.connection_id,
                        m.Position.status == m.PositionStatus.OPEN,
                    )
                )
            ).all()
        held: dict[tuple[str, str], Decimal] = {}
        for p in ours:
            key = (p.symbol, p.side)
            held[key] = held.get(key, Decimal(0)) + p.amount
        on_venue = {(p.symbol, p.side.value): p for p in venue}
        for key, vp in on_venue.items():
            if key not in held:
                await self._flag(
                    "reconcile_position_unknown",
                    f"the venue holds a {key[1]} {key[0]} position of {vp.amount} that no row "
                    "explains (opened outside SignalBridge?); left alone",
                )
            elif held[key] != vp.amount:
                await self._flag(
                    "reconcile_position_mismatch",
                    f"{key[1]} {key[0]}: the database holds {held[key]}, the venue {vp.amount}",
                )
        for key, amount in held.items():
            if key not in on_venue:
                await self._flag(
                    "reconcile_position_missing",
                    f"the database holds a {key[1]} {key[0]} position of {amount}; the venue "
                    "has none (closed outside SignalBridge or liquidated?)",
                )

    async def _flag(
        self,
        action: str,
        reason: str,
        *,
        row: m.Order | None = None,
        client_order_id: str | None = None,
        response: dict[str, object] | None = None,
    ) -> None:
        await self._note(
            self.report.flagged,
            action,
            reason,
            row,
            client_order_id=client_order_id,
            response=response,
        )

    async def _note(
        self,
        into: list[Finding],
        action: str,
        reason: str,
        row: m.Order | None,
        *,
        client_order_id: str | None = None,
        response: dict[str, object] | None = None,
    ) -> None:
        finding = Finding(
            self.connection_id,
            action,
            reason,
            order_id=row.id if row is not None else None,
            client_order_id=row.client_order_id if row is not None else client_order_id,
        )
        await _write(
            self.engine,
            into,
            finding,
            execution_id=row.execution_id if row is not None else None,
            response=response,
        )


def _status(vo: VenueOrder) -> str:
    return vo.status.value


async def _write(
    engine: Desk,
    into: list[Finding],
    finding: Finding,
    *,
    execution_id: int | None = None,
    response: dict[str, object] | None = None,
) -> None:
    into.append(finding)
    async with engine.sessions() as session, session.begin():
        await _add_log(session, finding, execution_id, response)


async def _add_log(
    session: AsyncSession,
    finding: Finding,
    execution_id: int | None,
    response: dict[str, object] | None,
) -> None:
    session.add(
        log_row(
            execution_id,
            finding.action,
            order_id=finding.order_id,
            reason=finding.reason,
            request={
                "connection_id": finding.connection_id,
                "client_order_id": finding.client_order_id,
            },
            response=dict(response) if response is not None else None,
        )
    )
