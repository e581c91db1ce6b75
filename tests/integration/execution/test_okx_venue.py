"""OKX through the REAL ccxt ``okx`` class and SignalBridge's ccxt adapter, against the
loopback fake of OKX's API v5 (:mod:`tests.fakes.okx`).

One fake server per module, reset before every test; each test builds its own adapter
(ccxt sessions belong to the test's event loop).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt
import pytest
from sqlalchemy import select
from tests.fakes.loopback import loopback_deps
from tests.fakes.okx import FakeOkx, fake_okx, okx_server  # noqa: F401
from tests.integration.execution.test_engine_fixtures import build_rig

from signalbridge.execution.monitor import PositionMonitor
from signalbridge.integrations import errors as sb
from signalbridge.store import models as m
from signalbridge.venues.base import (
    MarketKind,
    OrderRequest,
    OrderRole,
    OrderSide,
    OrderStatus,
    PositionSide,
    SymbolSettings,
    VenueOrderType,
)
from signalbridge.venues.ccxt.adapter import WITHDRAW_REFUSAL, CcxtAdapter
from signalbridge.venues.ccxt.errors import translate
from signalbridge.venues.ccxt.okx import venue_client_id

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL


@pytest.fixture
def fake(fake_okx: FakeOkx) -> FakeOkx:  # noqa: F811
    return fake_okx


def make(
    fake: FakeOkx,
    market_type: str = "spot",
    *,
    timeout_ms: int = 2000,
    secrets: dict[str, str] | None = None,
) -> CcxtAdapter:
    config = fake.adapter_config(market_type, timeout_ms=timeout_ms)
    keys = {**fake.adapter_secrets(), **(secrets or {})}
    adapter = CcxtAdapter.from_config("conn-okx", config, keys, deps=loopback_deps())
    adapter.exchange.timeout_on_exit = 0  # ccxt sleeps 250 ms on close by default
    return adapter


@pytest.fixture
async def spot(fake: FakeOkx) -> AsyncIterator[CcxtAdapter]:
    adapter = make(fake)
    yield adapter
    await adapter.close()


@pytest.fixture
async def swap(fake: FakeOkx) -> AsyncIterator[CcxtAdapter]:
    adapter = make(fake, "linear")
    yield adapter
    await adapter.close()


def market(cid: str, side: OrderSide, amount: str, *, exit_: bool = False) -> OrderRequest:
    return OrderRequest(
        cid,
        "BTC/USDT",
        side,
        VenueOrderType.MARKET,
        D(amount),
        reduce_only=exit_,
        role=OrderRole.EXIT if exit_ else OrderRole.ENTRY,
    )


def sent_orders(fake: FakeOkx) -> list[dict[str, Any]]:
    """Every order entry the fake received in a placement body."""
    out: list[dict[str, Any]] = []
    for method, path, body in fake.requests:
        if method == "POST" and path.endswith(("/trade/batch-orders", "/trade/order")):
            loaded = json.loads(body)
            out.extend(loaded if isinstance(loaded, list) else [loaded])
    return out


# -- the fake speaks OKX to the real ccxt ----------------------------------------------------


async def test_raw_ccxt_is_refused_with_okx_codes_for_a_bad_sign_or_passphrase(
    fake: FakeOkx,
) -> None:
    base = {"apiKey": fake.api_key, "urls": {"api": fake.ccxt_urls()}, "enableRateLimit": False}
    bad_secret = ccxt.okx({**base, "secret": "not-the-secret", "password": fake.passphrase})
    bad_phrase = ccxt.okx({**base, "secret": fake.secret, "password": "wrong-passphrase"})
    try:
        with pytest.raises(ccxt.AuthenticationError, match="50113"):
            await bad_secret.privateGetAccountBalance()
        with pytest.raises(ccxt.AuthenticationError, match="50105"):
            await bad_phrase.privateGetAccountBalance()
    finally:
        for ex in (bad_secret, bad_phrase):
            ex.timeout_on_exit = 0
            await ex.close()
    assert fake.count("account/balance") == 2


async def test_markets_spot_and_swap_with_contract_sizes(fake: FakeOkx) -> None:
    spot, swap = make(fake), make(fake, "linear")
    try:
        spot_markets = await spot.load_markets()
        swap_markets = await swap.load_markets()
        prices = await swap.fetch_tickers(["BTC/USDT"])
        balance = await swap.fetch_balance()
    finally:
        await spot.close()
        await swap.close()
    btc = spot_markets["BTC/USDT"]
    assert (btc.kind, btc.amount_step, btc.price_tick) == (MarketKind.SPOT, D("1E-8"), D("0.1"))
    perp = swap_markets["BTC/USDT"]
    assert (perp.venue_symbol, perp.kind) == ("BTC/USDT:USDT", MarketKind.LINEAR)
    assert (perp.contract_size, perp.amount_step, perp.max_leverage) == (D("0.01"), D("0.01"), 100)
    assert prices["BTC/USDT"].last == D(50000)
    assert balance["USDT"].free == D(10000)


# -- orders ----------------------------------------------------------------------------------


async def test_spot_market_and_limit_orders_carry_our_client_ids(
    spot: CcxtAdapter, fake: FakeOkx
) -> None:
    bought = await spot.create_order(market("sb-1-e0", BUY, "0.01"))
    assert (bought.client_order_id, bought.status, bought.filled) == (
        "sb-1-e0",
        OrderStatus.FILLED,
        D("0.01"),
    )
    assert bought.average_price == D(50000)
    assert bought.fee is not None and bought.fee.asset == "BTC"  # a spot buy pays in the coin
    limit = OrderRequest("sb-2-e0", "BTC/USDT", BUY, VenueOrderType.LIMIT, D("0.01"), D(49000))
    resting = await spot.create_order(limit)
    assert (resting.client_order_id, resting.status) == ("sb-2-e0", OrderStatus.OPEN)
    # OKX's alphabet on the wire (letters and digits, at most 32), ours everywhere else
    assert [o["clOrdId"] for o in sent_orders(fake)] == ["sbZ11Z1e0", "sbZ12Z1e0"]
    assert [o["tdMode"] for o in sent_orders(fake)] == ["cash", "cash"]
    [open_order] = await spot.fetch_open_orders("BTC/USDT")
    assert open_order.client_order_id == "sb-2-e0"
    fake.set_price("BTC-USDT", "48900")
    filled = await spot.fetch_order("BTC/USDT", "sb-2-e0")
    assert (filled.status, filled.average_price) == (OrderStatus.FILLED, D(49000))
    third = OrderRequest("sb-3-e0", "BTC/USDT", BUY, VenueOrderType.LIMIT, D("0.01"), D(40000))
    await spot.create_order(third)
    cancelled = await spot.cancel_order("BTC/USDT", "sb-3-e0")
    assert (cancelled.client_order_id, cancelled.status) == ("sb-3-e0", OrderStatus.CANCELED)
    with pytest.raises(sb.OrderNotFound):  # 51400: already cancelled
        await spot.cancel_order("BTC/USDT", "sb-3-e0")
    with pytest.raises(sb.OrderNotFound):  # 51603
        await spot.fetch_order("BTC/USDT", "sb-404-e0")


@pytest.mark.parametrize("kind", ["reset", "timeout"])
async def test_a_lost_answer_is_looked_up_by_client_id_and_never_sent_twice(
    fake: FakeOkx, kind: str
) -> None:
    spot = make(fake, timeout_ms=300)
    try:
        await lost_answer_then_lookup(spot, fake, kind)
    finally:
        await spot.close()


async def lost_answer_then_lookup(spot: CcxtAdapter, fake: FakeOkx, kind: str) -> None:
    fake.accept_then_drop(1, kind=kind, delay=0.6)  # executed; the answer never arrives
    with pytest.raises(sb.AmbiguousOutcome):
        await spot.create_order(market("sb-9-e0", BUY, "0.01"))
    found = await spot.fetch_order("BTC/USDT", "sb-9-e0")
    assert (found.status, found.filled) == (OrderStatus.FILLED, D("0.01"))
    assert len(fake.orders()) == 1
    # the trade history (the engine's second proof) shows the fill too
    since = datetime.now(UTC) - timedelta(minutes=1)
    [trade] = await spot.fetch_trades_since("BTC/USDT", since, 10) or []
    assert (trade.venue_order_id, trade.amount, trade.price) == (
        found.venue_order_id,
        D("0.01"),
        D(50000),
    )
    # a live order's clOrdId cannot be used again (51016 Duplicated clOrdId)
    limit = OrderRequest("sb-10-e0", "BTC/USDT", BUY, VenueOrderType.LIMIT, D("0.01"), D(40000))
    await spot.create_order(limit)
    with pytest.raises(sb.InvalidRequest, match="51016"):
        await spot.create_order(limit)
    assert len(fake.orders()) == 2


async def test_swap_leverage_position_and_reduce_only_exit(
    swap: CcxtAdapter, fake: FakeOkx
) -> None:
    settings = await swap.configure_symbol("BTC/USDT", 5)
    assert settings == SymbolSettings("BTC/USDT", "one_way", 5, "isolated")
    assert fake.leverage_of("BTC-USDT-SWAP", "isolated") == 5
    assert await swap.configure_symbol("BTC/USDT", 5) == settings  # set once
    assert fake.count("account/set-leverage") == 1
    entry = await swap.create_order(market("sb-20-e0", BUY, "2"))
    assert (entry.status, entry.filled) == (OrderStatus.FILLED, D(2))
    [position] = await swap.fetch_positions()
    assert (position.symbol, position.side, position.amount) == (
        "BTC/USDT",
        PositionSide.LONG,
        D(2),
    )
    assert (position.entry_price, position.leverage) == (D(50000), 5)
    fake.set_price("BTC-USDT-SWAP", "51000")
    exit_ = await swap.create_order(market("sb-20-x0", SELL, "2", exit_=True))
    assert exit_.status is OrderStatus.FILLED
    assert await swap.fetch_positions() == []
    sent = sent_orders(fake)
    assert [(o["tdMode"], o.get("reduceOnly")) for o in sent] == [
        ("isolated", None),
        ("isolated", True),
    ]
    # realised: 2 contracts x 0.01 BTC x 1000 USDT, less 0.05 % taker fees on both fills
    assert fake.available("USDT") == D(10000) + D(20) - D("0.5") - D("0.51")
    with pytest.raises(sb.InvalidRequest, match="51169"):  # nothing left to reduce
        await swap.create_order(market("sb-20-x1", SELL, "1", exit_=True))


async def test_cross_margin_sets_leverage_without_a_side_and_trades_cross(
    fake: FakeOkx,
) -> None:
    config = fake.adapter_config("linear", timeout_ms=2000, margin_type="cross")
    adapter = CcxtAdapter.from_config("c-x", config, fake.adapter_secrets(), deps=loopback_deps())
    adapter.exchange.timeout_on_exit = 0
    try:
        await adapter.create_order(dataclasses.replace(market("sb-22-e0", BUY, "1"), leverage=4))
    finally:
        await adapter.close()
    [(_, _, body)] = [r for r in fake.requests if r[1].endswith("/account/set-leverage")]
    assert json.loads(body) == {"lever": 4, "mgnMode": "cross", "instId": "BTC-USDT-SWAP"}
    assert fake.leverage_of("BTC-USDT-SWAP", "cross") == 4
    [position] = fake.positions()
    assert (position.mgn_mode, position.lever) == ("cross", 4)


async def test_an_exit_after_a_restart_trades_in_the_positions_margin_mode(
    fake: FakeOkx,
) -> None:
    first = make(fake, "linear")
    try:
        await first.exchange.load_markets()
        await first.exchange.create_order(
            "BTC/USDT:USDT", "market", "buy", 1, None, {"marginMode": "cross", "clOrdId": "x1"}
        )
    finally:
        await first.close()
    restarted = make(fake, "linear")  # knows nothing of the symbol's settings
    try:
        closed = await restarted.create_order(market("sb-21-x0", SELL, "1", exit_=True))
    finally:
        await restarted.close()
    assert closed.status is OrderStatus.FILLED
    assert fake.order("sbZ121Z1x0").td_mode == "cross"
    assert fake.positions() == []


async def test_long_short_mode_names_the_position_and_survives_a_mode_change(
    swap: CcxtAdapter, fake: FakeOkx
) -> None:
    fake.set_position_mode("long_short_mode")
    settings = await swap.configure_symbol("BTC/USDT", 3)
    assert settings == SymbolSettings("BTC/USDT", "hedge", 3, "isolated")
    assert fake.leverage_of("BTC-USDT-SWAP", "isolated", "long") == 3
    assert fake.leverage_of("BTC-USDT-SWAP", "isolated", "short") == 3
    await swap.create_order(market("sb-30-e0", BUY, "1"))
    await swap.create_order(market("sb-30-x0", SELL, "1", exit_=True))
    sent = sent_orders(fake)
    assert [(o["side"], o["posSide"], o.get("reduceOnly")) for o in sent] == [
        ("buy", "long", None),
        ("sell", "long", None),
    ]
    assert fake.positions() == []
    fake.set_position_mode("net_mode")  # changed in OKX's app behind our back
    again = await swap.create_order(market("sb-31-e0", BUY, "1"))
    assert again.status is OrderStatus.FILLED
    assert sent_orders(fake)[-1].get("posSide") is None
    assert fake.count("account/config") == 2  # read once, and once more after 51000


# -- errors --------------------------------------------------------------------------------


async def test_errors_are_translated(spot: CcxtAdapter, fake: FakeOkx) -> None:
    fake.set_cash("USDT", "10")
    with pytest.raises(sb.InsufficientFunds):  # 51008
        await spot.create_order(market("sb-40-e0", BUY, "0.01"))
    with pytest.raises(sb.SymbolNotListed):
        await spot.create_order(
            OrderRequest("sb-41-e0", "NOPE/USDT", BUY, VenueOrderType.MARKET, D(1))
        )
    try:  # the venue's own 51001, as ccxt raises it
        await spot.exchange.publicGetMarketTicker({"instId": "NOPE-USDT"})
    except Exception as exc:
        assert isinstance(translate(exc, write=False, exchange=spot.exchange), sb.SymbolNotListed)
    else:
        pytest.fail("an unknown instrument was answered")
    fake.rate_limit()
    with pytest.raises(sb.RateLimited):  # HTTP 429, 50011
        await spot.fetch_balance()


async def test_a_wrong_secret_or_passphrase_is_an_authentication_error_without_secrets(
    fake: FakeOkx,
) -> None:
    for secrets in (
        {"api_key": fake.api_key[:-1] + "x"},  # 50111
        {"secret": "Wrong-Secret-0123456789"},  # 50113
        {"password": "Wrong-Passphrase-1"},  # 50105
    ):
        adapter = make(fake, secrets=secrets)
        try:
            with pytest.raises(sb.AuthenticationError) as caught:
                await adapter.fetch_balance()
        finally:
            await adapter.close()
        text = str(caught.value)
        assert all(value not in text for value in (*secrets.values(), fake.secret, fake.passphrase))
    assert fake.orders() == []


async def test_a_request_refused_for_its_timestamp_is_sent_again_on_the_venues_clock(
    spot: CcxtAdapter, fake: FakeOkx
) -> None:
    fake.set_clock_offset(45)  # beyond OKX's 30 s window
    balance = await spot.fetch_balance()
    assert balance["USDT"].free == D(10000)
    # measured after the 50102, and again as ccxt reloads markets (adjustForTimeDifference)
    assert fake.count("public/time") == 2
    assert fake.count("account/balance") == 1  # the 50102 came from the first signed call


async def test_probe_reads_the_keys_permissions(spot: CcxtAdapter, fake: FakeOkx) -> None:
    ok = await spot.probe()
    assert (ok.ok, ok.can_trade, ok.can_withdraw) == (True, True, False)
    fake.set_permissions("read_only,trade,withdraw")
    refused = await spot.probe()
    assert (refused.ok, refused.can_withdraw, refused.message) == (False, True, WITHDRAW_REFUSAL)
    fake.set_permissions("read_only")
    assert (await spot.probe()).ok is False


# -- the engine ----------------------------------------------------------------------------


async def test_a_signal_copied_to_an_okx_follow_opens_and_its_stop_closes(
    tmp_path: Path, fake: FakeOkx
) -> None:
    rig = await build_rig(tmp_path)
    try:
        connection = await rig.connection(
            "ccxt", fake.adapter_config("linear"), fake.adapter_secrets()
        )
        follow = await rig.follow(connection, sizing={"mode": "fixed_quote", "value": "100"})
        signal_id = await rig.signal(stop_loss=Decimal(48000), take_profits=["60000"])
        await rig.engine.run(await rig.execution(signal_id, follow))
        async with rig.sessions() as s:
            position = await s.scalar(select(m.Position).where(m.Position.signal_id == signal_id))
        assert position is not None and position.status == m.PositionStatus.OPEN
        # 100 USDT at 50000 is 0.002 BTC: 0.2 contracts of 0.01 BTC
        assert position.amount == D("0.2")
        [venue_position] = fake.positions()
        assert (venue_position.pos, venue_position.mgn_mode) == (D("0.2"), "isolated")

        fake.set_price("BTC-USDT-SWAP", "47000")  # through the 48000 stop
        monitor = PositionMonitor(rig.sessions, rig.pool, rig.engine, now=rig.clock)
        report = await monitor.run_once()
        assert report.orders == 1, report
        [stop] = [o for o in await rig.orders() if o.leg == "sl"]
        assert (stop.status, stop.reduce_only, stop.side) == (m.OrderStatus.FILLED, True, "sell")
        async with rig.sessions() as s:
            closed = await s.get_one(m.Position, position.id)
        assert closed.status == m.PositionStatus.CLOSED and closed.realized_pnl < 0
        assert fake.positions() == []
        assert all(o.cl_ord_id.isalnum() and len(o.cl_ord_id) <= 32 for o in fake.orders())

        # the next signal's placement is executed but its answer lost: looked up, not resent
        fake.set_price("BTC-USDT-SWAP", "50000")
        fake.accept_then_drop(1)
        second = await rig.execution(await rig.signal(), follow)
        await rig.engine.run(second)
        assert fake.count("trade/batch-orders") == 3 and len(fake.orders()) == 3
        entry = (await rig.orders(execution_id=second, leg="e0"))[0]
        assert entry.status == m.OrderStatus.FILLED
        assert fake.order(venue_client_id(entry.client_order_id)).state == "filled"
        assert len(await rig.logs("order_outcome_unknown")) == 1
    finally:
        await rig.pool.close()
        await rig.container.engine.dispose()
