"""A poll's messages stored in one pass: the rows :meth:`Intake.store` writes one by one,
with a handful of statements for the whole batch.

Why: one ``getUpdates`` answer holds up to 100 posts. Stored one by one, each post cost
an insert of the message, an ORM flush of its signal, a read of the follows, an insert
of the executions and a notice query, all inside the poll's one transaction: 100 posts
took about 230 ms to commit, and the median post's order went out after more than a
second (issue 15's benchmark). Here a run of *plain* messages (no replay claim, not an
edit) is stored together:

1. the messages: one multi-row ``INSERT ... ON CONFLICT DO NOTHING`` on (channel,
   external id); one that exists already answers its stored outcome, as it would alone;
2. the signals of the new ones: one multi-row insert (Core: the ORM's unit of work costs
   several times more for a hundred rows), accepted ones already ``dispatched``;
3. their executions through services/dispatch.py ``executions_for`` (the follows read
   once per channel, one multi-row insert, the entitlement check), as the single path;
4. the provider updates (ORM rows, one flush) and the "signal published" notices (one
   query for the chats, one insert);
5. replies tied to the signal of the message they answer, in order.

Anything else (an edit, a message with a replay claim, an external id seen earlier in
the same batch, a reply to a message further on) ends the run and goes through
``single`` (the one-by-one path) at its place, so every message is stored after every
message before it in the batch and before every one after it: an edit after its post, a
reply after the post it answers (and a reply to a later one linked to nothing, as one by
one), a repeat after its first copy (and so a duplicate). The results come back in the
messages' order; the caller's transaction commits them, with the channel's cursor, or
none of them.
tests/integration/pipeline/test_latency_batch_intake.py proves both paths write the same.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.channels.base import InboundMessage
from signalbridge.domain.signals import Noise, SignalUpdate
from signalbridge.notifications import events
from signalbridge.notifications.outbox import notify_many
from signalbridge.services.dispatch import executions_for
from signalbridge.services.edits import link_reply
from signalbridge.services.ingest import (
    MAX_CONTENT_TYPE,
    Classified,
    IngestResult,
    Interpretation,
    classify,
    message_values,
    outcome_by_key,
    signal_values,
    update_row,
)
from signalbridge.store import models as m
from signalbridge.store.db import insert_ignore_many
from signalbridge.store.types import utcnow

#: How one message that is not plain is stored (``Intake.store``).
Single = Callable[
    [AsyncSession, m.ChannelSource, InboundMessage, Interpretation], Awaitable[IngestResult]
]
_PUBLISHED = (m.SignalStatus.ACCEPTED, m.SignalStatus.DISPATCHED)


def is_plain(message: InboundMessage) -> bool:
    """A message the batch path stores: no replay-window claim, not an edit."""
    return message.body_hash is None and message.edit_of is None


async def store_batch(
    session: AsyncSession,
    channel: m.ChannelSource,
    messages: Sequence[InboundMessage],
    meanings: Sequence[Interpretation],
    single: Single,
) -> list[IngestResult]:
    """Store ``messages`` in order, in the caller's transaction; see the module."""
    if len(messages) != len(meanings):
        raise ValueError("one interpretation per message")
    results: list[IngestResult] = []
    run: list[tuple[InboundMessage, Interpretation]] = []
    seen: set[str] = set()
    last = {message.external_id: i for i, message in enumerate(messages)}
    for i, (message, meaning) in enumerate(zip(messages, meanings, strict=True)):
        # A reply naming a message further on finds nothing one by one: it goes that way.
        ahead = message.reply_to is not None and last.get(message.reply_to, -1) > i
        plain = is_plain(message) and not ahead
        if run and (not plain or message.external_id in seen):
            results += await _store_run(session, channel, run)
            run, seen = [], set()
        if plain:
            run.append((message, meaning))
            seen.add(message.external_id)
        else:
            results.append(await single(session, channel, message, meaning))
    if run:
        results += await _store_run(session, channel, run)
    return results


@dataclass
class _New:
    """A message of the run that this call inserted, and what it becomes."""

    index: int
    message: InboundMessage
    kind: Classified
    message_id: int
    signal: dict[str, Any] | None = None
    signal_id: int | None = None
    update: m.SignalUpdate | None = None


async def _store_run(
    session: AsyncSession,
    channel: m.ChannelSource,
    run: Sequence[tuple[InboundMessage, Interpretation]],
) -> list[IngestResult]:
    """Store plain messages with distinct external ids (see the module)."""
    kinds = [classify(channel, msg.text, meaning) for msg, meaning in run]
    rows = [
        message_values(
            channel.id,
            msg.external_id,
            msg.text,
            msg.content_type[:MAX_CONTENT_TYPE],
            msg.received_at,
            kind,
        )
        for (msg, _), kind in zip(run, kinds, strict=True)
    ]
    inserted = await insert_ignore_many(
        session,
        m.Message,
        rows,
        ("channel_id", "external_id"),
        returning=("id", "external_id"),
    )
    ids: dict[str, int] = {external_id: message_id for message_id, external_id in inserted}
    fresh: list[_New] = []
    out: list[IngestResult | None] = [None] * len(run)
    for index, ((msg, _), kind) in enumerate(zip(run, kinds, strict=True)):
        message_id = ids.get(msg.external_id)
        if message_id is None:  # stored before: its first outcome, as one by one
            out[index] = await outcome_by_key(session, channel.id, msg.external_id)
            continue
        new = _New(index, msg, kind, message_id)
        parsed = kind.meaning.parsed
        if isinstance(parsed, SignalUpdate):
            new.update = update_row(
                parsed, message_id, channel.id, kind.meaning.confidence, kind.below
            )
            session.add(new.update)
        elif parsed is not None and not isinstance(parsed, Noise):
            values = signal_values(
                parsed, message_id, channel.id, msg.received_at, kind.meaning, kind.below
            )
            new.signal = values
        fresh.append(new)
    now = utcnow()
    for new in fresh:  # an accepted signal is inserted already dispatched, as one alone is
        if new.signal is not None:
            accepted = new.signal["status"] == m.SignalStatus.ACCEPTED
            new.signal["status"] = m.SignalStatus.DISPATCHED if accepted else new.signal["status"]
            new.signal["dispatched_at"] = now if accepted else None
    executions = await _insert_signals(session, [n for n in fresh if n.signal is not None])
    if any(n.update is not None for n in fresh):
        await session.flush()  # the updates' ids
    published = [n for n in fresh if n.signal is not None and n.signal["status"] in _PUBLISHED]
    if published and channel.owner_id is not None:
        await notify_many(session, [(_published(n, channel), channel.owner_id) for n in published])
    for new in fresh:
        update_id = new.update.id if new.update is not None else None
        if new.message.reply_to is not None and update_id is not None:
            # "TP1 hit" answering a post applies to that post's signal, not the latest.
            await link_reply(
                session, channel.id, new.message.reply_to, update_id, new.message.received_at
            )
        out[new.index] = IngestResult(
            new.message_id,
            new.kind.status,
            False,
            signal_id=new.signal_id,
            update_id=update_id,
            error=new.kind.error,
            execution_ids=tuple(executions.get(new.signal_id, ()))
            if new.signal_id is not None
            else (),
        )
    done = [result for result in out if result is not None]
    assert len(done) == len(run)
    return done


async def _insert_signals(session: AsyncSession, fresh: Sequence[_New]) -> dict[int, list[int]]:
    """Insert the signals in one statement (Core: the ORM's unit of work costs several
    times more for a hundred rows) and write the dispatched ones' executions; returns
    signal id -> execution ids."""
    if not fresh:
        return {}
    table: Any = m.Signal.__table__
    result = await session.execute(
        insert(table).returning(table.c.id, table.c.message_id),
        [n.signal for n in fresh if n.signal is not None],
    )
    by_message = {message_id: signal_id for signal_id, message_id in result.all()}
    for new in fresh:
        new.signal_id = by_message[new.message_id]
    dispatched = [
        (new.signal_id, new.signal["channel_id"])
        for new in fresh
        if new.signal is not None
        and new.signal_id is not None
        and new.signal["status"] == m.SignalStatus.DISPATCHED
    ]
    return await executions_for(session, dispatched)


def _published(new: _New, channel: m.ChannelSource) -> events.Event:
    """The notice notifications/emit.py ``signal_published`` writes for one signal."""
    values = new.signal or {}
    assert new.signal_id is not None
    return events.signal_published(
        new.signal_id,
        channel.name,
        values["symbol"],
        values["side"],
        values["entry_low"],
        values["entry_high"],
        values["stop_loss"],
        list(values["take_profits"] or ()),
    )
