"""Users: administered through the API, every change audited.

Only admins create users and change other users and roles. Anyone else holding
``users:write`` manages only themselves: lists only themselves, changes their own
password, never their own role or active flag (services/access.py). Plans are sold and
administered with the payment flow (web/routes/payments.py, ``/plans``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import select

from signalbridge.services import access, audit
from signalbridge.services.auth import Principal, create_user, hash_password, revoke_tokens
from signalbridge.store import models as m
from signalbridge.web.deps import SessionDep, fetch, require
from signalbridge.web.errors import ApiError
from signalbridge.web.params import Id
from signalbridge.web.serialize import row_dict

router = APIRouter(tags=["admin"])
users_reader = Depends(require("users:write", "user", "read"))
users_writer = Depends(require("users:write", "user", "write"))
users_creator = Depends(require("users:write", "user", "create"))


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
