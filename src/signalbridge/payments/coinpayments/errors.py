"""CoinPayments failures translated into our error tree, at the client's boundary.

The legacy API answers HTTP 200 whatever happened and puts the outcome in the envelope:
``{"error": "ok", "result": {...}}`` on success, anything else in ``error`` is a message
(``{"error": "HMAC signature does not match", "result": []}``). Messages about keys and
signatures mean the connection's credentials are wrong (:class:`AuthenticationError`),
rate limits are :class:`RateLimited`, the rest are requests to fix (:class:`InvalidRequest`).

``create_transaction`` is a write with no idempotency key on this API: once its body may
have left us (a read timeout, a dropped connection, a 5xx), whether a transaction exists
is unknown, so that is :class:`AmbiguousOutcome` and never retried blindly.
"""

from __future__ import annotations

import httpx

from signalbridge.integrations.errors import (
    AmbiguousOutcome,
    AuthenticationError,
    IntegrationError,
    InvalidRequest,
    RateLimited,
    TransientError,
)
from signalbridge.integrations.redaction import redact

MAX_MESSAGE = 200
"""Longest provider message quoted in an error."""

_AUTH_WORDS = ("hmac", "api key", "public key", "private key", "permission", "not enabled")
_RATE_WORDS = ("rate limit", "too many")
_BUSY_WORDS = ("maintenance", "try again later", "temporarily")


def api_error(message: str, cmd: str, *, connection_id: str | None = None) -> IntegrationError:
    """The error an envelope's ``error`` text stands for (it is never ``"ok"`` here)."""
    shown = redact(" ".join(message.split())[:MAX_MESSAGE]) or "no message"
    text = f"CoinPayments refused {cmd}: {shown}"
    lowered = shown.lower()
    if any(word in lowered for word in _AUTH_WORDS):
        return AuthenticationError(text, connection_id=connection_id)
    if any(word in lowered for word in _RATE_WORDS):
        return RateLimited(text, connection_id=connection_id)
    if any(word in lowered for word in _BUSY_WORDS):
        return TransientError(text, connection_id=connection_id)
    return InvalidRequest(text, connection_id=connection_id)


def http_error(
    status: int, cmd: str, *, write: bool, connection_id: str | None = None
) -> IntegrationError:
    """A non-200 answer (a proxy or the host in trouble: the API itself answers 200)."""
    if status in (401, 403):
        return AuthenticationError(
            f"CoinPayments refused {cmd} ({status})", connection_id=connection_id
        )
    if status == 429:
        return RateLimited(f"CoinPayments rate limit on {cmd} (429)", connection_id=connection_id)
    if status >= 500 and write:
        return AmbiguousOutcome(
            f"CoinPayments failed after receiving {cmd} ({status}); look the payment up "
            "before creating another",
            connection_id=connection_id,
        )
    if status >= 500 or status == 408:
        return TransientError(
            f"CoinPayments server error on {cmd} ({status})", connection_id=connection_id
        )
    return InvalidRequest(f"CoinPayments answered {cmd} with {status}", connection_id=connection_id)


def transport_error(
    exc: httpx.HTTPError, cmd: str, *, write: bool, connection_id: str | None = None
) -> IntegrationError:
    """An httpx failure: a write is ambiguous once its body may have been sent."""
    what = type(exc).__name__
    never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    if never_sent or not write:
        return TransientError(
            f"CoinPayments unreachable on {cmd} ({what})", connection_id=connection_id
        )
    return AmbiguousOutcome(
        f"CoinPayments connection lost during {cmd} ({what}); look the payment up before "
        "creating another",
        connection_id=connection_id,
    )


def unreadable(cmd: str, why: str, *, connection_id: str | None = None) -> TransientError:
    """A 200 whose body is not the JSON envelope (an HTML error page, a cut body)."""
    return TransientError(
        f"CoinPayments answered {cmd} with an unreadable body ({why})", connection_id=connection_id
    )
