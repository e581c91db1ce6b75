"""Edits, replies and deletes through the intake, on SQLite and PostgreSQL: one post is one
signal whatever its edits, every version is kept, an edit re-plans a signal nothing was
sent for, the channel's ``on_edit`` decides after execution, a reply applies to the
signal it answers, a delete closes nothing, and a repeated delivery changes nothing.

The queue records what would run; no engine runs here (tests/e2e/test_edit_moves_stop.py
runs the real one).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.fakes.feed_server import FeedServer, Post
from tests.platform_fixtures import make_settings
from tests.polling_rig import RecordingQueue

from signalbridge.bootstrap import Container, build_container
from signalbridge.channels.base import InboundMessage
from signalbridge.channels.fetching import ChannelDeps
from signalbridge.jobs.polling import PollingRunner
from signalbridge.services.ingest import IngestResult
from signalbridge.services.intake import Intake
from signalbridge.store import models as m
from signalbridge.store.migrate import upgrade

D = Decimal
T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
SIGNAL = "BTC/USDT LONG\nEntry 59900-60100\nSL 58000\nTP1 62000\nTP2 64000\nLeverage 10x"
EDITED = "BTC/USDT LONG\nEntry 59900-60100\nSL 58500\nTP1 62000\nTP2 64000\nLeverage 10x"
NOISE = "BTC going up soon, stay tuned"


@dataclass
class Rig:
    container: Container
    queue: RecordingQueue
    intake: Intake
    channel: m.ChannelSource
    connection_id: int
    clock: int = 0

    async def deliver(
        self,
        external_id: str,
        text: str,
        *,
        edit_of: str | None = None,
        reply_to: str | None = None,
    ) -> IngestResult:
        self.clock += 1
        message = InboundMessage(
            external_id=external_id,
            text=text,
            received_at=T0 + timedelta(seconds=self.clock),
            edit_of=edit_of,
            reply_to=reply_to,
        )
        return await self.intake.receive(self.channel, message)

    async def rows(self, model: Any, *where: Any) -> list[Any]:
        async with self.container.sessions() as s:
            return list((await s.scalars(select(model).where(*where).order_by(model.id))).all())

    async def count(self, model: Any, *where: Any) -> int:
        async with self.container.sessions() as s:
            return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    async def get(self, model: Any, row_id: int | None) -> Any:
        assert row_id is not None
        async with self.container.sessions() as s:
            return await s.get_one(model, row_id)

    async def set_on_edit(self, value: str) -> None:
        async with self.container.sessions() as s, s.begin():
            (await s.get_one(m.ChannelSource, self.channel.id)).on_edit = value
        async with self.container.sessions() as s:
            self.channel = await s.get_one(m.ChannelSource, self.channel.id)

    async def mark_sent(self, execution_id: int) -> None:
        """What the engine leaves once an entry order went out: the execution is open
        and has an order row."""
        async with self.container.sessions() as s, s.begin():
            execution = await s.get_one(m.Execution, execution_id)
            execution.status = m.ExecutionStatus.OPEN
            s.add(
                m.Order(
                    execution_id=execution_id,
                    connection_id=self.connection_id,
                    client_order_id=f"sb-{execution_id}-e1",
                    leg="e1",
                    symbol="BTC/USDT",
                    side="buy",
                    type="limit",
                    amount=D("0.001"),
                    price=D(60000),
                    status=m.OrderStatus.OPEN,
                )
            )


@pytest.fixture
async def rig(tmp_path: Path, database_url: str) -> AsyncIterator[Rig]:
    container = build_container(make_settings(tmp_path, database_url))
    await upgrade(container.engine)
    async with container.sessions() as s, s.begin():
        owner = m.User(email="owner@example.com", password_hash="x", role=m.Role.ADMIN)
        s.add(owner)
        await s.flush()
        channel = m.ChannelSource(name="provider", type="webhook", config={}, owner_id=owner.id)
        connection = m.ExecutionConnection(name="paper", type="paper", config={}, owner_id=owner.id)
        s.add_all([channel, connection])
        await s.flush()
        s.add(m.Follow(connection_id=connection.id, channel_id=channel.id))
    async with container.sessions() as s:
        row = await s.get_one(m.ChannelSource, channel.id)
    queue = RecordingQueue()
    intake = Intake(container.sessions, queue, dispatch_task="dispatch", update_task="update")
    try:
        yield Rig(container, queue, intake, row, connection.id)
    finally:
        await container.close()


async def test_an_edit_before_execution_replans_once_and_keeps_every_version(rig: Rig) -> None:
    first = await rig.deliver("m1", SIGNAL)
    assert first.status == "parsed" and first.signal_id is not None
    (old_execution,) = first.execution_ids

    edit = await rig.deliver("m1~v2", EDITED, edit_of="m1")
    assert edit.status == "edit" and not edit.duplicate
    assert edit.signal_id == first.signal_id  # the same signal, never a second one
    (new_execution,) = edit.execution_ids
    assert new_execution != old_execution
    assert await rig.count(m.Signal) == 1
    assert await rig.count(m.Execution, m.Execution.id == old_execution) == 0
    signal = await rig.get(m.Signal, first.signal_id)
    assert signal.stop_loss == D(58500) and signal.status == "dispatched"

    # Every version: the original holds the current text, the earlier one is a MessageEdit.
    original = await rig.get(m.Message, first.message_id)
    assert original.text == EDITED and original.edited_at == T0 + timedelta(seconds=2)
    (version,) = await rig.rows(m.MessageEdit)
    assert version.message_id == first.message_id and version.previous_text == SIGNAL
    delivery = await rig.get(m.Message, edit.message_id)
    assert delivery.original_id == first.message_id and delivery.external_id == "m1~v2"
    (record,) = await rig.rows(m.SignalEdit)
    assert record.outcome == "replanned" and record.changes == {"stop_loss": ["58000", "58500"]}
    assert rig.queue.calls == [
        ("dispatch", (first.signal_id, [old_execution])),
        ("dispatch", (first.signal_id, [new_execution])),
    ]

    # The same edit delivered again changes nothing and queues nothing.
    again = await rig.deliver("m1~v2", EDITED, edit_of="m1")
    assert again.duplicate and again.message_id == edit.message_id
    assert again.signal_id == first.signal_id and again.execution_ids == ()
    assert len(rig.queue.calls) == 2
    assert await rig.count(m.MessageEdit) == 1 and await rig.count(m.SignalEdit) == 1
    assert [e.id for e in await rig.rows(m.Execution)] == [new_execution]

    # A second edit back to the first text re-plans again: three versions, one signal.
    back = await rig.deliver("m1~v3", SIGNAL, edit_of="m1")
    assert back.signal_id == first.signal_id and len(back.execution_ids) == 1
    assert [v.previous_text for v in await rig.rows(m.MessageEdit)] == [SIGNAL, EDITED]
    assert (await rig.get(m.Signal, first.signal_id)).stop_loss == D(58000)
    assert await rig.count(m.Signal) == 1 and await rig.count(m.Execution) == 1


async def test_an_edit_in_place_is_keyed_by_its_text(rig: Rig) -> None:
    first = await rig.deliver("42", SIGNAL)
    edit = await rig.deliver("42", EDITED, edit_of="42")
    assert edit.status == "edit" and not edit.duplicate and edit.signal_id == first.signal_id
    delivery = await rig.get(m.Message, edit.message_id)
    assert delivery.external_id.startswith("42~") and len(delivery.external_id) == 19
    assert (await rig.deliver("42", EDITED, edit_of="42")).duplicate
    assert await rig.count(m.MessageEdit) == 1


async def test_an_edit_that_changes_no_text_records_no_version(rig: Rig) -> None:
    first = await rig.deliver("m1", SIGNAL)
    same = await rig.deliver("m1~same", SIGNAL, edit_of="m1")
    assert same.status == "edit" and same.execution_ids == ()
    assert await rig.count(m.MessageEdit) == 0 and await rig.count(m.SignalEdit) == 0
    assert [e.id for e in await rig.rows(m.Execution)] == list(first.execution_ids)


@pytest.mark.parametrize("on_edit", ["apply", "ignore", "review"])
async def test_after_orders_were_sent_the_channel_decides_and_the_difference_is_recorded(
    rig: Rig, on_edit: str
) -> None:
    await rig.set_on_edit(on_edit)
    first = await rig.deliver("m1", SIGNAL)
    (execution,) = first.execution_ids
    await rig.mark_sent(execution)
    rig.queue.calls.clear()

    edit = await rig.deliver("m1~v2", EDITED, edit_of="m1")
    assert edit.signal_id == first.signal_id and edit.execution_ids == ()
    execution_row = await rig.get(m.Execution, execution)
    assert execution_row.status == "open"  # nothing re-planned once an order went out
    (record,) = await rig.rows(m.SignalEdit)
    assert record.changes == {"stop_loss": ["58000", "58500"]}
    audits = await rig.rows(m.AuditEntry, m.AuditEntry.entity == "signal")
    assert [(a.action, a.entity_id, a.changes["stop_loss"]) for a in audits] == [
        ("edit", str(first.signal_id), ["58000", "58500"])
    ]
    # The signal keeps what was traded until an edit is applied to the positions.
    assert (await rig.get(m.Signal, first.signal_id)).stop_loss == D(58000)
    updates = await rig.rows(m.SignalUpdate)
    if on_edit == "ignore":
        assert record.outcome == "ignored" and updates == [] and rig.queue.calls == []
        return
    (update,) = updates
    assert update.action == "edit" and update.signal_id == first.signal_id
    assert record.update_id == update.id and edit.update_id == update.id
    if on_edit == "apply":
        assert record.outcome == "apply" and update.status == "received"
        assert rig.queue.calls == [("update", (update.id,))]
    else:
        assert record.outcome == "review" and update.status == "review"
    assert (await rig.deliver("m1~v2", EDITED, edit_of="m1")).duplicate
    assert await rig.count(m.SignalUpdate) == 1 and await rig.count(m.SignalEdit) == 1


async def test_an_edit_below_the_channel_confidence_goes_to_review_even_with_apply(
    rig: Rig,
) -> None:
    await rig.set_on_edit("apply")
    async with rig.container.sessions() as s, s.begin():
        (await s.get_one(m.ChannelSource, rig.channel.id)).min_confidence = D("0.5")
    first = await rig.deliver("m1", SIGNAL)
    await rig.mark_sent(first.execution_ids[0])
    async with rig.container.sessions() as s, s.begin():
        (await s.get_one(m.ChannelSource, rig.channel.id)).min_confidence = D("0.99")
    async with rig.container.sessions() as s:
        rig.channel = await s.get_one(m.ChannelSource, rig.channel.id)
    await rig.deliver("m1~v2", EDITED, edit_of="m1")
    (record,) = await rig.rows(m.SignalEdit)
    assert record.outcome == "review" and "confidence" in (record.reason or "")


async def test_an_edit_into_no_signal_withdraws_a_signal_nothing_was_sent_for(rig: Rig) -> None:
    first = await rig.deliver("m1", SIGNAL)
    edit = await rig.deliver("m1~v2", NOISE, edit_of="m1")
    assert edit.execution_ids == () and "no signal" in (edit.error or "")
    signal = await rig.get(m.Signal, first.signal_id)
    assert signal.status == "rejected" and any("withdrawn" in r for r in signal.reasons)
    # Ended where they stand, so an engine that claims one finds it no longer pending.
    (execution,) = await rig.rows(m.Execution)
    assert execution.status == "skipped" and "withdrawn by edit" in (execution.reason or "")
    (record,) = await rig.rows(m.SignalEdit)
    assert record.outcome == "withdrawn"


async def test_an_edit_of_a_post_that_was_no_signal_makes_its_one_signal(rig: Rig) -> None:
    first = await rig.deliver("m1", NOISE)
    assert first.status == "noise" and first.signal_id is None
    edit = await rig.deliver("m1~v2", SIGNAL, edit_of="m1")
    assert edit.signal_id is not None and len(edit.execution_ids) == 1
    (signal,) = await rig.rows(m.Signal)
    assert signal.message_id == first.message_id  # on the post, not on the edit delivery
    assert (await rig.get(m.Message, first.message_id)).status == "parsed"
    later = await rig.deliver("m1~v3", EDITED, edit_of="m1")
    assert later.signal_id == signal.id and await rig.count(m.Signal) == 1


async def test_an_edit_of_a_message_never_stored_is_kept_untraded_with_its_reason(
    rig: Rig,
) -> None:
    orphan = await rig.deliver("ghost~v2", SIGNAL, edit_of="ghost")
    assert orphan.status == "orphan_edit" and orphan.signal_id is None
    assert "never stored" in (orphan.error or "") and "not traded" in (orphan.error or "")
    stored = await rig.get(m.Message, orphan.message_id)
    assert stored.status == "orphan_edit" and stored.original_id is None
    assert await rig.count(m.Signal) == 0 and rig.queue.calls == []
    assert (await rig.deliver("ghost~v2", SIGNAL, edit_of="ghost")).duplicate


async def test_an_edited_update_is_read_again_while_it_waits(rig: Rig) -> None:
    await rig.deliver("m1", SIGNAL)
    update = await rig.deliver("m2", "Move SL to 59000", reply_to="m1")
    assert update.update_id is not None
    await rig.deliver("m2~v2", "Move SL to 59500", edit_of="m2")
    row = await rig.get(m.SignalUpdate, update.update_id)
    assert row.value == D(59500) and row.action == "move_sl"
    async with rig.container.sessions() as s, s.begin():
        (await s.get_one(m.SignalUpdate, update.update_id)).status = "applied"
    late = await rig.deliver("m2~v3", "Move SL to 59900", edit_of="m2")
    assert "already applied before the edit" in (late.error or "")
    assert (await rig.get(m.SignalUpdate, update.update_id)).value == D(59500)


async def test_a_reply_applies_to_the_signal_it_answers_not_the_latest(rig: Rig) -> None:
    first = await rig.deliver("m1", SIGNAL)
    latest = await rig.deliver("m2", EDITED)
    assert first.signal_id != latest.signal_id
    reply = await rig.deliver("m3", "Move SL to 59000", reply_to="m1")
    assert reply.update_id is not None
    row = await rig.get(m.SignalUpdate, reply.update_id)
    assert row.signal_id == first.signal_id and row.status == "received"
    assert ("update", (reply.update_id,)) in rig.queue.calls

    # A reply to an edit delivery answers the post it edits.
    await rig.deliver("m1~v2", SIGNAL.replace("64000", "65000"), edit_of="m1")
    to_edit = await rig.deliver("m4", "TP1 hit", reply_to="m1~v2")
    assert (await rig.get(m.SignalUpdate, to_edit.update_id)).signal_id == first.signal_id

    # A reply to a message never stored applies to nothing, never to the latest.
    stray = await rig.deliver("m5", "move SL to BE", reply_to="unknown")
    row = await rig.get(m.SignalUpdate, stray.update_id)
    assert row.signal_id is None and row.status == "no_signal"


async def test_a_delete_is_recorded_and_closes_nothing(rig: Rig) -> None:
    first = await rig.deliver("m1", SIGNAL)
    await rig.mark_sent(first.execution_ids[0])
    assert await rig.intake.delete(rig.channel, "m1", T0 + timedelta(minutes=5))
    message = await rig.get(m.Message, first.message_id)
    assert message.deleted_at == T0 + timedelta(minutes=5)
    assert (await rig.get(m.Signal, first.signal_id)).status == "dispatched"
    assert (await rig.get(m.Execution, first.execution_ids[0])).status == "open"
    assert await rig.count(m.Order, m.Order.status == "open") == 1
    # Reported again: the first time stands.
    assert await rig.intake.delete(rig.channel, "m1", T0 + timedelta(minutes=9))
    assert (await rig.get(m.Message, first.message_id)).deleted_at == T0 + timedelta(minutes=5)
    assert await rig.count(m.AuditEntry, m.AuditEntry.action == "delete") == 1
    assert not await rig.intake.delete(rig.channel, "never-seen", T0)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def site() -> Iterator[FeedServer]:
    server = FeedServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_the_polling_runner_delivers_a_changed_page_post_as_one_edit(
    tmp_path: Path, database_url: str, site: FeedServer
) -> None:
    """The fake site changes a post between polls: one signal, re-planned once; a poll
    redone from the earlier cursor delivers the edit again and changes nothing."""
    container = build_container(make_settings(tmp_path, database_url, allowed_hosts=["127.0.0.1"]))
    await upgrade(container.engine)
    clock, queue = Clock(), RecordingQueue()
    try:
        async with container.sessions() as s, s.begin():
            owner = m.User(email="o@example.com", password_hash="x", role=m.Role.ADMIN)
            s.add(owner)
            await s.flush()
            config = {
                "url": site.url("/signals"),
                "items_xpath": "//article[@class='post']",
                "id_xpath": "@data-id",
                "text_xpath": ".//div[@class='body']",
                "interval_seconds": 10,
                "backfill": True,
            }
            public, _ = container.registry.split_config("channel", "webpage", config)
            channel = m.ChannelSource(name="page", type="webpage", config=public, owner_id=owner.id)
            connection = m.ExecutionConnection(name="p", type="paper", config={}, owner_id=owner.id)
            s.add_all([channel, connection])
            await s.flush()
            s.add(m.Follow(connection_id=connection.id, channel_id=channel.id))
        async with container.sessions() as s:
            row = await s.get_one(m.ChannelSource, channel.id)
        intake = Intake(container.sessions, queue, dispatch_task="dispatch", update_task="update")
        runner = PollingRunner(
            container.sessions,
            container.registry,
            container.vault,
            intake,
            owner="runner",
            clock=clock,
            deps=ChannelDeps(http=container.http, kernel=container.kernel, clock=clock),
        )

        async def cursor() -> str | None:
            async with container.sessions() as s:
                return await s.scalar(
                    select(m.ChannelCursor.cursor).where(m.ChannelCursor.channel_id == channel.id)
                )

        site.publish_page("/signals", [Post("BTC", SIGNAL, guid="p1")])
        assert await runner.poll_channel(row) == 1
        before_edit = await cursor()
        site.publish_page("/signals", [Post("BTC", EDITED, guid="p1")])
        clock.now += timedelta(seconds=11)
        assert await runner.poll_channel(row) == 1

        async with container.sessions() as s:
            (signal,) = (await s.scalars(select(m.Signal))).all()
            (record,) = (await s.scalars(select(m.SignalEdit))).all()
            executions = (await s.scalars(select(m.Execution.id))).all()
        assert signal.stop_loss == D(58500) and record.outcome == "replanned"
        assert [name for name, _ in queue.calls] == ["dispatch", "dispatch"]

        # Another runner redoes the poll from the cursor before the edit.
        async with container.sessions() as s, s.begin():
            saved = await s.scalar(
                select(m.ChannelCursor).where(m.ChannelCursor.channel_id == channel.id)
            )
            assert saved is not None
            saved.cursor = before_edit
        clock.now += timedelta(seconds=11)
        fetched = len(site.requests("/signals"))
        assert await runner.poll_channel(row) == 0  # delivered again: a duplicate
        assert len(site.requests("/signals")) == fetched + 1
        assert site.requests("/signals")[-1].headers.get("if-none-match") is not None
        async with container.sessions() as s:
            assert (await s.scalars(select(m.Execution.id))).all() == executions
            assert await s.scalar(select(func.count()).select_from(m.MessageEdit)) == 1
            assert await s.scalar(select(func.count()).select_from(m.Message)) == 2
        assert len(queue.calls) == 2
    finally:
        await container.close()
