"""Request dependencies: the container, a database session, and the caller's scopes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import BackgroundTasks, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.bootstrap import Container
from signalbridge.services import access
from signalbridge.services.auth import AuthError, Principal, authenticate
from signalbridge.web.errors import ApiError


def container(request: Request) -> Container:
    c: Container = request.app.state.container
    return c


ContainerDep = Annotated[Container, Depends(container)]


async def session(c: ContainerDep) -> AsyncIterator[AsyncSession]:
    """A session whose transaction commits when the handler returns without error."""
    async with c.sessions() as s, s.begin():
        yield s


SessionDep = Annotated[AsyncSession, Depends(session)]


async def principal(request: Request, c: ContainerDep, background: BackgroundTasks) -> Principal:
    """The caller, from a short session of its own that is closed before the handler runs.

    (The handler's session connects lazily, on first use, so the two never overlap; with
    SQLite's single pooled connection, overlapping sessions in one task would deadlock.)
    """
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "a bearer token is required")
    usage = c.token_usage
    async with c.sessions() as s:
        try:
            who = await authenticate(s, token.strip(), usage=usage)
        except AuthError:
            raise ApiError(401, "the bearer token is not valid") from None
    if usage.pending:  # last_used_at, written after the response (at most once a minute)
        background.add_task(usage.flush_later)
    return who


def require(
    scope: str, entity: access.Entity | None = None, action: access.Action = "read"
) -> Callable[..., Awaitable[Principal]]:
    """Dependency that admits callers whose token holds ``scope`` (or ``admin``) and, with
    ``entity``, whose role may ``action`` that kind of row at all (see services/access.py).

    Both refusals are 403 and come before any row is read, so they say nothing of rows.
    """

    async def check(p: Annotated[Principal, Depends(principal)]) -> Principal:
        if not p.allows(scope):
            raise ApiError(403, f"this token lacks the scope {scope!r}")
        if entity is not None and not access.permits(entity, action, p):
            raise ApiError(403, f"this route is not open to the {p.role} role")
        return p

    return check


async def fetch(
    session: AsyncSession,
    entity: access.Entity,
    row_id: int,
    who: Principal,
    *,
    write: bool = False,
) -> Any:
    """The row the caller may see (with ``write``: change), else 404 (another user's row
    answers exactly like a missing one) or 403 (seen read-only)."""
    try:
        return await access.find(session, entity, row_id, who, write=write)
    except access.NotFound as exc:
        raise ApiError(404, exc.message) from None
    except access.ReadOnly as exc:
        raise ApiError(403, exc.message) from None
