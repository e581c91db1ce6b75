"""Writing one row from a request, with a unique or foreign key conflict answered as 409."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.store.base import Base
from signalbridge.web.errors import ApiError


async def add_or_conflict(session: AsyncSession, row: Base, conflict: str) -> None:
    """Insert ``row`` (in a savepoint); a natural-key clash is a 409 with ``conflict``."""
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        raise ApiError(409, conflict) from None


async def delete_or_conflict(session: AsyncSession, row: Base, conflict: str) -> None:
    """Delete ``row`` (in a savepoint); rows still referenced elsewhere are a 409."""
    try:
        async with session.begin_nested():
            await session.delete(row)
            await session.flush()
    except IntegrityError:
        raise ApiError(409, conflict) from None
