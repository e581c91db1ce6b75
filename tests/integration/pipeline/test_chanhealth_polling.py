"""Channel health, probes and inbound limits against the fake feed/web server and the fake
Bot API, through the polling runner and a real database (SQLite and PostgreSQL):

- after each poll the health shows last synced, the newest item's own date and the lag
  measured from it (RSS, Telegram) or from the last sync (a web page), and the last
  error, redacted; failed polls back off (none after the first, then 30 s, ...), the
  runner skips a source backing off without a request, and a success clears it;
- a message over ``max_message_chars`` is stored as a rejected message whose error says
  why, is counted in the health, and the rest of the poll is stored as usual;
- the connection test calls the source for every polled kind (RSS conditional GET, the
  web page's selectors, the bot's ``getMe``/``getWebhookInfo``) and says what is wrong;
- push deliveries over the channel's rate are refused with the wait and recorded, and
  one over the size cap is stored as a rejected message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests.fakes.feed_server import FeedServer, Post
from tests.fakes.flaky_server import Reply
from tests.fakes.telegram import FakeTelegram
from tests.fakes.telethon_source import FakeAccount
from tests.polling_rig import PollingRig, migrated

from signalbridge.channels.base import InboundMessage
from signalbridge.channels.fetching import ChannelDeps
from signalbridge.channels.telegram_bot import bot_api
from signalbridge.channels.telegram_user import TelegramUserChannel
from signalbridge.integrations.errors import AuthenticationError, InvalidRequest
from signalbridge.jobs.polling import PollingRunner
from signalbridge.services.channel_health import (
    LAST_SYNCED,
    PROVIDER_TIME,
    ChannelHealthBook,
    channel_health,
)
from signalbridge.services.channel_probe import ChannelProber, prober_from_pool
from signalbridge.services.inbound_limits import OverRate, PushLimits
from signalbridge.services.intake import Intake
from signalbridge.store import models as m

TOKEN = "555000111:AAFtelegramFakeBotTokenForHealthTests"
CHANNEL = -1001500
SIGNAL_TEXT = "BTC/USDT LONG\nEntry 59900-60100\nSL 58000\nTP1 62000\nTP2 64000\nLeverage 10x"


@pytest.fixture
def site() -> Iterator[FeedServer]:
    server = FeedServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram(TOKEN) as fake:
        yield fake


@dataclass(kw_only=True)
class Rig(PollingRig):
    site: FeedServer
    telegram: FakeTelegram

    def book(self) -> ChannelHealthBook:
        return ChannelHealthBook(self.container.sessions, clock=self.clock)

    def health_runner(self, owner: str = "runner") -> PollingRunner:
        c = self.container
        intake = Intake(c.sessions, self.queue, dispatch_task="dispatch", update_task="update")
        return PollingRunner(
            c.sessions,
            c.registry,
            c.vault,
            intake,
            owner=owner,
            clock=self.clock,
            deps=ChannelDeps(http=c.http, kernel=c.kernel, clock=self.clock),
            health=c.kernel,
            poll_health=self.book(),
        )

    def prober(self) -> ChannelProber:
        c = self.container
        deps = ChannelDeps(http=c.http, kernel=c.kernel, clock=self.clock)
        return ChannelProber(c.sessions, c.registry, c.vault, deps)

    async def view(self, channel: m.ChannelSource) -> dict[str, Any]:
        async with self.container.sessions() as s:
            return await channel_health(s, channel, now=self.clock())

    async def bot(self, **config: Any) -> m.ChannelSource:
        values = {
            "bot_token": TOKEN,
            "api_url": self.telegram.base_url,
            "long_poll_seconds": 0,
            **config,
        }
        return await self.add_channel("telegram_bot", values, name="tg")


@pytest.fixture
async def rig(
    tmp_path: Path, database_url: str, site: FeedServer, telegram: FakeTelegram
) -> AsyncIterator[Rig]:
    async with migrated(tmp_path, database_url, allowed_hosts=["127.0.0.1"]) as (
        settings,
        container,
        owner,
    ):
        yield Rig(
            settings=settings, container=container, owner_id=owner, site=site, telegram=telegram
        )


def whole(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


# --- health after polls -----------------------------------------------------------------


async def test_an_rss_poll_records_last_synced_and_the_lag_from_the_newest_pubdate(
    rig: Rig,
) -> None:
    rig.clock.now = whole(datetime.now(UTC))
    newest = rig.clock.now - timedelta(minutes=10)
    rig.site.publish_rss(
        "/feed.xml",
        [
            Post("older post", guid="a", published=newest - timedelta(hours=1)),
            Post("newest post", guid="b", published=newest),
        ],
    )
    channel = await rig.add_channel(
        "rss", {"url": rig.site.url("/feed.xml"), "backfill": True}, name="feed"
    )
    assert (await rig.view(channel))["state"] == "never_polled"
    assert await rig.health_runner().poll_channel(channel) == 2
    shown = await rig.view(channel)
    assert shown["state"] == "ok"
    assert shown["last_synced_at"] == rig.clock.now.isoformat()
    assert shown["newest_item_at"] == newest.isoformat()
    assert (shown["lag_seconds"], shown["lag_basis"]) == (600, PROVIDER_TIME)
    synced = rig.clock.now
    rig.clock.advance(120)  # not due yet (interval 300 s): nothing asked, no sync
    assert await rig.health_runner().poll_channel(channel) == 0
    assert len(rig.site.requests("/feed.xml")) == 1
    shown = await rig.view(channel)
    assert shown["last_synced_at"] == synced.isoformat()
    assert shown["last_polled_at"] == rig.clock.now.isoformat()
    rig.clock.advance(181)  # due: 304, nothing new, the newest date is kept
    assert await rig.health_runner().poll_channel(channel) == 0
    assert rig.site.requests("/feed.xml")[-1].headers.get("if-none-match")
    shown = await rig.view(channel)
    assert shown["last_synced_at"] == rig.clock.now.isoformat()
    assert (shown["lag_seconds"], shown["lag_basis"]) == (901, PROVIDER_TIME)


async def test_a_web_page_dates_nothing_so_its_lag_runs_from_the_last_sync(rig: Rig) -> None:
    rig.site.publish_page("/blog", [Post("first", "BTC long", guid="p1")])
    channel = await rig.add_channel(
        "webpage",
        {
            "url": rig.site.url("/blog"),
            "items_css": "article.post",
            "id_css": ":scope::attr(data-id)",
        },
        name="page",
    )
    await rig.health_runner().poll_channel(channel)
    assert (await rig.view(channel))["lag_basis"] == LAST_SYNCED
    rig.clock.advance(90)
    shown = await rig.view(channel)
    assert (shown["lag_seconds"], shown["lag_basis"]) == (90, LAST_SYNCED)


async def test_failed_polls_back_off_skip_the_source_and_a_success_clears_it(rig: Rig) -> None:
    rig.site.set_default("/feed.xml", Reply(status=404, body=b"gone"))
    channel = await rig.add_channel("rss", {"url": rig.site.url("/feed.xml")}, name="feed")
    runner = rig.health_runner()
    with pytest.raises(InvalidRequest):
        await runner.poll_channel(channel)
    shown = await rig.view(channel)
    assert shown["state"] == "failing" and not shown["backing_off"]  # one blip: no wait
    assert shown["last_error"] is not None and "404" in shown["last_error"]
    with pytest.raises(InvalidRequest):
        await runner.poll_channel(channel)
    shown = await rig.view(channel)
    assert shown["state"] == "backing_off" and shown["consecutive_failures"] == 2
    assert shown["backoff_until"] == (rig.clock.now + timedelta(seconds=30)).isoformat()
    asked = len(rig.site.requests("/feed.xml"))
    assert await runner.poll_channel(channel) == 0  # skipped: no request, no lease taken
    assert len(rig.site.requests("/feed.xml")) == asked
    async with rig.container.sessions() as s:
        lease = await s.scalar(
            select(m.ChannelCursor.lease_owner).where(m.ChannelCursor.channel_id == channel.id)
        )
    assert lease is None
    rig.clock.advance(31)
    rig.site.publish_rss("/feed.xml", [Post("back", guid="x")])
    assert await runner.poll_channel(channel) == 0  # the first poll only remembers
    shown = await rig.view(channel)
    assert shown["state"] == "ok" and shown["backoff_until"] is None
    assert (
        shown["consecutive_failures"] == 0 and shown["last_synced_at"] == rig.clock.now.isoformat()
    )


async def test_a_bots_token_never_reaches_the_recorded_error(rig: Rig) -> None:
    rig.telegram.fail_next("getUpdates", 401, "Unauthorized")
    channel = await rig.bot()
    with pytest.raises(AuthenticationError):
        await rig.health_runner().poll_channel(channel)
    async with rig.container.sessions() as s:
        row = await s.scalar(
            select(m.ConnectionHealth).where(m.ConnectionHealth.connection_id == channel.id)
        )
    assert row is not None and row.last_error is not None and row.poll_failures == 1
    assert "401" in row.last_error
    secret = TOKEN.split(":", 1)[1]
    assert secret not in row.last_error and secret not in (row.last_refusal or "")


# --- size refusals ----------------------------------------------------------------------


async def test_an_rss_item_over_the_cap_is_a_rejected_message_and_the_rest_is_stored(
    rig: Rig,
) -> None:
    posts = [
        Post("fine before", guid="g0"),
        Post("long", "word " * 300, guid="g1"),
        Post(SIGNAL_TEXT, guid="g2"),
    ]
    rig.site.publish_rss("/feed.xml", posts)
    channel = await rig.add_channel(
        "rss",
        {"url": rig.site.url("/feed.xml"), "backfill": True, "max_message_chars": 200},
        name="feed",
    )
    assert await rig.health_runner().poll_channel(channel) == 3
    stored = {row.external_id: row for row in await rig.messages(channel)}
    refused = stored["g1"]
    assert refused.status == m.MessageStatus.REJECTED
    assert refused.error is not None and "max_message_chars (200)" in refused.error
    assert "word" not in refused.text and refused.content_type.startswith("text/plain; refused")
    assert stored["g2"].status == m.MessageStatus.PARSED  # the rest is read as usual
    shown = await rig.view(channel)
    assert shown["refused_count"] == 1 and "max_message_chars (200)" in shown["last_refusal"]
    assert await rig.health_runner().poll_channel(channel) == 0  # refused once, not again


async def test_a_bot_post_over_the_cap_is_refused_and_its_date_measures_the_lag(
    rig: Rig,
) -> None:
    tg = rig.telegram
    channel = await rig.bot(max_message_chars=100)
    tg.channel_post(CHANNEL, "x" * 1000)
    tg.channel_post(CHANNEL, SIGNAL_TEXT)
    rig.clock.now = whole(datetime.now(UTC)) + timedelta(seconds=5)
    assert await rig.health_runner().poll_channel(channel) == 2
    first, second = await rig.messages(channel)
    assert first.status == m.MessageStatus.REJECTED and "1000 characters" in (first.error or "")
    assert second.status == m.MessageStatus.PARSED
    shown = await rig.view(channel)
    assert shown["lag_basis"] == PROVIDER_TIME and 0 <= shown["lag_seconds"] <= 120
    assert shown["refused_count"] == 1


async def test_an_oversize_edit_leaves_the_post_and_its_signal_alone(rig: Rig) -> None:
    tg = rig.telegram
    channel = await rig.bot(max_message_chars=200)
    posted = tg.channel_post(CHANNEL, SIGNAL_TEXT)
    runner = rig.health_runner()
    assert await runner.poll_channel(channel) == 1
    tg.edit(CHANNEL, posted["message_id"], SIGNAL_TEXT + "\n" + "padding " * 100)
    assert await runner.poll_channel(channel) == 1
    original, edit = await rig.messages(channel)
    assert original.text == SIGNAL_TEXT and original.edited_at is None
    assert edit.status == m.MessageStatus.REJECTED and edit.original_id is None


# --- probes -----------------------------------------------------------------------------


async def test_the_rss_probe_reads_the_feed_then_asks_conditionally(rig: Rig) -> None:
    rig.site.publish_rss("/feed.xml", [Post("a", guid="a"), Post("b", guid="b")])
    channel = await rig.add_channel("rss", {"url": rig.site.url("/feed.xml")}, name="feed")
    answer = await rig.prober()(channel)
    assert answer["ok"] is True and "2 item(s)" in answer["message"]
    await rig.health_runner().poll_channel(channel)  # saves the validators
    again = await rig.prober()(channel)
    assert again["ok"] is True and "not modified" in again["message"]
    assert rig.site.requests("/feed.xml")[-1].headers.get("if-none-match")
    assert await rig.messages(channel) == []  # a probe delivers nothing


async def test_the_web_page_probe_fails_when_the_selector_finds_nothing(rig: Rig) -> None:
    rig.site.publish_page("/blog", [Post("first", "BTC long", guid="p1")])
    good = await rig.add_channel(
        "webpage", {"url": rig.site.url("/blog"), "items_css": "article.post"}, name="good"
    )
    wrong = await rig.add_channel(
        "webpage", {"url": rig.site.url("/blog"), "items_css": "div.nothing"}, name="wrong"
    )
    assert (await rig.prober()(good))["ok"] is True
    answer = await rig.prober()(wrong)
    assert answer["ok"] is False and "matched no post" in answer["message"]


async def test_a_source_that_refuses_makes_the_probe_raise_a_kernel_error(rig: Rig) -> None:
    rig.site.set_default("/gone", Reply(status=404, body=b"no"))
    channel = await rig.add_channel("rss", {"url": rig.site.url("/gone")}, name="gone")
    with pytest.raises(InvalidRequest, match="404"):
        await rig.prober()(channel)


async def test_the_probe_follows_no_redirect_to_a_private_address(rig: Rig) -> None:
    rig.site.redirect("/moved", "http://169.254.169.254/latest/meta-data/")
    channel = await rig.add_channel("rss", {"url": rig.site.url("/moved")}, name="moved")
    with pytest.raises(InvalidRequest):
        await rig.prober()(channel)
    assert len(rig.site.requests("/moved")) == 1  # one hop asked, none followed


async def test_the_bot_probe_asks_getme_and_getwebhookinfo(rig: Rig) -> None:
    polling = await rig.bot()
    answer = await rig.prober()(polling)
    assert answer["ok"] is True and answer["message"] == "authorised as @signal_bot; polling"
    assert [c.method for c in rig.telegram.calls[-2:]] == ["getme", "getwebhookinfo"]
    hooked = await rig.bot(mode="webhook", webhook_secret="s" * 32)
    answer = await rig.prober()(hooked)
    assert answer["ok"] is False and "no webhook" in answer["message"]
    deps = ChannelDeps(http=rig.container.http, kernel=rig.container.kernel)
    config: Any = rig.container.registry.validate_config(
        "channel", "telegram_bot", {"bot_token": TOKEN, "api_url": rig.telegram.base_url}
    )
    await bot_api(config, hooked.id, deps).set_webhook(
        "https://hooks.example.com/webhooks/telegram/1", secret_token="s" * 32
    )
    rig.telegram.channel_post(CHANNEL, "waiting")
    answer = await rig.prober()(hooked)
    assert answer["ok"] is True and answer["details"]["pending_update_count"] == 1
    answer = await rig.prober()(polling)  # the same bot polled: getUpdates would get 409
    assert answer["ok"] is False and "409" in answer["message"]


async def test_a_wrong_token_fails_the_bot_probe_without_naming_it(rig: Rig) -> None:
    wrong = "555000111:AAFthisTokenIsNotKnownToTelegramAtAll"
    channel = await rig.add_channel(
        "telegram_bot", {"bot_token": wrong, "api_url": rig.telegram.base_url}, name="wrong"
    )
    with pytest.raises(AuthenticationError) as caught:
        await rig.prober()(channel)
    assert wrong.split(":", 1)[1] not in str(caught.value)


async def test_the_user_account_probe_says_who_it_is_or_that_it_needs_a_login(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = FakeAccount()
    monkeypatch.setattr(TelegramUserChannel, "source_factory", staticmethod(lambda _: account))
    config = {"api_id": 1, "api_hash": "0123456789abcdef0123456789abcdef", "chats": ["@signals"]}
    channel = await rig.add_channel("telegram_user", config, name="user")
    answer = await rig.prober()(channel)
    assert answer == {
        "ok": True,
        "latency_ms": answer["latency_ms"],
        "message": "authorised as @copier",
    }
    account.revoked = True
    answer = await rig.prober()(channel)
    assert answer["ok"] is False and answer["message"] == "needs login"


async def test_push_and_deactivated_channels_say_so(rig: Rig) -> None:
    hook = await rig.add_channel("webhook", {}, name="hook")
    answer = await rig.prober()(hook)
    assert answer["ok"] is True and "nothing to call" in answer["message"]
    rig.site.publish_rss("/feed.xml", [Post("a", guid="a")])
    feed = await rig.add_channel("rss", {"url": rig.site.url("/feed.xml")}, name="feed")
    feed.is_active = False
    answer = await rig.prober()(feed)
    assert answer["ok"] is False and "deactivated" in answer["message"]
    assert rig.site.requests("/feed.xml") == []


async def test_the_container_prober_probes_channels(rig: Rig) -> None:
    rig.site.publish_rss("/feed.xml", [Post("a", guid="a")])
    channel = await rig.add_channel("rss", {"url": rig.site.url("/feed.xml")}, name="feed")
    assert prober_from_pool(rig.container.adapter_pool) is not None
    answer = await rig.container.prober("channel", channel)
    assert answer["ok"] is True and "1 item(s)" in answer["message"]


# --- push limits --------------------------------------------------------------------------


async def test_push_deliveries_over_the_rate_are_refused_and_recorded(rig: Rig) -> None:
    c = rig.container
    channel = await rig.add_channel("webhook", {}, name="hook")
    async with c.sessions() as s, s.begin():
        row = await s.get_one(m.ChannelSource, channel.id)
        row.inbound_rate_limit, row.max_message_chars = "2/minute", 100
    async with c.sessions() as s:
        channel = await s.get_one(m.ChannelSource, channel.id)
    limits = PushLimits(c.kernel.limiter, rig.book(), c.sessions)
    intake = Intake(c.sessions, rig.queue, dispatch_task="dispatch", update_task="update")

    def delivery(n: int, text: str = "hello") -> InboundMessage:
        return InboundMessage(external_id=f"d{n}", text=text, received_at=rig.clock())

    too_long = await limits.receive(intake, channel, delivery(1, "y" * 500))
    assert too_long.status == m.MessageStatus.REJECTED and "500 characters" in (
        too_long.error or ""
    )
    await limits.receive(intake, channel, delivery(2))
    with pytest.raises(OverRate) as over:
        await limits.receive(intake, channel, delivery(3))
    assert 0 < over.value.retry_after <= 60 and int(over.value.retry_after_header) >= 1
    assert [row.external_id for row in await rig.messages(channel)] == ["d1", "d2"]
    shown = await rig.view(channel)
    assert shown["refused_count"] == 2 and "inbound rate (2/minute)" in shown["last_refusal"]
