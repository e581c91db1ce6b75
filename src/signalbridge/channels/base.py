"""What every channel adapter provides, push (webhook) or poll (RSS, scraping, Telegram).

Either kind turns what the outside sent into :class:`InboundMessage` values and hands
them to the one intake service (services/intake.py), which stores each once per
(channel, external id). A polling channel's position in its source is a text cursor
that only the channel understands; the polling runner (jobs/polling.py) keeps it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message as a channel delivered it; ``external_id`` is its idempotency key.

    ``edit_of`` and ``reply_to`` are the external ids of the message this one edits or
    answers, where the channel knows them (Telegram does). ``body_hash`` (hex SHA-256 of
    the raw delivery) and ``replay_window_seconds`` come together, for channels whose
    deliveries carry no id of their own: the same body inside the window is a duplicate.
    """

    external_id: str
    text: str
    received_at: datetime
    content_type: str = "text/plain"
    edit_of: str | None = None
    reply_to: str | None = None
    body_hash: str | None = None
    replay_window_seconds: int | None = None

    def __post_init__(self) -> None:
        if self.received_at.utcoffset() is None:
            raise ValueError("received_at must be timezone-aware (UTC)")
        if not self.external_id:
            raise ValueError("external_id must not be empty")
        if (self.body_hash is None) != (self.replay_window_seconds is None):
            raise ValueError("body_hash and replay_window_seconds are given together")


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll found, oldest first, and the cursor to poll from next time."""

    messages: tuple[InboundMessage, ...]
    next_cursor: str | None


@runtime_checkable
class PollingChannel(Protocol):
    """A channel SignalBridge fetches from.

    ``poll`` returns the messages after ``cursor`` (None: the source's start, as far as
    the channel goes back) and the cursor after them. It may return a message again (a
    feed that repeats its last items): the intake stores each external id once. Only
    methods here, so ``issubclass(adapter_class, PollingChannel)`` tells a registered
    class is one.
    """

    async def poll(self, cursor: str | None) -> PollResult: ...


class PushChannel(Protocol):
    """A channel that posts to us: verifies one raw delivery before it is stored.

    ``verify`` answers the channel's own idea of an authentic delivery (the webhook
    channel's is :class:`~signalbridge.channels.webhook.Delivery`), or None when the
    sender cannot prove it holds the channel's secret. ``parse_text`` says whether text
    that is not canonical JSON goes to the rule parser.
    """

    parse_text: bool

    def verify(self, body: bytes, headers: Mapping[str, str]) -> object | None: ...
