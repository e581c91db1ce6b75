"""Telethon's own message objects (a user account's view) as :class:`InboundMessage`.

Pure, and the same conventions as the Bot API's reading (updates.py), so one post reads
the same whichever way it came in: a message is ``"<chat id>:<message id>"`` with the
chat id as the Bot API writes it (``-100...`` for a channel, Telethon's
``utils.get_peer_id``); an edit is ``"<chat id>:<message id>/e<version>"`` with
``edit_of`` naming the message. MTProto has no ``update_id``, so the version is the
edit's ``edit_date`` in Unix seconds: each edit Telegram dates apart is its own version,
and the same edit read twice (pulled, then seen live) has one id. A reply names the
answered message in ``reply_to``. The text is ``Message.message``, which for a photo or a
document is its caption. Service messages, empty ones and anything malformed are skipped
(None), never an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from signalbridge.channels.base import InboundMessage
from signalbridge.channels.fetching import cut_text
from signalbridge.channels.telegram.updates import MAX_ID


@dataclass(frozen=True, slots=True)
class Seen:
    """One Telethon message as read: the message, its chat id, and whether it came as an
    edit event (``MessageEdited``) rather than pulled from the history."""

    message: Any
    chat_id: int
    edited_event: bool = False

    @property
    def id(self) -> int:
        return int(self.message.id)

    @property
    def edit_version(self) -> int | None:
        """``edit_date`` in Unix seconds, or None for a message never edited."""
        return epoch(getattr(self.message, "edit_date", None))


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not -MAX_ID < value < MAX_ID:
        return None
    return value


def epoch(value: Any) -> int | None:
    """A Telethon date (tz-aware) as Unix seconds; None for none or a naive one."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        return None
    stamp = int(value.timestamp())
    return stamp if stamp > 0 else None


def peer_id(peer: Any) -> int | None:
    """The Bot API style id of a Telethon peer (``-100...`` for channels), or None."""
    from telethon import utils  # Telethon is imported only where Telegram is read
    from telethon.tl import types

    if not isinstance(peer, types.PeerChannel | types.PeerChat | types.PeerUser):
        return None
    try:
        return _int(utils.get_peer_id(peer))
    except (TypeError, ValueError):
        return None


def seen(item: Any) -> Seen | None:
    """A pulled ``Message`` or a ``NewMessage``/``MessageEdited`` event as :class:`Seen`;
    None for anything else (service messages, ``MessageEmpty``, other events)."""
    from telethon import events
    from telethon.tl import types

    edited = isinstance(item, events.MessageEdited.Event)
    message = item.message if isinstance(item, events.NewMessage.Event) else item
    if not isinstance(message, types.Message) or _int(message.id) is None or message.id <= 0:
        return None
    chat_id = peer_id(message.peer_id)
    if chat_id is None:
        return None
    return Seen(message, chat_id, edited)


def _text(value: Any) -> str:
    """Text without NULs (the databases refuse them), "" when there is none."""
    if not isinstance(value, str):
        return ""
    text = value.replace("\x00", "")
    return text if text.strip() else ""


def _when(message: Any, now: datetime, edit: bool) -> datetime:
    """When it was posted (edited, for an edit), never later than now: a post read late
    keeps its age, so a follow's ``max_signal_age_seconds`` skips a stale one."""
    stamp = getattr(message, "edit_date" if edit else "date", None)
    if not isinstance(stamp, datetime) or stamp.utcoffset() is None:
        return now
    return min(stamp.astimezone(UTC), now)


def _reply_to(message: Any, chat_id: int) -> str | None:
    header = getattr(message, "reply_to", None)
    from telethon.tl import types

    if not isinstance(header, types.MessageReplyHeader):
        return None
    answered = _int(header.reply_to_msg_id)
    if answered is None or answered <= 0:
        return None
    other = peer_id(header.reply_to_peer_id) if header.reply_to_peer_id is not None else None
    return f"{other if other is not None else chat_id}:{answered}"


def message_key(chat_id: int, message_id: int) -> str:
    return f"{chat_id}:{message_id}"


def to_inbound(
    item: Seen, *, as_edit: bool, now: datetime, max_chars: int
) -> InboundMessage | None:
    """The message as a new message (``as_edit`` False) or as the edit version its
    ``edit_date`` names; None when it carries no text or an edit has no date."""
    message = item.message
    raw = _text(getattr(message, "message", None))
    if not raw:
        return None
    version = item.edit_version
    if as_edit and version is None:
        return None
    text, _ = cut_text(raw, max_chars)
    key = message_key(item.chat_id, item.id)
    return InboundMessage(
        external_id=f"{key}/e{version}" if as_edit else key,
        text=text,
        received_at=_when(message, now, as_edit),
        edit_of=key if as_edit else None,
        reply_to=_reply_to(message, item.chat_id),
    )
