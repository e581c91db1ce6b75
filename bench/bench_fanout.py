"""One signal fanned out to N follows: time from dispatch until every order is sent,
acknowledged by the venue and recorded, batched engine vs. a naive baseline.

The three instants, each the LAST order's (clock started before the executions are created):

- sent: the order's intent is committed as ``sending`` and its POST is about to go out
  (the engine's ``before_post`` hook; the exactly-once point of no return);
- acknowledged: the venue's answer arrived (``after_answer`` hook);
- recorded: every answer is committed to the database (``run_many`` returned).

The baseline is the per-execution path (``ExecutionEngine.run`` for one follow after the
other: one request chain and about five commits per follow); the batched path is
``ExecutionEngine.run_many`` (one planning commit, concurrent POSTs, one recording commit).
Both run in the same process on the same warmed-up accounts (accounts exist and markets
are loaded, as in a running system), on the paper venue and on the fake Binance through
the real ccxt.

    .venv/bin/python bench/bench_fanout.py [--paper 1000] [--binance 1000] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from signalbridge.store.paper_book import SqlPaperStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signalbridge.bootstrap import Container, build_container
from signalbridge.execution.engine import ExecutionEngine
from signalbridge.execution.pool import AdapterPool
from signalbridge.integrations.http import HttpClientFactory
from signalbridge.integrations.kernel import Kernel
from signalbridge.integrations.sealing import seal
from signalbridge.integrations.vault import generate_key
from signalbridge.services.dispatch import dispatch_signal
from signalbridge.settings import Settings
from signalbridge.store import models as m
from signalbridge.store.migrate import upgrade
from signalbridge.venues.base import AdapterDeps


class LastAnswer:
    """SendHooks that note when the last intent was sent and the last answer arrived."""

    def __init__(self) -> None:
        self.sent = 0.0
        self.at = 0.0

    async def before_post(self, order_id: int) -> None:
        self.sent = time.perf_counter()

    async def after_answer(self, order_id: int, venue_order: object) -> None:
        self.at = time.perf_counter()


async def setup(
    url: str, data_dir: Path, n: int, type_: str, config: Any, secrets: dict[str, str]
) -> tuple[Container, ExecutionEngine, int]:
    settings = Settings(data_dir=data_dir, database_url=url, secret_keys=generate_key())
    c = build_container(settings)
    await upgrade(c.engine)
    kernel = Kernel.from_settings(settings, CollectorRegistry())
    # The fake Binance listens on loopback: the operator's allow-list says so.
    http = HttpClientFactory(registry=CollectorRegistry(), allowed_hosts=("127.0.0.1", "::1"))
    deps = AdapterDeps(paper_store=partial(SqlPaperStore, c.sessions), http_factory=http)
    pool = AdapterPool(c.sessions, c.vault, c.registry, deps, kernel.guard)
    engine = ExecutionEngine(c.sessions, pool, settle_seconds=30, hooks=LastAnswer())
    async with c.sessions() as s, s.begin():
        owner = m.User(email="bench@example.com", password_hash="-", role=m.Role.ADMIN)
        s.add(owner)
        await s.flush()
        channel = m.ChannelSource(name="bench", type="webhook", config={}, owner_id=owner.id)
        s.add(channel)
        await s.flush()
        for i in range(n):
            conn = m.ExecutionConnection(
                name=f"{type_}-{i}", type=type_, config=config(i), owner_id=owner.id
            )
            s.add(conn)
            await s.flush()
            conn.secrets_enc = seal(c.vault, "execution_connections", conn.id, secrets)
            s.add(
                m.Follow(
                    connection_id=conn.id,
                    channel_id=channel.id,
                    sizing={"mode": "fixed_quote", "value": "20"},
                )
            )
    return c, engine, channel.id


async def new_signal(c: Container, channel_id: int, tag: str) -> list[int]:
    async with c.sessions() as s, s.begin():
        msg = m.Message(channel_id=channel_id, external_id=tag, text=tag)
        s.add(msg)
        await s.flush()
        sig = m.Signal(
            message_id=msg.id,
            channel_id=channel_id,
            symbol="BTC/USDT",
            side="long",
            order_type="market",
            take_profits=["1000000"],
        )
        s.add(sig)
        await s.flush()
        signal_id = sig.id
    return await dispatch_signal(c.sessions, signal_id)


async def acked(c: Container, ids: list[int]) -> int:
    async with c.sessions() as s:
        q = (
            select(func.count())
            .select_from(m.Order)
            .where(m.Order.execution_id.in_(ids), m.Order.acked_at.is_not(None))
        )
        return int(await s.scalar(q) or 0)


async def measure(
    label: str, url: str, data_dir: Path, n: int, type_: str, config: Any, secrets: dict[str, str]
) -> None:
    c, engine, channel_id = await setup(url, data_dir, n, type_, config, secrets)
    try:
        started = time.perf_counter()
        await engine.run_many(await new_signal(c, channel_id, "warm-up"))
        warm = time.perf_counter() - started

        ids = await new_signal(c, channel_id, "baseline")
        hooks: LastAnswer = engine.hooks  # type: ignore[assignment]
        started = time.perf_counter()
        for execution_id in ids:  # naive: one follow after the other
            await engine.run(execution_id)
        naive = (hooks.sent - started, hooks.at - started, time.perf_counter() - started)
        assert await acked(c, ids) == n, "baseline left orders unsent"

        started = time.perf_counter()
        ids = await new_signal(c, channel_id, "batched")  # dispatch included
        await engine.run_many(ids)
        batched = (hooks.sent - started, hooks.at - started, time.perf_counter() - started)
        assert await acked(c, ids) == n, "batched run left orders unsent"
        print(f"{label}: follows={n}  [warm-up {warm:.1f} s]", flush=True)
        for name, b, v in zip(("sent", "acknowledged", "recorded"), batched, naive, strict=True):
            print(
                f"  every order {name:<13} batched {b:7.3f} s   naive {v:7.3f} s   (x{v / b:5.1f})"
            )
        if label.startswith("paper"):
            verdict = "met" if batched[0] <= 1.0 else "NOT met"
            print(f"  target: every order sent <= 1 s on paper: {verdict}", flush=True)
    finally:
        await engine.pool.close()
        await c.engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--paper", type=int, default=1000)
    parser.add_argument("--binance", type=int, default=1000)
    parser.add_argument("--postgres", default="", help="an asyncpg URL to an empty database")
    args = parser.parse_args()
    print(
        "sent = intent committed as `sending` right before its POST; acknowledged = venue "
        "answer received; recorded = answers committed. Clock starts before dispatch."
    )
    databases = []
    with tempfile.TemporaryDirectory() as tmp:
        databases.append(("sqlite", f"sqlite+aiosqlite:///{tmp}/bench.db"))
        if args.postgres:
            databases.append(("postgres", args.postgres))
        for db_label, url in databases:
            if args.paper:
                run_dir = Path(tmp) / f"paper-{db_label}"
                run_dir.mkdir()
                await measure(
                    f"paper / {db_label}",
                    url.replace("bench.db", "paper.db"),
                    run_dir,
                    args.paper,
                    "paper",
                    lambda i: {
                        "account_id": f"acct-{i}",
                        "feed": {"seed": 1, "volatility": "0"},
                        "balances": {"USDT": "100000"},
                    },
                    {},
                )
            if args.binance:
                from tests.fakes.binance import running_fake_binance

                with running_fake_binance(weight_limit=10**9) as fake:
                    fake.set_spot_balance("USDT", "100000000")
                    run_dir = Path(tmp) / f"binance-{db_label}"
                    run_dir.mkdir()
                    await measure(
                        f"fake Binance (ccxt) / {db_label}",
                        url.replace("bench.db", "binance.db"),
                        run_dir,
                        args.binance,
                        "ccxt",
                        lambda i: fake.adapter_config("spot"),
                        fake.adapter_secrets(),
                    )


if __name__ == "__main__":
    asyncio.run(main())
