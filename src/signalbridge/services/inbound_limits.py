"""Inbound limits of push deliveries (webhooks, Telegram's webhook): refused, recorded.

A polled source keeps what is over its rate at the source (the cursor stays before it);
a push sender cannot be asked to hold on, so a delivery over the channel's rate is
refused: :class:`OverRate` carries the wait (the route answers 429 with
``Retry-After``, which Telegram and most webhook senders honour by sending it again
later), and the refusal is recorded in the channel's health (``refused_count``,
``last_refusal``). A delivery over the size limit is taken and stored as a rejected
message whose error says why (channels/inbound_limits.py), so the sender does not send
it again and an operator sees it; nothing of it is parsed.

The budget is the kernel's limiter (integrations/ratelimit.py: in Redis when several
workers run), in the same per-channel scope the polled kinds use.

A route calls :meth:`PushLimits.receive` where it called ``Intake.receive``::

    try:
        result = await push_limits.receive(intake, channel, message)
    except OverRate as exc:
        raise ApiError(429, str(exc), headers={"Retry-After": ...})
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from limits import parse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.channels.base import InboundMessage
from signalbridge.channels.inbound_limits import (
    DEFAULT_MAX_MESSAGE_CHARS,
    DEFAULT_RATE,
    limit_size,
    refusal_reason,
)
from signalbridge.integrations.errors import RateLimited
from signalbridge.integrations.ratelimit import RateLimiter
from signalbridge.services.channel_health import ChannelHealthBook, refusal_meaning
from signalbridge.services.ingest import IngestResult
from signalbridge.services.intake import Intake
from signalbridge.store import models as m


class OverRate(Exception):
    """A delivery over the channel's inbound rate: refused, to be sent again later."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    @property
    def retry_after_header(self) -> str:
        """``Retry-After`` in whole seconds (at least 1)."""
        return str(max(1, math.ceil(self.retry_after)))


@dataclass(frozen=True)
class Limits:
    """One channel's push limits."""

    max_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS
    rate: str = DEFAULT_RATE

    @classmethod
    def of(cls, channel: m.ChannelSource) -> Limits:
        """The channel's settings (web/channel_settings.py), else the defaults."""
        return cls(
            max_message_chars=channel.max_message_chars or DEFAULT_MAX_MESSAGE_CHARS,
            rate=channel.inbound_rate_limit or DEFAULT_RATE,
        )


@dataclass
class PushLimits:
    """Checks a push delivery against its channel's limits; see the module."""

    limiter: RateLimiter
    health: ChannelHealthBook
    sessions: async_sessionmaker[AsyncSession]

    async def admit(
        self, channel: m.ChannelSource, message: InboundMessage, limits: Limits | None = None
    ) -> InboundMessage:
        """The message to store (its refusal when over the size limit); :class:`OverRate`
        (recorded) when the channel's rate is spent. ``limits``: the channel's settings
        unless given (a Telegram bot passes its config's)."""
        own = limits or Limits.of(channel)
        scope = (parse(own.rate), ("inbound", str(channel.id)))
        try:
            await self.limiter.take([scope], 1, wait=False, max_wait=0)
        except RateLimited as exc:
            wait = exc.retry_after if exc.retry_after is not None else 1.0
            reason = (
                f"refused: over this channel's inbound rate ({own.rate}); "
                f"send again in {max(1, math.ceil(wait))} s"
            )
            await self.health.refused(channel.id, reason)
            raise OverRate(reason, wait) from None
        admitted = limit_size(message, own.max_message_chars)
        too_long = refusal_reason(admitted)
        if too_long is not None:
            await self.health.refused(channel.id, too_long)
        return admitted

    async def receive(
        self,
        intake: Intake,
        channel: m.ChannelSource,
        message: InboundMessage,
        *,
        parse_text: bool = True,
        limits: Limits | None = None,
    ) -> IngestResult:
        """``Intake.receive`` within the limits: a refusal is stored as a rejected message
        (its reason the error) without being parsed; :class:`OverRate` stores nothing."""
        admitted = await self.admit(channel, message, limits)
        meaning = refusal_meaning(admitted) or intake.interpret(
            channel, admitted, parse_text=parse_text
        )
        async with self.sessions() as session, session.begin():
            result = await intake.store(session, channel, admitted, meaning)
        await intake.hand_on(result, channel, meaning)
        return result
