"""A full ``getUpdates`` answer through the batch intake (services/batch_intake.py)
against the fake Bot API on loopback, SQLite and PostgreSQL: every post stored once, in
order, with the offset in the same transaction (a reply after the post it answers and an
edit after its post, both in the same answer); a crash or a SIGKILL in the middle of
storing the batch loses and repeats nothing; the sweeper finds a batch whose tasks were
lost; and on the running platform each signal becomes one execution whose orders reach
the paper venue once (the dispatch tasks merged by jobs/coalesce.py)."""

from __future__ import annotations

import re
import textwrap
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from tests.fakes.telegram import FakeTelegram
from tests.platform_fixtures import eventually, make_settings, running_harness
from tests.polling_rig import PollingRig, migrated, run_until_killed

from signalbridge.channels.base import InboundMessage
from signalbridge.channels.fetching import ChannelDeps
from signalbridge.channels.telegram_bot import load_offset
from signalbridge.jobs.polling import LEASE_SECONDS, PollingRunner, polling_runner
from signalbridge.jobs.sweeper import sweep
from signalbridge.services.ingest import IngestResult, Interpretation
from signalbridge.services.intake import Intake
from signalbridge.store import models as m
from signalbridge.store.paper_tables import PaperOrderRow

TOKEN = "555000222:AAFtelegramFakeBotTokenForBatchTests"
CHANNEL = -1001700
SIGNAL_TEXT = "BTC/USDT LONG\nEntry 59900-60100\nSL {sl}\nTP1 62000\nTP2 64000"
POSTS = 40


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram(TOKEN) as fake:
        yield fake


@dataclass(kw_only=True)
class Rig(PollingRig):
    telegram: FakeTelegram

    async def channel(self) -> m.ChannelSource:
        config = {"bot_token": TOKEN, "api_url": self.telegram.base_url, "long_poll_seconds": 0}
        return await self.add_channel("telegram_bot", config, name="tg")

    async def follow(self, channel: m.ChannelSource) -> None:
        async with self.container.sessions() as s, s.begin():
            connection = m.ExecutionConnection(
                name="paper", type="paper", config={}, owner_id=self.owner_id
            )
            s.add(connection)
            await s.flush()
            s.add(m.Follow(connection_id=connection.id, channel_id=channel.id))

    async def offset(self, channel: m.ChannelSource) -> int | None:
        return load_offset(await self.cursor_text(channel))

    async def count(self, model: Any) -> int:
        async with self.container.sessions() as s:
            return int(await s.scalar(select(func.count()).select_from(model)) or 0)

    def dispatches(self) -> list[tuple[Any, ...]]:
        return [args for name, args in self.queue.calls if name == "dispatch"]

    def post_signals(self, n: int) -> list[dict[str, Any]]:
        return [
            self.telegram.channel_post(CHANNEL, SIGNAL_TEXT.format(sl=58000 + i)) for i in range(n)
        ]


@pytest.fixture
async def rig(tmp_path: Path, database_url: str, telegram: FakeTelegram) -> AsyncIterator[Rig]:
    async with migrated(tmp_path, database_url, allowed_hosts=["127.0.0.1"]) as (
        settings,
        container,
        owner,
    ):
        yield Rig(settings=settings, container=container, owner_id=owner, telegram=telegram)


async def test_a_full_answer_is_stored_once_in_order_with_its_offset(rig: Rig) -> None:
    channel = await rig.channel()
    await rig.follow(channel)
    posts = rig.post_signals(POSTS)
    ids = [u["update_id"] for u in rig.telegram.pending()]
    assert await rig.runner().poll_channel(channel) == POSTS
    assert await rig.offset(channel) == ids[-1] + 1
    stored = await rig.messages(channel)
    assert [s.external_id for s in stored] == [f"{CHANNEL}:{p['message_id']}" for p in posts]
    assert all(s.status == m.MessageStatus.PARSED for s in stored)
    # one signal and one execution per post, one dispatch task per signal, in post order
    assert await rig.count(m.Signal) == await rig.count(m.Execution) == POSTS
    dispatched = rig.dispatches()
    assert len(dispatched) == POSTS and len({args[0] for args in dispatched}) == POSTS
    assert [args[0] for args in dispatched] == sorted(args[0] for args in dispatched)
    assert all(len(args[1]) == 1 for args in dispatched)
    async with rig.container.sessions() as s:  # the lease went with the commit
        cursor = await s.scalar(select(m.ChannelCursor))
    assert cursor is not None and cursor.lease_owner is None
    # the next poll confirms everything at Telegram and stores nothing again
    assert await rig.runner().poll_channel(channel) == 0
    assert rig.telegram.pending() == [] and len(await rig.messages(channel)) == POSTS
    assert len(rig.dispatches()) == POSTS


async def test_a_reply_and_an_edit_in_the_same_answer_follow_their_post(rig: Rig) -> None:
    tg = rig.telegram
    channel = await rig.channel()
    await rig.follow(channel)
    rig.post_signals(10)
    post = tg.channel_post(CHANNEL, SIGNAL_TEXT.format(sl=57000))
    tg.channel_post(CHANNEL, "TP1 hit", reply_to=post["message_id"])
    tg.edit(CHANNEL, post["message_id"], SIGNAL_TEXT.format(sl=57500))
    rig.post_signals(20)
    assert await rig.runner().poll_channel(channel) == 33
    async with rig.container.sessions() as s:
        original = await s.scalar(
            select(m.Message).where(m.Message.external_id == f"{CHANNEL}:{post['message_id']}")
        )
        assert original is not None
        signal_row = await s.scalar(select(m.Signal).where(m.Signal.message_id == original.id))
        assert signal_row is not None
        reply = await s.scalar(
            select(m.SignalUpdate)
            .join(m.Message, m.Message.id == m.SignalUpdate.message_id)
            .where(m.Message.text == "TP1 hit")
        )
        edit = await s.scalar(select(m.Message).where(m.Message.original_id == original.id))
        assert reply is not None and reply.signal_id == signal_row.id  # not "the latest"
        assert edit is not None and edit.status == m.MessageStatus.EDIT
        assert await s.scalar(select(func.count()).select_from(m.MessageEdit)) == 1
    assert await rig.count(m.Signal) == 31  # the edit made no second signal


class DiesMidBatch(Intake):
    """Writes the first ``survive`` messages of the poll in its transaction, then fails as
    a dying process would."""

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
        n = self.survive
        await super().store_many(session, channel, messages[:n], meanings[:n])
        raise RuntimeError("the process died here")


async def test_a_crash_mid_batch_loses_and_repeats_nothing(rig: Rig) -> None:
    channel = await rig.channel()
    await rig.follow(channel)
    rig.post_signals(3)
    assert await rig.runner().poll_channel(channel) == 3
    saved = await rig.offset(channel)
    posts = rig.post_signals(POSTS)
    dying = DiesMidBatch(
        rig.container.sessions,
        rig.queue,
        dispatch_task="dispatch",
        update_task="update",
        survive=POSTS // 2,
    )
    c = rig.container
    doomed = PollingRunner(
        c.sessions,
        c.registry,
        c.vault,
        dying,
        owner="doomed",
        clock=rig.clock,
        deps=ChannelDeps(http=c.http, kernel=c.kernel, clock=rig.clock),
    )
    with pytest.raises(RuntimeError, match="died"):
        await doomed.poll_channel(channel)
    # the half written went with the transaction, offset and all; nothing was queued
    assert len(await rig.messages(channel)) == 3
    assert await rig.offset(channel) == saved
    assert len(rig.dispatches()) == 3
    # the next poll reads the same answer again and stores each post once
    assert await rig.runner("next").poll_channel(channel) == POSTS
    stored = await rig.messages(channel)
    assert [s.external_id for s in stored[3:]] == [f"{CHANNEL}:{p['message_id']}" for p in posts]
    assert await rig.count(m.Execution) == POSTS + 3
    dispatched = rig.dispatches()
    assert len(dispatched) == POSTS + 3 and len({args[0] for args in dispatched}) == POSTS + 3


class Lost:
    """A queue that keeps what it was asked to run (and runs nothing)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    async def enqueue(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))


POLL_AND_DIE_MID_BATCH = textwrap.dedent(
    """
    import asyncio, sys
    from signalbridge.bootstrap import build_container
    from signalbridge.channels.fetching import ChannelDeps
    from signalbridge.jobs.polling import PollingRunner
    from signalbridge.services.intake import Intake
    from signalbridge.settings import Settings
    from signalbridge.store import models as m

    class StuckMidBatch(Intake):
        async def store_many(self, session, channel, messages, meanings):
            half = len(messages) // 2
            await super().store_many(session, channel, messages[:half], meanings[:half])
            print("HALF WRITTEN", flush=True)  # in the transaction, not committed
            await asyncio.sleep(3600)

    class Lost:
        async def enqueue(self, name, *args):
            pass

    async def main():
        container = build_container(Settings())
        stuck = StuckMidBatch(container.sessions, Lost(), dispatch_task="d", update_task="u")
        runner = PollingRunner(
            container.sessions, container.registry, container.vault, stuck,
            deps=ChannelDeps(http=container.http, kernel=container.kernel),
        )
        async with container.sessions() as s:
            channel = await s.get_one(m.ChannelSource, int(sys.argv[1]))
        await runner.poll_channel(channel)

    asyncio.run(main())
    """
)


async def test_a_worker_killed_mid_batch_loses_and_repeats_nothing(rig: Rig) -> None:
    channel = await rig.channel()
    await rig.follow(channel)
    rig.post_signals(2)
    assert await rig.runner().poll_channel(channel) == 2
    saved = await rig.offset(channel)
    posts = rig.post_signals(POSTS)
    await run_until_killed(rig.settings, POLL_AND_DIE_MID_BATCH, str(channel.id), "HALF WRITTEN")
    assert len(await rig.messages(channel)) == 2  # the half written died uncommitted
    assert await rig.offset(channel) == saved
    assert len(rig.telegram.pending()) == POSTS  # answered, never confirmed

    rig.clock.now = datetime.now(UTC) + timedelta(seconds=LEASE_SECONDS + 1)  # lease over
    assert await rig.runner("restarted").poll_channel(channel) == POSTS
    assert await rig.runner("restarted").poll_channel(channel) == 0
    stored = await rig.messages(channel)
    assert [s.external_id for s in stored[2:]] == [f"{CHANNEL}:{p['message_id']}" for p in posts]
    assert await rig.count(m.Signal) == await rig.count(m.Execution) == POSTS + 2
    assert rig.telegram.pending() == []


async def test_the_sweeper_finds_a_batch_whose_tasks_were_lost(rig: Rig) -> None:
    channel = await rig.channel()
    await rig.follow(channel)
    rig.post_signals(POSTS)
    assert await rig.runner().poll_channel(channel) == POSTS  # the tasks went nowhere
    queue: Any = Lost()
    assert await sweep(rig.container.sessions, queue, stuck_after=timedelta(0)) == POSTS
    async with rig.container.sessions() as s:
        executions = set((await s.scalars(select(m.Execution.id))).all())
    assert [name for name, _ in queue.calls] == ["signalbridge.run_execution"] * POSTS
    assert {args[0] for _, args in queue.calls} == executions


async def test_on_the_platform_each_polled_signal_is_ordered_once(
    tmp_path: Path, database_url: str, telegram: FakeTelegram
) -> None:
    settings = make_settings(tmp_path, database_url, allowed_hosts=["127.0.0.1"])
    async with running_harness(settings) as h:
        channel = await h.ok(
            "POST",
            "/channels",
            json={
                "name": "tg",
                "type": "telegram_bot",
                "config": {
                    "bot_token": TOKEN,
                    "api_url": telegram.base_url,
                    "long_poll_seconds": 0,
                    "rate_limit": "100000/minute",
                },
            },
        )
        connection = await h.ok(
            "POST",
            "/connections",
            json={
                "name": "paper",
                "type": "paper",
                "config": {"feed": {"volatility": "0"}, "balances": {"USDT": "100000000"}},
            },
        )
        await h.follow(
            channel["id"], connection["id"], sizing={"mode": "fixed_quote", "value": "10"}
        )
        for i in range(POSTS):
            telegram.channel_post(CHANNEL, SIGNAL_TEXT.format(sl=58000 + i))
        runner = polling_runner(h.container)
        async with h.container.sessions() as s:
            row = await s.get_one(m.ChannelSource, channel["id"])
        assert await runner.poll_channel(row) == POSTS

        async def acknowledged() -> bool:
            async with h.container.sessions() as s:
                done = await s.scalar(
                    select(func.count())
                    .select_from(m.Signal)
                    .where(m.Signal.order_acked_at.is_not(None))
                )
            return done == POSTS

        await eventually(acknowledged, timeout=60)
        async with h.container.sessions() as s:
            per_signal = (
                await s.execute(
                    select(m.Execution.signal_id, func.count(m.Execution.id)).group_by(
                        m.Execution.signal_id
                    )
                )
            ).all()
            orders = (
                await s.execute(select(m.Order.execution_id, m.Order.leg, m.Order.client_order_id))
            ).all()
            at_venue = (await s.scalars(select(PaperOrderRow.client_order_id))).all()
            stamps = (
                await s.execute(
                    select(m.Signal.parsed_at, m.Signal.dispatched_at, m.Signal.order_sent_at)
                )
            ).all()
    assert len(per_signal) == POSTS and all(n == 1 for _, n in per_signal)
    entries = [(x, coid) for x, leg, coid in orders if re.fullmatch(r"e[0-9]+", leg)]
    per_execution = Counter(x for x, _ in entries)
    assert len(per_execution) == POSTS and len(set(per_execution.values())) == 1  # alike
    venue = Counter(at_venue)
    assert all(venue[coid] == 1 for _, coid in entries)  # each entry reached the venue once
    assert all(p and d and o and p <= o and d <= o for p, d, o in stamps)


async def test_on_the_platform_a_reply_in_the_same_answer_applies_after_its_signal(
    tmp_path: Path, database_url: str, telegram: FakeTelegram
) -> None:
    """ "close all" answering a post of the same getUpdates answer is applied once that
    post's orders exist (it cancels them), never found "nothing open" before them."""
    settings = make_settings(tmp_path, database_url, allowed_hosts=["127.0.0.1"])
    async with running_harness(settings) as h:
        channel = await h.ok(
            "POST",
            "/channels",
            json={
                "name": "tg",
                "type": "telegram_bot",
                "config": {
                    "bot_token": TOKEN,
                    "api_url": telegram.base_url,
                    "long_poll_seconds": 0,
                    "rate_limit": "100000/minute",
                },
            },
        )
        connection = await h.ok(
            "POST",
            "/connections",
            json={
                "name": "paper",
                "type": "paper",
                "config": {"feed": {"volatility": "0"}, "balances": {"USDT": "100000000"}},
            },
        )
        sizing = {"mode": "fixed_quote", "value": "10"}
        await h.follow(channel["id"], connection["id"], sizing=sizing)
        resting = "BTC/USDT LONG\nEntry 59500-59600\nSL 58000\nTP1 62000"  # rests unfilled
        for _ in range(5):
            post = telegram.channel_post(CHANNEL, resting)
            telegram.channel_post(CHANNEL, "close all", reply_to=post["message_id"])
        runner = polling_runner(h.container)
        async with h.container.sessions() as s:
            row = await s.get_one(m.ChannelSource, channel["id"])
        assert await runner.poll_channel(row) == 10

        async def settled() -> bool:
            async with h.container.sessions() as s:
                waiting = await s.scalar(
                    select(func.count())
                    .select_from(m.SignalUpdate)
                    .where(m.SignalUpdate.status == "received")
                )
            return waiting == 0

        await eventually(settled, timeout=60)
        async with h.container.sessions() as s:
            statuses = (await s.scalars(select(m.SignalUpdate.status))).all()
            entries = (
                await s.execute(select(m.Order.leg, m.Order.status).where(m.Order.leg == "e0"))
            ).all()
    assert statuses == ["applied"] * 5  # none came before its signal's orders
    assert len(entries) == 5 and all(status == m.OrderStatus.CANCELED for _, status in entries)
