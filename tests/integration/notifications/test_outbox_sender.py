"""The outbox sender on SQLite and PostgreSQL: a killed sender loses and repeats nothing
outside the one documented window, two senders never send one row, Telegram's per-chat
pace and a 429's ``retry_after`` are honoured (on a fake clock)."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.fakes.notify_sender import (
    FakeBot,
    FakeTime,
    link_chat,
    make_user,
    outbox,
    store,
)

from signalbridge.integrations.ratelimit import RateLimiter
from signalbridge.notifications.events import Event, EventKind
from signalbridge.notifications.outbox import notify_many
from signalbridge.notifications.sender import OutboxSender, TelegramLimits
from signalbridge.store import models as m

CHATS = (1001, 1002, 1003, -100500)


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    t = FakeTime()
    t.install(monkeypatch)
    return t


def make_sender(c: object, bot: FakeBot, t: FakeTime, owner: str, **kw: float) -> OutboxSender:
    limiter = RateLimiter(sleep=t.sleep, clock=t.time, max_wait=600.0)
    return OutboxSender(
        c.sessions,  # type: ignore[attr-defined]
        bot,
        TelegramLimits(limiter),
        owner=owner,
        clock=lambda: datetime.fromtimestamp(t.now, UTC),
        **kw,  # type: ignore[arg-type]
    )


async def seed(c: object, per_chat: int) -> dict[int, list[str]]:
    """One user per chat, ``per_chat`` notices each; returns the texts by chat."""
    sessions = c.sessions  # type: ignore[attr-defined]
    texts: dict[int, list[str]] = {}
    for n, chat in enumerate(CHATS):
        user = await make_user(sessions, f"user{n}@example.com")
        await link_chat(sessions, user, chat)
        events = [
            (Event(EventKind.ORDER_FILLED, f"order:{n}-{i}", f"chat {chat} notice {i}"), user)
            for i in range(per_chat)
        ]
        async with sessions() as s, s.begin():
            assert await notify_many(s, events) == per_chat
        texts[chat] = [e.text for e, _ in events]
    return texts


async def drain(sender: OutboxSender, t: FakeTime, rounds: int = 200) -> None:
    for _ in range(rounds):
        await sender.run_once()
        rows = await outbox(sender.sessions)
        if all(r.status in (m.NotificationStatus.SENT, m.NotificationStatus.FAILED) for r in rows):
            return
        await t.sleep(0.5)
    raise AssertionError("the outbox did not drain")


@pytest.mark.parametrize("when", ["before", "after"])
async def test_killed_mid_batch_then_restarted(
    tmp_path: Path, database_url: str, fake_time: FakeTime, when: str
) -> None:
    """Killed while row 5's send is open: rows before it were sent once and stay sent;
    the restarted sender (after the lease) sends the rest once each. Row 5 is sent once
    when the kill came before it left, twice when after (at least once, by design)."""
    async with store(tmp_path, database_url) as c:
        texts = await seed(c, per_chat=3)
        bot = FakeBot(fake_time, hold_at=5, hold_when=when)
        first = make_sender(c, bot, fake_time, "first", concurrency=1, lease_seconds=30)
        task = asyncio.create_task(drain(first, fake_time))
        await asyncio.wait_for(bot.held.wait(), 10)
        task.cancel()  # the process dies: no cleanup runs
        with pytest.raises(asyncio.CancelledError):
            await task
        rows = await outbox(c.sessions)
        assert sum(r.status == m.NotificationStatus.SENT for r in rows) == 4
        assert sum(r.status == m.NotificationStatus.SENDING for r in rows) == 1
        in_flight = next(r for r in rows if r.status == m.NotificationStatus.SENDING)
        sent_before = len(bot.sent)

        restarted = make_sender(c, bot, fake_time, "second", lease_seconds=30)
        restarted_bot = bot
        restarted_bot.hold_at = None
        await restarted.run_once()  # the dead sender's lease still holds its row
        assert all(s.text != in_flight.text for s in bot.sent[sent_before:])
        await fake_time.sleep(31)
        await drain(restarted, fake_time)

        rows = await outbox(c.sessions)
        assert {r.status for r in rows} == {m.NotificationStatus.SENT}
        expected = [text for chat_texts in texts.values() for text in chat_texts]
        counts = {text: bot.texts().count(text) for text in expected}
        for text, count in counts.items():
            if text == in_flight.text and when == "after":
                assert count == 2, text  # sent, then killed before "sent" was written
            else:
                assert count == 1, text
        for chat, chat_texts in texts.items():  # each chat's notices in order
            got = [x for x in bot.texts(chat) if x in chat_texts]
            assert sorted(set(got), key=got.index) == chat_texts


async def test_two_senders_never_send_the_same_row(
    tmp_path: Path, database_url: str, fake_time: FakeTime
) -> None:
    async with store(tmp_path, database_url) as c:
        texts = await seed(c, per_chat=8)
        bot = FakeBot(fake_time)
        one = make_sender(c, bot, fake_time, "one")
        two = make_sender(c, bot, fake_time, "two")
        for _ in range(60):
            await asyncio.gather(one.run_once(), two.run_once())
            rows = await outbox(c.sessions)
            if all(r.status == m.NotificationStatus.SENT for r in rows):
                break
            await fake_time.sleep(0.5)
        sent = bot.texts()
        expected = sorted(text for chat_texts in texts.values() for text in chat_texts)
        assert sorted(sent) == expected  # every row once: none lost, none twice


async def test_per_chat_pace_overall_budget_and_retry_after(
    tmp_path: Path, database_url: str, fake_time: FakeTime
) -> None:
    async with store(tmp_path, database_url) as c:
        await seed(c, per_chat=5)
        bot = FakeBot(fake_time, flood={1002: 7.0})
        # Serial (one chat at a time), so each send is timed at its permit: on a fake
        # clock, concurrent sleepers would all wake at the latest instant any slept to.
        sender = make_sender(c, bot, fake_time, "pacer", concurrency=1)
        await drain(sender, fake_time)
        assert len(bot.sent) == 5 * len(CHATS)
        for chat in CHATS:
            times = [s.at for s in bot.sent if s.chat_id == chat]
            gaps = [b - a for a, b in itertools.pairwise(times)]
            assert all(gap >= 1.0 for gap in gaps), (chat, gaps)  # 1 message/s per chat
        # the 429 on chat 1002: nothing more went there before retry_after had passed
        ((refused_chat, refused_at),) = bot.refusals
        after = [s.at for s in bot.sent if s.chat_id == refused_chat and s.at >= refused_at]
        assert after and min(after) >= refused_at + 7.0
        # and the refused notice was not lost, nor sent twice
        rows = await outbox(c.sessions)
        assert {r.status for r in rows} == {m.NotificationStatus.SENT}
        assert len(set(bot.texts(1002))) == len(bot.texts(1002)) == 5
        # the 429 did not count as a failed attempt
        assert all(r.attempts == 1 for r in rows)


async def test_overall_budget_thirty_a_second(
    tmp_path: Path, database_url: str, fake_time: FakeTime
) -> None:
    """Many chats at once: never more than 30 messages in any one-second window."""
    async with store(tmp_path, database_url) as c:
        sessions = c.sessions
        user = await make_user(sessions, "many@example.com")
        for n in range(70):
            await link_chat(sessions, user, 5000 + n, events=[EventKind.ORDER_FILLED.value])
        events = [(Event(EventKind.ORDER_FILLED, "order:1", "one fill"), user)]
        async with sessions() as s, s.begin():
            assert await notify_many(s, events) == 70  # one row per chat
        bot = FakeBot(fake_time)
        # One chat at a time, for the reason given in the test above.
        sender = make_sender(c, bot, fake_time, "bulk", concurrency=1)
        await drain(sender, fake_time)
        times = sorted(s.at for s in bot.sent)
        assert len(times) == 70
        for i, start in enumerate(times):
            assert sum(1 for x in times[i:] if x - start < 1.0) <= 30


async def test_a_held_chat_does_not_starve_the_others(
    tmp_path: Path, database_url: str, fake_time: FakeTime
) -> None:
    """A chat with a long queue waiting out a 429 holds only itself back."""
    async with store(tmp_path, database_url) as c:
        sessions = c.sessions
        busy, quiet = (
            await make_user(sessions, "busy@example.com"),
            await make_user(sessions, "quiet@example.com"),
        )
        await link_chat(sessions, busy, 1)
        await link_chat(sessions, quiet, 2)
        async with sessions() as s, s.begin():
            await notify_many(
                s,
                [
                    (Event(EventKind.ORDER_FILLED, f"order:{i}", f"busy {i}"), busy)
                    for i in range(30)
                ],
            )
            await notify_many(s, [(Event(EventKind.ORDER_FILLED, "order:q", "quiet"), quiet)])
        bot = FakeBot(fake_time, flood={1: 3600.0})
        sender = make_sender(c, bot, fake_time, "fair", batch=10)
        await sender.run_once()  # chat 1 answers 429: its head row waits an hour
        for _ in range(3):
            await sender.run_once()
            await fake_time.sleep(1.0)
        assert bot.texts(2) == ["quiet"]
        assert bot.texts(1) == []  # and nothing of chat 1 overtook its waiting head


async def test_a_chat_that_blocked_the_bot_is_switched_off(
    tmp_path: Path, database_url: str, fake_time: FakeTime
) -> None:
    """A 403 fails that notice, switches the chat off and fails its queue; others go on."""
    async with store(tmp_path, database_url) as c:
        sessions = c.sessions
        gone, here = (
            await make_user(sessions, "gone@example.com"),
            await make_user(sessions, "here@example.com"),
        )
        await link_chat(sessions, gone, 1)
        await link_chat(sessions, here, 2)
        async with sessions() as s, s.begin():
            await notify_many(
                s,
                [
                    (Event(EventKind.ORDER_FILLED, f"order:{i}", f"gone {i}"), gone)
                    for i in range(3)
                ],
            )
            await notify_many(s, [(Event(EventKind.ORDER_FILLED, "order:h", "here"), here)])
        bot = FakeBot(fake_time, blocked={1})
        await drain(make_sender(c, bot, fake_time, "blocked"), fake_time)
        assert bot.texts(2) == ["here"] and bot.texts(1) == []
        assert bot.calls == 2  # one refused send to chat 1, not one per queued notice
        rows = await outbox(sessions)
        assert sorted(r.status for r in rows if r.chat_id == 1) == [m.NotificationStatus.FAILED] * 3
        async with sessions() as s:
            rows_ = await s.scalars(select(m.NotificationChat))
            chats = {row.chat_id: row.is_active for row in rows_}
        assert chats == {1: False, 2: True}
