"""Members in the console: the users, pending sign-ups, reset requests and links, and the
admins' changes of role, activation and logins.

Who may do what. The API gives operators nothing on users (``/users`` needs
``users:write``, which only an admin's login holds), but issue 19 makes approving sign-ups
and handing over password reset links the staff's work (the platform sends no email), so:

- the list and a user's page: staff (admins and operators). They show email, role, state,
  sign-up, creation, last login (from the audit log) and the user's recent audit rows,
  which operators read anyway (``audit``); API tokens are listed to admins only, as
  ``GET /tokens?user_id=`` lists them;
- approve a pending sign-up (services/signup.approve) and issue a reset link
  (services/signup.issue_reset): staff; an operator only for a member, never for a staff
  account (a reset link to an admin's account would make an operator an admin, and an
  operator does not let in an account an admin has made staff);
- role and activation: admins only, through the API's own ``PATCH /users/{id}`` handler
  and checks (``users:write`` on ``user``); an admin does not demote or deactivate itself
  here (that is how the last admin locks everyone out: another admin or the CLI can);
- revoking a user's API tokens and browser sessions: admins only, as only an admin's token
  revokes another user's tokens (``DELETE /tokens/{id}``).

A reset link is shown once, on the page that answers the post, and never stored in clear.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.bootstrap import Container
from signalbridge.services import access, audit, signup, web_sessions
from signalbridge.services.auth import Principal, revoke_tokens
from signalbridge.services.tokens import list_tokens, token_view
from signalbridge.services.web_sessions import BrowserLogin
from signalbridge.store import models as m
from signalbridge.store.models import Role
from signalbridge.web.console.auth import Form, Staff, allow, text
from signalbridge.web.console.errors import PageError
from signalbridge.web.console.render import render
from signalbridge.web.deps import ContainerDep
from signalbridge.web.errors import ApiError
from signalbridge.web.params import Id
from signalbridge.web.routes import admin as user_routes

router = APIRouter(include_in_schema=False)

#: Users per page; pending sign-ups and reset requests shown at most.
PAGE = 50
PENDING_SHOWN = 100
REQUESTS_SHOWN = 20
STATES = ("pending", "active", "inactive")

DONE = {
    "approved": "The sign-up is approved: the member can log in now.",
    "activated": "The user is active again.",
    "deactivated": "The user is deactivated: its sessions and tokens stop working.",
    "role": "The role is changed.",
    "revoked": "Every API token and browser session of the user is revoked.",
}


def _flash(request: Request) -> str | None:
    return DONE.get(request.query_params.get("done", ""))


def may_help(who: Principal, user: m.User) -> bool:
    """Staff approve sign-ups and hand over reset links; an operator only for members
    (see the module text)."""
    return access.is_admin(who) or (access.is_staff(who) and user.role == Role.MEMBER)


def may_administer(who: Principal) -> bool:
    """Role and activation changes: as ``PATCH /api/v1/users/{id}`` admits."""
    return who.allows("users:write") and access.permits("user", "write", who)


async def _user(session: AsyncSession, user_id: int) -> m.User:
    user = await session.get(m.User, user_id)
    if user is None:
        raise PageError(404, f"user {user_id} not found")
    return user


async def _last_logins(session: AsyncSession, ids: list[int]) -> dict[int, datetime]:
    if not ids:
        return {}
    rows = await session.execute(
        select(m.AuditEntry.entity_id, func.max(m.AuditEntry.at))
        .where(
            m.AuditEntry.action == "login",
            m.AuditEntry.entity == "user",
            m.AuditEntry.entity_id.in_([str(i) for i in ids]),
        )
        .group_by(m.AuditEntry.entity_id)
    )
    return {int(entity_id): at for entity_id, at in rows.all() if at is not None}


async def _reset_requests(session: AsyncSession) -> list[dict[str, Any]]:
    """The latest reset requests (audit ``reset_requested``), each with its user and
    whether a link was issued or used since."""
    asked = list(
        (
            await session.scalars(
                select(m.AuditEntry)
                .where(m.AuditEntry.action == "reset_requested", m.AuditEntry.entity == "user")
                .order_by(m.AuditEntry.id.desc())
                .limit(REQUESTS_SHOWN)
            )
        ).all()
    )
    ids = sorted({row.entity_id for row in asked})
    handled: dict[str, datetime] = {}
    users: dict[int, m.User] = {}
    if ids:
        rows = await session.execute(
            select(m.AuditEntry.entity_id, func.max(m.AuditEntry.at))
            .where(
                m.AuditEntry.action.in_(("reset_issued", "password_reset")),
                m.AuditEntry.entity == "user",
                m.AuditEntry.entity_id.in_(ids),
            )
            .group_by(m.AuditEntry.entity_id)
        )
        handled = {entity_id: at for entity_id, at in rows.all() if at is not None}
        found = await session.scalars(
            select(m.User).where(m.User.id.in_([int(i) for i in ids if i.isdigit()]))
        )
        users = {u.id: u for u in found.all()}
    out = []
    for row in asked:
        user = users.get(int(row.entity_id)) if row.entity_id.isdigit() else None
        since = handled.get(row.entity_id)
        out.append(
            {
                "at": row.at,
                "address": (row.changes or {}).get("address", ""),
                "user": user,
                "handled": since is not None and since >= row.at,
            }
        )
    return out


# --- the list -----------------------------------------------------------------------------


async def _list_page(
    request: Request,
    login: BrowserLogin,
    c: Container,
    *,
    q: str = "",
    state: str = "",
    role: str = "",
    before_id: int | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    who = login.principal
    query: Any = select(m.User).order_by(m.User.id.desc()).limit(PAGE + 1)
    if q:
        query = query.where(m.User.email.contains(q.lower(), autoescape=True))
    if state == "pending":
        query = query.where(m.User.signup_pending.is_(True))
    elif state == "active":
        query = query.where(m.User.is_active.is_(True))
    elif state == "inactive":
        query = query.where(m.User.is_active.is_(False), m.User.signup_pending.is_(False))
    if role in Role.ALL:
        query = query.where(m.User.role == role)
    if before_id is not None:
        query = query.where(m.User.id < before_id)
    async with c.sessions() as s, s.begin():
        users = list((await s.scalars(query)).all())
        pending = list(
            (
                await s.scalars(
                    select(m.User)
                    .where(m.User.signup_pending.is_(True))
                    .order_by(m.User.id.desc())
                    .limit(PENDING_SHOWN)
                )
            ).all()
        )
        logins = await _last_logins(s, [u.id for u in users[:PAGE]])
        requests = await _reset_requests(s)
    older = None
    if len(users) > PAGE:
        params = {"q": q, "state": state, "role": role, "before_id": str(users[PAGE - 1].id)}
        older = "/console/members?" + urlencode({k: v for k, v in params.items() if v})
    return render(
        request,
        "console/members_list.html",
        login,
        status=status,
        members=users[:PAGE],
        pending=pending,
        logins=logins,
        requests=requests,
        older=older,
        filters={"q": q, "state": state, "role": role},
        states=STATES,
        roles=Role.ALL,
        may_help=lambda u: may_help(who, u),
        error=error,
        flash=_flash(request),
    )


@router.get("/console/members")
async def members_page(
    request: Request,
    login: Staff,
    c: ContainerDep,
    q: str | None = Query(default=None, max_length=320),
    state: str | None = Query(default=None, max_length=10),
    role: str | None = Query(default=None, max_length=10),
    before_id: Id | None = None,
) -> Response:
    return await _list_page(
        request,
        login,
        c,
        q=(q or "").strip(),
        state=state if state in STATES else "",
        role=role if role in Role.ALL else "",
        before_id=before_id,
    )


# --- one user -------------------------------------------------------------------------------


async def _detail_page(
    request: Request,
    login: BrowserLogin,
    c: Container,
    user_id: int,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    who = login.principal
    async with c.sessions() as s, s.begin():
        user = await _user(s, user_id)
        logins = await _last_logins(s, [user.id])
        history_query = access.visible(
            select(m.AuditEntry)
            .where(m.AuditEntry.entity == "user", m.AuditEntry.entity_id == str(user.id))
            .order_by(m.AuditEntry.id.desc())
            .limit(20),
            "audit",
            who,
        )
        history = list((await s.scalars(history_query)).all())
        tokens = (
            [token_view(t) for t in await list_tokens(s, user.id)] if who.allows("admin") else None
        )
    administer = may_administer(who) and user.id != who.user_id
    return render(
        request,
        "console/members_detail.html",
        login,
        status=status,
        member=user,
        last_login=logins.get(user.id),
        history=history,
        tokens=tokens,
        roles=Role.ALL,
        can_approve=user.signup_pending and may_help(who, user),
        can_reset=may_help(who, user) and user.is_active,
        can_administer=administer,
        can_revoke=who.allows("admin"),
        is_self=user.id == who.user_id,
        error=error,
        flash=_flash(request),
    )


@router.get("/console/members/{user_id}")
async def member_page(request: Request, user_id: Id, login: Staff, c: ContainerDep) -> Response:
    return await _detail_page(request, login, c, user_id)


def _back(form: Any, user_id: int, done: str) -> RedirectResponse:
    where = "/console/members" if form.get("back") == "list" else f"/console/members/{user_id}"
    return RedirectResponse(f"{where}?done={done}", status_code=303)


@router.post("/console/members/{user_id}/approve")
async def approve(
    request: Request, user_id: Id, login: Staff, c: ContainerDep, form: Form
) -> Response:
    try:
        async with c.sessions() as s, s.begin():
            user = await _user(s, user_id)
            if not may_help(login.principal, user):
                raise PageError(403, "an operator approves members only")
            await signup.approve(s, user, login.principal)
    except signup.SignupError as exc:
        return await _detail_page(request, login, c, user_id, error=str(exc), status=409)
    return _back(form, user_id, "approved")


@router.post("/console/members/{user_id}/reset-link")
async def reset_link(
    request: Request, user_id: Id, login: Staff, c: ContainerDep, form: Form
) -> Response:
    """A new single-use reset link, shown on this answer only (POST, no-store)."""
    del form
    who = login.principal
    try:
        async with c.sessions() as s, s.begin():
            user = await _user(s, user_id)
            if not may_help(who, user):
                raise PageError(403, "an operator makes reset links for members only")
            token = await signup.issue_reset(s, user, who)
            email = user.email
    except signup.SignupError as exc:
        return await _detail_page(request, login, c, user_id, error=str(exc), status=409)
    return render(
        request,
        "console/members_reset_link.html",
        login,
        member_id=user_id,
        email=email,
        link=str(request.base_url).rstrip("/") + f"/reset/{token}",
        minutes=int(signup.RESET_VALID.total_seconds() // 60),
    )


async def _change(
    request: Request, login: BrowserLogin, c: Container, user_id: int, body: Any
) -> Response | None:
    """The API's ``PATCH /users/{id}`` for an admin, on someone else; None when done."""
    who = login.principal
    allow(who, "users:write", "user", "write")
    if user_id == who.user_id:
        raise PageError(403, "change your own role or activation through another admin")
    try:
        async with c.sessions() as s, s.begin():
            await user_routes.change_user(user_id=user_id, body=body, session=s, who=who)
    except ApiError as exc:
        if exc.status in (403, 404):
            raise
        return await _detail_page(request, login, c, user_id, error=exc.message, status=422)
    return None


@router.post("/console/members/{user_id}/activate")
async def activate(
    request: Request, user_id: Id, login: Staff, c: ContainerDep, form: Form
) -> Response:
    refused = await _change(request, login, c, user_id, user_routes.UserUpdate(is_active=True))
    return refused or _back(form, user_id, "activated")


@router.post("/console/members/{user_id}/deactivate")
async def deactivate(
    request: Request, user_id: Id, login: Staff, c: ContainerDep, form: Form
) -> Response:
    refused = await _change(request, login, c, user_id, user_routes.UserUpdate(is_active=False))
    return refused or _back(form, user_id, "deactivated")


@router.post("/console/members/{user_id}/role")
async def change_role(
    request: Request, user_id: Id, login: Staff, c: ContainerDep, form: Form
) -> Response:
    body = user_routes.UserUpdate(role=text(form, "role", limit=16))
    refused = await _change(request, login, c, user_id, body)
    return refused or _back(form, user_id, "role")


@router.post("/console/members/{user_id}/revoke")
async def revoke_logins(user_id: Id, login: Staff, c: ContainerDep, form: Form) -> Response:
    """End every API token and browser session of the user (an admin's, as the API's
    token revocation of another user)."""
    who = login.principal
    allow(who, "admin")
    async with c.sessions() as s, s.begin():
        user = await _user(s, user_id)
        tokens = await revoke_tokens(s, user.id)
        sessions = await web_sessions.end_all(s, user.id)
        await audit.record_by(
            s,
            who,
            action="revoke_logins",
            entity="user",
            entity_id=user.id,
            changes={"logins_revoked": tokens, "browser_sessions_ended": sessions},
        )
    return _back(form, user_id, "revoked")
