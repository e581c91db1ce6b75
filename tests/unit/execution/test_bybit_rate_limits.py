"""Bybit's refusals for load (https://bybit-exchange.github.io/docs/v5/rate-limit): a 10006
waits until ``X-Bapi-Limit-Reset-Timestamp`` (bounded), an HTTP 403 is an IP ban."""

from __future__ import annotations

import time
from typing import Any

import ccxt.async_support as ccxt
from hypothesis import given
from hypothesis import strategies as st

from signalbridge.integrations import errors as sb
from signalbridge.venues.ccxt.errors import RESET_WAIT_MAX, retry_after_seconds, translate

NOW = 1_700_000_000.0
TOO_MANY = 'bybit {"retCode":10006,"retMsg":"Too many visits!","result":{},"time":1}'
FORBIDDEN = "bybit GET https://api.bybit.com/v5/position/list 403 Forbidden access too frequent"


class Exchange:
    """What translate() reads from a ccxt instance: its id and the last answer's headers."""

    def __init__(self, exchange_id: str, headers: dict[str, str] | None = None) -> None:
        self.id = exchange_id
        self.last_response_headers = headers or {}


def reset_header(ms: int) -> dict[str, str]:
    return {
        "X-Bapi-Limit": "10",
        "X-Bapi-Limit-Status": "0",
        "X-Bapi-Limit-Reset-Timestamp": str(ms),
    }


def test_the_wait_is_the_reset_timestamp_minus_now_within_bounds() -> None:
    at = int(NOW * 1000)
    assert retry_after_seconds(reset_header(at + 2500), now=NOW) == 2.5
    assert retry_after_seconds(reset_header(at + 3_600_000), now=NOW) == RESET_WAIT_MAX == 60.0
    assert retry_after_seconds(reset_header(at - 5000), now=NOW) == 0.0  # our clock is ahead
    assert retry_after_seconds(reset_header(at), now=NOW) == 0.0  # an answer within the limit
    assert retry_after_seconds({"x-bapi-limit-reset-timestamp": "soon"}, now=NOW) is None
    assert retry_after_seconds({"Retry-After": "7", **reset_header(at + 2500)}, now=NOW) == 7.0


@given(st.text(max_size=30) | st.integers().map(str))
def test_any_reset_header_gives_none_or_a_bounded_wait(value: str) -> None:
    wait = retry_after_seconds({"X-Bapi-Limit-Reset-Timestamp": value}, now=NOW)
    assert wait is None or 0.0 <= wait <= RESET_WAIT_MAX


def test_a_10006_waits_for_the_reset_the_answer_named() -> None:
    reset_ms = int(time.time() * 1000) + 4000
    before = time.time()
    out = translate(
        ccxt.RateLimitExceeded(TOO_MANY),
        write=True,
        exchange=Exchange("bybit", reset_header(reset_ms)),
    )
    after = time.time()
    assert isinstance(out, sb.RateLimited) and not out.banned
    assert out.retry_after is not None
    assert reset_ms / 1000 - after <= out.retry_after <= reset_ms / 1000 - before


def test_bybits_403_is_an_ip_ban_of_at_least_ten_minutes() -> None:
    for headers in ({}, reset_header(int(time.time() * 1000))):
        out: Any = translate(
            ccxt.RateLimitExceeded(FORBIDDEN), write=False, exchange=Exchange("bybit", headers)
        )
        assert isinstance(out, sb.RateLimited) and not isinstance(out, sb.AuthenticationError)
        assert (out.banned, out.retry_after, out.banned_until) == (True, 600.0, None)
        assert "access too frequent" in out.message


def test_another_venues_403_is_no_bybit_ban() -> None:
    text = FORBIDDEN.replace("bybit", "okx")
    out = translate(ccxt.RateLimitExceeded(text), write=False, exchange=Exchange("okx"))
    assert isinstance(out, sb.RateLimited) and not out.banned and out.retry_after is None
