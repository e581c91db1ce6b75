"""Execution quality (services/execution_quality.py): slippage and latency summarised per
channel or per venue, and each sent order's own figures.

Both read the orders the caller sees, as ``/orders`` does: a member its own connections',
operators and admins everyone's. The window starts at ``since`` (default: 30 days ago).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query

from signalbridge.services import execution_quality as quality
from signalbridge.services.auth import Principal
from signalbridge.store.types import utcnow
from signalbridge.web.deps import SessionDep, require
from signalbridge.web.errors import ApiError
from signalbridge.web.params import Id
from signalbridge.web.serialize import jsonable

router = APIRouter(tags=["trading"])
reader = Depends(require("executions:read", "order"))
Since = Query(
    default=None, description="orders written from this instant on (default: 30 days ago)"
)
RoleQuery = Query(default=None, description="only entries, or only exits")


def _since(value: datetime | None) -> datetime:
    if value is None:
        return quality.default_since(utcnow())
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ApiError(422, "since is out of range") from None


@router.get("/execution-quality")
async def execution_quality(
    session: SessionDep,
    group: Literal["channel", "venue"] = "venue",
    since: datetime | None = Since,
    connection_id: Id | None = None,
    channel_id: Id | None = None,
    role: Literal["entry", "exit"] | None = RoleQuery,
    who: Principal = reader,
) -> dict[str, Any]:
    """Per channel or venue (``ccxt:<exchange>``, ``metaapi``, ``paper``): orders sent,
    slippage in basis points (count, mean, median, p95, min, max; positive is worse for
    us) and its cost per currency, and latencies in ms (signal → sent for entries,
    sent → acknowledged, sent → filled)."""
    body = await quality.summary(
        session,
        who,
        by=group,
        since=_since(since),
        connection_id=connection_id,
        channel_id=channel_id,
        role=role,
    )
    result: dict[str, Any] = jsonable(body)
    return result


@router.get("/execution-quality/orders")
async def order_quality(
    session: SessionDep,
    limit: int = Query(default=100, ge=1, le=1000),
    before_id: Id | None = None,
    since: datetime | None = Since,
    connection_id: Id | None = None,
    channel_id: Id | None = None,
    role: Literal["entry", "exit"] | None = RoleQuery,
    who: Principal = reader,
) -> dict[str, Any]:
    """Each sent order's reference price, fill, slippage and latencies, newest first."""
    figures = await quality.order_figures(
        session,
        who,
        since=_since(since),
        limit=limit,
        before_id=before_id,
        connection_id=connection_id,
        channel_id=channel_id,
        role=role,
    )
    return {"items": [jsonable(f.body()) for f in figures]}
