"""The Telegram bot channel against the fake Bot API on loopback, through the polling
runner and a real database (SQLite and PostgreSQL): channel posts, group messages, edits,
photo captions and replies stored once each; the getUpdates offset saved with the
messages, so a restart (and a SIGKILL between Telegram's answer and the commit) loses
and repeats nothing; 409 reported in health and backed off; 429 waited out; the inbound
rate limit leaves the rest in Telegram."""

from __future__ import annotations

import asyncio
import textwrap
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.fakes.telegram import FakeTelegram
from tests.polling_rig import PollingRig, migrated, run_until_killed

from signalbridge.bootstrap import build_container
from signalbridge.channels.fetching import ChannelDeps
from signalbridge.channels.telegram.errors import BotConflict
from signalbridge.channels.telegram_bot import TelegramBotChannel, load_offset
from signalbridge.integrations.errors import RateLimited
from signalbridge.jobs.polling import LEASE_SECONDS
from signalbridge.store import models as m

TOKEN = "555000111:AAFtelegramFakeBotTokenForChannelTests"
CHANNEL = -1001500
GROUP = -1002600
SIGNAL_TEXT = "BTC/USDT LONG\nEntry 59900-60100\nSL 58000\nTP1 62000\nTP2 64000\nLeverage 10x"


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram(TOKEN) as fake:
        yield fake


@dataclass(kw_only=True)
class Rig(PollingRig):
    telegram: FakeTelegram

    async def channel(self, **config: Any) -> m.ChannelSource:
        values = {
            "bot_token": TOKEN,
            "api_url": self.telegram.base_url,
            "long_poll_seconds": 0,
            **config,
        }
        return await self.add_channel("telegram_bot", values, name="tg")

    async def offset(self, channel: m.ChannelSource) -> int | None:
        return load_offset(await self.cursor_text(channel))


@pytest.fixture
async def rig(tmp_path: Path, database_url: str, telegram: FakeTelegram) -> AsyncIterator[Rig]:
    async with migrated(tmp_path, database_url, allowed_hosts=["127.0.0.1"]) as (
        settings,
        container,
        owner,
    ):
        yield Rig(settings=settings, container=container, owner_id=owner, telegram=telegram)


async def test_posts_groups_edits_captions_and_replies_are_stored_once(rig: Rig) -> None:
    tg = rig.telegram
    post = tg.channel_post(CHANNEL, SIGNAL_TEXT)
    tg.channel_post(CHANNEL, caption="ETH/USDT SHORT entry 3500 SL 3600 TP 3300")
    asked = tg.group_message(GROUP, "is BTC still a buy?")
    tg.group_message(GROUP, "yes, TP1 hit", reply_to=asked["message_id"])
    tg.edit(CHANNEL, post["message_id"], SIGNAL_TEXT.replace("SL 58000", "SL 58500"))
    tg.chat(CHANNEL).title = "Signals"
    channel = await rig.channel()
    assert await rig.runner().poll_channel(channel) == 5
    stored = await rig.messages(channel)
    assert [s.external_id for s in stored[:4]] == [
        f"{CHANNEL}:1",
        f"{CHANNEL}:2",
        f"{GROUP}:1",
        f"{GROUP}:2",
    ]
    assert stored[1].text.startswith("ETH/USDT SHORT")  # a photo's caption
    edit = stored[4]
    assert edit.external_id.startswith(f"{CHANNEL}:1/e") and "SL 58500" in edit.text
    assert stored[0].status == m.MessageStatus.PARSED
    last = max(u["update_id"] for u in tg.pending())
    assert await rig.offset(channel) == last + 1

    # The next poll confirms them at Telegram and stores nothing again.
    assert await rig.runner().poll_channel(channel) == 0
    assert tg.pending() == [] and len(await rig.messages(channel)) == 5
    assert tg.calls_to("getUpdates")[-1].params["offset"] == last + 1
    assert tg.calls_to("getUpdates")[0].params["allowed_updates"] == [
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
    ]


async def test_replies_and_edits_reach_the_intake_with_their_links(rig: Rig) -> None:
    tg = rig.telegram
    post = tg.channel_post(CHANNEL, SIGNAL_TEXT)
    tg.channel_post(CHANNEL, "TP1 hit", reply_to=post["message_id"])
    tg.edit(CHANNEL, post["message_id"], SIGNAL_TEXT + "\nupdated")
    adapter = TelegramBotChannel.from_config(
        rig.container.registry.validate_config(  # type: ignore[arg-type]
            "channel",
            "telegram_bot",
            {"bot_token": TOKEN, "api_url": tg.base_url, "long_poll_seconds": 0},
        ),
        channel_id=1,
        deps=ChannelDeps(http=rig.container.http, kernel=rig.container.kernel, clock=rig.clock),
    )
    found = await adapter.poll(None)
    first, reply, edit = found.messages
    assert reply.reply_to == first.external_id == f"{CHANNEL}:1"
    assert edit.edit_of == first.external_id and edit.external_id != first.external_id


async def test_the_offset_survives_a_restart(rig: Rig) -> None:
    for n in range(3):
        rig.telegram.channel_post(CHANNEL, f"post {n}")
    channel = await rig.channel()
    assert await rig.runner("before").poll_channel(channel) == 3
    saved = await rig.offset(channel)
    restarted = build_container(rig.settings)  # a new process: only the database remembers
    try:
        rig.telegram.channel_post(CHANNEL, "post 3")
        assert await rig.runner("after", restarted).poll_channel(channel) == 1
    finally:
        await restarted.close()
    assert [s.text for s in await rig.messages(channel)] == [f"post {n}" for n in range(4)]
    before, after = rig.telegram.calls_to("getUpdates")
    assert "offset" not in before.params  # the first poll starts at Telegram's oldest
    assert after.params["offset"] == saved  # the restarted process went on from the database


POLL_AND_DIE = textwrap.dedent(
    """
    import asyncio, sys
    from signalbridge.bootstrap import build_container
    from signalbridge.channels.fetching import ChannelDeps
    from signalbridge.jobs.polling import PollingRunner
    from signalbridge.services.intake import Intake
    from signalbridge.settings import Settings
    from signalbridge.store import models as m

    class Stuck(Intake):
        async def store_many(self, session, channel, messages, meanings):
            print("FETCHED", flush=True)  # Telegram answered; the commit has not happened
            await asyncio.sleep(3600)

    async def main():
        container = build_container(Settings())
        stuck = Stuck(container.sessions, container.queue, dispatch_task="d", update_task="u")
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


async def test_a_worker_killed_between_fetch_and_store_loses_and_repeats_nothing(
    rig: Rig, tmp_path: Path
) -> None:
    tg = rig.telegram
    tg.channel_post(CHANNEL, "before the kill")
    channel = await rig.channel()
    assert await rig.runner().poll_channel(channel) == 1
    for n in range(3):
        tg.channel_post(CHANNEL, f"in flight {n}")
    await run_until_killed(rig.settings, POLL_AND_DIE, str(channel.id), "FETCHED")
    killed_call = tg.calls_to("getUpdates")[-1]
    assert killed_call.params["offset"] == await rig.offset(channel)  # the cursor stayed
    assert len(tg.pending()) == 3  # answered, never confirmed

    rig.clock.now = datetime.now(UTC) + timedelta(seconds=LEASE_SECONDS + 1)  # lease over
    assert await rig.runner("restarted").poll_channel(channel) == 3
    assert await rig.runner("restarted").poll_channel(channel) == 0
    texts = [s.text for s in await rig.messages(channel)]
    assert texts == ["before the kill", "in flight 0", "in flight 1", "in flight 2"]
    assert tg.pending() == []


async def test_a_conflict_shows_in_health_and_is_backed_off_not_spun(rig: Rig) -> None:
    tg = rig.telegram
    tg.bot.webhook_url = "https://elsewhere.example.com/hook"  # someone set a webhook
    channel = await rig.channel()
    runner = rig.runner()
    with pytest.raises(BotConflict):
        await runner.poll_channel(channel)
    health = await rig.health(channel)
    assert health is not None and health.consecutive_failures >= 1
    assert health.last_error is not None and "409" in health.last_error
    assert "webhook is active" in health.last_error and TOKEN not in health.last_error
    for _ in range(5):  # the runner comes back every poll interval: no call to Telegram
        with pytest.raises(BotConflict, match="next try in"):
            await runner.poll_channel(channel)
    assert len(tg.calls_to("getUpdates")) == 1

    tg.bot.webhook_url = ""
    rig.clock.advance(6)  # the first wait (5 s) is over
    tg.channel_post(CHANNEL, "after the conflict")
    assert await runner.poll_channel(channel) == 1
    health = await rig.health(channel)
    assert health is not None and health.consecutive_failures == 0


async def test_a_second_poller_on_the_token_gets_a_conflict(rig: Rig) -> None:
    channel = await rig.channel(long_poll_seconds=3)
    first = rig.runner("one").adapter(channel)
    other = TelegramBotChannel.from_config(
        first.config,  # type: ignore[attr-defined]
        channel_id=channel.id + 1000,
        deps=ChannelDeps(http=rig.container.http, kernel=rig.container.kernel),
    )
    waiting = asyncio.create_task(first.poll(None))
    await asyncio.sleep(0.3)
    newcomer = asyncio.create_task(other.poll(None))  # takes over, as Telegram's does
    with pytest.raises(BotConflict, match="terminated by other getUpdates"):
        await waiting
    rig.telegram.channel_post(CHANNEL, "news")
    second = await newcomer
    assert [x.text for x in second.messages] == ["news"]


async def test_429_on_getupdates_is_waited_out(rig: Rig) -> None:
    rig.telegram.fail_next("getUpdates", 429, "Too Many Requests: retry after 1", retry_after=1)
    rig.telegram.channel_post(CHANNEL, "slow down")
    channel = await rig.channel()
    started = time.monotonic()
    assert await rig.runner().poll_channel(channel) == 1
    assert time.monotonic() - started >= 1.0


async def test_a_429_longer_than_the_budget_holds_the_channel(rig: Rig) -> None:
    rig.telegram.fail_next("getUpdates", 429, "Too Many Requests: retry after 600", retry_after=600)
    channel = await rig.channel()
    runner = rig.runner()
    with pytest.raises(RateLimited):
        await runner.poll_channel(channel)
    with pytest.raises(RateLimited, match="next try in"):
        await runner.poll_channel(channel)
    assert len(rig.telegram.calls_to("getUpdates")) == 1


async def test_the_inbound_rate_limit_leaves_the_rest_in_telegram(rig: Rig) -> None:
    for n in range(3):
        rig.telegram.channel_post(CHANNEL, f"post {n}")
    channel = await rig.channel(rate_limit="2/minute")
    assert await rig.runner().poll_channel(channel) == 2
    assert len(rig.telegram.pending()) == 3  # the third is not confirmed
    assert await rig.runner().poll_channel(channel) == 0  # still over the limit
    assert len(rig.telegram.pending()) == 1


async def test_a_token_of_the_wrong_shape_shows_in_health_and_reaches_no_url(rig: Rig) -> None:
    wrong = "12345/../../getMe?x=secret-part-of-a-pasted-token"
    channel = await rig.channel(bot_token=wrong)
    with pytest.raises(ValueError, match="bot token looks like"):
        await rig.runner().poll_channel(channel)
    health = await rig.health(channel)
    assert health is not None and health.last_error is not None
    assert "bot token looks like" in health.last_error and "secret-part" not in health.last_error
    assert rig.telegram.calls == []


async def test_a_webhook_mode_channel_polls_nothing(rig: Rig) -> None:
    rig.telegram.channel_post(CHANNEL, "for the webhook")
    channel = await rig.channel(mode="webhook")
    assert await rig.runner().poll_channel(channel) == 0
    assert rig.telegram.calls_to("getUpdates") == []
