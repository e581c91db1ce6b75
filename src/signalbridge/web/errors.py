"""One JSON error shape for every failure: ``{"error": {"code", "message", "details"}}``.

Unexpected exceptions answer 500 with a generic message: their text may hold data we must
not show (a secret, a SQL fragment), so it goes to the redacted log only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger("signalbridge.web")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class ErrorDetail(BaseModel):
    """The inside of every error answer."""

    code: str = Field(description="stable machine-readable code, e.g. ``not_found``")
    message: str = Field(description="what went wrong, for a person")
    details: Any = Field(default=None, description="per-field problems or the stored outcome")


class ErrorBody(BaseModel):
    """``{"error": {...}}``: the one shape of every 4xx and 5xx answer."""

    error: ErrorDetail


_DESCRIPTIONS = {
    401: "no valid credentials",
    403: "the credentials do not allow this",
    404: "no such row, or one the caller may not see (both answer the same)",
    409: "conflicts with the current state of the row",
    413: "the body is too large",
    415: "the body is not JSON",
    422: "the request is not valid (fields, numbers, JSON shape or depth)",
    429: "too many requests; retry later",
}

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text} for status, text in _DESCRIPTIONS.items()
}
"""The error answers every route may give, for ``include_router(..., responses=...)``.

Declared once so the OpenAPI document names every status a route can answer (schemathesis
checks that no undocumented status comes back).
"""


class ApiError(Exception):
    def __init__(
        self, status: int, message: str, *, code: str | None = None, details: Any = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _CODES.get(status, "error")
        self.message = message
        self.details = details


def error_response(
    status: int, message: str, code: str | None = None, details: Any = None
) -> JSONResponse:
    body: dict[str, Any] = {"code": code or _CODES.get(status, "error"), "message": message}
    if details is not None:
        body["details"] = details
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": body}, status_code=status, headers=headers)


#: Renders an error raised under a page path as HTML (None: not a page; answer JSON).
PageErrors = Callable[[Request, "ApiError | RequestValidationError"], Awaitable[Response | None]]


def install(app: FastAPI, pages: PageErrors | None = None) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        page = await pages(request, exc) if pages is not None else None
        return page or error_response(exc.status, exc.message, exc.code, exc.details)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        page = await pages(request, exc) if pages is not None else None
        if page is not None:
            return page
        details = [
            {"field": ".".join(str(p) for p in e["loc"] if p != "body"), "message": e["msg"]}
            for e in exc.errors()
        ]
        return error_response(422, "request is not valid", details=details)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", error_type=type(exc).__name__)
        return error_response(500, "internal error")
