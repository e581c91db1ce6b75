"""Log in with email and password to get a new API token.

One 401 whatever was wrong; attempts beyond the budget per account or per client address
answer 429 with ``Retry-After`` (even with the right password, so guessing learns nothing).
The client address is the connection's peer: behind a reverse proxy, run uvicorn with
``--proxy-headers --forwarded-allow-ips`` so it is the real client's.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from signalbridge.services.auth import AuthError
from signalbridge.services.login import LoginThrottled, login
from signalbridge.services.tokens import token_view
from signalbridge.web.deps import ContainerDep, SessionDep
from signalbridge.web.errors import error_response

log = structlog.get_logger("signalbridge.web.auth")

router = APIRouter(tags=["auth"])


class LoginBody(BaseModel):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


@router.post(
    "/auth/login",
    responses={
        200: {"description": "a new token; its plain text is in ``token``, shown this once"},
        401: {"description": "the email or password is not valid (one answer for every cause)"},
        429: {"description": "too many attempts for this account or address; see Retry-After"},
    },
)
async def post_login(
    body: LoginBody, request: Request, session: SessionDep, c: ContainerDep
) -> Any:
    address = request.client.host if request.client else "unknown"
    try:
        await c.login_throttle.attempt(body.email, address)
    except LoginThrottled as exc:
        log.warning("login throttled", address=address)
        response = error_response(429, "too many login attempts; try again later")
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    try:
        result = await login(
            session, body.email, body.password, address=address, days=c.settings.token_days
        )
    except AuthError as exc:
        # Returned, not raised: the session commits, and with it the audit of the failure.
        return error_response(401, str(exc))
    await c.login_throttle.succeeded(body.email)
    return {
        **token_view(result.token),
        "token": result.plain_token,
        "user": {"id": result.user.id, "email": result.user.email, "role": result.user.role},
    }
