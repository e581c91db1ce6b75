"""Drain the outbox to Telegram: claim a row, send it, mark it sent.

Delivery is **at least once**. Telegram's ``sendMessage`` takes no idempotency key and a
bot cannot read back what it sent to a private chat, so after a crash between the send
and the "sent" commit nothing can tell whether the message left. We resend then: a lost
"position closed" or "connection failing" costs money, a repeated one costs a glance (it
carries the same ``#id``, so a reader sees it is the same notice). The window is one HTTP
round trip: each row is claimed (``pending`` → ``sending`` with a lease, one conditional
UPDATE, in its own commit) only after its rate-limit permit is in hand, and marked
``sent`` in the commit right after Telegram answers. A sender killed anywhere else resends
nothing and loses nothing: unclaimed rows stay ``pending``, and a claimed row whose lease
ran out is taken over by the next sender. Two senders never hold one row: the claim's
UPDATE matches only a free row (``pending`` and due, or ``sending`` with an expired
lease), so of two concurrent claims exactly one changes it.

Rate limits come from the kernel's limiter: one budget for the whole bot (30/s), one per
chat (1/s, and 20/min for groups and channels, whose ids are negative), shared across
workers through Redis when it is configured. A 429 holds that chat's gate for
``retry_after`` (every sender waits) and puts the row back ``pending`` until then; the
rows behind it in the same chat wait too, so a chat's notices arrive in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from signalbridge.channels.telegram.errors import ChatForbidden
from signalbridge.integrations.errors import AuthenticationError, InvalidRequest, RateLimited
from signalbridge.integrations.health import describe_error
from signalbridge.integrations.ratelimit import ConnectionLimiter, RateLimiter
from signalbridge.store import models as m
from signalbridge.store.types import utcnow

log = structlog.get_logger("signalbridge.notifications")

S = m.NotificationStatus
LEASE_SECONDS = 60.0
BATCH = 200
CONCURRENCY = 16
MAX_ATTEMPTS = 8
#: Longest a sender waits for a chat's permit inside one run before leaving the chat
#: for the next run.
MAX_WAIT = 5.0


class Sender(Protocol):
    """What the outbox needs from a Telegram Bot API client (TGBOT's client promises it).

    Raise the kernel's errors: :class:`RateLimited` with ``retry_after`` on a 429,
    :class:`InvalidRequest` when Telegram refuses for good (chat not found, bot blocked),
    :class:`AuthenticationError` for a bad bot token; anything else counts as transient.
    """

    async def send_message(self, chat_id: int, text: str) -> Any: ...


@dataclass
class TelegramLimits:
    """The kernel's budgets for one bot: overall, and per chat."""

    limiter: RateLimiter
    bot: str = "telegram-bot"
    overall: tuple[str, ...] = ("30/second",)
    private_chat: tuple[str, ...] = ("1/second",)
    group_chat: tuple[str, ...] = ("1/second", "20/minute")

    def for_chat(self, chat_id: int) -> ConnectionLimiter:
        return self.limiter.for_connection(
            self.bot,
            str(chat_id),
            provider_limits=self.overall,
            account_limits=self.group_chat if chat_id < 0 else self.private_chat,
            gate_scope="account",
        )


def retry_after_of(exc: BaseException) -> float | None:
    """The wait a refusal asks for: the kernel's ``RateLimited`` or a client's own
    ``retry_after`` (seconds, or a timedelta as python-telegram-bot gives it)."""
    value = getattr(exc, "retry_after", None)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float) and value >= 0:
        return float(value)
    return None


@dataclass(frozen=True)
class Claimed:
    id: int
    chat_id: int
    text: str
    attempts: int


class OutboxSender:
    """One sender; run several (processes or tasks) safely. See the module."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        sender: Sender,
        limits: TelegramLimits,
        *,
        owner: str,
        lease_seconds: float = LEASE_SECONDS,
        batch: int = BATCH,
        concurrency: int = CONCURRENCY,
        max_attempts: int = MAX_ATTEMPTS,
        max_wait: float = MAX_WAIT,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._sender = sender
        self._limits = limits
        self.owner = owner[:100]
        self._lease = timedelta(seconds=lease_seconds)
        self._batch = batch
        self._concurrency = concurrency
        self._max_attempts = max_attempts
        self._max_wait = max_wait
        self._clock = clock
        self._stopped = False

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self._sessions

    async def run_once(self) -> int:
        """Send what is due; the number of messages Telegram accepted."""
        self._stopped = False
        by_chat = await self._due()
        gate = asyncio.Semaphore(self._concurrency)

        async def chat(chat_id: int, ids: list[int]) -> int:
            async with gate:
                return await self._drain_chat(chat_id, ids)

        return sum(await asyncio.gather(*(chat(c, ids) for c, ids in by_chat.items())))

    async def _due(self) -> dict[int, list[int]]:
        """Rows to send now, per chat in id order. A chat whose earlier notice waits (a
        429, a retry) sends nothing after it, so its notices keep their order; other
        chats are not held up by it, however many rows it has queued."""
        now = self._clock()
        t = m.NotificationOutbox
        due = or_(
            and_(t.status == S.PENDING, or_(t.not_before.is_(None), t.not_before <= now)),
            and_(t.status == S.SENDING, t.lease_until < now),
        )
        w = aliased(m.NotificationOutbox)
        held_before = (
            select(w.id)
            .where(
                w.chat_id == t.chat_id,
                w.id < t.id,
                or_(
                    and_(w.status == S.PENDING, w.not_before > now),
                    and_(w.status == S.SENDING, w.lease_until >= now),  # in flight elsewhere
                ),
            )
            .exists()
        )
        async with self._sessions() as session:
            rows = await session.execute(
                select(t.id, t.chat_id).where(due, ~held_before).order_by(t.id).limit(self._batch)
            )
            found = rows.all()
        by_chat: dict[int, list[int]] = {}
        for row_id, chat_id in found:
            by_chat.setdefault(chat_id, []).append(row_id)
        return by_chat

    async def _drain_chat(self, chat_id: int, ids: list[int]) -> int:
        limiter = self._limits.for_chat(chat_id)
        sent = 0
        for row_id in ids:
            if self._stopped:
                break
            try:
                await limiter.acquire(max_wait=self._max_wait)
            except RateLimited:  # the chat is held (a 429) or its budget is spent
                break
            claimed = await self.claim(row_id)
            if claimed is None:  # another sender has it, or it was sent meanwhile
                continue
            if not await self._send(claimed, limiter):
                break
            sent += 1
        return sent

    async def claim(self, row_id: int) -> Claimed | None:
        """Take one row with a lease, or None when it is not free."""
        now = self._clock()
        t = m.NotificationOutbox
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(t)
                .where(
                    t.id == row_id,
                    or_(
                        and_(
                            t.status == S.PENDING,
                            or_(t.not_before.is_(None), t.not_before <= now),
                        ),
                        and_(t.status == S.SENDING, t.lease_until < now),
                    ),
                )
                .values(
                    status=S.SENDING,
                    lease_owner=self.owner,
                    lease_until=now + self._lease,
                    attempts=t.attempts + 1,
                )
                .returning(t.id, t.chat_id, t.text, t.attempts)
                .execution_options(synchronize_session=False)
            )
            row = result.first()
        return None if row is None else Claimed(row[0], row[1], row[2], row[3])

    async def _send(self, row: Claimed, limiter: ConnectionLimiter) -> bool:
        """Send one claimed row and record the outcome; False stops this chat's run."""
        try:
            await self._sender.send_message(row.chat_id, row.text)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return await self._failed(row, exc, limiter)
        await self._finish(row, status=S.SENT, sent_at=self._clock(), error=None)
        return True

    async def _failed(self, row: Claimed, exc: Exception, limiter: ConnectionLimiter) -> bool:
        now = self._clock()
        error = describe_error(exc)
        wait = retry_after_of(exc)
        if isinstance(exc, RateLimited) or wait is not None:
            until = await limiter.back_off(wait)
            delay = max(0.0, until - limiter.limiter.clock())
            # A 429 says nothing against the message: the attempt is not counted.
            await self._finish(
                row,
                status=S.PENDING,
                not_before=now + timedelta(seconds=delay),
                error=error,
                attempts=row.attempts - 1,
            )
            log.info("telegram asked to slow down", chat_id=row.chat_id, retry_after=delay)
            return False
        moved_to = getattr(exc, "migrate_to_chat_id", None)
        if isinstance(moved_to, int) and not isinstance(moved_to, bool) and moved_to != 0:
            await self._migrate(row, moved_to)  # a group became a supergroup: follow it
            return False
        if isinstance(exc, ChatForbidden):  # blocked or removed: every later notice would fail
            await self._finish(row, status=S.FAILED, error=error)
            await self._switch_off(row.chat_id)
            log.warning("a chat refused the bot; it is switched off", outbox_id=row.id)
            return False
        if isinstance(exc, InvalidRequest):
            await self._finish(row, status=S.FAILED, error=error)
            log.warning("telegram refused a notice", outbox_id=row.id, error=error)
            return True
        if isinstance(exc, AuthenticationError):  # the bot's token: every chat would fail
            self._stopped = True
            await self._finish(
                row,
                status=S.PENDING,
                not_before=now + timedelta(seconds=60),
                error=error,
                attempts=row.attempts - 1,
            )
            log.warning("the notification bot's token was refused", error=error)
            return False
        if row.attempts >= self._max_attempts:
            await self._finish(row, status=S.FAILED, error=error)
            return True
        backoff = min(300.0, 2.0**row.attempts)
        await self._finish(
            row, status=S.PENDING, not_before=now + timedelta(seconds=backoff), error=error
        )
        return False

    async def _switch_off(self, chat_id: int) -> None:
        """A chat that refuses the bot (403) stops receiving: its link is switched off and
        its unsent notices fail, until its user switches it on again (PATCH is_active)."""
        t = m.NotificationOutbox
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(m.NotificationChat)
                .where(m.NotificationChat.chat_id == chat_id)
                .values(is_active=False, updated_at=self._clock())
                .execution_options(synchronize_session=False)
            )
            await session.execute(
                update(t)
                .where(t.chat_id == chat_id, t.status == S.PENDING)
                .values(status=S.FAILED, error="the chat refused the bot (403)")
                .execution_options(synchronize_session=False)
            )

    async def _migrate(self, row: Claimed, new_chat_id: int) -> None:
        """Telegram moved the chat: its link and every unsent notice follow the new id."""
        t = m.NotificationOutbox
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(m.NotificationChat)
                .where(m.NotificationChat.chat_id == row.chat_id)
                .values(chat_id=new_chat_id, updated_at=self._clock())
                .execution_options(synchronize_session=False)
            )
            await session.execute(
                update(t)
                .where(t.chat_id == row.chat_id, t.status.in_((S.PENDING, S.SENDING)))
                .values(chat_id=new_chat_id)
                .execution_options(synchronize_session=False)
            )
        await self._finish(row, status=S.PENDING, attempts=row.attempts - 1)

    async def _finish(self, row: Claimed, *, status: str, **values: Any) -> None:
        """Record an outcome, if the row is still ours (a lease that ran out is not)."""
        t = m.NotificationOutbox
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(t)
                .where(t.id == row.id, t.lease_owner == self.owner, t.status == S.SENDING)
                .values(status=status, lease_owner=None, lease_until=None, **values)
                .execution_options(synchronize_session=False)
            )
