"""The Bot API client against the fake Telegram on loopback: answers, the error tree at
the boundary (401, 409, 429 with retry_after, 400 with migrate_to_chat_id, 403), updates
kept until an offset confirms them, and the bot token (part of the URL path) never in a
log line or an error text."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Iterator

import pytest
import structlog
from prometheus_client import CollectorRegistry
from tests.fakes.loopback import loopback_http_factory
from tests.fakes.telegram import FakeTelegram

from signalbridge.channels.telegram.client import BotApi
from signalbridge.channels.telegram.errors import (
    BadRequest,
    BotConflict,
    ChatForbidden,
    ChatMigrated,
)
from signalbridge.integrations import redaction
from signalbridge.integrations.breaker import BreakerMetrics, MemoryBreakerStore
from signalbridge.integrations.errors import (
    AuthenticationError,
    IntegrationError,
    RateLimited,
    TransientError,
)
from signalbridge.integrations.http import HttpClientFactory
from signalbridge.integrations.kernel import Kernel
from signalbridge.integrations.logging import configure_logging
from signalbridge.integrations.ratelimit import RateLimiter
from signalbridge.integrations.retry import RetryPolicy

TOKEN = "123456789:AAHcanaryTOKENcanaryTOKENcanary0042"


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram(TOKEN) as server:
        yield server


def kernel(attempts: int = 3) -> Kernel:
    return Kernel(
        breaker_store=MemoryBreakerStore(),
        limiter=RateLimiter(),
        metrics=BreakerMetrics(CollectorRegistry()),
        policies={"channel": RetryPolicy(attempts=attempts, base_backoff=1.0, total_budget=60.0)},
    )


def api(fake: FakeTelegram, token: str = TOKEN, k: Kernel | None = None) -> BotApi:
    k = k or kernel()
    return BotApi(
        token,
        http=loopback_http_factory(),
        guard=k.guard("channel", 1, "telegram_bot"),
        api_url=fake.base_url,
    )


async def test_get_me_and_send_message_answer_the_result(fake: FakeTelegram) -> None:
    bot = api(fake)
    me = await bot.get_me()
    assert me["id"] == 123456789 and me["is_bot"] is True
    fake.chat(-1001, "supergroup")
    sent = await bot.send_message(-1001, "TP1 hit", reply_to_message_id=7)
    assert sent["chat"]["id"] == -1001 and sent["text"] == "TP1 hit"
    (call,) = fake.calls_to("sendMessage")
    assert call.params["reply_parameters"] == {"message_id": 7}
    assert "parse_mode" not in call.params  # None values are left out, not sent as null


async def test_a_wrong_token_is_an_authentication_error(fake: FakeTelegram) -> None:
    other = "987654321:AAHsomeOtherTokenThatTelegramDoesNotKnow"
    with pytest.raises(AuthenticationError) as caught:
        await api(fake, other).get_me()
    assert "401" in caught.value.message and other not in str(caught.value)


async def test_429_is_waited_out_for_retry_after_then_answered(fake: FakeTelegram) -> None:
    fake.fail_next("getUpdates", 429, "Too Many Requests: retry after 1", retry_after=1)
    started = time.monotonic()
    assert await api(fake).get_updates(None) == []
    first, second = fake.calls_to("getUpdates")
    assert second.at - first.at >= 1.0 and time.monotonic() - started >= 1.0


async def test_429_beyond_the_retry_budget_is_raised_with_retry_after(fake: FakeTelegram) -> None:
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 120", retry_after=120)
    fake.chat(-1001, "supergroup")
    with pytest.raises(RateLimited) as caught:
        await api(fake).send_message(-1001, "hello")
    assert caught.value.retry_after == 120
    assert len(fake.calls_to("sendMessage")) == 1  # no second post


async def test_the_fakes_flood_limit_answers_429_per_chat(fake: FakeTelegram) -> None:
    fake.chat(-1001, "supergroup")
    bot = api(fake, k=kernel(attempts=1))  # no retry: the 429 itself is what is looked at
    await bot.send_message(-1001, "one")
    with pytest.raises(RateLimited) as caught:
        await bot.send_message(-1001, "two")
    assert caught.value.retry_after == 1


async def test_400_403_and_migrated_chats_are_told_apart(fake: FakeTelegram) -> None:
    bot = api(fake)
    with pytest.raises(BadRequest) as bad:
        await bot.send_message(-42, "to nowhere")
    assert "chat not found" in bad.value.message
    fake.chat(-5, "group").migrated_to = -1005
    with pytest.raises(ChatMigrated) as migrated:
        await bot.send_message(-5, "hello")
    assert migrated.value.migrate_to_chat_id == -1005
    fake.chat(77, "private").blocked = True
    with pytest.raises(ChatForbidden):
        await bot.send_message(77, "hello")
    with pytest.raises(ValueError):
        await bot.send_message(77, "x" * 4097)


async def test_getupdates_while_a_webhook_is_set_is_a_conflict(fake: FakeTelegram) -> None:
    bot = api(fake)
    assert await bot.set_webhook("https://hooks.example.com/tg", secret_token="s3cr3t_-x")
    info = await bot.get_webhook_info()
    assert info["url"] == "https://hooks.example.com/tg"
    with pytest.raises(BotConflict) as caught:
        await bot.get_updates(None)
    assert "409" in caught.value.message and "webhook is active" in caught.value.message
    assert await bot.delete_webhook()
    assert await bot.get_updates(None) == []
    with pytest.raises(BadRequest):  # Telegram refuses a webhook without HTTPS
        await bot.set_webhook("http://hooks.example.com/tg", secret_token="abc")


async def test_updates_stay_until_an_offset_confirms_them(fake: FakeTelegram) -> None:
    bot = api(fake)
    first = fake.channel_post(-1001, "one")
    fake.channel_post(-1001, "two")
    updates = await bot.get_updates(None)
    assert [u["channel_post"]["text"] for u in updates] == ["one", "two"]
    assert len(await bot.get_updates(None)) == 2  # not confirmed: answered again
    last = updates[-1]["update_id"]
    assert await bot.get_updates(last + 1) == [] and fake.pending() == []
    assert first["message_id"] == 1


async def test_a_long_poll_answers_as_soon_as_an_update_arrives(fake: FakeTelegram) -> None:
    bot = api(fake)

    async def post_later() -> None:
        await asyncio.sleep(0.3)
        fake.channel_post(-1001, "late")

    started = time.monotonic()
    poster = asyncio.create_task(post_later())
    updates = await bot.get_updates(None, long_poll=5)
    await poster
    assert [u["channel_post"]["text"] for u in updates] == ["late"]
    assert time.monotonic() - started < 3


def test_a_token_of_the_wrong_shape_never_reaches_a_url() -> None:
    with pytest.raises(ValueError):
        BotApi("123/../../etc", http=loopback_http_factory(), guard=kernel().guard("c", 1, "t"))


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = configure_logging("DEBUG", json=True, stream=stream)
    yield stream
    logging.getLogger().removeHandler(handler)
    logging.getLogger().setLevel(logging.WARNING)
    structlog.reset_defaults()


async def test_the_token_never_reaches_a_log_line_or_an_error_text(
    fake: FakeTelegram, log_stream: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bot = api(fake)
    await bot.get_me()  # the kernel's debug log of the request names the URL
    fake.fail_next("getMe", 500, f"Internal Server Error at /bot{TOKEN}/getMe")
    fake.fail_next("getMe", 502, "Bad Gateway")
    fake.fail_next("getMe", 503, "Service Unavailable")
    errors: list[IntegrationError] = []
    with pytest.raises(TransientError) as caught:
        await bot.get_me()
    errors.append(caught.value)
    port = fake.port
    fake.stop()  # nothing listens now: a transport error, whose text httpx builds
    dead = BotApi(
        TOKEN,
        http=loopback_http_factory(),
        guard=kernel().guard("channel", 2, "telegram_bot"),
        api_url=f"http://127.0.0.1:{port}",
    )
    with pytest.raises(IntegrationError) as refused:
        await dead.get_me()
    errors.append(refused.value)
    secret_part = TOKEN.split(":", 1)[1]
    texts = [log_stream.getvalue(), caplog.text, *(str(e) for e in errors), repr(bot)]
    assert "/bot****/getMe" in log_stream.getvalue() + caplog.text  # the URL was logged
    for text in texts:
        assert secret_part not in text
    assert redaction.redact_url(f"{fake.base_url}/bot{TOKEN}/getMe").count(secret_part) == 0


async def test_an_api_url_on_loopback_is_refused_unless_the_operator_allows_it(
    fake: FakeTelegram,
) -> None:
    guarded = BotApi(
        TOKEN,
        http=HttpClientFactory(
            registry=CollectorRegistry()
        ),  # no allowed_hosts: the SSRF guard bites
        guard=kernel().guard("channel", 3, "telegram_bot"),
        api_url=fake.base_url,
    )
    with pytest.raises(IntegrationError):
        await guarded.get_me()
    assert fake.calls == []
