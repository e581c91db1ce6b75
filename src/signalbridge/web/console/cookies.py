"""The console's cookies: the session (HttpOnly, SameSite=Lax, Secure unless turned off)
and, before login, a double-submit CSRF cookie for the login, sign-up and reset forms."""

from __future__ import annotations

import secrets

from fastapi import Request, Response

SESSION_COOKIE = "sb_session"
ANON_CSRF_COOKIE = "sb_csrf"
SESSION_MAX_AGE = 7 * 24 * 3600


def _secure(request: Request) -> bool:
    return bool(request.app.state.container.settings.cookie_secure)


def set_session(request: Request, response: Response, value: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=SESSION_MAX_AGE,
        path="/",
        secure=_secure(request),
        httponly=True,
        samesite="lax",
    )


def clear_session(request: Request, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=_secure(request), httponly=True, samesite="lax"
    )


def anon_csrf(request: Request) -> tuple[str, bool]:
    """The anonymous CSRF token of this browser, and whether it is new (to be set)."""
    given = request.cookies.get(ANON_CSRF_COOKIE, "")
    if 20 <= len(given) <= 100:
        return given, False
    return secrets.token_urlsafe(32), True


def set_anon_csrf(request: Request, response: Response, value: str) -> None:
    response.set_cookie(
        ANON_CSRF_COOKIE,
        value,
        path="/",
        secure=_secure(request),
        httponly=True,
        samesite="strict",
    )
