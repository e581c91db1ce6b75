"""ccxt exceptions → SignalBridge's integration error tree, with redacted messages.

The table is ordered: the first matching ccxt class wins, so subclasses come before their
parents (``OrderNotFound`` before ``InvalidOrder``, ``RateLimitExceeded`` and ``DDoSProtection``
before ``NetworkError``). A network failure during an order *write* becomes
:class:`AmbiguousOutcome` (the venue may have executed it; Binance says so explicitly for
5xx answers), except when the connection was never established.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

import aiohttp
import ccxt.async_support as ccxt

from signalbridge.integrations import errors as sb
from signalbridge.integrations.redaction import redact

_URL_QUERY = re.compile(r"(https?://[^\s?\"']+)\?[^\s\"']*")
_HTTP_STATUS = re.compile(r"(?:^|\s)(4\d\d|5\d\d)(?=\s)")
_JSON_CODE = re.compile(r'"code"\s*:\s*(-?\d+)')
_BANNED_UNTIL = re.compile(r"banned until (\d{12,})", re.IGNORECASE)
_INSUFFICIENT = re.compile(
    r"insufficient (?:balance|margin|funds)|margin is insufficient|balance is insufficient"
    r"|not enough (?:balance|margin|funds)",
    re.IGNORECASE,
)
_MAX_MESSAGE = 400
#: Longest wait taken from Bybit's rate-limit reset timestamp: its UID windows last a
#: second (a minute on a few endpoints), so more means our clock and Bybit's disagree.
RESET_WAIT_MAX = 60.0
#: HTTP statuses that mean "this IP is banned", by ccxt exchange id prefix, with the least
#: wait the venue documents. Bybit answers 403 "access too frequent" (not JSON) to an IP
#: over 600 requests in 5 s: "wait for at least 10 minutes", no end stated. (Binance's 418
#: is read generically, its end from Retry-After or the body.)
_IP_BANS: dict[str, tuple[int, float]] = {"bybit": (403, 600.0)}
#: Venue codes that always mean "this key is not accepted" (bad key, IP, permission, key
#: format, signature), by ccxt exchange id prefix. ccxt's binance reports -2015 as
#: DDoSProtection once a spot call has succeeded (its "temporary ban" workaround) and some
#: per-market tables call -1022 a BadRequest: the venue's code decides, not ccxt's class.
_AUTH_CODES: dict[str, frozenset[str]] = {"binance": frozenset({"-2015", "-2014", "-1022"})}
_ALGO_CAP = (
    "the account holds Binance's maximum of 200 open conditional orders (stops and targets, "
    "all symbols together); the monitor enforces this one: "
)
#: Venue codes whose meaning ccxt's tables miss, by (exchange id prefix, market type), with
#: the error they are and a note. Binance forgets orders: its Algo Service answers an
#: unknown, forgotten or finished algo order -20124 ("Invalid algo id or it has been
#: completed", a BadRequest to ccxt) and spot an archived order -2026 (InvalidOrder to
#: ccxt; on futures -2026 means something else): the venue does not know them. -4045 is
#: the account's cap of 200 open conditional orders (since 2025-12-29).
_ANSWERS: dict[tuple[str, str], dict[str, tuple[type[sb.IntegrationError], str]]] = {
    ("binance", "spot"): {"-2026": (sb.OrderNotFound, "")},
    ("binance", "linear"): {
        "-20124": (sb.OrderNotFound, ""),
        "-4045": (sb.InvalidRequest, _ALGO_CAP),
    },
}


def clean_message(exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """The exception text without query strings (ccxt puts signed URLs in messages),
    without known secret values and cut to a readable length."""
    text = _URL_QUERY.sub(r"\1?…", str(exc) or type(exc).__name__)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "****")
    text = redact(text)
    if len(text) > _MAX_MESSAGE:
        text = text[:_MAX_MESSAGE] + "…"
    return f"{type(exc).__name__}: {text}"


def header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    """Case-insensitive header lookup (ccxt keeps the server's spelling)."""
    if not headers:
        return None
    wanted = name.lower()
    for key, value in headers.items():
        if str(key).lower() == wanted:
            return str(value)
    return None


def retry_after_seconds(
    headers: Mapping[str, Any] | None, *, now: float | None = None
) -> float | None:
    """The wait a refusal's headers ask for: ``Retry-After`` (seconds; Binance, OKX), else
    Bybit's ``X-Bapi-Limit-Reset-Timestamp`` (epoch ms when the UID's window reopens) minus
    ``now``, kept within 0..:data:`RESET_WAIT_MAX` (a skewed clock cannot park us)."""
    value = header(headers, "Retry-After")
    if value is None:
        return _reset_wait(header(headers, "X-Bapi-Limit-Reset-Timestamp"), now)
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _reset_wait(value: str | None, now: float | None) -> float | None:
    try:
        reset_ms = int(value) if value is not None else None
    except ValueError:
        return None
    if reset_ms is None:
        return None
    wait = reset_ms / 1000 - (time.time() if now is None else now)
    return min(RESET_WAIT_MAX, max(0.0, wait))


def ip_ban_wait(exchange: Any, status: int | None) -> float | None:
    """The documented least wait when ``status`` is the exchange's IP ban (:data:`_IP_BANS`),
    else None."""
    family = str(getattr(exchange, "id", "") or "")
    ban = next((b for prefix, b in _IP_BANS.items() if family.startswith(prefix)), None)
    return ban[1] if ban is not None and ban[0] == status else None


def banned_until(text: str) -> float | None:
    """When a ban ends, in epoch seconds, from Binance's 418 body ("IP banned until <ms>")."""
    match = _BANNED_UNTIL.search(text)
    return int(match.group(1)) / 1000 if match else None


def http_status(message: str) -> int | None:
    """The HTTP status ccxt wrote into its message (``binance 418 I'm a teapot ...``)."""
    match = _HTTP_STATUS.search(message)
    return int(match.group(1)) if match else None


def auth_code(exc: BaseException, exchange: Any) -> str | None:
    """The venue's authentication code in ``exc``'s message, if its exchange has such codes."""
    family = str(getattr(exchange, "id", "") or "")
    codes = next((c for prefix, c in _AUTH_CODES.items() if family.startswith(prefix)), None)
    match = _JSON_CODE.search(str(exc)) if codes else None
    return match.group(1) if match and codes and match.group(1) in codes else None


def venue_answer(
    exc: BaseException, exchange: Any, market_type: str
) -> tuple[type[sb.IntegrationError], str] | None:
    """The error class (and a note) a venue code in ``exc`` stands for (:data:`_ANSWERS`)."""
    family = str(getattr(exchange, "id", "") or "")
    table = next(
        (t for (prefix, kind), t in _ANSWERS.items() if kind == market_type
         and family.startswith(prefix)),
        None,
    )  # fmt: skip
    match = _JSON_CODE.search(str(exc)) if table else None
    return table.get(match.group(1)) if table and match else None


def _never_connected(exc: BaseException) -> bool:
    """True when the TCP connection was never made, so nothing can have been sent."""
    cause = exc.__cause__
    return isinstance(cause, aiohttp.ClientConnectorError)


def _refine_generic(exc: BaseException, exchange: Any, market_type: str) -> type[Exception] | None:
    """Map a plain ``ExchangeError`` through the venue's per-market-type code table.

    ccxt's binance chooses the spot/linear tables by URL host, so with overridden URLs
    (loopback fakes, proxies) codes such as -2019 or -4164 arrive as plain ExchangeError.
    """
    match = _JSON_CODE.search(str(exc))
    tables = getattr(exchange, "exceptions", None)
    if not match or not isinstance(tables, Mapping):
        return None
    typed = tables.get(market_type)
    if not isinstance(typed, Mapping):
        return None
    exact = typed.get("exact")
    if not isinstance(exact, Mapping):
        return None
    found = exact.get(match.group(1))
    return found if isinstance(found, type) and issubclass(found, Exception) else None


def translate(
    exc: BaseException,
    *,
    write: bool,
    exchange: Any = None,
    market_type: str = "spot",
    connection_id: str | None = None,
    secrets: Iterable[str] = (),
) -> sb.IntegrationError:
    """The SignalBridge error for ``exc``; ``write`` marks an order placement."""
    if isinstance(exc, sb.IntegrationError):
        return exc
    secrets = tuple(secrets)
    message = clean_message(exc, secrets)
    cid = connection_id

    def transient_or_ambiguous() -> sb.IntegrationError:
        if write and not _never_connected(exc):
            return sb.AmbiguousOutcome(
                f"order outcome unknown, look it up by client order id ({message})",
                connection_id=cid,
            )
        return sb.TransientError(message, connection_id=cid)

    if auth_code(exc, exchange) is not None:  # before the class: ccxt may call it a DDoS
        return sb.AuthenticationError(message, connection_id=cid)
    answer = venue_answer(exc, exchange, market_type)
    if answer is not None:
        kind, note = answer
        return kind(note + message, connection_id=cid)
    if isinstance(exc, (ccxt.DDoSProtection, ccxt.RateLimitExceeded)):  # siblings in 4.x
        headers = getattr(exchange, "last_response_headers", None)
        status = http_status(str(exc))
        ban_wait = ip_ban_wait(exchange, status)
        banned = status == 418 or ban_wait is not None or "banned" in str(exc).lower()
        until = banned_until(str(exc))  # a 418 may come without Retry-After: read the body
        retry_after = retry_after_seconds(headers)
        if retry_after is None and until is not None:
            retry_after = max(0.0, until - time.time())
        if ban_wait is not None:
            retry_after = max(retry_after or 0.0, ban_wait)
        return sb.RateLimited(
            message,
            retry_after=retry_after,
            banned=banned,
            banned_until=until,
            connection_id=cid,
        )
    if isinstance(exc, ccxt.InvalidNonce):  # clock skew: rejected, never executed
        return sb.TransientError(message, connection_id=cid)
    if isinstance(exc, ccxt.OperationFailed):  # NetworkError, RequestTimeout, 5xx, ...
        return transient_or_ambiguous()
    if isinstance(exc, ccxt.ExchangeError) and type(exc) is ccxt.ExchangeError:
        if isinstance(exc.__cause__, aiohttp.ClientError):
            return transient_or_ambiguous()
        refined = _refine_generic(exc, exchange, market_type)
        if refined is not None and refined is not ccxt.ExchangeError:
            return translate(
                refined(str(exc)),
                write=write,
                exchange=exchange,
                market_type=market_type,
                connection_id=cid,
                secrets=secrets,
            )
        status = http_status(str(exc))
        if status is not None and status >= 500:
            return transient_or_ambiguous()
        return _business(message, cid)
    if isinstance(exc, ccxt.AuthenticationError):  # PermissionDenied, AccountSuspended, ...
        return sb.AuthenticationError(message, connection_id=cid)
    if isinstance(exc, ccxt.InsufficientFunds):
        return sb.InsufficientFunds(message, connection_id=cid)
    if isinstance(exc, ccxt.OrderNotFound):
        return sb.OrderNotFound(message, connection_id=cid)
    if isinstance(exc, ccxt.BadSymbol):
        return sb.SymbolNotListed(message, connection_id=cid)
    if isinstance(exc, ccxt.ExchangeError):  # InvalidOrder, BadRequest, NotSupported, ...
        return _business(message, cid)
    if isinstance(exc, ccxt.BaseError):
        return transient_or_ambiguous()
    if isinstance(exc, (aiohttp.ClientError, TimeoutError, OSError)):
        return transient_or_ambiguous()
    return sb.TransientError(message, connection_id=cid) if not write else transient_or_ambiguous()


def _business(message: str, cid: str | None) -> sb.InvalidRequest:
    """A refusal of the request itself; "insufficient balance" wording becomes its own class
    (Binance spot reports it as -2010 NEW_ORDER_REJECTED, which ccxt maps to InvalidOrder)."""
    if _INSUFFICIENT.search(message):
        return sb.InsufficientFunds(message, connection_id=cid)
    return sb.InvalidRequest(message, connection_id=cid)
