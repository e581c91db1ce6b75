"""A Telegram user account as a channel: channels the user joined but does not own.

Copiers read providers' channels this way, since a bot sees a channel only as its admin.
The account logs in once from the shell (``signalbridge telegram login --channel ID``:
phone, code, 2FA password); the Telethon ``StringSession`` it yields is sealed in the
vault as the channel's ``session`` secret, beside ``api_hash`` (my.telegram.org).

Polling. For each chat listed, the channel asks its :class:`MessageSource` for the
messages after that chat's cursor (``iter_messages(min_id=...)``) and for the latest
``edit_window`` messages, whose ``edit_date`` shows edits; user_cursor.py turns them into
new messages and edit versions, and the next cursor, which the polling runner saves with
the messages (so a restart loses and repeats nothing). External ids follow the Bot API
channel's (``chat:msg``, ``chat:msg/e<version>``).

FloodWait. Telegram's ``FloodWaitError`` names the seconds to wait. The channel raises it
as :class:`RateLimited` (so the channel's health shows it) and until those seconds pass
raises it again without calling Telegram: it never spins. An account that needs a login
raises :class:`NeedsLogin` (an authentication error) each poll, also shown in health.

Inbound limits (channels/inbound_limits.py). A message longer than
``max_message_chars`` is refused, never cut (stored as a rejected message with the
reason). Once the channel's ``rate_limit`` is spent the rest waits in Telegram: the
chat's mark stops just before what was not taken (user_cursor.settle), and the chats
after it keep theirs. Each poll leaves a :class:`PollReport` in ``last_report`` for the
channel's health.

MTProto is not HTTP: this channel does not go through the kernel's HTTP factory, and
talks only to Telegram's data centres, which Telethon chooses.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import structlog
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from signalbridge.channels.base import InboundMessage, PollResult
from signalbridge.channels.fetching import ChannelDeps
from signalbridge.channels.inbound_limits import (
    DEFAULT_RATE,
    MAX_READ_CHARS,
    InboundBudget,
    PollReport,
    check_rate,
    limit_size,
    report_of,
)
from signalbridge.channels.telegram.user_cursor import (
    ChatMark,
    Step,
    chat_steps,
    dump_marks,
    load_marks,
    settle,
)
from signalbridge.channels.telegram.user_source import (
    AccountProbe,
    MessageSource,
    NeedsLogin,
    TelethonSource,
)
from signalbridge.integrations.errors import RateLimited
from signalbridge.integrations.registry import AdapterRegistry

if TYPE_CHECKING:
    from telethon.errors import FloodWaitError

log = structlog.get_logger("signalbridge.telegram_user")

TYPE = "telegram_user"
#: Longest FloodWait taken as stated; Telegram's run from seconds to hours.
MAX_FLOOD_WAIT = 86_400.0
_CHAT = re.compile(r"-?[0-9]{1,20}|@[A-Za-z0-9_]{4,32}")
_API_HASH = re.compile(r"[0-9a-f]{32}")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TelegramUserConfig(BaseModel):
    """A user account's channel; ``api_hash`` and ``session`` are sealed in the vault."""

    model_config = ConfigDict(extra="forbid")

    api_id: int = Field(ge=1, le=2**31 - 1, description="the app's api_id (my.telegram.org)")
    api_hash: SecretStr = Field(
        min_length=32, max_length=32, description="the app's api_hash (my.telegram.org)"
    )
    session: SecretStr | None = Field(
        default=None,
        max_length=1000,
        description="set by `signalbridge telegram login --channel ID`, never by hand",
    )
    chats: list[str] = Field(
        min_length=1,
        max_length=100,
        description="channels and groups read: @usernames or ids (-100...); the account "
        "must have joined them to see edits live",
    )
    batch_size: int = Field(default=100, ge=1, le=100, description="messages per chat per poll")
    edit_window: int = Field(
        default=20, ge=0, le=100, description="latest messages per chat checked for edits"
    )
    backfill: int = Field(
        default=0, ge=0, le=100, description="newest messages read when a chat is first polled"
    )
    max_message_chars: int = Field(
        default=4096,
        ge=100,
        le=100_000,
        description="inbound limit: a longer message is refused (recorded as rejected, "
        "never cut and traded)",
    )
    rate_limit: str = Field(
        default=DEFAULT_RATE,
        max_length=40,
        description="inbound limit: messages this channel takes; the rest wait in Telegram "
        "for a later poll",
    )

    @field_validator("rate_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        return check_rate(value)

    @field_validator("chats")
    @classmethod
    def _chat_refs(cls, value: list[str]) -> list[str]:
        bad = [c for c in value if not _CHAT.fullmatch(c)]
        if bad:
            raise ValueError("each chat is a numeric id (-100...) or an @username")
        return list(dict.fromkeys(c.lower() for c in value))

    @field_validator("api_hash")
    @classmethod
    def _hash(cls, value: SecretStr) -> SecretStr:
        if not _API_HASH.fullmatch(value.get_secret_value()):
            raise ValueError("api_hash is 32 hexadecimal characters (my.telegram.org)")
        return value


def describe(user: Any) -> str:
    """How a Telethon ``User`` is named in health and in the CLI: ``@name`` or its id."""
    username = getattr(user, "username", None)
    if isinstance(username, str) and username:
        return f"@{username}"
    return f"user {getattr(user, 'id', '?')}"


def telethon_source(config: TelegramUserConfig) -> TelethonSource:
    """The real source: Telethon on the sealed session (none yet: it needs a login)."""
    session = config.session.get_secret_value() if config.session is not None else None
    return TelethonSource(config.api_id, config.api_hash.get_secret_value(), session)


@dataclass
class _Hold:
    """A FloodWait Telegram imposed: until ``until``, ``error`` again."""

    until: datetime
    error: RateLimited


class TelegramUserChannel:
    """A user account's chats as messages; see the module."""

    type: ClassVar[str] = TYPE
    #: Builds the real source; tests replace it in a subclass.
    source_factory: ClassVar[Callable[[TelegramUserConfig], MessageSource]] = staticmethod(
        telethon_source
    )

    def __init__(
        self,
        config: TelegramUserConfig,
        *,
        channel_id: int,
        source: MessageSource,
        clock: Callable[[], datetime] = _utcnow,
        budget: InboundBudget | None = None,
    ) -> None:
        self.config = config
        self.channel_id = channel_id
        self.source = source
        self._clock = clock
        self._hold: _Hold | None = None
        self._budget = budget
        #: What the last poll saw, for the channel's health (services/channel_health.py).
        self.last_report: PollReport | None = None

    @classmethod
    def from_config(
        cls, config: TelegramUserConfig, *, channel_id: int, deps: ChannelDeps | None
    ) -> TelegramUserChannel:
        """What the polling runner calls; the kernel's clock and inbound budget when it
        passes them."""
        clock = deps.clock if deps is not None else _utcnow
        budget = (
            InboundBudget(deps.kernel.limiter, channel_id, config.rate_limit)
            if deps is not None
            else None
        )
        return cls(
            config,
            channel_id=channel_id,
            source=cls.source_factory(config),
            clock=clock,
            budget=budget,
        )

    def __repr__(self) -> str:
        return f"TelegramUserChannel(channel_id={self.channel_id}, chats={len(self.config.chats)})"

    async def poll(self, cursor: str | None) -> PollResult:
        """New messages and edits of every chat since the cursor; a FloodWait is raised
        (the runner keeps the cursor and records health) and then waited out. Messages
        over ``max_message_chars`` are refused; once the inbound rate is spent the rest
        waits in Telegram, each chat's mark left before what it did not take."""
        hold = self._hold
        if hold is not None:
            left = (hold.until - self._clock()).total_seconds()
            if left > 0:
                self.last_report = PollReport(hold_until=hold.until)
                raise RateLimited(
                    f"{hold.error.message}; next try in {left:.0f} s", retry_after=left
                )
            self._hold = None
        from telethon.errors import FloodWaitError, UnauthorizedError  # imported when read

        marks = load_marks(cursor)
        messages: list[InboundMessage] = []
        report = PollReport()
        for chat in self.config.chats:
            try:
                steps, full = await self._chat(chat, marks.get(chat))
            except FloodWaitError as exc:
                error = self._flood(exc)
                self.last_report = PollReport(hold_until=self._hold.until if self._hold else None)
                raise error from None
            except UnauthorizedError:
                raise NeedsLogin(
                    "Telegram user channel: needs login (Telegram refused the session)"
                ) from None
            taken, found = await self._admit(steps)
            messages.extend(found)
            if taken == len(steps):
                marks[chat] = full
                continue
            report.deferred += sum(s.message is not None for s in steps[taken:])
            mark = settle(marks.get(chat), steps[:taken], steps[taken:])
            if mark is not None:
                marks[chat] = mark
            break  # the budget is spent: the other chats keep their marks for later
        self.last_report = report_of(messages, deferred=report.deferred)
        return PollResult(tuple(messages), dump_marks(marks))

    async def _admit(self, steps: list[Step]) -> tuple[int, list[InboundMessage]]:
        """How many steps fit the inbound budget (a prefix) and their messages, each
        within the size limit (refused when over it)."""
        out: list[InboundMessage] = []
        for n, step in enumerate(steps):
            if step.message is None:
                continue
            if self._budget is not None and not await self._budget.room():
                return n, out
            out.append(limit_size(step.message, self.config.max_message_chars))
        return len(steps), out

    async def _chat(self, chat: str, mark: ChatMark | None) -> tuple[list[Step], ChatMark]:
        cfg = self.config
        items: list[Any] = []
        ceiling: int | None = None
        if mark is not None:
            batch = [
                m async for m in self.source.read(chat, after=mark.last_id, limit=cfg.batch_size)
            ]
            ids = [m.id for m in batch if isinstance(getattr(m, "id", None), int)]
            if len(batch) >= cfg.batch_size and ids:
                ceiling = max(ids)  # more wait in Telegram: the next poll goes on from here
            items.extend(batch)
        latest = max(cfg.edit_window, cfg.backfill, 1) if mark is None else cfg.edit_window
        items.extend([m async for m in self.source.read(chat, after=None, limit=latest)])
        return chat_steps(
            items,
            mark,
            now=self._clock(),
            max_chars=MAX_READ_CHARS,  # judged by the size limit, never cut
            backfill=cfg.backfill,
            ceiling=ceiling,
        )

    def _flood(self, exc: FloodWaitError) -> RateLimited:
        seconds = min(max(float(getattr(exc, "seconds", 0) or 0), 1.0), MAX_FLOOD_WAIT)
        error = RateLimited(
            f"Telegram FloodWait: asked to wait {seconds:.0f} s", retry_after=seconds
        )
        self._hold = _Hold(self._clock() + timedelta(seconds=seconds), error)
        log.warning("telegram flood wait", channel_id=self.channel_id, seconds=seconds)
        return error

    async def probe(self) -> str:
        """The health probe: "authorised as @name" or "needs login"."""
        from telethon.errors import UnauthorizedError

        source = self.source
        if not isinstance(source, AccountProbe):
            return "needs login"
        try:
            user = await source.account()
        except UnauthorizedError:
            user = None
        return "needs login" if user is None else f"authorised as {describe(user)}"


def register(registry: AdapterRegistry) -> None:
    """Make ``telegram_user`` a channel type (bootstrap calls this)."""
    registry.register(
        "channel",
        TYPE,
        TelegramUserChannel,  # the polling runner calls ``from_config(...)``
        TelegramUserConfig,
        ("api_hash", "session"),
        description="Telegram user account (Telethon): new and edited messages of "
        "channels the account joined; log in with `signalbridge telegram login`",
    )
