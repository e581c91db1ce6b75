"""Binance's request weights per endpoint and argument, and its per-IP weight budgets.

Binance limits REST traffic by *request weight* per IP and per minute, counted apart on
each API: spot (``/api/``, 6,000), USDⓈ-M futures (``/fapi/``, 2,400), COIN-M futures
(``/dapi/``, 2,400) and the SAPI
(``/sapi/``, 12,000 for IP-limited endpoints); ``exchangeInfo``'s ``rateLimits`` state the
current figures and every answer reports the weight used so far
(``X-MBX-USED-WEIGHT-1M``, ``X-SAPI-USED-IP-WEIGHT-1M``). Endpoints weigh differently, and
some by their arguments: a futures ticker without a symbol weighs the whole market (40).

The table covers the endpoints the ccxt adapter reaches, with the weights of Binance's
endpoint pages; any other endpoint counts 1. Pure: no I/O, no ccxt.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

SPOT = "binance:spot"
FUTURES = "binance:fapi"
COINM = "binance:dapi"
SAPI = "binance:sapi"
#: REQUEST_WEIGHT per minute and IP, as documented (``exchangeInfo`` may say otherwise).
DOCUMENTED_LIMITS: dict[str, int] = {SPOT: 6000, FUTURES: 2400, COINM: 2400, SAPI: 12000}
_USED_HEADER = {
    SPOT: "x-mbx-used-weight-1m",
    FUTURES: "x-mbx-used-weight-1m",
    COINM: "x-mbx-used-weight-1m",
    SAPI: "x-sapi-used-ip-weight-1m",
}
#: Endpoints whose used-weight header Binance documents as inaccurate: not re-synced from.
UNRELIABLE_HEADER = frozenset({"/fapi/v1/ticker/bookTicker"})
_PREFIXES = (("/api/", SPOT), ("/fapi/", FUTURES), ("/dapi/", COINM), ("/sapi/", SAPI))

Params = Mapping[str, Any]
Rule = Callable[[Params], int]


def budget_of(path: str) -> str | None:
    """The per-IP budget a request path counts against (None: not one we budget)."""
    return next((budget for prefix, budget in _PREFIXES if path.startswith(prefix)), None)


def endpoint_path(urls: Mapping[str, Any], api: Sequence[str] | str, path: str) -> str | None:
    """The URL path ccxt will request for ``api`` (e.g. ``["fapiPublic"]``) and ``path``."""
    name = api if isinstance(api, str) else (api[0] if api else None)
    base = urls.get(name) if name is not None else None
    if not isinstance(base, str):
        return None
    return urlsplit(base).path.rstrip("/") + "/" + path.lstrip("/")


def _count(params: Params, name: str) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return 0
    if isinstance(raw, list | tuple):
        return len(raw)
    try:
        value = json.loads(str(raw))
    except ValueError:
        return len(str(raw).split(","))
    return len(value) if isinstance(value, list) else 1


def _limit(params: Params, default: int) -> int:
    try:
        return int(params.get("limit") or default)
    except (TypeError, ValueError):
        return default


def _fixed(weight: int) -> Rule:
    return lambda p: weight


def _by_symbol(one: int, every: int) -> Rule:
    """``one`` for a symbol, ``every`` when the symbol is left out (the whole market)."""
    return lambda p: one if p.get("symbol") else every


def _spot_ticker_24hr(p: Params) -> int:
    if p.get("symbol"):
        return 2
    n = _count(p, "symbols")
    if n == 0:
        return 80
    return 2 if n <= 20 else 40 if n <= 100 else 80


def _spot_depth(p: Params) -> int:
    n = _limit(p, 100)
    return 5 if n <= 100 else 25 if n <= 500 else 50 if n <= 1000 else 250


def _futures_depth(p: Params) -> int:
    n = _limit(p, 500)
    return 2 if n <= 50 else 5 if n <= 100 else 10 if n <= 500 else 20


#: (method, URL path) → weight rule.
WEIGHTS: dict[tuple[str, str], Rule] = {
    # spot
    ("GET", "/api/v3/exchangeInfo"): _fixed(20),
    ("GET", "/api/v3/depth"): _spot_depth,
    ("GET", "/api/v3/ticker/24hr"): _spot_ticker_24hr,
    ("GET", "/api/v3/ticker/price"): _by_symbol(2, 4),
    ("GET", "/api/v3/ticker/bookTicker"): _by_symbol(2, 4),
    ("POST", "/api/v3/order"): _fixed(1),
    ("GET", "/api/v3/order"): _fixed(4),
    ("DELETE", "/api/v3/order"): _fixed(1),
    ("GET", "/api/v3/openOrders"): _by_symbol(6, 80),
    ("GET", "/api/v3/account"): _fixed(20),
    ("GET", "/api/v3/account/commission"): _fixed(20),
    ("GET", "/api/v3/myTrades"): lambda p: 5 if p.get("orderId") else 20,
    # USDⓈ-M futures (orders weigh 0 on the IP: they count against the order limits)
    ("GET", "/fapi/v1/exchangeInfo"): _fixed(1),
    ("GET", "/fapi/v1/depth"): _futures_depth,
    ("GET", "/fapi/v1/ticker/24hr"): _by_symbol(1, 40),
    ("GET", "/fapi/v1/ticker/price"): _by_symbol(1, 2),
    ("GET", "/fapi/v2/ticker/price"): _by_symbol(1, 2),
    ("GET", "/fapi/v1/ticker/bookTicker"): _by_symbol(2, 5),
    ("POST", "/fapi/v1/order"): _fixed(0),
    ("GET", "/fapi/v1/order"): _fixed(1),
    ("DELETE", "/fapi/v1/order"): _fixed(1),
    ("POST", "/fapi/v1/algoOrder"): _fixed(0),
    ("GET", "/fapi/v1/algoOrder"): _fixed(1),
    ("DELETE", "/fapi/v1/algoOrder"): _fixed(1),
    ("GET", "/fapi/v1/openOrders"): _by_symbol(1, 40),
    ("GET", "/fapi/v1/openAlgoOrders"): _by_symbol(1, 40),
    ("GET", "/fapi/v2/account"): _fixed(5),
    ("GET", "/fapi/v3/account"): _fixed(5),
    ("GET", "/fapi/v2/balance"): _fixed(5),
    ("GET", "/fapi/v3/balance"): _fixed(5),
    ("GET", "/fapi/v2/positionRisk"): _fixed(5),
    ("GET", "/fapi/v3/positionRisk"): _fixed(5),
    ("GET", "/fapi/v1/positionSide/dual"): _fixed(30),
    ("POST", "/fapi/v1/positionSide/dual"): _fixed(1),
    ("POST", "/fapi/v1/marginType"): _fixed(1),
    ("POST", "/fapi/v1/leverage"): _fixed(1),
    ("GET", "/fapi/v1/leverageBracket"): _fixed(1),
    ("GET", "/fapi/v1/userTrades"): _fixed(5),
    ("GET", "/fapi/v1/income"): _fixed(30),
    ("GET", "/fapi/v1/commissionRate"): _fixed(20),
    # COIN-M futures (orders weigh 0 on the IP here too)
    ("GET", "/dapi/v1/exchangeInfo"): _fixed(1),
    ("GET", "/dapi/v1/ticker/24hr"): _by_symbol(1, 40),
    ("GET", "/dapi/v1/ticker/price"): _by_symbol(1, 2),
    ("GET", "/dapi/v1/ticker/bookTicker"): _by_symbol(2, 5),
    ("POST", "/dapi/v1/order"): _fixed(0),
    ("GET", "/dapi/v1/order"): _fixed(1),
    ("DELETE", "/dapi/v1/order"): _fixed(1),
    ("GET", "/dapi/v1/openOrders"): _by_symbol(1, 40),
    ("GET", "/dapi/v1/account"): _fixed(5),
    ("GET", "/dapi/v1/balance"): _fixed(1),
    ("GET", "/dapi/v1/positionRisk"): _fixed(1),
    ("GET", "/dapi/v1/positionSide/dual"): _fixed(30),
    ("POST", "/dapi/v1/marginType"): _fixed(1),
    ("POST", "/dapi/v1/leverage"): _fixed(1),
    ("GET", "/dapi/v2/leverageBracket"): _fixed(1),
    ("GET", "/dapi/v1/userTrades"): lambda p: 20 if p.get("symbol") else 40,
    ("GET", "/dapi/v1/income"): _fixed(20),
    # SAPI (IP-limited endpoints)
    ("GET", "/sapi/v1/account/apiRestrictions"): _fixed(1),
}


def request_weight(method: str, path: str, params: Params) -> int:
    """The weight Binance charges the IP for one request (1 where the table is silent)."""
    rule = WEIGHTS.get((method.upper(), path))
    return 1 if rule is None else rule(params)


def request_weight_limit(exchange_info: Mapping[str, Any]) -> int | None:
    """REQUEST_WEIGHT per minute from an ``exchangeInfo`` answer, if it states one."""
    limits = exchange_info.get("rateLimits")
    if not isinstance(limits, list):
        return None
    for entry in limits:
        if (
            isinstance(entry, Mapping)
            and entry.get("rateLimitType") == "REQUEST_WEIGHT"
            and entry.get("interval") == "MINUTE"
            and entry.get("intervalNum") == 1
            and isinstance(entry.get("limit"), int)
            and entry["limit"] > 0
        ):
            return int(entry["limit"])
    return None


def used_weight(budget: str, headers: Mapping[str, Any] | None) -> int | None:
    """The weight the IP has used this minute, as an answer's header reports it."""
    wanted = _USED_HEADER.get(budget)
    if not headers or wanted is None:
        return None
    for key, value in headers.items():
        if str(key).lower() == wanted:
            try:
                return int(str(value))
            except ValueError:
                return None
    return None
