"""MetaApi as its documentation and SDK (metaapi-cloud-sdk 29.x) say it behaves, on an
in-process transport: the region's host built from provisioning (items 10), history paged
with offset and limit (11), MetaApi's own return codes, trade errors in a non-2xx body,
409 retried and 202 "try again later" (12)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

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
    TransientError,
)
from signalbridge.venues.metaapi.client import DEFAULT_PROVISIONING_URL, MetaApiClient
from signalbridge.venues.metaapi.errors import Resource, http_error, trade_error
from signalbridge.venues.metaapi.hosts import client_api_url

TOKEN = "truths-test-token-0123456789"
START = datetime(2026, 1, 5, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def provisioning_and_client(
    seen: list[httpx.Request], *, region: str = "london", domain: str = "agiliumtrade.ai"
) -> Any:
    """Provisioning answers the account's region and the domain; the client API answers
    only on the host the SDK builds from them."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        host, path = request.url.host, request.url.path
        if host == "mt-provisioning-api-v1.agiliumtrade.agiliumtrade.ai":
            if path == "/users/current/servers/mt-client-api":
                return httpx.Response(200, json={"hostname": "mt-client-api-v1", "domain": domain})
            if path == "/users/current/accounts/acc-1":
                return httpx.Response(200, json={"_id": "acc-1", "region": region})
        if host == f"mt-client-api-v1.{region}.{domain}" and path.endswith("/positions"):
            return httpx.Response(200, json=[])
        return httpx.Response(404, json={"error": "NotFoundError", "message": f"{host}{path}"})

    return handler


# --- item 10: the client API host of the account's region ------------------------------------


async def test_the_host_is_built_from_the_accounts_region_and_the_provisioned_domain() -> None:
    seen: list[httpx.Request] = []
    clock = Clock()
    client = MetaApiClient(
        account_id="acc-1",
        token=TOKEN,
        provisioning_url=DEFAULT_PROVISIONING_URL,
        transport=httpx.MockTransport(provisioning_and_client(seen)),
        clock=clock,
    )
    assert await client.positions() == []
    assert str(seen[-1].url) == (
        "https://mt-client-api-v1.london.agiliumtrade.ai/users/current/accounts/acc-1/positions"
    )
    assert all(r.headers["auth-token"] == TOKEN for r in seen)
    looked_up = len(seen)
    await client.positions()
    assert len(seen) == looked_up + 1  # cached for this account: no second look-up
    clock.now += timedelta(minutes=11)  # the SDK refreshes its domain every 10 minutes
    await client.positions()
    assert len(seen) > looked_up + 2
    await client.aclose()


async def test_a_configured_region_wins_and_the_domain_still_comes_from_provisioning() -> None:
    seen: list[httpx.Request] = []
    client = MetaApiClient(
        account_id="acc-1",
        token=TOKEN,
        region="singapore",
        provisioning_url=DEFAULT_PROVISIONING_URL,
        transport=httpx.MockTransport(
            provisioning_and_client(seen, region="singapore", domain="example-domain.ai")
        ),
    )
    await client.positions()
    assert seen[-1].url.host == "mt-client-api-v1.singapore.example-domain.ai"
    assert not any(r.url.path == "/users/current/accounts/acc-1" for r in seen)
    await client.aclose()


async def test_no_base_url_and_no_provisioning_cannot_guess_a_region() -> None:
    client = MetaApiClient(account_id="acc-1", token=TOKEN, provisioning_url=None)
    with pytest.raises(InvalidRequest, match="region"):
        await client.positions()
    await client.aclose()


async def test_an_account_record_without_a_region_is_refused_not_guessed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/mt-client-api"):
            return httpx.Response(200, json={"domain": "agiliumtrade.ai"})
        return httpx.Response(200, json={"_id": "acc-1"})

    client = MetaApiClient(
        account_id="acc-1",
        token=TOKEN,
        provisioning_url=DEFAULT_PROVISIONING_URL,
        transport=httpx.MockTransport(handler),
    )
    with pytest.raises(InvalidRequest, match="region"):
        await client.positions()
    await client.aclose()


# --- item 11: history paged with offset and limit --------------------------------------------


async def test_history_is_read_page_by_page_until_a_short_page() -> None:
    deals = [{"id": str(i), "time": "2026-01-05T00:00:00.000Z"} for i in range(2500)]
    asked: list[tuple[int, int]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params.get("offset", "0"))
        limit = int(request.url.params.get("limit", "1000"))
        asked.append((offset, limit))
        return httpx.Response(200, json=deals[offset : offset + min(limit, 1000)])

    client = MetaApiClient(
        account_id="acc-1",
        token=TOKEN,
        base_url="http://127.0.0.1:9",
        transport=httpx.MockTransport(handler),
    )
    got = await client.history_deals(START, START + timedelta(days=1))
    assert [d["id"] for d in got] == [str(i) for i in range(2500)]
    assert asked == [(0, 1000), (1000, 1000), (2000, 1000)]
    asked.clear()
    deals[:] = deals[:2000]  # an exact multiple: one more (empty) page says it is over
    assert len(await client.history_orders(START, START)) == 2000
    assert asked == [(0, 1000), (1000, 1000), (2000, 1000)]
    await client.aclose()


# --- item 12: codes, trade errors in non-2xx bodies, 409, 202 ------------------------------


@pytest.mark.parametrize(
    ("numeric", "string", "expected"),
    [
        (4753, "ERR_TRADE_POSITION_NOT_FOUND", OrderNotFound),
        (4754, "ERR_TRADE_ORDER_NOT_FOUND", OrderNotFound),
        (-8, "ERR_INVESTOR", AuthenticationError),
        (-9, "ERR_PIP_SIZE_NOT_DEFINED", InvalidRequest),
        (-7, "ERR_TRADE_TIMED_OUT", AmbiguousOutcome),
        (-6, "ERR_NO_QUOTES", TransientError),
        (-5, "ERR_NOT_SYNCHRONIZED", TransientError),
        (-4, "TRADE_RETCODE_ORDER_TYPE_NOT_SUPPORTED", InvalidRequest),
        (-1, "TRADE_RETCODE_UNKNOWN", AmbiguousOutcome),
    ],
)
def test_metaapis_own_codes(numeric: int, string: str, expected: type[IntegrationError]) -> None:
    error = trade_error({"numericCode": numeric, "stringCode": string, "message": "m"})
    assert type(error) is expected


@pytest.mark.parametrize("status", [400, 500])
def test_a_trade_error_in_a_non_2xx_body_is_that_trade_error(status: int) -> None:
    body = {
        "id": 1,
        "error": "TradeError",
        "message": "No money",
        "numericCode": 10019,
        "stringCode": "TRADE_RETCODE_NO_MONEY",
    }
    error = http_error(status, body, {}, resource=Resource.TRADE, account_id="a")
    assert type(error) is InsufficientFunds and "TRADE_RETCODE_NO_MONEY" in error.message
    body.update(numericCode=4753, stringCode="ERR_TRADE_POSITION_NOT_FOUND")
    error = http_error(status, body, {}, resource=Resource.TRADE, account_id="a")
    assert type(error) is OrderNotFound


@pytest.mark.parametrize("resource", [Resource.ACCOUNT, Resource.POSITION, Resource.TRADE])
def test_409_is_retried_as_the_sdk_retries_it(resource: Resource) -> None:
    # metaapi_cloud_sdk.clients.http_client retries ConflictException (409) with backoff.
    body = {"id": 1, "error": "ConflictError", "message": "busy"}
    error = http_error(409, body, {}, resource=resource, account_id="a")
    assert type(error) is TransientError


async def test_202_with_retry_after_means_try_again_later() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"status": "processing", "message": "not ready"}
        return httpx.Response(202, json=body, headers={"retry-after": "7"})

    client = MetaApiClient(
        account_id="acc-1",
        token=TOKEN,
        base_url="http://127.0.0.1:9",
        transport=httpx.MockTransport(handler),
    )
    with pytest.raises(RateLimited) as read:
        await client.positions()
    assert read.value.retry_after == 7.0 and "202" in read.value.message
    with pytest.raises(AmbiguousOutcome):  # accepted, not answered: look it up first
        await client.trade({"actionType": "ORDER_TYPE_BUY"})
    await client.aclose()


@pytest.mark.parametrize(
    ("region", "domain"), [("london\n", "agiliumtrade.ai"), ("london", "x.ai\n")]
)
def test_a_region_or_domain_with_a_trailing_newline_is_refused(region: str, domain: str) -> None:
    with pytest.raises(TransientError, match="unusable"):
        client_api_url("https://mt-provisioning-api-v1.agiliumtrade.ai", region, domain)
