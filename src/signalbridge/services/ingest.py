"""Message in, signal out: store a channel message once, interpret it, record the result.

Every channel's messages reach it through the intake (services/intake.py). The message
row is written once per (channel, external id); a redelivery finds the stored outcome
instead of acting again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.domain.bounds import JsonOutOfBounds, load_json, storable_text
from signalbridge.domain.errors import InvalidSignal
from signalbridge.domain.signals import Noise, Parsed, Signal, SignalUpdate, parsed_from_dict
from signalbridge.notifications import emit as notify
from signalbridge.services.channel_reading import screen
from signalbridge.services.dispatch import open_executions
from signalbridge.store import models as m
from signalbridge.store.db import insert_ignore
from signalbridge.store.types import utcnow

#: Longest content type stored (the column's size).
MAX_CONTENT_TYPE = 100


@dataclass(frozen=True)
class Interpretation:
    parsed: Parsed | None
    confidence: Decimal
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class IngestResult:
    message_id: int
    status: str
    duplicate: bool
    signal_id: int | None = None
    update_id: int | None = None
    error: str | None = None
    #: Executions created with the signal (``dispatch=True``); not part of the answer.
    execution_ids: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "status": self.status,
            "duplicate": self.duplicate,
            "signal_id": self.signal_id,
            "update_id": self.update_id,
            "error": self.error,
        }


def delivery_id(body: bytes, explicit: str | None, first_seen: datetime | None = None) -> str:
    """The idempotency key of a delivery: the sender's (signed) id when given, else the body's
    hash, with the second the body was first seen when the body-hash window decides
    duplicates (so the same body is a new message once its window has passed)."""
    if explicit:
        return explicit[:200]
    key = "sha256:" + hashlib.sha256(body).hexdigest()
    return key if first_seen is None else f"{key}:{int(first_seen.timestamp())}"


def interpret_canonical(text: str) -> Interpretation:
    """Read SignalBridge's canonical JSON; anything wrong is a clear list of problems."""
    try:  # bounded: no deep nesting, no NaN/Infinity, no endless integers
        data = load_json(text)
    except JsonOutOfBounds as exc:
        return Interpretation(None, Decimal(0), (str(exc),))
    try:
        return Interpretation(parsed_from_dict(data), Decimal(1))
    except InvalidSignal as exc:
        return Interpretation(None, Decimal(0), tuple(exc.problems))


async def ingest(
    session: AsyncSession,
    *,
    channel: m.ChannelSource,
    external_id: str,
    text: str,
    content_type: str,
    received_at: datetime,
    interpretation: Interpretation,
    dispatch: bool = False,
) -> IngestResult:
    """Store the message and what it means, in the caller's transaction.

    The message row is written once with its final status, so a delivery costs one insert
    for the message and one for what it became. With ``dispatch`` an accepted signal's
    executions are created in the same transaction (the signal is stored ``dispatched``),
    which saves the dispatch task a transaction of its own; the executions are then only
    waiting to be run, and the sweeper finds them if the task is lost.
    """
    kind = classify(channel, text, interpretation)
    interpretation, parsed, status = kind.meaning, kind.meaning.parsed, kind.status
    message_id = await insert_ignore(
        session,
        m.Message,
        message_values(channel.id, external_id, text, content_type, received_at, kind),
        conflict=("channel_id", "external_id"),
    )
    if message_id is None:
        return await outcome_by_key(session, channel.id, external_id)
    if parsed is None or isinstance(parsed, Noise):
        return IngestResult(message_id, status, False, error=kind.error)
    if isinstance(parsed, SignalUpdate):
        update = update_row(parsed, message_id, channel.id, interpretation.confidence, kind.below)
        session.add(update)
        await session.flush()
        return IngestResult(message_id, status, False, update_id=update.id)
    signal = signal_row(parsed, message_id, channel.id, received_at, interpretation, kind.below)
    session.add(signal)
    execution_ids: tuple[int, ...] = ()
    if dispatch and signal.status == m.SignalStatus.ACCEPTED:
        # inserted already dispatched, with its executions
        execution_ids = tuple(await open_executions(session, signal))
    else:  # in review, or its dispatch is left to the task
        await session.flush()
    if signal.status in (m.SignalStatus.ACCEPTED, m.SignalStatus.DISPATCHED):
        await notify.signal_published(session, signal, channel)  # with the signal's commit
    return IngestResult(message_id, status, False, signal_id=signal.id, execution_ids=execution_ids)


@dataclass(frozen=True)
class Classified:
    """A message's meaning as its channel reads it, and the status it is stored with."""

    meaning: Interpretation
    status: str
    error: str | None
    #: Below the channel's ``min_confidence``: the signal or update waits for review.
    below: bool


def classify(channel: m.ChannelSource, text: str, interpretation: Interpretation) -> Classified:
    """Apply the channel's parse_text and dialect settings (services/channel_reading.py)
    and decide the message's status; pure, shared by the single and the batch path."""
    meaning = screen(channel, text, interpretation)
    parsed = meaning.parsed
    below = meaning.confidence < channel.min_confidence
    if parsed is None:
        return Classified(
            meaning, m.MessageStatus.REJECTED, "; ".join(meaning.problems)[:2000], below
        )
    if isinstance(parsed, Noise):
        return Classified(meaning, m.MessageStatus.NOISE, None, below)
    status = m.MessageStatus.REVIEW if below else m.MessageStatus.PARSED
    return Classified(meaning, status, None, below)


def message_values(
    channel_id: int,
    external_id: str,
    text: str,
    content_type: str,
    received_at: datetime,
    kind: Classified,
) -> dict[str, Any]:
    """The message row, written once with its final status."""
    return {
        "channel_id": channel_id,
        "external_id": external_id,
        "text": storable_text(text),
        "content_type": content_type,
        "status": kind.status,
        "error": kind.error,
        "received_at": received_at,
    }


def update_row(
    parsed: SignalUpdate, message_id: int, channel_id: int, confidence: Decimal, below: bool
) -> m.SignalUpdate:
    return m.SignalUpdate(
        message_id=message_id,
        channel_id=channel_id,
        symbol=parsed.symbol,
        action=parsed.action.value,
        value=parsed.value,
        confidence=confidence,
        status="review" if below else "received",
    )


def signal_row(
    parsed: Signal,
    message_id: int,
    channel_id: int,
    received_at: datetime,
    interpretation: Interpretation,
    below_threshold: bool,
) -> m.Signal:
    return m.Signal(
        **signal_values(
            parsed, message_id, channel_id, received_at, interpretation, below_threshold
        )
    )


def signal_values(
    parsed: Signal,
    message_id: int,
    channel_id: int,
    received_at: datetime,
    interpretation: Interpretation,
    below_threshold: bool,
) -> dict[str, Any]:
    """The signal's row: ``accepted``, or ``review`` below the channel's threshold."""
    return {
        "message_id": message_id,
        "channel_id": channel_id,
        "symbol": parsed.symbol,
        "side": parsed.side.value,
        "order_type": parsed.order_type.value,
        "entry_low": parsed.entry.low if parsed.entry else None,
        "entry_high": parsed.entry.high if parsed.entry else None,
        "stop_loss": parsed.stop_loss,
        "take_profits": [str(tp) for tp in parsed.take_profits],
        "leverage": parsed.leverage,
        "confidence": interpretation.confidence,
        "status": m.SignalStatus.REVIEW if below_threshold else m.SignalStatus.ACCEPTED,
        "reasons": list(interpretation.problems),
        "received_at": received_at,
        "parsed_at": utcnow(),
    }


async def outcome_by_key(session: AsyncSession, channel_id: int, external_id: str) -> IngestResult:
    """The outcome of the stored message with this (channel, external id)."""
    message = await session.scalar(
        select(m.Message).where(
            m.Message.channel_id == channel_id, m.Message.external_id == external_id
        )
    )
    assert message is not None  # the conflict proves it exists
    return await _outcome_of(session, message)


async def stored_outcome(session: AsyncSession, message_id: int) -> IngestResult:
    """What an earlier delivery became, answered again to its duplicate."""
    return await _outcome_of(session, await session.get_one(m.Message, message_id))


async def _outcome_of(session: AsyncSession, message: m.Message) -> IngestResult:
    signal_id = await session.scalar(select(m.Signal.id).where(m.Signal.message_id == message.id))
    update_id = await session.scalar(
        select(m.SignalUpdate.id).where(m.SignalUpdate.message_id == message.id)
    )
    return IngestResult(message.id, message.status, True, signal_id, update_id, error=message.error)
