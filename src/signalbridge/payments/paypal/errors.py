"""Translate PayPal REST failures into our error tree (integrations/errors.py).

PayPal answers errors in two shapes: the REST one ``{name, message, debug_id, details[{field,
value, location, issue, description}], links}`` and the OAuth2 one ``{error,
error_description}`` (the token endpoint, and a 401 for a bad or expired bearer token). The
message we build names the status, PayPal's ``name``/``error``, the first detail's ``issue``
and the ``debug_id`` (what PayPal support asks for); never a credential or a token.

Every POST carries a ``PayPal-Request-Id``, so a replay returns the first answer instead of
acting twice: a 5xx or a connection lost after sending is therefore a
:class:`TransientError` (safe to send again with the same id), not an ambiguous outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from signalbridge.integrations.errors import (
    AuthenticationError,
    IntegrationError,
    InvalidRequest,
    RateLimited,
    TransientError,
)

MAX_TEXT = 300


class PayPalRefusal(InvalidRequest):
    """PayPal answered a 4xx that retrying cannot fix; ``issue`` is ``details[0].issue``
    (``ORDER_NOT_APPROVED``, ``INSTRUMENT_DECLINED``…) so callers branch on it, not on text."""

    def __init__(
        self, message: str, *, status: int, issue: str | None, connection_id: str | None = None
    ) -> None:
        super().__init__(message, connection_id=connection_id)
        self.status = status
        self.issue = issue


def issue_of(body: Mapping[str, Any] | None) -> str | None:
    """The first ``details[].issue`` of a REST error body (``ORDER_NOT_APPROVED``…)."""
    details = (body or {}).get("details")
    if isinstance(details, list) and details and isinstance(details[0], Mapping):
        issue = details[0].get("issue")
        return issue if isinstance(issue, str) else None
    return None


def describe(status: int, body: Mapping[str, Any] | None) -> str:
    """``"422 UNPROCESSABLE_ENTITY/ORDER_NOT_APPROVED: message (debug_id …)"``, bounded."""
    body = body or {}
    name = _text(body.get("name")) or _text(body.get("error"))
    message = _text(body.get("message")) or _text(body.get("error_description"))
    issue = issue_of(body)
    detail = None
    details = body.get("details")
    if isinstance(details, list) and details and isinstance(details[0], Mapping):
        detail = _text(details[0].get("description"))
    head = f"{status}" + (f" {name}" if name else "") + (f"/{issue}" if issue else "")
    parts = [head]
    if message:
        parts.append(message)
    if detail and detail != message:
        parts.append(detail)
    debug_id = _text(body.get("debug_id"))
    text = ": ".join(parts) + (f" (debug_id {debug_id})" if debug_id else "")
    return text[:MAX_TEXT]


def http_error(
    status: int,
    body: Mapping[str, Any] | None,
    headers: Mapping[str, str],
    *,
    what: str,
    connection_id: str | None = None,
) -> IntegrationError:
    """Map a non-2xx PayPal answer to our tree; ``what`` says which call it was."""
    text = f"PayPal {what} failed: {describe(status, body)}"
    if status in (401, 403):
        return AuthenticationError(text, connection_id=connection_id)
    if status == 429:
        return RateLimited(text, retry_after=_retry_after(headers), connection_id=connection_id)
    if status == 409 or status == 408 or status >= 500:
        # 409: a request with the same PayPal-Request-Id is still being processed.
        return TransientError(text, connection_id=connection_id)
    return PayPalRefusal(text, status=status, issue=issue_of(body), connection_id=connection_id)


def transport_error(exc: Exception, *, what: str, connection_id: str | None) -> IntegrationError:
    """A failure without an answer. Sending again is safe (PayPal-Request-Id), hence transient."""
    return TransientError(
        f"PayPal {what} failed without an answer ({type(exc).__name__})",
        connection_id=connection_id,
    )


def unreadable(what: str, connection_id: str | None) -> IntegrationError:
    """A 2xx whose body is not the JSON object PayPal documents."""
    return TransientError(
        f"PayPal {what} answered a body that is not a JSON object", connection_id=connection_id
    )


def is_transport_error(exc: BaseException) -> bool:
    return isinstance(exc, httpx.TransportError)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                seconds = float(value.strip())
            except ValueError:
                return None
            return seconds if 0 <= seconds < 86400 else None
    return None


def _text(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    clean = "".join(ch if ch.isprintable() else " " for ch in value)
    return clean[:MAX_TEXT]
