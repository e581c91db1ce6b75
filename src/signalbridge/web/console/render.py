"""Jinja2 rendering for the pages: autoescaped, with the navigation the user's role sees.

The environment is built on first use (no work at import time) and cached per process.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from signalbridge.services.web_sessions import BrowserLogin
from signalbridge.store.models import Role
from signalbridge.web.console.cookies import anon_csrf, set_anon_csrf

#: (path, label) of the navigation, per role; a page is listed only for roles it admits.
STAFF_NAV: tuple[tuple[str, str], ...] = (
    ("/console", "Dashboard"),
    ("/console/channels", "Channels"),
    ("/console/review", "Review"),
    ("/console/signals", "Signals"),
    ("/console/executions", "Executions"),
    ("/console/positions", "Positions"),
    ("/console/connections", "Connections"),
    ("/console/ai", "AI"),
    ("/console/billing", "Billing"),
    ("/console/members", "Members"),
    ("/console/audit", "Audit"),
)
MEMBER_NAV: tuple[tuple[str, str], ...] = (
    ("/portal", "Overview"),
    ("/portal/plans", "Plans"),
    ("/portal/connections", "Accounts"),
    ("/portal/follows", "Follows"),
    ("/portal/positions", "Positions"),
    ("/portal/notifications", "Notifications"),
)


def nav_for(role: str | None) -> tuple[tuple[str, str], ...]:
    if role in (Role.ADMIN, Role.OPERATOR):
        return STAFF_NAV
    if role == Role.MEMBER:
        return MEMBER_NAV
    return ()


def _money(value: Any) -> str:
    """A Decimal as plain text, no exponent, no trailing zeros; '' for None."""
    if value is None or value == "":
        return ""
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    text = format(d, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("signalbridge.web", "templates"),
        autoescape=select_autoescape(("html", "xml")),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = _money
    env.filters["when"] = _when
    return env


def render(
    request: Request,
    template: str,
    login: BrowserLogin | None,
    *,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """The page ``template`` with the layout's context: user, role, nav, CSRF token."""
    role = login.principal.role if login else None
    anon, fresh = anon_csrf(request) if login is None else ("", False)
    page = (
        environment()
        .get_template(template)
        .render(
            request=request,
            path=request.url.path,
            login=login,
            user=login.principal if login else None,
            role=role,
            is_staff=role in (Role.ADMIN, Role.OPERATOR),
            nav=nav_for(role),
            csrf_token=login.csrf_token if login else anon,
            **context,
        )
    )
    response = HTMLResponse(page, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    if login is None and fresh:
        set_anon_csrf(request, response, anon)
    return response
