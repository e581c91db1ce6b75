"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from signalbridge.web.deps import ContainerDep
from signalbridge.web.errors import error_response

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
