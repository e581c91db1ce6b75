"""The AI page: AI configurations with their cost, and what the AI read and spent per day.

Who sees what mirrors the API exactly:

- the usage report and the costs are the staff's (``/api/v1/ai-usage``: ``signals:read``
  and the right to change channels), so operators and admins both see them;
- configurations are admin-only (``/api/v1/ai-configs``: ``connections:read`` /
  ``connections:write`` on ``ai_config``): an operator sees no configuration row, and
  its forms answer 403.

Every write calls the API's own handler for the connection kind (web/routes/connections.py),
so validation, sealing of the key, cache invalidation and audit are the API's. A key is never
rendered: the pages show the API's mask, a secret field of a form is never filled in (not
even after a refused post), and leaving it blank keeps the stored one.

The connection machinery here (:class:`ConnectionPages`, the config form built from the
adapter's schema) is shared with the payment gateway pages (pages_billing.py).
"""

from __future__ import annotations

import json
import re
import types
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from signalbridge.bootstrap import Container
from signalbridge.integrations.registry import AdapterSpec, UnknownAdapterType
from signalbridge.services import access, ai_usage
from signalbridge.services.web_sessions import BrowserLogin
from signalbridge.store.types import utcnow
from signalbridge.web.console.auth import Form, Staff, allow, text
from signalbridge.web.console.errors import PageError
from signalbridge.web.console.render import render
from signalbridge.web.deps import ContainerDep
from signalbridge.web.errors import ApiError
from signalbridge.web.params import Id
from signalbridge.web.routes import ai as ai_routes
from signalbridge.web.routes import connections

router = APIRouter(include_in_schema=False)

#: Prefix of a config field's form name (apart from name, type, priority, csrf_token).
FIELD_PREFIX = "cfg_"
#: Longest text a config field may carry (a JSON map of price ids fits).
MAX_FIELD = 20_000

#: What a redirect's ``?done=`` says; fixed texts, so nothing typed is ever reflected.
DONE = {
    "created": "Created.",
    "saved": "Saved.",
    "activated": "Activated.",
    "deactivated": "Deactivated.",
    "breaker": "The circuit breaker is reset.",
}

Widget = Literal["text", "number", "secret", "choice", "lines", "json"]
Handler = Callable[..., Awaitable[Any]]


def flash_of(request: Request) -> str | None:
    """The fixed message a redirect after a post asked for (``?done=``)."""
    return DONE.get(request.query_params.get("done", ""))


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def problem(exc: ValidationError) -> str:
    """A pydantic refusal as one line, without the input (it may be a secret)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'form'}: {err['msg']}"
        for err in exc.errors(include_input=False, include_url=False)
    )


def when(value: Any) -> datetime | None:
    """An ISO timestamp from the API's row view, as a datetime for the ``when`` filter."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


# --- the API's handlers ---------------------------------------------------------------


@cache
def api_kind(kind: str) -> connections.ConnectionKind:
    for spec in connections.KINDS:
        if spec.kind == kind:
            return spec
    raise LookupError(kind)


@cache
def api_handlers(kind: str) -> dict[str, Handler]:
    """The API's own route handlers for one connection kind, by name (``create``,
    ``modify``, ``probe``, ...): plain async functions the pages call with explicit
    arguments, so a page does exactly what the API does."""
    for spec, api_router in zip(connections.KINDS, connections.routers, strict=True):
        if spec.kind == kind:
            return {r.name: r.endpoint for r in api_router.routes if isinstance(r, APIRoute)}
    raise LookupError(kind)


# --- a config form from the adapter's schema ------------------------------------------


class ConfigFormError(ValueError):
    """A form field cannot be read (bad JSON, a bad number); the message is safe to show."""


@dataclass(frozen=True)
class ConfigField:
    """One field of an adapter's config schema, as a form field."""

    name: str
    widget: Widget
    required: bool
    help: str
    default: Any = None
    value: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    #: a secret's stored value, masked as the API masks it ("" when none is stored)
    stored_mask: str = ""

    @property
    def input_name(self) -> str:
        return FIELD_PREFIX + self.name

    @property
    def label(self) -> str:
        return self.name.replace("_", " ").capitalize()


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """The annotation without ``Annotated`` and ``None``; whether None was allowed."""
    optional = False
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType) and type(None) in get_args(annotation):
            rest = [a for a in get_args(annotation) if a is not type(None)]
            optional = True
            if len(rest) != 1:
                return annotation, optional
            annotation = rest[0]
        else:
            return annotation, optional


def _widget(annotation: Any) -> tuple[Widget, tuple[str, ...]]:
    base, _ = _unwrap(annotation)
    origin = get_origin(base)
    if origin is Literal:
        return "choice", tuple(str(a) for a in get_args(base))
    if base is bool:
        return "choice", ("true", "false")
    if origin in (list, tuple, set, frozenset) and all(
        a in (str, Ellipsis) for a in get_args(base)
    ):
        return "lines", ()
    if base in (int, float, Decimal):
        return "number", ()
    if base is str:
        return "text", ()
    return "json", ()


def shown(value: Any, widget: Widget) -> str:
    """A config value as the text of its form field."""
    if value is None:
        return ""
    if widget == "lines" and isinstance(value, list | tuple | set | frozenset):
        return "\n".join(str(v) for v in value)
    if widget == "json":
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _posted(form: FormData, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def config_fields(
    spec: AdapterSpec,
    *,
    current: Mapping[str, Any] | None = None,
    masks: Mapping[str, str] | None = None,
    posted: FormData | None = None,
) -> list[ConfigField]:
    """The schema's fields with the values to show: what was posted (after a refusal),
    else the stored config (editing), else the defaults. A secret never has a value."""
    out: list[ConfigField] = []
    for name, info in spec.config_schema.model_fields.items():
        secret = name in spec.secret_fields
        widget, options = ("secret", ()) if secret else _widget(info.annotation)
        required = info.is_required()
        default = None if required else info.get_default(call_default_factory=True)
        choices = tuple((o, {"true": "yes", "false": "no"}.get(o, o)) for o in options)
        if widget == "choice" and not required and default is None:
            choices = (("", "not set"), *choices)
        if secret:
            value = ""
        elif posted is not None:
            value = _posted(posted, FIELD_PREFIX + name)
        elif current is not None:
            value = shown(current.get(name), widget)
        else:
            value = shown(default, widget)
        out.append(
            ConfigField(
                name=name,
                widget=widget,
                required=required,
                help=info.description or "",
                default=default,
                value=value,
                choices=choices,
                stored_mask=(masks or {}).get(name, "") if secret else "",
            )
        )
    return out


def _parse(f: ConfigField, raw: str) -> Any:
    if f.widget == "lines":
        return [item.strip() for item in re.split(r"[\n,]", raw) if item.strip()]
    if f.widget == "json":
        try:
            return json.loads(raw)
        except ValueError:
            raise ConfigFormError(f"{f.label}: not valid JSON") from None
    if f.widget == "choice" and f.choices and {v for v, _ in f.choices} >= {"true", "false"}:
        return raw == "true"
    return raw


def config_from_form(spec: AdapterSpec, form: FormData, *, editing: bool) -> dict[str, Any]:
    """The config a form asks for, as the API's body carries it (the adapter's schema
    validates it there). A blank field means its default (on a new connection: unset);
    a blank secret keeps the stored one when editing and is left out when creating."""
    out: dict[str, Any] = {}
    for f in config_fields(spec):
        raw = text(form, f.input_name, limit=MAX_FIELD)
        if raw:
            out[f.name] = _parse(f, raw)
        elif editing and f.widget != "secret" and not f.required:
            out[f.name] = f.default
    return out


# --- the pages of one connection kind -------------------------------------------------


@dataclass(frozen=True)
class ConnectionPages:
    """The list, new, detail, edit, test and (de)activate pages of one connection kind."""

    kind: str  # the registry's kind: "ai" or "payment"
    base: str  # "/console/ai"
    noun: str  # "AI configuration"
    area: str  # the sub-navigation the templates show: "ai" or "billing"
    list_path: str  # where the list is
    has_priority: bool = False

    @property
    def api(self) -> connections.ConnectionKind:
        return api_kind(self.kind)

    @property
    def handlers(self) -> dict[str, Handler]:
        return api_handlers(self.kind)

    def may_read(self, login: BrowserLogin) -> None:
        allow(login.principal, self.api.read_scope, self.api.entity, "read")

    def may_write(self, login: BrowserLogin) -> None:
        allow(login.principal, self.api.write_scope, self.api.entity, "write")

    def may_create(self, login: BrowserLogin) -> None:
        allow(login.principal, self.api.write_scope, self.api.entity, "create")

    def readable(self, login: BrowserLogin) -> bool:
        who = login.principal
        return who.allows(self.api.read_scope) and access.permits(self.api.entity, "read", who)

    def writable(self, login: BrowserLogin) -> bool:
        who = login.principal
        return who.allows(self.api.write_scope) and access.permits(self.api.entity, "write", who)

    def spec(self, c: Container, type_: str) -> AdapterSpec:
        try:
            found: AdapterSpec = c.registry.get(self.kind, type_)
        except UnknownAdapterType:
            raise PageError(404, f"no {self.noun} type {type_[:40]!r}") from None
        return found

    def types(self, c: Container) -> list[AdapterSpec]:
        found: list[AdapterSpec] = c.registry.specs(self.kind)
        return found


async def listing(
    c: Container, pages: ConnectionPages, login: BrowserLogin
) -> list[dict[str, Any]]:
    """The rows the API's list shows the caller, masked as the API masks them."""
    pages.may_read(login)
    async with c.sessions() as s, s.begin():
        body = await pages.handlers["list_rows"](c=c, session=s, who=login.principal)
    items: list[dict[str, Any]] = body["items"]
    return items


def new_page(
    request: Request,
    login: BrowserLogin,
    c: Container,
    pages: ConnectionPages,
    type_: str | None,
    *,
    posted: FormData | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    pages.may_create(login)
    spec = pages.spec(c, type_) if type_ else None
    return render(
        request,
        "console/ai_connection_new.html",
        login,
        status=status,
        pages=pages,
        types=pages.types(c),
        spec=spec,
        fields=config_fields(spec, posted=posted) if spec else [],
        name=_posted(posted, "name") if posted else "",
        priority=_posted(posted, "priority") if posted else "0",
        is_active=_posted(posted, "is_active") if posted else "true",
        error=error,
    )


def _priority(pages: ConnectionPages, form: FormData) -> int | None:
    if not pages.has_priority:
        return None
    raw = text(form, "priority", limit=10)
    if not raw:
        return None
    if not raw.isdigit():
        raise ConfigFormError("Priority: a whole number from 0 to 1000")
    return int(raw)


async def create(
    request: Request, login: BrowserLogin, c: Container, form: FormData, pages: ConnectionPages
) -> Response:
    pages.may_create(login)
    type_ = text(form, "type", limit=40)
    spec = pages.spec(c, type_)
    try:
        body = connections.ConnectionCreate(
            name=text(form, "name", limit=200),
            type=spec.type,
            config=config_from_form(spec, form, editing=False),
            is_active=text(form, "is_active", limit=5) != "false",
            priority=_priority(pages, form),
        )
        async with c.sessions() as s, s.begin():
            out = await pages.handlers["create"](body=body, c=c, session=s, who=login.principal)
    except (ApiError, ValidationError, ConfigFormError) as exc:
        message = exc.message if isinstance(exc, ApiError) else _text_of(exc)
        return new_page(request, login, c, pages, spec.type, posted=form, error=message, status=422)
    return RedirectResponse(f"{pages.base}/{out['id']}?done=created", status_code=303)


def _text_of(exc: ValidationError | ConfigFormError) -> str:
    return problem(exc) if isinstance(exc, ValidationError) else str(exc)


async def detail_page(
    request: Request,
    login: BrowserLogin,
    c: Container,
    pages: ConnectionPages,
    row_id: int,
    *,
    result: dict[str, Any] | None = None,
    posted: FormData | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    pages.may_read(login)
    async with c.sessions() as s, s.begin():
        row = await pages.handlers["detail"](row_id=row_id, c=c, session=s, who=login.principal)
    spec = pages.spec(c, row["type"])
    masks = {k: v for k, v in row["secrets"].items() if k in spec.secret_fields}
    return render(
        request,
        "console/ai_connection_detail.html",
        login,
        status=status,
        pages=pages,
        row=row,
        created=when(row.get("created_at")),
        updated=when(row.get("updated_at")),
        spec=spec,
        fields=config_fields(spec, current=row["config"], masks=masks, posted=posted),
        public=[
            (f.name, shown(row["config"].get(f.name), f.widget))
            for f in config_fields(spec)
            if f.widget != "secret"
        ],
        name=_posted(posted, "name") if posted else row["name"],
        priority=_posted(posted, "priority") if posted else str(row.get("priority", "")),
        can_write=pages.writable(login),
        result=result,
        error=error,
        flash=flash_of(request),
    )


async def modify(
    request: Request,
    login: BrowserLogin,
    c: Container,
    form: FormData,
    pages: ConnectionPages,
    row_id: int,
) -> Response:
    pages.may_write(login)
    async with c.sessions() as s:
        row = await pages.handlers["detail"](row_id=row_id, c=c, session=s, who=login.principal)
    spec = pages.spec(c, row["type"])
    try:
        body = connections.ConnectionUpdate(
            name=text(form, "name", limit=200) or None,
            config=config_from_form(spec, form, editing=True),
            priority=_priority(pages, form),
        )
        async with c.sessions() as s, s.begin():
            await pages.handlers["modify"](
                row_id=row_id, body=body, c=c, session=s, who=login.principal
            )
    except (ApiError, ValidationError, ConfigFormError) as exc:
        if isinstance(exc, ApiError) and exc.status in (403, 404):
            raise
        message = exc.message if isinstance(exc, ApiError) else _text_of(exc)
        return await detail_page(
            request, login, c, pages, row_id, posted=form, error=message, status=422
        )
    return RedirectResponse(f"{pages.base}/{row_id}?done=saved", status_code=303)


async def test(
    request: Request, login: BrowserLogin, c: Container, pages: ConnectionPages, row_id: int
) -> Response:
    """Run the API's probe; the answer (never a secret: the API redacts it) is shown on the
    detail page, or alone as a fragment for htmx."""
    pages.may_write(login)
    result: dict[str, Any] = await pages.handlers["probe"](row_id=row_id, c=c, who=login.principal)
    if is_htmx(request):
        return render(request, "console/ai_test_result.html", login, result=result)
    return await detail_page(request, login, c, pages, row_id, result=result)


async def set_active(
    login: BrowserLogin, c: Container, pages: ConnectionPages, row_id: int, active: bool, back: str
) -> Response:
    pages.may_write(login)
    name = "activate" if active else "deactivate"
    async with c.sessions() as s, s.begin():
        await pages.handlers[name](row_id=row_id, c=c, session=s, who=login.principal)
    return RedirectResponse(f"{back}?done={name}d", status_code=303)


async def reset_breaker(
    login: BrowserLogin, c: Container, pages: ConnectionPages, row_id: int
) -> Response:
    pages.may_write(login)
    async with c.sessions() as s, s.begin():
        await pages.handlers["reset_breaker"](row_id=row_id, c=c, session=s, who=login.principal)
    return RedirectResponse(f"{pages.base}/{row_id}?done=breaker", status_code=303)


def back_to(form: FormData, pages: ConnectionPages, row_id: int) -> str:
    """Where a button returns: the list when it was pressed there, else the detail."""
    return pages.list_path if _posted(form, "back") == "list" else f"{pages.base}/{row_id}"


# --- AI configurations and their cost ---------------------------------------------------

AI_PAGES = ConnectionPages(
    kind="ai",
    base="/console/ai",
    noun="AI configuration",
    area="ai",
    list_path="/console/ai",
    has_priority=True,
)


@dataclass
class Cost:
    """One configuration's AI spend: today and this month so far, parses and analyses."""

    today_parse: Decimal = Decimal(0)
    today_analysis: Decimal = Decimal(0)
    month_parse: Decimal = Decimal(0)
    month_analysis: Decimal = Decimal(0)

    @property
    def today(self) -> Decimal:
        return self.today_parse + self.today_analysis

    @property
    def month(self) -> Decimal:
        return self.month_parse + self.month_analysis


async def costs(session: AsyncSession, now: datetime) -> dict[int | None, Cost]:
    """Per configuration (None: calls without one), from the usage report of each UTC
    day of the month so far (services/ai_usage.py: the numbers the budgets count)."""
    today = now.astimezone(UTC).date()
    out: dict[int | None, Cost] = {}
    day = today.replace(day=1)
    while day <= today:
        report = await ai_usage.usage(session, day=day.isoformat())
        for item in report["items"]:
            cost = out.setdefault(item["config_id"], Cost())
            parse = Decimal(item["parse"]["cost"])
            analysis = Decimal(item["analysis"]["cost"])
            cost.month_parse += parse
            cost.month_analysis += analysis
            if day == today:
                cost.today_parse += parse
                cost.today_analysis += analysis
        day += timedelta(days=1)
    return out


@router.get("/console/ai")
async def ai_index(
    request: Request,
    login: Staff,
    c: ContainerDep,
    day: str | None = Query(default=None, max_length=10),
) -> Response:
    who = login.principal
    allow(who, "signals:read", "channel", "write")  # as GET /api/v1/ai-usage
    error = None
    if day and not re.fullmatch(ai_routes.DAY_PATTERN, day):
        error, day = "The day is not a date (YYYY-MM-DD); showing today.", None
    configs = await listing(c, AI_PAGES, login) if AI_PAGES.readable(login) else []
    async with c.sessions() as s, s.begin():
        try:
            report = await ai_routes.usage(
                session=s, who=who, day=day, channel_id=None, config_id=None
            )
        except ApiError as exc:
            error = exc.message
            report = await ai_routes.usage(
                session=s, who=who, day=None, channel_id=None, config_id=None
            )
        spent = await costs(s, utcnow())
    known = {row["id"] for row in configs}
    return render(
        request,
        "console/ai_index.html",
        login,
        pages=AI_PAGES,
        configs=configs,
        costs=spent,
        no_cost=Cost(),
        other_costs=[
            (k, v) for k, v in sorted(spent.items(), key=lambda kv: kv[0] or 0) if k not in known
        ],
        report=report,
        day=report["day"],
        show_configs=AI_PAGES.readable(login),
        can_write=AI_PAGES.writable(login),
        error=error,
        flash=flash_of(request),
    )


@router.get("/console/ai/new")
async def ai_new(
    request: Request,
    login: Staff,
    c: ContainerDep,
    type: str | None = Query(default=None, max_length=40),
) -> Response:
    return new_page(request, login, c, AI_PAGES, type)


@router.post("/console/ai/new")
async def ai_create(request: Request, login: Staff, c: ContainerDep, form: Form) -> Response:
    return await create(request, login, c, form, AI_PAGES)


@router.get("/console/ai/{row_id}")
async def ai_detail(request: Request, row_id: Id, login: Staff, c: ContainerDep) -> Response:
    return await detail_page(request, login, c, AI_PAGES, row_id)


@router.post("/console/ai/{row_id}")
async def ai_modify(
    request: Request, row_id: Id, login: Staff, c: ContainerDep, form: Form
) -> Response:
    return await modify(request, login, c, form, AI_PAGES, row_id)


@router.post("/console/ai/{row_id}/test")
async def ai_test(
    request: Request, row_id: Id, login: Staff, c: ContainerDep, form: Form
) -> Response:
    del form  # checked: a cross-site page cannot spend the provider's quota
    return await test(request, login, c, AI_PAGES, row_id)


@router.post("/console/ai/{row_id}/activate")
async def ai_activate(row_id: Id, login: Staff, c: ContainerDep, form: Form) -> Response:
    return await set_active(login, c, AI_PAGES, row_id, True, back_to(form, AI_PAGES, row_id))


@router.post("/console/ai/{row_id}/deactivate")
async def ai_deactivate(row_id: Id, login: Staff, c: ContainerDep, form: Form) -> Response:
    return await set_active(login, c, AI_PAGES, row_id, False, back_to(form, AI_PAGES, row_id))


@router.post("/console/ai/{row_id}/breaker/reset")
async def ai_reset_breaker(row_id: Id, login: Staff, c: ContainerDep, form: Form) -> Response:
    del form
    return await reset_breaker(login, c, AI_PAGES, row_id)
