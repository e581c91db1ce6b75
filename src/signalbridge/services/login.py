"""Password login: the right email and password buy a new token; guessing is throttled.

Failures answer alike whatever was wrong (unknown email, wrong password, inactive user),
and take the same time: an unknown email is checked against a dummy hash. Attempts are
counted per account and per client address with the ``limits`` package, on the kernel's
rate-limit storage (memory, or Redis when several processes share the budget).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.services import audit
from signalbridge.services.auth import (
    DEFAULT_TOKEN_DAYS,
    AuthError,
    create_token,
    hash_password,
    verify_password,
)
from signalbridge.store.models import ApiToken, Role, User

#: What a login token holds for each role. Admins hold everything; operators run channels
#: and the review of signals and read accounts; members manage their own accounts.
ROLE_SCOPES: dict[str, tuple[str, ...]] = {
    Role.ADMIN: ("admin",),
    Role.OPERATOR: (
        "channels:read",
        "channels:write",
        "connections:read",
        "follows:read",
        "signals:read",
        "executions:read",
        "audit:read",
    ),
    Role.MEMBER: (
        "channels:read",
        "connections:read",
        "connections:write",
        "follows:read",
        "follows:write",
        "signals:read",
        "executions:read",
        "audit:read",
        "users:write",
    ),
}


class LoginThrottled(Exception):
    """Too many attempts for this account or from this address; try after ``retry_after``."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many login attempts; retry in {retry_after} s")
        self.retry_after = retry_after


class LoginThrottle:
    """Moving-window budgets of login attempts per account and per address.

    Each attempt takes one unit from both budgets *before* the password is checked, so
    parallel guesses cannot slip past the count; a success clears the account's budget
    (never the address's, or one valid account would reset it for a whole botnet).
    """

    def __init__(
        self,
        storage: Storage,
        *,
        per_account: str = "5/minute",
        per_address: str = "20/minute",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._limiter = MovingWindowRateLimiter(storage)
        self._account = parse(per_account)
        self._address = parse(per_address)
        self._clock = clock

    @staticmethod
    def _account_id(email: str) -> str:
        # Hashed: the shared store (Redis) need not hold e-mail addresses.
        return hashlib.sha256(normalize_email(email).encode()).hexdigest()[:32]

    async def attempt(self, email: str, address: str) -> None:
        """Take one attempt from both budgets, or raise :class:`LoginThrottled`."""
        scopes = (
            (self._account, ("login-account", self._account_id(email))),
            (self._address, ("login-address", address)),
        )
        blocked = 0.0
        for item, ids in scopes:
            if not await self._limiter.test(item, *ids):
                blocked = max(blocked, await self._wait(item, ids))
        if not blocked:
            for item, ids in scopes:
                if not await self._limiter.hit(item, *ids):  # taken meanwhile elsewhere
                    blocked = max(blocked, await self._wait(item, ids))
        if blocked:
            raise LoginThrottled(max(1, math.ceil(blocked)))

    async def succeeded(self, email: str) -> None:
        await self._limiter.clear(self._account, "login-account", self._account_id(email))

    async def _wait(self, item: RateLimitItem, ids: tuple[str, ...]) -> float:
        stats = await self._limiter.get_window_stats(item, *ids)
        return max(1.0, stats.reset_time - self._clock())


def normalize_email(email: str) -> str:
    return email.strip().lower()


@cache
def _dummy_hash() -> str:
    # Computed on first use, not at import: checking an unknown email costs what a real
    # check costs, so the answer's timing does not tell which emails exist.
    return hash_password("not-a-real-password-" + "x" * 16)


@dataclass(frozen=True)
class LoginResult:
    user: User
    token: ApiToken
    plain_token: str


async def verify_login(session: AsyncSession, email: str, password: str, *, address: str) -> User:
    """The active user with this email and password; else audit the failure and raise
    :class:`AuthError` (one message for every cause; the caller must still commit)."""
    normalized = normalize_email(email)
    user = await session.scalar(select(User).where(User.email == normalized))
    if user is None:
        verify_password(_dummy_hash(), password)
        reason = "unknown_user"
    elif not verify_password(user.password_hash, password):
        reason = "wrong_password"
    elif not user.is_active:
        reason = "pending_approval" if user.signup_pending else "inactive_user"
    else:
        return user
    await audit.record(
        session,
        actor="anonymous",
        actor_id=None,
        action="login_failed",
        entity="user",
        entity_id=user.id if user is not None else "-",
        changes={"email": normalized[:320], "address": address, "reason": reason},
    )
    raise AuthError("the email or password is not valid")


async def login(
    session: AsyncSession,
    email: str,
    password: str,
    *,
    address: str,
    days: int = DEFAULT_TOKEN_DAYS,
) -> LoginResult:
    """Check the password and make a token with the role's scopes; audit either way.

    Raises :class:`AuthError` (one message for every cause) after auditing the failure in
    the caller's transaction, so the caller must commit even when this raises.
    """
    user = await verify_login(session, email, password, address=address)
    row, plain = await create_token(
        session, user, f"login from {address}"[:100], list(ROLE_SCOPES[user.role]), days=days
    )
    await audit.record(
        session,
        actor=user.email,
        actor_id=user.id,
        action="login",
        entity="user",
        entity_id=user.id,
        changes={
            "address": address,
            "scopes": list(row.scopes),
            "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        },
    )
    return LoginResult(user, row, plain)
