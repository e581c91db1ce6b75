"""The member portal: one's own plan, accounts, positions and notifications.

Every page reads through the API's owner filter (services/access.py) as the caller's own
view (:func:`own_view`: staff see everything in the console, only their own rows here)
and writes through the API's own handlers or the services they call, with the API's
scope checks first (:func:`allow`).

- ``/portal``: the plan held, the accounts and their health, open positions and PnL, the
  recent signals of the channels followed.
- ``/portal/plans``: plans on offer, a checkout form per usable gateway (the API's
  ``POST /checkout``: a pending payment, then a 303 to the gateway), subscriptions and
  payments; ``/portal/plans/return``: where the gateway sends the member back.
- ``/portal/positions``: positions with filters and PnL per follow, channel and account
  (services/pnl.py), a live table body; ``/portal/positions/{id}`` with its chart.
- ``/portal/notifications``: linked Telegram chats and their events; the link code.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.bootstrap import Container
from signalbridge.services import access, entitlement, pnl
from signalbridge.services.auth import Principal
from signalbridge.services.entitlement_rules import judge
from signalbridge.services.payments import checkout, plans
from signalbridge.services.payments.errors import PaymentFlowError
from signalbridge.services.web_sessions import BrowserLogin
from signalbridge.store import models as m
from signalbridge.store.models import Role
from signalbridge.store.types import utcnow
from signalbridge.web.console.auth import Form, SignedIn, allow, text
from signalbridge.web.console.errors import PageError
from signalbridge.web.console.render import render
from signalbridge.web.deps import ContainerDep
from signalbridge.web.errors import ApiError
from signalbridge.web.params import MAX_ID, Id
from signalbridge.web.routes import notifications as notify_api
from signalbridge.web.routes import payments as pay_api

router = APIRouter(include_in_schema=False)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


# --- shared by the portal's pages -----------------------------------------------------------


def own_view(who: Principal) -> Principal:
    """The caller as the portal reads for it: only its own rows, whatever its role (staff
    read every account in the console). For reads only: writes use the real caller."""
    return who if who.role == Role.MEMBER else replace(who, role=Role.MEMBER)


def seen(query: Any, entity: access.Entity, who: Principal) -> Any:
    """:func:`access.visible` for a select of several columns (SQLAlchemy types those
    apart from the one-entity selects the filter is typed for)."""
    return access.visible(query, entity, who)


def query_id(value: str | None) -> int | None:
    """A row id from a query parameter; anything else is no filter."""
    if value is None or not value.isdigit() or len(value) > 19:
        return None
    number = int(value)
    return number if 1 <= number <= MAX_ID else None


def page_limit(value: str | None) -> int:
    if value is None or not value.isdigit() or len(value) > 4:
        return DEFAULT_LIMIT
    return max(1, min(MAX_LIMIT, int(value)))


def form_id(form: Any, name: str) -> int:
    """A posted row id; a missing or malformed one is a 422 page."""
    found = query_id(text(form, name, limit=20))
    if found is None:
        raise PageError(422, f"{name} must be a row id")
    return found


async def _names(
    s: AsyncSession, model: type[m.ChannelSource | m.ExecutionConnection], ids: set[int]
) -> dict[int, str]:
    if not ids:
        return {}
    rows = await s.execute(select(model.id, model.name).where(model.id.in_(ids)))
    return {int(i): str(n) for i, n in rows.all()}


# --- overview --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Held:
    plan: str
    kind: str
    status: str
    detail: str
    until: datetime | None


async def _held(s: AsyncSession, user_id: int) -> list[Held]:
    """The plans the user holds now (subscriptions and grants that entitle)."""
    now = utcnow()
    grace = entitlement.grace_of(s)
    out = []
    for h in (await entitlement.holdings_of(s, [user_id]))[user_id]:
        verdict = judge(h, now, grace)
        if verdict.entitled:
            out.append(Held(h.plan_name, h.kind, h.status, verdict.detail, verdict.until))
    return out


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    type: str
    is_active: bool
    health: str
    last_error: str | None


def _health_word(row: m.ExecutionConnection, health: m.ConnectionHealth | None) -> str:
    if not row.is_active:
        return "inactive"
    if health is None or (health.last_success_at is None and health.last_error_at is None):
        return "not tested yet"
    return "failing" if health.consecutive_failures else "ok"


async def _accounts(s: AsyncSession, who: Principal) -> list[Account]:
    query = seen(
        select(m.ExecutionConnection, m.ConnectionHealth)
        .outerjoin(
            m.ConnectionHealth,
            (m.ConnectionHealth.kind == "exchange")
            & (m.ConnectionHealth.connection_id == m.ExecutionConnection.id),
        )
        .order_by(m.ExecutionConnection.id),
        "connection",
        own_view(who),
    )
    return [
        Account(
            row.id,
            row.name,
            row.type,
            row.is_active,
            _health_word(row, health),
            None if health is None or not health.consecutive_failures else health.last_error,
        )
        for row, health in (await s.execute(query)).all()
    ]


async def _followed_signals(s: AsyncSession, who: Principal, limit: int = 10) -> list[Any]:
    """The newest signals of the channels the caller's own accounts follow."""
    followed = select(m.Follow.channel_id).where(
        m.Follow.connection_id.in_(access.owned_connections(who.user_id))
    )
    query = seen(
        select(m.Signal, m.ChannelSource.name)
        .join(m.ChannelSource, m.ChannelSource.id == m.Signal.channel_id)
        .where(m.Signal.channel_id.in_(followed))
        .order_by(m.Signal.id.desc())
        .limit(limit),
        "signal",
        own_view(who),
    )
    return list((await s.execute(query)).all())


@router.get("/portal")
async def overview(request: Request, login: SignedIn, c: ContainerDep) -> Response:
    who = login.principal
    context: dict[str, Any] = {}
    async with c.sessions() as s:
        context["held"] = await _held(s, who.user_id)
        if who.allows("connections:read"):
            context["accounts"] = await _accounts(s, who)
        if who.allows("executions:read"):
            found = await pnl.rows(s, own_view(who), funding_enabled=_funding(c))
            open_rows = [r for r in found if r.position.status == m.PositionStatus.OPEN]
            context["open_count"] = len(open_rows)
            context["open_totals"] = pnl.overall(open_rows)
            context["all_totals"] = pnl.overall(found)
        if who.allows("signals:read"):
            context["signals"] = await _followed_signals(s, who)
    return render(request, "portal/overview.html", login, **context)


def _funding(c: Container) -> bool:
    return c.settings.funding_sync_seconds > 0


# --- plans and checkout ----------------------------------------------------------------------


@dataclass(frozen=True)
class PlanOffer:
    plan: m.Plan
    prices: dict[str, Decimal]
    channels: list[str]
    offers: list[checkout.Offer]


async def _offers(s: AsyncSession, c: Container) -> list[PlanOffer]:
    rows = await plans.listing(s, active_only=True)
    channel_ids = {int(i) for p in rows for i in p.channel_ids or () if str(i).isdigit()}
    names: dict[int, str] = {}
    if channel_ids:
        found = await s.execute(
            select(m.ChannelSource.id, m.ChannelSource.name).where(
                m.ChannelSource.id.in_(channel_ids),
                m.ChannelSource.visibility != m.ChannelVisibility.PRIVATE,
            )
        )
        names = {int(i): str(n) for i, n in found.all()}
    out = []
    for plan in rows:
        try:
            offers = await checkout.offers(s, c.payments.directory, plan.id)
        except PaymentFlowError:
            offers = []
        ids = [int(i) for i in plan.channel_ids or () if str(i).isdigit()]
        out.append(
            PlanOffer(plan, plans.price_map(plan), [names.get(i, f"#{i}") for i in ids], offers)
        )
    return out


async def _own_billing(s: AsyncSession, user_id: int) -> tuple[list[Any], list[Any]]:
    """The user's own subscriptions (with plan names) and payments, newest first."""
    subs = await s.execute(
        select(m.Subscription, m.Plan.name)
        .join(m.Plan, m.Plan.id == m.Subscription.plan_id)
        .where(m.Subscription.user_id == user_id)
        .order_by(m.Subscription.id.desc())
        .limit(DEFAULT_LIMIT)
    )
    pays = await s.execute(
        select(m.Payment, m.Plan.name)
        .outerjoin(m.Plan, m.Plan.id == m.Payment.plan_id)
        .where(m.Payment.user_id == user_id)
        .order_by(m.Payment.id.desc())
        .limit(DEFAULT_LIMIT)
    )
    return list(subs.all()), list(pays.all())


async def _plans_page(
    request: Request, login: BrowserLogin, c: Container, *, status: int = 200, **context: Any
) -> Response:
    who = login.principal
    allow(who, "follows:read")
    async with c.sessions() as s:
        offered = await _offers(s, c)
        subscriptions, payments = await _own_billing(s, who.user_id)
        held = await _held(s, who.user_id)
    return render(
        request,
        "portal/plans.html",
        login,
        status=status,
        offered=offered,
        subscriptions=subscriptions,
        payments=payments,
        held=held,
        can_buy=who.allows("follows:write"),
        **context,
    )


@router.get("/portal/plans")
async def plans_page(request: Request, login: SignedIn, c: ContainerDep) -> Response:
    return await _plans_page(request, login, c)


@router.post("/portal/plans/checkout")
async def start_checkout(
    request: Request, login: SignedIn, form: Form, c: ContainerDep
) -> Response:
    """The API's checkout (a pending payment, then the gateway's), then off to pay."""
    who = login.principal
    allow(who, "follows:write")
    back = str(request.base_url).rstrip("/") + "/portal/plans/return?"
    try:
        body = pay_api.CheckoutBody(
            plan_id=form_id(form, "plan_id"),
            gateway_id=form_id(form, "gateway_id"),
            currency=text(form, "currency", limit=10),
            success_url=back + urlencode({"checkout": "success"}),
            cancel_url=back + urlencode({"checkout": "canceled"}),
        )
    except ValidationError:
        return await _plans_page(request, login, c, status=422, error="Choose a currency.")
    try:
        started = await pay_api.start_checkout(body, request, c, who=who)
    except ApiError as exc:
        return await _plans_page(request, login, c, status=exc.status, error=exc.message)
    return RedirectResponse(str(started["redirect_url"]), status_code=303)


@router.get("/portal/plans/return")
async def checkout_return(request: Request, login: SignedIn, c: ContainerDep) -> Response:
    """Back from the gateway: the newest payments and what they became (the gateway's
    webhook marks them paid; until it arrives a payment stays pending)."""
    who = login.principal
    allow(who, "follows:read")
    outcome = request.query_params.get("checkout", "")
    async with c.sessions() as s:
        subscriptions, payments = await _own_billing(s, who.user_id)
        held = await _held(s, who.user_id)
    return render(
        request,
        "portal/plans_return.html",
        login,
        canceled=outcome == "canceled",
        payments=payments[:5],
        subscriptions=subscriptions[:5],
        held=held,
    )


# --- positions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PositionFilters:
    status: str
    symbol: str
    connection_id: int | None
    channel_id: int | None
    follow_id: int | None
    before_id: int | None
    limit: int

    @classmethod
    def of(cls, request: Request) -> PositionFilters:
        q = request.query_params
        status = q.get("status", "")
        return cls(
            status=status if status in (m.PositionStatus.OPEN, m.PositionStatus.CLOSED) else "",
            symbol=q.get("symbol", "").strip().upper()[:40],
            connection_id=query_id(q.get("connection_id")),
            channel_id=query_id(q.get("channel_id")),
            follow_id=query_id(q.get("follow_id")),
            before_id=query_id(q.get("before_id")),
            limit=page_limit(q.get("limit")),
        )

    def query(self, **override: Any) -> str:
        """These filters as a query string (``before_id`` and the like overridden)."""
        values = {
            "status": self.status,
            "symbol": self.symbol,
            "connection_id": self.connection_id,
            "channel_id": self.channel_id,
            "follow_id": self.follow_id,
            "limit": self.limit if self.limit != DEFAULT_LIMIT else None,
            **override,
        }
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})


@dataclass(frozen=True)
class PositionRow:
    position: m.Position
    pnl: dict[str, Any]
    realised: Decimal
    channel: str
    connection: str


@dataclass(frozen=True)
class Group:
    title: str
    key: str
    items: list[dict[str, Any]]
    names: dict[int, str]


async def _positions(c: Container, who: Principal, f: PositionFilters) -> dict[str, Any]:
    """The page of positions, PnL per group and totals, and the names they need."""
    viewer = own_view(who)
    async with c.sessions() as s:
        found = await pnl.rows(
            s,
            viewer,
            funding_enabled=_funding(c),
            connection_id=f.connection_id,
            channel_id=f.channel_id,
            follow_id=f.follow_id,
        )
        if f.status:
            found = [r for r in found if r.position.status == f.status]
        if f.symbol:
            found = [r for r in found if r.position.symbol.upper() == f.symbol]
        accounts = seen(
            select(m.ExecutionConnection.id, m.ExecutionConnection.name), "connection", viewer
        )
        connections = {int(i): str(n) for i, n in (await s.execute(accounts)).all()}
        follows_q = seen(
            select(m.Follow.id, m.Follow.channel_id, m.Follow.connection_id), "follow", viewer
        )
        follows = [(int(a), int(b), int(d)) for a, b, d in (await s.execute(follows_q)).all()]
        channel_ids = {r.channel_id for r in found} | {ch for _, ch, _ in follows}
        channels = await _names(s, m.ChannelSource, channel_ids)
    newest = sorted(found, key=lambda r: r.position.id, reverse=True)
    if f.before_id is not None:
        newest = [r for r in newest if r.position.id < f.before_id]
    page = newest[: f.limit]
    follow_names = {
        fid: f"{channels.get(ch, f'#{ch}')} → {connections.get(cn, f'#{cn}')}"
        for fid, ch, cn in follows
    }
    rows = [
        PositionRow(
            r.position,
            pnl.position_fields(r),
            r.pnl.realised,
            channels.get(r.channel_id, f"#{r.channel_id}"),
            connections.get(r.position.connection_id, f"#{r.position.connection_id}"),
        )
        for r in page
    ]
    groups = [
        Group("Per follow", "follow", pnl.grouped(found, "follow"), follow_names),
        Group("Per channel", "channel", pnl.grouped(found, "channel"), channels),
        Group("Per account", "connection", pnl.grouped(found, "connection"), connections),
    ]
    return {
        "rows": rows,
        "groups": groups,
        "totals": pnl.overall(found),
        "older": page[-1].position.id if len(newest) > f.limit and page else None,
        "connections": connections,
        "channels": {ch: channels.get(ch, f"#{ch}") for _, ch, _ in follows},
        "follow_names": follow_names,
    }


@router.get("/portal/positions")
async def positions_page(request: Request, login: SignedIn, c: ContainerDep) -> Response:
    allow(login.principal, "executions:read", "position")
    f = PositionFilters.of(request)
    data = await _positions(c, login.principal, f)
    return render(request, "portal/positions.html", login, filters=f, **data)


@router.get("/portal/positions/rows")
async def positions_rows(request: Request, login: SignedIn, c: ContainerDep) -> Response:
    """The table body alone: what the live list fetches again on each ``positions`` event."""
    allow(login.principal, "executions:read", "position")
    f = PositionFilters.of(request)
    data = await _positions(c, login.principal, f)
    return render(request, "portal/positions_rows.html", login, filters=f, rows=data["rows"])


def _epoch(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def chart_data(
    position: m.Position, fields: dict[str, Any], orders: list[m.Order]
) -> dict[str, Any]:
    """What portal.js draws: the levels, the fills and the mark (prices as exact text)."""
    fills = [
        {
            "time": _epoch(o.filled_at or o.acked_at or o.created_at),
            "price": str(o.average_price),
            "amount": str(o.filled),
            "side": o.side,
            "leg": o.leg,
        }
        for o in orders
        if o.filled and o.average_price is not None
    ]
    mark = fields.get("mark_price")
    return {
        "symbol": position.symbol,
        "side": position.side,
        "status": position.status,
        "entry": str(position.entry_price),
        "stop_loss": None if position.stop_loss is None else str(position.stop_loss),
        "take_profits": [str(t) for t in position.take_profits or ()],
        "opened_at": _epoch(position.opened_at),
        "closed_at": _epoch(position.closed_at),
        "fills": fills,
        "mark": None
        if mark is None
        else {"price": str(mark), "time": _epoch(fields.get("marked_at"))},
    }


@router.get("/portal/positions/{row_id}")
async def position_detail(
    row_id: Id, request: Request, login: SignedIn, c: ContainerDep
) -> Response:
    who = login.principal
    allow(who, "executions:read", "position")
    viewer = own_view(who)
    async with c.sessions() as s:
        try:
            position: m.Position = await access.find(s, "position", row_id, viewer)
        except access.NotFound as exc:
            raise PageError(404, exc.message) from None
        found = await pnl.rows(s, viewer, funding_enabled=_funding(c), position_id=row_id)
        fields = pnl.position_fields(found[0]) if found else {}
        orders_q = access.visible(
            select(m.Order).where(m.Order.execution_id == position.execution_id),
            "order",
            viewer,
        ).order_by(m.Order.id)
        orders = list((await s.scalars(orders_q)).all())
        signal_q = seen(
            select(m.Signal, m.ChannelSource.name)
            .join(m.ChannelSource, m.ChannelSource.id == m.Signal.channel_id)
            .where(m.Signal.id == position.signal_id),
            "signal",
            viewer,
        )
        signal = (await s.execute(signal_q)).first()
        connection = await s.scalar(
            select(m.ExecutionConnection.name).where(
                m.ExecutionConnection.id == position.connection_id
            )
        )
    return render(
        request,
        "portal/position_detail.html",
        login,
        position=position,
        fields=fields,
        realised=found[0].pnl.realised if found else None,
        orders=orders,
        signal=signal,
        connection=connection,
        chart=chart_data(position, fields, orders),
    )


# --- notifications ---------------------------------------------------------------------------


async def _notifications_page(
    request: Request, login: BrowserLogin, c: Container, *, status: int = 200, **context: Any
) -> Response:
    async with c.sessions() as s:
        chats = (await notify_api.list_chats(s, login.principal))["items"]
    return render(
        request,
        "portal/notifications.html",
        login,
        status=status,
        chats=chats,
        bot_enabled=c.settings.notify_bot_token is not None,
        **context,
    )


@router.get("/portal/notifications")
async def notifications_page(request: Request, login: SignedIn, c: ContainerDep) -> Response:
    return await _notifications_page(request, login, c, flash=_NOTES.get(_done(request)))


_NOTES = {"saved": "The chat's settings are saved.", "unlinked": "The chat is unlinked."}


def _done(request: Request) -> str:
    return request.query_params.get("done", "")


@router.post("/portal/notifications/link-code")
async def new_link_code(request: Request, login: SignedIn, form: Form, c: ContainerDep) -> Response:
    """A fresh one-time code, shown on this answer only (never put in a URL)."""
    del form
    async with c.sessions() as s, s.begin():
        code = await notify_api.new_link_code(s, login.principal)
    return await _notifications_page(request, login, c, code=code)


async def _own_chat(c: Container, row_id: int, who: Principal) -> None:
    """The portal shows one's own chats only (the API lets an admin reach anyone's)."""
    async with c.sessions() as s:
        owner = await s.scalar(
            select(m.NotificationChat.user_id).where(m.NotificationChat.id == row_id)
        )
    if owner != who.user_id:
        raise PageError(404, f"notification chat {row_id} not found")


@router.post("/portal/notifications/chats/{row_id}")
async def update_chat(
    row_id: Id, request: Request, login: SignedIn, form: Form, c: ContainerDep
) -> Response:
    await _own_chat(c, row_id, login.principal)
    events = [e for e in form.getlist("events") if isinstance(e, str)][:32]
    try:
        body = notify_api.ChatUpdate(events=events, is_active=form.get("is_active") == "on")
    except ValidationError:
        return await _notifications_page(
            request, login, c, status=422, error="Choose at most 16 kinds of events."
        )
    try:
        async with c.sessions() as s, s.begin():
            await notify_api.update_chat(row_id, body, s, login.principal)
    except ApiError as exc:
        if exc.status == 404:
            raise
        return await _notifications_page(request, login, c, status=exc.status, error=exc.message)
    return RedirectResponse("/portal/notifications?done=saved", status_code=303)


@router.post("/portal/notifications/chats/{row_id}/unlink")
async def unlink_chat(row_id: Id, login: SignedIn, form: Form, c: ContainerDep) -> Response:
    del form
    await _own_chat(c, row_id, login.principal)
    async with c.sessions() as s, s.begin():
        await notify_api.unlink_chat(row_id, s, login.principal)
    return RedirectResponse("/portal/notifications?done=unlinked", status_code=303)
