"""MetaApi's open readings and account modes against the loopback fake (issue 13, items 13
and 14, and the fake's truths): a stop removed the documented way under both readings of
an omitted level, netting accounts detected and refused where they would merge two
executions, a market result without ``positionId``, and ``clientId`` as MetaApi keeps it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Literal

import httpx
import pytest
from tests.fakes.loopback import loopback_deps
from tests.fakes.metaapi import NETTING, FakeMetaApi
from tests.integration.execution.test_metaapi_adapter import TOKEN, market_order, metaapi_config

from signalbridge.integrations.errors import InvalidRequest
from signalbridge.venues.base import OrderRequest, OrderRole, OrderSide, VenueOrderType
from signalbridge.venues.metaapi.adapter import MetaApiAdapter
from signalbridge.venues.metaapi.client_ids import to_venue_client_id

D = Decimal
MAIN = "acc-main"
NETS = "acc-netting"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeMetaApi]:
    server = FakeMetaApi(token=TOKEN)
    server.add_account(MAIN, balance=D(10000))
    server.add_account(NETS, balance=D(10000), margin_mode=NETTING)
    with server:
        yield server


async def _make(fake: FakeMetaApi, account: str = MAIN) -> MetaApiAdapter:
    return MetaApiAdapter.from_config(
        "conn-14", metaapi_config(fake, account=account), {"token": TOKEN}, deps=loopback_deps()
    )


@pytest.fixture
async def adapter(fake: FakeMetaApi) -> AsyncIterator[MetaApiAdapter]:
    fake.reset()
    made = await _make(fake)
    yield made
    await made.close()


@pytest.fixture
async def netting(fake: FakeMetaApi) -> AsyncIterator[MetaApiAdapter]:
    fake.reset()
    made = await _make(fake, NETS)
    yield made
    await made.close()


def stop(coid: str, trigger: str) -> OrderRequest:
    return OrderRequest(
        coid, "EURUSD", OrderSide.SELL, VenueOrderType.STOP_MARKET, D("0.10"),
        stop_price=D(trigger), reduce_only=True, role=OrderRole.STOP,
    )  # fmt: skip


# --- item 13: removing a stop ------------------------------------------------------------------


@pytest.mark.parametrize("omitted", ["keep", "remove"])
async def test_a_cancelled_stop_is_gone_under_both_readings_and_the_target_stays(
    fake: FakeMetaApi, adapter: MetaApiAdapter, omitted: Literal["keep", "remove"]
) -> None:
    fake.set_omitted_levels(omitted)
    await adapter.create_order(
        market_order("sb-30-e0", OrderSide.BUY, "0.10"), take_profit=D("1.09000")
    )
    await adapter.create_order(stop("sb-30-s1", "1.08300"))
    await adapter.cancel_order("EURUSD", "sb-30-s1", OrderRole.STOP)
    [position] = fake.positions_with_client_id(MAIN, "sb_30_e0")
    assert position.stop_loss is None and position.take_profit == D("1.09000")
    removal = fake.trade_bodies[-1]
    assert removal["actionType"] == "POSITION_MODIFY" and removal["stopLoss"] == 0


# --- item 14: netting accounts -----------------------------------------------------------


async def test_netting_refuses_a_second_executions_entry_on_a_held_symbol(
    fake: FakeMetaApi, netting: MetaApiAdapter
) -> None:
    await netting.create_order(market_order("sb-40-e0", OrderSide.BUY, "0.10"))
    with pytest.raises(InvalidRequest, match="netting"):
        await netting.create_order(market_order("sb-41-e0", OrderSide.SELL, "0.10"))
    with pytest.raises(InvalidRequest, match="netting"):
        await netting.create_order(market_order("sb-42-e0", OrderSide.BUY, "0.10"))
    [position] = fake.accounts[NETS].positions.values()
    assert position.volume == D("0.10")  # neither merged into execution 40's position
    await netting.create_order(market_order("sb-40-e1", OrderSide.BUY, "0.05"))  # its own
    [position] = fake.accounts[NETS].positions.values()
    assert position.volume == D("0.15")
    await netting.create_order(market_order("sb-43-e0", OrderSide.BUY, "0.10", "XAUUSD"))
    probe = await netting.probe()
    assert probe.ok and "netting" in probe.message


async def test_hedging_keeps_each_execution_apart(adapter: MetaApiAdapter) -> None:
    await adapter.create_order(market_order("sb-44-e0", OrderSide.BUY, "0.10"))
    await adapter.create_order(market_order("sb-45-e0", OrderSide.SELL, "0.10"))
    assert len(await adapter.fetch_position_details()) == 2
    assert "hedging" in (await adapter.probe()).message


# --- the fake's truths -----------------------------------------------------------------------


async def test_a_market_result_without_position_id_still_reads_the_fill(
    fake: FakeMetaApi, adapter: MetaApiAdapter
) -> None:
    fake.set_report_position_id(False)
    order = await adapter.create_order(market_order("sb-46-e0", OrderSide.BUY, "0.10"))
    assert "positionId" not in order.raw
    assert order.average_price == D("1.08462") and order.filled == D("0.10")


async def test_a_stop_loss_close_keeps_the_client_id_with_the_mt_order_id(
    fake: FakeMetaApi, adapter: MetaApiAdapter
) -> None:
    await adapter.create_order(market_order("sb-47-e0", OrderSide.BUY, "0.10"))
    await adapter.create_order(stop("sb-47-s1", "1.08300"))
    fake.set_price(MAIN, "EURUSDm", D("1.08290"), D("1.08302"))
    closing = [d for d in fake.deals_of(MAIN) if d.reason == "DEAL_REASON_SL"]
    assert [d.client_id for d in closing] == [f"sb_47_{closing[0].order_id}"]
    filled = await adapter.fetch_order("EURUSD", "sb-47-s1", OrderRole.STOP)
    assert filled.filled == D("0.10")


@pytest.mark.parametrize("client_id", ["sb-48-e0", "sb_48", "sb_48_e0_x", "sb_4.8_e0", "_a_b"])
async def test_the_fake_refuses_a_client_id_not_in_three_parts(
    fake: FakeMetaApi, client_id: str
) -> None:
    body = {"actionType": "ORDER_TYPE_BUY", "symbol": "EURUSDm", "volume": 0.1}
    async with httpx.AsyncClient(base_url=fake.base_url, headers={"auth-token": TOKEN}) as http:
        answer = await http.post(
            f"/users/current/accounts/{MAIN}/trade", json={**body, "clientId": client_id}
        )
    assert answer.status_code == 400 and answer.json()["error"] == "ValidationError"


@pytest.mark.parametrize(
    "ours", ["sb-1-e0", "sb-123456789012-t1g2", "sb-9-c17", "x_y-z", "sb-1-e0-extra", "a" * 60]
)
def test_every_client_id_we_send_has_the_three_part_form(ours: str) -> None:
    sent = to_venue_client_id(ours)
    assert len(sent) <= 26 and len(sent.split("_")) == 3
    assert all(part.isalnum() for part in sent.split("_"))
