"""The monitor's exits on a spot venue (no reduce-only flag there): the stop of a position
opened on the fake Binance spot market is enforced with a plain sell that the venue accepts.
The buy paid Binance's 0.1 % in the coin bought, so what is held (and sold) is net of it."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from tests.fakes.binance import FakeBinance
from tests.integration.execution.test_engine_fixtures import build_rig

from signalbridge.execution.monitor import PositionMonitor
from signalbridge.store import models as m


async def test_stop_on_spot_is_a_plain_sell(tmp_path: Path, fake_binance: FakeBinance) -> None:
    fake = fake_binance
    rig = await build_rig(tmp_path)
    try:
        connection = await rig.connection(
            "ccxt", fake.adapter_config("spot"), fake.adapter_secrets()
        )
        follow = await rig.follow(connection, sizing={"mode": "fixed_quote", "value": "100"})
        signal_id = await rig.signal(stop_loss=Decimal(48000), take_profits=["60000"])
        execution = await rig.execution(signal_id, follow)
        await rig.engine.run(execution)
        async with rig.sessions() as s:
            position = await s.scalar(select(m.Position).where(m.Position.signal_id == signal_id))
        assert position is not None and position.status == m.PositionStatus.OPEN
        assert position.amount == Decimal("0.001998")  # 0.002 bought, less 0.1 % in BTC

        fake.set_price("BTCUSDT", "47000")  # through the 48000 stop
        monitor = PositionMonitor(rig.sessions, rig.pool, rig.engine, now=rig.clock)
        report = await monitor.run_once()
        assert report.orders == 1, report

        exits = [o for o in await rig.orders() if o.leg == "sl"]
        assert len(exits) == 1 and exits[0].status == m.OrderStatus.FILLED
        assert exits[0].reduce_only is False and exits[0].side == "sell"
        # what is held, down to the amount step: the fee dust below one step cannot be sold
        assert exits[0].amount == Decimal("0.00199")
        async with rig.sessions() as s:
            closed = await s.get_one(m.Position, position.id)
        assert closed.status == m.PositionStatus.CLOSED and closed.amount == 0
        assert closed.realized_pnl < 0
        venue_sells = [o for o in fake.orders(futures=False) if o.side.lower() == "sell"]
        assert len(venue_sells) == 1 and venue_sells[0].qty == Decimal("0.00199")
    finally:
        await rig.pool.close()
        await rig.container.engine.dispose()
