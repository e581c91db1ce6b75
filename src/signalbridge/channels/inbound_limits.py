"""Inbound limits every channel kind applies: a maximum message size and a rate.

Size. A message longer than the channel's ``max_message_chars`` is *refused*, never cut:
a signal cut short could trade without its stop loss or its last targets. The refusal
takes the message's place (:func:`limit_size`): same external id, so it is stored once
like any message and the rest of the poll or delivery goes on; a short fixed notice as
its text (none of the provider's text, so nothing of it can be parsed); and the reason in
``content_type`` (``text/plain; refused=too-long; chars=N; max=M``), which
services/channel_health.py turns into a rejected message with that reason as its error.
An oversize edit is refused as a message of its own (``edit_of`` dropped), so the post it
edits keeps its text and its signal.

Rate. A channel's budget (``"60/hour"``, ``"120/minute"``) is a moving window in the
kernel's limiter (integrations/ratelimit.py; in Redis when several workers run), one
scope per channel, shared with channels/fetching.py. Polled sources leave what is over
the budget at the source, the cursor not moved past it; push deliveries over it are
refused with a recorded reason (services/inbound_limits.py).

:class:`PollReport` is what a polled adapter tells the health book about its last poll
(newest item's provider time, refusals, deferrals, a wait the source imposed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from limits import RateLimitItem, parse

from signalbridge.channels.base import InboundMessage
from signalbridge.integrations.errors import RateLimited
from signalbridge.integrations.ratelimit import RateLimiter

#: Defaults for push deliveries whose channel sets no limit of its own.
DEFAULT_MAX_MESSAGE_CHARS = 4096
DEFAULT_RATE = "120/minute"
#: Text read from a source before the size limit judges it (Telegram's own caps are far
#: lower); longer is cut to this first, and refused all the same.
MAX_READ_CHARS = 1_000_000
#: Bounds of the ``max_message_chars`` setting (the adapters' configs use the same).
MIN_MESSAGE_CHARS = 100
MAX_MESSAGE_CHARS = 100_000
MAX_RATE_TEXT = 40
#: Bounds of a rate: what a window may count, and how long it may be (the limiter keeps
#: a key for one window).
MAX_RATE_AMOUNT = 1_000_000
MAX_RATE_WINDOW = 30 * 86_400
#: The text a refused message is stored with: fixed, with nothing a parser could read.
NOTICE = "Refused by SignalBridge: longer than this channel's max_message_chars; not read."
REFUSED_PREFIX = "text/plain; refused=too-long"
_REFUSED = re.compile(r"text/plain; refused=too-long; chars=([0-9]{1,12}); max=([0-9]{1,12})")


def check_rate(value: str, what: str = "rate_limit") -> str:
    """``value`` when the limits package reads it as a rate; ValueError otherwise."""
    if len(value) > MAX_RATE_TEXT:
        raise ValueError(f"{what} is at most {MAX_RATE_TEXT} characters")
    try:
        item = parse(value)
    except ValueError:
        raise ValueError(f"{what} must be a rate such as '60/minute' or '100 per hour'") from None
    if not 1 <= item.amount <= MAX_RATE_AMOUNT:
        raise ValueError(f"{what} must allow 1 to {MAX_RATE_AMOUNT} messages per window")
    if item.get_expiry() > MAX_RATE_WINDOW:
        raise ValueError(f"{what} must have a window of at most 30 days")
    return value


def limit_size(message: InboundMessage, max_chars: int) -> InboundMessage:
    """``message`` when its text fits ``max_chars``, else its refusal (see the module)."""
    size = len(message.text)
    if size <= max_chars:
        return message
    return replace(
        message,
        text=NOTICE,
        content_type=f"{REFUSED_PREFIX}; chars={size}; max={max_chars}",
        edit_of=None,
        reply_to=None,
    )


def refusal_reason(message: InboundMessage) -> str | None:
    """Why ``message`` was refused by :func:`limit_size`, or None for a plain message."""
    found = _REFUSED.fullmatch(message.content_type)
    if found is None:
        return None
    return (
        f"refused: the message has {found.group(1)} characters, over this channel's "
        f"max_message_chars ({found.group(2)}); it was not read"
    )


class InboundBudget:
    """One channel's inbound rate: :meth:`room` takes one message of it, or says no."""

    def __init__(self, limiter: RateLimiter, channel_id: int, rate: str) -> None:
        self._limiter = limiter
        self._item: RateLimitItem = parse(rate)
        self._ids = ("inbound", str(channel_id))  # the scope channels/fetching.py uses
        self.rate = rate

    async def room(self) -> bool:
        """One message of the budget, or False (nothing taken) when it is spent."""
        try:
            await self._limiter.take([(self._item, self._ids)], 1, wait=False, max_wait=0)
        except RateLimited:
            return False
        return True


@dataclass
class PollReport:
    """What one poll saw, for the channel's health (services/channel_health.py).

    ``newest_at`` is the newest item's own time as the source dates it (None: the source
    gives none, or nothing came); ``refused`` the reasons of messages refused for their
    size; ``deferred`` how many items were left at the source by the rate limit;
    ``hold_until`` a wait the source imposed (Telegram's FloodWait); ``contacted`` False
    when the poll asked the source nothing (not due yet, politeness budget spent), so it
    is no sync.
    """

    newest_at: datetime | None = None
    refused: list[str] = field(default_factory=list)
    deferred: int = 0
    hold_until: datetime | None = None
    contacted: bool = True

    def saw(self, when: datetime | None) -> None:
        if when is not None and (self.newest_at is None or when > self.newest_at):
            self.newest_at = when

    def note(self, message: InboundMessage) -> None:
        """Count ``message``: a refusal, or an item dated by the source."""
        reason = refusal_reason(message)
        if reason is not None:
            self.refused.append(reason)


def report_of(messages: Iterable[InboundMessage], *, deferred: int = 0) -> PollReport:
    """The report of a poll whose messages are dated by the source (Telegram)."""
    report = PollReport(deferred=deferred)
    for message in messages:
        report.note(message)
        report.saw(message.received_at)
    return report


__all__ = [
    "DEFAULT_MAX_MESSAGE_CHARS",
    "DEFAULT_RATE",
    "NOTICE",
    "InboundBudget",
    "PollReport",
    "check_rate",
    "limit_size",
    "refusal_reason",
    "report_of",
]
