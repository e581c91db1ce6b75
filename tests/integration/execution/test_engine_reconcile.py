"""Row 14: restart with orders in every state; the database and the venue disagree (filled,
partial, cancelled, unknown, extra, missing) and ``reconcile_all`` repairs or flags every
difference with an execution log row; foreign orders are left alone."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import update
from tests.fakes.binance import FakeBinance
from tests.integration.execution.test_engine_fixtures import Rig

from signalbridge.execution.reconcile import reconcile_all
from signalbridge.store import models as m


async def test_row14_reconcile_repairs_or_flags_every_difference(
    rig: Rig, fake_binance: FakeBinance
) -> None:
    fake = fake_binance
    connection_id = await rig.connection(
        "ccxt", fake.adapter_config("spot", timeout_ms=1000), fake.adapter_secrets()
    )
    follow_id = await rig.follow(connection_id, sizing={"mode": "fixed_quote", "value": "100"})
    fake.set_price("BTCUSDT", "50010")
    limit = {"order_type": "limit", "entry_low": Decimal(49900), "entry_high": Decimal(50000)}
    names = ("filled", "partial", "cancelled", "still_open", "missing")
    ex = {n: await rig.execution(await rig.signal(**limit), follow_id) for n in names}
    for execution_id in ex.values():
        await rig.engine.run(execution_id)
    cid = {n: f"sb-{e}-e0" for n, e in ex.items()}
    assert all(o.status == m.OrderStatus.OPEN for o in await rig.orders())

    # while we were away: one filled, one partly filled, one cancelled by the user
    whole = fake.order(cid["filled"]).qty
    fake.set_order_status(cid["filled"], "FILLED", executed_qty=whole)
    fake.set_order_status(cid["partial"], "PARTIALLY_FILLED", executed_qty="0.001")
    fake.set_order_status(cid["cancelled"], "CANCELED")
    fake.lose_order(cid["missing"])  # the venue lost it
    # unknown outcomes: one POST that reached the venue, one that did not
    fake.accept_then_drop(1, kind="reset")
    reached = await rig.execution(await rig.signal(**limit), follow_id)
    await rig.engine.run(reached)
    fake.fail_next("/api/v3/order", 1, kind="reset", method="POST")
    lost = await rig.execution(await rig.signal(**limit), follow_id)
    await rig.engine.run(lost)
    # extra orders: one of ours without a row, and a foreign one
    fake.place_outside_order("sb-999999-e0")
    fake.place_outside_order("manual-order-1")
    async with rig.sessions() as s, s.begin():  # the venue answered "accepted" long ago
        await s.execute(
            update(m.Order)
            .where(m.Order.client_order_id == f"sb-{reached}-e0")
            .values(status=m.OrderStatus.SENDING)
        )
    rig.clock.advance(31)  # both unknown outcomes are older than the settle window

    deletes = fake.count("/api/v3/order", "DELETE")
    report = await reconcile_all(rig.engine)

    rows = {o.client_order_id: o for o in await rig.orders()}
    assert rows[cid["filled"]].status == m.OrderStatus.FILLED
    assert rows[cid["partial"]].status == m.OrderStatus.PARTIALLY_FILLED
    assert rows[cid["partial"]].filled == Decimal("0.001")
    assert rows[cid["cancelled"]].status == m.OrderStatus.CANCELED
    assert rows[cid["still_open"]].status == m.OrderStatus.OPEN
    assert rows[cid["missing"]].status == m.OrderStatus.OPEN  # flagged, not guessed
    assert rows[f"sb-{reached}-e0"].status == m.OrderStatus.OPEN
    assert rows[f"sb-{lost}-e0"].status == m.OrderStatus.PENDING  # will be sent again
    assert await rig.count(m.Position, execution_id=ex["filled"]) == 1
    assert await rig.count(m.Position, execution_id=ex["partial"]) == 1

    repaired = {f.client_order_id for f in report.repaired}
    assert repaired == {
        cid["filled"],
        cid["partial"],
        cid["cancelled"],
        f"sb-{reached}-e0",
        f"sb-{lost}-e0",
    }
    flagged = {(f.action, f.client_order_id) for f in report.flagged}
    assert flagged == {
        ("reconcile_missing_on_venue", cid["missing"]),
        ("reconcile_orphan_order", "sb-999999-e0"),
    }
    assert report.foreign_orders == 1
    # every difference has a log row saying what and why
    logs = await rig.logs(*{f.action for f in report.findings})
    assert len(logs) == len(report.findings) and all(row.reason for row in logs)
    # foreign orders untouched: still open, never cancelled, never mentioned
    assert fake.order("manual-order-1").status == "NEW"
    assert fake.count("/api/v3/order", "DELETE") == deletes
    assert not any("manual-order-1" in str(row.request) for row in await rig.logs())

    # a second run finds nothing new to repair; the flags stand
    again = await reconcile_all(rig.engine)
    assert again.repaired == [] and {f.action for f in again.flagged} == {
        "reconcile_missing_on_venue",
        "reconcile_orphan_order",
    }
