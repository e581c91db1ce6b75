"""``POST /api/v1/channels/{id}/test`` for channels: a real call for every polled kind.

The channel's adapter is built from its row exactly as the polling runner builds it
(config and unsealed secrets, validated; the kernel's HTTP factory and guard), then its
probe runs: RSS/Atom and web pages fetch and read their document (conditional on the
validators the last poll saved), a Telegram bot asks ``getMe`` and ``getWebhookInfo``,
a Telegram user account says who it is logged in as. Nothing is delivered and no cursor
moves. Push channels (webhooks) have nothing to call: they answer how they are doing.

Failures are answers, never 5xx: the kernel's errors go up to the route, which shows
them redacted; a configuration or a credential that cannot be read is said so here
without its values.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.channels.fetching import ChannelDeps
from signalbridge.channels.http_limits import LimitedHttpChannel
from signalbridge.channels.probing import ChannelProbe
from signalbridge.integrations.errors import IntegrationError
from signalbridge.integrations.registry import (
    AdapterConfigError,
    AdapterRegistry,
    UnknownAdapterType,
)
from signalbridge.integrations.sealing import unseal
from signalbridge.integrations.vault import Vault, VaultError
from signalbridge.store import models as m


def verdict(result: Any) -> ChannelProbe:
    """A probe's answer as a :class:`ChannelProbe` (the user channel answers text)."""
    if isinstance(result, ChannelProbe):
        return result
    text = str(result)
    return ChannelProbe(not text.startswith("needs login"), text)


@dataclass
class ChannelProber:
    """Builds a channel's adapter from its row and runs its probe; see the module."""

    sessions: async_sessionmaker[AsyncSession]
    registry: AdapterRegistry
    vault: Vault
    deps: ChannelDeps

    async def __call__(self, row: m.ChannelSource) -> dict[str, Any]:
        started = time.perf_counter()
        verdict = await self.verdict(row)
        body: dict[str, Any] = {
            "ok": verdict.ok,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "message": verdict.message,
        }
        if verdict.details:
            body["details"] = verdict.details
        return body

    async def verdict(self, row: m.ChannelSource) -> ChannelProbe:
        """The probe's verdict; kernel errors (IntegrationError) are raised."""
        if not row.is_active:
            return ChannelProbe(False, f"{row.type} channel is deactivated; nothing was called")
        try:
            spec = self.registry.get("channel", row.type)
        except UnknownAdapterType:
            return ChannelProbe(False, f"this build has no {row.type!r} channel type")
        from_config: Callable[..., Any] | None = getattr(spec.factory, "from_config", None)
        probe = getattr(spec.factory, "probe", None)
        if from_config is None or probe is None:
            return ChannelProbe(True, f"{row.type} channels are pushed to: nothing to call")
        try:
            secrets = unseal(self.vault, "channel_sources", row.id, row.secrets_enc)
            config = self.registry.validate_config("channel", row.type, {**row.config, **secrets})
        except VaultError:
            return ChannelProbe(
                False, "the channel's secrets cannot be decrypted; replace its credentials"
            )
        except AdapterConfigError as exc:
            fields = ", ".join(sorted({e.get("field", "?") for e in exc.errors})) or "?"
            return ChannelProbe(False, f"the channel's configuration is not valid ({fields})")
        try:
            adapter = from_config(config, channel_id=row.id, deps=self.deps)
        except ValueError:  # e.g. a bot token of the wrong shape: its text is not repeated
            return ChannelProbe(False, "the channel's credentials are not of the right shape")
        try:
            if isinstance(adapter, LimitedHttpChannel):
                return await adapter.probe(await self._cursor(row.id))
            return verdict(await adapter.probe())
        except IntegrationError:
            raise  # the route shows it, redacted
        except Exception as exc:  # a library's own error (Telethon's): an answer, no 5xx
            return ChannelProbe(False, f"{row.type}: the test failed ({type(exc).__name__})")
        finally:
            await _close(adapter)

    async def _cursor(self, channel_id: int) -> str | None:
        async with self.sessions() as session:
            cursor: str | None = await session.scalar(
                select(m.ChannelCursor.cursor).where(m.ChannelCursor.channel_id == channel_id)
            )
        return cursor


async def _close(adapter: Any) -> None:
    """Close what a probe's adapter opened (a Telethon connection)."""
    source = getattr(adapter, "source", None)
    close = getattr(source, "close", None)
    if close is None:
        return
    try:
        result = close()
        if inspect.isawaitable(result):
            await result
    except Exception:  # the verdict stands; a connection that will not close is dropped
        return


def prober_from_pool(pool: Any) -> ChannelProber | None:
    """A :class:`ChannelProber` from the exchange adapter pool's own parts (it holds the
    sessions, registry, vault, HTTP factory and the kernel's guard factory), for a
    container that passes none; None when the pool lacks one of them."""
    sessions = getattr(pool, "_sessions", None)
    registry = getattr(pool, "_registry", None)
    vault = getattr(pool, "_vault", None)
    http = getattr(getattr(pool, "_deps", None), "http_factory", None)
    kernel = getattr(getattr(pool, "_guards", None), "__self__", None)
    if sessions is None or registry is None or vault is None or http is None or kernel is None:
        return None
    return ChannelProber(sessions, registry, vault, ChannelDeps(http=http, kernel=kernel))
