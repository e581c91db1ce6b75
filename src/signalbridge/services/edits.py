"""Edits, replies and deletes of channel messages: one post, one signal, every version kept.

A channel delivers an edit as a message of its own (``edit_of`` = the original's external
id, and an external id of its own: the web page sends ``id~hash16``). It is stored once
per (channel, external id), as a message with status ``edit`` linked to its original, so
a second delivery of the same edit changes nothing. The original keeps the current text;
each earlier text is a :class:`~signalbridge.store.models.MessageEdit`. Then what the
original became is revisited, never a second signal made:

- a signal nothing was sent for yet: its executions are replaced by new ones planned
  from the new text (one transaction; the executions' rows are locked first, so an engine
  that claims one later finds it gone and sends nothing), or it is withdrawn when the
  text no longer is a signal;
- a signal already executed: the channel's ``on_edit`` decides what a changed SL or TP
  does: ``apply`` queues it as an update of the positions (services/edit_apply.py),
  ``ignore`` records it, ``review`` leaves it to an operator;
- an update not applied yet is read again; a message that was no signal may become one.

What every edit did to a signal, with the old and new values, is a
:class:`~signalbridge.store.models.SignalEdit` row and an audit entry, whatever the policy.
An edit whose original was never stored is kept with status ``orphan_edit`` and a reason,
and trades nothing. A reply that is an update (``reply_to``) applies to the signal of the
message it answers, never to the channel's latest. A delete is recorded and closes nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.domain.bounds import storable_text
from signalbridge.domain.signals import Noise, Signal, SignalUpdate
from signalbridge.services import audit
from signalbridge.services.dispatch import open_executions
from signalbridge.services.edit_apply import EDIT_ACTION
from signalbridge.services.ingest import IngestResult, Interpretation
from signalbridge.store import models as m
from signalbridge.store.db import insert_ignore
from signalbridge.store.types import utcnow

MAX_EXTERNAL_ID = 200
#: Signal fields an edit can change; SL and TP are the ones acted on after execution.
FIELDS = (
    "symbol",
    "side",
    "order_type",
    "entry_low",
    "entry_high",
    "stop_loss",
    "take_profits",
    "leverage",
)
LEVELS = ("stop_loss", "take_profits")
#: Executions in these states sent nothing when they have no order: they may be replaced.
_REPLACEABLE = (m.ExecutionStatus.PENDING, m.ExecutionStatus.SKIPPED, m.ExecutionStatus.FAILED)
_OPEN_UPDATE = ("received", "review")


@dataclass(frozen=True, slots=True)
class EditDecision:
    """What an edit does to its signal (pure; see :func:`decide_edit`)."""

    outcome: str
    reason: str | None = None


def edit_key(external_id: str, edit_of: str, text: str) -> str:
    """The edit delivery's idempotency key: its own id, or, when the channel gives the
    original's id again (an edit in place), that id with the new text's hash."""
    if external_id != edit_of:
        return external_id[:MAX_EXTERNAL_ID]
    digest = hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16]
    return f"{edit_of[: MAX_EXTERNAL_ID - 17]}~{digest}"


def signal_fields(parsed: Signal) -> dict[str, Any]:
    """The stored columns of a parsed signal (as :func:`~.ingest.ingest` writes them)."""
    return {
        "symbol": parsed.symbol,
        "side": parsed.side.value,
        "order_type": parsed.order_type.value,
        "entry_low": parsed.entry.low if parsed.entry else None,
        "entry_high": parsed.entry.high if parsed.entry else None,
        "stop_loss": parsed.stop_loss,
        "take_profits": [str(tp) for tp in parsed.take_profits],
        "leverage": parsed.leverage,
    }


def _plain(value: Any) -> Any:
    """A field value as JSON holds it: decimals as text, lists element by element."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _same(a: Any, b: Any) -> bool:
    """Equal as trading values: ``60000`` and ``60000.0`` are one price."""
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if a is None or b is None:
        return a is b
    try:
        return Decimal(str(a)) == Decimal(str(b))
    except ArithmeticError:
        return bool(a == b)


def signal_changes(before: dict[str, Any], after: dict[str, Any] | None) -> dict[str, Any]:
    """``{field: [old, new]}`` for the fields that differ (pure); ``after`` None (the
    text is no signal any more) lists every field as gone."""
    if after is None:
        return {k: [_plain(before.get(k)), None] for k in FIELDS}
    return {
        k: [_plain(before.get(k)), _plain(after.get(k))]
        for k in FIELDS
        if not _same(before.get(k), after.get(k))
    }


def decide_edit(
    *,
    signal_status: str,
    executed: bool,
    changes: dict[str, Any],
    is_signal: bool,
    on_edit: str,
    below_threshold: bool,
) -> EditDecision:
    """What an edit does to its signal (pure): the rules of the module docstring."""
    if signal_status == m.SignalStatus.REJECTED:
        return EditDecision("recorded", "the signal was rejected; an edit does not revive it")
    if not changes:
        return EditDecision("unchanged")
    if not executed:
        if not is_signal:
            return EditDecision("withdrawn", "the edited text is no signal: nothing is traded")
        return EditDecision("replanned")
    if not is_signal:
        return EditDecision(
            "recorded", "edited into no signal after orders were sent; positions stay as they are"
        )
    if not any(k in changes for k in LEVELS):
        return EditDecision(
            "recorded", "only a stop loss or take-profit edit acts after orders were sent"
        )
    if on_edit == m.OnEdit.IGNORE:
        return EditDecision("ignored", "the channel ignores edits after execution")
    if on_edit == m.OnEdit.APPLY and not below_threshold:
        return EditDecision("apply")
    why = (
        "the edit's parse is below the channel's confidence"
        if on_edit == m.OnEdit.APPLY
        else "the channel sends edits after execution to review"
    )
    return EditDecision("review", why)


def _fields_of(signal: m.Signal) -> dict[str, Any]:
    return {k: getattr(signal, k) for k in FIELDS}


async def store_edit(
    session: AsyncSession,
    channel: m.ChannelSource,
    *,
    external_id: str,
    edit_of: str,
    text: str,
    content_type: str,
    received_at: datetime,
    meaning: Interpretation,
) -> IngestResult:
    """Store one edit delivery and revisit what its original became, in the caller's
    transaction; a second delivery of it answers the first's outcome, changing nothing."""
    key = edit_key(external_id, edit_of, text)
    original = await session.scalar(
        select(m.Message)
        .where(m.Message.channel_id == channel.id, m.Message.external_id == edit_of[:200])
        .with_for_update()
    )
    if original is not None and original.original_id is not None:  # an edit of an edit
        original = await session.get(m.Message, original.original_id, with_for_update=True)
    error = (
        None
        if original is not None
        else storable_text(f"edit of message {edit_of[:200]!r}, which was never stored: not traded")
    )
    edit_id = await insert_ignore(
        session,
        m.Message,
        {
            "channel_id": channel.id,
            "external_id": key,
            "text": storable_text(text),
            "content_type": content_type,
            "status": m.MessageStatus.EDIT if original else m.MessageStatus.ORPHAN_EDIT,
            "error": error,
            "received_at": received_at,
            "original_id": original.id if original else None,
        },
        conflict=("channel_id", "external_id"),
    )
    if edit_id is None:
        stored = await session.scalar(
            select(m.Message).where(
                m.Message.channel_id == channel.id, m.Message.external_id == key
            )
        )
        assert stored is not None  # the conflict proves it exists
        return await edit_outcome(session, stored)
    if original is None:
        return IngestResult(edit_id, m.MessageStatus.ORPHAN_EDIT, False, error=error)
    new_text = storable_text(text)
    if new_text == original.text:
        return IngestResult(edit_id, m.MessageStatus.EDIT, False)
    session.add(
        m.MessageEdit(message_id=original.id, previous_text=original.text, edited_at=received_at)
    )
    original.text = new_text
    original.edited_at = received_at
    return await _revisit(session, channel, original, edit_id, meaning, received_at)


async def _revisit(
    session: AsyncSession,
    channel: m.ChannelSource,
    original: m.Message,
    edit_id: int,
    meaning: Interpretation,
    at: datetime,
) -> IngestResult:
    """What the original's edit does to the signal or update it became (or may become)."""
    signal = await session.scalar(
        select(m.Signal).where(m.Signal.message_id == original.id).with_for_update()
    )
    if signal is not None:
        return await _edit_signal(session, channel, signal, edit_id, meaning)
    row = await session.scalar(
        select(m.SignalUpdate).where(m.SignalUpdate.message_id == original.id)
    )
    if row is not None:
        return await _edit_update(session, channel, row, edit_id, meaning)
    return await _first_meaning(session, channel, original, edit_id, meaning, at)


async def _edit_signal(
    session: AsyncSession,
    channel: m.ChannelSource,
    signal: m.Signal,
    edit_id: int,
    meaning: Interpretation,
) -> IngestResult:
    parsed = meaning.parsed
    after = signal_fields(parsed) if isinstance(parsed, Signal) else None
    executions = list(
        (
            await session.execute(
                select(m.Execution.id, m.Execution.status)
                .where(m.Execution.signal_id == signal.id)
                .with_for_update()
            )
        ).all()
    )
    orders = await session.scalar(
        select(func.count(m.Order.id))
        .join(m.Execution, m.Execution.id == m.Order.execution_id)
        .where(m.Execution.signal_id == signal.id)
    )
    executed = bool(orders) or any(status not in _REPLACEABLE for _, status in executions)
    changes = signal_changes(_fields_of(signal), after)
    below = meaning.confidence < channel.min_confidence
    decision = decide_edit(
        signal_status=signal.status,
        executed=executed,
        changes=changes,
        is_signal=after is not None,
        on_edit=channel.on_edit,
        below_threshold=below,
    )
    execution_ids: tuple[int, ...] = ()
    update_id: int | None = None
    if decision.outcome == "withdrawn":
        # Kept, ended: an engine that claims one of them finds it no longer pending.
        await session.execute(
            update(m.Execution)
            .where(m.Execution.signal_id == signal.id, m.Execution.status.in_(_REPLACEABLE))
            .values(status=m.ExecutionStatus.SKIPPED, reason=f"withdrawn by edit {edit_id}")
            .execution_options(synchronize_session=False)
        )
        signal.status = m.SignalStatus.REJECTED
        signal.reasons = [*signal.reasons, f"withdrawn by edit (message {edit_id})"][-20:]
    elif decision.outcome == "replanned":
        gone = [execution_id for execution_id, _ in executions]
        if gone:  # their plan was never written: new ones are planned from the new text
            await session.execute(
                delete(m.ExecutionLog).where(m.ExecutionLog.execution_id.in_(gone))
            )
            await session.execute(delete(m.Execution).where(m.Execution.id.in_(gone)))
        assert after is not None
        for field, value in after.items():
            setattr(signal, field, value)
        signal.confidence = meaning.confidence
        signal.reasons = list(meaning.problems)
        signal.parsed_at = utcnow()
        signal.dispatched_at = None
        signal.status = m.SignalStatus.REVIEW if below else m.SignalStatus.ACCEPTED
        created = await open_executions(session, signal)
        execution_ids = tuple(await _fresh_ids(session, created, gone))
    elif decision.outcome in ("apply", "review"):
        row = m.SignalUpdate(
            message_id=edit_id,
            channel_id=channel.id,
            signal_id=signal.id,
            symbol=signal.symbol,
            action=EDIT_ACTION,
            value=None,
            confidence=meaning.confidence,
            status="received" if decision.outcome == "apply" else "review",
        )
        session.add(row)
        await session.flush()
        update_id = row.id
    session.add(
        m.SignalEdit(
            signal_id=signal.id,
            message_id=edit_id,
            update_id=update_id,
            changes=changes,
            outcome=decision.outcome,
            reason=decision.reason,
        )
    )
    await audit.record(
        session,
        actor=f"channel:{channel.id}",
        actor_id=None,
        action="edit",
        entity="signal",
        entity_id=signal.id,
        changes={**changes, "outcome": decision.outcome, "message_id": edit_id},
    )
    await session.flush()
    return IngestResult(
        edit_id,
        m.MessageStatus.EDIT,
        False,
        signal_id=signal.id,
        update_id=update_id,
        error=decision.reason,
        execution_ids=execution_ids,
    )


async def _fresh_ids(session: AsyncSession, created: list[int], gone: list[int]) -> list[int]:
    """The new executions' ids, none of them an id just deleted.

    SQLite gives a new row the highest rowid + 1, so deleting the highest executions and
    inserting hands their ids out again; an engine still holding a plan for a deleted one
    would then claim its replacement. Those rows (nothing points at them yet) move to ids
    above every other; PostgreSQL's sequences never reuse an id, so it never gets here.
    """
    reused = sorted(set(created) & set(gone))
    if not reused:
        return created
    top = max(int(await session.scalar(select(func.max(m.Execution.id))) or 0), *gone)
    moved: dict[int, int] = {}
    for offset, old in enumerate(reused, start=1):
        await session.execute(
            update(m.Execution)
            .where(m.Execution.id == old)
            .values(id=top + offset)
            .execution_options(synchronize_session=False)
        )
        moved[old] = top + offset
    return sorted(moved.get(i, i) for i in created)


async def _edit_update(
    session: AsyncSession,
    channel: m.ChannelSource,
    row: m.SignalUpdate,
    edit_id: int,
    meaning: Interpretation,
) -> IngestResult:
    """An edited update: read again while it waits (received or in review), else recorded."""
    parsed = meaning.parsed
    before = {"action": row.action, "value": _plain(row.value), "symbol": row.symbol}
    outcome = "recorded"
    reason: str | None = f"the update was already {row.status} before the edit"
    if isinstance(parsed, SignalUpdate):
        after = {
            "action": parsed.action.value,
            "value": _plain(parsed.value),
            "symbol": parsed.symbol,
        }
        changed = await session.execute(
            update(m.SignalUpdate)
            .where(m.SignalUpdate.id == row.id, m.SignalUpdate.status.in_(_OPEN_UPDATE))
            .values(
                action=parsed.action.value,
                value=parsed.value,
                symbol=parsed.symbol if row.signal_id is None else row.symbol,
                confidence=meaning.confidence,
            )
            .returning(m.SignalUpdate.id)
            .execution_options(synchronize_session=False)
        )
        if changed.first() is not None:
            outcome, reason = "reread", None
    else:
        after = {"action": None, "value": None, "symbol": None}
        reason = "the edited text is no update: the update stands as it was"
    await audit.record(
        session,
        actor=f"channel:{channel.id}",
        actor_id=None,
        action="edit",
        entity="signal_update",
        entity_id=row.id,
        changes={**audit.diff(before, after), "outcome": outcome, "message_id": edit_id},
    )
    queue = row.id if outcome == "reread" else None
    return IngestResult(edit_id, m.MessageStatus.EDIT, False, update_id=queue, error=reason)


async def _first_meaning(
    session: AsyncSession,
    channel: m.ChannelSource,
    original: m.Message,
    edit_id: int,
    meaning: Interpretation,
    at: datetime,
) -> IngestResult:
    """An original that was no signal nor update (noise, rejected): the edit's meaning
    becomes the post's, on the original message, so the post still has one signal."""
    parsed = meaning.parsed
    below = meaning.confidence < channel.min_confidence
    if parsed is None:
        original.status = m.MessageStatus.REJECTED
        original.error = "; ".join(meaning.problems)[:2000]
    elif isinstance(parsed, Noise):
        original.status, original.error = m.MessageStatus.NOISE, None
    else:
        original.status = m.MessageStatus.REVIEW if below else m.MessageStatus.PARSED
        original.error = None
    if isinstance(parsed, SignalUpdate):
        row = m.SignalUpdate(
            message_id=original.id,
            channel_id=channel.id,
            symbol=parsed.symbol,
            action=parsed.action.value,
            value=parsed.value,
            confidence=meaning.confidence,
            status="review" if below else "received",
        )
        session.add(row)
        await session.flush()
        return IngestResult(edit_id, m.MessageStatus.EDIT, False, update_id=row.id)
    if not isinstance(parsed, Signal):
        return IngestResult(edit_id, m.MessageStatus.EDIT, False)
    signal = m.Signal(
        message_id=original.id,
        channel_id=channel.id,
        **signal_fields(parsed),
        confidence=meaning.confidence,
        status=m.SignalStatus.REVIEW if below else m.SignalStatus.ACCEPTED,
        reasons=list(meaning.problems),
        received_at=at,  # tradable from the edit on: its age counts from there
        parsed_at=utcnow(),
    )
    session.add(signal)
    await session.flush()
    execution_ids = tuple(await open_executions(session, signal))
    changes = signal_changes({}, signal_fields(parsed))
    session.add(
        m.SignalEdit(signal_id=signal.id, message_id=edit_id, changes=changes, outcome="created")
    )
    await session.flush()
    return IngestResult(
        edit_id,
        m.MessageStatus.EDIT,
        False,
        signal_id=signal.id,
        execution_ids=execution_ids,
    )


async def edit_outcome(session: AsyncSession, message: m.Message) -> IngestResult:
    """What an edit delivery did, answered again to its duplicate."""
    signal_id = await session.scalar(
        select(m.SignalEdit.signal_id).where(m.SignalEdit.message_id == message.id)
    )
    update_id = await session.scalar(
        select(m.SignalUpdate.id).where(m.SignalUpdate.message_id == message.id)
    )
    return IngestResult(message.id, message.status, True, signal_id, update_id, error=message.error)


async def link_reply(
    session: AsyncSession, channel_id: int, reply_to: str, update_id: int, at: datetime
) -> int | None:
    """Tie an update that answers a message to that message's signal; returns its id.

    Without one (the answered message is unknown or became no signal) the update is
    closed as ``no_signal``: it never falls back to the channel's latest signal.
    """
    target = await session.scalar(
        select(m.Message).where(
            m.Message.channel_id == channel_id, m.Message.external_id == reply_to[:200]
        )
    )
    if target is not None and target.original_id is not None:
        target = await session.get(m.Message, target.original_id)
    signal_id: int | None = None
    if target is not None:
        signal_id = await session.scalar(
            select(m.Signal.id).where(m.Signal.message_id == target.id)
        ) or await session.scalar(
            select(m.SignalUpdate.signal_id).where(m.SignalUpdate.message_id == target.id)
        )
    row = await session.get_one(m.SignalUpdate, update_id)
    if signal_id is not None:
        row.signal_id = signal_id
    else:
        row.status, row.applied_at = "no_signal", at
    await session.flush()
    return signal_id


async def record_delete(
    session: AsyncSession, channel_id: int, external_id: str, at: datetime
) -> int | None:
    """Mark a message the channel reports deleted; its signal and positions are left as
    they are (a delete is no instruction to close). Returns its id, None when unknown."""
    message = await session.scalar(
        select(m.Message).where(
            m.Message.channel_id == channel_id, m.Message.external_id == external_id[:200]
        )
    )
    if message is None:
        return None
    if message.deleted_at is None:
        message.deleted_at = at
        await audit.record(
            session,
            actor=f"channel:{channel_id}",
            actor_id=None,
            action="delete",
            entity="message",
            entity_id=message.id,
            changes={"external_id": message.external_id, "deleted_at": at.isoformat()},
        )
    return message.id
