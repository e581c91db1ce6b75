"""With ``notify_bot_token`` set, the scheduler runs the notification bot: a chat linked
by ``/start CODE`` through the (fake) Telegram Bot API is told of a signal published on
its owner's channel. Without the setting nothing reads the bot."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.fakes.telegram import FakeTelegram
from tests.platform_fixtures import SIGNAL, eventually, make_settings, running_harness

from signalbridge.jobs.runtime import notification_runner
from signalbridge.notifications.bot import LINKED

TOKEN = "987654321:AAHserveTOKENserveTOKENserveTOKEN42"
CHAT = 880001


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram(TOKEN) as server:
        yield server


async def test_the_scheduler_links_and_notifies(
    tmp_path: Path, database_url: str, fake: FakeTelegram
) -> None:
    settings = make_settings(
        tmp_path,
        database_url,
        notify_bot_token=TOKEN,
        notify_bot_api_url=fake.base_url,
        notify_seconds=0.1,
        allowed_hosts=["127.0.0.1"],
    )
    async with running_harness(settings, scheduler=True) as h:
        r = await h.client.post("/api/v1/notifications/link-code", headers=h.auth)
        assert r.status_code == 201, r.text
        chat = fake.chat(CHAT, "private", title="Admin")
        text = f"/start {r.json()['code']}"
        fake.add_update(
            {"message": {"message_id": 1, "date": 1, "chat": chat.json(), "text": text}}
        )

        async def linked() -> bool:
            return [msg["text"] for msg in fake.bot.sent] == [LINKED]

        await eventually(linked, timeout=20)
        channel_id, secret = await h.webhook_channel()
        assert (await h.post_signal(channel_id, secret, SIGNAL)).status_code == 202

        async def told() -> bool:
            return len(fake.bot.sent) == 2

        await eventually(told, timeout=20)
        notice = fake.bot.sent[1]
        assert notice["chat"]["id"] == CHAT and "BTC/USDT" in notice["text"]
        assert TOKEN not in notice["text"]


async def test_no_token_no_bot(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    async with running_harness(settings) as h:
        assert notification_runner(h.container) is None
