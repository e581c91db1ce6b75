"""Row 12 under Binance's real client-id rule: a second proof of absence before a re-send.

On Binance a ``newClientOrderId`` is unique among OPEN orders only, so a market order that
FILLED and whose lookup by client id still answers "not found" after the settle window
would be accepted again under the same id: the position doubles. Before any re-send the
engine asks the account's trades on the symbol since the intent was written and its open
orders; whatever no known order of ours explains may be ours, and then nothing is sent:
the order stays ``sending``, is looked up again on every pass, and after a bounded time the
execution is flagged for a human. Only when the lookup, the trades and the open orders all
show nothing is the order sent again. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from tests.fakes.binance import FakeBinance
from tests.integration.execution.test_engine_fixtures import Rig, build_rig

from signalbridge.execution.absence import UNSURE_LIMIT, TradeHistory
from signalbridge.store import models as m
from signalbridge.venues.ccxt.adapter import CcxtAdapter
from signalbridge.venues.metaapi.adapter import MetaApiAdapter
from signalbridge.venues.paper.adapter import PaperAdapter

SPOT_POST = ("/api/v3/order", "POST")
FUTURES_POST = ("/fapi/v1/order", "POST")
SETTLE = 31  # seconds: past the engine's 30 s settle window


@pytest.fixture
async def rig(tmp_path: Path, database_url: str) -> AsyncIterator[Rig]:
    built = await build_rig(tmp_path, database_url=database_url)
    try:
        yield built
    finally:
        await built.pool.close()
        await built.container.engine.dispose()


async def follow_on(rig: Rig, fake: FakeBinance, market_type: str = "spot") -> int:
    connection_id = await rig.connection(
        "ccxt", fake.adapter_config(market_type, timeout_ms=1000), fake.adapter_secrets()
    )
    return await rig.follow(connection_id, sizing={"mode": "fixed_quote", "value": "100"})


async def lost_answer(rig: Rig, fake: FakeBinance, follow_id: int, hidden: int) -> int:
    """An execution whose market entry the venue executed (and filled) while the answer was
    lost; the venue's lookups by client id answer "not found" ``hidden`` times."""
    execution_id = await rig.execution(await rig.signal(), follow_id)
    fake.hide_new_orders(hidden)
    fake.accept_then_drop(1, kind="reset")
    await rig.engine.run(execution_id)  # created and filled, answer lost, lookup: not found
    return execution_id


@pytest.mark.parametrize(
    ("market_type", "post", "trades"),
    [
        ("spot", SPOT_POST, "/api/v3/myTrades"),
        ("linear", FUTURES_POST, "/fapi/v1/userTrades"),
    ],
)
async def test_a_filled_order_the_lookup_cannot_see_is_never_sent_again(
    rig: Rig,
    fake_binance: FakeBinance,
    market_type: str,
    post: tuple[str, str],
    trades: str,
) -> None:
    fake = fake_binance
    follow_id = await follow_on(rig, fake, market_type)
    execution_id = await lost_answer(rig, fake, follow_id, hidden=3)
    rig.clock.advance(SETTLE)
    await rig.engine.run(execution_id)  # not found (2) after the window: a trade says maybe
    assert fake.count(*post) == 1 and len(fake.orders()) == 1
    assert fake.count(trades, "GET") == 1
    [order] = await rig.orders()
    assert order.status == m.OrderStatus.SENDING
    [unsure] = await rig.logs("order_unsure")
    assert "trade" in (unsure.reason or "")
    await rig.engine.run(execution_id)  # not found (3): still unsure, still not sent
    await rig.engine.run(execution_id)  # the lookup shows it now: tracked, once
    assert fake.count(*post) == 1 and len(fake.orders()) == 1
    [order] = await rig.orders()
    assert order.status == m.OrderStatus.FILLED
    assert order.venue_order_id == str(fake.orders()[0].order_id)
    assert (await rig.execution_row(execution_id)).status == m.ExecutionStatus.OPEN
    assert await rig.logs("order_needs_attention") == []


async def test_an_unsure_order_is_flagged_for_a_human_after_a_bounded_time(
    rig: Rig, fake_binance: FakeBinance
) -> None:
    fake = fake_binance
    follow_id = await follow_on(rig, fake)
    execution_id = await lost_answer(rig, fake, follow_id, hidden=4)  # not found (1)
    rig.clock.advance(SETTLE)
    await rig.engine.run(execution_id)  # (2) unsure, not flagged yet
    assert await rig.logs("order_needs_attention") == []
    rig.clock.advance(UNSURE_LIMIT.total_seconds())
    await rig.engine.run(execution_id)  # (3) still unsure, past the limit: flagged
    await rig.engine.run(execution_id)  # (4) flagged once, not again
    [flag] = await rig.logs("order_needs_attention")
    [order] = await rig.orders()
    assert flag.order_id == order.id and flag.execution_id == execution_id
    assert "not sent again" in (flag.reason or "") and order.client_order_id in (flag.reason or "")
    execution = await rig.execution_row(execution_id)
    assert execution.reason == flag.reason
    assert order.status == m.OrderStatus.SENDING and fake.count(*SPOT_POST) == 1
    await rig.engine.run(execution_id)  # hidden no more: tracking resumes
    [order] = await rig.orders()
    assert order.status == m.OrderStatus.FILLED and fake.count(*SPOT_POST) == 1


async def test_an_order_that_never_reached_the_venue_is_sent_again(
    rig: Rig, fake_binance: FakeBinance
) -> None:
    """Nothing in the lookup, the trades or the open orders: the order is sent again."""
    fake = fake_binance
    follow_id = await follow_on(rig, fake)
    execution_id = await rig.execution(await rig.signal(), follow_id)
    fake.fail_next("/api/v3/order", 1, kind="reset", method="POST")  # before the engine
    await rig.engine.run(execution_id)
    rig.clock.advance(SETTLE)
    await rig.engine.run(execution_id)  # absent three ways: back to pending
    assert fake.count("/api/v3/myTrades", "GET") == 1
    assert fake.count("/api/v3/openOrders", "GET") == 1
    await rig.engine.run(execution_id)  # sent again, with the same id
    assert fake.count(*SPOT_POST) == 2 and len(fake.orders()) == 1
    [order] = await rig.orders()
    assert order.status == m.OrderStatus.FILLED
    assert await rig.logs("order_unsure") == []


async def test_a_trade_history_that_cannot_be_read_proves_nothing(
    rig: Rig, fake_binance: FakeBinance
) -> None:
    fake = fake_binance
    follow_id = await follow_on(rig, fake)
    execution_id = await rig.execution(await rig.signal(), follow_id)
    fake.fail_next("/api/v3/order", 1, kind="reset", method="POST")
    await rig.engine.run(execution_id)
    rig.clock.advance(SETTLE)
    fake.fail_next("/api/v3/myTrades", 2, status=503)  # every attempt of the guard
    await rig.engine.run(execution_id)
    [failed] = await rig.logs("lookup_failed")
    assert "second proof of absence" in (failed.reason or "")
    [order] = await rig.orders()
    assert order.status == m.OrderStatus.SENDING and fake.count(*SPOT_POST) == 1
    await rig.engine.run(execution_id)  # the history answers: absent, back to pending
    await rig.engine.run(execution_id)  # sent again
    assert fake.count(*SPOT_POST) == 2 and len(fake.orders()) == 1


async def test_trades_of_our_known_orders_do_not_block_a_resend(
    rig: Rig, fake_binance: FakeBinance
) -> None:
    fake = fake_binance
    follow_id = await follow_on(rig, fake)
    earlier = await rig.execution(await rig.signal(), follow_id)
    await rig.engine.run(earlier)  # filled and recorded: its trade is explained
    execution_id = await rig.execution(await rig.signal(), follow_id)
    fake.fail_next("/api/v3/order", 1, kind="reset", method="POST")
    await rig.engine.run(execution_id)
    rig.clock.advance(SETTLE)
    await rig.engine.run(execution_id)
    await rig.engine.run(execution_id)
    assert fake.count(*SPOT_POST) == 3 and len(fake.orders()) == 2
    assert all(o.status == m.OrderStatus.FILLED for o in await rig.orders())


async def test_a_trade_no_order_of_ours_explains_blocks_the_resend(
    rig: Rig, fake_binance: FakeBinance
) -> None:
    """A fill since the intent that no recorded order explains may be ours (trades carry no
    client id): nothing is sent, however long the lookup says "not found"."""
    fake = fake_binance
    follow_id = await follow_on(rig, fake)
    execution_id = await rig.execution(await rig.signal(), follow_id)
    fake.fail_next("/api/v3/order", 1, kind="reset", method="POST")
    await rig.engine.run(execution_id)
    fake.place_outside_order("web_1", price="50000")  # marketable: fills at once
    for _ in range(3):
        rig.clock.advance(SETTLE)
        await rig.engine.run(execution_id)
    assert fake.count(*SPOT_POST) == 1
    [order] = await rig.orders()
    assert order.status == m.OrderStatus.SENDING
    assert len(await rig.logs("order_unsure")) == 3


async def test_an_open_order_under_another_client_id_does_not_block_the_resend(
    rig: Rig, fake_binance: FakeBinance
) -> None:
    """An open order keeps the id it was sent with: one placed by hand, or another order
    of ours, is not the order whose answer was lost."""
    fake = fake_binance
    follow_id = await follow_on(rig, fake)
    execution_id = await rig.execution(await rig.signal(), follow_id)
    fake.fail_next("/api/v3/order", 1, kind="reset", method="POST")
    await rig.engine.run(execution_id)
    fake.place_outside_order("manual-order-1")  # resting at 40000
    fake.place_outside_order("sb-999999-e0")
    rig.clock.advance(SETTLE)
    await rig.engine.run(execution_id)
    await rig.engine.run(execution_id)
    assert fake.count(*SPOT_POST) == 2
    assert fake.order("manual-order-1").status == fake.order("sb-999999-e0").status == "NEW"
    [order] = await rig.orders()
    assert order.status == m.OrderStatus.FILLED


async def test_our_order_resting_where_the_lookup_cannot_see_is_tracked_from_open_orders(
    rig: Rig, fake_binance: FakeBinance
) -> None:
    fake = fake_binance
    follow_id = await follow_on(rig, fake)
    signal_id = await rig.signal(
        order_type="limit", entry_low=Decimal(49000), entry_high=Decimal(49500)
    )
    execution_id = await rig.execution(signal_id, follow_id)
    fake.hide_new_orders(10)
    fake.accept_then_drop(1, kind="reset")
    await rig.engine.run(execution_id)
    rig.clock.advance(SETTLE)
    assert await rig.engine.reconcile((await rig.orders())[0].id) is True
    [order] = await rig.orders()
    assert order.status == m.OrderStatus.OPEN
    assert order.venue_order_id == str(fake.orders()[0].order_id)
    assert fake.count(*SPOT_POST) == 1


def test_only_adapters_with_a_trade_history_get_the_second_proof() -> None:
    """The paper and MetaApi venues keep the lookup alone (today's rule)."""
    assert issubclass(CcxtAdapter, TradeHistory)
    assert not issubclass(PaperAdapter, TradeHistory)
    assert not issubclass(MetaApiAdapter, TradeHistory)
