"""API token bookkeeping shared by the API and the CLI: list, look up by owner, revoke."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.store.models import ApiToken
from signalbridge.store.types import utcnow

#: What a token listing shows; the hash never leaves the database.
VIEW_FIELDS = (
    "id",
    "user_id",
    "prefix",
    "name",
    "scopes",
    "created_at",
    "last_used_at",
    "expires_at",
    "revoked_at",
)


def token_view(row: ApiToken) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in VIEW_FIELDS:
        value = getattr(row, name)
        out[name] = value.isoformat() if hasattr(value, "isoformat") else value
    out["active"] = is_active(row)
    return out


def is_active(row: ApiToken) -> bool:
    return row.revoked_at is None and (row.expires_at is None or row.expires_at > utcnow())


async def list_tokens(session: AsyncSession, user_id: int) -> list[ApiToken]:
    rows = await session.scalars(
        select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)
    )
    return list(rows.all())


async def find_token(
    session: AsyncSession, token_id: int, *, owner_id: int | None
) -> ApiToken | None:
    """The token with this id, if ``owner_id`` owns it (``None``: whoever owns it).

    Another user's token is reported exactly like a missing one.
    """
    row = await session.get(ApiToken, token_id)
    if row is None or (owner_id is not None and row.user_id != owner_id):
        return None
    return row


def revoke(row: ApiToken) -> bool:
    """Mark the token revoked; False when it already was (the first time is kept)."""
    if row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    return True
