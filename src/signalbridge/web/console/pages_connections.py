"""Trading accounts in the browser: a member's own (``/portal/connections``) and, for
staff, every account (``/console/connections``, read-only on other users' accounts).

Every read and write goes through the API's own handlers for ``/api/v1/connections``
(web/routes/connections.py): the same validation, sealing, masking, audit and ownership.
A new account is tested on save with the API's probe; one whose test fails (a key that can
withdraw, a key the venue refuses) is deleted again and the form comes back with the
reason. A secret is never rendered: not in a list, a detail, nor a form sent back.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import Any, Literal, get_args, get_origin

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from starlette.datastructures import FormData

from signalbridge.bootstrap import Container
from signalbridge.integrations.registry import AdapterSpec, UnknownAdapterType
from signalbridge.services import access
from signalbridge.services.auth import Principal
from signalbridge.services.health import health_history
from signalbridge.services.web_sessions import BrowserLogin
from signalbridge.store import models as m
from signalbridge.web.console.auth import Form, SignedIn, Staff, allow, text
from signalbridge.web.console.errors import PageError
from signalbridge.web.console.pages_portal import own_view, page_limit, query_id, seen
from signalbridge.web.console.render import render
from signalbridge.web.deps import ContainerDep
from signalbridge.web.errors import ApiError
from signalbridge.web.params import Id
from signalbridge.web.routes import connections as api

router = APIRouter(include_in_schema=False)

PORTAL = "/portal/connections"
CONSOLE = "/console/connections"
READ = "connections:read"
WRITE = "connections:write"
ADVANCED = "advanced"
#: ccxt exchanges offered as suggestions (any ccxt id is accepted, as by the API).
EXCHANGES = ("binance", "bybit", "okx", "bitget", "kucoin", "kraken", "gate", "mexc")
DONE = {
    "saved": "Saved, and the connection test passed.",
    "activated": "The account is active.",
    "deactivated": "The account is deactivated: no new orders are placed on it.",
    "reset": "The circuit breaker was reset.",
}


@dataclass(frozen=True)
class Field:
    """One plain input of an account form; ``kind`` picks the control."""

    name: str
    label: str
    kind: Literal["text", "select", "checkbox"] = "text"
    required: bool = False
    suggestions: tuple[str, ...] = ()


@dataclass(frozen=True)
class AccountForm:
    """The form of one exchange type: its plain fields (the secret ones come from the
    adapter registry's ``secret_fields``), with the type's title and a hint."""

    title: str
    hint: str
    fields: tuple[Field, ...] = ()


FORMS: dict[str, AccountForm] = {
    "ccxt": AccountForm(
        "Crypto exchange (ccxt)",
        "Create a trade-only API key on the exchange (withdrawals disabled): a key that "
        "can withdraw or transfer funds is refused.",
        (
            Field("exchange", "Exchange", required=True, suggestions=EXCHANGES),
            Field("market_type", "Market", "select"),
            Field("margin_type", "Margin type (futures)", "select"),
            Field("sandbox", "Use the exchange's testnet", "checkbox"),
        ),
    ),
    "metaapi": AccountForm(
        "MetaTrader 4/5 (MetaApi)",
        "Add the account to MetaApi first; then give its account id and an API token.",
        (
            Field("account_id", "MetaApi account id", required=True),
            Field("region", "Region (optional)"),
            Field("symbol_suffix", "Broker symbol suffix (optional)"),
        ),
    ),
    "paper": AccountForm(
        "Paper account",
        "A simulated account with its own balances: try a channel without risking money.",
        (Field("futures", "Futures (linear perpetuals) rather than spot", "checkbox"),),
    ),
}
SECRET_LABELS = {
    "api_key": "API key",
    "secret": "API secret",
    "password": "Passphrase (OKX, KuCoin, Bitget; optional)",
    "token": "MetaApi API token",
}


# --- the API's handlers -------------------------------------------------------------------

Handler = Callable[..., Awaitable[Any]]
KIND = next(k for k in api.KINDS if k.kind == "exchange")


@cache
def _handlers() -> dict[str, Handler]:
    """The API's ``/connections`` handlers by name (``create``, ``probe``, ...)."""
    routes = api.routers[api.KINDS.index(KIND)].routes
    return {r.name: r.endpoint for r in routes if isinstance(r, APIRoute)}


def handler(name: str) -> Handler:
    return _handlers()[name]


# --- reading -------------------------------------------------------------------------------


def _base(own: bool) -> str:
    return PORTAL if own else CONSOLE


async def _find(c: Container, row_id: int, who: Principal, own: bool) -> m.ExecutionConnection:
    """The account if the caller sees it here (the portal: only its own), else 404."""
    async with c.sessions() as s:
        try:
            row: m.ExecutionConnection = await access.find(
                s, "connection", row_id, own_view(who) if own else who
            )
        except access.NotFound as exc:
            raise PageError(404, exc.message) from None
    return row


async def _writable(c: Container, row_id: int, who: Principal) -> bool:
    if not who.allows(WRITE):
        return False
    async with c.sessions() as s:
        try:
            await access.find(s, "connection", row_id, who, write=True)
        except access.AccessDenied:
            return False
    return True


@dataclass(frozen=True)
class Filters:
    type: str
    active: str
    owner_id: int | None
    before_id: int | None
    limit: int

    @classmethod
    def of(cls, request: Request) -> Filters:
        q = request.query_params
        active = q.get("active", "")
        return cls(
            type=q.get("type", "")[:40],
            active=active if active in ("yes", "no") else "",
            owner_id=query_id(q.get("owner_id")),
            before_id=query_id(q.get("before_id")),
            limit=page_limit(q.get("limit")),
        )


async def _listing(
    c: Container, who: Principal, own: bool, f: Filters
) -> tuple[list[dict[str, Any]], dict[int, str], bool]:
    """The accounts shown (as the API presents them), owners' emails, whether older exist."""
    model = m.ExecutionConnection
    query = access.visible(
        select(model).order_by(model.id.desc()).limit(f.limit + 1),
        "connection",
        own_view(who) if own else who,
    )
    if f.type:
        query = query.where(model.type == f.type)
    if f.active:
        query = query.where(model.is_active.is_(f.active == "yes"))
    if f.owner_id is not None and not own:
        query = query.where(model.owner_id == f.owner_id)
    if f.before_id is not None:
        query = query.where(model.id < f.before_id)
    async with c.sessions() as s:
        rows = list((await s.scalars(query)).all())
        more = len(rows) > f.limit
        rows = rows[: f.limit]
        items = [await api.present(c, s, KIND, r, who) for r in rows]
        owners = {r.owner_id for r in rows}
        emails = dict(
            (await s.execute(select(m.User.id, m.User.email).where(m.User.id.in_(owners)))).all()
        )
    return items, {int(k): str(v) for k, v in emails.items()}, more


async def _history(c: Container, row_id: int, who: Principal) -> list[m.AuditEntry]:
    """The account's audit trail the caller may read, newest first."""
    query = access.visible(
        select(m.AuditEntry)
        .where(m.AuditEntry.entity == "connection", m.AuditEntry.entity_id == str(row_id))
        .order_by(m.AuditEntry.id.desc())
        .limit(50),
        "audit",
        who,
    )
    async with c.sessions() as s:
        return list((await s.scalars(query)).all())


async def _follows(c: Container, row_id: int, who: Principal) -> list[tuple[m.Follow, str]]:
    query = seen(
        select(m.Follow, m.ChannelSource.name)
        .join(m.ChannelSource, m.ChannelSource.id == m.Follow.channel_id)
        .where(m.Follow.connection_id == row_id)
        .order_by(m.Follow.id),
        "follow",
        who,
    )
    async with c.sessions() as s:
        return [(f, str(name)) for f, name in (await s.execute(query)).all()]


# --- the account form ------------------------------------------------------------------------


class FormProblem(ValueError):
    """The posted form cannot be read into a config; the message is safe to show."""


def _choices(schema: type[BaseModel], name: str) -> tuple[str, ...]:
    """A select's options: the Literal values or enum members the schema allows."""
    field = schema.model_fields.get(name)
    if field is None:
        return ()
    annotation = field.annotation
    if get_origin(annotation) is Literal:
        return tuple(str(a) for a in get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return tuple(str(e.value) for e in annotation)
    return ()


def _default(schema: type[BaseModel], name: str) -> Any:
    field = schema.model_fields.get(name)
    if field is None or field.is_required():
        return None
    value = field.get_default(call_default_factory=True)
    return value.value if isinstance(value, Enum) else value


@dataclass(frozen=True)
class TypeForm:
    """What the template needs to draw one type's form."""

    type: str
    title: str
    hint: str
    description: str
    fields: tuple[tuple[Field, tuple[str, ...], Any], ...]  # field, choices, default
    secrets: tuple[tuple[str, str, bool], ...]  # name, label, required


def type_form(spec: AdapterSpec) -> TypeForm:
    form = FORMS.get(spec.type, AccountForm(spec.type, ""))
    schema = spec.config_schema
    fields = tuple(
        (f, _choices(schema, f.name), _default(schema, f.name))
        for f in form.fields
        if f.name in schema.model_fields
    )
    secrets = tuple(
        (
            name,
            SECRET_LABELS.get(name, name.replace("_", " ")),
            schema.model_fields[name].is_required() or name in ("api_key", "secret"),
        )
        for name in spec.secret_fields
    )
    return TypeForm(spec.type, form.title, form.hint, spec.description, fields, secrets)


def type_forms(c: Container) -> list[TypeForm]:
    """One form per registered exchange type, the known ones first."""
    specs = {s.type: s for s in c.registry.specs("exchange")}
    order = [t for t in FORMS if t in specs] + sorted(t for t in specs if t not in FORMS)
    return [type_form(specs[t]) for t in order]


def read_config(form: FormData, tf: TypeForm) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(config for the API, the plain values to show again, advanced JSON to show again).

    Secrets go into the config only; what is shown again never holds one (an advanced
    JSON that cannot be read is not shown again, for it may hold a pasted secret)."""
    secret_names = {name for name, _, _ in tf.secrets}
    raw = text(form, ADVANCED, limit=20_000)
    advanced: dict[str, Any] = {}
    if raw:
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise FormProblem("advanced settings must be a JSON object") from None
        if not isinstance(parsed, dict):
            raise FormProblem("advanced settings must be a JSON object")
        advanced = parsed
    shown_advanced = {k: v for k, v in advanced.items() if k not in secret_names}
    config = dict(advanced)
    values: dict[str, Any] = {}
    for field, _, _ in tf.fields:
        if field.kind == "checkbox":
            config[field.name] = values[field.name] = form.get(field.name) == "on"
            continue
        value = text(form, field.name, limit=200)
        values[field.name] = value
        if value:
            config[field.name] = value
    for name, _, _ in tf.secrets:
        value = text(form, name, limit=2000)
        if value:
            config[name] = value
    echo = json.dumps(shown_advanced, indent=2) if shown_advanced else ""
    return config, values, echo


def _field_errors(details: Any) -> dict[str, str]:
    """The API's per-field problems, by the form field they concern (its message names
    them all; these are shown again beside their inputs)."""
    by_field: dict[str, str] = {}
    for item in details if isinstance(details, list) else ():
        if isinstance(item, dict):
            top = str(item.get("field", "")).split(".", 1)[0]
            if top and top not in by_field:
                by_field[top] = str(item.get("message", ""))
    return by_field


# --- pages ----------------------------------------------------------------------------------


async def _list_page(request: Request, login: BrowserLogin, c: Container, own: bool) -> Response:
    who = login.principal
    allow(who, READ, "connection")
    f = Filters.of(request)
    items, owners, more = await _listing(c, who, own, f)
    return render(
        request,
        "console/connections_list.html",
        login,
        base=_base(own),
        own=own,
        items=items,
        owners=owners,
        filters=f,
        older=items[-1]["id"] if more and items else None,
        types=c.registry.types("exchange"),
        can_add=own and who.allows(WRITE),
    )


@router.get(PORTAL)
async def portal_list(request: Request, login: SignedIn, c: ContainerDep) -> Response:
    return await _list_page(request, login, c, own=True)


@router.get(CONSOLE)
async def console_list(request: Request, login: Staff, c: ContainerDep) -> Response:
    return await _list_page(request, login, c, own=False)


def _form_page(
    request: Request,
    login: BrowserLogin,
    c: Container,
    *,
    chosen: str,
    status: int = 200,
    **context: Any,
) -> Response:
    forms = type_forms(c)
    return render(
        request,
        "console/connections_form.html",
        login,
        status=status,
        base=PORTAL,
        forms=forms,
        chosen=chosen if chosen in {tf.type for tf in forms} else "",
        **context,
    )


@router.get(PORTAL + "/new")
async def new_form(request: Request, login: SignedIn, c: ContainerDep) -> Response:
    allow(login.principal, WRITE, "connection", "create")
    return _form_page(request, login, c, chosen=request.query_params.get("type", "")[:40])


@router.post(PORTAL + "/new")
async def create(request: Request, login: SignedIn, form: Form, c: ContainerDep) -> Response:
    """Create through the API's handler, test it, keep it only if the test passed."""
    who = login.principal
    allow(who, WRITE, "connection", "create")
    type_ = text(form, "type", limit=40)
    name = text(form, "name", limit=200)
    try:
        spec = c.registry.get("exchange", type_)
    except UnknownAdapterType as exc:
        return _form_page(request, login, c, chosen="", status=422, error=str(exc))
    tf = type_form(spec)

    def again(status: int, error: str, **more: Any) -> Response:
        return _form_page(
            request,
            login,
            c,
            chosen=type_,
            status=status,
            error=error,
            name=name,
            values=values,
            advanced=echo,
            **more,
        )

    values: dict[str, Any] = {}
    echo = ""
    try:
        config, values, echo = read_config(form, tf)
    except FormProblem as exc:
        return again(422, str(exc))
    try:
        body = api.ConnectionCreate(name=name, type=type_, config=config)
    except ValidationError:
        return again(422, "Give the account a name of 1 to 200 characters.")
    try:
        async with c.sessions() as s, s.begin():
            created = await handler("create")(body=body, c=c, session=s, who=who)
    except ApiError as exc:
        return again(exc.status, exc.message, field_errors=_field_errors(exc.details))
    row_id = int(created["id"])
    try:
        result = await handler("probe")(row_id=row_id, c=c, who=who)
    except Exception:
        await _discard(c, row_id, who)  # never keep an account whose test did not finish
        raise
    if not result.get("ok"):
        reason = str(result.get("message") or result.get("error") or "the test failed")
        await _discard(c, row_id, who)
        return again(422, f"Not saved: the connection test failed: {reason}", test=result)
    return RedirectResponse(f"{PORTAL}/{row_id}?done=saved", status_code=303)


async def _discard(c: Container, row_id: int, who: Principal) -> None:
    """Delete an account whose test failed (deactivate it if something refers to it)."""
    try:
        async with c.sessions() as s, s.begin():
            await handler("delete")(row_id=row_id, c=c, session=s, who=who)
    except ApiError:
        async with c.sessions() as s, s.begin():
            await handler("deactivate")(row_id=row_id, c=c, session=s, who=who)


async def _detail_page(
    request: Request,
    login: BrowserLogin,
    c: Container,
    row_id: int,
    own: bool,
    *,
    test: dict[str, Any] | None = None,
) -> Response:
    who = login.principal
    allow(who, READ, "connection")
    row = await _find(c, row_id, who, own)
    async with c.sessions() as s:
        item = await api.present(c, s, KIND, row, who)
        owner = await s.scalar(select(m.User.email).where(m.User.id == row.owner_id))
        changes = await health_history(s, KIND.kind, row_id)
    done = DONE.get(request.query_params.get("done", ""))
    return render(
        request,
        "console/connections_detail.html",
        login,
        base=_base(own),
        own=own,
        item=item,
        owner=owner,
        can_write=await _writable(c, row_id, who),
        history=await _history(c, row_id, who),
        health_changes=changes,
        follows=await _follows(c, row_id, who),
        test=test,
        flash=done,
    )


@router.get(PORTAL + "/{row_id}")
async def portal_detail(row_id: Id, request: Request, login: SignedIn, c: ContainerDep) -> Response:
    return await _detail_page(request, login, c, row_id, own=True)


@router.get(CONSOLE + "/{row_id}")
async def console_detail(row_id: Id, request: Request, login: Staff, c: ContainerDep) -> Response:
    return await _detail_page(request, login, c, row_id, own=False)


ACTIONS: dict[str, tuple[str, str]] = {  # path -> (API handler, ``done`` note)
    "activate": ("activate", "activated"),
    "deactivate": ("deactivate", "deactivated"),
    "breaker-reset": ("reset_breaker", "reset"),
}


async def _act(
    request: Request, login: BrowserLogin, c: Container, row_id: int, action: str, own: bool
) -> Response:
    who = login.principal
    await _find(c, row_id, who, own)  # the portal: another's account is a 404
    allow(who, WRITE, "connection", "write")
    if action == "test":  # changes nothing but health: its result is shown on this answer
        result = await handler("probe")(row_id=row_id, c=c, who=who)
        return await _detail_page(request, login, c, row_id, own, test=result)
    if action not in ACTIONS:
        raise PageError(404, "no such action")
    name, note = ACTIONS[action]
    async with c.sessions() as s, s.begin():
        await handler(name)(row_id=row_id, c=c, session=s, who=who)
    return RedirectResponse(f"{_base(own)}/{row_id}?done={note}", status_code=303)


@router.post(PORTAL + "/{row_id}/{action}")
async def portal_act(
    row_id: Id, action: str, request: Request, login: SignedIn, form: Form, c: ContainerDep
) -> Response:
    del form  # checked: the CSRF token matched
    return await _act(request, login, c, row_id, action, own=True)


@router.post(CONSOLE + "/{row_id}/{action}")
async def console_act(
    row_id: Id, action: str, request: Request, login: Staff, form: Form, c: ContainerDep
) -> Response:
    del form
    return await _act(request, login, c, row_id, action, own=False)
