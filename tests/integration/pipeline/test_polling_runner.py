"""The polling runner: a source is polled by one runner at a time, its cursor survives a
restart, a crash before the save loses nothing and stores nothing twice, and a dead
runner's lease passes to another once it expires. On SQLite and PostgreSQL.

No real polling channel exists yet, so a test-local feed stands in: a list of messages
with an integer cursor, which can repeat its last items (as RSS feeds do) and hold a
poll open until the test lets it go.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from tests.platform_fixtures import SIGNAL, eventually, make_settings, running_harness
from tests.polling_rig import Clock, RecordingQueue

from signalbridge.bootstrap import Container, build_container
from signalbridge.channels.base import InboundMessage, PollResult
from signalbridge.channels.webhook import WebhookChannel, WebhookConfig
from signalbridge.integrations.registry import AdapterRegistry
from signalbridge.jobs.polling import LeaseLost, PollingRunner, is_polling_class
from signalbridge.services.ingest import IngestResult, Interpretation
from signalbridge.services.intake import Intake
from signalbridge.settings import Settings
from signalbridge.store import models as m
from signalbridge.store.migrate import upgrade
from signalbridge.store.types import utcnow

LEASE = 60.0


class Feed:
    """A source's messages, oldest first; the cursor is how many were read."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []
        self.cursors: list[str | None] = []  # what each poll was asked
        self.repeat = 0  # how many already-read items each poll sends again
        self.hold: asyncio.Event | None = None  # a poll waits for it when set
        self.polling = asyncio.Event()  # set while a poll is held

    def publish(self, text: str) -> str:
        external_id = f"item-{len(self.items) + 1}"
        self.items.append((external_id, text))
        return external_id

    async def read(self, cursor: str | None) -> PollResult:
        self.cursors.append(cursor)
        if self.hold is not None:
            self.polling.set()
            await self.hold.wait()
        after = int(cursor or 0)
        page = self.items[max(0, after - self.repeat) :]
        messages = tuple(
            InboundMessage(external_id=eid, text=text, received_at=utcnow()) for eid, text in page
        )
        return PollResult(messages, str(len(self.items)))


class FeedConfig(BaseModel):
    name: str = "feed"


def feed_channel(feed: Feed) -> type:
    class FeedChannel:
        def __init__(self, config: FeedConfig) -> None:
            self.config = config

        async def poll(self, cursor: str | None) -> PollResult:
            return await feed.read(cursor)

    return FeedChannel


class CrashingIntake(Intake):
    """Stores ``survive`` messages of a save, then fails as a dying process would."""

    def __init__(self, *args: Any, survive: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.survive = survive

    async def store_many(
        self,
        session: AsyncSession,
        channel: m.ChannelSource,
        messages: Sequence[InboundMessage],
        meanings: Sequence[Interpretation],
    ) -> list[IngestResult]:
        # The poll's messages go through the batch path (services/batch_intake.py): the
        # first ``survive`` are written in the save's transaction, then the process dies.
        n = min(self.survive, len(messages))
        stored = await super().store_many(session, channel, messages[:n], meanings[:n])
        self.survive -= n
        if len(messages) > n:
            raise RuntimeError("the process died here")
        return stored


@dataclass
class Rig:
    settings: Settings
    container: Container
    feed: Feed
    registry: AdapterRegistry
    queue: RecordingQueue
    channel: m.ChannelSource
    clock: Clock

    def intake(self, container: Container | None = None) -> Intake:
        c = container or self.container
        return Intake(c.sessions, self.queue, dispatch_task="dispatch", update_task="update")

    def runner(
        self, owner: str, *, container: Container | None = None, intake: Intake | None = None
    ) -> PollingRunner:
        c = container or self.container
        return PollingRunner(
            c.sessions,
            self.registry,
            c.vault,
            intake or self.intake(c),
            owner=owner,
            lease_seconds=LEASE,
            clock=self.clock,
        )

    async def count(self, model: type[Any]) -> int:
        async with self.container.sessions() as s:
            return int(await s.scalar(select(func.count()).select_from(model)) or 0)

    async def external_ids(self) -> list[str]:
        async with self.container.sessions() as s:
            rows = await s.scalars(select(m.Message.external_id).order_by(m.Message.id))
            return list(rows.all())

    async def cursor(self) -> m.ChannelCursor:
        async with self.container.sessions() as s:
            row = await s.scalar(
                select(m.ChannelCursor).where(m.ChannelCursor.channel_id == self.channel.id)
            )
        assert row is not None
        return row

    def dispatches(self) -> list[tuple[Any, ...]]:
        return [args for name, args in self.queue.calls if name == "dispatch"]


@pytest.fixture
async def rig(tmp_path: Path, database_url: str) -> AsyncIterator[Rig]:
    settings = make_settings(tmp_path, database_url)
    container = build_container(settings)
    await upgrade(container.engine)
    feed = Feed()
    registry = AdapterRegistry()
    registry.register("channel", "feed", feed_channel(feed), FeedConfig)
    async with container.sessions() as s, s.begin():
        owner = m.User(email="owner@example.com", password_hash="x", role=m.Role.ADMIN)
        s.add(owner)
        await s.flush()
        channel = m.ChannelSource(name="feed", type="feed", config={}, owner_id=owner.id)
        connection = m.ExecutionConnection(name="paper", type="paper", config={}, owner_id=owner.id)
        s.add_all([channel, connection])
        await s.flush()
        s.add(m.Follow(connection_id=connection.id, channel_id=channel.id))
    try:
        yield Rig(settings, container, feed, registry, RecordingQueue(), channel, Clock())
    finally:
        await container.close()


def signal_text(n: int) -> str:
    return json.dumps({**SIGNAL, "leverage": n})


async def test_two_racing_runners_deliver_each_message_once(rig: Rig) -> None:
    other = build_container(rig.settings)  # a second scheduler process on the same database
    try:
        a, b = rig.runner("runner-a"), rig.runner("runner-b", container=other)
        rig.feed.repeat = 2  # every poll sends the last two items again
        published: list[str] = []
        for round_ in range(4):
            published += [rig.feed.publish(signal_text(round_ * 3 + i + 1)) for i in range(3)]
            rig.feed.hold = asyncio.Event()
            rig.feed.polling.clear()
            racing = asyncio.gather(a.run_once(), b.run_once())
            await asyncio.wait_for(rig.feed.polling.wait(), 10)
            await asyncio.sleep(0.05)  # the other runner meets the held lease meanwhile
            rig.feed.hold.set()
            assert sorted(await racing) == [0, 3]
            assert len(rig.feed.cursors) == round_ + 1  # one poll per round, not two
        assert await rig.external_ids() == published
        assert await rig.count(m.Signal) == 12
        assert await rig.count(m.Execution) == 12  # one follow: one execution per signal
        dispatched = rig.dispatches()
        assert len(dispatched) == 12 and len({args[0] for args in dispatched}) == 12
        cursor = await rig.cursor()
        assert cursor.cursor == "12" and cursor.lease_owner is None
    finally:
        await other.close()


async def test_the_cursor_survives_a_restart(rig: Rig) -> None:
    for n in range(3):
        rig.feed.publish(signal_text(n + 1))
    assert await rig.runner("before").run_once() == 3
    await rig.container.close()
    restarted = build_container(rig.settings)  # a new process: nothing kept in memory
    rig.container = restarted
    rig.feed.publish("good morning, traders")  # noise: stored, nothing queued
    rig.feed.publish(signal_text(4))
    assert await rig.runner("after").run_once() == 2
    assert rig.feed.cursors == [None, "3"]
    async with restarted.sessions() as s:
        statuses = (await s.scalars(select(m.Message.status).order_by(m.Message.id))).all()
    assert statuses == [m.MessageStatus.PARSED] * 3 + [m.MessageStatus.NOISE, "parsed"]
    assert len(rig.dispatches()) == 4
    assert (await rig.cursor()).cursor == "5"


async def test_a_crash_before_the_save_redelivers_without_duplicates(rig: Rig) -> None:
    for n in range(3):
        rig.feed.publish(signal_text(n + 1))
    assert await rig.runner("first").run_once() == 3
    rig.feed.repeat = 1
    for n in range(3):
        rig.feed.publish(signal_text(n + 4))
    crashing = CrashingIntake(
        rig.container.sessions, rig.queue, dispatch_task="dispatch", update_task="update", survive=2
    )
    with pytest.raises(RuntimeError, match="died"):
        await rig.runner("doomed", intake=crashing).poll_channel(rig.channel)
    # The two messages stored before the crash went with the transaction, cursor and all.
    assert await rig.count(m.Message) == 3
    assert (await rig.cursor()).cursor == "3"
    assert len(rig.dispatches()) == 3
    # The next runner reads the same four items (one repeated) and stores the three new.
    assert await rig.runner("next").run_once() == 3
    assert rig.feed.cursors[-2:] == ["3", "3"]
    assert await rig.external_ids() == [f"item-{n}" for n in range(1, 7)]
    assert await rig.count(m.Execution) == 6
    assert len(rig.dispatches()) == 6  # the repeated item queued nothing


async def test_an_expired_lease_hands_the_channel_over(rig: Rig) -> None:
    rig.feed.publish(signal_text(1))
    dead = rig.runner("dead")
    lease = await dead.acquire(rig.channel.id)  # and the process dies holding it
    assert lease is not None and lease.cursor is None
    heir = rig.runner("heir")
    assert await heir.run_once() == 0
    assert rig.feed.cursors == []  # nobody polled while the lease was alive
    rig.clock.advance(LEASE - 1)
    assert await heir.run_once() == 0
    rig.clock.advance(2)
    assert await heir.run_once() == 1
    assert rig.feed.cursors == [None]
    # The dead runner wakes up with what it had read: its save stores nothing.
    late = await rig.feed.read(None)
    meanings = [Intake.interpret(rig.channel, message) for message in late.messages]
    rig.feed.publish(signal_text(2))
    with pytest.raises(LeaseLost):
        await dead.save(rig.channel, lease, late, meanings)
    assert await rig.count(m.Message) == 1
    assert (await rig.cursor()).cursor == "1"


async def test_a_runner_renews_its_own_lease_and_gives_it_up_after_a_failure(rig: Rig) -> None:
    runner, other = rig.runner("one"), rig.runner("two")
    first = await runner.acquire(rig.channel.id)
    rig.clock.advance(10)
    again = await runner.acquire(rig.channel.id)
    assert first is not None and again is not None and again.until > first.until
    assert await other.acquire(rig.channel.id) is None
    await runner.release(again)
    assert await other.acquire(rig.channel.id) is not None


async def test_only_polling_types_are_polled(rig: Rig) -> None:
    rig.registry.register("channel", "webhook", WebhookChannel, WebhookConfig)
    assert rig.runner("x").polling_types() == ["feed"]
    assert not is_polling_class(WebhookChannel)
    assert not is_polling_class(lambda config: None)
    async with rig.container.sessions() as s, s.begin():
        row = await s.get_one(m.ChannelSource, rig.channel.id)
        row.is_active = False
    rig.feed.publish(signal_text(1))
    assert await rig.runner("x").run_once() == 0
    assert rig.feed.cursors == []
    empty = PollingRunner(
        rig.container.sessions, AdapterRegistry(), rig.container.vault, rig.intake()
    )
    assert await empty.run_once() == 0


async def test_the_intake_queues_an_update_and_nothing_for_a_duplicate(rig: Rig) -> None:
    intake = rig.intake()
    async with rig.container.sessions() as s:
        channel = await s.get_one(m.ChannelSource, rig.channel.id)
    signal = InboundMessage("s-1", signal_text(1), utcnow(), "application/json")
    first = await intake.receive(channel, signal)
    assert first.execution_ids and not first.duplicate
    body = json.dumps({"kind": "update", "symbol": "BTC/USDT", "action": "move_sl", "value": "1"})
    update = InboundMessage("u-1", body, utcnow(), "application/json")
    applied = await intake.receive(channel, update)
    assert applied.update_id is not None
    again = await intake.receive(channel, signal)
    assert again.duplicate and again.signal_id == first.signal_id
    assert rig.queue.calls == [
        ("dispatch", (first.signal_id, list(first.execution_ids))),
        ("update", (applied.update_id,)),
    ]


async def test_the_scheduler_polls_and_a_polled_signal_is_traded(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path, database_url, poll_interval_seconds=0.1)
    async with running_harness(settings, scheduler=True) as h:
        feed = Feed()
        h.container.registry.register("channel", "feed", feed_channel(feed), FeedConfig)
        channel = await h.ok("POST", "/channels", json={"name": "feed", "type": "feed"})
        await h.follow(channel["id"], await h.paper_connection())
        feed.publish(json.dumps(SIGNAL))

        async def traded() -> bool:
            async with h.container.sessions() as s:
                return bool(await s.scalar(select(func.count()).select_from(m.Position)))

        await eventually(traded, timeout=20)
        async with h.container.sessions() as s:
            message = await s.scalar(select(m.Message))
            assert message is not None and message.external_id == "item-1"
            assert await s.scalar(select(func.count()).select_from(m.Message)) == 1
