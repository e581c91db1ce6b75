"""Executions, orders, positions, execution logs and manual actions for the staff, with
the manual override buttons (close, cancel, pause, resume, panic).

Reads go through the API's owner filter (``access.visible`` / ``access.find``) after the
API route's own scope check (:func:`allow`); lists take the API's filters and page like
it (newest first, ``before_id``). An override is the API's: the same scope, the same row
checks (the row seen, its connection writable: an operator sees members' accounts
read-only), the same service (services/override.py) that writes, audits and carries out
the action once; the page then shows the action as ``GET /manual-actions`` reads it back.

"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from signalbridge.bootstrap import Container
from signalbridge.services import access, pnl
from signalbridge.services.auth import Principal
from signalbridge.services.override import (
    CANCEL,
    CLOSE,
    KINDS,
    PANIC,
    PAUSE,
    RESUME,
    ActionOutcome,
    KeyReused,
    OverrideRequest,
)
from signalbridge.services.web_sessions import BrowserLogin
from signalbridge.store import models as m
from signalbridge.web.console.auth import Form, Staff, allow, text
from signalbridge.web.console.errors import PageError, safe_next
from signalbridge.web.console.listing import equal, names_of, newest, query_id, query_text
from signalbridge.web.console.render import render
from signalbridge.web.deps import ContainerDep, fetch
from signalbridge.web.errors import ApiError
from signalbridge.web.params import Id
from signalbridge.web.routes import override as api

router = APIRouter(include_in_schema=False)

READ = "executions:read"
#: The API's scopes for the override routes (web/routes/override.py).
TRADE = "connections:write"
FOLLOW = "follows:write"
LIVE_ORDERS = (m.OrderStatus.PENDING, m.OrderStatus.OPEN, m.OrderStatus.PARTIALLY_FILLED)

# --- what the caller may do -----------------------------------------------------------


async def writable_connection(
    session: AsyncSession, connection_id: int, who: Principal, scope: str = TRADE
) -> str | None:
    """None if the caller may act on this connection's account, else why not (shown)."""
    if not who.allows(scope):
        return f"your role lacks the scope {scope!r}: read-only"
    try:
        await access.find(session, "connection", connection_id, who, write=True)
    except access.AccessDenied as exc:
        return exc.message
    return None


async def action_shown(
    session: AsyncSession, request: Request, who: Principal
) -> dict[str, Any] | None:
    """The manual action named by ``?action=`` as ``GET /manual-actions/{id}`` reads it."""
    action_id = query_id(request, "action")
    if action_id is None:
        return None
    try:
        row = await access.find(session, "manual_action", action_id, who)
    except access.NotFound:
        return None
    return api.action_body(row)


# --- lists ----------------------------------------------------------------------------


def _trading_filters(request: Request, names: tuple[str, ...]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in names:
        if name == "status":
            found[name] = query_text(request, name)
        else:
            found[name] = query_id(request, name)
    return found


async def _list_page(
    request: Request,
    login: BrowserLogin,
    c: Container,
    entity: access.Entity,
    template: str,
    names: tuple[str, ...],
    **extra: Any,
) -> Response:
    who = login.principal
    allow(who, READ, entity)
    filters = _trading_filters(request, names)
    before_id = query_id(request, "before_id")
    model = access.MODELS[entity]
    async with c.sessions() as s, s.begin():
        page = await newest(
            s,
            entity,
            who,
            request.url.path,
            filters,
            *equal(model, filters),
            before_id=before_id,
        )
        ids = [r.connection_id for r in page.rows if hasattr(r, "connection_id")]
        connections = await names_of(s, "connection", ids, who)
        can_trade = who.allows(TRADE)
    return render(
        request,
        template,
        login,
        page=page,
        filters=filters,
        connections=connections,
        can_trade=can_trade,
        live_orders=LIVE_ORDERS,
        query=urlencode(
            {k: v for k, v in {**filters, "before_id": before_id}.items() if v is not None}
        ),
        **extra,
    )


@router.get("/console/executions")
async def executions(request: Request, login: Staff, c: ContainerDep) -> Response:
    statuses = ("pending", "placing", "open", "closed", "skipped", "failed")
    return await _list_page(
        request,
        login,
        c,
        "execution",
        "console/trading_executions.html",
        ("signal_id", "connection_id", "status"),
        statuses=statuses,
    )


@router.get("/console/orders")
async def orders(request: Request, login: Staff, c: ContainerDep) -> Response:
    statuses = (
        "pending",
        "sending",
        "open",
        "partially_filled",
        "filled",
        "canceled",
        "rejected",
        "expired",
    )
    return await _list_page(
        request,
        login,
        c,
        "order",
        "console/trading_orders.html",
        ("execution_id", "connection_id", "status"),
        statuses=statuses,
    )


POSITION_FILTERS = ("signal_id", "execution_id", "connection_id", "status")


@router.get("/console/positions")
async def positions(request: Request, login: Staff, c: ContainerDep) -> Response:
    return await _list_page(
        request,
        login,
        c,
        "position",
        "console/trading_positions.html",
        POSITION_FILTERS,
        statuses=("open", "closed"),
    )


@router.get("/console/positions/rows")
async def position_rows(request: Request, login: Staff, c: ContainerDep) -> Response:
    """The positions table's rows alone: what the live table re-fetches on an event."""
    return await _list_page(
        request, login, c, "position", "console/trading_positions_rows.html", POSITION_FILTERS
    )


@router.get("/console/execution-logs")
async def execution_logs(request: Request, login: Staff, c: ContainerDep) -> Response:
    return await _list_page(
        request, login, c, "execution_log", "console/trading_logs.html", ("execution_id",)
    )


@router.get("/console/manual-actions")
async def manual_actions(request: Request, login: Staff, c: ContainerDep) -> Response:
    who = login.principal
    allow(who, READ, "manual_action")
    filters: dict[str, Any] = {
        "connection_id": query_id(request, "connection_id"),
        "kind": query_text(request, "kind", 24),
        "status": query_text(request, "status", 16),
    }
    async with c.sessions() as s, s.begin():
        page = await newest(
            s,
            "manual_action",
            who,
            request.url.path,
            filters,
            *equal(m.ManualAction, filters),
            before_id=query_id(request, "before_id"),
        )
        items = [api.action_body(r) for r in page.rows]
    return render(
        request,
        "console/trading_actions.html",
        login,
        page=page,
        items=items,
        filters=filters,
        kinds=KINDS,
        statuses=(m.ManualActionStatus.PENDING, *m.ManualActionStatus.FINAL),
        can_trade=who.allows(TRADE),
    )


# --- details --------------------------------------------------------------------------


async def _found(session: AsyncSession, entity: access.Entity, row_id: int, who: Principal) -> Any:
    try:
        return await access.find(session, entity, row_id, who)
    except access.AccessDenied as exc:
        raise PageError(404, exc.message) from None


@router.get("/console/executions/{row_id}")
async def execution(row_id: Id, request: Request, login: Staff, c: ContainerDep) -> Response:
    who = login.principal
    allow(who, READ, "execution")
    async with c.sessions() as s, s.begin():
        row: m.Execution = await _found(s, "execution", row_id, who)
        orders = await newest(s, "order", who, "", {}, m.Order.execution_id == row_id, limit=500)
        held = await newest(
            s, "position", who, "", {}, m.Position.execution_id == row_id, limit=100
        )
        logs = await newest(
            s, "execution_log", who, "", {}, m.ExecutionLog.execution_id == row_id, limit=200
        )
        follow = await s.scalar(
            access.visible(select(m.Follow).where(m.Follow.id == row.follow_id), "follow", who)
        )
        connections = await names_of(s, "connection", [row.connection_id], who)
        refused = await writable_connection(s, row.connection_id, who)
        follow_refused = await writable_connection(s, row.connection_id, who, FOLLOW)
        action = await action_shown(s, request, who)
    return render(
        request,
        "console/trading_execution.html",
        login,
        row=row,
        orders=list(reversed(orders.rows)),
        positions=held.rows,
        logs=list(reversed(logs.rows)),
        follow=follow,
        connection_name=connections.get(row.connection_id, ""),
        refused=refused,
        follow_refused=follow_refused,
        can_trade=refused is None,
        live_orders=LIVE_ORDERS,
        action=action,
    )


@router.get("/console/positions/{row_id}")
async def position(row_id: Id, request: Request, login: Staff, c: ContainerDep) -> Response:
    who = login.principal
    allow(who, READ, "position")
    async with c.sessions() as s, s.begin():
        row: m.Position = await _found(s, "position", row_id, who)
        marked = await pnl.rows(
            s, who, funding_enabled=c.settings.funding_sync_seconds > 0, position_id=row.id
        )
        fields = pnl.position_fields(marked[0]) if marked else {}
        connections = await names_of(s, "connection", [row.connection_id], who)
        refused = await writable_connection(s, row.connection_id, who)
        action = await action_shown(s, request, who)
    return render(
        request,
        "console/trading_position.html",
        login,
        row=row,
        pnl=fields,
        connection_name=connections.get(row.connection_id, ""),
        refused=refused,
        action=action,
    )


# --- manual overrides -----------------------------------------------------------------


async def _target(c: Container, entity: access.Entity, row_id: int, who: Principal) -> Any:
    """The row if the caller may act on it, as the API checks (web/routes/override.py):
    it sees the row (else 404), and may change the account's connection (else 403)."""
    async with c.sessions() as s:
        row = await fetch(s, entity, row_id, who)
        connection_id = row.id if entity == "connection" else row.connection_id
        await fetch(s, "connection", connection_id, who, write=True)
        return row


def _refused(
    request: Request, login: BrowserLogin, status: int, message: str, back: str
) -> Response:
    return render(
        request,
        "console/trading_refused.html",
        login,
        status=status,
        error=message,
        back=back,
    )


def _back(form_next: str, fallback: str) -> str:
    target = safe_next(form_next)
    return fallback if target == "/" else target


def _with_action(target: str, action_id: int) -> str:
    """``target`` showing the manual action ``action_id`` (any other one dropped)."""
    parts = urlsplit(target)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "action"]
    return parts._replace(query=urlencode([*query, ("action", str(action_id))])).geturl()


async def _act(
    request: Request,
    login: BrowserLogin,
    c: Container,
    form: FormData,
    entity: access.Entity,
    row_id: int,
    scope: str,
    build: Callable[[Any], OverrideRequest],
    fallback: str,
) -> Response:
    """Check as the API does, submit the action once, and go back to the page it came
    from showing the action (POST/redirect/GET); a refusal re-renders with its message."""
    who = login.principal
    back = _back(text(form, "next", limit=2000), fallback)
    try:
        allow(who, scope)
        row = await _target(c, entity, row_id, who)
        wanted: OverrideRequest = build(row)
        outcome: ActionOutcome = await api.overrides(c).submit(api.actor(who), wanted)
    except PageError as exc:
        return _refused(request, login, exc.status, exc.message, back)
    except ApiError as exc:
        return _refused(request, login, exc.status, exc.message, back)
    except (KeyReused, ValueError) as exc:
        return _refused(request, login, 422, str(exc), back)
    return RedirectResponse(_with_action(back, outcome.action_id), status_code=303)


@router.post("/console/overrides/positions/{row_id}/close")
async def close_position(
    row_id: Id, request: Request, login: Staff, form: Form, c: ContainerDep
) -> Response:
    """Close a position at market: all of it, or the share given (0 < share <= 1)."""
    given = text(form, "share", limit=40)

    def build(row: m.Position) -> OverrideRequest:
        try:  # the API's own body model: the same bounds
            share = api.CloseBody.model_validate({"share": given or None}).share
        except ValidationError:
            raise ValueError(
                "share must be a number above 0 and at most 1 (empty: all of it)"
            ) from None
        return OverrideRequest(
            CLOSE, position_id=row_id, connection_id=row.connection_id, share=share
        )

    return await _act(
        request, login, c, form, "position", row_id, TRADE, build, f"/console/positions/{row_id}"
    )


@router.post("/console/overrides/orders/{row_id}/cancel")
async def cancel_order(
    row_id: Id, request: Request, login: Staff, form: Form, c: ContainerDep
) -> Response:
    """Cancel one order (an entry still waiting)."""

    def build(row: m.Order) -> OverrideRequest:
        return OverrideRequest(CANCEL, order_id=row_id, connection_id=row.connection_id)

    return await _act(request, login, c, form, "order", row_id, TRADE, build, "/console/orders")


def _follow_change(kind: str) -> Callable[..., Awaitable[Response]]:
    async def change(
        row_id: Id, request: Request, login: Staff, form: Form, c: ContainerDep
    ) -> Response:
        def build(row: m.Follow) -> OverrideRequest:
            return OverrideRequest(kind, follow_id=row_id, connection_id=row.connection_id)

        return await _act(
            request, login, c, form, "follow", row_id, FOLLOW, build, "/console/executions"
        )

    change.__doc__ = f"{kind.capitalize()} a follow, as ``POST /follows/{{id}}/{kind}`` does."
    return change


router.add_api_route(
    "/console/overrides/follows/{row_id}/pause",
    _follow_change(PAUSE),
    methods=["POST"],
    name="console_pause_follow",
)
router.add_api_route(
    "/console/overrides/follows/{row_id}/resume",
    _follow_change(RESUME),
    methods=["POST"],
    name="console_resume_follow",
)


def _panic_params(who: Principal) -> dict[str, Any]:
    """Whose positions a panic covers: staff act on every account of the connection."""
    return {"owner_id": None if access.is_staff(who) else who.user_id}


@router.post("/console/overrides/connections/{row_id}/panic")
async def panic_connection(
    row_id: Id, request: Request, login: Staff, form: Form, c: ContainerDep
) -> Response:
    """Close every open position of a connection and cancel its waiting orders."""
    params = _panic_params(login.principal)

    def build(row: m.ExecutionConnection) -> OverrideRequest:
        return OverrideRequest(PANIC, connection_id=row.id, params=params)

    return await _act(
        request, login, c, form, "connection", row_id, TRADE, build, "/console/positions"
    )


@router.post("/console/overrides/panic")
async def panic_everything(request: Request, login: Staff, form: Form, c: ContainerDep) -> Response:
    """A panic on every connection the caller may change that has something under way:
    one connection panic each (the API's), then the panics read back."""
    del form  # checked: a cross-site page cannot press it
    who = login.principal
    back = "/console/manual-actions?kind=panic"
    try:
        allow(who, TRADE)
    except PageError as exc:
        return _refused(request, login, exc.status, exc.message, "/console/positions")
    busy = select(m.Execution.connection_id).where(
        m.Execution.status.notin_(m.ExecutionStatus.FINAL)
    )
    query: Any = (
        select(m.ExecutionConnection.id)
        .where(m.ExecutionConnection.id.in_(busy))
        .order_by(m.ExecutionConnection.id)
    )
    async with c.sessions() as s:
        ids = list((await s.scalars(access.writable(query, "connection", who))).all())
    params = _panic_params(who)
    for connection_id in ids:
        try:
            await _target(c, "connection", connection_id, who)
        except ApiError:
            continue  # gone or no longer the caller's since it was listed
        await api.overrides(c).submit(
            api.actor(who), OverrideRequest(PANIC, connection_id=connection_id, params=params)
        )
    return RedirectResponse(back, status_code=303)
