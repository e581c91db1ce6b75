"""Telegram bot channels end to end through HTTP and the running platform, against the
fake Bot API: a channel post read by long polling becomes a paper position and its edit
moves the position's stop (``on_edit: apply``); webhook mode
is switched on with a secret sealed in the vault, Telegram's deliveries are checked
(403 without the secret, with a wrong one, or with a body that is not JSON) and a post
delivered that way becomes a paper position too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.fakes.telegram import FakeTelegram
from tests.platform_fixtures import Harness, eventually, make_settings, running_harness

from signalbridge.store import models as m

TOKEN = "777000222:AAGendToEndFakeTelegramBotTokenXYZ"
CHANNEL = -1003000
SIGNAL_TEXT = "BTC/USDT LONG\nEntry 59900-60100\nSL 58000\nTP1 62000\nTP2 64000\nLeverage 10x"
MARKET_POST = "BTC/USDT LONG\nEntry market\nSL 58000\nTP1 62000\nTP2 64000"
HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram(TOKEN) as fake:
        yield fake


async def telegram_channel(h: Harness, fake: FakeTelegram, **config: Any) -> dict[str, Any]:
    body = {
        "name": "telegram",
        "type": "telegram_bot",
        "config": {"bot_token": TOKEN, "api_url": fake.base_url, "long_poll_seconds": 0, **config},
    }
    return dict(await h.ok("POST", "/channels", json=body))


async def positions(h: Harness) -> int:
    async with h.container.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(m.Position)) or 0)


async def test_a_polled_channel_post_becomes_a_paper_position_and_its_edit_moves_the_stop(
    tmp_path: Path, database_url: str, telegram: FakeTelegram
) -> None:
    settings = make_settings(
        tmp_path, database_url, poll_interval_seconds=0.1, allowed_hosts=["127.0.0.1"]
    )
    async with running_harness(settings, scheduler=True) as h:
        bad = await h.api(
            "POST",
            "/channels",
            json={"name": "t", "type": "telegram_bot", "config": {"bot_token": TOKEN, "x": 1}},
        )
        assert bad.status_code == 422 and TOKEN not in bad.text
        channel = await telegram_channel(h, telegram)
        assert channel["secrets"] == {"bot_token": "****" + TOKEN[-4:]}
        assert TOKEN not in json.dumps(channel)
        await h.ok("PATCH", f"/channels/{channel['id']}", json={"on_edit": "apply"})
        await h.follow(channel["id"], await h.paper_connection())
        post = telegram.channel_post(CHANNEL, MARKET_POST)

        async def position() -> m.Position | None:
            async with h.container.sessions() as s:
                return await s.scalar(select(m.Position))

        async def opened() -> bool:
            return await position() is not None

        await eventually(opened, timeout=20)
        first = await position()
        assert first is not None and first.stop_loss == Decimal(58000)
        async with h.container.sessions() as s:
            (message,) = (await s.scalars(select(m.Message))).all()
            assert message.external_id == f"{CHANNEL}:{post['message_id']}"
            signal = await s.scalar(select(m.Signal).where(m.Signal.message_id == message.id))
            assert signal is not None and signal.symbol == "BTC/USDT"
            cursor = await s.scalar(select(m.ChannelCursor))
            assert cursor is not None and cursor.cursor is not None
            assert TOKEN not in cursor.cursor

        # The provider edits the post in Telegram: the next getUpdates brings the edit.
        telegram.edit(CHANNEL, post["message_id"], MARKET_POST.replace("SL 58000", "SL 58500"))

        async def stop_moved() -> bool:
            found = await position()
            return found is not None and found.stop_loss == Decimal(58500)

        await eventually(stop_moved, timeout=20)
        assert await positions(h) == 1
        async with h.container.sessions() as s:
            original, edit = (await s.scalars(select(m.Message).order_by(m.Message.id))).all()
        assert edit.original_id == original.id
        assert edit.external_id.startswith(f"{CHANNEL}:{post['message_id']}/e")


async def test_webhook_mode_checks_telegrams_secret_and_trades_a_delivered_post(
    tmp_path: Path, database_url: str, telegram: FakeTelegram
) -> None:
    settings = make_settings(tmp_path, database_url, allowed_hosts=["127.0.0.1"])
    async with running_harness(settings) as h:
        channel = await telegram_channel(h, telegram)
        cid = channel["id"]
        await h.follow(cid, await h.paper_connection())
        url = f"https://hooks.example.com/webhooks/telegram/{cid}"
        refused = await h.api("POST", f"/channels/{cid}/telegram/webhook", json={"url": "http://x"})
        assert refused.status_code == 422
        switched = await h.ok("POST", f"/channels/{cid}/telegram/webhook", json={"url": url})
        assert switched == {
            "id": cid,
            "mode": "webhook",
            "webhook_url": url,
            "pending_update_count": 0,
        }
        secret = telegram.bot.webhook_secret
        assert secret is not None and len(secret) >= 32
        detail = await h.ok("GET", f"/channels/{cid}")
        assert detail["config"]["mode"] == "webhook"
        assert set(detail["secrets"]) == {"bot_token", "webhook_secret"}
        assert secret not in json.dumps(detail) and TOKEN not in json.dumps(detail)
        audit = await h.ok("GET", "/audit?limit=1000")
        assert secret not in json.dumps(audit) and TOKEN not in json.dumps(audit)

        telegram.channel_post(CHANNEL, SIGNAL_TEXT)
        update = telegram.pending()[-1]
        body, headers = telegram.webhook_delivery(update)
        path = f"/webhooks/telegram/{cid}"
        answers = [
            await h.client.post(path, content=body, headers={"Content-Type": "application/json"}),
            await h.client.post(path, content=body, headers={**headers, HEADER: secret + "x"}),
            await h.client.post(path, content=b"{not json", headers=headers),
            await h.client.post(
                path, content=body, headers={**headers, "Content-Type": "text/plain"}
            ),
            await h.client.post(f"/webhooks/telegram/{cid + 1}", content=body, headers=headers),
            await h.client.post("/webhooks/telegram/abc", content=body, headers=headers),
        ]
        assert [a.status_code for a in answers] == [403] * 6
        assert len({a.text for a in answers}) == 1  # one answer, whatever was wrong
        assert await positions(h) == 0

        taken = await h.client.post(path, content=body, headers=headers)
        assert taken.status_code == 200 and taken.json()["stored"] is True
        again = await h.client.post(path, content=body, headers=headers)
        assert again.status_code == 200 and again.json()["stored"] is False  # Telegram's retry

        async def traded() -> bool:
            return await positions(h) == 1

        await eventually(traded, timeout=20)
        noise = telegram.add_update({"my_chat_member": {"chat": {"id": CHANNEL}}})
        body, _ = telegram.webhook_delivery(noise)
        skipped = await h.client.post(path, content=body, headers=headers)
        assert skipped.status_code == 200 and skipped.json() == {"ok": True, "stored": False}

        hostile = [
            b"[" * 5000 + b"]" * 5000,  # nesting deeper than the JSON reader goes
            b'{"update_id": 1' + b"0" * 5000 + b', "channel_post": {"text": "x"}}',
            json.dumps(
                {
                    "update_id": 9,
                    "channel_post": {"message_id": 1, "chat": {"id": 1}, "text": "\u0000\u0000"},
                }
            ).encode(),
            json.dumps({"update_id": "9", "message": []}).encode(),
            json.dumps({"update_id": 2**70, "channel_post": {}}).encode(),
            b'{"update_id": NaN}',
            b"\xff\xfe not utf-8",
        ]
        for junk in hostile:
            answer = await h.client.post(path, content=junk, headers=headers)
            assert answer.status_code in (200, 403), (junk[:40], answer.text)
        huge = await h.client.post(path, content=b" " * 70_000 + b"{}", headers=headers)
        assert huge.status_code == 413
        assert await positions(h) == 1

        back = await h.ok("DELETE", f"/channels/{cid}/telegram/webhook")
        assert back["mode"] == "polling" and telegram.bot.webhook_url == ""
        stale = await h.client.post(path, content=body, headers=headers)
        assert stale.status_code == 403  # the old secret is gone with the webhook


async def test_a_refused_setwebhook_changes_nothing(
    tmp_path: Path, database_url: str, telegram: FakeTelegram
) -> None:
    settings = make_settings(tmp_path, database_url, allowed_hosts=["127.0.0.1"])
    async with running_harness(settings) as h:
        channel = await telegram_channel(h, telegram)
        url = "https://hooks.example.com:9999/tg"  # a port Telegram refuses
        answer = await h.api(
            "POST", f"/channels/{channel['id']}/telegram/webhook", json={"url": url}
        )
        assert answer.status_code == 424, answer.text
        assert "ports" in answer.json()["error"]["message"]
        assert TOKEN not in answer.text
        detail = await h.ok("GET", f"/channels/{channel['id']}")
        assert detail["config"]["mode"] == "polling" and set(detail["secrets"]) == {"bot_token"}
