"""Who is looking at a page, and the CSRF check of every form.

``Viewer`` is the live browser session or None; ``SignedIn`` and ``Staff`` insist (a
missing session redirects to the login, a member on a staff page gets 403). Role and scope
checks are the API's own (:func:`allow`, mirroring ``web.deps.require``), so a page admits
exactly whom the matching API route admits.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from signalbridge.services import access, web_sessions
from signalbridge.services.auth import Principal
from signalbridge.services.web_sessions import BrowserLogin, csrf_matches
from signalbridge.store.models import Role
from signalbridge.web.console.cookies import ANON_CSRF_COOKIE, SESSION_COOKIE
from signalbridge.web.console.errors import LoginRequired, PageError
from signalbridge.web.deps import ContainerDep

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


async def viewer(request: Request, c: ContainerDep) -> BrowserLogin | None:
    cookie = request.cookies.get(SESSION_COOKIE, "")
    if not cookie:
        return None
    async with c.sessions() as s, s.begin():
        return await web_sessions.resolve(s, cookie)


Viewer = Annotated[BrowserLogin | None, Depends(viewer)]


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + ("?" + query if query else "")


async def signed_in(request: Request, login: Viewer) -> BrowserLogin:
    if login is None:
        raise LoginRequired(_here(request) if request.method == "GET" else "/")
    return login


SignedIn = Annotated[BrowserLogin, Depends(signed_in)]


async def staff(login: SignedIn) -> BrowserLogin:
    if login.principal.role not in (Role.ADMIN, Role.OPERATOR):
        raise PageError(403, "this page is for operators and admins")
    return login


Staff = Annotated[BrowserLogin, Depends(staff)]


def allow(
    who: Principal,
    scope: str,
    entity: access.Entity | None = None,
    action: access.Action = "read",
) -> None:
    """The API's role and scope check (``web.deps.require``), for a page: 403 if not."""
    if not who.allows(scope):
        raise PageError(403, f"your role lacks the scope {scope!r}")
    if entity is not None and not access.permits(entity, action, who):
        raise PageError(403, f"this is not open to the {who.role} role")


async def checked_form(request: Request, login: Viewer) -> FormData:
    """The posted form, once its CSRF token matches the session's (or, before login, the
    browser's CSRF cookie); else 403 and nothing is done."""
    form = await request.form()
    given = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    token = given if isinstance(given, str) else None
    if login is not None:
        expected = login.csrf_token
    else:
        expected = request.cookies.get(ANON_CSRF_COOKIE, "")
    if not expected or not csrf_matches(expected, token):
        raise PageError(403, "the form's security token is missing or stale; reload the page")
    return form


Form = Annotated[FormData, Depends(checked_form)]


def text(form: FormData, name: str, *, limit: int = 1000) -> str:
    """A posted text field, stripped; a file upload or a too long value is a 422."""
    value = form.get(name, "")
    if not isinstance(value, str):
        raise PageError(422, f"{name} must be text")
    if len(value) > limit:
        raise PageError(422, f"{name} may have at most {limit} characters")
    return value.strip()
