"""Follows: which execution connection copies which channel, with sizing and risk limits.

A follow belongs to the owner of its connection. Members see and change their own;
operators see all and change their own; admins everything (services/access.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select

from signalbridge.domain.management import management_settings
from signalbridge.execution.planner import risk_settings, sizing_config
from signalbridge.services import access, audit
from signalbridge.services.auth import Principal
from signalbridge.store import models as m
from signalbridge.web.deps import SessionDep, fetch, require
from signalbridge.web.errors import ApiError
from signalbridge.web.params import Id
from signalbridge.web.rows import add_or_conflict, delete_or_conflict
from signalbridge.web.serialize import row_dict

router = APIRouter(prefix="/follows", tags=["follows"])
reader = Depends(require("follows:read", "follow", "read"))
writer = Depends(require("follows:write", "follow", "write"))
creator = Depends(require("follows:write", "follow", "create"))


class FollowCreate(BaseModel):
    connection_id: Id
    channel_id: Id
    is_active: bool = True
    sizing: dict[str, Any] = Field(default_factory=dict)
    risk: dict[str, Any] = Field(default_factory=dict)
    management: dict[str, Any] = Field(default_factory=dict)


class FollowUpdate(BaseModel):
    is_active: bool | None = None
    sizing: dict[str, Any] | None = None
    risk: dict[str, Any] | None = None
    management: dict[str, Any] | None = None


def _check_settings(
    sizing: dict[str, Any] | None,
    risk: dict[str, Any] | None,
    management: dict[str, Any] | None = None,
) -> None:
    try:
        if sizing is not None:
            sizing_config(sizing)
        if risk is not None:
            risk_settings(risk)
        if management is not None:
            management_settings(management)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
            for e in exc.errors(include_input=False, include_url=False)
        ]
        raise ApiError(422, "sizing or risk settings are not valid", details=details) from None


@router.get("")
async def list_follows(
    session: SessionDep, channel_id: Id | None = None, who: Principal = reader
) -> dict[str, Any]:
    query = access.visible(select(m.Follow).order_by(m.Follow.id), "follow", who)
    if channel_id is not None:
        query = query.where(m.Follow.channel_id == channel_id)
    return {"items": [row_dict(f) for f in (await session.scalars(query)).all()]}


@router.get("/{follow_id}")
async def get_follow(follow_id: Id, session: SessionDep, who: Principal = reader) -> dict[str, Any]:
    return row_dict(await fetch(session, "follow", follow_id, who))


@router.post("", status_code=201)
async def create_follow(
    body: FollowCreate, session: SessionDep, who: Principal = creator
) -> dict[str, Any]:
    _check_settings(body.sizing, body.risk, body.management)
    # Another user's connection, or a channel the caller may not follow, is refused in the
    # very words a missing one is: an id never tells that someone else's row exists.
    if await access.usable_connection(session, body.connection_id, who) is None:
        raise ApiError(422, f"execution connection {body.connection_id} does not exist")
    try:
        channel = await access.followable_channel(session, body.channel_id, who)
    except access.NotEntitled as exc:  # a plan-only channel: the reason, never a guess
        raise ApiError(403, exc.message, code="not_entitled") from None
    if channel is None:
        raise ApiError(422, f"channel {body.channel_id} does not exist")
    follow = m.Follow(**body.model_dump())
    await add_or_conflict(session, follow, "this connection already follows this channel")
    await audit.record_by(
        session,
        who,
        action="create",
        entity="follow",
        entity_id=follow.id,
        changes=body.model_dump(),
    )
    return row_dict(follow)


@router.patch("/{follow_id}")
async def update_follow(
    follow_id: Id, body: FollowUpdate, session: SessionDep, who: Principal = writer
) -> dict[str, Any]:
    follow = await fetch(session, "follow", follow_id, who, write=True)
    _check_settings(body.sizing, body.risk, body.management)
    changes = body.model_dump(exclude_none=True)
    before = {k: getattr(follow, k) for k in changes}
    for key, value in changes.items():
        setattr(follow, key, value)
    await audit.record_by(
        session,
        who,
        action="update",
        entity="follow",
        entity_id=follow.id,
        changes=audit.diff(before, changes),
    )
    await session.flush()
    return row_dict(follow)


@router.delete("/{follow_id}", status_code=204)
async def delete_follow(follow_id: Id, session: SessionDep, who: Principal = writer) -> None:
    follow = await fetch(session, "follow", follow_id, who, write=True)
    await delete_or_conflict(
        session, follow, f"follow {follow_id} has executions; deactivate it instead"
    )
    await audit.record_by(
        session,
        who,
        action="delete",
        entity="follow",
        entity_id=follow_id,
        changes={"connection_id": follow.connection_id, "channel_id": follow.channel_id},
    )
