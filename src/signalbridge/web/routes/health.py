"""Liveness, readiness, Prometheus metrics, and a channel's poll health.

``GET /api/v1/channels/{id}/health`` (staff: it shows how a channel is configured to
fail) answers the channel's health with its lag computed now: last synced (the last
successful poll), last poll, last error (redacted), lag and what it is measured from
(``provider_time``: the newest item's own date; ``last_synced``: the last successful
poll, for sources that date nothing), error counts, whether it is backing off and until
when, the breaker, and the inbound refusals and deferrals (services/channel_health.py).
The channel list and detail show the same columns as stored, under ``health``.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from signalbridge.bootstrap import Container
from signalbridge.channels.base import PollingChannel
from signalbridge.services.auth import Principal
from signalbridge.services.channel_health import channel_health
from signalbridge.web.deps import ContainerDep, SessionDep, fetch, require
from signalbridge.web.errors import ERROR_RESPONSES, error_response
from signalbridge.web.params import Id

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(c: ContainerDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        async with c.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # readiness reports, it does not raise
        checks["database"] = f"unavailable: {type(exc).__name__}"
    try:
        checks["broker"] = "ok" if await c.queue.ping() else "unavailable"
    except Exception as exc:
        checks["broker"] = f"unavailable: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get(
    "/metrics",
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"},
        401: {"description": "metrics_token is set and the bearer token does not match it"},
    },
)
async def metrics(request: Request, c: ContainerDep) -> Response:
    """Prometheus metrics; behind ``Authorization: Bearer <metrics_token>`` when that is set."""
    expected = c.settings.metrics_token
    if expected is not None and expected.get_secret_value():
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        ok = scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), expected.get_secret_value().encode()
        )
        if not ok:
            return error_response(401, "a valid metrics token is required")
    return Response(generate_latest(c.metrics), media_type=CONTENT_TYPE_LATEST)


def known(c: Container) -> set[str]:
    """The channel types this build registers (a row may name one it lacks)."""
    return {spec.type for spec in c.registry.specs("channel")}


#: Staff only: members see nothing of how a channel is configured or fails (403 first).
staff_channel = Depends(require("channels:read", "channel", "write"))


@router.get("/api/v1/channels/{row_id}/health", tags=["channels"], responses=ERROR_RESPONSES)
async def channel_health_view(
    row_id: Id, c: ContainerDep, session: SessionDep, who: Principal = staff_channel
) -> dict[str, Any]:
    """One channel's poll health, lag computed now (see the module)."""
    row = await fetch(session, "channel", row_id, who, write=True)
    factory = c.registry.get("channel", row.type).factory if row.type in known(c) else None
    polled = isinstance(factory, type) and issubclass(factory, PollingChannel)
    if isinstance(row.config, dict) and row.config.get("mode") == "webhook":
        polled = False  # a Telegram bot in webhook mode is pushed to: deliveries count
    body = {"id": row.id, **await channel_health(session, row, polled=polled)}
    body["breaker"] = await c.kernel.breaker_state("channel", row.id)
    return body
