"""The process's webhook channels and the health notes of failed deliveries.

Both are built once by bootstrap (``Container.webhook_channels`` and
``Container.webhook_failures``): the webhook route reads them, and the connection routes
call :meth:`WebhookChannels.invalidate` when a channel changes.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.channels.source_allowlist import SourceRefusals
from signalbridge.channels.webhook import WebhookChannel, WebhookConfig
from signalbridge.integrations.errors import AuthenticationError
from signalbridge.integrations.kernel import Kernel
from signalbridge.integrations.sealing import unseal
from signalbridge.integrations.vault import Vault, VaultError
from signalbridge.services.channel_cache import CachedChannel, ChannelCache
from signalbridge.store import models as m

log = structlog.get_logger("signalbridge.webhook_channels")

MAX_ID = 2**63 - 1
#: A failed delivery is written to its channel's health at most this often.
FAILURE_NOTE_SECONDS = 1.0
#: How long a channel id that is not a webhook channel is remembered (as the cache does).
MISS_TTL_SECONDS = 2.0
MISS_LIMIT = 4096


class Unreadable:
    """The authenticator of a channel whose secret the vault cannot decrypt."""


class WebhookChannels:
    """The process's webhook channels: rows and unsealed secrets cached a short while, ids
    that are no webhook channel remembered as long, and the dummy for those."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], vault: Vault) -> None:
        self._vault = vault
        self.cache = ChannelCache(sessions, self._build, ttl=MISS_TTL_SECONDS)
        self.dummy = WebhookChannel(WebhookConfig())
        self._misses: OrderedDict[int, float] = OrderedDict()
        #: Deliveries refused for their source address (counted and logged, never the body).
        self.refusals = SourceRefusals()

    def _build(self, row: m.ChannelSource) -> WebhookChannel | Unreadable | None:
        if row.type != "webhook":
            return None
        try:
            secrets = unseal(self._vault, "channel_sources", row.id, row.secrets_enc)
        except VaultError:
            return Unreadable()
        config = WebhookConfig.model_validate({**row.config, **secrets})
        return WebhookChannel(config, dialect=row.dialect)

    async def get(self, channel_id: int) -> CachedChannel | None:
        """The webhook channel's cache entry, or None (no such id, or another type)."""
        now = time.monotonic()
        missed = self._misses.get(channel_id)
        if missed is not None and now - missed < MISS_TTL_SECONDS:
            return None
        entry = await self.cache.get(channel_id) if 1 <= channel_id <= MAX_ID else None
        if entry is None or entry.authenticator is None:
            self._misses[channel_id] = now
            self._misses.move_to_end(channel_id)
            while len(self._misses) > MISS_LIMIT:
                self._misses.popitem(last=False)
            return None
        self._misses.pop(channel_id, None)
        return entry

    def invalidate(self, channel_id: int | None = None) -> None:
        self.cache.invalidate(channel_id)
        if channel_id is None:
            self._misses.clear()
        else:
            self._misses.pop(channel_id, None)


class FailureNotes:
    """Writes failed deliveries to the channel's health in the background, at most once a
    second per channel: a caller cannot time the write, nor make one per request."""

    def __init__(self, kernel: Kernel) -> None:
        self._kernel = kernel
        self._last: dict[int, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def note(self, channel_id: int, reason: str) -> None:
        now = time.monotonic()
        if now - self._last.get(channel_id, -FAILURE_NOTE_SECONDS) < FAILURE_NOTE_SECONDS:
            return
        self._last[channel_id] = now
        task = asyncio.get_running_loop().create_task(self._record(channel_id, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _record(self, channel_id: int, reason: str) -> None:
        try:
            await self._kernel.record("channel", channel_id, "webhook", AuthenticationError(reason))
        except Exception as exc:  # health is best effort; the delivery was answered already
            log.warning("could not record a failed delivery", error_type=type(exc).__name__)
