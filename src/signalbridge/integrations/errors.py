"""One exception tree for every outside system.

Adapters translate vendor and transport errors at their boundary into these classes and
raise nothing else, so callers choose what to do by class, never by vendor::

    IntegrationError                 base; ``connection_id`` and a redacted message
    ├── TransientError               retry with backoff (network error, timeout, 5xx)
    │   └── RateLimited              wait: ``retry_after`` seconds (429, 418 ban until
    │                                ``banned_until``, quota); ``scope``: which budget
    ├── AuthenticationError          stop and alert: bad or revoked key, missing permission
    ├── InvalidRequest               stop: the request itself is wrong; retrying cannot help
    │   ├── InsufficientFunds        business error: never trips a breaker
    │   ├── OrderNotFound            the venue does not know the order (may be eventual)
    │   ├── SymbolNotListed          the venue does not list the symbol
    │   └── CallbackRejected         an inbound callback (payment webhook, IPN) is not authentic,
    │                                stale or malformed: refused whole, changes nothing
    ├── AmbiguousOutcome             a write may or may not have happened (timeout after send,
    │                                reset): reconcile (look up by client id) before anything else
    ├── CircuitOpen                  fail fast: the connection's breaker is open
    └── ConnectionDisabled           the connection is deactivated

Only ``TransientError`` (and its subclass ``RateLimited``) and ``AmbiguousOutcome`` count as
failures for the circuit breaker; business errors never do.
"""

from __future__ import annotations

from typing import Literal


class IntegrationError(Exception):
    """Base of every error an adapter may raise. The message is already redacted."""

    def __init__(self, message: str, *, connection_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.connection_id = connection_id

    #: Whether this failure counts toward opening the connection's circuit breaker.
    counts_for_breaker: bool = False


class TransientError(IntegrationError):
    """Network error, timeout before sending, or 5xx: safe to retry with backoff."""

    counts_for_breaker = True


class RateLimited(TransientError):
    """The provider asked us to slow down (429) or banned us for a while (418).

    ``banned_until`` is the end of a ban the provider stated (epoch seconds), when it did.
    ``scope`` names the budget the refusal is about (an API host's per-IP budget such as
    ``"binance:spot"``) once its back-off is recorded there; the guard then records none of
    its own. None: the connection's provider as a whole.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        banned: bool = False,
        banned_until: float | None = None,
        scope: str | None = None,
        connection_id: str | None = None,
    ) -> None:
        super().__init__(message, connection_id=connection_id)
        self.retry_after = retry_after
        self.banned = banned
        self.banned_until = banned_until
        self.scope = scope


class AuthenticationError(IntegrationError):
    """Credentials are wrong, revoked or lack a needed permission: stop and alert."""


class InvalidRequest(IntegrationError):
    """The provider refused the request as wrong: retrying the same request cannot help."""


class InsufficientFunds(InvalidRequest):
    """Not enough balance or margin for the order."""


class OrderNotFound(InvalidRequest):
    """The venue does not know this order (possibly only not yet)."""


class SymbolNotListed(InvalidRequest):
    """The venue does not list the symbol."""


class CallbackRejected(InvalidRequest):
    """An inbound callback was refused whole: nothing of it may be stored or applied.

    ``reason`` is ``"signature"`` (missing or wrong), ``"stale"`` (timestamp outside the
    tolerance) or ``"malformed"`` (the body or a header cannot be read). The message says
    what was wrong, never a secret or the expected signature.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: Literal["signature", "stale", "malformed"],
        connection_id: str | None = None,
    ) -> None:
        super().__init__(message, connection_id=connection_id)
        self.reason = reason


class AmbiguousOutcome(IntegrationError):
    """A write was sent but its result is unknown: look it up before any second attempt."""

    counts_for_breaker = True


class CircuitOpen(IntegrationError):
    """The connection's circuit breaker is open: the call was not attempted."""

    def __init__(
        self, message: str, *, retry_in: float | None = None, connection_id: str | None = None
    ) -> None:
        super().__init__(message, connection_id=connection_id)
        self.retry_in = retry_in


class ConnectionDisabled(IntegrationError):
    """The connection is deactivated: work for it waits or ends with this reason."""
