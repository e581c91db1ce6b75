"""A short-lived cache of channel rows and their unsealed authenticators.

A webhook delivery would otherwise read the channel row and decrypt its secret on every
request. Entries live ``ttl`` seconds (so a change made by another process is seen within
that time) and are dropped at once when this process changes the channel. It reads the
store, so it is a service, not part of the channel adapters (which never import the store).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.store import models as m


@dataclass(frozen=True)
class CachedChannel:
    row: m.ChannelSource
    authenticator: Any
    loaded_at: float


class ChannelCache:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        build: Callable[[m.ChannelSource], Any],
        *,
        ttl: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._build = build
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[int, CachedChannel] = {}

    async def get(self, channel_id: int) -> CachedChannel | None:
        entry = self._entries.get(channel_id)
        now = self._clock()
        if entry is not None and now - entry.loaded_at < self._ttl:
            return entry
        async with self._sessions() as session:
            row = await session.get(m.ChannelSource, channel_id)
        if row is None:
            self._entries.pop(channel_id, None)
            return None
        entry = CachedChannel(row, self._build(row), now)
        self._entries[channel_id] = entry
        return entry

    def invalidate(self, channel_id: int | None = None) -> None:
        if channel_id is None:
            self._entries.clear()
        else:
            self._entries.pop(channel_id, None)
