"""Read-only views of the pipeline: signals (with stage timestamps), executions, orders,
positions, execution logs and the audit log. Lists are newest first, paged by ``before_id``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from signalbridge.services.auth import Principal
from signalbridge.store import models as m
from signalbridge.store.base import Base
from signalbridge.web.deps import SessionDep, require
from signalbridge.web.errors import ApiError
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
    session: Any, model: type[Base], limit: int, before_id: int | None, **filters: Any
) -> list[Any]:
    query = select(model).order_by(model.id.desc()).limit(limit)  # type: ignore[attr-defined]
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
    before_id: int | None = None,
    channel_id: int | None = None,
    status: str | None = None,
    _: Principal = Depends(require("signals:read")),
) -> dict[str, Any]:
    rows = await _page(session, m.Signal, limit, before_id, channel_id=channel_id, status=status)
    return {"items": [signal_body(r) for r in rows]}


@router.get("/signals/{signal_id}")
async def get_signal(
    signal_id: int, session: SessionDep, _: Principal = Depends(require("signals:read"))
) -> dict[str, Any]:
    row = await session.get(m.Signal, signal_id)
    if row is None:
        raise ApiError(404, f"signal {signal_id} not found")
    body = signal_body(row)
    executions = (
        await session.scalars(select(m.Execution).where(m.Execution.signal_id == signal_id))
    ).all()
    body["executions"] = [row_dict(e) for e in executions]
    return body


@router.get("/messages/{message_id}")
async def get_message(
    message_id: int, session: SessionDep, _: Principal = Depends(require("signals:read"))
) -> dict[str, Any]:
    row = await session.get(m.Message, message_id)
    if row is None:
        raise ApiError(404, f"message {message_id} not found")
    body = row_dict(row)
    edits = (
        await session.scalars(select(m.MessageEdit).where(m.MessageEdit.message_id == message_id))
    ).all()
    body["edits"] = [row_dict(e) for e in edits]
    return body


def _reader(path: str, model: type[Base], name: str, filters: tuple[str, ...]) -> None:
    scope = Depends(require("executions:read"))

    async def list_rows(
        session: SessionDep,
        limit: int = Limit,
        before_id: int | None = None,
        signal_id: int | None = None,
        execution_id: int | None = None,
        connection_id: int | None = None,
        status: str | None = None,
        _: Principal = scope,
    ) -> dict[str, Any]:
        given = {
            "signal_id": signal_id,
            "execution_id": execution_id,
            "connection_id": connection_id,
            "status": status,
        }
        chosen = {k: v for k, v in given.items() if k in filters}
        rows = await _page(session, model, limit, before_id, **chosen)
        return {"items": [row_dict(r) for r in rows]}

    async def get_row(row_id: int, session: SessionDep, _: Principal = scope) -> dict[str, Any]:
        row = await session.get(model, row_id)
        if row is None:
            raise ApiError(404, f"{name} {row_id} not found")
        return row_dict(row)

    router.add_api_route(path, list_rows, methods=["GET"], name=f"list_{name}s")
    router.add_api_route(path + "/{row_id}", get_row, methods=["GET"], name=f"get_{name}")


_reader("/executions", m.Execution, "execution", ("signal_id", "connection_id", "status"))
_reader("/orders", m.Order, "order", ("execution_id", "connection_id", "status"))
_reader(
    "/positions", m.Position, "position", ("signal_id", "execution_id", "connection_id", "status")
)
_reader("/execution-logs", m.ExecutionLog, "execution_log", ("execution_id",))


@router.get("/audit")
async def list_audit(
    session: SessionDep,
    limit: int = Limit,
    before_id: int | None = None,
    _: Principal = Depends(require("audit:read")),
) -> dict[str, Any]:
    rows = await _page(session, m.AuditEntry, limit, before_id)
    return {"items": [row_dict(r) for r in rows]}
