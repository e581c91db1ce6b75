"""Translate the ``stripe`` library's errors into our tree, at the boundary.

The library turns Stripe's ``{"error": {"type", "code", "message", "param"}}`` answers into
its own classes (``stripe/_api_requestor.py`` ``specific_v1_api_error``); this module maps
those onto :mod:`signalbridge.integrations.errors`, so the payment flow chooses by class
and never by vendor. Messages are Stripe's own (it masks keys itself: ``sk_test_****abcd``)
passed through :func:`~signalbridge.integrations.redaction.redact` once more.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import stripe

from signalbridge.integrations.errors import (
    AuthenticationError,
    IntegrationError,
    InvalidRequest,
    RateLimited,
    TransientError,
)
from signalbridge.integrations.redaction import redact

__all__ = ["retry_after_seconds", "translate"]


def translate(exc: stripe.StripeError, *, connection_id: str | None = None) -> IntegrationError:
    """The error of our tree that ``exc`` stands for.

    - 401 and 403 (bad, revoked or restricted key) → :class:`AuthenticationError`;
    - 429 (or the old 400 ``rate_limit``) → :class:`RateLimited` with ``Retry-After``;
    - ``idempotency_error`` (a key reused with other parameters) and every other 4xx →
      :class:`InvalidRequest`: the same request cannot succeed later;
    - 5xx, 409 (lock contention) and transport failures → :class:`TransientError`: every
      POST carries an idempotency key, so trying the same request again is safe (Stripe
      replays the first answer), and no outcome is ambiguous.

    A failure our own HTTP stack raised (the SSRF guard, the response size cap) arrives
    wrapped in ``APIConnectionError``; that error is passed on as it is.
    """
    cause = exc.__cause__
    if isinstance(exc, stripe.APIConnectionError) and isinstance(cause, IntegrationError):
        if cause.connection_id is None:
            cause.connection_id = connection_id
        return cause
    status = exc.http_status
    what = _describe(exc)
    if isinstance(exc, stripe.RateLimitError):
        return RateLimited(
            f"Stripe rate limit reached ({status}): {what}",
            retry_after=retry_after_seconds(exc.headers or {}),
            connection_id=connection_id,
        )
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return AuthenticationError(
            f"Stripe refused the API key ({status}): {what}", connection_id=connection_id
        )
    if isinstance(exc, stripe.IdempotencyError):
        return InvalidRequest(
            f"Stripe refused the idempotency key ({status}): {what}; the key was used "
            "before with other parameters",
            connection_id=connection_id,
        )
    if isinstance(exc, stripe.APIConnectionError):
        kind = type(cause).__name__ if cause is not None else "network error"
        return TransientError(f"Stripe unreachable ({kind})", connection_id=connection_id)
    if status is not None and (status >= 500 or status == 409):
        return TransientError(
            f"Stripe server error ({status}): {what}", connection_id=connection_id
        )
    if isinstance(exc, stripe.InvalidRequestError | stripe.CardError) or (
        status is not None and 400 <= status < 500
    ):
        return InvalidRequest(
            f"Stripe refused the request ({status}): {what}", connection_id=connection_id
        )
    return TransientError(f"Stripe failed ({status}): {what}", connection_id=connection_id)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The ``Retry-After`` seconds of a 429, when Stripe (or a proxy) sent one."""
    raw = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if raw is None:
        return None
    try:
        seconds = float(raw.strip())
    except ValueError:
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _describe(exc: stripe.StripeError) -> str:
    """Stripe's message with its code and param, scrubbed, in one line."""
    parts = [exc.user_message or type(exc).__name__]
    code = exc.code
    param = getattr(exc, "param", None)
    details = ", ".join(
        f"{name} {value}" for name, value in (("code", code), ("param", param)) if value
    )
    if details:
        parts.append(f"({details})")
    text = " ".join(str(part) for part in parts)
    return redact(" ".join(text.split()))[:500]
