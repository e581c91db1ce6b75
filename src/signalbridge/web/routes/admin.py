"""Users and plans: administered through the API, every change audited."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import select

from signalbridge.services import audit
from signalbridge.services.auth import Principal, create_user, hash_password
from signalbridge.store import models as m
from signalbridge.web.deps import SessionDep, require
from signalbridge.web.errors import ApiError
from signalbridge.web.rows import add_or_conflict, delete_or_conflict
from signalbridge.web.serialize import jsonable, row_dict

router = APIRouter(tags=["admin"])
users_scope = Depends(require("users:write"))
admin_scope = Depends(require("admin"))


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
async def list_users(session: SessionDep, _: Principal = users_scope) -> dict[str, Any]:
    rows = (await session.scalars(select(m.User).order_by(m.User.id))).all()
    return {"items": [_user(u) for u in rows]}


@router.post("/users", status_code=201)
async def add_user(
    body: UserCreate, session: SessionDep, who: Principal = users_scope
) -> dict[str, Any]:
    if body.role == m.Role.ADMIN and who.role != m.Role.ADMIN:
        raise ApiError(403, "only an admin can create an admin")
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
        changes={"email": user.email, "role": user.role, "password": body.password},
    )
    return _user(user)


@router.patch("/users/{user_id}")
async def change_user(
    user_id: int, body: UserUpdate, session: SessionDep, who: Principal = users_scope
) -> dict[str, Any]:
    user = await session.get(m.User, user_id)
    if user is None:
        raise ApiError(404, f"user {user_id} not found")
    if body.role is not None and body.role not in m.Role.ALL:
        raise ApiError(422, f"role must be one of {', '.join(m.Role.ALL)}")
    if (body.role == m.Role.ADMIN or user.role == m.Role.ADMIN) and who.role != m.Role.ADMIN:
        raise ApiError(403, "only an admin can change an admin")
    changes: dict[str, Any] = {}
    if body.role is not None and body.role != user.role:
        changes["role"] = [user.role, body.role]
        user.role = body.role
    if body.is_active is not None and body.is_active != user.is_active:
        changes["is_active"] = [user.is_active, body.is_active]
        user.is_active = body.is_active
    if body.password is not None:
        user.password_hash = hash_password(body.password)
        changes["password"] = ["****", "****"]
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
    price: Decimal = Field(ge=0)
    currency: str = Field(default="USD", min_length=3, max_length=10)
    interval: str = Field(default="month", pattern="^(day|week|month|year)$")
    channel_ids: list[int] = Field(default_factory=list)
    is_active: bool = True


@router.get("/plans")
async def list_plans(session: SessionDep, _: Principal = admin_scope) -> dict[str, Any]:
    rows = (await session.scalars(select(m.Plan).order_by(m.Plan.id))).all()
    return {"items": [row_dict(p) for p in rows]}


@router.post("/plans", status_code=201)
async def add_plan(
    body: PlanBody, session: SessionDep, who: Principal = admin_scope
) -> dict[str, Any]:
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
    plan_id: int, body: PlanBody, session: SessionDep, who: Principal = admin_scope
) -> dict[str, Any]:
    plan = await session.get(m.Plan, plan_id)
    if plan is None:
        raise ApiError(404, f"plan {plan_id} not found")
    new = body.model_dump()
    before = {k: getattr(plan, k) for k in new}
    for key, value in new.items():
        setattr(plan, key, value)
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
async def delete_plan(plan_id: int, session: SessionDep, who: Principal = admin_scope) -> None:
    plan = await session.get(m.Plan, plan_id)
    if plan is None:
        raise ApiError(404, f"plan {plan_id} not found")
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
