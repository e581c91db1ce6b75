"""MetaApiAdapter against the loopback fake telling MetaApi's truths (issue 13, items 10–12):
the client API of the account's region found through provisioning, history read page by
page, not-found codes, the investor password, trade errors in a non-2xx body, 409 and 202."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from tests.fakes.loopback import loopback_deps, loopback_http_factory
from tests.fakes.metaapi import FakeMetaApi
from tests.integration.execution.test_metaapi_adapter import TOKEN, market_order, metaapi_config

from signalbridge.integrations.errors import (
    AuthenticationError,
    InsufficientFunds,
    OrderNotFound,
    RateLimited,
    TransientError,
)
from signalbridge.venues.base import OrderRequest, OrderSide, OrderStatus, VenueOrderType
from signalbridge.venues.metaapi.adapter import MetaApiAdapter

D = Decimal
MAIN = "acc-main"
LONDON = "acc-london"
INVESTOR = "acc-investor"
DOMAIN = "metaapi.test"  # what the fake's domain look-up answers


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeMetaApi]:
    server = FakeMetaApi(token=TOKEN, domain=DOMAIN)
    server.add_account(MAIN, balance=D(10000))
    server.add_account(LONDON, balance=D(7000), region="london")
    server.add_account(INVESTOR, balance=D(5000), investor_mode=True)
    with server:
        yield server


async def _make(fake: FakeMetaApi, **config: object) -> MetaApiAdapter:
    return MetaApiAdapter.from_config(
        "conn-13", metaapi_config(fake, **config), {"token": TOKEN}, deps=loopback_deps()
    )


@pytest.fixture
async def adapter(fake: FakeMetaApi) -> AsyncIterator[MetaApiAdapter]:
    fake.reset()
    made = await _make(fake)
    yield made
    await made.close()


# --- item 10: the region's client API, found through provisioning ------------------------


async def test_the_client_api_of_the_accounts_region_is_found_through_provisioning(
    fake: FakeMetaApi,
) -> None:
    fake.reset()
    looked_up: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        """The test's DNS: the fake's domain is loopback, nothing else resolves."""
        looked_up.append(host)
        if host.endswith("." + DOMAIN):
            return ["127.0.0.1"]
        raise TransientError(f"no network in tests ({host})")

    config = {**metaapi_config(fake, account=LONDON), "base_url": None}
    deps = loopback_deps(http_factory=loopback_http_factory(resolver=resolver))
    made = MetaApiAdapter.from_config("conn-10", config, {"token": TOKEN}, deps=deps)
    try:
        assert (await made.fetch_balance())["USD"].total == D(7000)
        await made.create_order(market_order("sb-10-e0", OrderSide.BUY, "0.10"))
    finally:
        await made.close()
    london = f"{fake.client_api_host('london')}:{fake.port}"
    assert london in fake.seen_hosts and looked_up[0] == fake.client_api_host("london")
    assert fake.request_count("servers") == 1  # the domain, looked up once and cached
    # The same account reached through another region's host is unknown there.
    wrong = {**config, "region": "new-york"}
    other = MetaApiAdapter.from_config("conn-11", wrong, {"token": TOKEN}, deps=deps)
    with pytest.raises(AuthenticationError, match="not found"):
        await other.fetch_balance()
    await other.close()


# --- item 11: history read page by page ----------------------------------------------------


async def test_an_order_beyond_the_first_history_page_is_found(
    fake: FakeMetaApi, adapter: MetaApiAdapter
) -> None:
    fake.add_history(MAIN, 1005, at=fake.clock() - timedelta(hours=1), symbol="XAUUSD")
    await adapter.create_order(market_order("sb-11-e0", OrderSide.BUY, "0.10"))
    close = OrderRequest(
        "sb-11-t1", "EURUSD", OrderSide.SELL, VenueOrderType.MARKET, D("0.10"), reduce_only=True
    )
    await adapter.create_order(close)
    assert await adapter.fetch_position_details() == []  # only history knows it now
    found = await adapter.fetch_order("EURUSD", "sb-11-e0")
    assert found.status is OrderStatus.FILLED and found.filled == D("0.10")
    assert fake.request_count("history-orders") >= 2


# --- item 12: codes and answers ------------------------------------------------------------


async def test_a_position_the_terminal_does_not_know_is_not_found(
    fake: FakeMetaApi, adapter: MetaApiAdapter
) -> None:
    with pytest.raises(OrderNotFound, match="4753"):
        await adapter.modify_position("424242", D("1.08000"), None)


async def test_an_order_filled_between_our_look_and_the_cancel_reads_filled(
    fake: FakeMetaApi, adapter: MetaApiAdapter
) -> None:
    limit = OrderRequest(
        "sb-12-e0", "EURUSD", OrderSide.BUY, VenueOrderType.LIMIT, D("0.10"), price=D("1.08000")
    )
    await adapter.create_order(limit)
    fake.before_next_trade(lambda: fake.set_price(MAIN, "EURUSDm", D("1.07990"), D("1.08000")))
    canceled = await adapter.cancel_order("EURUSD", "sb-12-e0")
    assert fake.trade_bodies[-1]["actionType"] == "ORDER_CANCEL"
    assert canceled.status is OrderStatus.FILLED and canceled.filled == D("0.10")


async def test_the_investor_password_is_an_authentication_error(fake: FakeMetaApi) -> None:
    fake.reset()
    made = await _make(fake, account=INVESTOR)
    try:
        with pytest.raises(AuthenticationError, match="investor"):
            await made.create_order(market_order("sb-13-e0", OrderSide.BUY, "0.10"))
        probe = await made.probe()
        assert not probe.can_trade and "investor" in probe.message
    finally:
        await made.close()


@pytest.mark.parametrize("status", [400, 500])
async def test_a_trade_error_in_a_non_2xx_body_is_read_as_that_error(
    fake: FakeMetaApi, adapter: MetaApiAdapter, status: int
) -> None:
    fake.trade_error_status = status
    with pytest.raises(InsufficientFunds, match="NO_MONEY"):
        await adapter.create_order(market_order("sb-14-e0", OrderSide.BUY, "90"))
    with pytest.raises(OrderNotFound):
        await adapter.modify_position("424242", D("1.08000"), None)
    assert fake.positions_with_client_id(MAIN, "sb_14_e0") == []


async def test_a_409_is_transient(fake: FakeMetaApi, adapter: MetaApiAdapter) -> None:
    fake.fail_next(status=409, path="/positions", error="ConflictError", message="busy")
    with pytest.raises(TransientError, match="409"):
        await adapter.fetch_positions()
    assert await adapter.fetch_positions() == []  # the retry the kernel makes succeeds


async def test_a_202_says_when_to_ask_again(fake: FakeMetaApi, adapter: MetaApiAdapter) -> None:
    fake.accepted_next(path="/positions", retry_after=4)
    with pytest.raises(RateLimited) as info:
        await adapter.fetch_positions()
    assert info.value.retry_after == 4.0
    assert await adapter.fetch_positions() == []
