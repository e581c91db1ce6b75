"""Portal sign-up, operator approval and password resets.

Sign-up makes a member; with ``signup_approval`` on, the member is inactive and marked
``signup_pending`` until an operator or admin approves it. A password reset is a
single-use link valid for :data:`RESET_VALID`, made by an operator or admin (the platform
sends no email yet): a member asks on the reset page, the request shows on the staff's
members page, and staff hand over the link. Only its SHA-256 is stored; asking answers
alike whether the email exists or not.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.services import audit, web_sessions
from signalbridge.services.auth import (
    Principal,
    create_user,
    hash_password,
    revoke_tokens,
    token_hash,
)
from signalbridge.services.login import normalize_email
from signalbridge.store.models import PasswordReset, Role, User
from signalbridge.store.types import utcnow

RESET_VALID = timedelta(minutes=30)
MIN_PASSWORD = 10
MAX_PASSWORD = 1024


class SignupError(ValueError):
    """The sign-up or reset cannot be done; the message is safe to show."""


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise SignupError(f"the password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise SignupError(f"the password may have at most {MAX_PASSWORD} characters")


async def sign_up(
    session: AsyncSession, email: str, password: str, *, approval: bool, address: str
) -> User:
    """A new member; inactive and pending when ``approval`` is required."""
    check_password(password)
    try:
        user = await create_user(session, email, password, Role.MEMBER)
    except ValueError as exc:
        # One answer for "taken" and "invalid" would hide a typo; an existing email is
        # said plainly, as every sign-up form does (login stays uniform).
        raise SignupError(str(exc)) from None
    if approval:
        user.is_active = False
        user.signup_pending = True
    await audit.record(
        session,
        actor=user.email,
        actor_id=user.id,
        action="signup",
        entity="user",
        entity_id=user.id,
        changes={"address": address, "pending": approval},
    )
    return user


async def approve(session: AsyncSession, user: User, who: Principal | None) -> None:
    """An operator or admin (None: the CLI) lets a pending member in."""
    if not user.signup_pending:
        raise SignupError("this user is not waiting for approval")
    user.signup_pending = False
    user.is_active = True
    await audit.record(
        session,
        actor=who.email if who else "cli",
        actor_id=who.user_id if who else None,
        action="approve_signup",
        entity="user",
        entity_id=user.id,
        changes={},
    )


async def note_reset_request(session: AsyncSession, email: str, *, address: str) -> None:
    """Record that someone asked to reset the password of ``email`` (for the staff's
    members page); nothing is sent and the answer never tells whether the email exists."""
    user = await session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None or not user.is_active:
        return
    await audit.record(
        session,
        actor="anonymous",
        actor_id=None,
        action="reset_requested",
        entity="user",
        entity_id=user.id,
        changes={"address": address},
    )


async def issue_reset(session: AsyncSession, user: User, who: Principal | None) -> str:
    """A new reset link's token for ``user``, made by staff (shown to them once) or by the
    CLI. Earlier unused links of the user die: only the newest works."""
    if not user.is_active:
        raise SignupError("this user is not active")
    now = utcnow()
    await session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
    )
    plain = secrets.token_urlsafe(32)
    session.add(
        PasswordReset(
            user_id=user.id,
            token_hash=token_hash(plain),
            created_at=now,
            expires_at=now + RESET_VALID,
        )
    )
    await session.flush()
    await audit.record(
        session,
        actor=who.email if who else "cli",
        actor_id=who.user_id if who else None,
        action="reset_issued",
        entity="user",
        entity_id=user.id,
        changes={"expires_at": (now + RESET_VALID).isoformat()},
    )
    return plain


async def reset_password(session: AsyncSession, token: str, password: str) -> User:
    """Set a new password through a live link; the link, every browser session and every
    API token of the user die with it."""
    check_password(password)
    row = await session.scalar(
        select(PasswordReset).where(PasswordReset.token_hash == token_hash(token))
    )
    now = utcnow()
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise SignupError("this reset link is not valid any more; ask for a new one")
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise SignupError("this reset link is not valid any more; ask for a new one")
    row.used_at = now
    user.password_hash = hash_password(password)
    await web_sessions.end_all(session, user.id)
    await revoke_tokens(session, user.id)
    await audit.record(
        session,
        actor=user.email,
        actor_id=user.id,
        action="password_reset",
        entity="user",
        entity_id=user.id,
        changes={},
    )
    return user
