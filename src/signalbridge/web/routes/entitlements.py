"""Entitlements and grants: which plan channels a member may copy, and operators' grants.

- ``GET /users/{user_id}/entitlements``: the channels a user is entitled to through a
  plan now, each with its source and end (a member: itself; staff: anyone).
- ``GET /grants``: grants; a member sees its own, staff all (``?user_id=`` narrows).
- ``POST /grants``: staff give a plan to a member for ``days`` days or without end.
- ``POST /grants/{id}/revoke``: staff end a grant now (the row stays, with who and when).

Granting and revoking are audited (services/entitlement_grants.py). Scopes: reading needs
``follows:read``; granting and revoking ``channels:write`` (what an operator's login holds)
and the admin or operator role.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import select

from signalbridge.services import access, entitlement
from signalbridge.services import entitlement_grants as grants
from signalbridge.services.auth import Principal
from signalbridge.services.entitlement_rules import Decision
from signalbridge.store import models as m
from signalbridge.store.types import utcnow
from signalbridge.web.deps import SessionDep, fetch, require
from signalbridge.web.errors import ApiError
from signalbridge.web.params import Id
from signalbridge.web.serialize import jsonable, row_dict

router = APIRouter(tags=["entitlements"])
entitlement_reader = Depends(require("follows:read"))
grant_reader = Depends(require("follows:read", "grant", "read"))
grant_writer = Depends(require("channels:write", "grant", "write"))
grant_creator = Depends(require("channels:write", "grant", "create"))


class GrantCreate(BaseModel):
    """Exactly one of ``user_id`` and ``email`` names the member."""

    user_id: Id | None = None
    email: str | None = Field(default=None, min_length=3, max_length=320)
    plan_id: Id
    days: int | None = Field(
        default=None, ge=1, le=grants.MAX_DAYS, description="None: the grant has no end."
    )
    note: str | None = Field(default=None, max_length=grants.MAX_NOTE)

    @model_validator(mode="after")
    def _one_member(self) -> GrantCreate:
        if (self.user_id is None) == (self.email is None):
            raise ValueError("give exactly one of user_id and email")
        return self


def _grant(row: m.PlanGrant, now: datetime) -> dict[str, Any]:
    return {**row_dict(row), "state": grants.state(row, now)}


def _entitlement(channel_id: int, d: Decision) -> dict[str, Any]:
    source = d.source
    return {
        "channel_id": channel_id,
        "code": d.code,
        "detail": d.detail,
        "until": jsonable(d.until),
        "source": None
        if source is None
        else {"kind": source.kind, "id": source.id, "plan_id": source.plan_id},
    }


@router.get("/users/{user_id}/entitlements")
async def list_entitlements(
    user_id: Id, session: SessionDep, who: Principal = entitlement_reader
) -> dict[str, Any]:
    # Staff read anyone's; to anyone else another user is exactly a missing one.
    if user_id != who.user_id and (
        not access.is_staff(who) or await session.get(m.User, user_id) is None
    ):
        raise ApiError(404, f"user {user_id} not found")
    found = await entitlement.entitled_channels(session, user_id)
    return {
        "user_id": user_id,
        "items": [_entitlement(channel_id, d) for channel_id, d in found.items()],
    }


@router.get("/grants")
async def list_grants(
    session: SessionDep, user_id: Id | None = None, who: Principal = grant_reader
) -> dict[str, Any]:
    query = access.visible(select(m.PlanGrant).order_by(m.PlanGrant.id), "grant", who)
    if user_id is not None:
        query = query.where(m.PlanGrant.user_id == user_id)
    now = utcnow()
    return {"items": [_grant(g, now) for g in (await session.scalars(query)).all()]}


@router.post("/grants", status_code=201)
async def create_grant(
    body: GrantCreate, session: SessionDep, who: Principal = grant_creator
) -> dict[str, Any]:
    member: int | str = body.user_id if body.user_id is not None else str(body.email)
    try:
        row = await grants.grant(
            session,
            grants.Actor(who.label, who.user_id),
            user=member,
            plan=body.plan_id,
            days=body.days,
            note=body.note,
        )
    except grants.GrantError as exc:
        raise ApiError(422, str(exc)) from None
    return _grant(row, utcnow())


@router.post("/grants/{grant_id}/revoke")
async def revoke_grant(
    grant_id: Id, session: SessionDep, who: Principal = grant_writer
) -> dict[str, Any]:
    await fetch(session, "grant", grant_id, who, write=True)
    try:
        row = await grants.revoke(session, grants.Actor(who.label, who.user_id), grant_id)
    except grants.GrantNotFound as exc:
        raise ApiError(404, str(exc)) from None
    except grants.GrantError as exc:
        raise ApiError(409, str(exc)) from None
    return _grant(row, utcnow())
