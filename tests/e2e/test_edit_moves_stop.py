"""End to end, on SQLite and PostgreSQL: a post on a provider's web page (the fake site on
loopback, polled by the running scheduler) becomes a paper position, and the provider's
edit of that post moves the position's stop (the channel's ``on_edit`` set to ``apply``
through the API); a duplicate delivery of the edit changes nothing. And an edit that
arrives before any order was sent re-plans the signal: the real engine trades the edited
levels, and the replaced execution sends nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.fakes.feed_server import FeedServer, Post
from tests.platform_fixtures import Harness, eventually, make_settings, running_harness
from tests.polling_rig import RecordingQueue

from signalbridge.channels.base import InboundMessage
from signalbridge.services.intake import Intake
from signalbridge.store import models as m
from signalbridge.store.types import utcnow

D = Decimal
POST = "BTC/USDT LONG\nEntry market\nSL 58000\nTP1 62000\nTP2 64000"
EDITED = "BTC/USDT LONG\nEntry market\nSL 58500\nTP1 62000\nTP2 64000"


@pytest.fixture
def site() -> Iterator[FeedServer]:
    server = FeedServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def _rows(h: Harness, model: Any, *where: Any) -> list[Any]:
    async with h.container.sessions() as s:
        return list((await s.scalars(select(model).where(*where).order_by(model.id))).all())


async def _count(h: Harness, model: Any) -> int:
    async with h.container.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_page_post_becomes_a_paper_position_and_its_edit_moves_the_stop(
    tmp_path: Path, database_url: str, site: FeedServer
) -> None:
    settings = make_settings(
        tmp_path, database_url, poll_interval_seconds=0.1, allowed_hosts=["127.0.0.1"]
    )
    site.publish_page("/signals", [Post("hello", "welcome to the channel", guid="p0")])
    async with running_harness(settings, scheduler=True) as h:
        bad = await h.api(
            "POST", "/channels", json={"name": "x", "type": "webhook", "on_edit": "always"}
        )
        assert bad.status_code == 422
        channel = await h.ok(
            "POST",
            "/channels",
            json={
                "name": "page",
                "type": "webpage",
                "config": {
                    "url": site.url("/signals"),
                    "items_xpath": "//article[@class='post']",
                    "id_xpath": "@data-id",
                    "text_xpath": ".//div[@class='body']",
                    "interval_seconds": 1,
                },
            },
        )
        assert channel["on_edit"] == "review"  # the default: an operator decides
        changed = await h.ok("PATCH", f"/channels/{channel['id']}", json={"on_edit": "apply"})
        assert changed["on_edit"] == "apply"
        await h.follow(channel["id"], await h.paper_connection())

        async def primed() -> bool:
            async with h.container.sessions() as s:
                row = await s.scalar(
                    select(m.ChannelCursor).where(m.ChannelCursor.channel_id == channel["id"])
                )
            return row is not None and row.cursor is not None and '"primed"' in row.cursor

        await eventually(primed, timeout=20)
        welcome = Post("hello", "welcome to the channel", guid="p0")
        site.publish_page("/signals", [welcome, Post("BTC", POST, guid="p1")])

        async def position() -> m.Position | None:
            async with h.container.sessions() as s:
                return await s.scalar(select(m.Position))

        async def opened() -> bool:
            return await position() is not None

        await eventually(opened, timeout=20)
        first = await position()
        assert first is not None and first.stop_loss == D(58000)

        # The provider edits the post on the page: the next poll delivers the edit.
        site.publish_page("/signals", [welcome, Post("BTC", EDITED, guid="p1")])

        async def stop_moved() -> bool:
            found = await position()
            return found is not None and found.stop_loss == D(58500)

        await eventually(stop_moved, timeout=20)
        moved = await position()
        assert moved is not None and moved.id == first.id and moved.status == "open"
        assert await _count(h, m.Signal) == 1 and await _count(h, m.Position) == 1
        (signal,) = await _rows(h, m.Signal)
        (record,) = await _rows(h, m.SignalEdit)
        assert record.changes == {"stop_loss": ["58000", "58500"]}

        async def applied() -> bool:
            return [r.outcome for r in await _rows(h, m.SignalEdit)] == ["applied"]

        await eventually(applied)
        assert (await _rows(h, m.Signal))[0].stop_loss == D(58500)
        original, edit = await _rows(h, m.Message)
        assert original.external_id == "p1" and original.text == EDITED
        assert edit.original_id == original.id and edit.external_id.startswith("p1~")
        (version,) = await _rows(h, m.MessageEdit)
        assert version.previous_text == POST
        logs = await _rows(h, m.ExecutionLog, m.ExecutionLog.action == "edit_move_sl")
        assert len(logs) == 1

        # The monitor then replaces the stop resting on the venue: one, at the new level.
        async def resting_stop_moved() -> bool:
            stops = await _rows(h, m.Order, m.Order.type == "stop_market")
            resting = {o.stop_price for o in stops if o.status == "open"}
            return resting == {D(58500)}

        await eventually(resting_stop_moved, timeout=20)

        # The same edit delivered again (a poll redone after a crash): nothing changes.
        async with h.container.sessions() as s:
            row = await s.get_one(m.ChannelSource, channel["id"])
        again = await h.container.intake.receive(
            row,
            InboundMessage(
                external_id=edit.external_id, text=EDITED, received_at=utcnow(), edit_of="p1"
            ),
        )
        assert again.duplicate and again.signal_id == signal.id
        assert await _count(h, m.SignalUpdate) == 1 and await _count(h, m.MessageEdit) == 1
        assert await _count(h, m.Signal) == 1 and await _count(h, m.Position) == 1


async def test_an_edit_before_any_order_replans_and_the_engine_trades_the_edit(
    harness: Harness,
) -> None:
    h = harness
    channel_id, _ = await h.webhook_channel()
    await h.follow(channel_id, await h.paper_connection())
    async with h.container.sessions() as s:
        channel = await s.get_one(m.ChannelSource, channel_id)
    queue = RecordingQueue()  # holds the dispatch back, as a busy worker would
    intake = Intake(h.container.sessions, queue, dispatch_task="dispatch", update_task="update")
    first = await intake.receive(channel, InboundMessage("p1", POST, utcnow()))
    edit = await intake.receive(channel, InboundMessage("p1~v2", EDITED, utcnow(), edit_of="p1"))
    assert edit.signal_id == first.signal_id and edit.execution_ids
    assert set(edit.execution_ids).isdisjoint(first.execution_ids)

    # The task queued for the first version finds nothing left to run.
    await h.container.execution.run_many(list(first.execution_ids))
    assert await _count(h, m.Order) == 0
    await h.container.execution.run_many(list(edit.execution_ids))
    (position,) = await _rows(h, m.Position)
    assert position.signal_id == first.signal_id and position.stop_loss == D(58500)
    orders = await _rows(h, m.Order)
    assert orders and {o.execution_id for o in orders} == set(edit.execution_ids)


async def test_an_edit_sent_to_review_moves_the_stop_once_an_operator_approves(
    harness: Harness,
) -> None:
    h = harness
    channel_id, _ = await h.webhook_channel()  # on_edit defaults to review
    await h.follow(channel_id, await h.paper_connection())
    async with h.container.sessions() as s:
        channel = await s.get_one(m.ChannelSource, channel_id)
    first = await h.container.intake.receive(channel, InboundMessage("p1", POST, utcnow()))

    async def opened() -> bool:
        return bool(await _rows(h, m.Position, m.Position.signal_id == first.signal_id))

    await eventually(opened)
    edit = await h.container.intake.receive(
        channel, InboundMessage("p1~v2", EDITED, utcnow(), edit_of="p1")
    )
    assert edit.update_id is not None
    (record,) = await _rows(h, m.SignalEdit)
    assert record.outcome == "review" and record.changes == {"stop_loss": ["58000", "58500"]}
    pending = await h.ok("GET", "/review?kind=update")
    assert [i["id"] for i in pending["items"]] == [edit.update_id]
    (position,) = await _rows(h, m.Position)
    assert position.stop_loss == D(58000)  # nothing moves before a decision

    await h.ok("POST", f"/review/updates/{edit.update_id}/approve")

    async def applied() -> bool:
        stops = [p.stop_loss for p in await _rows(h, m.Position)]
        outcomes = [r.outcome for r in await _rows(h, m.SignalEdit)]
        return stops == [D(58500)] and outcomes == ["applied"]

    await eventually(applied)
    (record,) = await _rows(h, m.SignalEdit)
    assert record.applied_at is not None
    assert (await _rows(h, m.Signal))[0].stop_loss == D(58500)
