"""Live PnL (services/pnl.py): realised and unrealised, per execution, follow, connection
or channel, keyed by the asset PnL is counted in; narrowed to the caller's own positions
as the positions list is (members: their own connections only; staff: every one)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.bootstrap import Container
from signalbridge.services import pnl
from signalbridge.services.auth import Principal
from signalbridge.store import models as m
from signalbridge.web.deps import ContainerDep, SessionDep, require
from signalbridge.web.params import Id
from signalbridge.web.serialize import jsonable

router = APIRouter(tags=["trading"])


@router.get("/pnl")
async def get_pnl(
    session: SessionDep,
    c: ContainerDep,
    group: pnl.Group = Query(default="execution"),
    connection_id: Id | None = None,
    channel_id: Id | None = None,
    follow_id: Id | None = None,
    who: Principal = Depends(require("executions:read", "position")),
) -> dict[str, Any]:
    """PnL per ``group`` row and asset (``items``, each row's ``id`` that of the group's
    row) and over everything selected (``totals``, per asset). Unrealised PnL is marked
    to the last price the monitor saw (``marked_at``: the oldest mark a sum rests on;
    ``unmarked_positions``: open ones without a mark yet, left out of it)."""
    found = await pnl.rows(
        session,
        who,
        funding_enabled=c.settings.funding_sync_seconds > 0,
        connection_id=connection_id,
        channel_id=channel_id,
        follow_id=follow_id,
    )
    body = {"group": group, "items": pnl.grouped(found, group), "totals": pnl.overall(found)}
    return dict(jsonable(body))


async def position_fields(
    session: AsyncSession, c: Container, row: m.Position, who: Principal
) -> dict[str, Any]:
    """The PnL fields of one position the caller sees (for ``GET /positions/{id}``)."""
    found = await pnl.rows(
        session, who, funding_enabled=c.settings.funding_sync_seconds > 0, position_id=row.id
    )
    return dict(jsonable(pnl.position_fields(found[0]))) if found else {}
