"""Read-only views of the pipeline: signals (with stage timestamps), executions, orders,
positions, execution logs and the audit log. Lists are newest first, paged by ``before_id``.

Every view is narrowed to the caller (services/access.py): members see the signals and
messages of channels they may follow or follow, their own executions, orders, positions
and logs, and the audit rows of their own actions; operators and admins see everything.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from signalbridge.services import access
from signalbridge.services.ai_analysis import analysis_body
from signalbridge.services.auth import Principal
from signalbridge.store import models as m
from signalbridge.store.base import Base
from signalbridge.web.deps import ContainerDep, SessionDep, fetch, require
from signalbridge.web.params import Id
from signalbridge.web.routes.pnl import position_fields
from signalbridge.web.serialize import row_dict

router = APIRouter(tags=["trading"])
Limit = Query(default=100, ge=1, le=1000)

STAGES = (
    "received_at",
    "parsed_at",
    "dispatched_at",
    "order_sent_at",
    "order_acked_at",
    "filled_at",
)


def signal_body(row: m.Signal) -> dict[str, Any]:
    body = row_dict(row, exclude=STAGES)
    body["stages"] = {s.removesuffix("_at"): row_dict(row)[s] for s in STAGES}
    return body


async def _page(
    session: Any,
    entity: access.Entity,
    who: Principal,
    limit: int,
    before_id: int | None,
    **filters: Any,
) -> list[Any]:
    model: type[Base] = access.MODELS[entity]
    query = select(model).order_by(model.id.desc()).limit(limit)  # type: ignore[attr-defined]
    query = access.visible(query, entity, who)
    if before_id is not None:
        query = query.where(model.id < before_id)  # type: ignore[attr-defined]
    for key, value in filters.items():
        if value is not None:
            query = query.where(getattr(model, key) == value)
    return list((await session.scalars(query)).all())


@router.get("/signals")
async def list_signals(
    session: SessionDep,
    limit: int = Limit,
    before_id: Id | None = None,
    channel_id: Id | None = None,
    status: str | None = Query(default=None, max_length=40),
    who: Principal = Depends(require("signals:read", "signal")),
) -> dict[str, Any]:
    rows = await _page(
        session, "signal", who, limit, before_id, channel_id=channel_id, status=status
    )
    return {"items": [signal_body(r) for r in rows]}


@router.get("/signals/{signal_id}")
async def get_signal(
    signal_id: Id, session: SessionDep, who: Principal = Depends(require("signals:read", "signal"))
) -> dict[str, Any]:
    row = await fetch(session, "signal", signal_id, who)
    body = signal_body(row)
    mine = access.visible(
        select(m.Execution).where(m.Execution.signal_id == signal_id).order_by(m.Execution.id),
        "execution",
        who,
    )
    body["executions"] = [row_dict(e) for e in (await session.scalars(mine)).all()]
    # The AI market analyst's verdict (None: not asked); cost and raw answer for staff only.
    body["analysis"] = await analysis_body(session, signal_id, staff=access.is_staff(who))
    return body


@router.get("/messages/{message_id}")
async def get_message(
    message_id: Id,
    session: SessionDep,
    who: Principal = Depends(require("signals:read", "message")),
) -> dict[str, Any]:
    row = await fetch(session, "message", message_id, who)
    body = row_dict(row)
    edits = (
        await session.scalars(select(m.MessageEdit).where(m.MessageEdit.message_id == message_id))
    ).all()
    body["edits"] = [row_dict(e) for e in edits]
    return body


#: What a reader adds to one row it answers (``GET /positions/{id}``: its PnL).
Extra = Callable[[Any, Any, Any, Principal], Awaitable[dict[str, Any]]]


def _reader(
    path: str, name: access.Entity, filters: tuple[str, ...], extra: Extra | None = None
) -> None:
    scope = Depends(require("executions:read", name))

    async def list_rows(
        session: SessionDep,
        limit: int = Limit,
        before_id: Id | None = None,
        signal_id: Id | None = None,
        execution_id: Id | None = None,
        connection_id: Id | None = None,
        status: str | None = Query(default=None, max_length=40),
        who: Principal = scope,
    ) -> dict[str, Any]:
        given = {
            "signal_id": signal_id,
            "execution_id": execution_id,
            "connection_id": connection_id,
            "status": status,
        }
        chosen = {k: v for k, v in given.items() if k in filters}
        rows = await _page(session, name, who, limit, before_id, **chosen)
        return {"items": [row_dict(r) for r in rows]}

    async def get_row(
        row_id: Id, session: SessionDep, c: ContainerDep, who: Principal = scope
    ) -> dict[str, Any]:
        row = await fetch(session, name, row_id, who)
        body = row_dict(row)
        if extra is not None:
            body.update(await extra(session, c, row, who))
        return body

    router.add_api_route(path, list_rows, methods=["GET"], name=f"list_{name}s")
    router.add_api_route(path + "/{row_id}", get_row, methods=["GET"], name=f"get_{name}")


_reader("/executions", "execution", ("signal_id", "connection_id", "status"))
_reader("/orders", "order", ("execution_id", "connection_id", "status"))
_reader(
    "/positions",
    "position",
    ("signal_id", "execution_id", "connection_id", "status"),
    extra=position_fields,
)
_reader("/execution-logs", "execution_log", ("execution_id",))
# Positions the venue holds that SignalBridge did not open (position sync): reported only.
_reader("/foreign-positions", "foreign_position", ("connection_id",))


@router.get("/audit")
async def list_audit(
    session: SessionDep,
    limit: int = Limit,
    before_id: Id | None = None,
    who: Principal = Depends(require("audit:read", "audit")),
) -> dict[str, Any]:
    rows = await _page(session, "audit", who, limit, before_id)
    return {"items": [row_dict(r) for r in rows]}
