"""Shared set-up for the engine tests: a migrated SQLite database, the real kernel, pool and
engine, and rows (channel, signal, follow, execution) written directly, so a test drives the
engine without the web layer. Imported by conftest.py; holds no tests itself."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select
from tests.fakes.loopback import LOOPBACK_HOSTS
from tests.platform_fixtures import make_settings, migrated_sqlite_url, upgrade_to_head

from signalbridge.bootstrap import Container, build_container
from signalbridge.execution.engine import ExecutionEngine
from signalbridge.execution.pool import AdapterPool
from signalbridge.execution.sending import SendHooks
from signalbridge.integrations.breaker import CircuitBreaker
from signalbridge.integrations.http import HttpClientFactory
from signalbridge.integrations.kernel import Kernel
from signalbridge.integrations.retry import RetryPolicy
from signalbridge.integrations.sealing import seal
from signalbridge.store import models as m
from signalbridge.store.paper_book import SqlPaperStore
from signalbridge.venues.base import AdapterDeps


async def _no_sleep(_: float) -> None:
    return None


class Ticks:
    """A settable monotonic clock (seconds) for breakers: cool-downs pass without sleeping."""

    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class ClockedKernel(Kernel):
    """The real kernel whose breakers read an injected clock."""

    ticks: Ticks = field(default_factory=Ticks)

    def breaker(self, kind: str, connection_id: int) -> CircuitBreaker:
        return CircuitBreaker(
            f"{kind}:{connection_id}",
            store=self.breaker_store,
            failure_threshold=self.failure_threshold,
            cooldown=self.cooldown,
            clock=self.ticks,
            metrics=self.metrics,
        )


class Clock:
    """A settable wall clock for the engine's settle window and staleness checks."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@dataclass
class Rig:
    container: Container
    kernel: ClockedKernel
    pool: AdapterPool
    engine: ExecutionEngine
    clock: Clock
    channel_id: int = 0
    owner_id: int = 0  # the user owning every connection the rig makes
    _n: int = field(default=0)

    @property
    def sessions(self) -> Any:
        return self.container.sessions

    def new_engine(self, hooks: SendHooks | None = None) -> ExecutionEngine:
        return ExecutionEngine(
            self.sessions, self.pool, settle_seconds=30.0, now=self.clock, hooks=hooks
        )

    async def connection(
        self, type_: str, config: dict[str, Any], secrets: dict[str, str] | None = None
    ) -> int:
        async with self.sessions() as s, s.begin():
            row = m.ExecutionConnection(
                name=f"{type_}-{self._n}", type=type_, config=config, owner_id=self.owner_id
            )
            self._n += 1
            s.add(row)
            await s.flush()
            row.secrets_enc = seal(
                self.container.vault, "execution_connections", row.id, secrets or {}
            )
            return row.id

    async def follow(self, connection_id: int, **fields: Any) -> int:
        async with self.sessions() as s, s.begin():
            row = m.Follow(
                connection_id=connection_id,
                channel_id=self.channel_id,
                sizing=fields.pop("sizing", {"mode": "fixed_quote", "value": "100"}),
                **fields,
            )
            s.add(row)
            await s.flush()
            return row.id

    async def signal(self, **fields: Any) -> int:
        values: dict[str, Any] = {
            "symbol": "BTC/USDT",
            "side": "long",
            "order_type": "market",
            "stop_loss": Decimal(45000),
            "take_profits": ["60000"],
            "received_at": self.clock(),
            **fields,
        }
        async with self.sessions() as s, s.begin():
            self._n += 1
            msg = m.Message(channel_id=self.channel_id, external_id=f"m{self._n}", text="x")
            s.add(msg)
            await s.flush()
            row = m.Signal(message_id=msg.id, channel_id=self.channel_id, **values)
            s.add(row)
            await s.flush()
            return row.id

    async def execution(self, signal_id: int, follow_id: int) -> int:
        async with self.sessions() as s, s.begin():
            follow = await s.get_one(m.Follow, follow_id)
            row = m.Execution(
                signal_id=signal_id, follow_id=follow_id, connection_id=follow.connection_id
            )
            s.add(row)
            await s.flush()
            return row.id

    async def orders(self, **where: Any) -> list[m.Order]:
        async with self.sessions() as s:
            q = select(m.Order).order_by(m.Order.id)
            for k, v in where.items():
                q = q.where(getattr(m.Order, k) == v)
            return list((await s.scalars(q)).all())

    async def logs(self, *actions: str) -> list[m.ExecutionLog]:
        async with self.sessions() as s:
            q = select(m.ExecutionLog).order_by(m.ExecutionLog.id)
            if actions:
                q = q.where(m.ExecutionLog.action.in_(actions))
            return list((await s.scalars(q)).all())

    async def execution_row(self, execution_id: int) -> m.Execution:
        async with self.sessions() as s:
            return await s.get_one(m.Execution, execution_id)

    async def count(self, model: type, **where: Any) -> int:
        async with self.sessions() as s:
            q = select(func.count()).select_from(model)
            for k, v in where.items():
                q = q.where(getattr(model, k) == v)
            return int(await s.scalar(q) or 0)


def sqlite_url(path: Path) -> str:
    """The database at ``path``; a new one starts as a copy of the migrated template."""
    return f"sqlite+aiosqlite:///{path}" if path.exists() else migrated_sqlite_url(path)


async def build_rig(
    tmp_path: Path,
    *,
    redis_url: str = "",
    database_url: str | None = None,
    policy: RetryPolicy | None = None,
    failure_threshold: int = 5,
    cooldown: float = 30.0,
    deps: AdapterDeps | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Rig:
    url = database_url or sqlite_url(tmp_path / "engine.db")
    # The fakes listen on loopback: the operator's allow-list says so, as in development.
    settings = make_settings(tmp_path, url, redis_url=redis_url, allowed_hosts=LOOPBACK_HOSTS)
    container = build_container(settings)
    await upgrade_to_head(container.engine)
    kernel = ClockedKernel.from_settings(settings, CollectorRegistry())
    assert isinstance(kernel, ClockedKernel)
    kernel.failure_threshold = failure_threshold
    kernel.cooldown = cooldown
    kernel.policies["exchange"] = policy or RetryPolicy(
        attempts=2, base_backoff=0.01, max_backoff=0.01, total_budget=5.0, sleep=_no_sleep
    )
    pool = AdapterPool(
        container.sessions,
        container.vault,
        container.registry,
        deps
        or AdapterDeps(
            paper_store=partial(SqlPaperStore, container.sessions),
            http_factory=HttpClientFactory(
                registry=CollectorRegistry(), allowed_hosts=settings.allowed_hosts
            ),
        ),
        kernel.guard,
    )
    the_clock = Clock()
    engine = ExecutionEngine(container.sessions, pool, settle_seconds=30.0, now=the_clock)
    rig = Rig(container, kernel, pool, engine, the_clock)
    async with container.sessions() as s, s.begin():
        owner = m.User(email="owner@example.com", password_hash="-", role=m.Role.ADMIN)
        s.add(owner)
        await s.flush()
        channel = m.ChannelSource(name="hook", type="webhook", config={}, owner_id=owner.id)
        s.add(channel)
        await s.flush()
        rig.channel_id = channel.id
        rig.owner_id = owner.id
    return rig


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = await build_rig(tmp_path)
    try:
        yield r
    finally:
        await r.pool.close()
        await r.container.engine.dispose()
