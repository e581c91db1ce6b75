"""The polling runner: the scheduler's side of every channel SignalBridge fetches from.

Every ``poll_interval_seconds`` :meth:`PollingRunner.run_once` goes through the active
channels whose registered adapter class is a :class:`PollingChannel`. For each one it

1. takes the channel's lease: one conditional UPDATE of its ``channel_cursors`` row
   (``WHERE lease_until IS NULL OR lease_until < now OR lease_owner = me``), which also
   reads the cursor. A lease held by another live runner makes this one skip the
   channel, so one worker polls a source at a time; a runner that died holding one
   loses it when ``lease_until`` passes;
2. polls from the cursor, and interprets what came (no transaction open);
3. in ONE transaction saves the next cursor, releasing the lease, and stores every
   message through the intake (services/intake.py). The cursor UPDATE checks the lease
   is still ours and comes first, so on PostgreSQL it holds the row lock until commit;
4. after the commit, queues what the new messages need (``Intake.hand_on``).

So a crash anywhere before the commit leaves the cursor where it was and no message
stored: the next poll reads the same messages again. A crash after it loses only queue
tasks, which the sweeper finds. A message read twice (a repeat from the source, a poll
redone after a crash, two runners whose leases overlapped) is stored once, by its
(channel, external id) key, and queues nothing the second time.

With a ``poll_health`` book (services/channel_health.py; the scheduler's runner has one)
each poll's outcome is recorded for the health API (last synced, lag, last error,
refusals), and a source failing poll after poll is skipped while it backs off. A message
an adapter refused for its size is stored as a rejected message with the reason.

The lease must outlast one poll: ``lease_seconds`` is far longer than an adapter's own
timeouts. Should a poll run past it anyway and another runner take over, the first
runner's save finds the lease gone and stores nothing.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.bootstrap import Container
from signalbridge.channels.base import PollingChannel, PollResult
from signalbridge.channels.fetching import ChannelDeps
from signalbridge.integrations.registry import AdapterRegistry
from signalbridge.integrations.sealing import unseal
from signalbridge.integrations.vault import Vault
from signalbridge.services.channel_health import ChannelHealthBook, refusal_meaning
from signalbridge.services.ingest import IngestResult, Interpretation
from signalbridge.services.intake import Intake
from signalbridge.store import models as m
from signalbridge.store.db import insert_ignore
from signalbridge.store.types import utcnow

log = structlog.get_logger("signalbridge.polling")

#: How long a lease lasts: far beyond one poll, short enough that a dead runner's
#: channels are polled again soon.
LEASE_SECONDS = 120.0
#: Channels polled at once by one runner.
CONCURRENCY = 8
MAX_OWNER = 100


class HealthRecorder(Protocol):
    """Where a poll's outcome goes (the integration kernel is one)."""

    async def record(
        self, kind: str, connection_id: int, type_: str, error: Exception | None = None
    ) -> None: ...


class LeaseLost(RuntimeError):
    """Another runner took the channel's lease while this one polled: nothing is saved."""


@dataclass(frozen=True)
class Lease:
    """A runner's right to poll one channel until ``until``, from ``cursor``."""

    channel_id: int
    owner: str
    cursor: str | None
    until: datetime


def default_owner() -> str:
    """This runner's name in ``lease_owner``: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"[-MAX_OWNER:]


def is_polling_class(factory: Any) -> bool:
    """Whether a registered channel factory is a class implementing :class:`PollingChannel`."""
    return isinstance(factory, type) and issubclass(factory, PollingChannel)


class PollingRunner:
    """Polls every active polling channel under a lease; see the module."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        registry: AdapterRegistry,
        vault: Vault,
        intake: Intake,
        *,
        health: HealthRecorder | None = None,
        owner: str | None = None,
        lease_seconds: float = LEASE_SECONDS,
        concurrency: int = CONCURRENCY,
        clock: Callable[[], datetime] = utcnow,
        deps: ChannelDeps | None = None,
        poll_health: ChannelHealthBook | None = None,
    ) -> None:
        self._sessions = sessions
        # Last synced, lag, back-off and refusals per channel (services/channel_health.py).
        self._poll_health = poll_health
        self._deps = deps  # the kernel, for channels built with ``from_config``
        self._registry = registry
        self._vault = vault
        self._intake = intake
        self._health = health
        self.owner = (owner or default_owner())[:MAX_OWNER]
        self._lease = timedelta(seconds=lease_seconds)
        self._concurrency = concurrency
        self._clock = clock
        # Adapters live as long as their row is unchanged (a feed keeps its ETag, say).
        self._adapters: dict[int, tuple[datetime, PollingChannel]] = {}

    def polling_types(self) -> list[str]:
        """The registered channel types that are polled."""
        return [s.type for s in self._registry.specs("channel") if is_polling_class(s.factory)]

    async def run_once(self) -> int:
        """Poll every active polling channel once; the number of new messages stored."""
        types = self.polling_types()
        if not types:  # nothing to poll in this build: no query at all
            return 0
        async with self._sessions() as session:
            rows = (
                await session.scalars(
                    select(m.ChannelSource)
                    .where(m.ChannelSource.is_active.is_(True), m.ChannelSource.type.in_(types))
                    .order_by(m.ChannelSource.id)
                )
            ).all()
        live = {row.id for row in rows}
        for gone in [cid for cid in self._adapters if cid not in live]:
            del self._adapters[gone]
        gate = asyncio.Semaphore(self._concurrency)

        async def one(row: m.ChannelSource) -> int:
            async with gate:
                try:
                    return await self.poll_channel(row)
                except Exception as exc:  # one failing source must not stop the others
                    log.warning(
                        "polling a channel failed",
                        channel_id=row.id,
                        channel_type=row.type,
                        error=type(exc).__name__,
                    )
                    return 0

        return sum(await asyncio.gather(*(one(row) for row in rows)))

    async def poll_channel(self, channel: m.ChannelSource) -> int:
        """Poll one channel under its lease; new messages stored (0 when another runner
        holds the lease). A failure releases the lease and is raised."""
        if self._poll_health is not None and not await self._poll_health.due(channel.id):
            return 0  # backing off after failed polls
        lease = await self.acquire(channel.id)
        if lease is None:
            return 0
        try:
            found = await self.adapter(channel).poll(lease.cursor)
            meanings = [  # a message refused by an inbound limit is stored as rejected
                refusal_meaning(message) or self._intake.interpret(channel, message)
                for message in found.messages
            ]
            results = await self.save(channel, lease, found, meanings)
        except LeaseLost:  # the new holder polls the same cursor; nothing was stored
            log.info("a poll outlasted its lease", channel_id=channel.id)
            return 0
        except Exception as exc:
            await self.release(lease)
            await self._record(channel, exc)
            raise
        for result, meaning in zip(results, meanings, strict=True):  # first: the orders
            await self._intake.hand_on(result, channel, meaning)  # wait for nothing else
        await self._record(channel, None)
        return sum(not result.duplicate for result in results)

    def adapter(self, channel: m.ChannelSource) -> PollingChannel:
        """The channel's adapter, built from its config and unsealed secrets."""
        cached = self._adapters.get(channel.id)
        if cached is not None and cached[0] == channel.updated_at:
            return cached[1]
        spec = self._registry.get("channel", channel.type)
        secrets = unseal(self._vault, "channel_sources", channel.id, channel.secrets_enc)
        config = self._registry.validate_config(
            "channel", channel.type, {**channel.config, **secrets}
        )
        # Channels that fetch (RSS, web pages) take the kernel and their id, like venues.
        from_config = getattr(spec.factory, "from_config", None)
        adapter = (
            spec.factory(config)
            if from_config is None
            else from_config(config, channel_id=channel.id, deps=self._deps)
        )
        if not isinstance(adapter, PollingChannel):
            raise TypeError(f"channel type {channel.type!r} does not poll")
        self._adapters[channel.id] = (channel.updated_at, adapter)
        return adapter

    async def acquire(self, channel_id: int) -> Lease | None:
        """Take (or renew) the channel's lease; None while another runner holds it."""
        now = self._clock()
        until = now + self._lease
        table = m.ChannelCursor
        async with self._sessions() as session, session.begin():
            taken = await session.execute(
                update(table)
                .where(
                    table.channel_id == channel_id,
                    or_(
                        table.lease_until.is_(None),
                        table.lease_until < now,
                        table.lease_owner == self.owner,
                    ),
                )
                .values(lease_owner=self.owner, lease_until=until)
                .returning(table.cursor)
                .execution_options(synchronize_session=False)
            )
            row = taken.first()
            if row is not None:
                return Lease(channel_id, self.owner, row[0], until)
            # No row yet (a channel never polled), or a lease held by someone else: the
            # first insert wins, with the lease taken.
            created = await insert_ignore(
                session,
                m.ChannelCursor,
                {
                    "channel_id": channel_id,
                    "cursor": None,
                    "lease_owner": self.owner,
                    "lease_until": until,
                    "updated_at": now,
                },
                conflict=("channel_id",),
            )
        return None if created is None else Lease(channel_id, self.owner, None, until)

    async def release(self, lease: Lease) -> None:
        """Give the lease up without moving the cursor (after a failed poll)."""
        table = m.ChannelCursor
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(table)
                .where(table.channel_id == lease.channel_id, table.lease_owner == lease.owner)
                .values(lease_owner=None, lease_until=None)
                .execution_options(synchronize_session=False)
            )

    async def save(
        self,
        channel: m.ChannelSource,
        lease: Lease,
        found: PollResult,
        meanings: list[Interpretation],
    ) -> list[IngestResult]:
        """Move the cursor, release the lease and store the messages, in one transaction.

        Raises :class:`LeaseLost` (storing nothing) when the lease is no longer ours.
        """
        cursor = found.next_cursor if found.next_cursor is not None else lease.cursor
        table = m.ChannelCursor
        async with self._sessions() as session, session.begin():
            moved = await session.execute(
                update(table)
                .where(table.channel_id == lease.channel_id, table.lease_owner == lease.owner)
                .values(cursor=cursor, lease_owner=None, lease_until=None, updated_at=self._clock())
                .returning(table.id)
                .execution_options(synchronize_session=False)
            )
            if moved.first() is None:
                raise LeaseLost(f"channel {lease.channel_id}: the lease passed to another runner")
            return await self._intake.store_many(session, channel, found.messages, meanings)

    async def _record(self, channel: m.ChannelSource, error: Exception | None) -> None:
        try:
            if self._health is not None:
                await self._health.record("channel", channel.id, channel.type, error)
            if self._poll_health is not None:
                cached = self._adapters.get(channel.id)
                report = getattr(cached[1], "last_report", None) if cached else None
                await self._poll_health.record(channel.id, report=report, error=error)
        except Exception as exc:  # health is best effort
            log.warning("could not record a poll's health", error=type(exc).__name__)


def polling_runner(container: Container) -> PollingRunner:
    """The scheduler's runner over the process's runtime; channel health goes to the kernel."""
    return PollingRunner(
        container.sessions,
        container.registry,
        container.vault,
        container.intake,
        health=container.kernel,
        deps=ChannelDeps(http=container.http, kernel=container.kernel),
        poll_health=ChannelHealthBook(container.sessions),
    )
