"""Live adapters per execution connection, each behind its kernel guard.

An adapter is built from the connection row (config + unsealed secrets) the first time it
is needed and rebuilt when the row changes, so a credential replaced through the API takes
effect at the next call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.integrations.errors import (
    ConnectionDisabled,
    IntegrationError,
    InvalidRequest,
)
from signalbridge.integrations.guard import ConnectionGuard
from signalbridge.integrations.registry import AdapterRegistry
from signalbridge.integrations.sealing import unseal
from signalbridge.integrations.vault import Vault
from signalbridge.store import models as m
from signalbridge.venues.base import AdapterDeps, ExchangeAdapter

T = TypeVar("T")


class GuardFactory(Protocol):
    def __call__(self, kind: str, connection_id: int, type_: str) -> ConnectionGuard: ...


@dataclass
class Connected:
    """An adapter with the guard every call to it goes through."""

    connection_id: int
    type: str
    adapter: ExchangeAdapter
    guard: ConnectionGuard
    version: datetime

    async def read(self, fn: Callable[[], Awaitable[T]], weight: int = 1) -> T:
        """An idempotent call: retried by the kernel's policy."""
        return await self.guard.call(fn, idempotent=True, weight=weight)

    async def write(self, fn: Callable[[], Awaitable[T]]) -> T:
        """A non-idempotent call: never retried blindly; the caller reconciles."""
        return await self.guard.call(fn, idempotent=False)


class AdapterPool:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        vault: Vault,
        registry: AdapterRegistry,
        deps: AdapterDeps,
        guards: GuardFactory,
        *,
        ttl: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._vault = vault
        self._registry = registry
        self._deps = deps
        self._guards = guards
        self._live: dict[int, Connected] = {}
        self._checked: dict[int, float] = {}
        self._lock = asyncio.Lock()
        self._ttl = ttl
        self._clock = clock

    def invalidate(self, connection_id: int | None = None) -> None:
        """Forget that a connection was checked: the next call re-reads its row."""
        if connection_id is None:
            self._checked.clear()
        else:
            self._checked.pop(connection_id, None)

    async def get(self, connection_id: int) -> Connected:
        # A connection checked within ``ttl`` seconds is used without reading its row again:
        # changes made through this process's API invalidate at once, others within ttl.
        live = self._live.get(connection_id)
        checked = self._checked.get(connection_id)
        if live is not None and checked is not None and self._clock() - checked < self._ttl:
            return live
        async with self._sessions() as session:
            row = await session.get(m.ExecutionConnection, connection_id)
        if row is None:
            raise InvalidRequest(f"execution connection {connection_id} does not exist")
        if not row.is_active:
            raise ConnectionDisabled(
                f"execution connection {connection_id} is deactivated",
                connection_id=str(connection_id),
            )
        self._checked[connection_id] = self._clock()
        live = self._live.get(connection_id)
        if live is not None and live.version == row.updated_at:
            return live
        async with self._lock:
            live = self._live.get(connection_id)
            if live is not None and live.version == row.updated_at:
                return live
            if live is not None:
                await live.adapter.close()
            built = self._build(row)
            self._live[connection_id] = built
            return built

    async def get_many(
        self, connection_ids: Iterable[int]
    ) -> dict[int, Connected | IntegrationError]:
        """Like :meth:`get` for many connections with one query (a signal's fan-out)."""
        wanted = set(connection_ids)
        # Connections checked within ``ttl`` are used as they are, exactly as :meth:`get`
        # does; only the others are read (one query for all of them).
        out: dict[int, Connected | IntegrationError] = {}
        now = self._clock()
        for connection_id in list(wanted):
            live = self._live.get(connection_id)
            checked = self._checked.get(connection_id)
            if live is not None and checked is not None and now - checked < self._ttl:
                out[connection_id] = live
                wanted.discard(connection_id)
        if not wanted:
            return out
        async with self._sessions() as session:
            rows = {
                r.id: r
                for r in (
                    await session.scalars(
                        select(m.ExecutionConnection).where(m.ExecutionConnection.id.in_(wanted))
                    )
                ).all()
            }
        checked_at = self._clock()
        async with self._lock:
            for connection_id in wanted:
                row = rows.get(connection_id)
                if row is None:
                    out[connection_id] = InvalidRequest(
                        f"execution connection {connection_id} does not exist"
                    )
                    continue
                if not row.is_active:
                    out[connection_id] = ConnectionDisabled(
                        f"execution connection {connection_id} is deactivated",
                        connection_id=str(connection_id),
                    )
                    continue
                live = self._live.get(connection_id)
                if live is None or live.version != row.updated_at:
                    if live is not None:
                        await live.adapter.close()
                    live = self._build(row)
                    self._live[connection_id] = live
                self._checked[connection_id] = checked_at
                out[connection_id] = live
        return out

    def _build(self, row: m.ExecutionConnection) -> Connected:
        spec = self._registry.get("exchange", row.type)
        secrets = unseal(self._vault, "execution_connections", row.id, row.secrets_enc)
        config: dict[str, Any] = dict(row.config)
        adapter_class: Any = spec.factory  # exchange adapters register their class
        adapter = adapter_class.from_config(str(row.id), config, secrets, deps=self._deps)
        return Connected(
            connection_id=row.id,
            type=row.type,
            adapter=adapter,
            guard=self._guards("exchange", row.id, row.type),
            version=row.updated_at,
        )

    async def close(self) -> None:
        """Close every adapter at once: a ccxt instance waits a quarter of a second while
        closing, which one after the other is minutes for a thousand connections."""
        live, self._live = list(self._live.values()), {}
        results = await asyncio.gather(*(c.adapter.close() for c in live), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
