"""Row 11: a REAL engine process is SIGKILLed at three points around the POST of an order to
the fake Binance (through the real ccxt); after a restart, start-up reconciliation and the
engine's own re-run leave 0 duplicate and 0 orphan orders.

* before the POST: an :class:`SendHooks` the child installs kills it after the ``sending``
  commit;
* after the POST, before the answer: the fake executes the order and holds the answer back
  (``accept_then_drop(kind="timeout")``); the test kills the child from outside meanwhile;
* after the answer, before the commit: the child's hook kills it when the answer arrives.

The child is this file run as a script (``python test_exchange_kill.py DB KEY EXEC POINT``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from tests.fakes.binance import FakeBinance, binance_server, fake_binance  # noqa: F401

from signalbridge.store.paper_book import SqlPaperStore

pytestmark = pytest.mark.slow
POINTS = ("before_post", "after_post", "after_answer")


class KillAt:
    """SendHooks that SIGKILL this process at one named point."""

    def __init__(self, point: str) -> None:
        self.point = point

    async def before_post(self, order_id: int) -> None:
        if self.point == "before_post":
            os.kill(os.getpid(), signal.SIGKILL)

    async def after_answer(self, order_id: int, venue_order: object) -> None:
        if self.point == "after_answer":
            os.kill(os.getpid(), signal.SIGKILL)


async def _child(db: str, key: str, execution_id: int, point: str) -> None:
    from tests.fakes.loopback import LOOPBACK_HOSTS

    from signalbridge.bootstrap import build_container
    from signalbridge.execution.engine import ExecutionEngine
    from signalbridge.execution.pool import AdapterPool
    from signalbridge.integrations.http import HttpClientFactory
    from signalbridge.integrations.kernel import Kernel
    from signalbridge.settings import Settings
    from signalbridge.venues.base import AdapterDeps

    settings = Settings(
        data_dir=Path(db).parent,
        database_url=db,
        secret_keys=key,
        allowed_hosts=LOOPBACK_HOSTS,  # the fake Binance listens on loopback
    )
    c = build_container(settings)
    kernel = Kernel.from_settings(settings, CollectorRegistry())
    http = HttpClientFactory(registry=CollectorRegistry(), allowed_hosts=settings.allowed_hosts)
    deps = AdapterDeps(paper_store=partial(SqlPaperStore, c.sessions), http_factory=http)
    pool = AdapterPool(c.sessions, c.vault, c.registry, deps, kernel.guard)
    engine = ExecutionEngine(c.sessions, pool, settle_seconds=30, hooks=KillAt(point))
    print("child ready", flush=True)
    await engine.run(execution_id)
    print("child finished", flush=True)


async def _setup(tmp_path: Path, fake: FakeBinance) -> tuple[str, str, int, object]:
    from tests.integration.execution.test_engine_fixtures import build_rig

    rig = await build_rig(tmp_path)
    connection_id = await rig.connection(
        "ccxt", fake.adapter_config("spot", timeout_ms=20_000), fake.adapter_secrets()
    )
    follow_id = await rig.follow(connection_id, sizing={"mode": "fixed_quote", "value": "50"})
    execution_id = await rig.execution(await rig.signal(), follow_id)
    key = rig.container.settings.secret_keys.get_secret_value()
    return str(rig.container.settings.resolved_database_url), key, execution_id, rig


@pytest.mark.parametrize("point", POINTS)
async def test_sigkill_around_the_post_leaves_no_duplicate_and_no_orphan(
    point: str,
    tmp_path: Path,
    fake_binance: FakeBinance,  # noqa: F811
) -> None:
    from tests.integration.execution.test_engine_fixtures import Rig

    from signalbridge.execution.reconcile import reconcile_all
    from signalbridge.store import models as m
    from signalbridge.venues.base import is_ours

    fake = fake_binance
    db, key, execution_id, rig_obj = await _setup(tmp_path, fake)
    rig: Rig = rig_obj  # type: ignore[assignment]
    if point == "after_post":
        fake.accept_then_drop(1, kind="timeout", delay=8.0)
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, __file__, db, key, str(execution_id), point],
        cwd=root,
        # The child imports this tree's sources (src first), not whatever is installed.
        env={**os.environ, "PYTHONPATH": os.pathsep.join((str(root / "src"), str(root)))},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        if point == "after_post":
            deadline = time.monotonic() + 30
            while not fake.orders() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            assert fake.orders(), "the order never reached the venue"
            proc.send_signal(signal.SIGKILL)  # the venue has it; the answer never came
        code = await asyncio.get_running_loop().run_in_executor(None, proc.wait, 60)
        output = proc.stdout.read() if proc.stdout else ""
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == -signal.SIGKILL, output
    assert "child finished" not in output
    [order] = await rig.orders()
    assert order.status == m.OrderStatus.SENDING  # the row says "may exist"
    posts_before = fake.count("/api/v3/order", "POST")
    assert posts_before == (0 if point == "before_post" else 1)

    # restart: start-up reconciliation, then (after the settle window) the sweeper's re-run
    report = await reconcile_all(rig.engine)
    assert report.failed_connections == []
    rig.clock.at = datetime.now(UTC) + timedelta(seconds=31)  # the child used the wall clock
    await reconcile_all(rig.engine)
    await rig.engine.run(execution_id)

    venue = [o for o in fake.orders() if is_ours(o.client_order_id)]
    rows = await rig.orders()
    assert len(venue) == 1  # no duplicate
    assert {o.client_order_id for o in venue} == {r.client_order_id for r in rows}  # no orphan
    assert rows[0].status == m.OrderStatus.FILLED and rows[0].venue_order_id
    assert fake.count("/api/v3/order", "POST") == 1  # exactly one POST ever got through
    await rig.pool.close()
    await rig.container.engine.dispose()


if __name__ == "__main__":
    asyncio.run(_child(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]))
