"""Log in, log out, sign up, reset a password: the pages anyone may reach.

Login shares the API's throttle (per account and per address) and its uniform failure;
a successful login starts a server-side session and rotates nothing else. Sign-up obeys
``settings.signup`` (open, approval, closed).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from signalbridge.services import audit, signup, web_sessions
from signalbridge.services.auth import AuthError
from signalbridge.services.login import LoginThrottled, verify_login
from signalbridge.store.models import Role
from signalbridge.web.console.auth import Form, Viewer, text
from signalbridge.web.console.cookies import SESSION_COOKIE, clear_session, set_session
from signalbridge.web.console.errors import safe_next
from signalbridge.web.console.render import render
from signalbridge.web.deps import ContainerDep

router = APIRouter(include_in_schema=False)


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def home_of(role: str) -> str:
    return "/console" if role in (Role.ADMIN, Role.OPERATOR) else "/portal"


@router.get("/")
async def root(login: Viewer) -> RedirectResponse:
    if login is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(home_of(login.principal.role), status_code=303)


@router.get("/login")
async def login_page(request: Request, login: Viewer, c: ContainerDep) -> Response:
    if login is not None:
        return RedirectResponse(home_of(login.principal.role), status_code=303)
    return render(
        request,
        "login.html",
        None,
        next=safe_next(request.query_params.get("next")),
        signup_open=c.settings.signup != "closed",
    )


@router.post("/login")
async def login_submit(request: Request, form: Form, c: ContainerDep) -> Response:
    email = text(form, "email", limit=320)
    password = text(form, "password", limit=1024)
    next_path = safe_next(text(form, "next", limit=2000))
    address = _address(request)

    def again(message: str, status: int) -> HTMLResponse:
        return render(
            request,
            "login.html",
            None,
            status=status,
            error=message,
            email=email,
            next=next_path,
            signup_open=c.settings.signup != "closed",
        )

    try:
        await c.login_throttle.attempt(email, address)
    except LoginThrottled as exc:
        page = again(f"Too many login attempts; try again in {exc.retry_after} s.", 429)
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    async with c.sessions() as s, s.begin():
        try:
            user = await verify_login(s, email, password, address=address)
        except AuthError:
            failed = True
        else:
            failed = False
            cookie, _ = await web_sessions.start(s, user, address=address)
            role = user.role
            await audit.record(
                s,
                actor=user.email,
                actor_id=user.id,
                action="login",
                entity="user",
                entity_id=user.id,
                changes={"address": address, "via": "browser"},
            )
    if failed:
        return again("The email or password is not valid.", 401)
    await c.login_throttle.succeeded(email)
    target = next_path if next_path != "/" else home_of(role)
    response = RedirectResponse(target, status_code=303)
    set_session(request, response, cookie)
    return response


@router.post("/logout")
async def logout(request: Request, form: Form, c: ContainerDep) -> Response:
    del form  # checked: a cross-site page cannot log anyone out
    async with c.sessions() as s, s.begin():
        await web_sessions.end(s, request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    clear_session(request, response)
    return response


@router.get("/signup")
async def signup_page(request: Request, login: Viewer, c: ContainerDep) -> Response:
    if login is not None:
        return RedirectResponse(home_of(login.principal.role), status_code=303)
    return render(request, "signup.html", None, mode=c.settings.signup)


@router.post("/signup")
async def signup_submit(request: Request, form: Form, c: ContainerDep) -> Response:
    mode = c.settings.signup
    email = text(form, "email", limit=320)
    password = text(form, "password", limit=1024)
    if mode == "closed":
        return render(request, "signup.html", None, status=403, mode=mode)
    if password != text(form, "password_again", limit=1024):
        return render(
            request,
            "signup.html",
            None,
            status=422,
            mode=mode,
            email=email,
            error="The two passwords differ.",
        )
    address = _address(request)
    async with c.sessions() as s, s.begin():
        try:
            user = await signup.sign_up(
                s, email, password, approval=mode == "approval", address=address
            )
        except signup.SignupError as exc:
            failed: str | None = str(exc)
        else:
            failed = None
            cookie = None
            if not user.signup_pending:
                cookie, _ = await web_sessions.start(s, user, address=address)
    if failed is not None:
        return render(
            request, "signup.html", None, status=422, mode=mode, email=email, error=failed
        )
    if cookie is None:
        return render(request, "signup_pending.html", None, email=email)
    response = RedirectResponse("/portal", status_code=303)
    set_session(request, response, cookie)
    return response


@router.get("/reset")
async def reset_page(request: Request) -> Response:
    return render(request, "reset_request.html", None)


@router.post("/reset")
async def reset_submit(request: Request, form: Form, c: ContainerDep) -> Response:
    email = text(form, "email", limit=320)
    address = _address(request)
    try:  # the same budget as logins: a reset form is no way around the throttle
        await c.login_throttle.attempt(email, address)
    except LoginThrottled as exc:
        page = render(request, "reset_request.html", None, status=429, retry=exc.retry_after)
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    async with c.sessions() as s, s.begin():
        await signup.note_reset_request(s, email, address=address)
    # One answer whether or not the email exists.
    return render(request, "reset_request.html", None, sent=True)


@router.get("/reset/{token}")
async def reset_form(request: Request, token: str) -> Response:
    return render(request, "reset_form.html", None, token=token[:200])


@router.post("/reset/{token}")
async def reset_password(request: Request, token: str, form: Form, c: ContainerDep) -> Response:
    password = text(form, "password", limit=1024)
    if password != text(form, "password_again", limit=1024):
        return render(
            request,
            "reset_form.html",
            None,
            status=422,
            token=token[:200],
            error="The two passwords differ.",
        )
    async with c.sessions() as s, s.begin():
        try:
            await signup.reset_password(s, token[:200], password)
        except signup.SignupError as exc:
            failed: str | None = str(exc)
        else:
            failed = None
    if failed is not None:
        return render(request, "reset_form.html", None, status=422, token=token[:200], error=failed)
    return render(request, "login.html", None, notice="Your password is changed; log in.", next="/")
