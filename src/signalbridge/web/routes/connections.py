"""Connection management, one router shape for every kind of outside connection.

Channels, execution connections, AI configurations and payment gateways all have: a type
checked against the adapter registry, a config validated by that adapter's schema,
secrets sealed by the vault and shown masked, an active flag, health and breaker state,
a probe, and an audit trail.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import Field
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.bootstrap import Container
from signalbridge.integrations.errors import IntegrationError
from signalbridge.integrations.redaction import mask, redact
from signalbridge.integrations.registry import AdapterConfigError, AdapterSpec, UnknownAdapterType
from signalbridge.integrations.sealing import seal, unseal
from signalbridge.integrations.vault import VaultError
from signalbridge.services import access, audit
from signalbridge.services.auth import Principal
from signalbridge.store import models as m
from signalbridge.web import channel_settings
from signalbridge.web.deps import ContainerDep, SessionDep, fetch, require
from signalbridge.web.errors import ApiError
from signalbridge.web.params import Id
from signalbridge.web.rows import delete_or_conflict
from signalbridge.web.serialize import jsonable, row_dict


@dataclass(frozen=True)
class ConnectionKind:
    kind: str
    model: type[m.ChannelSource | m.ExecutionConnection | m.AIConfig | m.PaymentGateway]
    table: str
    path: str
    entity: access.Entity
    read_scope: str
    write_scope: str


KINDS = (
    ConnectionKind(
        "channel",
        m.ChannelSource,
        "channel_sources",
        "/channels",
        "channel",
        "channels:read",
        "channels:write",
    ),
    ConnectionKind(
        "exchange",
        m.ExecutionConnection,
        "execution_connections",
        "/connections",
        "connection",
        "connections:read",
        "connections:write",
    ),
    ConnectionKind(
        "ai",
        m.AIConfig,
        "ai_configs",
        "/ai-configs",
        "ai_config",
        "connections:read",
        "connections:write",
    ),
    ConnectionKind(
        "payment",
        m.PaymentGateway,
        "payment_gateways",
        "/payment-gateways",
        "payment_gateway",
        "admin",
        "admin",
    ),
)


Visibility = Literal["public", "plan", "private"]
VISIBILITY_HELP = (
    "Channels only: 'public' lets every member follow it; 'plan' only members entitled "
    "through a plan that includes it (a subscription or a grant); 'private' (default) nobody "
    "but its owner and the staff."
)


PRIORITY_HELP = (
    "AI configurations only: their order in the fallback chain, the lowest asked first "
    "(ties by id); default 0."
)


class ConnectionCreate(channel_settings.ChannelSettingsFields):
    name: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=40)
    config: dict[str, Any] = Field(default_factory=dict)
    is_active: bool = True
    visibility: Visibility | None = Field(default=None, description=VISIBILITY_HELP)
    priority: int | None = Field(default=None, ge=0, le=1000, description=PRIORITY_HELP)


class ConnectionUpdate(channel_settings.ChannelSettingsFields):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    config: dict[str, Any] | None = None
    visibility: Visibility | None = Field(default=None, description=VISIBILITY_HELP)
    priority: int | None = Field(default=None, ge=0, le=1000, description=PRIORITY_HELP)


def _visibility(kind: ConnectionKind, value: str | None) -> None:
    if value is not None and kind.kind != "channel":
        raise ApiError(422, "only a channel has a visibility")


def _priority(kind: ConnectionKind, row: Any, value: int | None) -> dict[str, list[Any]]:
    """Set an AI configuration's place in the fallback chain; the change, for the audit."""
    if value is None:
        return {}
    if kind.kind != "ai":
        raise ApiError(422, "only an AI configuration has a priority")
    before = row.priority
    row.priority = value
    return {} if before == value else {"priority": [before, value]}


#: What a member sees of a channel: enough to choose and follow it, nothing of how the
#: sender is configured or authenticated (no config, no secret masks, no health).
MEMBER_CHANNEL_FIELDS = ("id", "name", "type", "visibility", "is_active", "created_at")


def _spec(c: Container, kind: ConnectionKind, type_: str) -> AdapterSpec:
    try:
        return c.registry.get(kind.kind, type_)
    except UnknownAdapterType as exc:
        raise ApiError(422, str(exc), code="unknown_type", details={"known": exc.known}) from None


def _validate(
    c: Container, kind: ConnectionKind, type_: str, config: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Validate against the adapter's schema; split into public config and secrets.

    The registry unwraps secret types, so the vault seals the secret itself (never the
    ``**********`` a pydantic ``SecretStr`` shows when dumped)."""
    _spec(c, kind, type_)
    try:
        return c.registry.split_config(kind.kind, type_, config)
    except AdapterConfigError as exc:
        raise ApiError(422, str(exc), code="invalid_config", details=exc.errors) from None


async def _health(session: AsyncSession, kind: str, row_id: int) -> dict[str, Any] | None:
    health = await session.scalar(
        select(m.ConnectionHealth).where(
            m.ConnectionHealth.kind == kind, m.ConnectionHealth.connection_id == row_id
        )
    )
    return None if health is None else row_dict(health, exclude=("id", "kind", "connection_id"))


async def present(
    c: Container,
    session: AsyncSession,
    kind: ConnectionKind,
    row: Any,
    who: Principal | None = None,
) -> dict[str, Any]:
    if kind.kind == "channel" and who is not None and not access.is_staff(who):
        return {k: v for k, v in row_dict(row).items() if k in MEMBER_CHANNEL_FIELDS}
    body = row_dict(row, exclude=("secrets_enc",))
    try:
        secrets = unseal(c.vault, kind.table, row.id, row.secrets_enc)
        body["secrets"] = {k: mask(v) for k, v in secrets.items()}
    except VaultError:
        body["secrets"] = {"error": "unreadable: replace the credentials"}
    body["health"] = await _health(session, kind.kind, row.id)
    body["breaker"] = await c.kernel.breaker_state(kind.kind, row.id)
    return body


def _changed(c: Container, kind: ConnectionKind, session: AsyncSession, row_id: int) -> None:
    """Drop this process's cached view of the connection once the change is committed."""

    def drop(_: object) -> None:
        if kind.kind == "channel":
            c.webhook_channels.invalidate(row_id)
        elif kind.kind == "exchange":
            c.adapter_pool.invalidate(row_id)

    event.listen(session.sync_session, "after_commit", drop, once=True)


def build_router(kind: ConnectionKind) -> APIRouter:
    router = APIRouter(prefix=kind.path, tags=[kind.path.strip("/")])
    reader = Depends(require(kind.read_scope, kind.entity, "read"))
    writer = Depends(require(kind.write_scope, kind.entity, "write"))
    creator = Depends(require(kind.write_scope, kind.entity, "create"))

    async def load(
        session: AsyncSession, row_id: int, who: Principal, *, write: bool = False
    ) -> Any:
        # Ownership rules live in services/access.py: another user's row is a 404.
        return await fetch(session, kind.entity, row_id, who, write=write)

    @router.get("")
    async def list_rows(
        c: ContainerDep, session: SessionDep, who: Principal = reader
    ) -> dict[str, Any]:
        query = access.visible(select(kind.model).order_by(kind.model.id), kind.entity, who)
        rows = (await session.scalars(query)).all()
        return {"items": [await present(c, session, kind, r, who) for r in rows]}

    @router.get("/{row_id}")
    async def detail(
        row_id: Id, c: ContainerDep, session: SessionDep, who: Principal = reader
    ) -> dict[str, Any]:
        return await present(c, session, kind, await load(session, row_id, who), who)

    @router.post("", status_code=201)
    async def create(
        body: ConnectionCreate, c: ContainerDep, session: SessionDep, who: Principal = creator
    ) -> dict[str, Any]:
        _visibility(kind, body.visibility)
        public, secrets = _validate(c, kind, body.type, body.config)
        row = kind.model(name=body.name, type=body.type, config=public, is_active=body.is_active)
        priority = _priority(kind, row, body.priority)
        if isinstance(row, m.ChannelSource | m.ExecutionConnection):
            row.owner_id = who.user_id
        if isinstance(row, m.ChannelSource):
            row.visibility = body.visibility or m.ChannelVisibility.PRIVATE
        settings = channel_settings.apply(row, body)  # a 422 for any other kind
        session.add(row)
        await session.flush()
        row.secrets_enc = seal(c.vault, kind.table, row.id, secrets)
        spec = _spec(c, kind, body.type)
        await audit.record_by(
            session,
            who,
            action="create",
            entity=kind.entity,
            entity_id=row.id,
            changes={
                "name": body.name,
                "type": body.type,
                "config": public,
                "is_active": body.is_active,
                **({"visibility": row.visibility} if isinstance(row, m.ChannelSource) else {}),
                **{name: new for name, (_, new) in priority.items()},
                **{name: new for name, (_, new) in settings.items()},
                **{f: v for f, v in secrets.items()},
            },
            secret_fields=spec.secret_fields,
        )
        await session.flush()
        out = await present(c, session, kind, row)
        generated = {k: v for k, v in secrets.items() if k not in body.config}
        if generated:
            # Shown once, so the operator can configure the sender; never again.
            out["generated_secrets"] = generated
        return out

    @router.patch("/{row_id}")
    async def modify(
        row_id: Id,
        body: ConnectionUpdate,
        c: ContainerDep,
        session: SessionDep,
        who: Principal = writer,
    ) -> dict[str, Any]:
        row = await load(session, row_id, who, write=True)
        _visibility(kind, body.visibility)
        settings = channel_settings.apply(row, body)  # validated first: a 422 changes nothing
        settings = {**settings, **_priority(kind, row, body.priority)}
        if body.visibility is not None and body.visibility != row.visibility:
            await audit.record_by(
                session,
                who,
                action="update",
                entity=kind.entity,
                entity_id=row.id,
                changes={"visibility": [row.visibility, body.visibility]},
            )
            row.visibility = body.visibility
        before = {"name": row.name, "config": dict(row.config)}
        secret_changes: dict[str, list[str | None]] = {}
        if body.config is not None:
            current = unseal(c.vault, kind.table, row.id, row.secrets_enc)
            # The PATCH wins over what is stored, secrets included: a secret it carries is
            # sealed (or refused with 422 by validation), never dropped for the old one.
            merged = {**row.config, **current, **body.config}
            public, secrets = _validate(c, kind, row.type, merged)
            row.config = public
            if secrets != current:
                row.secrets_enc = seal(c.vault, kind.table, row.id, secrets)
                secret_changes = {
                    f: [current.get(f), secrets.get(f)]
                    for f in sorted(set(current) | set(secrets))
                    if current.get(f) != secrets.get(f)
                }
        if body.name is not None:
            row.name = body.name
        await audit.record_by(
            session,
            who,
            action="update",
            entity=kind.entity,
            entity_id=row.id,
            changes={
                **audit.diff(before, {"name": row.name, "config": dict(row.config)}),
                **settings,
                **secret_changes,
            },
            secret_fields=_spec(c, kind, row.type).secret_fields,
        )
        _changed(c, kind, session, row.id)
        await session.flush()
        return await present(c, session, kind, row)

    @router.put("/{row_id}/credentials")
    async def replace_credentials(
        row_id: Id,
        body: dict[str, str],
        c: ContainerDep,
        session: SessionDep,
        who: Principal = writer,
    ) -> dict[str, Any]:
        row = await load(session, row_id, who, write=True)
        spec = _spec(c, kind, row.type)
        unknown = sorted(set(body) - set(spec.secret_fields))
        if unknown:
            raise ApiError(
                422,
                f"not credential fields of {row.type}: {unknown}",
                details={"credential_fields": list(spec.secret_fields)},
            )
        current = unseal(c.vault, kind.table, row.id, row.secrets_enc)
        _, secrets = _validate(c, kind, row.type, {**row.config, **current, **body})
        row.secrets_enc = seal(c.vault, kind.table, row.id, secrets)
        row.updated_at = row.updated_at  # the onupdate hook refreshes it
        await audit.record_by(
            session,
            who,
            action="update",
            entity=kind.entity,
            entity_id=row.id,
            changes={f: [current.get(f), secrets.get(f)] for f in body},
            secret_fields=spec.secret_fields,
        )
        _changed(c, kind, session, row.id)
        await session.flush()
        return await present(c, session, kind, row)

    async def set_active(
        row_id: int, active: bool, c: Container, session: AsyncSession, who: Principal
    ) -> dict[str, Any]:
        row = await load(session, row_id, who, write=True)
        if row.is_active != active:
            await audit.record_by(
                session,
                who,
                action="update",
                entity=kind.entity,
                entity_id=row.id,
                changes={"is_active": [row.is_active, active]},
            )
            row.is_active = active
            _changed(c, kind, session, row.id)
        await session.flush()
        return await present(c, session, kind, row)

    @router.post("/{row_id}/activate")
    async def activate(
        row_id: Id, c: ContainerDep, session: SessionDep, who: Principal = writer
    ) -> dict[str, Any]:
        return await set_active(row_id, True, c, session, who)

    @router.post("/{row_id}/deactivate")
    async def deactivate(
        row_id: Id, c: ContainerDep, session: SessionDep, who: Principal = writer
    ) -> dict[str, Any]:
        return await set_active(row_id, False, c, session, who)

    @router.delete("/{row_id}", status_code=204)
    async def delete(
        row_id: Id, c: ContainerDep, session: SessionDep, who: Principal = writer
    ) -> None:
        row = await load(session, row_id, who, write=True)
        await delete_or_conflict(
            session, row, f"{kind.entity} {row_id} is in use; deactivate it instead"
        )
        _changed(c, kind, session, row_id)
        await audit.record_by(
            session,
            who,
            action="delete",
            entity=kind.entity,
            entity_id=row_id,
            changes={"name": row.name, "type": row.type},
        )

    @router.post("/{row_id}/test")
    async def probe(row_id: Id, c: ContainerDep, who: Principal = writer) -> dict[str, Any]:
        # No request session here: the probe goes through the adapter pool and the kernel,
        # which open sessions of their own.
        async with c.sessions() as session:
            row = await load(session, row_id, who, write=True)
        started = time.perf_counter()
        try:
            result = await c.prober(kind.kind, row)
        except IntegrationError as exc:
            return {
                "ok": False,
                "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                "error": redact(exc.message),
                "error_class": type(exc).__name__,
            }
        body: dict[str, Any] = jsonable(result)
        return body

    @router.post("/{row_id}/breaker/reset")
    async def reset_breaker(
        row_id: Id, c: ContainerDep, session: SessionDep, who: Principal = writer
    ) -> dict[str, Any]:
        row = await load(session, row_id, who, write=True)
        await c.kernel.reset_breaker(kind.kind, row.id)
        await audit.record_by(
            session,
            who,
            action="update",
            entity=kind.entity,
            entity_id=row.id,
            changes={"breaker": "reset"},
        )
        return await present(c, session, kind, row)

    return router


routers = [build_router(k) for k in KINDS]
