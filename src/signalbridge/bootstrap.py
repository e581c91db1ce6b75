"""The composition root: the one place that builds the object graph from settings.

Entry points (CLI commands, the ASGI app, workers) call :func:`build_container` and pass
the result down. Nothing else reads settings or creates engines, brokers or clients.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from signalbridge.integrations.registry import AdapterRegistry, adapters
from signalbridge.integrations.vault import Vault
from signalbridge.jobs.queue import TaskQueue, make_broker
from signalbridge.settings import Settings
from signalbridge.store.db import make_engine, make_sessionmaker

#: Modules that register adapters into the registry when imported.
ADAPTER_MODULES = (
    "signalbridge.channels.webhook",
    "signalbridge.execution.paper.registration",
    "signalbridge.execution.ccxt_adapter",
    "signalbridge.execution.metaapi.adapter",
)


def load_adapters() -> AdapterRegistry:
    for name in ADAPTER_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:  # an optional adapter whose library is missing
            if exc.name and not exc.name.startswith("signalbridge"):
                continue
            raise
    return adapters


@dataclass
class Container:
    """Everything a process shares: settings, database, vault, queue, adapters, metrics."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    vault: Vault
    queue: TaskQueue
    registry: AdapterRegistry
    metrics: CollectorRegistry
    extras: dict[str, Any] = field(default_factory=dict)

    async def close(self) -> None:
        pool = self.extras.get("adapter_pool")
        if pool is not None:
            await pool.close()
        await self.queue.shutdown()
        await self.engine.dispose()


def build_container(settings: Settings, *, broker_url: str | None = None) -> Container:
    """Wire the object graph; cheap and synchronous (no I/O beyond the key file)."""
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # private when we create it
    engine = make_engine(settings.resolved_database_url)
    vault = Vault.from_settings(settings.secret_keys.get_secret_value(), settings.resolved_key_file)
    queue = TaskQueue(make_broker(broker_url or settings.broker_url, settings.broker_queue))
    container = Container(
        settings=settings,
        engine=engine,
        sessions=make_sessionmaker(engine),
        vault=vault,
        queue=queue,
        registry=load_adapters(),
        metrics=CollectorRegistry(),
    )
    return container
