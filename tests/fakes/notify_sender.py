"""An in-memory stand-in for the Bot API's ``sendMessage``, for the notification outbox:
it records what was sent and when (on a fake clock), answers 429 with ``retry_after``
on request, and can hold a send open so a test can "kill" the sender mid-batch."""

from __future__ import annotations

import asyncio
import types
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from limits.aio.storage import memory as limits_memory
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.bootstrap import Container, build_container
from signalbridge.channels.telegram.errors import ChatForbidden
from signalbridge.integrations.errors import RateLimited
from signalbridge.notifications.events import kinds_for
from signalbridge.services.auth import create_user
from signalbridge.store import models as m
from signalbridge.store.migrate import upgrade


class FakeTime:
    """Wall-clock seconds that move only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The ``limits`` memory storage reads ``time.time()``: give it this clock."""
        monkeypatch.setattr(limits_memory, "time", types.SimpleNamespace(time=self.time))


@dataclass
class Sent:
    chat_id: int
    text: str
    at: float


@dataclass
class FakeBot:
    clock: FakeTime
    sent: list[Sent] = field(default_factory=list)
    #: chat id -> retry_after seconds for the next send to it (a one-off 429)
    flood: dict[int, float] = field(default_factory=dict)
    #: hold the n-th call (1-based) forever: ``before`` the message leaves, or ``after``
    hold_at: int | None = None
    hold_when: str = "before"
    calls: int = 0
    held: asyncio.Event = field(default_factory=asyncio.Event)
    refusals: list[tuple[int, float]] = field(default_factory=list)
    #: chats whose user blocked the bot: Telegram answers 403 Forbidden
    blocked: set[int] = field(default_factory=set)

    async def send_message(self, chat_id: int, text: str) -> dict[str, object]:
        self.calls += 1
        await asyncio.sleep(0)  # a real send yields: let other senders interleave
        if self.hold_at == self.calls and self.hold_when == "before":
            self.held.set()
            await asyncio.Event().wait()
        if chat_id in self.blocked:
            raise ChatForbidden("Forbidden: bot was blocked by the user")
        if chat_id in self.flood:
            wait = self.flood.pop(chat_id)
            self.refusals.append((chat_id, self.clock.now))
            raise RateLimited("Too Many Requests: retry later", retry_after=wait)
        self.sent.append(Sent(chat_id, text, self.clock.now))
        if self.hold_at == self.calls and self.hold_when == "after":
            self.held.set()
            await asyncio.Event().wait()
        return {"message_id": len(self.sent), "chat": {"id": chat_id}, "text": text}

    def texts(self, chat_id: int | None = None) -> list[str]:
        return [s.text for s in self.sent if chat_id is None or s.chat_id == chat_id]


# --- a small world of users, chats and connections, written straight to the store ------


Sessions = async_sessionmaker[AsyncSession]


@asynccontextmanager
async def store(settings_path: Path, database_url: str) -> AsyncIterator[Container]:
    """A migrated database and the container around it (no worker, no web)."""
    from tests.platform_fixtures import make_settings

    container = build_container(make_settings(settings_path, database_url))
    await upgrade(container.engine)
    try:
        yield container
    finally:
        await container.close()


async def make_user(sessions: Sessions, email: str, role: str = m.Role.MEMBER) -> int:
    async with sessions() as s, s.begin():
        user = await create_user(s, email, "a long enough password", role)
        return int(user.id)


async def link_chat(
    sessions: Sessions, user_id: int, chat_id: int, events: list[str] | None = None
) -> int:
    async with sessions() as s, s.begin():
        role = await s.scalar(select(m.User.role).where(m.User.id == user_id))
        row = m.NotificationChat(
            user_id=user_id,
            chat_id=chat_id,
            events=list(kinds_for(role or m.Role.MEMBER)) if events is None else events,
        )
        s.add(row)
        await s.flush()
        return int(row.id)


async def make_connection(sessions: Sessions, owner_id: int, name: str = "paper") -> int:
    async with sessions() as s, s.begin():
        row = m.ExecutionConnection(owner_id=owner_id, name=name, type="paper", config={})
        s.add(row)
        await s.flush()
        return int(row.id)


async def outbox(sessions: Sessions) -> list[m.NotificationOutbox]:
    async with sessions() as s:
        rows = await s.scalars(select(m.NotificationOutbox).order_by(m.NotificationOutbox.id))
        return list(rows.all())
