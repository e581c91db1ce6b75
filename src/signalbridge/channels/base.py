"""What every channel adapter provides, push (webhook) or poll (RSS, scraping, Telegram)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message as a channel delivered it; ``external_id`` is its idempotency key."""

    external_id: str
    text: str
    content_type: str
    received_at: datetime


class PollingChannel(Protocol):
    """A channel SignalBridge fetches from; yields messages newer than its cursor."""

    async def poll(self, cursor: str | None) -> AsyncIterator[tuple[InboundMessage, str]]: ...


class PushChannel(Protocol):
    """A channel that posts to us: authenticates one raw delivery before it is stored."""

    def authenticate(self, body: bytes, headers: dict[str, str]) -> bool: ...
