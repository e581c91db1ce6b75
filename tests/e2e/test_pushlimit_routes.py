"""Push limits on the webhook routes, over HTTP on the running platform.

A webhook channel (``POST /webhooks/channels/{id}``) and a Telegram bot in webhook mode
(``POST /webhooks/telegram/{id}``, driven like Telegram with the fake Bot API) take
deliveries within their inbound rate; past it they answer 429 with ``Retry-After`` and
store nothing, and the sender's retry after that wait is taken: nothing is lost. A
message over ``max_message_chars`` is refused, never cut: stored once as a rejected
message whose error gives the reason (none of its text kept), the refusal in the
channel's health; a retry of it is a duplicate.

Time for the limiter is moved forward by the ``Retry-After`` the route gave (the wait a
sender makes), never slept; no test here measures time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.fakes.telegram import FakeTelegram
from tests.platform_fixtures import SIGNAL, Harness, make_settings, running_harness

from signalbridge.channels.inbound_limits import NOTICE
from signalbridge.store import models as m

TOKEN = "777000333:AAGpushLimitsFakeTelegramBotTokenXYZ"
CHAT = -1003001
SIGNAL_TEXT = "BTC/USDT LONG\nEntry 59900-60100\nSL 58000\nTP1 62000\nTP2 64000"
HEADER = "X-Telegram-Bot-Api-Secret-Token"


class Later:
    """The limiter's clock, moved forward as a waiting sender's would be."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def wait(self, retry_after: str) -> None:
        self.offset += int(retry_after)


@pytest.fixture
def later(monkeypatch: pytest.MonkeyPatch) -> Later:
    clock = Later()
    # The in-memory budgets (limits' moving window) read time.time in these two modules.
    monkeypatch.setattr("limits.aio.storage.memory.time", clock)
    monkeypatch.setattr("limits.aio.strategies.time", clock)
    return clock


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram(TOKEN) as fake:
        yield fake


async def messages(h: Harness, channel_id: int) -> list[m.Message]:
    async with h.container.sessions() as s:
        query = select(m.Message).where(m.Message.channel_id == channel_id).order_by(m.Message.id)
        return list((await s.scalars(query)).all())


async def count(h: Harness, model: Any) -> int:
    async with h.container.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def webhook(h: Harness, **limits: Any) -> tuple[int, str]:
    body = await h.ok("POST", "/channels", json={"name": "hook", "type": "webhook", **limits})
    return int(body["id"]), str(body["generated_secrets"]["secret"])


def signal(n: int) -> dict[str, Any]:
    return {**SIGNAL, "stop_loss": str(58000 + n)}


# --- webhook channels -----------------------------------------------------------------------


async def test_a_webhook_over_its_rate_answers_429_and_the_senders_retry_is_taken(
    tmp_path: Path, database_url: str, later: Later
) -> None:
    async with running_harness(make_settings(tmp_path, database_url)) as h:
        channel_id, secret = await webhook(h, inbound_rate_limit="2/minute")
        for n in (1, 2):
            taken = await h.post_signal(channel_id, secret, signal(n), delivery=f"d{n}")
            assert taken.status_code == 202, taken.text
        over = await h.post_signal(channel_id, secret, signal(3), delivery="d3")
        assert over.status_code == 429, over.text
        assert 1 <= int(over.headers["Retry-After"]) <= 60
        error = over.json()["error"]
        assert error["code"] == "over_rate" and "2/minute" in error["message"]
        assert [row.external_id for row in await messages(h, channel_id)] == ["d1", "d2"]
        health = await h.ok("GET", f"/channels/{channel_id}/health")
        assert health["refused_count"] == 1
        assert "inbound rate (2/minute)" in health["last_refusal"]

        later.wait(over.headers["Retry-After"])  # the sender waits, then sends it again
        retried = await h.post_signal(channel_id, secret, signal(3), delivery="d3")
        assert retried.status_code == 202, retried.text
        assert retried.json()["signal_id"] is not None
        stored = await messages(h, channel_id)
        assert [row.external_id for row in stored] == ["d1", "d2", "d3"]
        assert await count(h, m.Signal) == 3  # nothing lost, nothing twice


async def test_an_oversize_webhook_message_is_refused_with_its_reason_and_stored_once(
    tmp_path: Path, database_url: str
) -> None:
    async with running_harness(make_settings(tmp_path, database_url)) as h:
        channel_id, secret = await webhook(h, max_message_chars=400)
        big = {**SIGNAL, "comment": "x" * 600}  # a whole signal, in a text over the limit
        answers = [
            await h.post_signal(channel_id, secret, big, delivery="long-1") for _ in range(2)
        ]
        assert [a.status_code for a in answers] == [422, 422], answers[0].text
        first, again = (a.json()["error"] for a in answers)
        assert first["code"] == again["code"] == "message_too_long"
        assert "max_message_chars (400)" in first["message"] and "not read" in first["message"]
        details = first["details"]
        assert details["status"] == "rejected" and details["signal_id"] is None
        assert details["duplicate"] is False and again["details"]["duplicate"] is True
        assert again["details"]["message_id"] == details["message_id"]
        (row,) = await messages(h, channel_id)
        assert row.id == details["message_id"] and row.status == m.MessageStatus.REJECTED
        assert row.text == NOTICE and "x" * 50 not in row.text  # none of it kept, nothing cut
        assert row.error is not None and "max_message_chars (400)" in row.error
        assert await count(h, m.Signal) == 0
        health = await h.ok("GET", f"/channels/{channel_id}/health")
        assert health["refused_count"] >= 1
        assert "max_message_chars (400)" in health["last_refusal"]
        fits = await h.post_signal(channel_id, secret, SIGNAL, delivery="short")
        assert fits.status_code == 202 and fits.json()["signal_id"] is not None, fits.text


# --- Telegram's webhook ---------------------------------------------------------------------


async def test_telegram_webhook_deliveries_within_the_bots_limits(
    tmp_path: Path, database_url: str, telegram: FakeTelegram, later: Later
) -> None:
    settings = make_settings(tmp_path, database_url, allowed_hosts=["127.0.0.1"])
    async with running_harness(settings) as h:
        config = {
            "bot_token": TOKEN,
            "api_url": telegram.base_url,
            "long_poll_seconds": 0,
            "rate_limit": "2/minute",
            "max_message_chars": 100,
        }
        channel = await h.ok(
            "POST", "/channels", json={"name": "tg", "type": "telegram_bot", "config": config}
        )
        cid = int(channel["id"])
        url = f"https://hooks.example.com/webhooks/telegram/{cid}"
        await h.ok("POST", f"/channels/{cid}/telegram/webhook", json={"url": url})
        path = f"/webhooks/telegram/{cid}"

        def deliver(text: str) -> tuple[dict[str, Any], Any]:
            post = telegram.channel_post(CHAT, text)
            body, headers = telegram.webhook_delivery(telegram.pending()[-1])
            return post, (body, headers)

        long_post, long_delivery = deliver(SIGNAL_TEXT + "\nNotes " + "y" * 200)
        refused = await h.client.post(path, content=long_delivery[0], headers=long_delivery[1])
        assert refused.status_code == 200, refused.text  # else Telegram sends it again
        answer = refused.json()
        assert answer["stored"] is True and answer["status"] == "rejected"
        assert "max_message_chars (100)" in answer["error"] and answer["signal_id"] is None

        second_post, second = deliver(SIGNAL_TEXT)
        taken = await h.client.post(path, content=second[0], headers=second[1])
        assert taken.status_code == 200 and taken.json()["stored"] is True, taken.text

        third_post, third = deliver(SIGNAL_TEXT.replace("SL 58000", "SL 58100"))
        over = await h.client.post(path, content=third[0], headers=third[1])
        assert over.status_code == 429, over.text
        assert 1 <= int(over.headers["Retry-After"]) <= 60
        assert over.json()["error"]["code"] == "over_rate"
        assert len(await messages(h, cid)) == 2  # the refused delivery stored nothing

        later.wait(over.headers["Retry-After"])  # Telegram sends it again later
        resent = await h.client.post(path, content=third[0], headers=third[1])
        assert resent.status_code == 200 and resent.json()["stored"] is True, resent.text
        repeat = await h.client.post(path, content=long_delivery[0], headers=long_delivery[1])
        assert repeat.status_code == 200 and repeat.json()["stored"] is False  # stored once

        stored = await messages(h, cid)
        assert [row.external_id for row in stored] == [
            f"{CHAT}:{long_post['message_id']}",
            f"{CHAT}:{second_post['message_id']}",
            f"{CHAT}:{third_post['message_id']}",
        ]
        assert stored[0].text == NOTICE and stored[0].status == m.MessageStatus.REJECTED
        assert stored[0].error is not None and "max_message_chars (100)" in stored[0].error
        assert all("y" * 20 not in row.text for row in stored)
        health = await h.ok("GET", f"/channels/{cid}/health")
        assert health["refused_count"] >= 2  # the oversize post and the rate refusal


async def test_both_webhook_routes_document_429_with_retry_after(
    tmp_path: Path, database_url: str
) -> None:
    async with running_harness(make_settings(tmp_path, database_url)) as h:
        spec = (await h.client.get("/openapi.json")).json()
    for path in ("/webhooks/channels/{channel_id}", "/webhooks/telegram/{channel_id}"):
        answers = spec["paths"][path]["post"]["responses"]
        assert "Retry-After" in answers["429"]["headers"], path
        assert "inbound rate" in answers["429"]["description"], path
    hook = spec["paths"]["/webhooks/channels/{channel_id}"]["post"]["responses"]
    assert "message_too_long" in hook["422"]["description"]
