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

Warm-up of many accounts on one venue (``--warm-up N``, fake Binance): the time from a cold
adapter pool until every connection's adapter is built and has its markets (what the first
signal waits for before any order), and the resident memory that added, measured twice in
the same process over the same N connections: shared (one market table, TLS context and
ccxt template per venue: venues/ccxt/market_cache.py, instances.py) and today's way
(``MarketCache(share=False)``: each connection builds a full ccxt instance and loads and
parses its own table). The shared way runs first, so memory the old way frees cannot flatter
it; freed memory is handed back to the OS in between (glibc ``malloc_trim``).

    .venv/bin/python bench/bench_fanout.py [--paper 1000] [--binance 1000] [--warm-up 1000]
        [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import psutil
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from signalbridge.store.paper_book import SqlPaperStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signalbridge.bootstrap import Container, build_container
from signalbridge.execution.engine import ExecutionEngine
from signalbridge.execution.pool import AdapterPool, Connected
from signalbridge.integrations.http import HttpClientFactory
from signalbridge.integrations.kernel import Kernel
from signalbridge.integrations.sealing import seal
from signalbridge.integrations.vault import generate_key
from signalbridge.services.dispatch import dispatch_signal
from signalbridge.settings import Settings
from signalbridge.store import models as m
from signalbridge.store.migrate import upgrade
from signalbridge.venues.base import AdapterDeps
from signalbridge.venues.ccxt.market_cache import SHARED_KEY, MarketCache


class LastAnswer:
    """SendHooks that note when the last intent was sent and the last answer arrived."""

    def __init__(self) -> None:
        self.sent = 0.0
        self.at = 0.0

    async def before_post(self, order_id: int) -> None:
        self.sent = time.perf_counter()

    async def after_answer(self, order_id: int, venue_order: object) -> None:
        self.at = time.perf_counter()


def new_pool(c: Container, cache: MarketCache | None = None) -> AdapterPool:
    """A cold adapter pool with its own deps, as a starting process has; ``cache``: the
    ccxt market cache to use (None: the default, shared per venue)."""
    kernel = Kernel.from_settings(c.settings, CollectorRegistry())
    # The fake Binance listens on loopback: the operator's allow-list says so.
    http = HttpClientFactory(registry=CollectorRegistry(), allowed_hosts=("127.0.0.1", "::1"))
    deps = AdapterDeps(
        paper_store=partial(SqlPaperStore, c.sessions),
        http_factory=http,
        shared={} if cache is None else {SHARED_KEY: cache},
    )
    return AdapterPool(c.sessions, c.vault, c.registry, deps, kernel.guard)


async def setup(
    url: str, data_dir: Path, n: int, type_: str, config: Any, secrets: dict[str, str]
) -> tuple[Container, ExecutionEngine, int]:
    settings = Settings(data_dir=data_dir, database_url=url, secret_keys=generate_key())
    c = build_container(settings)
    await upgrade(c.engine)
    pool = new_pool(c)
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


def rss() -> int:
    """Resident memory now, after a collection and with freed memory handed back."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: RSS as it is
        pass
    return int(psutil.Process().memory_info().rss)


async def warm_up(
    c: Container, ids: list[int], cache: MarketCache, concurrency: int = 64
) -> tuple[float, float]:
    """Seconds and megabytes (RSS added) until every connection is built with markets."""
    pool = new_pool(c, cache)
    before = rss()
    started = time.perf_counter()
    lives = await pool.get_many(ids)
    ready = [live for live in lives.values() if isinstance(live, Connected)]
    assert len(ready) == len(ids), "some connections were not built"
    # As the engine reads a fan-out: at most ``concurrency`` at a time (all at once, today's
    # way times out: each connection's TLS contexts hold the loop for ~10 ms). The first
    # connection loads alone, so the weight limit the venue states in exchangeInfo (the
    # fake: a huge one) is known before the others ask; without it, today's way spends 20
    # weight per connection against Binance's documented 6,000 a minute per IP, and 1,000
    # connections need 3.3 minutes of budget (they fail, rate limited).
    sem = asyncio.Semaphore(concurrency)

    async def one(live: Connected) -> None:
        async with sem:
            await live.read(live.adapter.load_markets)

    await one(ready[0])
    await asyncio.gather(*(one(live) for live in ready[1:]))
    took = time.perf_counter() - started
    added = (rss() - before) / 1e6
    await pool.close()
    return took, added


async def measure_warm_up(url: str, data_dir: Path, n: int, fake: Any) -> None:
    """Warm-up of ``n`` connections on one venue, shared vs. today's way (module docstring)."""
    c, engine, _ = await setup(
        url, data_dir, n, "ccxt", lambda i: fake.adapter_config("spot"), fake.adapter_secrets()
    )
    await engine.pool.close()
    try:
        async with c.sessions() as s:
            ids = list((await s.scalars(select(m.ExecutionConnection.id))).all())
        info = "/api/v3/exchangeInfo"
        figures = []
        for label, cache in (("shared", MarketCache()), ("today", MarketCache(share=False))):
            asked = fake.count(info)
            took, added = await warm_up(c, ids, cache)
            figures.append((label, took, added, fake.count(info) - asked))
        print(f"fake Binance warm-up: connections={n}  (pool built, every adapter has markets)")
        for label, took, added, asked in figures:
            print(
                f"  {label:<6} {took:7.2f} s   RSS +{added:7.1f} MB   "
                f"({added * 1e3 / n:6.1f} kB each)   exchangeInfo requests {asked}"
            )
        (_, s_took, s_added, _), (_, t_took, t_added, _) = figures
        print(
            f"  shared vs today: x{t_took / s_took:.1f} faster, "
            f"x{t_added / s_added:.1f} less memory"
        )
        verdict = "met" if s_took <= 2.0 * n / 1000 and s_added <= 100.0 * n / 1000 else "NOT met"
        print(
            f"  target: 1,000 connections warm up in <= 2 s and add <= 100 MB: {verdict}",
            flush=True,
        )
    finally:
        await c.engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--paper", type=int, default=1000)
    parser.add_argument("--binance", type=int, default=1000)
    parser.add_argument("--warm-up", type=int, default=1000, help="connections, fake Binance")
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
            if args.warm_up:
                from tests.fakes.binance import running_fake_binance

                with running_fake_binance(weight_limit=10**9) as fake:
                    run_dir = Path(tmp) / f"warm-{db_label}"
                    run_dir.mkdir()
                    await measure_warm_up(
                        url.replace("bench.db", "warm.db"), run_dir, args.warm_up, fake
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
