"""Billing in the console: plans, payment gateways, payments, subscriptions and grants.

Each part admits whom its API route admits (web/routes/payments.py, entitlements.py and
connections.py), checked with ``allow`` before anything is read:

- plans: staff read them as ``GET /plans`` shows them (operators the active ones, without
  the gateways' price ids); creating, editing and (de)activating is an admin's
  (``POST``/``PUT /plans``: the ``admin`` scope), through the API's own handlers;
- gateways (Stripe, PayPal, CoinPayments): admins only, as ``/payment-gateways``; secrets
  are shown as the API masks them and a form never fills one in (pages_ai.ConnectionPages);
- payments and subscriptions: an admin sees all, an operator only its own, as the API's
  lists; filters by status, gateway and member are GET parameters;
- grants: staff read all and grant or revoke a plan by hand (``channels:write``), through
  the API's ``POST /grants`` and ``/grants/{id}/revoke``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from signalbridge.bootstrap import Container
from signalbridge.payments.base import BillingInterval, SubjectStatus
from signalbridge.services import access
from signalbridge.services import entitlement_grants as grants
from signalbridge.services.auth import Principal
from signalbridge.services.login import normalize_email
from signalbridge.services.payments import plans
from signalbridge.services.web_sessions import BrowserLogin
from signalbridge.store import models as m
from signalbridge.store.types import utcnow
from signalbridge.web.console import pages_ai
from signalbridge.web.console.auth import Form, Staff, allow, text
from signalbridge.web.console.errors import PageError
from signalbridge.web.console.pages_ai import ConnectionPages, flash_of, problem
from signalbridge.web.console.render import render
from signalbridge.web.deps import ContainerDep
from signalbridge.web.errors import ApiError
from signalbridge.web.params import MAX_ID, Id
from signalbridge.web.routes import entitlements as grant_routes
from signalbridge.web.routes import payments as payment_routes

router = APIRouter(include_in_schema=False)

#: Rows per page of the payments, subscriptions and grants lists.
PAGE = 50

GATEWAY_PAGES = ConnectionPages(
    kind="payment",
    base="/console/billing/gateways",
    noun="payment gateway",
    area="billing",
    list_path="/console/billing/gateways",
)

DONE = {
    "plan_created": "The plan is created.",
    "plan_saved": "The plan is saved.",
    "plan_activated": "The plan is on sale again.",
    "plan_deactivated": "The plan is off sale; members who hold it keep it.",
    "granted": "The plan is granted.",
    "revoked": "The grant is revoked.",
}


class PlanFormError(ValueError):
    """A plan form field cannot be read; the message is safe to show."""


def _flash(request: Request) -> str | None:
    return DONE.get(request.query_params.get("done", "")) or flash_of(request)


async def _emails(session: AsyncSession, ids: set[int | None]) -> dict[int, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = await session.execute(select(m.User.id, m.User.email).where(m.User.id.in_(wanted)))
    return {i: e for i, e in rows.all()}


async def _plan_names(session: AsyncSession) -> dict[int, str]:
    rows = await session.execute(select(m.Plan.id, m.Plan.name))
    return {i: n for i, n in rows.all()}


async def _member_id(session: AsyncSession, user: str) -> int | None:
    """A member named by id or email (0: nobody such, so the filter finds nothing)."""
    if user.isdigit():
        return int(user) if 0 < int(user) <= MAX_ID else 0
    found = await session.scalar(select(m.User.id).where(m.User.email == normalize_email(user)))
    return found or 0


# --- plans ------------------------------------------------------------------------------


def _plan_view(row: m.Plan, who: Principal) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "prices": plans.price_map(row),
        "interval": row.interval,
        "interval_count": row.interval_count or 1,
        "trial_days": row.trial_days or 0,
        "channel_ids": list(row.channel_ids or []),
        "is_active": row.is_active,
    }
    if access.is_admin(who):  # as the API: the gateways' price ids are the admins'
        view["gateway_prices"] = row.gateway_prices or {}
    return view


@router.get("/console/billing")
async def plans_page(request: Request, login: Staff, c: ContainerDep) -> Response:
    who = login.principal
    allow(who, "follows:read")  # as GET /api/v1/plans
    async with c.sessions() as s, s.begin():
        rows = await plans.listing(s, active_only=not access.is_admin(who))
        channels = await _channel_names(s, who)
    return render(
        request,
        "console/billing_plans.html",
        login,
        plans=[_plan_view(p, who) for p in rows],
        channels=channels,
        can_write=who.allows("admin"),
        flash=_flash(request),
    )


async def _channel_names(session: AsyncSession, who: Principal) -> dict[int, str]:
    query = access.visible(select(m.ChannelSource).order_by(m.ChannelSource.id), "channel", who)
    return {row.id: row.name for row in (await session.scalars(query)).all()}


def _prices_text(prices: dict[str, Decimal]) -> str:
    return "\n".join(f"{code} {format(amount, 'f')}" for code, amount in prices.items())


def _plan_form(row: m.Plan | None) -> dict[str, Any]:
    if row is None:
        return {
            "name": "",
            "prices": "USD 19.00",
            "interval": BillingInterval.MONTH.value,
            "interval_count": "1",
            "trial_days": "0",
            "channel_ids": [],
            "gateway_prices": "{}",
            "is_active": "true",
        }
    return {
        "name": row.name,
        "prices": _prices_text(plans.price_map(row)),
        "interval": row.interval,
        "interval_count": str(row.interval_count or 1),
        "trial_days": str(row.trial_days or 0),
        "channel_ids": [int(i) for i in row.channel_ids or []],
        "gateway_prices": json.dumps(row.gateway_prices or {}, sort_keys=True),
        "is_active": "true" if row.is_active else "false",
    }


def _posted_plan(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {
        name: text(form, name, limit=20_000)
        for name in ("name", "prices", "interval", "interval_count", "trial_days")
    }
    values["gateway_prices"] = text(form, "gateway_prices", limit=20_000)
    values["is_active"] = text(form, "is_active", limit=5)
    values["channel_ids"] = [
        int(v) for v in form.getlist("channel_ids") if isinstance(v, str) and v.isdigit()
    ]
    return values


def _parse_prices(raw: str) -> dict[str, str]:
    prices: dict[str, str] = {}
    for line in raw.splitlines():
        if not line.strip():
            continue
        parts = re.split(r"[\s=:]+", line.strip())
        if len(parts) != 2:
            raise PlanFormError("Prices: one 'CURRENCY AMOUNT' per line, such as 'USD 19.00'")
        prices[parts[0].upper()] = parts[1]
    return prices


def _plan_spec(form: FormData) -> plans.PlanSpec:
    """The API's plan body from the form (PlanSpec validates every field)."""
    values = _posted_plan(form)
    raw_ids = form.getlist("channel_ids")
    if any(not isinstance(v, str) or not v.isdigit() for v in raw_ids):
        raise PlanFormError("Channels: pick channels from the list")
    try:
        gateway_prices = json.loads(values["gateway_prices"] or "{}")
    except ValueError:
        raise PlanFormError("Gateway price ids: not valid JSON") from None
    body: dict[str, Any] = {
        "name": values["name"],
        "prices": _parse_prices(values["prices"]),
        "interval": values["interval"] or BillingInterval.MONTH.value,
        "channel_ids": values["channel_ids"],
        "gateway_prices": gateway_prices,
        "is_active": values["is_active"] != "false",
    }
    for name in ("interval_count", "trial_days"):
        if values[name]:
            body[name] = values[name]
    return plans.PlanSpec.model_validate(body)


async def _plan_page(
    request: Request,
    login: BrowserLogin,
    c: Container,
    plan_id: int | None,
    *,
    values: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    allow(login.principal, "admin")  # as POST and PUT /api/v1/plans
    async with c.sessions() as s, s.begin():
        row = None
        if plan_id is not None:
            row = await s.get(m.Plan, plan_id)
            if row is None:
                raise PageError(404, f"plan {plan_id} not found")
        channels = await _channel_names(s, login.principal)
    return render(
        request,
        "console/billing_plan_form.html",
        login,
        status=status,
        plan_id=plan_id,
        values=values or _plan_form(row),
        channels=channels,
        intervals=[i.value for i in BillingInterval],
        error=error,
        flash=_flash(request),
    )


@router.get("/console/billing/plans/new")
async def plan_new(request: Request, login: Staff, c: ContainerDep) -> Response:
    return await _plan_page(request, login, c, None)


@router.get("/console/billing/plans/{plan_id}")
async def plan_edit(request: Request, plan_id: Id, login: Staff, c: ContainerDep) -> Response:
    return await _plan_page(request, login, c, plan_id)


async def _save_plan(
    request: Request, login: BrowserLogin, c: Container, form: FormData, plan_id: int | None
) -> Response:
    who = login.principal
    allow(who, "admin")
    try:
        spec = _plan_spec(form)
        async with c.sessions() as s, s.begin():
            if plan_id is None:
                saved = await payment_routes.add_plan(body=spec, session=s, who=who)
            else:
                saved = await payment_routes.replace_plan(
                    plan_id=plan_id, body=spec, session=s, who=who
                )
    except (ApiError, ValidationError, PlanFormError) as exc:
        if isinstance(exc, ApiError) and exc.status == 404:
            raise
        message = (
            exc.message
            if isinstance(exc, ApiError)
            else problem(exc)
            if isinstance(exc, ValidationError)
            else str(exc)
        )
        return await _plan_page(
            request, login, c, plan_id, values=_posted_plan(form), error=message, status=422
        )
    done = "plan_created" if plan_id is None else "plan_saved"
    return RedirectResponse(f"/console/billing/plans/{saved['id']}?done={done}", status_code=303)


@router.post("/console/billing/plans/new")
async def plan_create(request: Request, login: Staff, c: ContainerDep, form: Form) -> Response:
    return await _save_plan(request, login, c, form, None)


@router.post("/console/billing/plans/{plan_id}")
async def plan_save(
    request: Request, plan_id: Id, login: Staff, c: ContainerDep, form: Form
) -> Response:
    return await _save_plan(request, login, c, form, plan_id)


async def _plan_active(login: BrowserLogin, c: Container, plan_id: int, active: bool) -> Response:
    """Put a plan on or off sale: the API's ``PUT /plans/{id}`` with its terms unchanged."""
    who = login.principal
    allow(who, "admin")
    async with c.sessions() as s, s.begin():
        row = await s.get(m.Plan, plan_id)
        if row is None:
            raise PageError(404, f"plan {plan_id} not found")
        terms = {**_plan_view(row, who), "is_active": active}
        terms.pop("id")
        try:
            spec = plans.PlanSpec.model_validate(terms)
        except ValidationError as exc:
            raise PageError(
                422, f"the plan's stored terms do not validate: {problem(exc)}"
            ) from None
        await payment_routes.replace_plan(plan_id=plan_id, body=spec, session=s, who=who)
    done = "plan_activated" if active else "plan_deactivated"
    return RedirectResponse(f"/console/billing?done={done}", status_code=303)


@router.post("/console/billing/plans/{plan_id}/activate")
async def plan_activate(plan_id: Id, login: Staff, c: ContainerDep, form: Form) -> Response:
    del form
    return await _plan_active(login, c, plan_id, True)


@router.post("/console/billing/plans/{plan_id}/deactivate")
async def plan_deactivate(plan_id: Id, login: Staff, c: ContainerDep, form: Form) -> Response:
    del form
    return await _plan_active(login, c, plan_id, False)


# --- gateways ---------------------------------------------------------------------------


@router.get("/console/billing/gateways")
async def gateways_page(request: Request, login: Staff, c: ContainerDep) -> Response:
    rows = await pages_ai.listing(c, GATEWAY_PAGES, login)
    return render(
        request,
        "console/billing_gateways.html",
        login,
        pages=GATEWAY_PAGES,
        gateways=rows,
        webhook_base=str(request.base_url).rstrip("/") + "/webhooks/payments/",
        can_write=GATEWAY_PAGES.writable(login),
        flash=_flash(request),
    )


@router.get("/console/billing/gateways/new")
async def gateway_new(
    request: Request,
    login: Staff,
    c: ContainerDep,
    type: str | None = Query(default=None, max_length=40),
) -> Response:
    return pages_ai.new_page(request, login, c, GATEWAY_PAGES, type)


@router.post("/console/billing/gateways/new")
async def gateway_create(request: Request, login: Staff, c: ContainerDep, form: Form) -> Response:
    return await pages_ai.create(request, login, c, form, GATEWAY_PAGES)


@router.get("/console/billing/gateways/{row_id}")
async def gateway_detail(request: Request, row_id: Id, login: Staff, c: ContainerDep) -> Response:
    return await pages_ai.detail_page(request, login, c, GATEWAY_PAGES, row_id)


@router.post("/console/billing/gateways/{row_id}")
async def gateway_modify(
    request: Request, row_id: Id, login: Staff, c: ContainerDep, form: Form
) -> Response:
    return await pages_ai.modify(request, login, c, form, GATEWAY_PAGES, row_id)


@router.post("/console/billing/gateways/{row_id}/test")
async def gateway_test(
    request: Request, row_id: Id, login: Staff, c: ContainerDep, form: Form
) -> Response:
    del form
    return await pages_ai.test(request, login, c, GATEWAY_PAGES, row_id)


@router.post("/console/billing/gateways/{row_id}/activate")
async def gateway_activate(row_id: Id, login: Staff, c: ContainerDep, form: Form) -> Response:
    back = pages_ai.back_to(form, GATEWAY_PAGES, row_id)
    return await pages_ai.set_active(login, c, GATEWAY_PAGES, row_id, True, back)


@router.post("/console/billing/gateways/{row_id}/deactivate")
async def gateway_deactivate(row_id: Id, login: Staff, c: ContainerDep, form: Form) -> Response:
    back = pages_ai.back_to(form, GATEWAY_PAGES, row_id)
    return await pages_ai.set_active(login, c, GATEWAY_PAGES, row_id, False, back)


@router.post("/console/billing/gateways/{row_id}/breaker/reset")
async def gateway_reset_breaker(row_id: Id, login: Staff, c: ContainerDep, form: Form) -> Response:
    del form
    return await pages_ai.reset_breaker(login, c, GATEWAY_PAGES, row_id)


# --- payments and subscriptions -----------------------------------------------------------


def _older(request: Request, rows: list[Any]) -> str | None:
    """The "older" link: the same filters, before the last row shown."""
    if len(rows) <= PAGE:
        return None
    params = {k: v for k, v in request.query_params.items() if k != "before_id" and v}
    params["before_id"] = str(rows[PAGE - 1].id)
    return request.url.path + "?" + urlencode(params)


async def _billing_rows(
    session: AsyncSession,
    model: type[m.Payment] | type[m.Subscription],
    who: Principal,
    *,
    status: str | None,
    gateway: str | None,
    user: str | None,
    before_id: int | None,
) -> list[Any]:
    """Newest first, PAGE + 1 rows: an admin sees all, anyone else its own (as the API's
    ``GET /payments`` and ``/subscriptions``)."""
    query: Any = select(model).order_by(model.id.desc()).limit(PAGE + 1)
    if not access.is_admin(who):
        query = query.where(model.user_id == who.user_id)
    elif user:
        query = query.where(model.user_id == await _member_id(session, user))
    if status:
        query = query.where(model.status == status)
    if gateway:
        query = query.where(model.gateway == gateway)
    if before_id is not None:
        query = query.where(model.id < before_id)
    return list((await session.scalars(query)).all())


def _rows_page(model: Any, template: str, name: str) -> Callable[..., Awaitable[Response]]:
    """A staff list of payments or subscriptions: filters by status, gateway and member,
    paged; the caller's own rows only unless admin (as ``GET /api/v1/<name>``)."""

    async def page(
        request: Request,
        login: Staff,
        c: ContainerDep,
        status: str | None = Query(default=None, max_length=20),
        gateway: str | None = Query(default=None, max_length=40),
        user: str | None = Query(default=None, max_length=320),
        before_id: Id | None = None,
    ) -> Response:
        who = login.principal
        allow(who, "follows:read")  # as GET /api/v1/payments and /subscriptions
        async with c.sessions() as s, s.begin():
            rows = await _billing_rows(
                s, model, who, status=status, gateway=gateway, user=user, before_id=before_id
            )
            emails = await _emails(s, {r.user_id for r in rows})
            plan_names = await _plan_names(s)
        shown: dict[str, Any] = {name: rows[:PAGE]}
        return render(
            request,
            template,
            login,
            emails=emails,
            plan_names=plan_names,
            older=_older(request, rows),
            statuses=[str(st) for st in SubjectStatus],
            gateway_types=c.registry.types("payment"),
            filters={"status": status or "", "gateway": gateway or "", "user": user or ""},
            is_admin=access.is_admin(who),
            **shown,
        )

    return page


router.add_api_route(
    "/console/billing/payments",
    _rows_page(m.Payment, "console/billing_payments.html", "payments"),
    methods=["GET"],
    name="console_payments",
)
router.add_api_route(
    "/console/billing/subscriptions",
    _rows_page(m.Subscription, "console/billing_subscriptions.html", "subscriptions"),
    methods=["GET"],
    name="console_subscriptions",
)


# --- grants -----------------------------------------------------------------------------


async def _grants_page(
    request: Request,
    login: BrowserLogin,
    c: Container,
    *,
    user: str | None = None,
    before_id: int | None = None,
    posted: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    who = login.principal
    allow(who, "follows:read", "grant", "read")  # as GET /api/v1/grants
    async with c.sessions() as s, s.begin():
        query: Any = access.visible(select(m.PlanGrant), "grant", who)
        if user:
            query = query.where(m.PlanGrant.user_id == await _member_id(s, user))
        if before_id is not None:
            query = query.where(m.PlanGrant.id < before_id)
        rows = list((await s.scalars(query.order_by(m.PlanGrant.id.desc()).limit(PAGE + 1))).all())
        emails = await _emails(s, {r.user_id for r in rows})
        plan_names = await _plan_names(s)
        offered = await plans.listing(s, active_only=not access.is_admin(who))
    now = utcnow()
    return render(
        request,
        "console/billing_grants.html",
        login,
        status=status,
        grants=[(g, grants.state(g, now)) for g in rows[:PAGE]],
        emails=emails,
        plan_names=plan_names,
        plans=offered,
        older=_older(request, rows),
        user_filter=user or "",
        can_write=who.allows("channels:write") and access.permits("grant", "write", who),
        posted=posted or {"email": "", "plan_id": "", "days": "", "note": ""},
        max_days=grants.MAX_DAYS,
        error=error,
        flash=_flash(request),
    )


@router.get("/console/billing/grants")
async def grants_page(
    request: Request,
    login: Staff,
    c: ContainerDep,
    user: str | None = Query(default=None, max_length=320),
    before_id: Id | None = None,
) -> Response:
    return await _grants_page(request, login, c, user=user, before_id=before_id)


@router.post("/console/billing/grants")
async def grant_create(request: Request, login: Staff, c: ContainerDep, form: Form) -> Response:
    who = login.principal
    allow(who, "channels:write", "grant", "create")  # as POST /api/v1/grants
    posted = {name: text(form, name, limit=600) for name in ("email", "plan_id", "days", "note")}
    try:
        body = grant_routes.GrantCreate.model_validate(
            {
                "email": posted["email"],
                "plan_id": posted["plan_id"],
                "days": posted["days"] or None,
                "note": posted["note"] or None,
            }
        )
        async with c.sessions() as s, s.begin():
            await grant_routes.create_grant(body=body, session=s, who=who)
    except (ApiError, ValidationError) as exc:
        message = exc.message if isinstance(exc, ApiError) else problem(exc)
        return await _grants_page(
            request, login, c, posted=posted, error=message, status=exc_status(exc)
        )
    return RedirectResponse("/console/billing/grants?done=granted", status_code=303)


def exc_status(exc: Exception) -> int:
    return exc.status if isinstance(exc, ApiError) and 400 <= exc.status < 500 else 422


@router.post("/console/billing/grants/{grant_id}/revoke")
async def grant_revoke(
    request: Request, grant_id: Id, login: Staff, c: ContainerDep, form: Form
) -> Response:
    del form
    who = login.principal
    allow(who, "channels:write", "grant", "write")  # as POST /api/v1/grants/{id}/revoke
    try:
        async with c.sessions() as s, s.begin():
            await grant_routes.revoke_grant(grant_id=grant_id, session=s, who=who)
    except ApiError as exc:
        if exc.status == 404:
            raise
        return await _grants_page(request, login, c, error=exc.message, status=exc.status)
    return RedirectResponse("/console/billing/grants?done=revoked", status_code=303)
