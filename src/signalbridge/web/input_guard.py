"""A guard in front of the JSON API: bodies are JSON, bounded in size and depth; URLs hold no NUL.

FastAPI reads a request body with ``json.loads``: a body nested 10,000 deep raised
``RecursionError``, a few hundred levels passed and then broke every later read of the
stored value, ``NaN`` and ``1e999`` became floats, and a body sent as ``text/plain`` reached
the model as bytes. This ASGI middleware reads the body of every ``/api/`` request first
and answers 413, 415 or 422 with the usual error shape before any route runs; a body it
accepts is handed on unchanged. Webhooks live outside ``/api/``: they read their raw bytes
themselves and keep a refused delivery as a rejected message.

A NUL in a query or path (``?status=%00``) reached PostgreSQL, which refuses NUL in text,
and came back as a 500; such a URL is a 422 here for every method.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import unquote_to_bytes

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from signalbridge.domain.bounds import MAX_JSON_DEPTH, JsonOutOfBounds, finite_float, load_json
from signalbridge.web.errors import error_response

API_PREFIX: Final = "/api/"
MAX_API_BODY_BYTES: Final = 1024 * 1024
"""Largest JSON body an API route reads; every API body is far smaller."""
BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_json_media_type(content_type: str | None) -> bool:
    """``application/json`` or any ``application/*+json``, parameters ignored."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def url_has_nul(path: str, query_string: bytes) -> bool:
    """Whether the (already decoded) path or the percent-decoded query holds a NUL."""
    return "\x00" in path or b"\x00" in unquote_to_bytes(query_string)


def body_problem(
    content_type: str | None, body: bytes, *, max_depth: int = MAX_JSON_DEPTH
) -> tuple[int, str] | None:
    """Why an API request body is refused, as (status, message); ``None`` when it is fine.

    Pure, so the rules are tested without a server: an empty body passes (the route says
    whether it needs one), anything else must be JSON that :func:`load_json` accepts.
    """
    if not body:
        return None
    if not is_json_media_type(content_type):
        return 415, "send the body as JSON with Content-Type: application/json"
    try:
        load_json(body, max_depth=max_depth, parse_float=finite_float, storable_strings=True)
    except JsonOutOfBounds as exc:
        return 422, str(exc)
    return None


class InputGuard:
    """Pure ASGI middleware; requests outside ``prefix`` pass untouched."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        prefix: str = API_PREFIX,
        max_bytes: int = MAX_API_BODY_BYTES,
        max_depth: int = MAX_JSON_DEPTH,
    ) -> None:
        self.app = app
        self.prefix = prefix
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        if url_has_nul(str(scope["path"]), scope.get("query_string", b"")):
            await self._refuse(scope, receive, send, 422, "the URL may not contain NUL characters")
            return
        if scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send, 413, self._too_large())
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send, 413, self._too_large())
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        problem = body_problem(headers.get("content-type"), body, max_depth=self.max_depth)
        if problem is not None:
            await self._refuse(scope, receive, send, *problem)
            return
        await self.app(scope, _replay(body, receive), send)

    def _too_large(self) -> str:
        return f"body is larger than {self.max_bytes} bytes"

    @staticmethod
    async def _refuse(
        scope: Scope, receive: Receive, send: Send, status: int, message: str
    ) -> None:
        await error_response(status, message)(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands out the body read already, then defers to the real one."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
