"""Binance's request weights per endpoint and argument, and its per-IP budgets (issue 13,
item 7). Values from Binance's API documentation (spot REST, USDⓈ-M futures, SAPI)."""

from __future__ import annotations

import json

import ccxt.async_support as ccxt
import pytest

from signalbridge.integrations import errors as sb
from signalbridge.venues.ccxt.binance_weights import (
    COINM,
    DOCUMENTED_LIMITS,
    FUTURES,
    SAPI,
    SPOT,
    budget_of,
    endpoint_path,
    request_weight,
    request_weight_limit,
    used_weight,
)
from signalbridge.venues.ccxt.errors import translate


@pytest.mark.parametrize(
    ("method", "path", "params", "weight"),
    [
        # USDⓈ-M futures: a ticker without a symbol weighs the whole market
        ("GET", "/fapi/v1/ticker/24hr", {}, 40),
        ("GET", "/fapi/v1/ticker/24hr", {"symbol": "BTCUSDT"}, 1),
        ("GET", "/fapi/v1/ticker/price", {}, 2),
        ("GET", "/fapi/v2/ticker/price", {"symbol": "BTCUSDT"}, 1),
        ("GET", "/fapi/v1/ticker/bookTicker", {}, 5),
        ("GET", "/fapi/v1/ticker/bookTicker", {"symbol": "BTCUSDT"}, 2),
        ("GET", "/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": 1000}, 20),
        ("GET", "/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": 50}, 2),
        ("GET", "/fapi/v1/openOrders", {}, 40),
        ("GET", "/fapi/v1/openOrders", {"symbol": "BTCUSDT"}, 1),
        ("GET", "/fapi/v1/openAlgoOrders", {}, 40),
        ("POST", "/fapi/v1/order", {"symbol": "BTCUSDT"}, 0),  # order count only
        ("POST", "/fapi/v1/algoOrder", {"symbol": "BTCUSDT"}, 0),
        ("GET", "/fapi/v1/order", {"symbol": "BTCUSDT"}, 1),
        ("GET", "/fapi/v1/algoOrder", {"clientAlgoId": "x"}, 1),
        ("GET", "/fapi/v3/account", {}, 5),
        ("GET", "/fapi/v3/positionRisk", {}, 5),
        ("GET", "/fapi/v1/positionSide/dual", {}, 30),
        ("GET", "/fapi/v1/userTrades", {"symbol": "BTCUSDT"}, 5),
        ("GET", "/fapi/v1/exchangeInfo", {}, 1),
        # spot
        ("GET", "/api/v3/exchangeInfo", {}, 20),
        ("GET", "/api/v3/ticker/24hr", {"symbol": "BTCUSDT"}, 2),
        ("GET", "/api/v3/ticker/24hr", {"symbols": json.dumps(["A"] * 20)}, 2),
        ("GET", "/api/v3/ticker/24hr", {"symbols": json.dumps(["A"] * 21)}, 40),
        ("GET", "/api/v3/ticker/24hr", {"symbols": json.dumps(["A"] * 101)}, 80),
        ("GET", "/api/v3/ticker/24hr", {}, 80),
        ("GET", "/api/v3/ticker/bookTicker", {"symbol": "BTCUSDT"}, 2),
        ("GET", "/api/v3/ticker/bookTicker", {}, 4),
        ("GET", "/api/v3/depth", {"symbol": "BTCUSDT"}, 5),
        ("GET", "/api/v3/depth", {"symbol": "BTCUSDT", "limit": "5000"}, 250),
        ("GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"}, 6),
        ("GET", "/api/v3/openOrders", {}, 80),
        ("GET", "/api/v3/order", {"symbol": "BTCUSDT"}, 4),
        ("POST", "/api/v3/order", {"symbol": "BTCUSDT"}, 1),
        ("DELETE", "/api/v3/order", {"symbol": "BTCUSDT"}, 1),
        ("GET", "/api/v3/account", {}, 20),
        ("GET", "/api/v3/myTrades", {"symbol": "BTCUSDT"}, 20),
        ("GET", "/api/v3/myTrades", {"symbol": "BTCUSDT", "orderId": "7"}, 5),
        ("GET", "/sapi/v1/account/apiRestrictions", {}, 1),
        ("GET", "/api/v3/somethingNew", {}, 1),  # undocumented here: the default
    ],
)
def test_documented_weights(method: str, path: str, params: dict[str, str], weight: int) -> None:
    assert request_weight(method, path, params) == weight


def test_budgets_per_family_with_documented_limits() -> None:
    assert budget_of("/api/v3/order") == SPOT
    assert budget_of("/fapi/v1/order") == FUTURES
    assert budget_of("/sapi/v1/account/apiRestrictions") == SAPI
    assert budget_of("/dapi/v1/order") == COINM  # COIN-M: its own host and budget
    assert budget_of("/eapi/v1/order") is None
    assert len({SPOT, FUTURES, COINM, SAPI}) == 4
    assert DOCUMENTED_LIMITS == {SPOT: 6000, FUTURES: 2400, COINM: 2400, SAPI: 12000}


def test_endpoint_path_from_ccxt_urls() -> None:
    urls = {"fapiPublic": "https://fapi.binance.com/fapi/v1", "public": "http://127.0.0.1:9/api/v3"}
    assert endpoint_path(urls, ["fapiPublic"], "ticker/24hr") == "/fapi/v1/ticker/24hr"
    assert endpoint_path(urls, ["public"], "exchangeInfo") == "/api/v3/exchangeInfo"
    assert endpoint_path(urls, ["nope"], "x") is None


def test_limit_read_from_exchange_info() -> None:
    info = {
        "rateLimits": [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": 2400,
            },
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
        ]
    }
    assert request_weight_limit(info) == 2400
    assert request_weight_limit({"rateLimits": []}) is None
    assert request_weight_limit({"rateLimits": "nonsense"}) is None


def test_used_weight_header() -> None:
    assert used_weight(SPOT, {"x-mbx-used-weight-1m": "123"}) == 123
    assert used_weight(SAPI, {"X-SAPI-USED-IP-WEIGHT-1M": "7"}) == 7
    assert used_weight(FUTURES, {}) is None
    assert used_weight(FUTURES, {"X-MBX-USED-WEIGHT-1M": "junk"}) is None


class _Exchange:
    """What translate reads from a ccxt instance: its id and the last answer's headers."""

    id = "binance"

    def __init__(self, headers: dict[str, str]) -> None:
        self.last_response_headers = headers


BANNED = (
    'binance 418 I\'m a teapot {"code": -1003, "msg": "Way too much request weight used; '
    'IP banned until 1700000600000. Please use WebSocket Streams for live updates to avoid bans."}'
)


def test_a_418_without_retry_after_is_held_for_the_ban_it_states() -> None:
    error = translate(ccxt.DDoSProtection(BANNED), write=False, exchange=_Exchange({}))
    assert isinstance(error, sb.RateLimited)
    assert error.banned and error.banned_until == 1_700_000_600.0
    assert error.retry_after is not None and error.retry_after >= 0


def test_retry_after_wins_when_sent() -> None:
    headers = {"Retry-After": "90"}
    error = translate(ccxt.DDoSProtection(BANNED), write=False, exchange=_Exchange(headers))
    assert isinstance(error, sb.RateLimited)
    assert (error.retry_after, error.banned_until) == (90.0, 1_700_000_600.0)


def test_a_429_is_not_a_ban() -> None:
    text = 'binance 429 Too Many Requests {"code": -1003, "msg": "Too many requests"}'
    headers = {"Retry-After": "7"}
    error = translate(ccxt.DDoSProtection(text), write=True, exchange=_Exchange(headers))
    assert isinstance(error, sb.RateLimited)
    assert (error.retry_after, error.banned, error.banned_until) == (7.0, False, None)
