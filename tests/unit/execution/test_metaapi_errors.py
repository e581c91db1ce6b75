"""MetaApi HTTP statuses and MetaTrader return codes → our error tree."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

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
from signalbridge.venues.metaapi.errors import (
    Resource,
    http_error,
    is_trade_success,
    retry_after_seconds,
    trade_error,
    transport_error,
)

NOW = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("numeric", "string"),
    [
        (0, "ERR_NO_ERROR"),
        (10008, "TRADE_RETCODE_PLACED"),
        (10009, "TRADE_RETCODE_DONE"),
        (10010, "TRADE_RETCODE_DONE_PARTIAL"),
        (10025, "TRADE_RETCODE_NO_CHANGES"),
    ],
)
def test_success_codes_are_not_errors(numeric: int, string: str) -> None:
    result = {"numericCode": numeric, "stringCode": string, "message": "ok"}
    assert is_trade_success(result)
    assert trade_error(result) is None


@pytest.mark.parametrize(
    ("numeric", "string", "expected"),
    [
        (10019, "TRADE_RETCODE_NO_MONEY", InsufficientFunds),
        (134, "ERR_NOT_ENOUGH_MONEY", InsufficientFunds),
        (10016, "TRADE_RETCODE_INVALID_STOPS", InvalidRequest),
        (10014, "TRADE_RETCODE_INVALID_VOLUME", InvalidRequest),
        (10015, "TRADE_RETCODE_INVALID_PRICE", InvalidRequest),
        (10018, "TRADE_RETCODE_MARKET_CLOSED", InvalidRequest),
        (130, "ERR_INVALID_STOPS", InvalidRequest),
        (10036, "TRADE_RETCODE_POSITION_CLOSED", OrderNotFound),
        (10004, "TRADE_RETCODE_REQUOTE", TransientError),
        (10020, "TRADE_RETCODE_PRICE_CHANGED", TransientError),
        (10021, "TRADE_RETCODE_PRICE_OFF", TransientError),
        (-10, "TRADE_RETCODE_DISCONNECTED_BEFORE_TRADE", TransientError),
        (138, "ERR_REQUOTE", TransientError),
        (10024, "TRADE_RETCODE_TOO_MANY_REQUESTS", RateLimited),
        (10012, "TRADE_RETCODE_TIMEOUT", AmbiguousOutcome),
        (10031, "TRADE_RETCODE_CONNECTION", AmbiguousOutcome),
        (-11, "TRADE_RETCODE_DISCONNECTED_DURING_TRADE", AmbiguousOutcome),
        (128, "ERR_TRADE_TIMEOUT", AmbiguousOutcome),
        (10027, "TRADE_RETCODE_CLIENT_DISABLES_AT", AuthenticationError),
        (65, "ERR_INVALID_ACCOUNT", AuthenticationError),
    ],
)
def test_trade_return_codes(numeric: int, string: str, expected: type[IntegrationError]) -> None:
    error = trade_error(
        {"numericCode": numeric, "stringCode": string, "message": "broker says no"},
        connection_id="c1",
    )
    assert type(error) is expected
    assert error.connection_id == "c1"
    assert string in error.message and "broker says no" in error.message


def test_transient_codes_are_not_subclassed_into_ambiguous() -> None:
    # A requote never reached execution: safe to retry, unlike a timeout.
    requote = trade_error({"numericCode": 10004, "stringCode": "TRADE_RETCODE_REQUOTE"})
    assert isinstance(requote, TransientError) and not isinstance(requote, AmbiguousOutcome)


def test_unknown_failing_code_is_ambiguous_not_retryable() -> None:
    error = trade_error({"numericCode": 99999, "stringCode": "SOMETHING_NEW"})
    assert isinstance(error, AmbiguousOutcome)


def test_string_code_used_when_number_missing() -> None:
    error = trade_error({"stringCode": "TRADE_RETCODE_NO_MONEY", "message": "x"})
    assert isinstance(error, InsufficientFunds)
    assert trade_error({"stringCode": "TRADE_RETCODE_DONE"}) is None


@pytest.mark.parametrize(
    ("status", "resource", "expected"),
    [
        (401, Resource.ACCOUNT, AuthenticationError),
        (403, Resource.TRADE, AuthenticationError),
        (404, Resource.ACCOUNT, AuthenticationError),
        (404, Resource.TRADE, AuthenticationError),
        (404, Resource.ORDER, OrderNotFound),
        (404, Resource.POSITION, OrderNotFound),
        (404, Resource.SYMBOL, SymbolNotListed),
        (400, Resource.TRADE, InvalidRequest),
        (409, Resource.ACCOUNT, TransientError),
        (429, Resource.ACCOUNT, RateLimited),
        (500, Resource.ACCOUNT, TransientError),
        (503, Resource.SYMBOL, TransientError),
        (500, Resource.TRADE, AmbiguousOutcome),
        (504, Resource.TRADE, AmbiguousOutcome),
        (408, Resource.ACCOUNT, TransientError),
        (408, Resource.TRADE, AmbiguousOutcome),
    ],
)
def test_http_status_table(status: int, resource: Resource, expected: type) -> None:
    body = {"id": 1, "error": "SomeError", "message": "server detail"}
    error = http_error(status, body, {}, resource=resource, account_id="acc-9", now=lambda: NOW)
    assert type(error) is expected
    assert "server detail" in error.message


def test_unknown_account_404_says_so() -> None:
    error = http_error(404, None, {}, resource=Resource.ACCOUNT, account_id="acc-9")
    assert isinstance(error, AuthenticationError)
    assert "acc-9" in error.message and "not found" in error.message


def test_read_5xx_is_transient_but_not_ambiguous() -> None:
    error = http_error(502, None, {}, resource=Resource.ACCOUNT, account_id="a")
    assert isinstance(error, TransientError) and not isinstance(error, RateLimited)
    assert error.counts_for_breaker


def test_429_retry_after_header_seconds() -> None:
    error = http_error(
        429, {}, {"Retry-After": "7"}, resource=Resource.ACCOUNT, account_id="a", now=lambda: NOW
    )
    assert isinstance(error, RateLimited) and error.retry_after == 7.0


def test_429_retry_after_http_date() -> None:
    headers = {"retry-after": "Mon, 05 Jan 2026 12:00:30 GMT"}
    assert retry_after_seconds(headers, None, now=lambda: NOW) == 30.0


def test_429_recommended_retry_time_in_body() -> None:
    body = {
        "error": "TooManyRequestsError",
        "metadata": {"recommendedRetryTime": "2026-01-05T12:00:12.500Z"},
    }
    assert retry_after_seconds({}, body, now=lambda: NOW) == 12.5


def test_429_without_hint_and_past_times() -> None:
    assert retry_after_seconds({}, {"metadata": {}}, now=lambda: NOW) is None
    assert retry_after_seconds({"retry-after": "garbage"}, None, now=lambda: NOW) is None
    past = {"metadata": {"recommendedRetryTime": "2026-01-05T11:00:00Z"}}
    assert retry_after_seconds({}, past, now=lambda: NOW) == 0.0


def test_transport_errors_before_and_after_sending() -> None:
    request = httpx.Request("POST", "http://127.0.0.1/trade")
    connect = httpx.ConnectError("refused", request=request)
    read_timeout = httpx.ReadTimeout("slow", request=request)
    reset = httpx.RemoteProtocolError("peer closed", request=request)
    assert type(transport_error(connect, resource=Resource.TRADE)) is TransientError
    assert type(transport_error(read_timeout, resource=Resource.TRADE)) is AmbiguousOutcome
    assert type(transport_error(reset, resource=Resource.TRADE)) is AmbiguousOutcome
    assert type(transport_error(read_timeout, resource=Resource.ACCOUNT)) is TransientError
    assert type(transport_error(reset, resource=Resource.POSITION)) is TransientError
    pool = httpx.PoolTimeout("busy", request=request)
    assert type(transport_error(pool, resource=Resource.TRADE)) is TransientError
