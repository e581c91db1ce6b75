"""Browser logins for the console and the member portal: server-side sessions.

The cookie holds 256 random bits; the table holds only their SHA-256, the user, the CSRF
token every form of the session carries, and the expiry. Being server-side, a session
ends at once when its user logs out, is deactivated or changes the password; a stolen
database copy yields no live cookie.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.services.auth import Principal, token_hash
from signalbridge.services.login import ROLE_SCOPES
from signalbridge.store.models import User, WebSession
from signalbridge.store.types import utcnow

#: How long a browser stays logged in without being used, and at most in all.
IDLE = timedelta(hours=12)
LIFETIME = timedelta(days=7)
#: ``last_seen_at`` is written at most this often (every page would otherwise write).
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class BrowserLogin:
    """A live session: who it is, and the CSRF token its forms must carry."""

    session_id: int
    principal: Principal
    csrf_token: str


async def start(session: AsyncSession, user: User, *, address: str) -> tuple[str, str]:
    """A new session for ``user``: (cookie value, CSRF token). The cookie value is
    returned once and never stored."""
    plain = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        WebSession(
            token_hash=token_hash(plain),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            last_seen_at=now,
            expires_at=now + LIFETIME,
            address=address[:64],
        )
    )
    await session.flush()
    return plain, csrf


async def resolve(session: AsyncSession, cookie: str) -> BrowserLogin | None:
    """The live session behind a cookie, or None (unknown, expired, idle, user inactive)."""
    if not cookie or len(cookie) > 200:
        return None
    row = await session.scalar(
        select(WebSession).where(WebSession.token_hash == token_hash(cookie))
    )
    if row is None:
        return None
    now = utcnow()
    user = await session.get(User, row.user_id)
    if (
        row.expires_at <= now
        or row.last_seen_at + IDLE <= now
        or user is None
        or not user.is_active
    ):
        await session.delete(row)
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
    who = Principal(
        user_id=user.id,
        email=user.email,
        role=user.role,
        scopes=frozenset(ROLE_SCOPES[user.role]),
    )
    return BrowserLogin(row.id, who, row.csrf_token)


def csrf_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a form's CSRF token with the session's."""
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())


async def end(session: AsyncSession, cookie: str) -> None:
    """Log out: the session row goes, so the cookie is dead even if it was copied."""
    if cookie:
        await session.execute(delete(WebSession).where(WebSession.token_hash == token_hash(cookie)))


async def end_all(session: AsyncSession, user_id: int) -> int:
    """End every browser session of a user (password changed or reset); how many."""
    result = await session.execute(delete(WebSession).where(WebSession.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)
