"""The MetaApi fake's answers fed through the official SDK (metaapi-cloud-sdk 29.1.1): its
HTTP client (error classes, the 202 and 409 retries, 429's recommendedRetryTime), its
domain client (the region's host), its models' fields and its time parser. What the SDK
reads from the fake, it would read from MetaApi; where it disagrees, the fake is wrong."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from tests.fakes.metaapi import FakeMetaApi
from tests.integration.execution.test_metaapi_adapter import TOKEN

from signalbridge.venues.metaapi.client import MetaApiClient
from signalbridge.venues.metaapi.errors import is_trade_success

sdk_http = pytest.importorskip("metaapi_cloud_sdk.clients.http_client")
sdk_domain = pytest.importorskip("metaapi_cloud_sdk.clients.domain_client")
sdk_errors = pytest.importorskip("metaapi_cloud_sdk.clients.error_handler")
sdk_models = pytest.importorskip("metaapi_cloud_sdk.metaapi.models")

D = Decimal
ACCOUNT = "acc-sdk"
DOMAIN = "metaapi.test"
#: Fields the fake sends that the SDK's TypedDicts do not list (MetaApi's examples do).
EXTRA = {"platform"}


class ToFake(httpx.AsyncBaseTransport):
    """Sends every request to the fake, keeping its URL's host in the Host header: the SDK
    hard-codes https hosts; only the address changes, the rest is the SDK's own."""

    def __init__(self, fake: FakeMetaApi) -> None:
        self.fake = fake
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        moved = request.url.copy_with(scheme="http", host="127.0.0.1", port=self.fake.port)
        forwarded = httpx.Request(
            request.method, moved, headers=request.headers, stream=request.stream
        )
        return await self.inner.handle_async_request(forwarded)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeMetaApi]:
    server = FakeMetaApi(token=TOKEN, domain=DOMAIN)
    server.add_account(ACCOUNT, balance=D(10000), region="london")
    with server:
        yield server


@pytest.fixture(autouse=True)
def sdk_reaches_the_fake(fake: FakeMetaApi, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's HTTP client builds its ``httpx.AsyncClient`` per request: give it ours."""

    def client(**kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=ToFake(fake), **kwargs)

    monkeypatch.setattr(sdk_http, "httpx", SimpleNamespace(AsyncClient=client))


def http(fake: FakeMetaApi, **retry: Any) -> Any:
    return sdk_http.HttpClient(timeout=5, retry_opts={"retries": 2, **retry})


def get(path: str) -> dict[str, Any]:
    return {
        "url": f"https://mt-client-api-v1.london.{DOMAIN}/users/current/accounts/{ACCOUNT}{path}",
        "method": "GET",
        "headers": {"auth-token": TOKEN},
    }


def trade(body: dict[str, Any]) -> dict[str, Any]:
    return {**get("/trade"), "method": "POST", "body": body}


def fields(model: Any) -> set[str]:
    return set(model.__annotations__)


async def test_the_sdks_domain_client_builds_the_host_our_client_calls(fake: FakeMetaApi) -> None:
    fake.reset()
    domains = sdk_domain.DomainClient(http(fake), TOKEN, "agiliumtrade.agiliumtrade.ai")
    sdk_url = await domains.get_url("https://mt-client-api-v1", "london")
    ours = MetaApiClient(account_id=ACCOUNT, token=TOKEN, provisioning_url=fake.base_url)
    try:
        built = httpx.URL(await ours.client_api_base())
    finally:
        await ours.aclose()
    assert httpx.URL(sdk_url).host == built.host == fake.client_api_host("london")


async def test_the_sdk_reads_the_fakes_account_positions_orders_and_history(
    fake: FakeMetaApi,
) -> None:
    fake.reset()
    client = http(fake)
    opened = await client.request(
        trade({"actionType": "ORDER_TYPE_BUY", "symbol": "EURUSDm", "volume": 0.1,
               "clientId": "sb_1_e0", "stopLoss": 1.083})
    )  # fmt: skip
    assert set(opened) <= fields(sdk_models.MetatraderTradeResponse)
    assert is_trade_success(opened) and opened["stringCode"] in ("TRADE_RETCODE_DONE",)
    await client.request(
        trade({"actionType": "ORDER_TYPE_BUY_LIMIT", "symbol": "EURUSDm", "volume": 0.1,
               "openPrice": 1.08, "clientId": "sb_2_e0"})
    )  # fmt: skip
    [position] = await client.request(get("/positions"))
    assert set(position) <= fields(sdk_models.MetatraderPosition) | EXTRA
    sdk_models.convert_iso_time_to_date(position)
    assert isinstance(position["updateTime"], datetime)
    fake.set_price(ACCOUNT, "EURUSDm", D("1.08200"), D("1.08212"))  # the stop fires
    info = await client.request(get("/account-information"))
    assert set(info) <= fields(sdk_models.MetatraderAccountInformation)
    assert info["marginMode"] == "ACCOUNT_MARGIN_MODE_RETAIL_HEDGING"
    [order] = await client.request(get("/orders"))
    assert set(order) <= fields(sdk_models.MetatraderOrder) | EXTRA
    spec = await client.request(get("/symbols/EURUSDm/specification"))
    assert set(spec) <= fields(sdk_models.MetatraderSymbolSpecification)
    price = await client.request(get("/symbols/EURUSDm/current-price"))
    assert set(price) <= fields(sdk_models.MetatraderSymbolPrice)
    window = "/2000-01-01T00:00:00.000Z/3000-01-01T00:00:00.000Z?offset=0&limit=1000"
    deals = await client.request(get("/history-deals/time" + window))
    history = await client.request(get("/history-orders/time" + window))
    for deal in deals:
        assert set(deal) <= fields(sdk_models.MetatraderDeal)
    for item in history:
        assert set(item) <= fields(sdk_models.MetatraderOrder) | EXTRA
    stopped = next(d for d in deals if d["reason"] == "DEAL_REASON_SL")
    assert stopped["clientId"] == f"sb_1_{stopped['orderId']}"
    for packet in (info, order, price, *deals, *history):
        sdk_models.convert_iso_time_to_date(packet)  # the SDK's own time parser
    assert isinstance(order["time"], datetime) and isinstance(deals[0]["time"], datetime)


async def test_the_sdk_sees_the_fakes_errors_as_metaapi_errors(fake: FakeMetaApi) -> None:
    fake.reset()
    client = http(fake)
    with pytest.raises(sdk_errors.NotFoundException):
        await client.request(get("/positions/424242"))
    with pytest.raises(sdk_errors.ValidationException) as invalid:
        await client.request(trade({"actionType": "ORDER_TYPE_BUY", "symbol": "EURUSDm",
                                    "volume": 0.1, "clientId": "sb-1-e0"}))  # fmt: skip
    assert invalid.value.details[0]["parameter"] == "clientId"
    with pytest.raises(sdk_errors.UnauthorizedException):
        await client.request({**get("/positions"), "headers": {"auth-token": "wrong"}})
    fake.rate_limit_next(path="/positions", retry_after=600)
    with pytest.raises(sdk_errors.TooManyRequestsException) as limited:
        await client.request(get("/positions"))
    retry_at = sdk_models.date(limited.value.metadata["recommendedRetryTime"])
    assert retry_at - fake.clock() > timedelta(seconds=590)
    refused = await client.request(
        trade({"actionType": "POSITION_MODIFY", "positionId": "424242", "stopLoss": 1})
    )
    assert refused["numericCode"] == 4753 and not is_trade_success(refused)


async def test_the_sdk_retries_the_fakes_202_and_409(fake: FakeMetaApi) -> None:
    fake.reset()
    client = http(fake, minDelayInSeconds=0.01, maxDelayInSeconds=0.05)
    fake.accepted_next(path="/positions", retry_after=0.05)
    assert await client.request(get("/positions")) == []
    fake.fail_next(status=409, path="/positions", error="ConflictError")
    assert await client.request(get("/positions")) == []
    assert fake.request_count("positions") == 4
