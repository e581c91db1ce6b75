"""Translate the ``openai`` library's errors into our tree, at the boundary.

The SDK turns an HTTP status into its own class (``openai/_client.py``
``_make_status_error``); this module maps those onto
:mod:`signalbridge.integrations.errors` so the chain chooses by class, never by vendor:

- timeouts, connection failures, 5xx, 408, 409 → :class:`TransientError` (hand over);
- 429 → :class:`RateLimited` with ``Retry-After`` (hand over at once: the chain is the retry);
- 401, 403 → :class:`AuthenticationError`; 402 (OpenRouter: credits spent) → the same, the
  operator must act; other 4xx → :class:`InvalidRequest`;
- an answer that is not the JSON we asked for, or an error inside a 200 body (OpenRouter,
  after generation started) → :class:`MalformedAnswer`, a transient error, so it counts for
  the breaker and the chain hands over.

Messages carry the provider's words through :func:`redact`, never a key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from signalbridge.integrations.errors import (
    AuthenticationError,
    IntegrationError,
    InvalidRequest,
    RateLimited,
    TransientError,
)
from signalbridge.integrations.redaction import redact

__all__ = ["MalformedAnswer", "describe", "retry_after_seconds", "translate"]

_MAX_REASON = 300


class MalformedAnswer(TransientError):
    """The provider answered, but not with what we asked for: not JSON, outside the schema,
    an error carried inside a 200 body. That provider's failure, never a signal."""


def translate(exc: BaseException, *, connection_id: str | None = None) -> IntegrationError:
    """The error of our tree that ``exc`` (an ``openai`` error or anything else) stands for."""
    import openai  # here, not at module level: the SDK costs a second at every start

    if isinstance(exc, IntegrationError):
        if exc.connection_id is None:
            exc.connection_id = connection_id
        return exc
    cause = exc.__cause__
    if isinstance(exc, openai.APIConnectionError) and isinstance(cause, IntegrationError):
        # Our own stack refused (SSRF guard, size cap, total deadline): pass it on.
        if cause.connection_id is None:
            cause.connection_id = connection_id
        return cause
    if isinstance(exc, openai.APITimeoutError):
        return TransientError("AI provider timed out", connection_id=connection_id)
    if isinstance(exc, openai.APIConnectionError):
        kind = type(cause).__name__ if cause is not None else "network error"
        return TransientError(f"AI provider unreachable ({kind})", connection_id=connection_id)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        what = describe(exc.body, exc.message)
        if isinstance(exc, openai.RateLimitError) or status == 429:
            return RateLimited(
                f"AI provider rate limit ({status}): {what}",
                retry_after=retry_after_seconds(exc.response.headers),
                connection_id=connection_id,
            )
        if status in (401, 403):
            return AuthenticationError(
                f"AI provider refused the key ({status}): {what}", connection_id=connection_id
            )
        if status == 402:
            return AuthenticationError(
                f"AI provider account has no credits left (402): {what}",
                connection_id=connection_id,
            )
        if status >= 500 or status in (408, 409):
            return TransientError(
                f"AI provider error ({status}): {what}", connection_id=connection_id
            )
        return InvalidRequest(
            f"AI provider refused the request ({status}): {what}", connection_id=connection_id
        )
    if isinstance(exc, openai.APIResponseValidationError | openai.OpenAIError):
        return MalformedAnswer(
            f"AI provider answer unreadable ({type(exc).__name__})", connection_id=connection_id
        )
    return TransientError(
        redact(f"AI call failed ({type(exc).__name__})"), connection_id=connection_id
    )


def describe(body: object, fallback: str = "") -> str:
    """The provider's error message (OpenAI ``{"error": {"message", "code"}}`` or
    OpenRouter ``{"error": {"code", "message"}}``), one line, redacted, capped."""
    error: Any = body.get("error", body) if isinstance(body, dict) else None
    text = fallback
    if isinstance(error, dict):
        message = error.get("message")
        code = error.get("code") or error.get("type")
        text = str(message) if message is not None else fallback
        if code is not None and not isinstance(code, bool):
            text = f"{text} (code {str(code)[:40]})"
    return redact(" ".join(str(text).split()))[:_MAX_REASON]


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """``retry-after-ms`` or ``Retry-After`` seconds of a 429/503, when sent."""
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = lowered.get(name)
        if raw is None:
            continue
        try:
            value = float(raw.strip()) * scale
        except ValueError:
            continue
        if math.isfinite(value):
            return max(0.0, value)
    return None
