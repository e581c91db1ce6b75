"""The panic button acts exactly once under a SIGKILL: a REAL process presses it for a
connection with two open positions on the fake Binance (through the real ccxt) and is
killed when the venue has answered the first close, before the answer is recorded. After
the restart the same request (its Idempotency-Key) finds the action interrupted, finishes
it and sends the second close only: one SELL per position, never two.

The child is this file run as a script (``python test_panic_sigkill.py DB KEY CONNECTION``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from tests.fakes.binance import FakeBinance, binance_server, fake_binance  # noqa: F401

from signalbridge.services.override import PANIC, Actor, OverrideRequest

pytestmark = pytest.mark.slow
KEY = "panic-kill-1"


def press(connection_id: int) -> OverrideRequest:
    return OverrideRequest(PANIC, connection_id=connection_id, params={"owner_id": None}, key=KEY)


class KillAfterFirstAnswer:
    """SendHooks that SIGKILL this process once the venue answered the first order."""

    async def before_post(self, order_id: int) -> None:
        return None

    async def after_answer(self, order_id: int, venue_order: object) -> None:
        print("answered", order_id, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


async def _child(db: str, key: str, connection_id: int) -> None:
    # Only what the engine needs (not the whole bootstrap): the child starts faster.
    from pydantic import SecretStr
    from tests.fakes.loopback import LOOPBACK_HOSTS

    from signalbridge.execution.engine import ExecutionEngine
    from signalbridge.execution.pool import AdapterPool
    from signalbridge.integrations.http import HttpClientFactory
    from signalbridge.integrations.kernel import Kernel
    from signalbridge.integrations.registry import AdapterRegistry
    from signalbridge.integrations.vault import Vault
    from signalbridge.services.override import Overrides
    from signalbridge.settings import Settings
    from signalbridge.store.db import make_engine, make_sessionmaker
    from signalbridge.venues.base import AdapterDeps
    from signalbridge.venues.ccxt import registration as ccxt_adapter

    settings = Settings(
        data_dir=Path(db.rpartition("///")[2]).parent,
        database_url=db,
        secret_keys=SecretStr(key),
        allowed_hosts=list(LOOPBACK_HOSTS),  # the fake Binance listens on loopback
    )
    sessions = make_sessionmaker(make_engine(db))
    vault = Vault.from_settings(key, settings.resolved_key_file)
    registry = AdapterRegistry()
    ccxt_adapter.register(registry)
    kernel = Kernel.from_settings(settings, CollectorRegistry())
    http = HttpClientFactory(registry=CollectorRegistry(), allowed_hosts=settings.allowed_hosts)
    pool = AdapterPool(sessions, vault, registry, AdapterDeps(http_factory=http), kernel.guard)
    engine = ExecutionEngine(sessions, pool, settle_seconds=30, hooks=KillAfterFirstAnswer())
    print("child ready", flush=True)
    await Overrides(sessions, engine).submit(Actor("cli"), press(connection_id))
    print("child finished", flush=True)


async def test_sigkill_mid_panic_then_the_same_request_finishes_without_a_second_order(
    tmp_path: Path,
    fake_binance: FakeBinance,  # noqa: F811
) -> None:
    from sqlalchemy import select
    from tests.integration.execution.test_engine_fixtures import build_rig

    from signalbridge.services.override import Overrides
    from signalbridge.store import models as m
    from signalbridge.venues.base import is_ours

    fake = fake_binance
    rig = await build_rig(tmp_path)
    try:
        connection_id = await rig.connection(
            "ccxt", fake.adapter_config("spot", timeout_ms=20_000), fake.adapter_secrets()
        )
        follow_id = await rig.follow(connection_id, sizing={"mode": "fixed_quote", "value": "50"})
        for _ in range(2):
            await rig.engine.run(await rig.execution(await rig.signal(), follow_id))
        async with rig.sessions() as s:
            positions = list((await s.scalars(select(m.Position).order_by(m.Position.id))).all())
        assert [p.status for p in positions] == [m.PositionStatus.OPEN] * 2
        assert fake.count("/api/v3/order", "POST") == 2  # the two entries

        root = Path(__file__).resolve().parents[2]
        db = str(rig.container.settings.resolved_database_url)
        key = rig.container.settings.secret_keys.get_secret_value()
        proc = subprocess.Popen(
            [sys.executable, __file__, db, key, str(connection_id)],
            cwd=root,
            env={**os.environ, "PYTHONPATH": os.pathsep.join((str(root / "src"), str(root)))},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            code = await asyncio.get_running_loop().run_in_executor(None, proc.wait, 60)
            output = proc.stdout.read() if proc.stdout else ""
        finally:
            if proc.poll() is None:
                proc.kill()
        assert code == -signal.SIGKILL, output
        assert "answered" in output and "child finished" not in output
        async with rig.sessions() as s:
            [action] = (await s.scalars(select(m.ManualAction))).all()
        assert action.status == m.ManualActionStatus.PENDING  # interrupted
        closes = [o for o in await rig.orders() if o.leg == f"m{action.id}"]
        assert [o.status for o in closes] == [m.OrderStatus.SENDING]  # "may exist"
        assert fake.count("/api/v3/order", "POST") == 3  # the venue has the first close

        # restart: the caller repeats its request once the action looks interrupted
        rig.clock.at = datetime.now(UTC) + timedelta(seconds=31)  # the child used wall time
        overrides = Overrides(rig.sessions, rig.engine, now=rig.clock)
        outcome = await overrides.submit(Actor("cli"), press(connection_id))
        assert outcome.duplicate and outcome.action_id == action.id
        assert outcome.status == m.ManualActionStatus.DONE, outcome
        again = await overrides.submit(Actor("cli"), press(connection_id))
        assert again.duplicate and again.status == m.ManualActionStatus.DONE

        closes = [o for o in await rig.orders() if o.leg == f"m{action.id}"]
        assert len(closes) == 2 and {o.execution_id for o in closes} == {
            p.execution_id for p in positions
        }
        assert all(o.status == m.OrderStatus.FILLED for o in closes)
        sells = [o for o in fake.orders() if o.side == "SELL" and is_ours(o.client_order_id)]
        assert sorted(o.client_order_id for o in sells) == sorted(
            o.client_order_id for o in closes
        )  # one SELL per position, no duplicate, no orphan
        assert fake.count("/api/v3/order", "POST") == 4
        async with rig.sessions() as s:
            statuses = (await s.scalars(select(m.Position.status))).all()
        assert list(statuses) == [m.PositionStatus.CLOSED] * 2
        assert await overrides.resume_stale() == 0
    finally:
        await rig.pool.close()
        await rig.container.engine.dispose()


if __name__ == "__main__":
    asyncio.run(_child(sys.argv[1], sys.argv[2], int(sys.argv[3])))
