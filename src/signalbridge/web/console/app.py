"""Mount the console and the portal on the app: static files, routers, error pages."""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from signalbridge.web.console import (
    events,
    pages_account,
    pages_ai,
    pages_audit,
    pages_billing,
    pages_channels,
    pages_connections,
    pages_follows,
    pages_members,
    pages_portal,
    pages_review,
    pages_signals,
    pages_staff,
    pages_track,
    pages_trading,
)
from signalbridge.web.console.auth import viewer
from signalbridge.web.console.errors import LoginRequired, PageError
from signalbridge.web.console.headers import PageHeaders
from signalbridge.web.console.render import render
from signalbridge.web.errors import ApiError

#: The modules whose ``router`` serves pages (the page matrix test walks them all).
PAGE_MODULES = (
    pages_account,
    pages_staff,
    pages_signals,
    pages_trading,
    pages_audit,
    pages_channels,
    pages_review,
    events,
    pages_ai,
    pages_billing,
    pages_members,
    pages_portal,
    pages_connections,
    pages_follows,
    pages_track,
)

#: Paths served as pages: their errors are HTML, not the API's JSON.
PAGE_PREFIXES = ("/login", "/logout", "/signup", "/reset", "/console", "/portal", "/track")


def is_page(path: str) -> bool:
    return path == "/" or path.startswith(PAGE_PREFIXES)


async def error_page(request: Request, status: int, message: str) -> Response:
    # The viewer again (the failed handler's dependencies are gone): the layout shows
    # who is logged in and the right navigation on an error page too.
    login = await viewer(request, request.app.state.container)
    return render(request, "error.html", login, status=status, status_code=status, message=message)


def install(app: FastAPI) -> None:
    app.add_middleware(PageHeaders, is_page=is_page)
    static = files("signalbridge.web").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    for module in PAGE_MODULES:
        app.include_router(module.router)

    @app.exception_handler(LoginRequired)
    async def _login(_: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(exc.location, status_code=303)

    @app.exception_handler(PageError)
    async def _page(request: Request, exc: PageError) -> Response:
        return await error_page(request, exc.status, exc.message)


async def page_api_error(
    request: Request, exc: ApiError | RequestValidationError
) -> Response | None:
    """An API error raised under a page path, as an error page (None: not a page)."""
    if not is_page(request.url.path):
        return None
    if isinstance(exc, ApiError):
        return await error_page(request, exc.status, exc.message)
    return await error_page(request, 422, "the form is not valid")
