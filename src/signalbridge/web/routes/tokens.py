"""A caller's own API tokens: list, create (never wider than the caller's), revoke.

Any valid token may manage its owner's tokens; only an admin token sees or revokes
another user's, and to everyone else another user's token answers 404 like a missing one.
A token made here never outlives the token that made it, so a leaked token cannot mint
itself a longer life.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import select

from signalbridge.services import audit
from signalbridge.services.auth import SCOPES, Principal, create_token
from signalbridge.services.tokens import find_token, list_tokens, revoke, token_view
from signalbridge.store import models as m
from signalbridge.store.types import utcnow
from signalbridge.web.deps import ContainerDep, SessionDep, principal
from signalbridge.web.errors import ApiError
from signalbridge.web.params import Id

Caller = Annotated[Principal, Depends(principal)]

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid bearer token"},
    404: {"description": "no such token or user (another user's answers the same)"},
}
router = APIRouter(tags=["tokens"], responses=_ERRORS)


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=len(SCOPES),
        description="default: the calling token's scopes; never wider than them",
    )
    days: int | None = Field(
        default=None, ge=1, le=3650, description="lifetime; default the token_days setting"
    )


def _is_admin(who: Principal) -> bool:
    """An admin acting as admin: the role, through a token that holds the admin scope."""
    return who.role == m.Role.ADMIN and "admin" in who.scopes


@router.get("/tokens")
async def get_tokens(
    session: SessionDep,
    who: Caller,
    user_id: Id | None = None,
) -> dict[str, Any]:
    """The caller's tokens (an admin may name another user); revoked and expired ones too."""
    owner = who.user_id if user_id is None else user_id
    if owner != who.user_id and (not _is_admin(who) or await session.get(m.User, owner) is None):
        raise ApiError(404, f"user {owner} not found")
    items = []
    for row in await list_tokens(session, owner):
        view = token_view(row)
        view["current"] = row.id == who.token_id
        items.append(view)
    return {"items": items}


@router.post(
    "/tokens",
    status_code=201,
    responses={
        403: {"description": "a scope the calling token lacks"},
        422: {"description": "invalid name, scopes or days"},
    },
)
async def add_token(
    body: TokenCreate, session: SessionDep, c: ContainerDep, who: Caller
) -> dict[str, Any]:
    """Create a token for the caller; its plain text is in ``token``, shown this once."""
    scopes = sorted(set(body.scopes)) if body.scopes is not None else sorted(who.scopes)
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ApiError(422, f"unknown scopes {unknown}; known: {', '.join(SCOPES)}")
    if not _is_admin(who):
        wider = sorted(set(scopes) - who.scopes)
        if wider:
            raise ApiError(403, f"this token cannot grant scopes it lacks: {wider}")
    user = await session.get(m.User, who.user_id)
    if user is None:  # deleted between authentication and now
        raise ApiError(401, "the bearer token is not valid")
    expires_at = utcnow() + timedelta(days=body.days or c.settings.token_days)
    parent_expiry = await session.scalar(
        select(m.ApiToken.expires_at).where(m.ApiToken.id == who.token_id)
    )
    if parent_expiry is not None and parent_expiry < expires_at:
        expires_at = parent_expiry
    try:
        row, plain = await create_token(session, user, body.name, scopes, expires_at)
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
    await audit.record_by(
        session,
        who,
        action="create",
        entity="token",
        entity_id=row.id,
        changes={"name": row.name, "scopes": list(row.scopes), "expires_at": expires_at},
    )
    return {**token_view(row), "token": plain}


@router.delete("/tokens/{token_id}", status_code=204)
async def delete_token(token_id: Id, session: SessionDep, who: Caller) -> None:
    """Revoke a token at once (it stays listed, with ``revoked_at``); repeating is harmless."""
    row = await find_token(session, token_id, owner_id=None if _is_admin(who) else who.user_id)
    if row is None:
        raise ApiError(404, f"token {token_id} not found")
    if revoke(row):
        await audit.record_by(
            session,
            who,
            action="revoke",
            entity="token",
            entity_id=row.id,
            changes={"name": row.name, "user_id": row.user_id},
        )
