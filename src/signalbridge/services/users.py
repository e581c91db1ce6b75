"""First start: make sure an admin exists, and say once how to log in."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.services import audit
from signalbridge.services.auth import create_token, create_user
from signalbridge.store import models as m


@dataclass(frozen=True)
class FirstAdmin:
    email: str
    password: str
    token: str


async def ensure_admin(
    sessions: async_sessionmaker[AsyncSession], email: str, password: str | None
) -> FirstAdmin | None:
    """Create the first admin and an admin token when the database has no user yet."""
    async with sessions() as session, session.begin():
        if await session.scalar(select(func.count()).select_from(m.User)):
            return None
        plain_password = password or secrets.token_urlsafe(12)
        user = await create_user(session, email, plain_password, m.Role.ADMIN)
        _, token = await create_token(session, user, "first admin token", ["admin"])
        await audit.record(
            session,
            actor="system",
            actor_id=None,
            action="create",
            entity="user",
            entity_id=user.id,
            changes={"email": user.email, "role": user.role},
        )
        return FirstAdmin(user.email, plain_password, token)
