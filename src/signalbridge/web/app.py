"""The ASGI application, built around a container by :func:`create_app`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

import signalbridge
from signalbridge.bootstrap import Container
from signalbridge.web import errors
from signalbridge.web.console import app as console
from signalbridge.web.input_guard import InputGuard
from signalbridge.web.routes import (
    admin,
    ai,
    auth,
    connections,
    entitlements,
    follows,
    health,
    notifications,
    override,
    payments,
    pnl,
    quality,
    review,
    telegram,
    templates,
    tokens,
    track_record,
    trading,
    webhooks,
)

Hook = Callable[[], Awaitable[None]]


def create_app(
    container: Container, *, on_startup: Hook | None = None, on_shutdown: Hook | None = None
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if on_startup is not None:
            await on_startup()
        try:
            yield
        finally:
            if on_shutdown is not None:
                await on_shutdown()

    app = FastAPI(
        title="SignalBridge",
        version=signalbridge.__version__,
        description="Self-hosted trading-signal hub: channels, parser, execution, subscriptions.",
        lifespan=lifespan,
    )
    app.state.container = container
    errors.install(app, pages=console.page_api_error)
    app.add_middleware(InputGuard)  # /api/: JSON bodies bounded in size and depth, no NUL
    app.include_router(health.router)
    app.include_router(webhooks.router, responses=errors.ERROR_RESPONSES)
    app.include_router(telegram.router, responses=errors.ERROR_RESPONSES)
    app.include_router(payments.webhook_router, responses=errors.ERROR_RESPONSES)
    api = APIRouter(prefix="/api/v1", responses=errors.ERROR_RESPONSES)
    for router in (
        *connections.routers,
        templates.router,
        telegram.api_router,
        follows.router,
        trading.router,
        pnl.router,
        override.router,
        quality.router,
        review.router,
        ai.router,
        admin.router,
        track_record.router,
    ):
        api.include_router(router)
    api.include_router(auth.router)
    api.include_router(tokens.router)
    api.include_router(notifications.router)
    api.include_router(entitlements.router)
    api.include_router(payments.router)
    app.include_router(api)
    console.install(app)
    return app
