"""A Telegram account's chats, offline, behind the channel's MessageSource protocol.

It copies what Telethon's ``iter_messages`` answers (real ``telethon.tl.types.Message``
objects; ``min_id`` + ``reverse=True``: ids above it, oldest first; otherwise the newest
first) and what Telegram pushes (``NewMessage``/``MessageEdited`` events built with
Telethon's own classes), plus ``FloodWaitError`` and a revoked session, so the channel's
logic runs against Telethon's objects without the MTProto link, which cannot be faked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from telethon import events
from telethon.errors import (
    AuthKeyUnregisteredError,
    FloodWaitError,
    PasswordHashInvalidError,
    PhoneCodeExpiredError,
    PhoneCodeInvalidError,
    SessionPasswordNeededError,
)
from telethon.tl import types

BASE = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
SESSION = "1BVtsOKABu-session-canary-5f2c9e"
CODE = "24680"
PASSWORD = "correct horse battery"


def post(
    channel_id: int,
    msg_id: int,
    text: str,
    *,
    at: datetime = BASE,
    edit_date: datetime | None = None,
    reply_to: int | None = None,
    media: Any = None,
) -> types.Message:
    """A channel post as Telethon decodes one."""
    return types.Message(
        id=msg_id,
        peer_id=types.PeerChannel(channel_id),
        date=at,
        message=text,
        post=True,
        edit_date=edit_date,
        reply_to=types.MessageReplyHeader(reply_to_msg_id=reply_to) if reply_to else None,
        media=media,
    )


@dataclass
class FakeAccount:
    """The account's view: chats by the name the channel config uses."""

    chats: dict[str, list[types.Message]] = field(default_factory=dict)
    live: dict[str, list[Any]] = field(default_factory=dict)
    user: Any = field(default_factory=lambda: types.User(id=777, username="copier"))
    flood_seconds: int | None = None
    revoked: bool = False
    reads: list[tuple[str, int | None, int]] = field(default_factory=list)

    def add(self, chat: str, message: types.Message) -> None:
        self.chats.setdefault(chat, []).append(message)

    def edit(self, chat: str, msg_id: int, text: str, at: datetime, *, push: bool = False) -> None:
        """Edit a message in place (as Telegram keeps only the latest version)."""
        held = self.chats[chat]
        for i, message in enumerate(held):
            if message.id == msg_id:
                edited = replace_message(message, text, at)
                held[i] = edited
                if push:
                    self.live.setdefault(chat, []).append(events.MessageEdited.Event(edited))
                return
        raise KeyError(msg_id)

    async def read(self, chat: str, *, after: int | None, limit: int) -> AsyncIterator[Any]:
        self.reads.append((chat, after, limit))
        if self.revoked:
            raise AuthKeyUnregisteredError(request=None)
        if self.flood_seconds is not None:
            raise FloodWaitError(request=None, capture=self.flood_seconds)
        held = sorted(self.chats.get(chat, []), key=lambda m: m.id)
        if after is not None:
            for message in [m for m in held if m.id > after][:limit]:
                yield message
            return
        for message in list(reversed(held))[:limit]:
            yield message
        pushed, self.live[chat] = self.live.get(chat, []), []
        for event in pushed:
            yield event

    async def account(self) -> Any | None:
        return None if self.revoked else self.user


def replace_message(message: types.Message, text: str, at: datetime) -> types.Message:
    """The message as Telegram serves it after an edit: new text, ``edit_date`` set."""
    return types.Message(
        id=message.id,
        peer_id=message.peer_id,
        date=message.date,
        message=text,
        post=message.post,
        edit_date=at,
        reply_to=message.reply_to,
        media=message.media,
    )


@dataclass
class Saves:
    value: str

    def save(self) -> str:
        return self.value


@dataclass
class FakeLoginClient:
    """Telegram's side of a login, as Telethon's client shows it."""

    password: str | None = PASSWORD
    authorised: bool = False
    flood: int | None = None
    calls: list[tuple[str, Any]] = field(default_factory=list)
    session: Saves = field(default_factory=lambda: Saves(""))

    async def connect(self) -> None:
        self.calls.append(("connect", None))

    async def is_user_authorized(self) -> bool:
        return self.authorised

    async def send_code_request(self, phone: str) -> Any:
        self.calls.append(("send_code_request", phone))
        if self.flood is not None:
            raise FloodWaitError(request=None, capture=self.flood)
        return types.auth.SentCode(
            type=types.auth.SentCodeTypeApp(length=5), phone_code_hash="hash"
        )

    async def sign_in(
        self, phone: str | None = None, code: str | None = None, *, password: str | None = None
    ) -> Any:
        self.calls.append(("sign_in", "password" if password is not None else code))
        if password is not None:
            if password != self.password:
                raise PasswordHashInvalidError(request=None)
        elif code == "expired":
            raise PhoneCodeExpiredError(request=None)
        elif code != CODE:
            raise PhoneCodeInvalidError(request=None)
        elif self.password is not None:
            raise SessionPasswordNeededError(request=None)
        self.authorised = True
        self.session = Saves(SESSION)
        return await self.get_me()

    async def get_me(self) -> Any:
        return types.User(id=777, username="copier") if self.authorised else None


@dataclass
class Clock:
    now: datetime = BASE + timedelta(hours=1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


__all__ = [
    "BASE",
    "CODE",
    "PASSWORD",
    "SESSION",
    "Clock",
    "FakeAccount",
    "FakeLoginClient",
    "Saves",
    "post",
    "replace_message",
]
