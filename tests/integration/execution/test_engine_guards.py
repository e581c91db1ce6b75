"""Through the engine: the circuit breaker (row 17), the withdraw-key refusal at connection
test (row 29), staleness skips with their reasons, an entry zone split into limit orders,
and the batched fan-out path."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from tests.fakes.binance import FakeBinance
from tests.fakes.loopback import LOOPBACK_HOSTS
from tests.integration.execution.test_engine_fixtures import Rig
from tests.platform_fixtures import make_settings, running_harness

from signalbridge.store import models as m

PAPER = {"feed": {"seed": 1, "volatility": "0", "start_prices": {"BTC/USDT": "50000"}}}


async def test_row17_breaker_through_the_engine(rig: Rig, fake_binance: FakeBinance) -> None:
    fake = fake_binance
    rig.kernel.failure_threshold = 3
    broken = await rig.connection("ccxt", fake.adapter_config("spot"), fake.adapter_secrets())
    broken_follow = await rig.follow(broken, sizing={"mode": "fixed_quote", "value": "50"})
    paper = await rig.connection("paper", PAPER)
    paper_follow = await rig.follow(paper)
    signal_id = await rig.signal()
    blocked = await rig.execution(signal_id, broken_follow)
    fake.fail_next(None, 1000, kind="status", status=503)  # every request: 503
    for _ in range(3):
        await rig.engine.run(blocked)  # each run's reads fail (retried once each)
    requests = fake.count()
    await rig.engine.run(blocked)
    assert fake.count() == requests  # open: no call at all
    reasons = [row.reason or "" for row in await rig.logs("plan_deferred")]
    assert any("circuit open" in r for r in reasons)  # the blocked work says why it waits
    assert (await rig.execution_row(blocked)).status == m.ExecutionStatus.PENDING
    # another connection is not blocked by this breaker
    other = await rig.execution(signal_id, paper_follow)
    await rig.engine.run(other)
    assert (await rig.execution_row(other)).status == m.ExecutionStatus.OPEN
    # half-open: exactly one trial; it fails, the breaker opens again
    rig.kernel.ticks.advance(31)
    requests = fake.count()
    await rig.engine.run(blocked)
    assert fake.count() == requests + 1
    # recovery: the next trial succeeds and the waiting execution completes
    fake.clear_faults()
    rig.kernel.ticks.advance(31)
    await rig.engine.run(blocked)
    assert (await rig.execution_row(blocked)).status == m.ExecutionStatus.OPEN
    assert fake.count("/api/v3/order", "POST") == 1


async def test_row17_business_errors_never_trip_the_breaker(
    rig: Rig, fake_binance: FakeBinance
) -> None:
    fake = fake_binance
    connection_id = await rig.connection(
        "ccxt", fake.adapter_config("spot"), fake.adapter_secrets()
    )
    follow_id = await rig.follow(connection_id, sizing={"mode": "fixed_quote", "value": "20"})
    executions = [await rig.execution(await rig.signal(), follow_id) for _ in range(8)]
    # the venue refuses every order as a business error: insufficient balance
    fake.set_spot_balance("USDT", "25")
    for execution_id in executions:
        await rig.engine.plan(execution_id)  # planned while the balance looked enough
    fake.set_spot_balance("USDT", "1")
    for execution_id in executions:
        await rig.engine.run(execution_id)
    state = await rig.kernel.breaker_state("exchange", connection_id)
    assert state["state"] == "closed"
    assert fake.count("/api/v3/order", "POST") == 8  # every order was tried: none blocked
    rejected = await rig.logs("order_rejected")
    assert len(rejected) == 8 and all("insufficient" in (r.reason or "").lower() for r in rejected)


async def test_row29_withdraw_key_refused_at_connection_test(
    tmp_path: Path, fake_binance: FakeBinance
) -> None:
    fake = fake_binance
    db = f"sqlite+aiosqlite:///{tmp_path / 'h.db'}"
    settings = make_settings(tmp_path, db, allowed_hosts=LOOPBACK_HOSTS)  # the fake's loopback
    async with running_harness(settings) as h:
        body = await h.ok(
            "POST",
            "/connections",
            json={
                "name": "binance",
                "type": "ccxt",
                "config": {**fake.adapter_config("spot"), **fake.adapter_secrets()},
            },
        )
        connection_id = body["id"]
        ok = await h.ok("POST", f"/connections/{connection_id}/test")
        assert ok["ok"] is True and ok["can_withdraw"] is False
        fake.withdrawals_enabled = True
        refused = await h.ok("POST", f"/connections/{connection_id}/test")
        assert refused["ok"] is False and refused["can_withdraw"] is True
        assert "withdraw" in refused["message"] and fake.api_key not in str(refused)
        assert not any("withdraw" in p.lower() for _, p in fake.request_log)


async def test_staleness_skips_record_each_reason(rig: Rig) -> None:
    paper = await rig.connection("paper", {"feed": {"seed": 1, "volatility": "0"}})
    follow_id = await rig.follow(paper, risk={"max_signal_age_seconds": 60})
    markets = await (await rig.pool.get(paper)).adapter.fetch_tickers(["BTC/USDT"])
    price = markets["BTC/USDT"].last
    cases = {
        "old": {"received_at": rig.clock() - timedelta(seconds=600)},
        "moved": {  # the entry zone is 10 % below the market
            "order_type": "limit",
            "entry_low": price * Decimal("0.89"),
            "entry_high": price * Decimal("0.90"),
            "stop_loss": price * Decimal("0.80"),
            "take_profits": [str(price * 2)],
        },
        "stop": {"stop_loss": price * Decimal("1.01"), "take_profits": [str(price * 2)]},
        "tp1": {"stop_loss": price / 2, "take_profits": [str(price * Decimal("0.99"))]},
    }
    expected = {
        "old": "s old; the limit is 60 s",
        "moved": "past the entry",
        "stop": "beyond the stop loss",
        "tp1": "beyond the first target",
    }
    for name, fields in cases.items():
        execution_id = await rig.execution(await rig.signal(**fields), follow_id)
        await rig.engine.run(execution_id)
        row = await rig.execution_row(execution_id)
        assert row.status == m.ExecutionStatus.SKIPPED, name
        assert expected[name] in (row.reason or ""), (name, row.reason)
        [log] = [x for x in await rig.logs("skipped") if x.execution_id == execution_id]
        assert log.reason == row.reason
    assert await rig.count(m.Order) == 0


async def test_entry_zone_split_into_limit_orders(rig: Rig) -> None:
    paper = await rig.connection("paper", {"feed": {"seed": 1, "volatility": "0"}})
    follow_id = await rig.follow(
        paper, risk={"entry_orders": 3}, sizing={"mode": "fixed_quote", "value": "300"}
    )
    price = (await (await rig.pool.get(paper)).adapter.fetch_tickers(["BTC/USDT"]))["BTC/USDT"].last
    low, high = price * Decimal("0.98"), price * Decimal("0.99")
    execution_id = await rig.execution(
        await rig.signal(
            order_type="limit",
            entry_low=low,
            entry_high=high,
            stop_loss=price * Decimal("0.9"),
            take_profits=[str(price * 2)],
        ),
        follow_id,
    )
    await rig.engine.run(execution_id)
    orders = await rig.orders(execution_id=execution_id)
    assert [o.leg for o in orders] == ["e0", "e1", "e2"]
    assert all(o.type == "limit" and o.status == m.OrderStatus.OPEN for o in orders)
    prices = [o.price for o in orders]
    assert prices == sorted(prices, reverse=True)  # nearest the market first
    assert all(p is not None and low * Decimal("0.999") <= p <= high for p in prices)
    assert len({o.client_order_id for o in orders}) == 3


async def test_run_many_fans_out_exactly_once(rig: Rig, fake_binance: FakeBinance) -> None:
    fake = fake_binance
    follows = []
    for _ in range(5):
        cid = await rig.connection("ccxt", fake.adapter_config("spot"), fake.adapter_secrets())
        follows.append(await rig.follow(cid, sizing={"mode": "fixed_quote", "value": "20"}))
    for i in range(5):
        pid = await rig.connection("paper", {**PAPER, "account_id": f"p{i}"})
        follows.append(await rig.follow(pid, sizing={"mode": "fixed_quote", "value": "20"}))
    signal_id = await rig.signal()
    ids = [await rig.execution(signal_id, f) for f in follows]
    fake.accept_then_drop(2, kind="reset")  # two answers lost in the batch
    await rig.engine.run_many(ids + ids)  # duplicates in the batch change nothing
    await rig.engine.run_many(ids)
    assert fake.count("/api/v3/order", "POST") == 5 and len(fake.orders()) == 5
    orders = await rig.orders()
    assert len(orders) == 10 and all(o.status == m.OrderStatus.FILLED for o in orders)
    assert len(await rig.logs("planned")) == 10
    assert all([(await rig.execution_row(e)).status == m.ExecutionStatus.OPEN for e in ids])
