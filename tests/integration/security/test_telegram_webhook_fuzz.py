"""Arbitrary JSON (and Telegram-shaped updates with arbitrary contents) POSTed to a
Telegram bot channel's webhook with the right secret token: never a 5xx. A JSON object
answers 200 (stored or not), anything else 403; every stored message is one the intake
could read back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from tests.fakes.telegram import FakeTelegram
from tests.platform_fixtures import Harness, make_settings, running_harness

from signalbridge.store import models as m

TOKEN = "314159265:AAHfuzzingTheTelegramWebhookRoute000"
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)
UPDATES = st.builds(
    lambda uid, kind, chat, mid, text, date, extra: {
        "update_id": uid,
        kind: {"message_id": mid, "date": date, "chat": chat, "text": text, **extra},
    },
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from(["message", "channel_post", "edited_message", "edited_channel_post"]),
    st.fixed_dictionaries({"id": st.integers(min_value=-(2**70), max_value=2**70)}) | JSON_VALUES,
    st.integers(min_value=-(2**70), max_value=2**70) | JSON_VALUES,
    st.text(max_size=300) | JSON_VALUES,
    st.integers() | JSON_VALUES,
    st.dictionaries(st.sampled_from(["caption", "reply_to_message", "edit_date"]), JSON_VALUES),
)


class Running:
    """The platform with a webhook-mode telegram_bot channel, driven synchronously."""

    def __init__(self, tmp_path: Path, database_url: str, fake: FakeTelegram) -> None:
        self.runner = asyncio.Runner()
        settings = make_settings(tmp_path, database_url, allowed_hosts=["127.0.0.1"])
        self.context = running_harness(settings)
        self.h: Harness = self.runner.run(self.context.__aenter__())
        self.channel_id = self.runner.run(self._channel(fake))
        assert fake.bot.webhook_secret is not None
        self.secret = fake.bot.webhook_secret

    async def _channel(self, fake: FakeTelegram) -> int:
        config = {"bot_token": TOKEN, "api_url": fake.base_url}
        body = {"name": "tg", "type": "telegram_bot", "config": config}
        channel_id = int((await self.h.ok("POST", "/channels", json=body))["id"])
        url = f"https://hooks.example.com/webhooks/telegram/{channel_id}"
        await self.h.ok("POST", f"/channels/{channel_id}/telegram/webhook", json={"url": url})
        return channel_id

    def post(self, body: bytes) -> Any:
        headers = {
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": self.secret,
        }
        path = f"/webhooks/telegram/{self.channel_id}"
        return self.runner.run(self.h.client.post(path, content=body, headers=headers))

    def close(self) -> None:
        try:
            self.runner.run(self.context.__aexit__(None, None, None))
        finally:
            self.runner.close()


@pytest.fixture
def running(tmp_path: Path, database_url: str) -> Iterator[Running]:
    with FakeTelegram(TOKEN) as fake:
        platform = Running(tmp_path, database_url, fake)
        try:
            yield platform
        finally:
            platform.close()


@settings(max_examples=80, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(payload=UPDATES | JSON_VALUES)
def send(running: Running, payload: Any) -> None:
    response = running.post(json.dumps(payload).encode())
    expected = 200 if isinstance(payload, dict) else 403
    assert response.status_code == expected, (payload, response.text)


def test_arbitrary_updates_to_the_telegram_webhook_are_never_a_5xx(running: Running) -> None:
    send(running)

    async def stored() -> list[m.Message]:
        async with running.h.container.sessions() as s:
            return list((await s.scalars(select(m.Message))).all())

    for message in running.runner.run(stored()):
        assert message.text.strip() and "\x00" not in message.text
        assert message.channel_id == running.channel_id
