"""Funding payments into positions' realised PnL, each payment once.

The scheduler runs :meth:`FundingSync.run_once` every ``funding_sync_seconds`` (default
3600; 0: off). For each connection holding a position that is open, or closed within
:data:`LOOKBACK`, it makes one request for the account's funding payments (every symbol at
once: Binance's income history weighs 30 whatever it lists) from the oldest instant a
payment could still be missing, and pages on while pages come back full.

A payment on a symbol is shared by the positions on that symbol that were open at its
instant (opened before it, not closed before it), in proportion to the amount each
opened; what rounding leaves goes to the last. Each share is added to the position's
``funding`` and ``realized_pnl`` and written to the execution log (action ``funding``,
the payment's id and instant in ``request``) in one transaction per connection, with the
positions locked: a payment already in a position's log is never applied again, so a
repeated or concurrent run, or a page read twice, changes nothing. Payments in another
asset than the position's PnL asset, or on symbols SignalBridge holds nothing of (a
foreign position), are left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import structlog
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.domain.legs import is_entry_leg
from signalbridge.execution.net_amount import pair_of
from signalbridge.execution.pool import AdapterPool
from signalbridge.execution.recorder import exact, log_row
from signalbridge.integrations.errors import IntegrationError
from signalbridge.store import models as m
from signalbridge.store.types import utcnow
from signalbridge.venues.funding import FUNDING_PAGE, FundingPayment, SupportsFunding

log = structlog.get_logger("signalbridge.funding")

ACTION = "funding"
#: Positions closed longer ago than this are not looked at again.
LOOKBACK = timedelta(days=2)
#: Venues keep their income history this long (Binance: three months).
HISTORY = timedelta(days=90)
#: Pages of payments read per connection and run at most.
MAX_PAGES = 20
ZERO = Decimal(0)


def pnl_asset_of(position: m.Position) -> str:
    """The asset a position's PnL is counted in: its own mark, else its symbol's quote."""
    if position.pnl_asset:
        return position.pnl_asset
    pair = pair_of(position.symbol)
    return pair[1].split(":")[0] if pair else ""


@dataclass(frozen=True, slots=True)
class Holding:
    """A position as funding shares see it."""

    position_id: int
    execution_id: int
    symbol: str
    asset: str
    opened: Decimal
    opened_at: datetime
    closed_at: datetime | None

    def held_at(self, at: datetime) -> bool:
        return self.opened_at <= at and (self.closed_at is None or self.closed_at >= at)


def shares(payment: FundingPayment, holdings: Iterable[Holding]) -> list[tuple[Holding, Decimal]]:
    """How one payment is shared among the positions that held its symbol at its instant
    (pure; see the module). Empty when none did, or none counts in its asset."""
    held = [
        h
        for h in holdings
        if h.symbol == payment.symbol
        and h.held_at(payment.at)
        and (not payment.asset or not h.asset or h.asset == payment.asset)
    ]
    weight = sum((h.opened for h in held), ZERO)
    if not held or weight <= 0:
        return []
    out: list[tuple[Holding, Decimal]] = []
    left = payment.amount
    for holding in held[:-1]:
        part = exact(payment.amount * holding.opened / weight)
        out.append((holding, part))
        left -= part
    out.append((held[-1], exact(left)))
    return out


@dataclass
class FundingReport:
    connections: int = 0
    requests: int = 0
    payments: int = 0
    applied: int = 0
    errors: list[str] = field(default_factory=list)


class FundingSync:
    """Adds the venues' funding payments to positions (see the module)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        pool: AdapterPool,
        *,
        now: Callable[[], datetime] = utcnow,
        lookback: timedelta = LOOKBACK,
    ) -> None:
        self._sessions = sessions
        self._pool = pool
        self._now = now
        self._lookback = lookback

    async def run_once(self) -> FundingReport:
        report = FundingReport()
        now = self._now()
        async with self._sessions() as session:
            connections = (
                await session.scalars(
                    select(m.Position.connection_id)
                    .where(self._recent(now))
                    .distinct()
                    .order_by(m.Position.connection_id)
                )
            ).all()
        for connection_id in connections:
            try:
                await self.sync_connection(connection_id, report)
            except IntegrationError as exc:
                report.errors.append(f"connection {connection_id}: {exc.message}")
        if report.applied or report.errors:
            log.info(
                "funding synced",
                connections=report.connections,
                applied=report.applied,
                errors=len(report.errors),
            )
        return report

    def _recent(self, now: datetime) -> Any:
        return or_(
            m.Position.status == m.PositionStatus.OPEN,
            m.Position.closed_at >= now - self._lookback,
        )

    async def sync_connection(self, connection_id: int, report: FundingReport) -> None:
        """Read and apply one connection's payments (IntegrationError: venue trouble)."""
        live = await self._pool.get(connection_id)
        adapter = live.adapter
        if not isinstance(adapter, SupportsFunding):
            return
        now = self._now()
        async with self._sessions() as session:
            holdings, _ = await self._holdings(session, connection_id, now)
            applied = await _applied(session, [h.execution_id for h in holdings])
        if not holdings:
            return
        report.connections += 1
        since = max(
            min(_last(applied.get(h.execution_id), h.opened_at) for h in holdings),
            now - HISTORY,
        )
        payments: dict[str, FundingPayment] = {}
        for _ in range(MAX_PAGES):
            report.requests += 1
            page = await live.read(partial(adapter.fetch_funding, None, since, FUNDING_PAGE))
            if page is None:
                return  # the venue does not report funding
            for payment in page:
                payments.setdefault(payment.payment_id, payment)
            if len(page) < FUNDING_PAGE:
                break
            since = max(p.at for p in page)
        report.payments += len(payments)
        if payments:
            report.applied += await self._apply(connection_id, sorted(payments.values(), key=_key))

    async def _holdings(
        self, session: AsyncSession, connection_id: int, now: datetime, lock: bool = False
    ) -> tuple[list[Holding], dict[int, m.Position]]:
        """The connection's recent positions (locked with ``lock``), as holdings and rows."""
        query = (
            select(m.Position)
            .where(m.Position.connection_id == connection_id, self._recent(now))
            .order_by(m.Position.id)
        )
        if lock:
            query = query.with_for_update()
        positions = (await session.scalars(query)).all()
        opened = await _opened(session, [p.execution_id for p in positions])
        holdings = [
            Holding(
                p.id,
                p.execution_id,
                p.symbol,
                pnl_asset_of(p),
                opened.get(p.execution_id, ZERO) or p.amount,
                p.opened_at,
                p.closed_at,
            )
            for p in positions
        ]
        return holdings, {p.id: p for p in positions}

    async def _apply(self, connection_id: int, payments: Sequence[FundingPayment]) -> int:
        """Apply what is not applied yet, in one transaction with the positions locked."""
        count = 0
        async with self._sessions() as session, session.begin():
            now = self._now()
            holdings, rows = await self._holdings(session, connection_id, now, lock=True)
            applied = await _applied(session, [h.execution_id for h in holdings])
            done = {pid for ids in applied.values() for pid in ids}
            for payment in payments:
                if payment.payment_id in done:
                    continue
                for holding, share in shares(payment, holdings):
                    position = rows[holding.position_id]
                    position.funding = exact((position.funding or ZERO) + share)
                    position.realized_pnl = exact(position.realized_pnl + share)
                    session.add(
                        log_row(
                            holding.execution_id,
                            ACTION,
                            reason=f"funding {payment.symbol}",
                            request={
                                "payment_id": payment.payment_id,
                                "at": payment.at.isoformat(),
                                "asset": payment.asset,
                                "payment": str(payment.amount),
                                "share": str(share),
                            },
                        )
                    )
                    count += 1
        return count


def _key(p: FundingPayment) -> tuple[datetime, str]:
    return p.at, p.payment_id


def _last(applied: dict[str, datetime] | None, opened_at: datetime) -> datetime:
    """Where a position's missing payments can start: after its newest applied one."""
    if not applied:
        return opened_at
    return max(max(applied.values()), opened_at)


async def _applied(
    session: AsyncSession, execution_ids: list[int]
) -> dict[int, dict[str, datetime]]:
    """The payments applied per execution: payment id -> its instant."""
    out: dict[int, dict[str, datetime]] = {}
    if not execution_ids:
        return out
    rows = await session.execute(
        select(m.ExecutionLog.execution_id, m.ExecutionLog.request).where(
            m.ExecutionLog.action == ACTION, m.ExecutionLog.execution_id.in_(execution_ids)
        )
    )
    for execution_id, request in rows.all():
        if execution_id is None or not isinstance(request, dict):
            continue
        try:
            at = datetime.fromisoformat(str(request["at"]))
            payment_id = str(request["payment_id"])
        except (KeyError, ValueError):
            continue
        out.setdefault(execution_id, {})[payment_id] = at
    return out


async def _opened(session: AsyncSession, execution_ids: list[int]) -> dict[int, Decimal]:
    """What each execution's entries filled (the weight of its funding share)."""
    out: dict[int, Decimal] = {}
    if not execution_ids:
        return out
    rows = await session.execute(
        select(m.Order.execution_id, m.Order.leg, m.Order.filled).where(
            m.Order.execution_id.in_(execution_ids), m.Order.filled > 0
        )
    )
    for execution_id, leg, filled in rows.all():
        if is_entry_leg(leg):
            out[execution_id] = out.get(execution_id, ZERO) + filled
    return out
