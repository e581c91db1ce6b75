"""Marks: the last price the position monitor saw per connection and symbol.

Open positions are marked to market when read (services/pnl.py), never rewritten on every
tick: a tick writes one row per (connection, symbol) however many positions share it, in
one upsert statement for the whole tick (``INSERT ... ON CONFLICT DO UPDATE`` on both
databases). A price that has not moved is written again only once :attr:`MarkBook.refresh`
has passed, so a quiet market costs nothing and a mark's ``at`` is never older than that
while the monitor runs. A mark never moves back in time (two monitors, a late tick).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.store import models as m
from signalbridge.store.types import utcnow

log = structlog.get_logger("signalbridge.marks")

Prices = Mapping[int, Mapping[str, Decimal]]


async def upsert_marks(
    session: AsyncSession, rows: list[tuple[int, str, Decimal]], at: datetime
) -> None:
    """Write ``(connection id, symbol, price)`` marks taken ``at``, one statement."""
    if not rows:
        return
    table: Any = m.MarkPrice.__table__
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    stmt: Any = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["connection_id", "symbol"],
        set_={"price": stmt.excluded.price, "at": stmt.excluded.at},
        where=table.c.at <= stmt.excluded.at,
    )
    # Sorted by key: two writers lock rows in the same order (no deadlock on PostgreSQL).
    params = [{"connection_id": c, "symbol": s, "price": p, "at": at} for c, s, p in sorted(rows)]
    await session.execute(stmt, params)


class MarkBook:
    """Writes the monitor's prices as marks (see the module)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        now: Callable[[], datetime] = utcnow,
        refresh: timedelta = timedelta(seconds=60),
    ) -> None:
        self._sessions = sessions
        self._now = now
        self.refresh = refresh
        self._written: dict[tuple[int, str], tuple[Decimal, datetime]] = {}

    async def record(self, prices: Prices) -> int:
        """Write one tick's prices (per connection, per symbol); how many marks were
        written. A database error is logged, not raised: marks must not stop exits."""
        at = self._now()
        rows: list[tuple[int, str, Decimal]] = []
        for connection_id, by_symbol in prices.items():
            for symbol, price in by_symbol.items():
                last = self._written.get((connection_id, symbol))
                if last is not None and last[0] == price and at - last[1] < self.refresh:
                    continue
                rows.append((connection_id, symbol, price))
        if not rows:
            return 0
        try:
            async with self._sessions() as session, session.begin():
                await upsert_marks(session, rows, at)
        except SQLAlchemyError as exc:
            log.warning("could not write marks", error=type(exc).__name__, marks=len(rows))
            return 0
        for connection_id, symbol, price in rows:
            self._written[(connection_id, symbol)] = (price, at)
        return len(rows)
