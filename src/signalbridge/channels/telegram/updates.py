"""Telegram ``Update`` objects (untrusted JSON) as :class:`InboundMessage` values.

Pure, so the polling channel and the webhook route read updates the same way. What is
kept: ``message`` (groups, private chats), ``channel_post``, and their edits
(``edited_message``, ``edited_channel_post``); the text is ``text``, else a photo's or a
document's ``caption``. Everything else (stickers, service messages, other update types,
malformed objects) is skipped, never an error: one odd update must not stop a channel.

Ids are unique per chat, as Telegram's ``message_id`` is: a message is
``"<chat id>:<message id>"``; an edit is ``"<chat id>:<message id>/e<update id>"`` with
``edit_of`` naming the message it edits (two edits in one second stay two versions); a
reply names the answered message in ``reply_to``.

``received_at`` is when Telegram says the message was posted (``edit_date`` for an
edit), never later than now: a post that waited in Telegram's queue while SignalBridge
was down keeps its age, so a follow's ``max_signal_age_seconds`` skips it.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from signalbridge.channels.base import InboundMessage
from signalbridge.channels.fetching import cut_text

#: The update types read, new messages first, then edits.
NEW = ("message", "channel_post")
EDITED = ("edited_message", "edited_channel_post")
MAX_ID = 2**63


def update_id(update: Any) -> int | None:
    """The update's ``update_id`` (a non-negative integer), or None."""
    value = update.get("update_id") if isinstance(update, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_ID:
        return None
    return value


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not -MAX_ID < value < MAX_ID:
        return None
    return value


def _when(message: dict[str, Any], now: datetime) -> datetime:
    stamp = _int(message.get("edit_date")) or _int(message.get("date"))
    if stamp is None or stamp <= 0:
        return now
    try:
        posted = datetime.fromtimestamp(stamp, UTC)
    except (OverflowError, OSError, ValueError):
        return now
    return min(posted, now)


def _text(value: Any) -> str:
    """Text without NULs (the databases refuse them), "" when there is none."""
    if not isinstance(value, str):
        return ""
    text = value.replace("\x00", "")
    return text if text.strip() else ""


def chat_ref(chat: dict[str, Any]) -> tuple[str, str | None]:
    """The chat's id as text, and ``@username`` (lower case) when it has one."""
    username = chat.get("username")
    name = f"@{username.lower()}" if isinstance(username, str) and username else None
    return str(chat.get("id")), name


def to_inbound(
    update: Any,
    *,
    now: datetime,
    max_chars: int,
    chats: Collection[str] = (),
) -> InboundMessage | None:
    """The update as a message, or None when it carries none we read. ``chats`` (ids as
    text, ``@usernames`` in lower case) limits which chats are read; empty: all."""
    uid = update_id(update)
    if uid is None:
        return None
    kind = next((k for k in (*NEW, *EDITED) if k in update), None)
    message = update.get(kind) if kind is not None else None
    if not isinstance(message, dict):
        return None
    chat = message.get("chat")
    message_id = _int(message.get("message_id"))
    if not isinstance(chat, dict) or _int(chat.get("id")) is None or message_id is None:
        return None
    chat_id, username = chat_ref(chat)
    if chats and chat_id not in chats and (username is None or username not in chats):
        return None
    raw = _text(message.get("text")) or _text(message.get("caption"))
    if not raw:
        return None
    text, _ = cut_text(raw, max_chars)
    key = f"{chat_id}:{message_id}"
    answered = message.get("reply_to_message")
    reply_id = _int(answered.get("message_id")) if isinstance(answered, dict) else None
    edited = kind in EDITED
    return InboundMessage(
        external_id=f"{key}/e{uid}" if edited else key,
        text=text,
        received_at=_when(message, now),
        edit_of=key if edited else None,
        reply_to=f"{chat_id}:{reply_id}" if reply_id is not None else None,
    )
