"""MetaApiClient on an in-process transport: URLs, headers, body parsing, failure mapping."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from signalbridge.integrations.bounded import ResponseDeadlineExceeded
from signalbridge.integrations.errors import (
    AmbiguousOutcome,
    IntegrationError,
    TransientError,
)
from signalbridge.venues.metaapi.client import MetaApiClient
from signalbridge.venues.metaapi.errors import Resource, http_error, trade_error

TOKEN = "client-test-token-0123456789"


def _client(handler: Any, **kwargs: Any) -> MetaApiClient:
    return MetaApiClient(
        account_id="acc/1",
        token=TOKEN,
        base_url="http://127.0.0.1:9/",
        provisioning_url="http://127.0.0.1:9",
        transport=httpx.MockTransport(handler),
        **kwargs,
    )


async def test_paths_headers_and_exact_numbers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/trade"):
            return httpx.Response(200, content=b'{"numericCode":10009,"orderId":"5"}')
        return httpx.Response(200, content=b'{"bid":1.084625,"ask":1.08470}')

    client = _client(handler)
    price = await client.current_price("EUR/USD.r#")
    assert price["bid"] == Decimal("1.084625") and isinstance(price["ask"], Decimal)
    await client.trade({"actionType": "ORDER_TYPE_BUY", "volume": Decimal("0.10")})
    start = datetime(2026, 1, 5, 10, 0, 0, 123456, tzinfo=UTC)
    seen_paths = [r.url.raw_path.decode() for r in seen]
    assert seen_paths[0] == "/users/current/accounts/acc%2F1/symbols/EUR%2FUSD.r%23/current-price"
    assert seen[1].content == b'{"actionType":"ORDER_TYPE_BUY","volume":0.10}'
    assert all(r.headers["auth-token"] == TOKEN for r in seen)
    assert "authorization" not in seen[0].headers

    def history(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[])

    hist = _client(history)
    assert await hist.history_deals(start, start) == []
    assert seen[-1].url.path.endswith(
        "/history-deals/time/2026-01-05T10:00:00.123Z/2026-01-05T10:00:00.123Z"
    )
    await client.aclose()
    await hist.aclose()


async def test_injected_client_is_not_closed_and_token_per_request() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"_id": "x", "connectionStatus": "CONNECTED"})

    shared = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = MetaApiClient(account_id="a", token=TOKEN, http=shared, provisioning_url="http://p")
    assert (await client.account_state()) == {"_id": "x", "connectionStatus": "CONNECTED"}
    await client.aclose()
    assert not shared.is_closed and "auth-token" not in shared.headers
    await shared.aclose()
    assert (
        await MetaApiClient(account_id="a", token=TOKEN, provisioning_url=None).account_state()
        is None
    )


def test_needs_account_and_token() -> None:
    with pytest.raises(ValueError):
        MetaApiClient(account_id="", token=TOKEN)
    with pytest.raises(ValueError):
        MetaApiClient(account_id="a", token="")


async def test_broken_bodies() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/positions"):
            return httpx.Response(200, json={"not": "a list"})
        return httpx.Response(200, content=b"<html>oops")

    client = _client(handler)
    with pytest.raises(TransientError) as read:
        await client.positions()
    assert not isinstance(read.value, AmbiguousOutcome)
    with pytest.raises(TransientError):
        await client.account_information()
    with pytest.raises(AmbiguousOutcome):
        await client.trade({"actionType": "ORDER_TYPE_SELL"})


async def test_kernel_deadline_on_a_trade_is_ambiguous() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise ResponseDeadlineExceeded("total time budget exceeded")

    client = _client(handler)
    with pytest.raises(AmbiguousOutcome, match="budget"):
        await client.trade({"actionType": "ORDER_TYPE_BUY"})
    with pytest.raises(TransientError) as read:
        await client.orders()
    assert not isinstance(read.value, AmbiguousOutcome)


async def test_connect_failure_on_trade_is_plain_transient() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(TransientError) as info:
        await _client(handler).trade({"actionType": "ORDER_TYPE_BUY"})
    assert not isinstance(info.value, AmbiguousOutcome)


async def test_token_echoed_by_server_is_scrubbed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": "ValidationError", "message": f"bad {TOKEN}"})

    with pytest.raises(IntegrationError) as info:
        await _client(handler).trade({"actionType": "X"})
    assert TOKEN not in str(info.value) and "****" in info.value.message
    assert TOKEN not in repr(_client(handler))


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)


@given(st.dictionaries(st.sampled_from(["numericCode", "stringCode", "message", "x"]), _json))
def test_any_trade_result_maps_to_none_or_our_error(result: dict[str, Any]) -> None:
    error = trade_error(result)
    assert error is None or isinstance(error, IntegrationError)


@given(
    st.integers(min_value=400, max_value=599),
    st.one_of(st.none(), st.dictionaries(st.text(max_size=10), _json, max_size=4)),
    st.dictionaries(st.sampled_from(["retry-after", "x"]), st.text(max_size=30), max_size=2),
    st.sampled_from(list(Resource)),
)
def test_any_http_failure_maps_to_our_error(
    status: int, body: dict[str, Any] | None, headers: dict[str, str], resource: Resource
) -> None:
    error = http_error(status, body, headers, resource=resource, account_id="a")
    assert isinstance(error, IntegrationError)
    json.dumps(error.message)
