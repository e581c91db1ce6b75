"""The bot's side of linking: a message carrying a link code links its chat.

A user sends ``/start CODE`` (what the deep link ``t.me/<bot>?start=CODE`` sends),
``/link CODE`` or the bare code to the notification bot, in a private chat, a group, or
a channel where the bot is an administrator. Updates are untrusted input: anything that
is not such a message is ignored, and the code never reaches a log line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.integrations.errors import RateLimited
from signalbridge.notifications.linking import LinkRefused, redeem, split_code
from signalbridge.notifications.sender import Sender, TelegramLimits
from signalbridge.store.types import utcnow

log = structlog.get_logger("signalbridge.notifications")

_MESSAGE_KEYS = ("message", "channel_post")
_COMMANDS = ("/start", "/link")
#: Telegram chat ids fit in 52 bits; anything else is not a chat.
_MAX_CHAT_ID = 2**53
LINKED = "This chat now receives your SignalBridge notifications. Choose which in the app."
REFUSED = "That code is not valid or has expired. Ask the app for a new one."


@dataclass(frozen=True)
class LinkRequest:
    chat_id: int
    title: str | None
    code: str


def _title(chat: Mapping[str, Any]) -> str | None:
    for key in ("title", "username", "first_name"):
        value = chat.get(key)
        if isinstance(value, str) and value:
            return "".join(ch for ch in value if ch.isprintable())[:200] or None
    return None


def link_request(update: object) -> LinkRequest | None:
    """The chat and code an update carries, or None when it is not a link attempt."""
    if not isinstance(update, Mapping):
        return None
    message = next((update[k] for k in _MESSAGE_KEYS if isinstance(update.get(k), Mapping)), None)
    if message is None:
        return None
    chat = message.get("chat")
    text = message.get("text")
    if not isinstance(chat, Mapping) or not isinstance(text, str) or len(text) > 200:
        return None
    chat_id = chat.get("id")
    if isinstance(chat_id, bool) or not isinstance(chat_id, int):
        return None
    if not -_MAX_CHAT_ID < chat_id < _MAX_CHAT_ID or chat_id == 0:
        return None
    words = text.strip().split()
    if not words:
        return None
    command = words[0].split("@", 1)[0].lower()
    if command in _COMMANDS:
        candidate = "".join(words[1:])
    elif words[0].startswith("/"):
        return None
    else:
        candidate = "".join(words)
    if split_code(candidate) is None:
        return None
    return LinkRequest(chat_id, _title(chat), candidate)


class LinkHandler:
    """Handles the notification bot's updates: TGBOT's update loop (or webhook) hands
    each update to :meth:`handle_update`."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        sender: Sender,
        limits: TelegramLimits,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._sender = sender
        self._limits = limits
        self._clock = clock

    async def handle_update(self, update: object) -> bool | None:
        """True when a chat was linked, False for a refused code, None when the update
        was no link attempt. The chat is told the outcome (best effort)."""
        request = link_request(update)
        if request is None:
            return None
        try:
            async with self._sessions() as session, session.begin():
                linked = await redeem(
                    session, request.code, request.chat_id, request.title, self._clock()
                )
        except LinkRefused:
            await self._reply(request.chat_id, REFUSED)
            return False
        log.info("a chat was linked", user_id=linked.user_id, chat_ref_id=linked.chat_ref_id)
        await self._reply(request.chat_id, LINKED)
        return True

    async def _reply(self, chat_id: int, text: str) -> None:
        try:
            # Never wait: a chat flooding the bot with codes must not slow everyone's links.
            await self._limits.for_chat(chat_id).acquire(wait=False)
            await self._sender.send_message(chat_id, text)
        except RateLimited:
            log.info("no reply to a link attempt: the chat is rate limited", chat_id=chat_id)
        except Exception as exc:  # the link stands; the reply is a courtesy
            log.warning("could not answer a link attempt", error=type(exc).__name__)
