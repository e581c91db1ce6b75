"""One intake path: every channel's messages are interpreted, stored once and handed on.

A push channel's route calls :meth:`Intake.receive` for each authenticated delivery. The
polling runner (jobs/polling.py) uses the same steps for a whole poll: it interprets the
messages, :meth:`Intake.store_many` s them in the transaction that saves the source's
cursor (bulk statements, services/batch_intake.py), then :meth:`Intake.hand_on` s the
results. Either way a message is

1. interpreted (canonical JSON read strictly, text through the rule parser), before any
   transaction is open, since parsing is CPU work;
2. claimed for the replay window when the channel gives a body hash (services/replay.py):
   the same body inside the window answers the first delivery's outcome;
3. stored once per (channel, external id), with an accepted signal's executions
   (services/ingest.py, services/dispatch.py);
4. handed to the queue: the signal's executions to run, a provider update to apply.
   A task lost here is found again by the sweeper; a duplicate queues nothing.

An edit (``edit_of``) never becomes a second signal: services/edits.py keeps the version
and revisits what the post became. A reply that is an update (``reply_to``) is tied to
the answered message's signal. A delete (:meth:`Intake.delete`) is recorded only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.channels.base import InboundMessage
from signalbridge.services.batch_intake import store_batch
from signalbridge.services.edits import link_reply, record_delete, store_edit
from signalbridge.services.ingest import (
    MAX_CONTENT_TYPE,
    IngestResult,
    Interpretation,
    ingest,
    stored_outcome,
)
from signalbridge.services.interpret import interpret
from signalbridge.services.replay import claim_body, first_message, record_message
from signalbridge.store import models as m

#: A new message's update is queued when parsed, or when an edit made or changed one (an
#: update waiting for review is skipped by the task itself).
_QUEUES_UPDATE = (m.MessageStatus.PARSED, m.MessageStatus.EDIT)


class Enqueue(Protocol):
    """What the intake needs of the queue (jobs/queue.TaskQueue is one)."""

    async def enqueue(self, name: str, *args: Any) -> None: ...


#: Whether a stored message gets an AI parse task (services/ai_parsing.wants_ai).
WantsAi = Callable[[m.ChannelSource, IngestResult, Interpretation | None], bool]


class Intake:
    """Interpret → store once → enqueue, for every channel kind.

    ``dispatch_task`` is the task that runs a signal's executions (called with the signal
    id and the execution ids), ``update_task`` the one that applies a provider update
    (called with its id); their names belong to the jobs layer, which passes them in.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        queue: Enqueue,
        *,
        dispatch_task: str,
        update_task: str,
        ai_task: str | None = None,
        wants_ai: WantsAi | None = None,
    ) -> None:
        self._sessions = sessions
        self._queue = queue
        self._dispatch_task = dispatch_task
        self._update_task = update_task
        # The AI parse task (services/ai_parsing.py) and who may have it: no network call
        # is made here, the task runs after the message is stored.
        self._ai_task = ai_task
        self._wants_ai = wants_ai

    async def receive(
        self, channel: m.ChannelSource, message: InboundMessage, *, parse_text: bool = True
    ) -> IngestResult:
        """Take one message in its own transaction; its outcome (``duplicate`` when the
        channel delivered it before)."""
        meaning = self.interpret(channel, message, parse_text=parse_text)
        async with self._sessions() as session, session.begin():
            result = await self.store(session, channel, message, meaning)
        await self.hand_on(result, channel, meaning)
        return result

    @staticmethod
    def interpret(
        channel: m.ChannelSource, message: InboundMessage, *, parse_text: bool = True
    ) -> Interpretation:
        """What the message means; pure, so it runs before any transaction is open."""
        return interpret(message.text, parse_text=parse_text, template=channel.parse_template)

    @staticmethod
    async def store(
        session: AsyncSession,
        channel: m.ChannelSource,
        message: InboundMessage,
        meaning: Interpretation,
    ) -> IngestResult:
        """Claim the body (where the channel has a replay window) and store the message,
        in the caller's transaction."""
        claim: int | None = None
        if message.body_hash is not None and message.replay_window_seconds is not None:
            claim = await claim_body(
                session,
                channel.id,
                message.body_hash,
                message.received_at,
                message.replay_window_seconds,
            )
            if claim is None:  # seen inside the window: the first delivery's outcome
                first = await first_message(session, channel.id, message.body_hash)
                return await stored_outcome(session, first)
        if message.edit_of is not None:
            result = await store_edit(
                session,
                channel,
                external_id=message.external_id,
                edit_of=message.edit_of,
                text=message.text,
                content_type=message.content_type[:MAX_CONTENT_TYPE],
                received_at=message.received_at,
                meaning=meaning,
            )
            if claim is not None:
                await record_message(session, claim, result.message_id)
            return result
        result = await ingest(
            session,
            channel=channel,
            external_id=message.external_id,
            text=message.text,
            content_type=message.content_type[:MAX_CONTENT_TYPE],
            received_at=message.received_at,
            interpretation=meaning,
            dispatch=True,
        )
        if claim is not None:
            await record_message(session, claim, result.message_id)
        if message.reply_to is not None and result.update_id is not None and not result.duplicate:
            # "TP1 hit" answering a post applies to that post's signal, not the latest.
            await link_reply(
                session, channel.id, message.reply_to, result.update_id, message.received_at
            )
        return result

    async def store_many(
        self,
        session: AsyncSession,
        channel: m.ChannelSource,
        messages: Sequence[InboundMessage],
        meanings: Sequence[Interpretation],
    ) -> list[IngestResult]:
        """:meth:`store` for a poll's messages, in order and in the caller's transaction,
        with bulk statements for runs of plain messages (services/batch_intake.py)."""
        return await store_batch(session, channel, messages, meanings, self.store)

    async def delete(self, channel: m.ChannelSource, external_id: str, at: datetime) -> bool:
        """Record that the channel deleted a message; whether it was known. Positions and
        orders are left alone: a deleted post is no instruction to close."""
        async with self._sessions() as session, session.begin():
            return await record_delete(session, channel.id, external_id, at) is not None

    async def hand_on(
        self,
        result: IngestResult,
        channel: m.ChannelSource | None = None,
        meaning: Interpretation | None = None,
    ) -> None:
        """Queue what a newly stored message needs, after its transaction committed; with
        its ``channel`` (and the rules' ``meaning``), an AI parse where the channel asks."""
        if result.duplicate:
            return
        if (
            channel is not None
            and self._ai_task is not None
            and self._wants_ai is not None
            and self._wants_ai(channel, result, meaning)
        ):
            await self._queue.enqueue(self._ai_task, result.message_id)
        if result.execution_ids:
            # The executions were written with the signal: the task only runs them.
            await self._queue.enqueue(
                self._dispatch_task, result.signal_id, list(result.execution_ids)
            )
        if result.update_id is not None and result.status in _QUEUES_UPDATE:
            await self._queue.enqueue(self._update_task, result.update_id)
