"""How the fake Binance counts request weight: per endpoint and argument, per IP and minute.

A copy of what Binance documents, not of our client's table: spot (``/api/``), USDⓈ-M
futures (``/fapi/``) and the SAPI (``/sapi/``) have separate per-IP budgets (6,000, 2,400
and 12,000 a minute, as ``exchangeInfo``'s ``rateLimits`` say), counted in calendar
minutes; every answer carries the family's used weight
(``X-MBX-USED-WEIGHT-1M`` / ``X-SAPI-USED-IP-WEIGHT-1M``). Over the budget Binance answers
429 with ``Retry-After``; an IP that keeps sending while told to wait is banned: 418,
``{"code": -1003, "msg": "Way too much request weight used; IP banned until <ms>. ..."}``
(the SAPI never escalates to a ban). Thresholds are set through :class:`WeightMeter`'s
methods so tests stay fast.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

FAMILIES = ("spot", "futures", "sapi", "coinm")
DOCUMENTED_LIMITS = {"spot": 6000, "futures": 2400, "sapi": 12000, "coinm": 2400}
_HEADER = {
    "spot": "X-MBX-USED-WEIGHT-1M",
    "futures": "X-MBX-USED-WEIGHT-1M",
    "coinm": "X-MBX-USED-WEIGHT-1M",
    "sapi": "X-SAPI-USED-IP-WEIGHT-1M",
}


def family(path: str) -> str:
    """Which per-IP budget a path counts against (unknown paths: the spot host's)."""
    if path.startswith("/fapi/"):
        return "futures"
    if path.startswith("/dapi/"):  # COIN-M, its own host and budget
        return "coinm"
    if path.startswith("/sapi/"):
        return "sapi"
    return "spot"


def _count(params: Mapping[str, str], name: str) -> int:
    raw = params.get(name)
    if not raw:
        return 0
    try:
        value = json.loads(raw)
    except ValueError:
        return len(raw.split(","))
    return len(value) if isinstance(value, list) else 1


def _limit(params: Mapping[str, str], default: int) -> int:
    try:
        return int(params.get("limit") or default)
    except ValueError:
        return default


def _spot_depth(p: Mapping[str, str]) -> int:
    n = _limit(p, 100)
    return 5 if n <= 100 else 25 if n <= 500 else 50 if n <= 1000 else 250


def _futures_depth(p: Mapping[str, str]) -> int:
    n = _limit(p, 500)
    return 2 if n <= 50 else 5 if n <= 100 else 10 if n <= 500 else 20


def _spot_24hr(p: Mapping[str, str]) -> int:
    if p.get("symbol"):
        return 2
    n = _count(p, "symbols")
    if n == 0:
        return 80
    return 2 if n <= 20 else 40 if n <= 100 else 80


def _symbol(one: int, every: int) -> Callable[[Mapping[str, str]], int]:
    return lambda p: one if p.get("symbol") else every


def _fixed(n: int) -> Callable[[Mapping[str, str]], int]:
    return lambda p: n


def _futures_klines(p: Mapping[str, str]) -> int:
    """USDⓈ-M klines weigh by LIMIT: [1,100) 1, [100,500) 2, [500,1000] 5, > 1000 10."""
    try:
        limit = int(p.get("limit", "500"))
    except ValueError:
        return 1
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


#: (method, path) → weight, from Binance's endpoint pages.
_TABLE: dict[tuple[str, str], Callable[[Mapping[str, str]], int]] = {
    ("GET", "/api/v3/exchangeInfo"): _fixed(20),
    ("GET", "/api/v3/depth"): _spot_depth,
    ("GET", "/api/v3/ticker/24hr"): _spot_24hr,
    ("GET", "/api/v3/ticker/price"): _symbol(2, 4),
    ("GET", "/api/v3/ticker/bookTicker"): _symbol(2, 4),
    ("GET", "/api/v3/klines"): _fixed(2),
    ("POST", "/api/v3/order"): _fixed(1),
    ("GET", "/api/v3/order"): _fixed(4),
    ("DELETE", "/api/v3/order"): _fixed(1),
    ("GET", "/api/v3/openOrders"): _symbol(6, 80),
    ("GET", "/api/v3/account"): _fixed(20),
    ("GET", "/api/v3/myTrades"): lambda p: 5 if p.get("orderId") else 20,
    ("GET", "/fapi/v1/exchangeInfo"): _fixed(1),
    ("GET", "/fapi/v1/depth"): _futures_depth,
    ("GET", "/fapi/v1/ticker/24hr"): _symbol(1, 40),
    ("GET", "/fapi/v1/ticker/price"): _symbol(1, 2),
    ("GET", "/fapi/v2/ticker/price"): _symbol(1, 2),
    ("GET", "/fapi/v1/ticker/bookTicker"): _symbol(2, 5),
    ("GET", "/fapi/v1/klines"): _futures_klines,
    ("POST", "/fapi/v1/order"): _fixed(0),  # counts against the order limits only
    ("POST", "/fapi/v1/algoOrder"): _fixed(0),
    ("GET", "/fapi/v1/openOrders"): _symbol(1, 40),
    ("GET", "/fapi/v1/openAlgoOrders"): _symbol(1, 40),
    ("GET", "/fapi/v2/account"): _fixed(5),
    ("GET", "/fapi/v3/account"): _fixed(5),
    ("GET", "/fapi/v2/balance"): _fixed(5),
    ("GET", "/fapi/v3/balance"): _fixed(5),
    ("GET", "/fapi/v2/positionRisk"): _fixed(5),
    ("GET", "/fapi/v3/positionRisk"): _fixed(5),
    ("GET", "/fapi/v1/positionSide/dual"): _fixed(30),
    ("GET", "/fapi/v1/userTrades"): _fixed(5),
    ("GET", "/dapi/v1/exchangeInfo"): _fixed(1),
    ("GET", "/dapi/v1/ticker/24hr"): _symbol(1, 40),
    ("GET", "/dapi/v1/ticker/price"): _symbol(1, 2),
    ("GET", "/dapi/v1/ticker/bookTicker"): _symbol(2, 5),
    ("POST", "/dapi/v1/order"): _fixed(0),  # counts against the order limits only
    ("GET", "/dapi/v1/openOrders"): _symbol(1, 40),
    ("GET", "/dapi/v1/account"): _fixed(5),
    ("GET", "/dapi/v1/positionSide/dual"): _fixed(30),
    ("GET", "/dapi/v1/userTrades"): lambda p: 20 if p.get("symbol") else 40,
    ("GET", "/dapi/v1/income"): _fixed(20),
    ("GET", "/fapi/v1/income"): _fixed(30),
}


def weight(method: str, path: str, params: Mapping[str, str]) -> int:
    """The documented weight of one request (1 where no page says otherwise)."""
    rule = _TABLE.get((method.upper(), path))
    return 1 if rule is None else rule(params)


@dataclass(frozen=True)
class Refusal:
    """A 429 (slow down) or 418 (IP banned) answer and what it says."""

    status: int
    retry_after: float
    banned_until: float | None
    limit: int


@dataclass
class _Budget:
    limit: int
    window: int = -1
    used: int = 0
    throttled_until: float = 0.0
    banned_until: float = 0.0
    strikes: int = 0
    ban_after: int = 1
    ban_seconds: float = 120.0


@dataclass
class WeightMeter:
    """The per-IP weight budgets of one fake Binance (``clock``: epoch seconds)."""

    clock: Callable[[], float]
    limits: dict[str, int] = field(default_factory=lambda: dict(DOCUMENTED_LIMITS))
    #: requests that arrived while the IP was told to wait or banned
    requests_while_limited: int = 0

    def __post_init__(self) -> None:
        self._budgets = {f: _Budget(self.limits.get(f, DOCUMENTED_LIMITS[f])) for f in FAMILIES}

    # -- controls --------------------------------------------------------------------------

    def set_limit(self, family_name: str, limit: int) -> None:
        """The family's REQUEST_WEIGHT per minute (``exchangeInfo`` states it too)."""
        self._budgets[family_name].limit = limit

    def limit(self, family_name: str) -> int:
        return self._budgets[family_name].limit

    def spend(self, family_name: str, amount: int) -> None:
        """Weight used on this IP by someone else (another program behind the same IP)."""
        b = self._current(family_name)
        b.used += amount

    def rate_limit(
        self,
        retry_after: float,
        *,
        ban_after: int = 1,
        ban_seconds: float = 120.0,
        family_name: str | None = None,
    ) -> None:
        """Answer 429 for ``retry_after`` seconds; more than ``ban_after`` requests inside
        that window earn a 418 ban of ``ban_seconds`` (the SAPI never bans)."""
        for name in FAMILIES if family_name is None else (family_name,):
            b = self._budgets[name]
            b.throttled_until = self.clock() + retry_after
            b.ban_after, b.ban_seconds, b.strikes = ban_after, ban_seconds, 0

    def ban(self, seconds: float, *, family_name: str | None = None) -> None:
        """The IP is banned from now for ``seconds`` (418 to every request)."""
        for name in FAMILIES if family_name is None else (family_name,):
            self._budgets[name].banned_until = self.clock() + seconds

    # -- reads ---------------------------------------------------------------------------

    def used(self, family_name: str) -> int:
        """Weight used in the current minute."""
        return self._current(family_name).used

    def headers(self, path: str) -> dict[str, str]:
        name = family(path)
        return {_HEADER[name]: str(self.used(name))}

    # -- the check every request goes through --------------------------------------------

    def charge(self, method: str, path: str, params: Mapping[str, str]) -> Refusal | None:
        """Count one request; the refusal Binance would answer instead, if any."""
        name = family(path)
        now = self.clock()
        b = self._current(name)
        if now < b.banned_until:
            self.requests_while_limited += 1
            return Refusal(418, b.banned_until - now, b.banned_until, b.limit)
        if now < b.throttled_until:
            self.requests_while_limited += 1
            b.strikes += 1
            if b.strikes > b.ban_after and name != "sapi":
                b.banned_until = now + b.ban_seconds
                return Refusal(418, b.ban_seconds, b.banned_until, b.limit)
            return Refusal(429, b.throttled_until - now, None, b.limit)
        cost = weight(method, path, params)
        if b.used + cost > b.limit:
            b.throttled_until = (math.floor(now / 60) + 1) * 60.0
            b.strikes = 1
            return Refusal(429, b.throttled_until - now, None, b.limit)
        b.used += cost
        return None

    def _current(self, name: str) -> _Budget:
        b = self._budgets[name]
        window = math.floor(self.clock() / 60)
        if window != b.window:
            b.window, b.used = window, 0
        return b
