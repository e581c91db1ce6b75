"""Channels in the console: the list, a creation form for each channel type, and one
channel's settings, activation, fetch test, health and parse template with a live preview.

Every change is made by the channels API's own handlers (web/routes/connections.py, called
with the viewer as ``who``): the adapter's schema validates the config, the vault seals
the secrets, the audit records the change, and a refusal is the API's own message, shown
beside the form with what was typed (secrets excepted: they are never sent back). A
secret the API generates (a webhook's) is shown once, on the answer to the creation.

The parse preview runs the pipeline's own steps on a pasted message (services/interpret.py
with the channel's template, then services/ingest.classify with its settings), stores
nothing, and says what the intake would do with it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute
from pydantic import ValidationError
from sqlalchemy import func, select
from starlette.datastructures import FormData

from signalbridge.domain.bounds import JsonOutOfBounds, finite_float, load_json
from signalbridge.domain.signals import Noise, fmt_decimal
from signalbridge.integrations.registry import AdapterSpec
from signalbridge.services import access
from signalbridge.services.channel_reading import DIALECTS, reading_of
from signalbridge.services.health import health_history
from signalbridge.services.ingest import classify
from signalbridge.services.interpret import interpret
from signalbridge.services.web_sessions import BrowserLogin
from signalbridge.store import models as m
from signalbridge.web import channel_settings
from signalbridge.web.console.auth import Form, Staff, allow, text
from signalbridge.web.console.render import render
from signalbridge.web.deps import ContainerDep, fetch
from signalbridge.web.errors import ApiError
from signalbridge.web.params import Id
from signalbridge.web.routes import connections
from signalbridge.web.routes.health import channel_health_view

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
RECENT = 10
MAX_PREVIEW_CHARS = 20_000
MAX_TEMPLATE_CHARS = 100_000
VISIBILITIES = m.ChannelVisibility.ALL
DIALECT_CHOICES = ("none", *DIALECTS)
FLAGS = ("parse_text", "ai_assist", "ai_may_act_alone", "ai_analysis")
#: Shown once the channels API takes it as a setting (web/channel_settings.py).
TRACK_RECORD = "track_record_public"
#: Settings that a blank field sets to null (their default); the others are left out.
CLEARABLE = (
    "max_signal_age_seconds",
    "ai_max_price_distance_percent",
    "max_message_chars",
    "inbound_rate_limit",
)
_DONE = {
    "created": "Channel created.",
    "settings": "Settings saved.",
    "config": "Configuration saved.",
    "template": "Parse template saved.",
    "activated": "Channel activated.",
    "deactivated": "Channel deactivated.",
}
Handler = Callable[..., Awaitable[dict[str, Any]]]


@cache
def api() -> dict[str, Handler]:
    """The channels API's handlers by name (closures of ``connections.build_router``)."""
    index = next(i for i, k in enumerate(connections.KINDS) if k.kind == "channel")
    return {
        route.name: route.endpoint
        for route in connections.routers[index].routes
        if isinstance(route, APIRoute)
    }


def _reads(login: BrowserLogin) -> None:
    allow(login.principal, "channels:read", "channel", "read")


def _writes(login: BrowserLogin, action: Literal["write", "create"] = "write") -> None:
    allow(login.principal, "channels:write", "channel", action)


def refusal(exc: ApiError | ValidationError) -> tuple[str, dict[str, str]]:
    """A refusal's message and its per-field problems (never an input value)."""
    if isinstance(exc, ValidationError):
        problems = [
            (".".join(str(p) for p in e["loc"]), e["msg"])
            for e in exc.errors(include_input=False, include_url=False)
        ]
        listed = "; ".join(f"{where or 'form'}: {why}" for where, why in problems)
        return f"the form is not valid: {listed}", dict(problems)
    fields: dict[str, str] = {}
    if isinstance(exc.details, list):
        for d in exc.details:
            if isinstance(d, dict) and isinstance(d.get("field"), str):
                fields[d["field"]] = str(d.get("message", ""))
    return exc.message, fields


# --- the type-specific config form, from the adapter's own schema ---------------------

Widget = Literal["text", "number", "checkbox", "select", "lines", "json", "secret"]


@dataclass(frozen=True)
class ConfigField:
    """One input of a channel type's config form."""

    name: str
    label: str
    help: str
    widget: Widget
    required: bool
    default: Any
    options: tuple[str, ...] = ()
    nullable: bool = False

    @property
    def key(self) -> str:
        return f"config.{self.name}"


def _widget(name: str, main: dict[str, Any], spec: AdapterSpec) -> Widget:
    if name in spec.secret_fields:
        return "secret"
    kind = main.get("type")
    if "enum" in main:
        return "select"
    if kind == "boolean":
        return "checkbox"
    if kind in ("integer", "number"):
        return "number"
    if kind == "array" and main.get("items", {}).get("type") in ("string", "integer", "number"):
        return "lines"
    if kind == "string":
        return "text"
    return "json"  # an object or a reference: typed as JSON


@cache
def config_fields(spec: AdapterSpec) -> tuple[ConfigField, ...]:
    """The form of a channel type: one field per property of its config schema.

    A secret that defaults to nothing is set by another flow (a Telegram webhook's
    secret, a Telegram user's login session): it is not asked for here.
    """
    schema = spec.config_schema.model_json_schema()
    required = set(schema.get("required", ()))
    fields: list[ConfigField] = []
    for name, prop in schema.get("properties", {}).items():
        variants = prop.get("anyOf", [prop])
        choices = [v for v in variants if v.get("type") != "null"]
        nullable = len(choices) < len(variants)
        default = prop.get("default")
        if name in spec.secret_fields and nullable and default is None:
            continue
        main = choices[0] if choices else prop
        fields.append(
            ConfigField(
                name=name,
                label=str(prop.get("title") or name),
                help=str(prop.get("description") or ""),
                widget=_widget(name, main, spec),
                required=name in required,
                default=default,
                options=tuple(str(o) for o in main.get("enum", ())),
                nullable=nullable,
            )
        )
    return tuple(fields)


def read_config(
    fields: tuple[ConfigField, ...], form: FormData, *, editing: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The posted config (for the API to validate) and what was typed (secrets left out).

    A blank field is left out, so the schema's default (creating) or the stored value
    (editing) holds; editing, a blank optional field is cleared. A blank secret keeps
    the stored one.
    """
    config: dict[str, Any] = {}
    typed: dict[str, Any] = {}
    for f in fields:
        if f.widget == "checkbox":
            config[f.name] = typed[f.name] = f.key in form
            continue
        raw = text(form, f.key, limit=10_000)
        if f.widget != "secret":
            typed[f.name] = raw
        if raw == "":
            if editing and f.widget == "lines":
                config[f.name] = []
            elif editing and f.nullable and f.widget != "secret":
                config[f.name] = None
            continue
        if f.widget == "lines":
            config[f.name] = [line.strip() for line in raw.splitlines() if line.strip()]
        elif f.widget == "json":
            try:
                config[f.name] = load_json(raw, parse_float=finite_float)
            except JsonOutOfBounds:
                config[f.name] = raw  # the schema refuses it, with the field's name
        else:
            config[f.name] = raw
    return config, typed


def current_values(fields: tuple[ConfigField, ...], config: Any) -> dict[str, Any]:
    """A stored config as the form shows it (secrets are never in it: they are sealed)."""
    stored = config if isinstance(config, dict) else {}
    values: dict[str, Any] = {}
    for f in fields:
        value = stored.get(f.name, f.default)
        if f.widget == "checkbox":
            values[f.name] = bool(value)
        elif f.widget == "lines":
            values[f.name] = "\n".join(str(v) for v in value or [])
        elif f.widget == "json":
            values[f.name] = "" if value is None else json.dumps(value)
        elif f.widget != "secret":
            values[f.name] = "" if value is None else str(value)
    return values


def check_template(spec: dict[str, Any] | None) -> None:
    """The API's own check of a parse template (web/channel_settings.py), on a scratch
    channel that is never stored: an ApiError with the API's message when not valid."""
    if spec is not None:
        body = channel_settings.ChannelSettingsFields.model_validate({"parse_template": spec})
        channel_settings.apply(m.ChannelSource(config={}), body)


# --- the list -------------------------------------------------------------------------


@router.get("/console/channels")
async def channel_list(
    request: Request,
    login: Staff,
    c: ContainerDep,
    type: str | None = Query(default=None, max_length=40),
    status: Literal["", "active", "inactive"] = "",
    before_id: Id | None = None,
) -> Response:
    _reads(login)
    who = login.principal
    query = select(m.ChannelSource).order_by(m.ChannelSource.id.desc()).limit(PAGE_SIZE)
    if before_id is not None:
        query = query.where(m.ChannelSource.id < before_id)
    if type:
        query = query.where(m.ChannelSource.type == type)
    if status:
        query = query.where(m.ChannelSource.is_active == (status == "active"))
    async with c.sessions() as s, s.begin():
        rows = list((await s.scalars(access.visible(query, "channel", who))).all())
        ids = [r.id for r in rows]
        counts: Any = (
            select(m.Follow.channel_id, func.count())
            .where(m.Follow.channel_id.in_(ids), m.Follow.is_active.is_(True))
            .group_by(m.Follow.channel_id)
        )
        follows = dict((await s.execute(access.visible(counts, "follow", who))).all())
        health = {r.id: await channel_health_view(r.id, c, s, who) for r in rows}
    return render(
        request,
        "console/channels_list.html",
        login,
        channels=rows,
        follows=follows,
        health=health,
        types=c.registry.types("channel"),
        type_filter=type or "",
        status_filter=status,
        older=rows[-1].id if len(rows) == PAGE_SIZE else None,
    )


# --- creation -------------------------------------------------------------------------


def _new_page(
    request: Request,
    login: BrowserLogin,
    c: ContainerDep,
    type_: str,
    *,
    status: int = 200,
    values: dict[str, Any] | None = None,
    error: str | None = None,
    field_errors: dict[str, str] | None = None,
) -> Response:
    types = c.registry.types("channel")
    chosen = type_ if type_ in types else ""
    spec = c.registry.get("channel", chosen) if chosen else None
    context: dict[str, Any] = {
        "types": types,
        "chosen": chosen,
        "description": spec.description if spec else "",
        "fields": config_fields(spec) if spec else (),
        "values": values or {"name": "", "visibility": "private", "is_active": True},
        "visibilities": VISIBILITIES,
        "error": error,
        "field_errors": field_errors or {},
    }
    return render(request, "console/channels_new.html", login, status=status, **context)


@router.get("/console/channels/new")
async def new_channel(
    request: Request,
    login: Staff,
    c: ContainerDep,
    type: str = Query(default="", max_length=40),
) -> Response:
    _writes(login, "create")
    return _new_page(request, login, c, type)


@router.post("/console/channels")
async def create_channel(request: Request, login: Staff, form: Form, c: ContainerDep) -> Response:
    _writes(login, "create")
    type_ = text(form, "type", limit=40)
    if type_ not in c.registry.types("channel"):
        return _new_page(request, login, c, "", status=422, error="choose a channel type")
    fields = config_fields(c.registry.get("channel", type_))
    config, typed = read_config(fields, form, editing=False)
    values = {
        "name": text(form, "name", limit=200),
        "visibility": text(form, "visibility", limit=20),
        "is_active": "is_active" in form,
        **typed,
    }
    try:
        body = connections.ConnectionCreate.model_validate(
            {
                "name": values["name"],
                "type": type_,
                "config": config,
                "is_active": values["is_active"],
                "visibility": values["visibility"] or None,
            }
        )
        async with c.sessions() as s, s.begin():
            out = await api()["create"](body=body, c=c, session=s, who=login.principal)
    except (ApiError, ValidationError) as exc:
        message, problems = refusal(exc)
        return _new_page(
            request,
            login,
            c,
            type_,
            status=422,
            values=values,
            error=message,
            field_errors=problems,
        )
    generated = out.get("generated_secrets") or {}
    if not generated:
        return RedirectResponse(f"/console/channels/{out['id']}?done=created", status_code=303)
    # Shown this once (the API's answer to the creation); the channel page masks it.
    return render(
        request, "console/channels_created.html", login, status=201, channel=out, secrets=generated
    )


# --- one channel ----------------------------------------------------------------------


def _settings_values(row: m.ChannelSource) -> dict[str, Any]:
    def plain(value: Any) -> str:
        return (
            ""
            if value is None
            else fmt_decimal(value)
            if not isinstance(value, int)
            else str(value)
        )

    return {
        "name": row.name,
        "visibility": row.visibility,
        "min_confidence": fmt_decimal(row.min_confidence),
        "on_edit": row.on_edit,
        "dialect": row.dialect or "none",
        "max_signal_age_seconds": plain(row.max_signal_age_seconds),
        "ai_max_price_distance_percent": plain(row.ai_max_price_distance_percent),
        "max_message_chars": plain(row.max_message_chars),
        "inbound_rate_limit": row.inbound_rate_limit or "",
        **{flag: bool(getattr(row, flag, False)) for flag in flags()},
    }


def flags() -> tuple[str, ...]:
    """The on/off settings the API takes (the track record's, once it takes it)."""
    fields = channel_settings.ChannelSettingsFields.model_fields
    return (*FLAGS, TRACK_RECORD) if TRACK_RECORD in fields else FLAGS


def _limits_here(row: m.ChannelSource) -> bool:
    """Whether the inbound limits are channel settings (push kinds) or in the config."""
    config = row.config if isinstance(row.config, dict) else {}
    return not any(own in config for own in ("max_message_chars", "rate_limit"))


async def _detail(
    request: Request,
    login: BrowserLogin,
    c: ContainerDep,
    row_id: int,
    *,
    status: int = 200,
    **extra: Any,
) -> Response:
    who = login.principal
    async with c.sessions() as s, s.begin():
        channel = await api()["detail"](row_id=row_id, c=c, session=s, who=who)
        row: m.ChannelSource = await fetch(s, "channel", row_id, who)
        health = await channel_health_view(row_id, c, s, who)
        messages = (
            await s.scalars(
                access.visible(
                    select(m.Message)
                    .where(m.Message.channel_id == row_id)
                    .order_by(m.Message.id.desc())
                    .limit(RECENT),
                    "message",
                    who,
                )
            )
        ).all()
        changes = (
            await s.scalars(
                access.visible(
                    select(m.AuditEntry)
                    .where(m.AuditEntry.entity == "channel", m.AuditEntry.entity_id == str(row_id))
                    .order_by(m.AuditEntry.id.desc())
                    .limit(RECENT),
                    "audit",
                    who,
                )
            )
        ).all()
        follows = await s.scalar(
            access.visible(
                select(func.count())
                .select_from(m.Follow)
                .where(m.Follow.channel_id == row_id, m.Follow.is_active.is_(True)),
                "follow",
                who,
            )
        )
        known = row.type in c.registry.types("channel")
        fields = config_fields(c.registry.get("channel", row.type)) if known else ()
        context: dict[str, Any] = {
            "channel": channel,
            "health": health,
            "messages": messages,
            "health_changes": await health_history(s, "channel", row_id),
            "changes": changes,
            "follows": follows or 0,
            "fields": fields,
            "config_values": current_values(fields, row.config),
            "settings": _settings_values(row),
            "limits_here": _limits_here(row),
            "track_record_setting": TRACK_RECORD in flags(),
            "template_text": (
                json.dumps(row.parse_template, indent=2, ensure_ascii=False)
                if row.parse_template is not None
                else ""
            ),
            "visibilities": VISIBILITIES,
            "on_edit_choices": m.OnEdit.ALL,
            "dialects": DIALECT_CHOICES,
            "flash": _DONE.get(request.query_params.get("done", "")),
            "preview_text": "",
            "preview": None,
            "probe": None,
            "field_errors": {},
        }
    context.update(extra)
    return render(request, "console/channels_detail.html", login, status=status, **context)


@router.get("/console/channels/{row_id}")
async def channel_page(request: Request, row_id: Id, login: Staff, c: ContainerDep) -> Response:
    _reads(login)
    return await _detail(request, login, c, row_id)


async def _modify(c: ContainerDep, login: BrowserLogin, row_id: int, body: dict[str, Any]) -> None:
    """PATCH /api/v1/channels/{id}, through its handler: validated, audited, or raised."""
    update = connections.ConnectionUpdate.model_validate(body)
    async with c.sessions() as s, s.begin():
        await api()["modify"](row_id=row_id, body=update, c=c, session=s, who=login.principal)


def settings_body(form: FormData, limits_here: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The settings form as a PATCH body, and the typed values to show again."""
    names = ["name", "visibility", "min_confidence", "on_edit", "dialect"]
    names += ["max_signal_age_seconds", "ai_max_price_distance_percent"]
    if limits_here:
        names += ["max_message_chars", "inbound_rate_limit"]
    typed: dict[str, Any] = {name: text(form, name, limit=200) for name in names}
    typed.update({flag: flag in form for flag in flags()})
    body: dict[str, Any] = {}
    for name, value in typed.items():
        if value == "" and name in CLEARABLE:
            body[name] = None
        elif value != "":
            body[name] = value
    return body, typed


@router.post("/console/channels/{row_id}/settings")
async def save_settings(
    request: Request, row_id: Id, login: Staff, form: Form, c: ContainerDep
) -> Response:
    _writes(login)
    async with c.sessions() as s:
        row: m.ChannelSource = await fetch(s, "channel", row_id, login.principal, write=True)
        limits_here = _limits_here(row)
    body, typed = settings_body(form, limits_here)
    try:
        await _modify(c, login, row_id, body)
    except (ApiError, ValidationError) as exc:
        message, problems = refusal(exc)
        return await _detail(
            request,
            login,
            c,
            row_id,
            status=422,
            settings={**typed, "dialect": typed.get("dialect") or "none"},
            settings_error=message,
            field_errors=problems,
        )
    return RedirectResponse(f"/console/channels/{row_id}?done=settings", status_code=303)


@router.post("/console/channels/{row_id}/config")
async def save_config(
    request: Request, row_id: Id, login: Staff, form: Form, c: ContainerDep
) -> Response:
    _writes(login)
    async with c.sessions() as s:
        row: m.ChannelSource = await fetch(s, "channel", row_id, login.principal, write=True)
        type_ = row.type
    fields = config_fields(c.registry.get("channel", type_))
    config, typed = read_config(fields, form, editing=True)
    try:
        await _modify(c, login, row_id, {"config": config})
    except (ApiError, ValidationError) as exc:
        message, problems = refusal(exc)
        return await _detail(
            request,
            login,
            c,
            row_id,
            status=422,
            config_values=typed,
            config_error=message,
            field_errors={f"config.{k}": v for k, v in problems.items()},
        )
    return RedirectResponse(f"/console/channels/{row_id}?done=config", status_code=303)


def read_template(raw: str) -> dict[str, Any] | None:
    """The template field as JSON (blank: none); a ValueError says what is wrong."""
    if not raw.strip():
        return None
    try:
        spec = load_json(raw, parse_float=finite_float, storable_strings=True)
    except JsonOutOfBounds as exc:
        raise ValueError(f"parse_template is not valid JSON: {exc}") from None
    if not isinstance(spec, dict):
        raise ValueError("parse_template must be a JSON object")
    return spec


@router.post("/console/channels/{row_id}/template")
async def save_template(
    request: Request, row_id: Id, login: Staff, form: Form, c: ContainerDep
) -> Response:
    _writes(login)
    raw = text(form, "parse_template", limit=MAX_TEMPLATE_CHARS)
    try:
        await _modify(c, login, row_id, {"parse_template": read_template(raw)})
    except (ApiError, ValidationError, ValueError) as exc:
        message = refusal(exc)[0] if isinstance(exc, ApiError | ValidationError) else str(exc)
        return await _detail(
            request, login, c, row_id, status=422, template_text=raw, template_error=message
        )
    return RedirectResponse(f"/console/channels/{row_id}?done=template", status_code=303)


async def _set_active(
    login: BrowserLogin, c: ContainerDep, row_id: int, active: bool
) -> RedirectResponse:
    _writes(login)
    handler = api()["activate" if active else "deactivate"]
    async with c.sessions() as s, s.begin():
        await handler(row_id=row_id, c=c, session=s, who=login.principal)
    done = "activated" if active else "deactivated"
    return RedirectResponse(f"/console/channels/{row_id}?done={done}", status_code=303)


@router.post("/console/channels/{row_id}/activate")
async def activate(row_id: Id, login: Staff, form: Form, c: ContainerDep) -> Response:
    del form  # checked: CSRF
    return await _set_active(login, c, row_id, True)


@router.post("/console/channels/{row_id}/deactivate")
async def deactivate(row_id: Id, login: Staff, form: Form, c: ContainerDep) -> Response:
    del form  # checked: CSRF
    return await _set_active(login, c, row_id, False)


@router.post("/console/channels/{row_id}/test")
async def test_fetch(
    request: Request, row_id: Id, login: Staff, form: Form, c: ContainerDep
) -> Response:
    """POST /api/v1/channels/{id}/test: one real fetch (polled kinds), nothing stored."""
    del form  # checked: CSRF
    _writes(login)
    # The probe opens sessions of its own: none is open here while it runs.
    probe = await api()["probe"](row_id=row_id, c=c, who=login.principal)
    if request.headers.get("hx-request"):
        return render(request, "console/channels_probe.html", login, probe=probe)
    return await _detail(request, login, c, row_id, probe=probe)


def preview_of(channel: m.ChannelSource, message: str, template: Any) -> dict[str, Any]:
    """What the intake would make of ``message`` on this channel with ``template``."""
    config = channel.config if isinstance(channel.config, dict) else {}
    meaning = interpret(
        message, parse_text=config.get("parse_text", True) is not False, template=template
    )
    kind = classify(channel, message, meaning)
    parsed = kind.meaning.parsed
    reasons = list(kind.meaning.problems)
    if parsed is None:
        outcome = "rejected"
    elif isinstance(parsed, Noise):
        outcome = "noise"
    elif kind.status == m.MessageStatus.REVIEW:
        outcome = "review"
    else:
        outcome = "accepted"
    fields = {} if parsed is None or isinstance(parsed, Noise) else parsed.to_dict()
    fields.pop("kind", None)
    return {
        "outcome": outcome,
        "kind": None if parsed is None else parsed.kind,
        "fields": fields,
        "confidence": fmt_decimal(kind.meaning.confidence),
        "min_confidence": fmt_decimal(channel.min_confidence),
        "format": reading_of(message, meaning),
        "template": next((r for r in reasons if r.startswith("template ")), None),
        "has_template": template is not None,
        "reasons": reasons,
        "ai": channel.ai_assist and outcome in ("review", "rejected", "noise"),
    }


@router.post("/console/channels/{row_id}/preview")
async def preview(
    request: Request, row_id: Id, login: Staff, form: Form, c: ContainerDep
) -> Response:
    """The live parse preview: the channel's stored template, or the draft being edited."""
    _reads(login)
    message = text(form, "message", limit=MAX_PREVIEW_CHARS)
    draft = "parse_template" in form
    raw = text(form, "parse_template", limit=MAX_TEMPLATE_CHARS) if draft else ""
    async with c.sessions() as s:
        row: m.ChannelSource = await fetch(s, "channel", row_id, login.principal)
        template: Any = row.parse_template
    problem: str | None = None
    if draft:
        try:
            template = read_template(raw)
            check_template(template)
        except ValueError as exc:
            problem = str(exc)
        except ApiError as exc:
            problem = exc.message
    result = preview_of(row, message, template) if message and problem is None else None
    context: dict[str, Any] = {
        "preview": result,
        "preview_error": problem,
        "preview_text": message,
    }
    if request.headers.get("hx-request"):
        return render(request, "console/channels_preview.html", login, **context)
    return await _detail(request, login, c, row_id, **context)
