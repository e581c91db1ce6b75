"""Engine and session factory for SQLite (WAL) and PostgreSQL, plus idempotent inserts."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from signalbridge.store.base import Base


def make_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """Build the async engine; SQLite gets WAL, a busy timeout and foreign keys on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and "mode=memory" not in url:
            private_sqlite_file(Path(parsed.database))
        # One connection: SQLite has one writer anyway, and queueing in the pool (FIFO,
        # asyncio-aware) is far faster under load than SQLite's sleep-and-retry busy handler.
        engine = create_async_engine(
            url,
            echo=echo,
            connect_args={"timeout": 30},
            pool_size=1,
            max_overflow=0,
            pool_timeout=120,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate)
        return engine
    return create_async_engine(url, echo=echo, pool_size=10, max_overflow=20, pool_pre_ping=True)


def private_sqlite_file(path: Path) -> None:
    """Make the database file (and its -wal/-shm) readable by this user only.

    The file is created empty with mode 0600 before SQLite opens it: SQLite then gives its
    -wal and -shm files the database file's mode. Files an older version left readable by
    others are tightened. A directory we create is 0700.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
            if mode & 0o077:
                file.chmod(mode & 0o700)
        except FileNotFoundError:
            continue


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # The driver's own transaction handling is turned off so BEGIN IMMEDIATE below takes
    # the write lock up front: concurrent writers then queue on busy_timeout instead of
    # failing with "database is locked" on a read-to-write upgrade.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin_immediate(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any error."""
    async with sessions() as session, session.begin():
        yield session


async def insert_ignore(
    session: AsyncSession,
    model: type[Base],
    values: Mapping[str, Any],
    conflict: Sequence[str],
) -> int | None:
    """INSERT ... ON CONFLICT DO NOTHING on the natural key; returns the new id or None.

    This is how every pipeline step stays idempotent: a second delivery of the same
    key writes nothing, whatever the interleaving, on both databases.
    """
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    table: Any = model.__table__
    stmt: Any
    if dialect == "postgresql":
        stmt = pg_insert(table).values(**values).on_conflict_do_nothing(index_elements=conflict)
    elif dialect == "sqlite":
        stmt = sqlite_insert(table).values(**values).on_conflict_do_nothing(index_elements=conflict)
    else:  # pragma: no cover - only the two supported databases
        stmt = insert(table).values(**values)
    result = await session.execute(stmt.returning(table.c.id))
    return result.scalar_one_or_none()


async def insert_ignore_many(
    session: AsyncSession,
    model: type[Base],
    rows: Sequence[Mapping[str, Any]],
    conflict: Sequence[str],
    returning: Sequence[str] = ("id",),
) -> list[Any]:
    """:func:`insert_ignore` for many rows in one executemany statement.

    SQLAlchemy sends it as multi-row INSERTs ("insertmanyvalues", cached compilation).
    Returns the ``returning`` column(s) of the rows actually inserted (one column as plain
    values, several as tuples); rows whose natural key exists are skipped, exactly as
    one-by-one inserts would skip them. Every row must have the same keys.
    """
    if not rows:
        return []
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    table: Any = model.__table__
    columns = [table.c[name] for name in returning]
    stmt: Any
    if dialect == "postgresql":
        stmt = pg_insert(table).on_conflict_do_nothing(index_elements=conflict)
    elif dialect == "sqlite":
        stmt = sqlite_insert(table).on_conflict_do_nothing(index_elements=conflict)
    else:  # pragma: no cover - only the two supported databases
        stmt = insert(table)
    result = await session.execute(stmt.returning(*columns), [dict(r) for r in rows])
    if len(columns) == 1:
        return list(result.scalars().all())
    return [tuple(row) for row in result.all()]
