"""The replay window: a body seen on a channel inside the window is a duplicate.

A webhook delivery claims its body's SHA-256 on its channel in the delivery's own
transaction, before the message is written, with one statement::

    INSERT INTO delivery_bodies (channel_id, body_hash, seen_at) VALUES (...)
    ON CONFLICT (channel_id, body_hash) DO UPDATE SET seen_at = excluded.seen_at,
                                                  message_id = NULL
        WHERE delivery_bodies.seen_at <= :window_start
    RETURNING id

A row back means the body is new, or was last claimed before the window: this delivery
goes on and records its message on the claim. No row means the body was claimed inside
the window: the delivery is a duplicate of the claim's message.

Why this is race-free: one row per (channel, body hash) under a unique key, so there is
no gap between "look" and "write". On PostgreSQL a second transaction inserting the same
key waits for the first to commit, then sees its row and (the WHERE failing) returns
nothing; if the first rolls back, the second inserts. This holds under READ COMMITTED
(``ON CONFLICT DO UPDATE`` guarantees an atomic insert-or-update outcome), without
advisory locks or time buckets. SQLite runs one writer at a time (``BEGIN IMMEDIATE``).
Rows are one per distinct body per channel, like the messages they point to.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.store import models as m


async def claim_body(
    session: AsyncSession, channel_id: int, body_hash: str, now: datetime, window_seconds: int
) -> int | None:
    """Claim ``body_hash`` on the channel; the claim's id, or None inside an earlier window."""
    table: Any = m.DeliveryBody.__table__
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt: Any = insert(table).values(
        channel_id=channel_id, body_hash=body_hash, seen_at=now, message_id=None
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["channel_id", "body_hash"],
        set_={"seen_at": stmt.excluded.seen_at, "message_id": None},
        where=table.c.seen_at <= now - timedelta(seconds=window_seconds),
    )
    result = await session.execute(stmt.returning(table.c.id))
    claim_id: int | None = result.scalar_one_or_none()
    return claim_id


async def first_message(session: AsyncSession, channel_id: int, body_hash: str) -> int:
    """The message of the delivery that claimed this body inside the window."""
    message_id = await session.scalar(
        select(m.DeliveryBody.message_id).where(
            m.DeliveryBody.channel_id == channel_id, m.DeliveryBody.body_hash == body_hash
        )
    )
    if message_id is None:  # the claim and its message are written in one transaction
        raise RuntimeError("a body claim without its message")
    return message_id


async def record_message(session: AsyncSession, claim_id: int, message_id: int) -> None:
    """Point the claim at the message its delivery became (new or an earlier duplicate)."""
    await session.execute(
        update(m.DeliveryBody).where(m.DeliveryBody.id == claim_id).values(message_id=message_id)
    )
