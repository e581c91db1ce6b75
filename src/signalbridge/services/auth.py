"""Passwords (argon2) and API tokens (random, stored as SHA-256, with scopes)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

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

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes

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
) -> tuple[ApiToken, str]:
    """Create a token; the plain text is returned once and never stored."""
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


async def authenticate(session: AsyncSession, token: str) -> Principal:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise AuthError("invalid token")
    row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(token)))
    now = utcnow()
    if row is None or row.revoked_at is not None or (row.expires_at and row.expires_at <= now):
        raise AuthError("invalid token")
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise AuthError("invalid token")
    return Principal(user.id, user.email, user.role, frozenset(row.scopes))
