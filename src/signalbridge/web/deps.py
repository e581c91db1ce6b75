"""Request dependencies: the container, a database session, and the caller's scopes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.bootstrap import Container
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


async def principal(request: Request, c: ContainerDep) -> Principal:
    """The caller, from a short session of its own that is closed before the handler runs.

    (The handler's session connects lazily, on first use, so the two never overlap; with
    SQLite's single pooled connection, overlapping sessions in one task would deadlock.)
    """
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "a bearer token is required")
    async with c.sessions() as s:
        try:
            return await authenticate(s, token.strip())
        except AuthError:
            raise ApiError(401, "the bearer token is not valid") from None


def require(scope: str) -> Callable[..., Awaitable[Principal]]:
    """Dependency that admits callers whose token holds ``scope`` (or ``admin``)."""

    async def check(p: Annotated[Principal, Depends(principal)]) -> Principal:
        if not p.allows(scope):
            raise ApiError(403, f"this token lacks the scope {scope!r}")
        return p

    return check
