"""A MetaTrader stop that moves is replaced with one POSITION_MODIFY (issue 13, item 14):
the position's stop-loss slot takes the new level in one call, so the position is never
left without a stop between a removal and a new setting, and the books still show the old
generation cancelled and the new one resting."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import update
from tests.fakes.metaapi import FakeMetaApi
from tests.integration.execution.test_engine_fixtures import build_rig
from tests.integration.execution.test_metaapi_adapter import MAIN, TOKEN, metaapi_config

from signalbridge.execution.monitor import PositionMonitor
from signalbridge.store import models as m

D = Decimal


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeMetaApi]:
    server = FakeMetaApi(token=TOKEN)
    server.add_account(MAIN, balance=D(10000))
    with server:
        yield server


async def test_a_moved_stop_is_one_modify_and_never_a_gap(
    tmp_path: Path, fake: FakeMetaApi
) -> None:
    fake.reset()
    rig = await build_rig(tmp_path)
    try:
        connection = await rig.connection("metaapi", metaapi_config(fake), {"token": TOKEN})
        follow = await rig.follow(connection, sizing={"mode": "fixed_base", "value": "0.1"})
        signal_id = await rig.signal(
            symbol="EURUSD", stop_loss=D("1.08300"), take_profits=["1.09000"]
        )
        await rig.engine.run(await rig.execution(signal_id, follow))
        monitor = PositionMonitor(rig.sessions, rig.pool, rig.engine, now=rig.clock)
        report = await monitor.run_once()
        assert not report.errors, report.errors
        [position] = fake.accounts[MAIN].positions.values()
        assert position.stop_loss == D("1.08300")

        sent = len(fake.trade_bodies)
        async with rig.sessions() as s, s.begin():
            await s.execute(
                update(m.Position)
                .where(m.Position.signal_id == signal_id)
                .values(stop_loss=D("1.08350"))
            )
        report = await monitor.run_once()
        assert not report.errors, report.errors
        modifies = [b for b in fake.trade_bodies[sent:] if b["actionType"] == "POSITION_MODIFY"]
        assert [b.get("stopLoss") for b in modifies] == [D("1.08350")]
        [position] = fake.accounts[MAIN].positions.values()
        assert position.stop_loss == D("1.08350")
        legs = {o.leg: o for o in await rig.orders()}
        assert legs["s1"].status == "canceled" and legs["s2"].status == "open"
        assert legs["s2"].stop_price == D("1.08350")
        replaced = await rig.logs("protective_canceled")
        assert [log.order_id for log in replaced] == [legs["s1"].id]

        # The broker fires the new level; the books read the fill, no market exit.
        fake.set_price(MAIN, "EURUSDm", D("1.08340"), D("1.08352"))
        report = await monitor.run_once()
        assert not report.errors and report.orders == 0, report
        legs = {o.leg: o for o in await rig.orders()}
        assert legs["s2"].status == "filled" and "sl" not in legs
    finally:
        await rig.pool.close()
        await rig.container.engine.dispose()
