"""The position monitor: prices in batches, an index of trigger levels, exit orders once.

Every tick fetches one ticker batch per connection (all its symbols in one
``fetch_tickers``), then asks an in-memory index (:mod:`position_index`) which positions
may act at that price. The index keeps, per (connection, symbol), two sorted lists of
trigger levels (the stop and the next favourable level of each position), so a tick costs
O(log n + triggered) however many positions are open. What to do is decided by
:mod:`management` (pure); the :class:`~signalbridge.execution.exits.ExitDesk` turns
decisions into exit orders with deterministic client order ids, so an action decided twice
(two ticks, two workers, a crash and a retry) is one order. A level whose order rests on
the venue (:mod:`protection`) is left to the venue for a grace period; each tick also
brings the resting orders of changed positions in line.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from signalbridge.domain.legs import STOP_ROLE
from signalbridge.domain.management import (
    Action,
    ActionKind,
    Precision,
)
from signalbridge.execution.exits import ExitDesk, resting_roles
from signalbridge.execution.marks import MarkBook
from signalbridge.execution.pool import AdapterPool
from signalbridge.execution.position_index import PositionIndex, Tracked
from signalbridge.execution.protection import Holder
from signalbridge.execution.sending import OrderDesk
from signalbridge.execution.views import execution_legs, lenient_view_of
from signalbridge.integrations.errors import IntegrationError
from signalbridge.store import models as m
from signalbridge.store.types import utcnow
from signalbridge.venues.base import Ticker
from signalbridge.venues.streams import PriceStreams

log = structlog.get_logger("signalbridge.monitor")

_RELOAD_SLACK = timedelta(seconds=5)


# --- the monitor ---------------------------------------------------------------------------


@dataclass
class MonitorReport:
    positions: int = 0
    reloaded: int = 0
    ticker_calls: int = 0
    streamed: int = 0  # prices taken from a venue's stream (no REST request)
    triggered: int = 0
    actions: int = 0
    orders: int = 0
    errors: list[str] = field(default_factory=list)
    elapsed_ms: float = 0.0


class PositionMonitor:
    """Checks every open position against fresh prices; ``run_once`` is one tick."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        pool: AdapterPool,
        orders: OrderDesk,
        *,
        now: Callable[[], datetime] = utcnow,
        resting_grace: timedelta = timedelta(seconds=10),
        streams: PriceStreams | None = None,
    ) -> None:
        self._sessions = sessions
        self._pool = pool
        self._streams = streams  # asked first; REST for what they lack (venues/streams.py)
        self._now = now
        self.desk = ExitDesk(sessions, pool, orders, now=now)
        self.index = PositionIndex()
        self.marks = MarkBook(sessions, now=now)  # unrealised PnL is marked to these
        self._marker: tuple[int, datetime | None, datetime | None] | None = None
        self._since: datetime | None = None
        # How long a resting order whose level the price reached is left to the venue.
        self._grace = resting_grace
        self._due_since: dict[int, datetime] = {}
        self._dirty: set[int] = set()  # positions whose resting orders may need to change
        self._closed: list[int] = []  # executions whose position left the index
        self._swept = False

    async def run_once(self) -> MonitorReport:
        started = time.perf_counter()
        report = MonitorReport()
        report.reloaded = await self.sync(report)
        await self._close_on_opposite(report)
        per_connection = self.index.symbols_by_connection()
        prices = await asyncio.gather(
            *(self._prices(cid, symbols, report) for cid, symbols in per_connection.items())
        )
        waiting: set[int] = set()
        for cid, tickers in zip(per_connection, prices, strict=True):
            for symbol, price in tickers.items():
                for item, actions in self.index.evaluate(cid, symbol, price):
                    report.triggered += 1
                    if await self._left_to_venue(item, actions):
                        waiting.add(item.position_id)
                        continue
                    await self._act(item, actions, "monitor", {"price": str(price)}, report)
        await self.marks.record(dict(zip(per_connection, prices, strict=True)))
        # A level the price left again starts a fresh grace period when it is reached again.
        for position_id in self._due_since.keys() - waiting:
            del self._due_since[position_id]
        await self._protect(report)
        report.positions = len(self.index)
        report.elapsed_ms = (time.perf_counter() - started) * 1000
        return report

    async def _prices(
        self, connection_id: int, symbols: list[str], report: MonitorReport
    ) -> dict[str, Decimal]:
        """Fresh streamed prices first, then one batched ticker request for the rest."""
        tickers: dict[str, Ticker] = {}
        try:
            live = await self._pool.get(connection_id)
            tickers = self._streams.latest(live.adapter, symbols) if self._streams else {}
            report.streamed += len(tickers)
            rest = [s for s in symbols if s not in tickers]
            if rest:
                report.ticker_calls += 1
                tickers.update(await live.read(lambda: live.adapter.fetch_tickers(rest)))
        except IntegrationError as exc:  # the streamed prices still count
            report.errors.append(f"connection {connection_id}: {exc.message}")
        return {s: t.last for s, t in tickers.items() if s in symbols}

    async def _act(
        self,
        item: Tracked,
        actions: list[Action],
        source: str,
        context: dict[str, Any],
        report: MonitorReport,
    ) -> None:
        try:
            carried = await self.desk.carry_out(
                item.position_id,
                actions,
                source=source,
                precision=item.view.precision,
                context=context,
            )
        except IntegrationError as exc:
            report.errors.append(f"position {item.position_id}: {exc.message}")
            return
        report.orders += carried.orders
        self._due_since.pop(item.position_id, None)
        if not carried.complete:
            return  # evaluated again on the next tick
        report.actions += len(actions)
        self.index.apply(item, actions)
        self._dirty.add(item.position_id)
        if item.view.closing:
            await self.desk.cancel_entries(item.execution_id, f"position closed ({source})")

    # --- resting protective orders --------------------------------------------------------

    async def _left_to_venue(self, item: Tracked, actions: list[Action]) -> bool:
        """Whether a resting order on the venue should act on this level, not us (yet).

        The venue's own stop or target fires at its trigger (often on its mark price), so
        the monitor first asks the venue about it; only when it is still resting after
        the grace period is it cancelled and the level closed at market.
        """
        if not item.view.precision.resting_exits:
            return False
        roles = resting_roles(actions)
        if roles is None:
            roles = {STOP_ROLE}  # the one full close a price decides is the stop
        if not roles:
            return False
        live = (await self.desk.guards.live([item.execution_id])).get(item.execution_id, {})
        waiting = [r for role, r in live.items() if role in roles and r.on_venue]
        if not waiting:
            return False
        since = self._due_since.setdefault(item.position_id, self._now())
        await self.desk.guards.check(waiting)
        return self._now() - since < self._grace

    async def _protect(self, report: MonitorReport) -> None:
        """Bring the resting orders of changed positions in line; clear closed ones'."""
        holders = []
        positions: dict[int, int] = {}  # execution id -> position id
        for position_id in self._dirty:
            item = self.index.get(position_id)
            if item is not None and item.view.precision.resting_exits:
                holders.append(Holder(item.execution_id, item.connection_id, item.symbol,
                                      item.view))  # fmt: skip
                positions[item.execution_id] = position_id
        self._dirty.clear()
        protected = await self.desk.guards.ensure(holders)
        report.errors.extend(protected.errors)
        # Not in line yet (a send deferred, a cancel whose outcome is unknown): next tick.
        self._dirty.update(positions[e] for e in protected.unsettled if e in positions)
        if not self._swept or self._closed:
            closed = None if not self._swept else self._closed
            await self.desk.guards.sweep_closed(closed)
            for execution_id in closed or ():
                # Closed on the venue (a resting stop or the last target): entries of a
                # zone still waiting there would open it again.
                await self.desk.cancel_entries(execution_id, "position closed")
            self._swept, self._closed = True, []

    # --- close on an opposite signal -------------------------------------------------------

    async def _close_on_opposite(self, report: MonitorReport) -> None:
        """Close positions whose connection got a newer signal the other way round."""
        if not any(t.view.settings.close_on_opposite for t in self.index.tracked()):
            return
        newer = aliased(m.Signal)
        later = aliased(m.Execution)
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(m.Position.id, func.max(newer.id))
                    .join(later, later.connection_id == m.Position.connection_id)
                    .join(newer, newer.id == later.signal_id)
                    .where(
                        m.Position.status == m.PositionStatus.OPEN,
                        newer.symbol == m.Position.symbol,
                        newer.side != m.Position.side,
                        newer.id > m.Position.signal_id,
                    )
                    .group_by(m.Position.id)
                )
            ).all()
        for position_id, signal_id in rows:
            item = self.index.get(position_id)
            if item is None or not item.view.settings.close_on_opposite or item.view.closing:
                continue
            action = Action(ActionKind.CLOSE, "opposite_signal", "opp", item.view.amount)
            report.triggered += 1
            await self._act(item, [action], "opposite", {"signal_id": signal_id}, report)

    # --- keeping the index in step with the database ---------------------------------------

    async def sync(self, report: MonitorReport | None = None) -> int:
        """Reload positions that changed since the last look; returns how many were read."""
        async with self._sessions() as session:
            count, latest = (
                await session.execute(
                    select(func.count(m.Position.id), func.max(m.Position.updated_at)).where(
                        m.Position.status == m.PositionStatus.OPEN
                    )
                )
            ).one()
            follows = await session.scalar(select(func.max(m.Follow.updated_at)))
            marker = (int(count), latest, follows)
            if marker == self._marker:
                return 0
            # A follow's management settings changed: every position is read again.
            since = self._since if self._marker and self._marker[2] == follows else None
            open_ids = set(
                (
                    await session.scalars(
                        select(m.Position.id).where(m.Position.status == m.PositionStatus.OPEN)
                    )
                ).all()
            )
            query = (
                select(m.Position, m.Follow.management)
                .join(m.Execution, m.Execution.id == m.Position.execution_id)
                .join(m.Follow, m.Follow.id == m.Execution.follow_id)
                .where(m.Position.status == m.PositionStatus.OPEN)
            )
            if since is not None:
                query = query.where(m.Position.updated_at >= since - _RELOAD_SLACK)
            rows = (await session.execute(query)).all()
            legs = await execution_legs(session, [p.execution_id for p, _ in rows])
        for position_id in self.index.ids() - open_ids:
            gone = self.index.get(position_id)
            if gone is not None:
                self._closed.append(gone.execution_id)
                self.desk.guards.forget(gone.execution_id)
            self.index.remove(position_id)
            self._due_since.pop(position_id, None)
        markets: dict[int, dict[str, Precision] | None] = {}
        items = []
        for position, raw in rows:
            cid = position.connection_id
            if cid not in markets:
                markets[cid] = await self._markets_or_none(cid, report)
            precision = (markets[cid] or {}).get(position.symbol)
            if precision is not None:
                items.append(self._track(position, raw, legs.get(position.execution_id, []),
                                         precision, report))  # fmt: skip
        self.index.load(items)
        self._dirty.update(item.position_id for item in items)
        if all(found is not None for found in markets.values()):
            # Only a complete read moves the marker; otherwise the next tick reads again.
            self._marker, self._since = marker, latest
        return len(rows)

    async def _markets_or_none(
        self, connection_id: int, report: MonitorReport | None
    ) -> dict[str, Precision] | None:
        try:
            return await self.desk.markets(connection_id)
        except IntegrationError as exc:
            if report is not None:
                report.errors.append(f"connection {connection_id}: {exc.message}")
            return None

    @staticmethod
    def _track(
        position: m.Position,
        raw: dict[str, Any] | None,
        legs: list[tuple[str, Decimal]],
        precision: Precision,
        report: MonitorReport | None,
    ) -> Tracked:
        view, valid = lenient_view_of(position, raw, legs, precision)
        if not valid and report is not None:
            report.errors.append(f"position {position.id}: invalid management settings")
        return Tracked(
            position.id, position.execution_id, position.connection_id, position.symbol, view
        )
