"""Follows in the portal: which of one's accounts copies which channel, how much it
trades (sizing), its guards (risk), how its positions are managed, auto-execute on or
off, and pause or resume.

Creating, changing and deleting go through the API's handlers (web/routes/follows.py;
pause and resume through web/routes/override.py), so the execution layer's schemas
validate them; a refusal comes back beside the form with everything typed kept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import Any, Literal, get_args, get_origin

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy import select
from starlette.datastructures import FormData

from signalbridge.bootstrap import Container
from signalbridge.domain.management import ManagementSettings, TrailingSettings
from signalbridge.domain.sizing import SizingConfig
from signalbridge.execution.planner import RiskSettings
from signalbridge.services.auth import Principal
from signalbridge.services.web_sessions import BrowserLogin
from signalbridge.store import models as m
from signalbridge.web.console.auth import Form, SignedIn, allow, text
from signalbridge.web.console.errors import PageError
from signalbridge.web.console.pages_portal import form_id, own_view, seen
from signalbridge.web.console.render import render
from signalbridge.web.deps import ContainerDep
from signalbridge.web.errors import ApiError
from signalbridge.web.params import Id
from signalbridge.web.routes import follows as api
from signalbridge.web.routes import override as override_api

router = APIRouter(include_in_schema=False)

BASE = "/portal/follows"
Group = Literal["sizing", "risk", "management"]
SCHEMAS: dict[str, type[BaseModel]] = {
    "sizing": SizingConfig,
    "risk": RiskSettings,
    "management": ManagementSettings,
    "management.trailing": TrailingSettings,
}
DONE = {
    "created": "The follow is saved.",
    "saved": "The settings are saved.",
    "paused": "Paused: no new entries; open positions are still managed.",
    "resumed": "Resumed: new signals open entries again.",
}


@dataclass(frozen=True)
class Setting:
    """One input of the settings form: ``group.name`` is its form name and its place in
    the follow's JSON (``management.trailing.percent`` nests)."""

    group: str
    name: str
    label: str
    kind: Literal["text", "select", "checkbox", "list"] = "text"
    hint: str = ""

    @property
    def key(self) -> str:
        return f"{self.group}.{self.name}"

    @property
    def id(self) -> str:
        return "f-" + self.key.replace(".", "-")

    def choices(self) -> tuple[str, ...]:
        """A select's options, from the execution layer's schema."""
        field = SCHEMAS[self.group].model_fields.get(self.name)
        annotation = field.annotation if field is not None else None
        if get_origin(annotation) is Literal:
            return tuple(str(a) for a in get_args(annotation))
        if isinstance(annotation, type) and issubclass(annotation, Enum):
            return tuple(str(e.value) for e in annotation)
        return ()

    def default(self) -> Any:
        field = SCHEMAS[self.group].model_fields.get(self.name)
        if field is None or field.is_required():
            return None
        value = field.get_default(call_default_factory=True)
        return value.value if isinstance(value, Enum) else value


SETTINGS: tuple[Setting, ...] = (
    Setting("sizing", "mode", "Sizing mode", "select",
            "fixed_quote: margin in quote currency; fixed_base: base units, lots or "
            "contracts; percent_balance: % of the free balance; risk_percent: % of the "
            "balance lost at the stop"),
    Setting("sizing", "value", "Amount or percentage"),
    Setting("sizing", "leverage", "Leverage (empty: the signal's or 1)"),
    Setting("sizing", "max_leverage", "Maximum leverage"),
    Setting("sizing", "use_signal_leverage", "Use the leverage the signal gives", "checkbox"),
    Setting("sizing", "max_position", "Maximum position (base units)"),
    Setting("sizing", "max_notional", "Maximum notional"),
    Setting("sizing", "fee_reserve_percent", "Fee reserve (%)"),
    Setting("risk", "max_signal_age_seconds", "Oldest signal to copy (seconds)"),
    Setting("risk", "max_deviation_percent", "Largest move past the entry (%)"),
    Setting("risk", "entry_orders", "Entry orders across the entry zone"),
    Setting("risk", "analyst_gate", "AI analyst gate", "select"),
    Setting("risk", "analyst_wait_seconds", "Wait for the analysis (seconds)"),
    Setting("risk", "analyst_on_missing", "When no analysis arrives", "select"),
    Setting("management", "tp_split", "Share closed at each target (%)", "list",
            "comma separated, e.g. 50, 30, 20; empty: evenly"),
    Setting("management", "break_even_after_tp", "Stop to break-even after target"),
    Setting("management.trailing", "distance", "Trailing stop distance (price)"),
    Setting("management.trailing", "percent", "Trailing stop distance (%)"),
    Setting("management.trailing", "after_tp", "Start trailing after target"),
    Setting("management", "close_on_opposite", "Close on an opposite signal", "checkbox"),
    Setting("management", "native_exits", "Rest stop and target on the venue", "checkbox"),
    Setting("management", "on_manual_cancel", "A resting exit cancelled by hand", "select"),
)  # fmt: skip
GROUP_TITLES = (("sizing", "Sizing"), ("risk", "Risk"), ("management", "Management"))


def _group_of(key: str) -> str:
    return key.split(".", 1)[0]


# --- form <-> the follow's JSON ------------------------------------------------------------


def shown_values(follow: m.Follow | None) -> dict[str, Any]:
    """What each input shows: the follow's stored settings, else the schema's defaults."""
    stored: dict[str, dict[str, Any]] = {
        "sizing": dict(follow.sizing or {}) if follow else {},
        "risk": dict(follow.risk or {}) if follow else {},
        "management": dict(follow.management or {}) if follow else {},
    }
    stored["management.trailing"] = dict(stored["management"].get("trailing") or {})
    if follow is not None and not stored["sizing"]:
        stored["sizing"] = {"mode": "fixed_quote", "value": "100"}  # the planner's default
    values: dict[str, Any] = {}
    for s in SETTINGS:
        group = stored[s.group]
        value = group[s.name] if s.name in group else _new_default(s, follow)
        if s.kind == "list" and isinstance(value, list | tuple):
            value = ", ".join(str(v) for v in value)
        values[s.key] = value
    values["is_active"] = follow.is_active if follow is not None else True
    return values


def _new_default(s: Setting, follow: m.Follow | None) -> Any:
    if s.group == "management.trailing":
        return None  # no trailing unless asked for
    if s.key == "sizing.mode" and follow is None:
        return "fixed_quote"
    return s.default()


def read_settings(form: FormData) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """(sizing, risk, management for the API; every value as typed, to show again).

    An empty input is left out (the schema's default holds); checkboxes are explicit."""
    groups: dict[str, dict[str, Any]] = {"sizing": {}, "risk": {}, "management": {}}
    trailing: dict[str, Any] = {}
    typed: dict[str, Any] = {}
    for s in SETTINGS:
        target = trailing if s.group == "management.trailing" else groups[s.group]
        if s.kind == "checkbox":
            target[s.name] = typed[s.key] = form.get(s.key) == "on"
            continue
        raw = text(form, s.key, limit=200)
        typed[s.key] = raw
        if not raw:
            continue
        if s.kind == "list":
            target[s.name] = [p for p in raw.replace(",", " ").split() if p]
        else:
            target[s.name] = raw
    if any(k in trailing for k in ("distance", "percent")):
        groups["management"]["trailing"] = trailing
    elif trailing.get("after_tp") not in (None, "0"):
        groups["management"]["trailing"] = trailing  # after_tp alone: the schema says why
    typed["is_active"] = form.get("is_active") == "on"
    return groups, typed


def field_errors(details: Any) -> dict[str, str]:
    """The API's per-field problems keyed by form name (``sizing.value``, ...).

    The API checks sizing, then risk, then management, each against its own schema; a
    field's name tells which one it belongs to (the three share no field names)."""
    out: dict[str, str] = {}
    for item in details if isinstance(details, list) else ():
        if not isinstance(item, dict):
            continue
        field = str(item.get("field", ""))
        message = str(item.get("message", ""))
        head, _, rest = field.partition(".")
        for group in ("sizing", "risk", "management"):
            if head in SCHEMAS[group].model_fields:
                key = f"{group}.{head}"
                if head == "trailing" and rest:
                    key = f"management.trailing.{rest.split('.', 1)[0]}"
                elif head == "trailing":
                    key = "management.trailing.distance"
                out.setdefault(key, message)
                break
        else:
            out.setdefault("", message)
    return out


# --- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FollowRow:
    follow: m.Follow
    channel: str
    connection: str


async def _follows(c: Container, who: Principal) -> list[FollowRow]:
    query = seen(
        select(m.Follow, m.ChannelSource.name, m.ExecutionConnection.name)
        .join(m.ChannelSource, m.ChannelSource.id == m.Follow.channel_id)
        .join(m.ExecutionConnection, m.ExecutionConnection.id == m.Follow.connection_id)
        .order_by(m.Follow.id.desc()),
        "follow",
        own_view(who),
    )
    async with c.sessions() as s:
        return [FollowRow(f, str(ch), str(cn)) for f, ch, cn in (await s.execute(query)).all()]


async def _choices(c: Container, who: Principal) -> tuple[list[Any], list[Any]]:
    """Channels the caller may follow (the API's own filter) and its own accounts."""
    channels = seen(
        select(m.ChannelSource.id, m.ChannelSource.name, m.ChannelSource.visibility)
        .where(m.ChannelSource.is_active.is_(True))
        .order_by(m.ChannelSource.name),
        "channel",
        who,
    )
    accounts = seen(
        select(
            m.ExecutionConnection.id, m.ExecutionConnection.name, m.ExecutionConnection.type
        ).order_by(m.ExecutionConnection.name),
        "connection",
        own_view(who),
    )
    async with c.sessions() as s:
        return list((await s.execute(channels)).all()), list((await s.execute(accounts)).all())


async def _own_follow(c: Container, row_id: int, who: Principal) -> FollowRow:
    """The caller's own follow, else 404 (another member's answers like a missing one)."""
    query = seen(
        select(m.Follow, m.ChannelSource.name, m.ExecutionConnection.name)
        .join(m.ChannelSource, m.ChannelSource.id == m.Follow.channel_id)
        .join(m.ExecutionConnection, m.ExecutionConnection.id == m.Follow.connection_id)
        .where(m.Follow.id == row_id),
        "follow",
        own_view(who),
    )
    async with c.sessions() as s:
        found = (await s.execute(query)).first()
    if found is None:
        raise PageError(404, f"follow {row_id} not found")
    follow, channel, connection = found
    return FollowRow(follow, str(channel), str(connection))


# --- pages ---------------------------------------------------------------------------------


def _context() -> dict[str, Any]:
    return {"settings": SETTINGS, "group_titles": GROUP_TITLES, "base": BASE}


async def _list_page(
    request: Request, login: BrowserLogin, c: Container, *, status: int = 200, **context: Any
) -> Response:
    who = login.principal
    allow(who, "follows:read", "follow")
    channels, accounts = await _choices(c, who)
    context.setdefault("values", shown_values(None))
    return render(
        request,
        "portal/follows.html",
        login,
        status=status,
        follows=await _follows(c, who),
        channels=channels,
        accounts=accounts,
        can_write=who.allows("follows:write"),
        flash=DONE.get(request.query_params.get("done", "")),
        **_context(),
        **context,
    )


@router.get(BASE)
async def follows_page(request: Request, login: SignedIn, c: ContainerDep) -> Response:
    return await _list_page(request, login, c)


@router.post(BASE)
async def create_follow(request: Request, login: SignedIn, form: Form, c: ContainerDep) -> Response:
    who = login.principal
    allow(who, "follows:write", "follow", "create")
    groups, typed = read_settings(form)
    chosen = {"channel_id": text(form, "channel_id", limit=20)}
    chosen["connection_id"] = text(form, "connection_id", limit=20)

    def again(status: int, error: str, errors: dict[str, str] | None = None) -> Awaitable[Response]:
        return _list_page(
            request, login, c, status=status, error=error, values=typed, errors=errors or {},
            chosen=chosen,
        )  # fmt: skip

    try:
        body = api.FollowCreate(
            channel_id=form_id(form, "channel_id"),
            connection_id=form_id(form, "connection_id"),
            is_active=typed["is_active"],
            **groups,
        )
    except PageError:
        return await again(422, "Choose a channel and one of your accounts.")
    try:
        async with c.sessions() as s, s.begin():
            await api.create_follow(body, s, who=who)
    except ApiError as exc:
        return await again(exc.status, exc.message, field_errors(exc.details))
    return RedirectResponse(f"{BASE}?done=created", status_code=303)


async def _edit_page(
    request: Request,
    login: BrowserLogin,
    c: Container,
    row_id: int,
    *,
    status: int = 200,
    **context: Any,
) -> Response:
    who = login.principal
    allow(who, "follows:read", "follow")
    row = await _own_follow(c, row_id, who)
    context.setdefault("values", shown_values(row.follow))
    return render(
        request,
        "portal/follow_edit.html",
        login,
        status=status,
        row=row,
        can_write=who.allows("follows:write"),
        flash=DONE.get(request.query_params.get("done", "")),
        **_context(),
        **context,
    )


@router.get(BASE + "/{row_id}")
async def edit_page(row_id: Id, request: Request, login: SignedIn, c: ContainerDep) -> Response:
    return await _edit_page(request, login, c, row_id)


@router.post(BASE + "/{row_id}")
async def update_follow(
    row_id: Id, request: Request, login: SignedIn, form: Form, c: ContainerDep
) -> Response:
    who = login.principal
    await _own_follow(c, row_id, who)
    allow(who, "follows:write", "follow", "write")
    groups, typed = read_settings(form)
    body = api.FollowUpdate(is_active=typed["is_active"], **groups)
    try:
        async with c.sessions() as s, s.begin():
            await api.update_follow(row_id, body, s, who=who)
    except ApiError as exc:
        return await _edit_page(
            request,
            login,
            c,
            row_id,
            status=exc.status,
            error=exc.message,
            values=typed,
            errors=field_errors(exc.details),
        )
    return RedirectResponse(f"{BASE}/{row_id}?done=saved", status_code=303)


Handler = Callable[..., Awaitable[Any]]


@cache
def _pausers() -> dict[str, Handler]:
    """The API's ``POST /follows/{id}/pause`` and ``/resume`` handlers."""
    return {
        r.name: r.endpoint
        for r in override_api.router.routes
        if isinstance(r, APIRoute) and r.name in ("pause_follow", "resume_follow")
    }


@router.post(BASE + "/{row_id}/{action}")
async def follow_action(
    row_id: Id, action: str, login: SignedIn, form: Form, c: ContainerDep
) -> Response:
    """Pause, resume or delete, as the API does them."""
    del form
    who = login.principal
    await _own_follow(c, row_id, who)
    if action in ("pause", "resume"):
        allow(who, "follows:write")
        await _pausers()[f"{action}_follow"](row_id=row_id, c=c, key=None, who=who)
        return RedirectResponse(f"{BASE}/{row_id}?done={action}d", status_code=303)
    if action == "delete":
        allow(who, "follows:write", "follow", "write")
        async with c.sessions() as s, s.begin():
            await api.delete_follow(row_id, s, who=who)
        return RedirectResponse(BASE, status_code=303)
    raise PageError(404, "no such action")
