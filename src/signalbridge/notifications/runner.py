"""The notification bot's job: read the link codes users send it, then drain the outbox.

:meth:`NotificationRunner.run_once` runs on the scheduler. The bot's ``getUpdates`` is
read by one runner at a time (a second reader would get 409): a lease on the bot's
``notification_bot_state`` row, taken with one conditional UPDATE like the polling
runner's. Each update is handled (a code links its chat, in its own commit), then the
offset moves past it. A runner killed between the two reads the update again: its code
is spent by then, so nothing is linked twice (the chat is told the code is used).

Wiring (in jobs/runtime.py, once a setting holds the bot's token)::

    api = BotApi(token, http=c.http, guard=c.kernel.guard("notify", 0, "telegram"))
    runner = NotificationRunner(c.sessions, api, TelegramLimits(c.kernel.limiter), owner=...)
    self._every(1.0, runner.run_once)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy import delete, or_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.notifications.bot import LinkHandler
from signalbridge.notifications.sender import OutboxSender, Sender, TelegramLimits
from signalbridge.store import models as m
from signalbridge.store.db import insert_ignore
from signalbridge.store.types import utcnow

log = structlog.get_logger("signalbridge.notifications")

LEASE_SECONDS = 60.0
#: How long sent and failed notices stay (the user's recent history), and how often the
#: runner prunes.
KEEP = timedelta(days=30)
PRUNE_EVERY = timedelta(hours=1)
#: What the notification bot reads: messages (private chats, groups) and channel posts.
LINK_UPDATES = ("message", "channel_post")


class BotClient(Sender, Protocol):
    """TGBOT's ``BotApi`` (channels/telegram/client.py) has both methods."""

    @property
    def bot_id(self) -> int: ...

    async def get_updates(
        self,
        offset: int | None,
        *,
        limit: int = 100,
        long_poll: int = 0,
        allowed_updates: Sequence[str] = ...,
    ) -> list[dict[str, Any]]: ...


async def prune(sessions: async_sessionmaker[AsyncSession], now: datetime) -> int:
    """Forget what no one needs any more: notices sent or failed ``KEEP`` ago, and link
    codes a day past their expiry. Returns the rows deleted."""
    t = m.NotificationOutbox
    codes = m.NotificationLinkCode
    async with sessions() as session, session.begin():
        done = await session.execute(
            delete(t).where(
                t.status.in_((m.NotificationStatus.SENT, m.NotificationStatus.FAILED)),
                t.created_at < now - KEEP,
            )
        )
        stale = await session.execute(
            delete(codes).where(codes.expires_at < now - timedelta(days=1))
        )
    return int(getattr(done, "rowcount", 0) or 0) + int(getattr(stale, "rowcount", 0) or 0)


@dataclass(frozen=True)
class Held:
    """The bot's update lease is ours; read from ``offset`` (None: whatever is pending)."""

    offset: int | None


class NotificationRunner:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bot: BotClient,
        limits: TelegramLimits,
        *,
        owner: str,
        clock: Callable[[], datetime] = utcnow,
        lease_seconds: float = LEASE_SECONDS,
        **sender_options: Any,
    ) -> None:
        self._sessions = sessions
        self._bot = bot
        self.owner = owner[:100]
        self._clock = clock
        self._lease = timedelta(seconds=lease_seconds)
        self._pruned_at: datetime | None = None
        self.links = LinkHandler(sessions, bot, limits, clock=clock)
        self.sender = OutboxSender(
            sessions, bot, limits, owner=owner, clock=clock, **sender_options
        )

    async def run_once(self) -> int:
        """Read link codes (failures are logged, never stop the sending), then send what
        is due; the number of notices sent. Old rows are pruned about once an hour."""
        try:
            await self.read_updates()
        except Exception as exc:  # Telegram down or a 409: notices still go out
            log.warning("reading the notification bot's updates failed", error=type(exc).__name__)
        sent = await self.sender.run_once()
        now = self._clock()
        if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
            self._pruned_at = now
            await prune(self._sessions, now)
        return sent

    async def read_updates(self) -> int | None:
        """Handle the bot's pending updates; how many, or None when another runner reads."""
        held = await self._acquire()
        if held is None:
            return None
        handled = 0
        try:
            updates = await self._bot.get_updates(held.offset, allowed_updates=LINK_UPDATES)
            for item in updates:
                update_id = item.get("update_id")
                if isinstance(update_id, bool) or not isinstance(update_id, int):
                    continue
                await self.links.handle_update(item)
                await self._save(update_id + 1)
                handled += 1
        finally:
            await self._release()
        return handled

    async def _acquire(self) -> Held | None:
        """The lease and the stored offset, or None while another runner holds it."""
        now = self._clock()
        t = m.NotificationBotState
        async with self._sessions() as session, session.begin():
            taken = await session.execute(
                update(t)
                .where(
                    t.bot_id == self._bot.bot_id,
                    or_(t.lease_until.is_(None), t.lease_until < now, t.lease_owner == self.owner),
                )
                .values(lease_owner=self.owner, lease_until=now + self._lease)
                .returning(t.update_offset)
                .execution_options(synchronize_session=False)
            )
            row = taken.first()
            if row is not None:
                return Held(row[0])
            created = await insert_ignore(
                session,
                t,
                {
                    "bot_id": self._bot.bot_id,
                    "update_offset": None,
                    "lease_owner": self.owner,
                    "lease_until": now + self._lease,
                    "updated_at": now,
                },
                conflict=("bot_id",),
            )
        return Held(None) if created is not None else None

    async def _save(self, offset: int) -> None:
        t = m.NotificationBotState
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(t)
                .where(t.bot_id == self._bot.bot_id, t.lease_owner == self.owner)
                .values(update_offset=offset, updated_at=self._clock())
                .execution_options(synchronize_session=False)
            )

    async def _release(self) -> None:
        t = m.NotificationBotState
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(t)
                .where(t.bot_id == self._bot.bot_id, t.lease_owner == self.owner)
                .values(lease_owner=None, lease_until=None)
                .execution_options(synchronize_session=False)
            )
