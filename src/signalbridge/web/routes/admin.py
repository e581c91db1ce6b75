"""Users and plans: administered through the API, every change audited.

Only admins create users, change other users and roles, and manage plans. Anyone else
holding ``users:write`` manages only themselves: lists only themselves, changes their own
password, never their own role or active flag (services/access.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.domain.bounds import StoreDecimal
from signalbridge.services import access, audit
from signalbridge.services.auth import Principal, create_user, hash_password, revoke_tokens
from signalbridge.store import models as m
from signalbridge.web.deps import SessionDep, fetch, require
from signalbridge.web.errors import ApiError
from signalbridge.web.params import Id
from signalbridge.web.rows import add_or_conflict, delete_or_conflict
from signalbridge.web.serialize import jsonable, row_dict

router = APIRouter(tags=["admin"])
users_reader = Depends(require("users:write", "user", "read"))
users_writer = Depends(require("users:write", "user", "write"))
users_creator = Depends(require("users:write", "user", "create"))
plans_reader = Depends(require("admin", "plan", "read"))
plans_writer = Depends(require("admin", "plan", "write"))
plans_creator = Depends(require("admin", "plan", "create"))


class UserCreate(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=8, max_length=200)
    role: str = m.Role.MEMBER


class UserUpdate(BaseModel):
    role: str | None = None
    is_active: bool | None = None
    password: str | None = Field(default=None, min_length=8, max_length=200)


def _user(row: m.User) -> dict[str, Any]:
    return row_dict(row, exclude=("password_hash",))


@router.get("/users")
async def list_users(session: SessionDep, who: Principal = users_reader) -> dict[str, Any]:
    query = access.visible(select(m.User).order_by(m.User.id), "user", who)
    rows = (await session.scalars(query)).all()
    return {"items": [_user(u) for u in rows]}


@router.post("/users", status_code=201)
async def add_user(
    body: UserCreate, session: SessionDep, who: Principal = users_creator
) -> dict[str, Any]:
    try:
        user = await create_user(session, body.email, body.password, body.role)
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
    await audit.record_by(
        session,
        who,
        action="create",
        entity="user",
        entity_id=user.id,
        changes={"email": user.email, "role": user.role},
    )
    return _user(user)


@router.patch("/users/{user_id}")
async def change_user(
    user_id: Id, body: UserUpdate, session: SessionDep, who: Principal = users_writer
) -> dict[str, Any]:
    user: m.User = await fetch(session, "user", user_id, who, write=True)
    if body.role is not None and body.role not in m.Role.ALL:
        raise ApiError(422, f"role must be one of {', '.join(m.Role.ALL)}")
    if not access.is_admin(who) and (
        (body.role is not None and body.role != user.role)
        or (body.is_active is not None and body.is_active != user.is_active)
    ):
        raise ApiError(403, "only an admin can change a role or the active flag")
    changes: dict[str, Any] = {}
    if body.role is not None and body.role != user.role:
        changes["role"] = [user.role, body.role]
        user.role = body.role
    if body.is_active is not None and body.is_active != user.is_active:
        changes["is_active"] = [user.is_active, body.is_active]
        user.is_active = body.is_active
    if body.password is not None:
        user.password_hash = hash_password(body.password)
        # That it changed, never the value, not even masked.
        changes["credentials_changed"] = ["password"]
        # Tokens made with the old password go with it; the caller keeps the one in use.
        keep = who.token_id if who.user_id == user.id else None
        changes["logins_revoked"] = await revoke_tokens(session, user.id, keep=keep)
    await audit.record_by(
        session,
        who,
        action="update",
        entity="user",
        entity_id=user.id,
        changes=changes,
    )
    await session.flush()
    return _user(user)


class PlanBody(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    #: Fits NUMERIC(38, 18) (domain/bounds.py) and is not negative.
    price: Annotated[StoreDecimal, Field(ge=0)]
    currency: str = Field(default="USD", min_length=3, max_length=10)
    interval: str = Field(default="month", pattern="^(day|week|month|year)$")
    channel_ids: list[Id] = Field(default_factory=list, max_length=1000)
    is_active: bool = True


async def _check_channels(session: AsyncSession, channel_ids: list[int]) -> list[int]:
    """The plan's channels, each once and in order; an id of no channel is a 422."""
    wanted = list(dict.fromkeys(channel_ids))
    if not wanted:
        return wanted
    found = set(
        (
            await session.scalars(select(m.ChannelSource.id).where(m.ChannelSource.id.in_(wanted)))
        ).all()
    )
    missing = [i for i in wanted if i not in found]
    if missing:
        raise ApiError(
            422, f"no channel with id {', '.join(map(str, missing[:10]))}", details=missing[:10]
        )
    return wanted


@router.get("/plans")
async def list_plans(session: SessionDep, _: Principal = plans_reader) -> dict[str, Any]:
    rows = (await session.scalars(select(m.Plan).order_by(m.Plan.id))).all()
    return {"items": [row_dict(p) for p in rows]}


@router.post("/plans", status_code=201)
async def add_plan(
    body: PlanBody, session: SessionDep, who: Principal = plans_creator
) -> dict[str, Any]:
    body.channel_ids = await _check_channels(session, body.channel_ids)
    plan = m.Plan(**body.model_dump())
    await add_or_conflict(session, plan, f"a plan named {body.name!r} exists already")
    await audit.record_by(
        session,
        who,
        action="create",
        entity="plan",
        entity_id=plan.id,
        changes=jsonable(body.model_dump()),
    )
    return row_dict(plan)


@router.put("/plans/{plan_id}")
async def replace_plan(
    plan_id: Id, body: PlanBody, session: SessionDep, who: Principal = plans_writer
) -> dict[str, Any]:
    plan = await fetch(session, "plan", plan_id, who, write=True)
    body.channel_ids = await _check_channels(session, body.channel_ids)
    new = body.model_dump()
    before = {k: getattr(plan, k) for k in new}
    try:
        async with session.begin_nested():  # a rename onto another plan's name is a 409
            for key, value in new.items():
                setattr(plan, key, value)
            await session.flush()
    except IntegrityError:
        raise ApiError(409, f"a plan named {body.name!r} exists already") from None
    await audit.record_by(
        session,
        who,
        action="update",
        entity="plan",
        entity_id=plan.id,
        changes=jsonable(audit.diff(before, new)),
    )
    await session.flush()
    return row_dict(plan)


@router.delete("/plans/{plan_id}", status_code=204)
async def delete_plan(plan_id: Id, session: SessionDep, who: Principal = plans_writer) -> None:
    plan = await fetch(session, "plan", plan_id, who, write=True)
    await delete_or_conflict(
        session, plan, f"plan {plan_id} has subscriptions; deactivate it instead"
    )
    await audit.record_by(
        session,
        who,
        action="delete",
        entity="plan",
        entity_id=plan_id,
        changes={"name": plan.name},
    )
