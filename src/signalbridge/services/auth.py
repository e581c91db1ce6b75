"""Passwords (argon2) and API tokens (random, stored as SHA-256, with scopes)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.store.models import ApiToken, Role, User
from signalbridge.store.types import utcnow

_hasher = PasswordHasher()

#: Scopes a token may carry. ``admin`` implies every other scope.
SCOPES = (
    "channels:read",
    "channels:write",
    "connections:read",
    "connections:write",
    "follows:read",
    "follows:write",
    "signals:read",
    "executions:read",
    "audit:read",
    "users:write",
    "admin",
)
TOKEN_PREFIX = "sbt_"  # noqa: S105 - a public marker, not a secret
#: Lifetime of a token made without an explicit expiry (``Settings.token_days`` overrides).
DEFAULT_TOKEN_DAYS = 90

log = logging.getLogger(__name__)


class AuthError(Exception):
    """Wrong credentials or token; the message never says which part was wrong."""


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise ValueError("a password needs at least 8 characters")
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user, through a token with these scopes."""

    user_id: int
    email: str
    role: str
    scopes: frozenset[str]
    token_id: int | None = None

    def allows(self, scope: str) -> bool:
        # The admin scope stands for every scope only while its user is still an admin: a
        # token kept from before a demotion must not outrank its user's role.
        if "admin" in self.scopes and self.role == Role.ADMIN:
            return True
        return scope in self.scopes and (scope != "admin" or self.role == Role.ADMIN)

    @property
    def label(self) -> str:
        return self.email


async def create_user(session: AsyncSession, email: str, password: str, role: str) -> User:
    if role not in Role.ALL:
        raise ValueError(f"role must be one of {', '.join(Role.ALL)}")
    email = email.strip().lower()
    if "@" not in email:
        raise ValueError("email is not valid")
    if await session.scalar(select(User.id).where(User.email == email)) is not None:
        raise ValueError(f"a user with email {email} exists already")
    user = User(email=email, password_hash=hash_password(password), role=role)
    session.add(user)
    await session.flush()
    return user


async def create_token(
    session: AsyncSession,
    user: User,
    name: str,
    scopes: list[str],
    expires_at: datetime | None = None,
    *,
    days: int = DEFAULT_TOKEN_DAYS,
) -> tuple[ApiToken, str]:
    """Create a token; the plain text is returned once and never stored.

    Every token expires: at ``expires_at`` when given, else ``days`` days from now.
    """
    if expires_at is None:
        if days < 1:
            raise ValueError("a token lives at least one day")
        expires_at = utcnow() + timedelta(days=days)
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scopes {unknown}; known: {', '.join(SCOPES)}")
    if "admin" in scopes and user.role != Role.ADMIN:
        raise ValueError("only an admin may hold the admin scope")
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=token_hash(plain),
        prefix=plain[:8],
        scopes=sorted(set(scopes)),
        expires_at=expires_at,
    )
    session.add(row)
    await session.flush()
    return row, plain


async def revoke_tokens(session: AsyncSession, user_id: int, *, keep: int | None = None) -> int:
    """Revoke every live token of the user but ``keep`` (the caller's own); how many.

    A new password must lock out whoever learnt the old one, and a token made with the old
    password is exactly what they would hold.
    """
    now = utcnow()
    stmt = (
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    if keep is not None:
        stmt = stmt.where(ApiToken.id != keep)
    result = await session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)


async def authenticate(
    session: AsyncSession, token: str, *, usage: TokenUsage | None = None
) -> Principal:
    """The caller behind ``token``; revoked, expired and unknown tokens fail alike.

    With ``usage``, a use of the token is noted in memory (see :class:`TokenUsage`);
    authentication itself never writes.
    """
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise AuthError("invalid token")
    row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(token)))
    now = utcnow()
    if row is None or row.revoked_at is not None or (row.expires_at and row.expires_at <= now):
        raise AuthError("invalid token")
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise AuthError("invalid token")
    if usage is not None:
        usage.note(row.id, row.last_used_at)
    scopes = frozenset(row.scopes)
    if user.role != Role.ADMIN:  # an admin demoted since the token was made keeps no power
        scopes -= {"admin"}
    return Principal(user.id, user.email, user.role, scopes, token_id=row.id)


class TokenUsage:
    """Keeps ``api_tokens.last_used_at`` coarsely: at most one write per token per interval.

    SQLite has one writer, so a write on every authenticated request would serialise the
    whole API. :meth:`note` is pure memory (called while authenticating, with the stored
    value it just read); :meth:`flush_later` starts a task that writes what is due once
    the request has let go of its database connection. The clock is injectable so tests
    need no sleeps.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        interval: timedelta = timedelta(seconds=60),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self.interval = interval
        self.clock = clock
        self._reserved: dict[int, datetime] = {}
        self._pending: dict[int, datetime] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        #: rows written so far (for tests and metrics)
        self.writes = 0

    def note(self, token_id: int, stored: datetime | None) -> bool:
        """Record a use; True when it is due to be written (then :meth:`flush` writes it)."""
        now = self.clock()
        if stored is not None and now - stored < self.interval:
            return False
        reserved = self._reserved.get(token_id)
        if reserved is not None and now - reserved < self.interval:
            return False  # another request of this process already scheduled the write
        if len(self._reserved) > 10_000:
            self._reserved = {k: v for k, v in self._reserved.items() if now - v < self.interval}
        self._reserved[token_id] = now
        self._pending[token_id] = now
        return True

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    async def flush_later(self) -> None:
        """Start :meth:`flush` on its own task and return at once.

        Run as the response's background task: a flush awaited there would wait for the
        request's own database session, which (SQLite: the one pooled connection) is only
        released after the background tasks finish.
        """
        task = asyncio.get_running_loop().create_task(self.flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the writes started so far (tests; a clean shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))

    async def flush(self) -> None:
        """Write the due ``last_used_at`` values; a failure is logged and retried later."""
        due, self._pending = self._pending, {}
        for token_id, at in due.items():
            try:
                async with self._sessions() as session, session.begin():
                    result = await session.execute(
                        update(ApiToken)
                        .where(ApiToken.id == token_id)
                        .where(
                            (ApiToken.last_used_at.is_(None))
                            | (ApiToken.last_used_at <= at - self.interval)
                        )
                        .values(last_used_at=at)
                    )
                self.writes += int(getattr(result, "rowcount", 0) or 0)
            except SQLAlchemyError as exc:
                self._reserved.pop(token_id, None)
                log.warning("could not record token use: %s", type(exc).__name__)
