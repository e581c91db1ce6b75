"""Where a user-account channel's messages come from: a small protocol, and Telethon.

The channel (channels/telegram_user.py) only asks a :class:`MessageSource` for one
chat's Telethon objects and maps them itself, so everything up to Telethon's objects is
tested offline with a fake source. :class:`TelethonSource` is the real one: a
``TelegramClient`` on the sealed ``StringSession``, connected on first use and kept
between polls. It pulls (``iter_messages``) the messages after the chat's cursor, oldest
first; and the chat's latest few (whose ``edit_date`` shows edits) with the
``NewMessage``/``MessageEdited`` events Telegram pushed since the last poll, which catch
edits of older messages while the link is up. The MTProto link itself cannot be tested
offline (README, "Telegram as a user").

Telethon's own errors go up unchanged (the channel decides about ``FloodWaitError``); a
session that is missing or no longer authorised is :class:`NeedsLogin`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from typing import Any, Protocol, runtime_checkable

from signalbridge.integrations.errors import AuthenticationError
from signalbridge.integrations.redaction import register_secret

#: Live events kept per chat between two polls; older ones are dropped (the pull of
#: the latest messages still sees recent edits).
LIVE_BUFFER = 500


class NeedsLogin(AuthenticationError):
    """No session, or Telegram no longer accepts it: run ``signalbridge telegram login``."""


class MessageSource(Protocol):
    """One job: yield a chat's Telethon messages (``Message``) or events."""

    def read(self, chat: str, *, after: int | None, limit: int) -> AsyncIterator[Any]:
        """With ``after``: the chat's messages with a higher id, oldest first, at most
        ``limit`` (the catch-up). Without: its ``limit`` latest messages, then the live
        events pushed for it since the last read (where edits show). Repeats are fine:
        the channel keeps one of each."""
        ...


@runtime_checkable
class AccountProbe(Protocol):
    """Who the session is logged in as (the health probe)."""

    async def account(self) -> Any | None:
        """Telethon's ``User`` for the session, or None when it needs a login."""
        ...


class TelethonSource:
    """The real :class:`MessageSource` and :class:`AccountProbe`; see the module."""

    def __init__(self, api_id: int, api_hash: str, session: str | None) -> None:
        register_secret(api_hash)  # scrubbed from every log line and error text
        register_secret(session)
        self._api_id = api_id
        self._api_hash = api_hash
        self._session = session
        self._client: Any = None
        self._peers: dict[str, int] = {}
        self._live: dict[int, deque[Any]] = {}

    def __repr__(self) -> str:
        return f"TelethonSource(api_id={self._api_id}, logged_in={self._session is not None})"

    async def _connected(self) -> Any:
        if not self._session:
            raise NeedsLogin("Telegram user channel: needs login (no session)")
        if self._client is None:
            from telethon import TelegramClient, events  # only when Telegram is read
            from telethon.sessions import StringSession

            self._client = TelegramClient(
                StringSession(self._session), self._api_id, self._api_hash
            )
            self._client.add_event_handler(self._keep, events.NewMessage())
            self._client.add_event_handler(self._keep, events.MessageEdited())
        if not self._client.is_connected():
            await self._client.connect()
        if not await self._client.is_user_authorized():
            raise NeedsLogin("Telegram user channel: needs login (the session was revoked)")
        return self._client

    async def _keep(self, event: Any) -> None:
        """Buffer a pushed event for a chat this channel reads; others are ignored."""
        buffer = self._live.get(getattr(event, "chat_id", None) or 0)
        if buffer is not None:
            buffer.append(event)

    async def _peer(self, client: Any, chat: str) -> int:
        if chat not in self._peers:
            target: str | int = int(chat) if chat.lstrip("-").isdigit() else chat
            self._peers[chat] = int(await client.get_peer_id(target))
            self._live.setdefault(self._peers[chat], deque(maxlen=LIVE_BUFFER))
        return self._peers[chat]

    async def read(self, chat: str, *, after: int | None, limit: int) -> AsyncIterator[Any]:
        client = await self._connected()
        peer = await self._peer(client, chat)
        if after is not None:
            async for message in client.iter_messages(
                peer, min_id=after, reverse=True, limit=limit
            ):
                yield message
            return
        if limit > 0:
            async for message in client.iter_messages(peer, limit=limit):
                yield message
        buffer = self._live[peer]
        while buffer:
            yield buffer.popleft()

    async def account(self) -> Any | None:
        try:
            client = await self._connected()
        except NeedsLogin:
            return None
        return await client.get_me()

    async def close(self) -> None:
        """Disconnect (the channel's row changed, or the process stops)."""
        if self._client is not None:
            await self._client.disconnect()
