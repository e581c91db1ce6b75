"""The batch intake (services/batch_intake.py) writes exactly what the one-by-one path
writes, on SQLite and PostgreSQL.

Hypothesis builds polls of posts (signals, provider updates, noise, refused text, any
text), replies, edits of earlier posts and repeats of earlier ids, and stores each poll
twice, on two channels set up alike: once message by message through ``Intake.store``
(the path every poll took before), once through ``Intake.store_many``. Both channels
must end with the same outcomes, the same messages, signals (status, prices, reasons),
updates (linked to the same signal), edits, executions, notices and queued tasks.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from tests.platform_fixtures import make_settings
from tests.polling_rig import RecordingQueue

from signalbridge.bootstrap import Container, build_container
from signalbridge.channels.base import InboundMessage
from signalbridge.notifications.events import EventKind
from signalbridge.services.ingest import IngestResult
from signalbridge.services.intake import Intake
from signalbridge.store import models as m
from signalbridge.store.migrate import upgrade

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
SIGNAL_TEXT = "BTC/USDT LONG\nEntry 59900-60100\nSL {}\nTP1 62000\nTP2 64000"
CANONICAL = json.dumps(
    {
        "kind": "signal",
        "symbol": "ETH/USDT",
        "side": "short",
        "order_type": "limit",
        "entry": {"low": "3500", "high": "3510"},
        "stop_loss": "3600",
        "take_profits": ["3300"],
    }
)
UPDATE = json.dumps({"kind": "update", "symbol": "BTC/USDT", "action": "move_sl", "value": "1"})
TEXTS = st.one_of(
    st.builds(SIGNAL_TEXT.format, st.sampled_from(["58000", "58500", "61000", "0"])),
    st.sampled_from(
        [CANONICAL, UPDATE, "Move SL to 59000", "TP1 hit", "close all", "good morning", ""]
    ),
    st.text(max_size=40),
)


@dataclass(frozen=True)
class Step:
    kind: str  # post | repeat | reply | edit
    target: int  # which earlier post a repeat, reply or edit is about
    text: str


STEPS = st.lists(
    st.builds(
        Step,
        st.sampled_from(["post", "post", "post", "repeat", "reply", "edit"]),
        st.integers(min_value=0, max_value=6),
        TEXTS,
    ),
    min_size=1,
    max_size=14,
)


def messages_of(steps: list[Step]) -> list[InboundMessage]:
    """The poll: post ids p0, p1, ...; a repeat, reply or edit names an earlier post (or
    one never posted)."""
    out: list[InboundMessage] = []
    posts = 0
    for n, step in enumerate(steps):
        at = T0 + timedelta(seconds=n)
        target = f"p{step.target}"
        if step.kind == "post":
            out.append(InboundMessage(f"p{posts}", step.text, at))
            posts += 1
        elif step.kind == "repeat":
            out.append(InboundMessage(target, step.text, at))
        elif step.kind == "reply":
            out.append(InboundMessage(f"r{n}", step.text, at, reply_to=target))
        else:
            out.append(InboundMessage(f"{target}/e{n}", step.text, at, edit_of=target))
    return out


class Platform:
    """A migrated database, an owner with a chat for "signal published" notices, and an
    intake per way of storing, driven from synchronous hypothesis examples."""

    def __init__(self, tmp_path: Path, database_url: str) -> None:
        self.runner = asyncio.Runner()
        self.container: Container = build_container(make_settings(tmp_path, database_url))
        self.queue = RecordingQueue()
        self.intake = Intake(
            self.container.sessions, self.queue, dispatch_task="d", update_task="u"
        )
        self.names = itertools.count(1)
        self.runner.run(self._setup())

    async def _setup(self) -> None:
        await upgrade(self.container.engine)
        async with self.container.sessions() as s, s.begin():
            owner = m.User(email="o@example.com", password_hash="x", role=m.Role.ADMIN)
            s.add(owner)
            await s.flush()
            s.add(
                m.NotificationChat(
                    user_id=owner.id, chat_id=42, events=[EventKind.SIGNAL_PUBLISHED.value]
                )
            )
            self.owner_id = owner.id

    async def channel(self, min_confidence: Decimal) -> m.ChannelSource:
        """A channel with one active follow, as both ways see it."""
        async with self.container.sessions() as s, s.begin():
            row = m.ChannelSource(
                name=f"c{next(self.names)}",
                type="webhook",
                config={},
                owner_id=self.owner_id,
                on_edit="apply",
                min_confidence=min_confidence,
            )
            connection = m.ExecutionConnection(
                name="p", type="paper", config={}, owner_id=self.owner_id
            )
            s.add_all([row, connection])
            await s.flush()
            s.add(m.Follow(connection_id=connection.id, channel_id=row.id))
        async with self.container.sessions() as s:
            return await s.get_one(m.ChannelSource, row.id)

    async def one_by_one(
        self, channel: m.ChannelSource, messages: list[InboundMessage]
    ) -> list[IngestResult]:
        meanings = [self.intake.interpret(channel, message) for message in messages]
        async with self.container.sessions() as s, s.begin():
            results = [
                await self.intake.store(s, channel, message, meaning)
                for message, meaning in zip(messages, meanings, strict=True)
            ]
        for result in results:
            await self.intake.hand_on(result)
        return results

    async def batched(
        self, channel: m.ChannelSource, messages: list[InboundMessage]
    ) -> list[IngestResult]:
        meanings = [self.intake.interpret(channel, message) for message in messages]
        async with self.container.sessions() as s, s.begin():
            results = await self.intake.store_many(s, channel, messages, meanings)
        for result in results:
            await self.intake.hand_on(result)
        return results

    async def snapshot(self, channel_id: int, results: list[IngestResult]) -> dict[str, Any]:
        """Everything both ways wrote for the channel, with row ids replaced by the
        external id of the message they belong to (ids differ between the channels)."""
        async with self.container.sessions() as s:
            messages = (
                await s.scalars(
                    select(m.Message)
                    .where(m.Message.channel_id == channel_id)
                    .order_by(m.Message.id)
                )
            ).all()
            key = {row.id: row.external_id for row in messages}
            signals = (
                await s.scalars(
                    select(m.Signal).where(m.Signal.channel_id == channel_id).order_by(m.Signal.id)
                )
            ).all()
            by_signal = {row.id: key[row.message_id] for row in signals}
            updates = (
                await s.scalars(
                    select(m.SignalUpdate)
                    .where(m.SignalUpdate.channel_id == channel_id)
                    .order_by(m.SignalUpdate.id)
                )
            ).all()
            by_update = {row.id: key[row.message_id] for row in updates}
            executions = (
                await s.execute(
                    select(m.Execution.id, m.Execution.signal_id, m.Execution.status)
                    .join(m.Signal, m.Signal.id == m.Execution.signal_id)
                    .where(m.Signal.channel_id == channel_id)
                    .order_by(m.Execution.id)
                )
            ).all()
            by_execution = {eid: by_signal[sid] for eid, sid, _ in executions}
            edits = (
                await s.execute(
                    select(m.SignalEdit.signal_id, m.SignalEdit.message_id, m.SignalEdit.outcome)
                    .join(m.Signal, m.Signal.id == m.SignalEdit.signal_id)
                    .where(m.Signal.channel_id == channel_id)
                    .order_by(m.SignalEdit.id)
                )
            ).all()
            versions = (
                await s.execute(
                    select(m.MessageEdit.message_id, m.MessageEdit.previous_text)
                    .join(m.Message, m.Message.id == m.MessageEdit.message_id)
                    .where(m.Message.channel_id == channel_id)
                    .order_by(m.MessageEdit.id)
                )
            ).all()
            notices = (
                await s.scalars(
                    select(m.NotificationOutbox.dedupe_key)
                    .where(
                        m.NotificationOutbox.dedupe_key.in_(
                            [f"signal:{i}:published" for i in by_signal]
                        )
                    )
                    .order_by(m.NotificationOutbox.id)
                )
            ).all()

        def named(reason: str) -> str:  # "withdrawn by edit (message 8)": ids differ
            return re.sub(r"message (\d+)", lambda n: f"message {key[int(n[1])]}", reason)

        return {
            "results": [
                (
                    key[r.message_id],
                    r.status,
                    r.duplicate,
                    by_signal.get(r.signal_id) if r.signal_id else None,
                    by_update.get(r.update_id) if r.update_id else None,
                    r.error,
                    [by_execution.get(e, "replaced") for e in r.execution_ids],
                )
                for r in results
            ],
            "messages": [
                (
                    row.external_id,
                    row.text,
                    row.content_type,
                    row.status,
                    row.error,
                    key.get(row.original_id) if row.original_id else None,
                    row.received_at,
                    row.edited_at is not None,
                )
                for row in messages
            ],
            "signals": [
                (
                    key[row.message_id],
                    row.symbol,
                    row.side,
                    row.order_type,
                    row.entry_low,
                    row.entry_high,
                    row.stop_loss,
                    row.take_profits,
                    row.leverage,
                    row.confidence,
                    row.status,
                    [named(reason) for reason in row.reasons],
                    row.received_at,
                    row.parsed_at is not None,
                    row.dispatched_at is not None,
                )
                for row in signals
            ],
            "updates": [
                (
                    key[row.message_id],
                    by_signal.get(row.signal_id) if row.signal_id else None,
                    row.symbol,
                    row.action,
                    row.value,
                    row.confidence,
                    row.status,
                    row.applied_at is not None,
                )
                for row in updates
            ],
            "executions": [(by_signal[sid], status) for _, sid, status in executions],
            "edits": [(by_signal[sid], key[mid], outcome) for sid, mid, outcome in edits],
            "versions": [(key[mid], text) for mid, text in versions],
            "notices": [by_signal[int(k.split(":")[1])] for k in notices],
        }

    def close(self) -> None:
        try:
            self.runner.run(self.container.close())
        finally:
            self.runner.close()


@pytest.fixture
def platform(tmp_path: Path, database_url: str) -> Iterator[Platform]:
    running = Platform(tmp_path, database_url)
    try:
        yield running
    finally:
        running.close()


def queued(
    calls: list[tuple[str, tuple[Any, ...]]], results: list[IngestResult], keys: list[str]
) -> list[Any]:
    """The queue's calls with the signal ("d") or update ("u") id as its message's external
    id, and a list of execution ids as its length."""
    names: dict[str, dict[int, str]] = {"d": {}, "u": {}}
    for result, key in zip(results, keys, strict=True):
        if result.signal_id is not None:
            names["d"][result.signal_id] = key
        if result.update_id is not None:
            names["u"][result.update_id] = key
    return [
        (name, [len(a) if isinstance(a, list) else names[name].get(a, a) for a in args])
        for name, args in calls
    ]


async def _compare(platform: Platform, steps: list[Step], min_confidence: Decimal) -> None:
    messages = messages_of(steps)
    single = await platform.channel(min_confidence)
    platform.queue.calls.clear()
    before = await platform.one_by_one(single, messages)
    single_calls = list(platform.queue.calls)
    batch = await platform.channel(min_confidence)
    platform.queue.calls.clear()
    after = await platform.batched(batch, messages)
    batch_calls = list(platform.queue.calls)
    expected = await platform.snapshot(single.id, before)
    got = await platform.snapshot(batch.id, after)
    for part in expected:  # part by part: a difference names what differs
        assert got[part] == expected[part], part
    # the same tasks, in the same order, for the same messages
    keys = [row[0] for row in expected["results"]]
    assert queued(batch_calls, after, keys) == queued(single_calls, before, keys)
    # and a second delivery of the whole poll is a duplicate everywhere, changing nothing
    again = await platform.batched(batch, messages)
    assert all(r.duplicate for r in again)
    assert (await platform.snapshot(batch.id, after)) == got


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS, threshold=st.sampled_from([Decimal(0), Decimal("0.9"), Decimal("0.99")]))
def test_a_batch_writes_what_one_by_one_writes(
    platform: Platform, steps: list[Step], threshold: Decimal
) -> None:
    platform.runner.run(_compare(platform, steps, threshold))


def test_a_poll_of_every_kind_writes_what_one_by_one_writes(platform: Platform) -> None:
    """One fixed poll with every kind at once (hypothesis may not meet them together)."""
    steps = [
        Step("post", 0, SIGNAL_TEXT.format("58000")),
        Step("post", 0, CANONICAL),
        Step("reply", 0, "TP1 hit"),
        Step("post", 0, UPDATE),
        Step("edit", 0, SIGNAL_TEXT.format("58500")),
        Step("post", 0, "good morning"),
        Step("repeat", 1, CANONICAL),
        Step("post", 0, SIGNAL_TEXT.format("61000")),  # refused: SL above the entry
        Step("reply", 9, "TP1 hit"),  # answers a post never seen
        Step("edit", 9, "an edit of nothing"),
    ]
    platform.runner.run(_compare(platform, steps, Decimal("0.9")))


def test_a_reply_to_a_later_post_of_the_poll_is_not_linked(platform: Platform) -> None:
    """One by one, a reply that comes before the post it names finds nothing; the batch
    must not link it to that post just because both are in one poll."""
    steps = [
        Step("reply", 0, "TP1 hit"),
        Step("post", 0, SIGNAL_TEXT.format("58000")),
        Step("reply", 0, "TP1 hit"),
    ]
    platform.runner.run(_compare(platform, steps, Decimal("0.9")))
