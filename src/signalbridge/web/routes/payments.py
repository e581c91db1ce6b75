"""Selling channels: plans, checkout, subscriptions, payments, and gateway webhooks.

- ``GET /plans``: members read the active plans with their prices; admins all, with the
  gateway price ids. ``POST /plans`` and ``PUT /plans/{id}``: admins write a plan's full
  terms (prices per currency, interval, trial, channels, gateway price ids); audited.
  ``DELETE /plans/{id}``: a plan nothing refers to yet (409 otherwise: deactivate it).
  A plan stored by the older single-price API (``price``/``currency``, no ``prices``)
  reads and sells as that one price (services/payments/plans.py ``price_map``).
- ``GET /checkout/gateways?plan_id=``: the gateways that can sell a plan now (inactive
  ones and those whose breaker is open are hidden). ``POST /checkout``: a ``pending``
  payment, then the provider's checkout; answers the redirect URL. When the chosen
  gateway is down the answer (503) lists the others that can sell the plan.
- ``GET /subscriptions``, ``GET /payments`` (and ``/{id}``): a member or an operator sees
  its own, an admin all; another user's row answers exactly like a missing one (404).
- ``POST /payments/{id}/mark-paid`` and ``/mark-refunded``: an admin's hand, audited.
- ``POST /subscriptions/{id}/portal``: a link to the provider's billing page.
- ``POST /webhooks/payments/{gateway_id}``: a gateway's callback over the raw body: 400
  and nothing written for a bad signature, 200 once stored and applied, 5xx when applying
  failed and was rolled back (services/payments/callbacks.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.services import access, audit
from signalbridge.services.auth import Principal
from signalbridge.services.payments import checkout, override, plans, portal
from signalbridge.services.payments.errors import PaymentFlowError
from signalbridge.store import models as m
from signalbridge.store.types import utcnow
from signalbridge.web.deps import ContainerDep, SessionDep, require
from signalbridge.web.errors import ApiError, ErrorBody, error_response
from signalbridge.web.params import Id
from signalbridge.web.raw_body import read_capped
from signalbridge.web.rows import delete_or_conflict
from signalbridge.web.serialize import row_dict

router = APIRouter(tags=["payments"])
webhook_router = APIRouter(tags=["webhooks"])
reader = Depends(require("follows:read"))
buyer = Depends(require("follows:write"))
admin = Depends(require("admin"))

CURRENCY = r"^[A-Z][A-Z0-9.]{2,9}$"
PLAN_FIELDS = (
    "id",
    "name",
    "prices",
    "interval",
    "interval_count",
    "trial_days",
    "channel_ids",
    "is_active",
)


def _refused(exc: PaymentFlowError, details: Any = None) -> ApiError:
    return ApiError(exc.status, exc.message, details=details)


def _plan(row: m.Plan, who: Principal) -> dict[str, Any]:
    body = row_dict(row)
    body["prices"] = {k: str(v) for k, v in plans.price_map(row).items()}
    if access.is_admin(who):
        return body
    return {k: body[k] for k in PLAN_FIELDS}


# --- plans ---------------------------------------------------------------------------


@router.get("/plans")
async def list_plans(session: SessionDep, who: Principal = reader) -> dict[str, Any]:
    rows = await plans.listing(session, active_only=not access.is_admin(who))
    return {"items": [_plan(p, who) for p in rows]}


@router.post("/plans", status_code=201)
async def add_plan(
    body: plans.PlanSpec, session: SessionDep, who: Principal = admin
) -> dict[str, Any]:
    try:
        plan = await plans.create(session, body, actor=who.label, actor_id=who.user_id)
    except PaymentFlowError as exc:
        raise _refused(exc) from None
    return _plan(plan, who)


@router.put("/plans/{plan_id}")
async def replace_plan(
    plan_id: Id, body: plans.PlanSpec, session: SessionDep, who: Principal = admin
) -> dict[str, Any]:
    try:
        plan = await plans.update(session, plan_id, body, actor=who.label, actor_id=who.user_id)
    except PaymentFlowError as exc:
        raise _refused(exc) from None
    return _plan(plan, who)


#: Rows that keep a plan's history: a plan they name is deactivated, never deleted.
PLAN_REFERENCES: tuple[type[Any], ...] = (m.Subscription, m.Payment, m.PlanGrant)


@router.delete("/plans/{plan_id}", status_code=204)
async def delete_plan(plan_id: Id, session: SessionDep, who: Principal = admin) -> None:
    plan = await session.get(m.Plan, plan_id)
    if plan is None:
        raise ApiError(404, f"plan {plan_id} not found")
    for model in PLAN_REFERENCES:  # checked, not left to the foreign key (SQLite may not)
        if await session.scalar(select(model.id).where(model.plan_id == plan_id).limit(1)):
            raise ApiError(409, f"plan {plan_id} has {model.__tablename__}; deactivate it instead")
    await delete_or_conflict(session, plan, f"plan {plan_id} is in use; deactivate it instead")
    await audit.record_by(
        session, who, action="delete", entity="plan", entity_id=plan_id, changes={"name": plan.name}
    )


# --- checkout ------------------------------------------------------------------------


class CheckoutBody(BaseModel):
    plan_id: Id
    gateway_id: Id
    currency: str = Field(pattern=CURRENCY)
    success_url: str | None = Field(default=None, max_length=2048)
    cancel_url: str | None = Field(default=None, max_length=2048)


def _offer(o: checkout.Offer) -> dict[str, Any]:
    return {"gateway_id": o.connection_id, "name": o.name, "type": o.type,
            "currencies": list(o.currencies)}  # fmt: skip


@router.get("/checkout/gateways")
async def checkout_gateways(
    plan_id: Id, c: ContainerDep, session: SessionDep, _: Principal = reader
) -> dict[str, Any]:
    try:
        found = await checkout.offers(session, c.payments.directory, plan_id)
    except PaymentFlowError as exc:
        raise _refused(exc) from None
    return {"plan_id": plan_id, "items": [_offer(o) for o in found]}


UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorBody, "description": "the gateway cannot be used now"}
}


@router.post("/checkout", status_code=201, responses=UNAVAILABLE)
async def start_checkout(
    body: CheckoutBody, request: Request, c: ContainerDep, who: Principal = buyer
) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    try:
        started = await checkout.start(
            c.sessions,
            c.payments.directory,
            user_id=who.user_id,
            plan_id=body.plan_id,
            connection_id=body.gateway_id,
            currency=body.currency,
            success_url=body.success_url or f"{base}/?checkout=success",
            cancel_url=body.cancel_url or f"{base}/?checkout=canceled",
        )
    except PaymentFlowError as exc:
        alternatives = None
        if exc.status == 503:
            async with c.sessions() as s:
                try:
                    offers = await checkout.offers(s, c.payments.directory, body.plan_id)
                except PaymentFlowError:
                    offers = []
            alternatives = [_offer(o) for o in offers if o.connection_id != body.gateway_id]
        details = {"alternatives": alternatives} if alternatives is not None else None
        raise _refused(exc, details) from None
    return {
        "payment_id": started.payment_id,
        "gateway_id": started.connection_id,
        "checkout_id": started.checkout_id,
        "redirect_url": started.redirect_url,
        "expires_at": started.expires_at.isoformat() if started.expires_at else None,
    }


# --- subscriptions and payments ---------------------------------------------------------


async def _own(session: AsyncSession, model: type[Any], row_id: int, who: Principal) -> Any:
    query = select(model).where(model.id == row_id)
    if not access.is_admin(who):
        query = query.where(model.user_id == who.user_id)
    row = await session.scalar(query)
    if row is None:
        raise ApiError(404, f"{model.__tablename__.rstrip('s')} {row_id} not found")
    return row


async def _listing(
    session: AsyncSession, model: type[Any], who: Principal, user_id: int | None
) -> list[Any]:
    query = select(model).order_by(model.id.desc()).limit(1000)
    if not access.is_admin(who):
        query = query.where(model.user_id == who.user_id)
    elif user_id is not None:
        query = query.where(model.user_id == user_id)
    return list((await session.scalars(query)).all())


@router.get("/subscriptions")
async def list_subscriptions(
    session: SessionDep, user_id: Id | None = None, who: Principal = reader
) -> dict[str, Any]:
    rows = await _listing(session, m.Subscription, who, user_id)
    return {"items": [row_dict(r) for r in rows]}


@router.get("/subscriptions/{row_id}")
async def get_subscription(row_id: Id, session: SessionDep, who: Principal = reader) -> Any:
    return row_dict(await _own(session, m.Subscription, row_id, who))


class PortalBody(BaseModel):
    return_url: str = Field(min_length=1, max_length=2048)


@router.post("/subscriptions/{row_id}/portal", responses=UNAVAILABLE)
async def billing_portal(
    row_id: Id, body: PortalBody, c: ContainerDep, session: SessionDep, who: Principal = buyer
) -> dict[str, Any]:
    subscription = await _own(session, m.Subscription, row_id, who)
    try:
        url = await portal.portal_url(session, c.payments.directory, subscription, body.return_url)
    except PaymentFlowError as exc:
        raise _refused(exc) from None
    return {"url": url}


@router.get("/payments")
async def list_payments(
    session: SessionDep, user_id: Id | None = None, who: Principal = reader
) -> dict[str, Any]:
    rows = await _listing(session, m.Payment, who, user_id)
    return {"items": [row_dict(r) for r in rows]}


@router.get("/payments/{row_id}")
async def get_payment(row_id: Id, session: SessionDep, who: Principal = reader) -> Any:
    return row_dict(await _own(session, m.Payment, row_id, who))


class OverrideBody(BaseModel):
    note: str = Field(min_length=1, max_length=override.MAX_NOTE)


@router.post("/payments/{row_id}/mark-paid")
async def mark_paid(
    row_id: Id, body: OverrideBody, session: SessionDep, who: Principal = admin
) -> Any:
    try:
        row = await override.mark_paid(
            session, row_id, note=body.note, actor=who.label, actor_id=who.user_id, now=utcnow()
        )
    except PaymentFlowError as exc:
        raise _refused(exc) from None
    return row_dict(row)


@router.post("/payments/{row_id}/mark-refunded")
async def mark_refunded(
    row_id: Id, body: OverrideBody, session: SessionDep, who: Principal = admin
) -> Any:
    try:
        row = await override.mark_refunded(
            session, row_id, note=body.note, actor=who.label, actor_id=who.user_id, now=utcnow()
        )
    except PaymentFlowError as exc:
        raise _refused(exc) from None
    return row_dict(row)


# --- the gateways' callbacks ---------------------------------------------------------------


@webhook_router.post(
    "/webhooks/payments/{gateway_id}",
    responses={
        200: {"description": "every event stored and applied (or already)"},
        400: {"description": "not authentic (signature, timestamp) or unreadable: nothing written"},
        404: {"description": "no such gateway connection"},
        413: {"description": "body over the size limit"},
        500: {"description": "applying failed and was rolled back: deliver again"},
        503: {"description": "the delivery could not be verified now: deliver again"},
    },
)
async def payment_webhook(gateway_id: Id, request: Request, c: ContainerDep) -> JSONResponse:
    body = await read_capped(request, c.settings.webhook_max_body_bytes)
    answer = await c.payments.callbacks.receive(gateway_id, body, dict(request.headers))
    if answer.status >= 400:
        details = {k: v for k, v in answer.body.items() if k != "message"} or None
        return error_response(answer.status, str(answer.body.get("message")), details=details)
    return JSONResponse(answer.body, status_code=answer.status)
