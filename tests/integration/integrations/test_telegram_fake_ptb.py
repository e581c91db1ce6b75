"""python-telegram-bot reads the fake Bot API: where the SDK can parse an answer, it does.

PTB's ``Bot`` is pointed at the fake on loopback (``base_url=<fake>/bot``, as
integrations.md section 4 says) and every answer must come out as PTB's own objects
(``User``, ``Update``, ``Message``, ``WebhookInfo``) with no field PTB does not know
(``api_kwargs`` empty: a field the fake made up shows there), and every error as PTB's own
exception (``InvalidToken``, ``Conflict``, ``RetryAfter``, ``ChatMigrated``, ...). PTB sends
its parameters as a form with JSON-encoded values, unlike our own client, so the fake's
parameter reading is checked too. Where PTB and the fake disagree, the fake is fixed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, timedelta
from typing import Any

import pytest
from telegram import Bot, Message, PhotoSize, TelegramObject, Update, User, WebhookInfo
from telegram.constants import ChatType
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    RetryAfter,
)
from tests.fakes.telegram import FakeTelegram

TOKEN = "123456789:AAHptbPTBptbPTBptbPTBptbPTBptb00042"
CHANNEL = -1001234567890
GROUP = -1009876543210
EVERY_KIND = ["channel_post", "edited_channel_post", "message", "edited_message"]


@pytest.fixture(autouse=True)
def timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    """PTB 22's coming type for ``retry_after`` (a timedelta), without its deprecation
    warning for the int it returns today."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram(TOKEN) as server:
        yield server


def ptb(fake: FakeTelegram, token: str = TOKEN) -> Bot:
    return Bot(token, base_url=f"{fake.base_url}/bot")


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with ptb(fake) as b:  # initialize() reads getMe
        yield b


def unknown_fields(obj: Any, where: str = "") -> list[str]:
    """Fields of the answer that PTB does not model, anywhere in the object tree."""
    found: list[str] = []
    if isinstance(obj, TelegramObject):
        name = where or type(obj).__name__
        found += [f"{name}.{key}" for key in obj.api_kwargs]
        for key, value in obj.to_dict(recursive=False).items():  # nested objects kept
            found += unknown_fields(value, f"{name}.{key}")
    elif isinstance(obj, list | tuple):
        for n, value in enumerate(obj):
            found += unknown_fields(value, f"{where}[{n}]")
    return found


async def test_get_me_is_a_ptb_user_with_the_bots_capabilities(bot: Bot) -> None:
    me = await bot.get_me()
    assert isinstance(me, User) and unknown_fields(me) == []
    assert (me.id, me.is_bot, me.username) == (123456789, True, "signal_bot")
    assert me.can_join_groups is True and me.can_read_all_group_messages is False
    assert me.supports_inline_queries is False
    assert bot.username == "signal_bot" and bot.id == 123456789  # what initialize() read


async def test_posts_edits_captions_and_replies_are_ptb_updates(
    fake: FakeTelegram, bot: Bot
) -> None:
    post = fake.channel_post(CHANNEL, "BTC/USDT LONG\nEntry 60000\nSL 58000")
    fake.channel_post(CHANNEL, caption="ETH chart: long 3000")
    fake.channel_post(CHANNEL, "TP1 hit", reply_to=post["message_id"])
    fake.edit(CHANNEL, post["message_id"], "BTC/USDT LONG\nEntry 60000\nSL 59000")
    asked = fake.group_message(GROUP, "SOL long 150")
    fake.edit(GROUP, asked["message_id"], "SOL long 151")

    updates = await bot.get_updates(timeout=0, allowed_updates=EVERY_KIND)
    assert all(isinstance(u, Update) for u in updates)
    assert [unknown_fields(u) for u in updates] == [[]] * 6
    assert fake.bot.allowed_updates == tuple(EVERY_KIND)  # read from PTB's JSON string
    text, photo, reply, edit, group, group_edit = updates
    assert [u.update_id for u in updates] == list(range(100_000, 100_006))

    assert text.channel_post is not None and text.effective_chat is not None
    assert text.effective_chat.type == ChatType.CHANNEL and text.effective_chat.id == CHANNEL
    assert text.channel_post.sender_chat is not None
    assert text.channel_post.sender_chat.id == CHANNEL and text.channel_post.from_user is None
    assert text.channel_post.text == "BTC/USDT LONG\nEntry 60000\nSL 58000"
    assert text.channel_post.date.tzinfo is not None

    assert photo.channel_post is not None and photo.channel_post.text is None
    assert photo.channel_post.caption == "ETH chart: long 3000"
    assert photo.channel_post.photo and isinstance(photo.channel_post.photo[-1], PhotoSize)

    assert reply.channel_post is not None and reply.channel_post.reply_to_message is not None
    assert reply.channel_post.reply_to_message.message_id == post["message_id"]

    assert edit.channel_post is None and edit.edited_channel_post is not None
    edited = edit.edited_channel_post
    assert edited.message_id == post["message_id"] and edited.text.endswith("SL 59000")
    assert edited.edit_date is not None and edited.edit_date > edited.date
    assert edit.effective_message is edited

    assert group.message is not None and group.message.from_user is not None
    assert group.message.chat.type == ChatType.SUPERGROUP
    assert group.message.from_user.is_bot is False
    assert group_edit.edited_message is not None
    assert group_edit.edited_message.text == "SOL long 151"

    # The next call's offset confirms them: they are gone, on the fake and for PTB.
    assert await bot.get_updates(offset=group_edit.update_id + 1, timeout=0) == ()
    assert fake.pending() == []


async def test_a_long_poll_answers_when_a_post_arrives(fake: FakeTelegram, bot: Bot) -> None:
    asyncio.get_running_loop().call_later(0.3, fake.channel_post, CHANNEL, "late post")
    started = time.monotonic()
    (update,) = await bot.get_updates(timeout=10)
    assert time.monotonic() - started < 5
    assert update.channel_post is not None and update.channel_post.text == "late post"


async def test_webhook_info_and_a_delivery_are_ptb_objects(fake: FakeTelegram, bot: Bot) -> None:
    fake.channel_post(CHANNEL, "waiting")
    info = await bot.get_webhook_info()
    assert isinstance(info, WebhookInfo) and unknown_fields(info) == []
    assert (info.url, info.pending_update_count, info.has_custom_certificate) == ("", 1, False)

    assert await bot.set_webhook(
        "https://bridge.example.com/telegram/hook",
        secret_token="s3cret_TOKEN-1",
        allowed_updates=["channel_post", "edited_channel_post"],
        max_connections=5,
        drop_pending_updates=True,
    )
    info = await bot.get_webhook_info()
    assert unknown_fields(info) == []
    assert info.url == "https://bridge.example.com/telegram/hook"
    assert info.max_connections == 5 and info.pending_update_count == 0
    assert info.allowed_updates == ("channel_post", "edited_channel_post")

    # What Telegram POSTs to that webhook is an Update PTB reads, with the secret header.
    fake.channel_post(CHANNEL, "via webhook")
    body, headers = fake.webhook_delivery(fake.pending()[-1])
    assert headers["X-Telegram-Bot-Api-Secret-Token"] == "s3cret_TOKEN-1"
    delivered = Update.de_json(json.loads(body), bot)
    assert unknown_fields(delivered) == [] and delivered.channel_post is not None
    assert delivered.channel_post.text == "via webhook"

    assert await bot.delete_webhook()
    assert (await bot.get_webhook_info()).url == ""


async def test_send_message_answers_the_sent_message(fake: FakeTelegram, bot: Bot) -> None:
    fake.chat(5150, "private", title="Ann")
    sent = await bot.send_message(5150, "BTC long filled at 60000")
    assert isinstance(sent, Message) and unknown_fields(sent) == []
    assert sent.text == "BTC long filled at 60000" and sent.chat.type == ChatType.PRIVATE
    assert sent.chat.id == 5150 and sent.chat.first_name == "Ann"
    assert sent.from_user is not None and sent.from_user.id == bot.id
    assert sent.from_user.is_bot and sent.date.tzinfo == UTC
    assert fake.bot.sent[-1]["message_id"] == sent.message_id
    assert fake.calls_to("sendMessage")[-1].params == {
        "chat_id": "5150",
        "text": "BTC long filled at 60000",
    }


async def test_an_unknown_token_is_ptbs_invalid_token(fake: FakeTelegram) -> None:
    stranger = ptb(fake, "987654321:AAHnotTHEtokenNOTtheTOKENnotTHEtok")
    with pytest.raises(InvalidToken):
        await stranger.get_me()
    with pytest.raises(InvalidToken, match="rejected by the server"):
        await stranger.initialize()


async def test_polling_beside_a_webhook_is_ptbs_conflict(fake: FakeTelegram, bot: Bot) -> None:
    await bot.set_webhook("https://bridge.example.com/telegram/hook")
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates(timeout=0)


async def test_a_second_poller_ends_the_first_with_ptbs_conflict(
    fake: FakeTelegram, bot: Bot
) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.3)  # the first poll is waiting on the fake
    async with ptb(fake) as second:
        assert await second.get_updates(timeout=0) == ()
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await first


async def test_flood_limits_are_ptbs_retry_after_with_its_delay(
    fake: FakeTelegram, bot: Bot
) -> None:
    fake.chat(5150, "private")
    await bot.send_message(5150, "one")
    with pytest.raises(RetryAfter) as flood:
        await bot.send_message(5150, "two")  # 1 message/s per chat
    assert flood.value.retry_after == timedelta(seconds=1)

    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    with pytest.raises(RetryAfter) as injected:
        await bot.send_message(5150, "three")
    assert injected.value.retry_after == timedelta(seconds=7)


async def test_a_migrated_group_is_ptbs_chat_migrated(fake: FakeTelegram, bot: Bot) -> None:
    fake.chat(-4242, "group", migrated_to=GROUP)
    with pytest.raises(ChatMigrated) as moved:
        await bot.send_message(-4242, "hello group")
    assert moved.value.new_chat_id == GROUP
    assert fake.bot.sent == []


async def test_an_unknown_chat_and_a_blocked_user_are_ptbs_errors(
    fake: FakeTelegram, bot: Bot
) -> None:
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(31337, "anyone there?")
    fake.chat(5151, "private", blocked=True)
    with pytest.raises(Forbidden, match="blocked by the user"):
        await bot.send_message(5151, "hello")
    with pytest.raises(BadRequest, match="too long"):
        await bot.send_message(5151, "x" * 4097)
