"""What the polling-channel integration tests share: a queue that records, a clock the
test moves, and a rig that stores channels (secrets sealed) and runs the polling runner
against the real database and kernel.

Each channel kind's tests subclass :class:`PollingRig` with the fake it polls (a feed
site, a Telegram Bot API, a Telethon account)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from signalbridge.bootstrap import Container, build_container
from signalbridge.channels.fetching import ChannelDeps
from signalbridge.integrations.sealing import seal
from signalbridge.jobs.polling import PollingRunner
from signalbridge.services.intake import Intake
from signalbridge.settings import Settings
from signalbridge.store import models as m
from signalbridge.store.types import utcnow
from tests.platform_fixtures import make_settings, upgrade_to_head


@dataclass
class RecordingQueue:
    """The intake's queue: remembers what would have been enqueued."""

    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)

    async def enqueue(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))


class Clock:
    """Now, until the test moves it."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass(kw_only=True)
class PollingRig:
    """A migrated database with one admin who owns the channels, and the runner over it."""

    settings: Settings
    container: Container
    owner_id: int
    clock: Clock = field(default_factory=Clock)
    queue: RecordingQueue = field(default_factory=RecordingQueue)

    def runner(self, owner: str = "runner", container: Container | None = None) -> PollingRunner:
        c = container or self.container
        intake = Intake(c.sessions, self.queue, dispatch_task="dispatch", update_task="update")
        return PollingRunner(
            c.sessions,
            c.registry,
            c.vault,
            intake,
            owner=owner,
            clock=self.clock,
            deps=ChannelDeps(http=c.http, kernel=c.kernel, clock=self.clock),
            health=c.kernel,
        )

    async def add_channel(self, type_: str, config: dict[str, Any], name: str) -> m.ChannelSource:
        """Store a channel as the API would: public config apart, secrets sealed."""
        public, secrets = self.container.registry.split_config("channel", type_, config)
        async with self.container.sessions() as s, s.begin():
            row = m.ChannelSource(name=name, type=type_, config=public, owner_id=self.owner_id)
            s.add(row)
            await s.flush()
            if secrets:
                row.secrets_enc = seal(self.container.vault, "channel_sources", row.id, secrets)
        async with self.container.sessions() as s:
            return await s.get_one(m.ChannelSource, row.id)

    async def poll(self, channel: m.ChannelSource, runner: PollingRunner | None = None) -> int:
        return await (runner or self.runner()).poll_channel(channel)

    async def messages(self, channel: m.ChannelSource) -> list[m.Message]:
        async with self.container.sessions() as s:
            rows = await s.scalars(
                select(m.Message).where(m.Message.channel_id == channel.id).order_by(m.Message.id)
            )
            return list(rows.all())

    async def cursor_text(self, channel: m.ChannelSource) -> str | None:
        async with self.container.sessions() as s:
            row = await s.scalar(
                select(m.ChannelCursor).where(m.ChannelCursor.channel_id == channel.id)
            )
        return row.cursor if row else None

    async def health(self, channel: m.ChannelSource) -> m.ConnectionHealth | None:
        async with self.container.sessions() as s:
            return await s.scalar(
                select(m.ConnectionHealth).where(
                    m.ConnectionHealth.kind == "channel",
                    m.ConnectionHealth.connection_id == channel.id,
                )
            )


@asynccontextmanager
async def migrated(
    tmp_path: Path, database_url: str, **overrides: Any
) -> AsyncIterator[tuple[Settings, Container, int]]:
    """Settings, a migrated container and the id of the admin who owns the channels."""
    settings = make_settings(tmp_path, database_url, **overrides)
    container = build_container(settings)
    await upgrade_to_head(container.engine)
    async with container.sessions() as s, s.begin():
        owner = m.User(email="owner@example.com", password_hash="x", role=m.Role.ADMIN)
        s.add(owner)
    try:
        yield settings, container, owner.id
    finally:
        await container.close()


async def run_until_killed(settings: Settings, script: str, arg: str, marker: str) -> None:
    """Run ``script`` (``python -c``) on ``settings``' database until it prints ``marker``,
    then SIGKILL it: a worker dying at that point, with nothing cleaned up."""
    env = {
        **os.environ,
        "SIGNALBRIDGE_DATA_DIR": str(settings.data_dir),
        "SIGNALBRIDGE_DATABASE_URL": settings.resolved_database_url,
        "SIGNALBRIDGE_SECRET_KEYS": settings.secret_keys.get_secret_value(),
        "SIGNALBRIDGE_ALLOWED_HOSTS": json.dumps(["127.0.0.1"]),
        "SIGNALBRIDGE_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", script, arg],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        stdout = proc.stdout

        def reached() -> bool:
            return any(line.strip() == marker for line in iter(stdout.readline, ""))

        assert await asyncio.wait_for(asyncio.to_thread(reached), 60)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
