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

MTProto is not HTTP: this channel does not go through the kernel's HTTP factory, and
talks only to Telegram's data centres, which Telethon chooses.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import structlog
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from telethon.errors import FloodWaitError, UnauthorizedError

from signalbridge.channels.base import InboundMessage, PollResult
from signalbridge.channels.fetching import ChannelDeps
from signalbridge.channels.telegram.user_cursor import ChatMark, dump_marks, load_marks, read_chat
from signalbridge.channels.telegram.user_source import (
    AccountProbe,
    MessageSource,
    NeedsLogin,
    TelethonSource,
)
from signalbridge.integrations.errors import RateLimited
from signalbridge.integrations.registry import AdapterRegistry

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
        default=4096, ge=100, le=100_000, description="inbound limit: longer text is cut"
    )

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
    ) -> None:
        self.config = config
        self.channel_id = channel_id
        self.source = source
        self._clock = clock
        self._hold: _Hold | None = None

    @classmethod
    def from_config(
        cls, config: TelegramUserConfig, *, channel_id: int, deps: ChannelDeps | None
    ) -> TelegramUserChannel:
        """What the polling runner calls; the kernel's clock when it passes one."""
        clock = deps.clock if deps is not None else _utcnow
        return cls(config, channel_id=channel_id, source=cls.source_factory(config), clock=clock)

    def __repr__(self) -> str:
        return f"TelegramUserChannel(channel_id={self.channel_id}, chats={len(self.config.chats)})"

    async def poll(self, cursor: str | None) -> PollResult:
        """New messages and edits of every chat since the cursor; a FloodWait is raised
        (the runner keeps the cursor and records health) and then waited out."""
        hold = self._hold
        if hold is not None:
            left = (hold.until - self._clock()).total_seconds()
            if left > 0:
                raise RateLimited(
                    f"{hold.error.message}; next try in {left:.0f} s", retry_after=left
                )
            self._hold = None
        marks = load_marks(cursor)
        messages: list[InboundMessage] = []
        for chat in self.config.chats:
            try:
                found, marks[chat] = await self._chat(chat, marks.get(chat))
            except FloodWaitError as exc:
                raise self._flood(exc) from None
            except UnauthorizedError:
                raise NeedsLogin(
                    "Telegram user channel: needs login (Telegram refused the session)"
                ) from None
            messages.extend(found)
        return PollResult(tuple(messages), dump_marks(marks))

    async def _chat(
        self, chat: str, mark: ChatMark | None
    ) -> tuple[list[InboundMessage], ChatMark]:
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
        return read_chat(
            items,
            mark,
            now=self._clock(),
            max_chars=cfg.max_message_chars,
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
