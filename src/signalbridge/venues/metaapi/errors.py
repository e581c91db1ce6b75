"""Translate MetaApi HTTP failures and MetaTrader trade return codes into our error tree.

Two sources of failure: the REST layer (HTTP status + ``{id, error, message, metadata}``
body) and the trade result (a ``numericCode``/``stringCode`` that is not a success, in an
HTTP 200 or in a non-2xx ``TradeError`` body). Both end here so the adapter raises only
:mod:`signalbridge.integrations.errors` classes. Messages are built from status, codes and
the server's own description; the auth token is never part of what we format (the client
scrubs it once more anyway).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import Any

import httpx

from signalbridge.integrations.errors import (
    AmbiguousOutcome,
    AuthenticationError,
    InsufficientFunds,
    IntegrationError,
    InvalidRequest,
    OrderNotFound,
    RateLimited,
    SymbolNotListed,
    TransientError,
)

#: Trade results that mean the request was executed or accepted (MetaApi docs).
SUCCESS_CODES: frozenset[int] = frozenset({0, 10008, 10009, 10010, 10025})
SUCCESS_STRINGS: frozenset[str] = frozenset(
    {
        "ERR_NO_ERROR",
        "TRADE_RETCODE_PLACED",
        "TRADE_RETCODE_DONE",
        "TRADE_RETCODE_DONE_PARTIAL",
        "TRADE_RETCODE_NO_CHANGES",
    }
)


class Resource(Enum):
    """What a request was about, so a 404 can say *what* is missing."""

    ACCOUNT = "account"
    SYMBOL = "symbol"
    ORDER = "order"
    POSITION = "position"
    TRADE = "trade"


class _Kind(Enum):
    INVALID = "invalid"
    FUNDS = "funds"
    NOT_FOUND = "not_found"
    TRANSIENT = "transient"
    RATE = "rate"
    AMBIGUOUS = "ambiguous"
    AUTH = "auth"


# MT5 (10xxx, plus MetaApi's own negative codes and the MQL5 not-found errors it passes
# on) and MT4 (small numbers) return codes, as MetaApi's MetatraderTradeResponse page lists
# them. Keyed by number; the string code is used when the number is unknown.
_CODES: dict[int, tuple[str, _Kind]] = {
    -11: ("TRADE_RETCODE_DISCONNECTED_DURING_TRADE", _Kind.AMBIGUOUS),
    -10: ("TRADE_RETCODE_DISCONNECTED_BEFORE_TRADE", _Kind.TRANSIENT),
    -9: ("ERR_PIP_SIZE_NOT_DEFINED", _Kind.INVALID),
    -8: ("ERR_INVESTOR", _Kind.AUTH),  # connected with the investor (read-only) password
    -7: ("ERR_TRADE_TIMED_OUT", _Kind.AMBIGUOUS),
    -6: ("ERR_NO_QUOTES", _Kind.TRANSIENT),
    -5: ("ERR_NOT_SYNCHRONIZED", _Kind.TRANSIENT),
    -4: ("TRADE_RETCODE_ORDER_TYPE_NOT_SUPPORTED", _Kind.INVALID),
    -1: ("TRADE_RETCODE_UNKNOWN", _Kind.AMBIGUOUS),
    4753: ("ERR_TRADE_POSITION_NOT_FOUND", _Kind.NOT_FOUND),
    4754: ("ERR_TRADE_ORDER_NOT_FOUND", _Kind.NOT_FOUND),
    10004: ("TRADE_RETCODE_REQUOTE", _Kind.TRANSIENT),
    10006: ("TRADE_RETCODE_REJECT", _Kind.INVALID),
    10007: ("TRADE_RETCODE_CANCEL", _Kind.INVALID),
    10011: ("TRADE_RETCODE_ERROR", _Kind.AMBIGUOUS),
    10012: ("TRADE_RETCODE_TIMEOUT", _Kind.AMBIGUOUS),
    10013: ("TRADE_RETCODE_INVALID", _Kind.INVALID),
    10014: ("TRADE_RETCODE_INVALID_VOLUME", _Kind.INVALID),
    10015: ("TRADE_RETCODE_INVALID_PRICE", _Kind.INVALID),
    10016: ("TRADE_RETCODE_INVALID_STOPS", _Kind.INVALID),
    10017: ("TRADE_RETCODE_TRADE_DISABLED", _Kind.INVALID),
    10018: ("TRADE_RETCODE_MARKET_CLOSED", _Kind.INVALID),
    10019: ("TRADE_RETCODE_NO_MONEY", _Kind.FUNDS),
    10020: ("TRADE_RETCODE_PRICE_CHANGED", _Kind.TRANSIENT),
    10021: ("TRADE_RETCODE_PRICE_OFF", _Kind.TRANSIENT),
    10022: ("TRADE_RETCODE_INVALID_EXPIRATION", _Kind.INVALID),
    10023: ("TRADE_RETCODE_ORDER_CHANGED", _Kind.TRANSIENT),
    10024: ("TRADE_RETCODE_TOO_MANY_REQUESTS", _Kind.RATE),
    10026: ("TRADE_RETCODE_SERVER_DISABLES_AT", _Kind.AUTH),
    10027: ("TRADE_RETCODE_CLIENT_DISABLES_AT", _Kind.AUTH),
    10028: ("TRADE_RETCODE_LOCKED", _Kind.TRANSIENT),
    10029: ("TRADE_RETCODE_FROZEN", _Kind.INVALID),
    10030: ("TRADE_RETCODE_INVALID_FILL", _Kind.INVALID),
    10031: ("TRADE_RETCODE_CONNECTION", _Kind.AMBIGUOUS),
    10032: ("TRADE_RETCODE_ONLY_REAL", _Kind.INVALID),
    10033: ("TRADE_RETCODE_LIMIT_ORDERS", _Kind.INVALID),
    10034: ("TRADE_RETCODE_LIMIT_VOLUME", _Kind.INVALID),
    10035: ("TRADE_RETCODE_INVALID_ORDER", _Kind.INVALID),
    10036: ("TRADE_RETCODE_POSITION_CLOSED", _Kind.NOT_FOUND),
    10038: ("TRADE_RETCODE_INVALID_CLOSE_VOLUME", _Kind.INVALID),
    10039: ("TRADE_RETCODE_CLOSE_ORDER_EXIST", _Kind.INVALID),
    10040: ("TRADE_RETCODE_LIMIT_POSITIONS", _Kind.INVALID),
    10041: ("TRADE_RETCODE_REJECT_CANCEL", _Kind.INVALID),
    10042: ("TRADE_RETCODE_LONG_ONLY", _Kind.INVALID),
    10043: ("TRADE_RETCODE_SHORT_ONLY", _Kind.INVALID),
    10044: ("TRADE_RETCODE_CLOSE_ONLY", _Kind.INVALID),
    10045: ("TRADE_RETCODE_FIFO_CLOSE", _Kind.INVALID),
    # MT4 trade server return codes.
    1: ("ERR_NO_RESULT", _Kind.AMBIGUOUS),
    2: ("ERR_COMMON_ERROR", _Kind.INVALID),
    3: ("ERR_INVALID_TRADE_PARAMETERS", _Kind.INVALID),
    4: ("ERR_SERVER_BUSY", _Kind.TRANSIENT),
    5: ("ERR_OLD_VERSION", _Kind.INVALID),
    6: ("ERR_NO_CONNECTION", _Kind.TRANSIENT),
    7: ("ERR_NOT_ENOUGH_RIGHTS", _Kind.AUTH),
    8: ("ERR_TOO_FREQUENT_REQUESTS", _Kind.RATE),
    9: ("ERR_MALFUNCTIONAL_TRADE", _Kind.INVALID),
    64: ("ERR_ACCOUNT_DISABLED", _Kind.AUTH),
    65: ("ERR_INVALID_ACCOUNT", _Kind.AUTH),
    128: ("ERR_TRADE_TIMEOUT", _Kind.AMBIGUOUS),
    129: ("ERR_INVALID_PRICE", _Kind.INVALID),
    130: ("ERR_INVALID_STOPS", _Kind.INVALID),
    131: ("ERR_INVALID_TRADE_VOLUME", _Kind.INVALID),
    132: ("ERR_MARKET_CLOSED", _Kind.INVALID),
    133: ("ERR_TRADE_DISABLED", _Kind.INVALID),
    134: ("ERR_NOT_ENOUGH_MONEY", _Kind.FUNDS),
    135: ("ERR_PRICE_CHANGED", _Kind.TRANSIENT),
    136: ("ERR_OFF_QUOTES", _Kind.TRANSIENT),
    137: ("ERR_BROKER_BUSY", _Kind.TRANSIENT),
    138: ("ERR_REQUOTE", _Kind.TRANSIENT),
    139: ("ERR_ORDER_LOCKED", _Kind.TRANSIENT),
    140: ("ERR_LONG_POSITIONS_ONLY_ALLOWED", _Kind.INVALID),
    141: ("ERR_TOO_MANY_REQUESTS", _Kind.RATE),
    145: ("ERR_TRADE_MODIFY_DENIED", _Kind.INVALID),
    146: ("ERR_TRADE_CONTEXT_BUSY", _Kind.TRANSIENT),
    147: ("ERR_TRADE_EXPIRATION_DENIED", _Kind.INVALID),
    148: ("ERR_TRADE_TOO_MANY_ORDERS", _Kind.INVALID),
    149: ("ERR_TRADE_HEDGE_PROHIBITED", _Kind.INVALID),
    150: ("ERR_TRADE_PROHIBITED_BY_FIFO", _Kind.INVALID),
}
_BY_STRING: dict[str, _Kind] = {name: kind for name, kind in _CODES.values()}


def is_trade_success(result: Mapping[str, Any]) -> bool:
    """Whether a MetatraderTradeResponse reports success (by number, else by string)."""
    numeric = _as_int(result.get("numericCode"))
    if numeric is not None:
        return numeric in SUCCESS_CODES
    return str(result.get("stringCode") or "") in SUCCESS_STRINGS


def trade_error(
    result: Mapping[str, Any], *, connection_id: str | None = None
) -> IntegrationError | None:
    """The error a trade result stands for, or ``None`` when it is a success.

    Codes that say the request may have reached the broker (timeout, connection lost during
    the trade, generic processing error) become :class:`AmbiguousOutcome`: the caller must
    look the order up by client id before trying again. An unknown failing code is treated
    the same way, because guessing "not sent" could double an order.
    """
    if is_trade_success(result):
        return None
    numeric = _as_int(result.get("numericCode"))
    string = str(result.get("stringCode") or "")
    known = _CODES.get(numeric) if numeric is not None else None
    kind = known[1] if known else _BY_STRING.get(string, _Kind.AMBIGUOUS)
    name = string or (known[0] if known else "UNKNOWN")
    detail = str(result.get("message") or "").strip()
    text = f"MetaTrader rejected the trade: {name} ({numeric})" + (f": {detail}" if detail else "")
    return _make(kind, text, connection_id=connection_id, retry_after=None)


def http_error(
    status: int,
    body: Mapping[str, Any] | None,
    headers: Mapping[str, str],
    *,
    resource: Resource,
    account_id: str,
    connection_id: str | None = None,
    now: Callable[[], datetime] | None = None,
) -> IntegrationError:
    """Map a non-2xx MetaApi response to our tree.

    A 5xx on a trade is ambiguous (the terminal may have executed it before the gateway
    failed); on a read it is transient. A 404 says which thing is missing: an unknown or
    undeployed *account* is an :class:`AuthenticationError` (configuration to fix, retrying
    cannot help), a missing order/position :class:`OrderNotFound`, a symbol
    :class:`SymbolNotListed`.
    """
    body = body or {}
    if "numericCode" in body or "stringCode" in body:
        # A TradeError carries the trade's own codes: they say what happened, whatever
        # the status (a 5xx with "no money" was not executed).
        refused = trade_error(body, connection_id=connection_id)
        if refused is not None:
            return refused
    name = str(body.get("error") or "")
    detail = str(body.get("message") or "").strip()
    suffix = f" ({name}: {detail})" if name or detail else ""
    if status == 401:
        return AuthenticationError(
            f"MetaApi rejected the auth token (401){suffix}", connection_id=connection_id
        )
    if status == 403:
        return AuthenticationError(
            f"MetaApi token has no access to account {account_id} (403){suffix}",
            connection_id=connection_id,
        )
    if status == 404:
        return _not_found(resource, account_id, suffix, connection_id)
    if status == 429:
        retry_after = retry_after_seconds(headers, body, now=now)
        return RateLimited(
            f"MetaApi rate limit exceeded (429){suffix}",
            retry_after=retry_after,
            connection_id=connection_id,
        )
    if status >= 500:
        if resource is Resource.TRADE:
            return AmbiguousOutcome(
                f"MetaApi failed after receiving a trade ({status}){suffix}; "
                "look the order up by client id before retrying",
                connection_id=connection_id,
            )
        return TransientError(
            f"MetaApi server error ({status}){suffix}", connection_id=connection_id
        )
    if status == 408:
        return _timeout(resource, connection_id, suffix)
    if status == 409:
        # The SDK's HTTP client retries a ConflictException with backoff: nothing was done.
        return TransientError(
            f"MetaApi answered a conflict (409){suffix}; try again", connection_id=connection_id
        )
    return InvalidRequest(
        f"MetaApi refused the request ({status}){suffix}", connection_id=connection_id
    )


def accepted_error(
    headers: Mapping[str, str],
    body: Mapping[str, Any] | None,
    *,
    resource: Resource,
    connection_id: str | None = None,
    now: Callable[[], datetime] | None = None,
) -> IntegrationError:
    """A 202: accepted, the answer is not ready (the SDK waits ``retry-after`` seconds and
    asks again). A read is :class:`RateLimited` with that wait; a trade was accepted but
    not answered, so it is ambiguous: look it up before sending anything again."""
    retry_after = retry_after_seconds(headers, body, now=now)
    detail = str((body or {}).get("message") or "").strip()
    suffix = f" ({detail})" if detail else ""
    if resource is Resource.TRADE:
        return AmbiguousOutcome(
            f"MetaApi accepted the trade without a result (202){suffix}; look the order up "
            "by client id before retrying",
            connection_id=connection_id,
        )
    wait = f"{retry_after:g} s" if retry_after is not None else "a while"
    return RateLimited(
        f"MetaApi is still preparing the answer (202){suffix}; ask again in {wait}",
        retry_after=retry_after,
        connection_id=connection_id,
    )


def transport_error(
    exc: httpx.HTTPError, *, resource: Resource, connection_id: str | None = None
) -> IntegrationError:
    """Map an httpx transport failure: once a trade may have left us, the outcome is unknown."""
    what = type(exc).__name__
    never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    if never_sent:
        return TransientError(f"MetaApi unreachable ({what})", connection_id=connection_id)
    if isinstance(exc, httpx.TimeoutException):
        return _timeout(resource, connection_id, f" ({what})")
    if resource is not Resource.TRADE:
        return TransientError(f"MetaApi connection failed ({what})", connection_id=connection_id)
    return AmbiguousOutcome(
        f"MetaApi connection lost during a trade ({type(exc).__name__}); "
        "look the order up by client id before retrying",
        connection_id=connection_id,
    )


def retry_after_seconds(
    headers: Mapping[str, str],
    body: Mapping[str, Any] | None,
    *,
    now: Callable[[], datetime] | None = None,
) -> float | None:
    """Seconds to wait: the ``Retry-After`` header (seconds or HTTP date), else the body's
    ``metadata.recommendedRetryTime`` (ISO time). ``None`` when neither is usable."""
    clock = now or (lambda: datetime.now(UTC))
    raw = _header(headers, "retry-after")
    if raw:
        raw = raw.strip()
        try:
            seconds = float(raw)
            return max(0.0, seconds) if math.isfinite(seconds) else None
        except ValueError:
            when = _parse_http_date(raw)
            if when is not None:
                return max(0.0, (when - clock()).total_seconds())
    metadata = (body or {}).get("metadata")
    if isinstance(metadata, Mapping):
        text = metadata.get("recommendedRetryTime")
        if isinstance(text, str):
            when = _parse_iso(text)
            if when is not None:
                return max(0.0, (when - clock()).total_seconds())
    return None


def _not_found(
    resource: Resource, account_id: str, suffix: str, connection_id: str | None
) -> IntegrationError:
    if resource in (Resource.ORDER, Resource.POSITION):
        return OrderNotFound(
            f"MetaApi does not know this {resource.value} (404){suffix}",
            connection_id=connection_id,
        )
    if resource is Resource.SYMBOL:
        return SymbolNotListed(
            f"MetaApi: symbol not defined for this broker, or account {account_id} unknown "
            f"(404){suffix}",
            connection_id=connection_id,
        )
    return AuthenticationError(
        f"MetaApi account {account_id} not found or not deployed (404): check the account id "
        f"and that the account is deployed{suffix}",
        connection_id=connection_id,
    )


def _timeout(resource: Resource, connection_id: str | None, suffix: str = "") -> IntegrationError:
    if resource is Resource.TRADE:
        return AmbiguousOutcome(
            f"MetaApi trade timed out after sending{suffix}; look the order up by client id "
            "before retrying",
            connection_id=connection_id,
        )
    return TransientError(f"MetaApi request timed out{suffix}", connection_id=connection_id)


def _make(
    kind: _Kind, text: str, *, connection_id: str | None, retry_after: float | None
) -> IntegrationError:
    if kind is _Kind.FUNDS:
        return InsufficientFunds(text, connection_id=connection_id)
    if kind is _Kind.NOT_FOUND:
        return OrderNotFound(text, connection_id=connection_id)
    if kind is _Kind.TRANSIENT:
        return TransientError(text, connection_id=connection_id)
    if kind is _Kind.RATE:
        return RateLimited(text, retry_after=retry_after, connection_id=connection_id)
    if kind is _Kind.AMBIGUOUS:
        return AmbiguousOutcome(
            text + "; look the order up by client id before retrying", connection_id=connection_id
        )
    if kind is _Kind.AUTH:
        return AuthenticationError(text, connection_id=connection_id)
    return InvalidRequest(text, connection_id=connection_id)


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _parse_http_date(text: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _parse_iso(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
