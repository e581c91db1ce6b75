"""Leverage and margin type on Binance USDⓈ-M (issue 13, item 4): set explicitly for every
plan (1x too) with the connection's margin type (isolated unless it says cross), once per
connection and symbol, "no need to change" (-4046) taken as success, and what was set
recorded in ``venue_symbol_settings``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.fakes.binance import FakeBinance, binance_server, fake_binance  # noqa: F401
from tests.integration.execution.binance_rig import adapter, market
from tests.integration.execution.test_engine_fixtures import Rig, build_rig

from signalbridge.execution.decide import decide
from signalbridge.execution.planner import Plan
from signalbridge.execution.rows import signal_from_row
from signalbridge.integrations import errors as sb
from signalbridge.store import models as m
from signalbridge.venues.base import OrderSide, SymbolSettings
from signalbridge.venues.ccxt.adapter import CcxtAdapter


@pytest.fixture
def fake(fake_binance: FakeBinance) -> FakeBinance:  # noqa: F811
    return fake_binance


@pytest.fixture
async def linear(fake: FakeBinance) -> AsyncIterator[CcxtAdapter]:
    built = adapter(fake)
    yield built
    await built.close()


@pytest.fixture
async def h1_rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = await build_rig(tmp_path)
    try:
        yield r
    finally:
        await r.pool.close()
        await r.container.engine.dispose()


@pytest.fixture
async def db_rig(tmp_path: Path, database_url: str) -> AsyncIterator[Rig]:
    """The rig on SQLite and on PostgreSQL."""
    r = await build_rig(tmp_path, database_url=database_url)
    try:
        yield r
    finally:
        await r.pool.close()
        await r.container.engine.dispose()


async def test_leverage_and_margin_type_are_set_once_per_symbol(
    linear: CcxtAdapter, fake: FakeBinance
) -> None:
    first = await linear.configure_symbol("BTC/USDT", 1)
    assert first == SymbolSettings("BTC/USDT", "one_way", 1, "isolated")
    assert fake.book.leverage["BTCUSDT"] == 1
    assert fake.account.margin_type("BTCUSDT") == "ISOLATED"
    assert await linear.configure_symbol("BTC/USDT", 1) is None  # cached: nothing sent
    assert fake.count("/fapi/v1/leverage", "POST") == 1
    assert fake.count("/fapi/v1/marginType", "POST") == 1
    changed = await linear.configure_symbol("BTC/USDT", 3)  # a new leverage is set again
    assert changed is not None and changed.leverage == 3 and fake.book.leverage["BTCUSDT"] == 3
    assert fake.count("/fapi/v1/marginType", "POST") == 1


async def test_no_need_to_change_margin_type_is_success(fake: FakeBinance) -> None:
    cross = adapter(fake, margin_type="cross")  # Binance's default: the answer is -4046
    try:
        settings = await cross.configure_symbol("ETH/USDT", 5)
        assert settings == SymbolSettings("ETH/USDT", "one_way", 5, "cross")
        assert fake.account.margin_type("ETHUSDT") == "CROSSED"
    finally:
        await cross.close()


async def test_a_margin_type_binance_will_not_change_is_left_and_tried_again(
    fake: FakeBinance, linear: CcxtAdapter
) -> None:
    await linear.create_order(market("sb-1-e0", OrderSide.BUY, "0.01"))  # opened in cross
    settings = await linear.configure_symbol("BTC/USDT", 2)  # -4048: a position exists
    assert settings == SymbolSettings("BTC/USDT", "one_way", 2, None)
    assert fake.book.leverage["BTCUSDT"] == 2 and fake.account.margin_type("BTCUSDT") == "CROSSED"
    await linear.create_order(market("sb-1-sl", OrderSide.SELL, "0.01", exit_=True))
    again = await linear.configure_symbol("BTC/USDT", 2)  # the next plan tries again
    assert again == SymbolSettings("BTC/USDT", "one_way", 2, "isolated")
    assert fake.count("/fapi/v1/leverage", "POST") == 1


async def test_other_refusals_are_not_swallowed(fake: FakeBinance, linear: CcxtAdapter) -> None:
    with pytest.raises(sb.InvalidRequest, match="leverage"):
        await linear.configure_symbol("BTC/USDT", 500)
    assert "BTCUSDT" not in fake.book.leverage


async def test_a_one_x_plan_sets_leverage_and_margin_and_records_them(
    db_rig: Rig, fake: FakeBinance
) -> None:
    h1_rig = db_rig
    connection = await h1_rig.connection(
        "ccxt", fake.adapter_config("linear"), fake.adapter_secrets()
    )
    follow_id = await h1_rig.follow(connection)
    signal_id = await h1_rig.signal()
    async with h1_rig.sessions() as s:
        signal_row = await s.get_one(m.Signal, signal_id)
        follow = await s.get_one(m.Follow, follow_id)
    live = await h1_rig.pool.get(connection)
    plan = await decide(
        live,
        signal_from_row(signal_row),
        signal_row.received_at,
        follow,
        now=h1_rig.clock,
        sessions=h1_rig.sessions,
    )
    assert isinstance(plan, Plan) and plan.leverage == 1
    assert fake.book.leverage["BTCUSDT"] == 1  # explicit, not whatever the account had
    assert fake.account.margin_type("BTCUSDT") == "ISOLATED"
    async with h1_rig.sessions() as s:
        [row] = (await s.scalars(select(m.VenueSymbolSettings))).all()
    assert (row.connection_id, row.symbol, row.position_mode, row.leverage, row.margin_type) == (
        connection, "BTC/USDT", "one_way", 1, "isolated")  # fmt: skip
    assert row.set_at.tzinfo is not None
    async with h1_rig.sessions() as s, s.begin():  # the follow now asks for 3x
        (await s.get_one(m.Follow, follow_id)).sizing = {
            "mode": "fixed_quote", "value": "100", "leverage": 3}  # fmt: skip
    async with h1_rig.sessions() as s:
        follow = await s.get_one(m.Follow, follow_id)
    signal = signal_from_row(signal_row)
    again = await decide(
        live, signal, signal_row.received_at, follow, now=h1_rig.clock, sessions=h1_rig.sessions
    )
    assert isinstance(again, Plan) and again.leverage == 3
    async with h1_rig.sessions() as s:
        [row] = (await s.scalars(select(m.VenueSymbolSettings))).all()
    assert (row.leverage, row.margin_type) == (3, "isolated")


async def test_the_engine_sets_one_x_leverage_before_it_trades(
    h1_rig: Rig, fake: FakeBinance
) -> None:
    connection = await h1_rig.connection(
        "ccxt", fake.adapter_config("linear"), fake.adapter_secrets()
    )
    follow_id = await h1_rig.follow(connection)
    execution = await h1_rig.execution(await h1_rig.signal(), follow_id)
    await h1_rig.engine.run(execution)
    [entry] = await h1_rig.orders()
    assert entry.status == "filled"
    assert fake.book.leverage["BTCUSDT"] == 1
    assert fake.account.margin_type("BTCUSDT") == "ISOLATED"
