"""The notification bot through TGBOT's real Bot API client against the loopback fake
Telegram: a ``/start CODE`` update links its chat (offset saved, never handled twice),
notices reach the chat, and a 429's ``retry_after`` is waited out, the notice sent once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import select
from tests.fakes.loopback import loopback_http_factory
from tests.fakes.notify_sender import make_user, outbox, store
from tests.fakes.telegram import FakeTelegram

from signalbridge.channels.telegram.client import BotApi
from signalbridge.integrations.breaker import BreakerMetrics, MemoryBreakerStore
from signalbridge.integrations.kernel import Kernel
from signalbridge.integrations.ratelimit import RateLimiter
from signalbridge.notifications.bot import LINKED
from signalbridge.notifications.events import Event, EventKind
from signalbridge.notifications.linking import issue_code
from signalbridge.notifications.outbox import notify
from signalbridge.notifications.runner import NotificationRunner
from signalbridge.notifications.sender import TelegramLimits
from signalbridge.store import models as m
from signalbridge.store.types import utcnow

TOKEN = "987654321:AAHnotifyTOKENnotifyTOKENnotify0042"
CHAT = 777001


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram(TOKEN) as server:
        yield server


def runner(sessions: object, fake: FakeTelegram, owner: str) -> NotificationRunner:
    kernel = Kernel(
        breaker_store=MemoryBreakerStore(),
        limiter=RateLimiter(),
        metrics=BreakerMetrics(CollectorRegistry()),
    )
    api = BotApi(
        TOKEN,
        http=loopback_http_factory(),
        guard=kernel.guard("notify", 0, "telegram"),
        api_url=fake.base_url,
    )
    return NotificationRunner(
        sessions,  # type: ignore[arg-type]
        api,
        TelegramLimits(kernel.limiter),
        owner=owner,
    )


async def test_link_then_notify_through_the_bot_api(
    tmp_path: Path, database_url: str, fake: FakeTelegram
) -> None:
    async with store(tmp_path, database_url) as c:
        alice = await make_user(c.sessions, "alice@example.com")
        async with c.sessions() as s, s.begin():
            code = (await issue_code(s, alice, utcnow())).code
        chat = fake.chat(CHAT, "private", title="Alice")
        fake.add_update(
            {"message": {"message_id": 1, "date": 1, "chat": chat.json(), "text": f"/start {code}"}}
        )
        first = runner(c.sessions, fake, "runner-1")
        await first.run_once()
        assert [msg["text"] for msg in fake.bot.sent] == [LINKED]
        async with c.sessions() as s:
            linked = await s.scalar(select(m.NotificationChat))
            state = await s.scalar(select(m.NotificationBotState))
        assert linked is not None and linked.user_id == alice and linked.chat_id == CHAT
        assert state is not None and state.update_offset is not None and state.lease_owner is None

        # a restarted runner confirms the update and does not handle it again
        second = runner(c.sessions, fake, "runner-2")
        assert await second.read_updates() == 0
        assert fake.pending() == []

        # a notice, a 429 on its first send: sent once, not before retry_after
        async with c.sessions() as s, s.begin():
            event = Event(EventKind.ORDER_FILLED, "order:1:filled", "Order #1 filled")
            assert await notify(s, event, alice) == 1
        fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 2", retry_after=2)
        started = time.monotonic()
        deadline = started + 20
        while time.monotonic() < deadline:
            await second.run_once()
            if [r.status for r in await outbox(c.sessions)] == ["sent"]:
                break
            await asyncio.sleep(0.1)
        texts = [msg["text"] for msg in fake.bot.sent]
        assert texts == [LINKED, "Order #1 filled"]
        assert time.monotonic() - started >= 2.0
