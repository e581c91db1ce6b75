"""RSS/Atom and web-page channels against a fake site on loopback, through the polling
runner and a real database (SQLite and PostgreSQL): conditional GET, de-duplication,
edits, hostile documents, SSRF redirects, politeness and the inbound limits; and end to
end, a feed post becomes a stored signal and a paper position.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.fakes.canary import CanaryServer
from tests.fakes.feed_server import (
    FeedServer,
    Post,
    billion_laughs,
    external_dtd,
    external_entity,
    external_parameter_entity,
    quadratic_blowup,
)
from tests.fakes.flaky_server import Reply
from tests.platform_fixtures import eventually, make_settings, running_harness
from tests.polling_rig import PollingRig, migrated

from signalbridge.bootstrap import Container, build_container
from signalbridge.channels.fetching import ChannelDeps, FeedRefused, load_cursor
from signalbridge.channels.webpage import WebPageChannel, WebPageConfig
from signalbridge.integrations.errors import InvalidRequest
from signalbridge.integrations.http import ResponseDeadlineExceeded, ResponseTooLarge
from signalbridge.store import models as m

SIGNAL_TEXT = "BTC/USDT LONG\nEntry 59900-60100\nSL 58000\nTP1 62000\nTP2 64000\nLeverage 10x"
T0 = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)


@pytest.fixture
def site() -> Iterator[FeedServer]:
    server = FeedServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def canary() -> Iterator[CanaryServer]:
    server = CanaryServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass(kw_only=True)
class Rig(PollingRig):
    site: FeedServer

    async def channel(self, type_: str, **config: Any) -> m.ChannelSource:
        return await self.add_channel(type_, config, name=type_)

    async def cursor(self, channel: m.ChannelSource) -> dict[str, Any]:
        return load_cursor(await self.cursor_text(channel))


async def feed_rig(
    tmp_path: Path, database_url: str, site: FeedServer, **overrides: Any
) -> AsyncIterator[Rig]:
    async with migrated(tmp_path, database_url, **overrides) as (settings, container, owner):
        yield Rig(settings=settings, container=container, owner_id=owner, site=site)


@pytest.fixture
async def rig(tmp_path: Path, database_url: str, site: FeedServer) -> AsyncIterator[Rig]:
    """The operator allows loopback (the fake site); nothing else internal."""
    async for r in feed_rig(tmp_path, database_url, site, allowed_hosts=["127.0.0.1"]):
        yield r


async def test_a_feed_is_read_with_conditional_get_and_each_item_stored_once(rig: Rig) -> None:
    site = rig.site
    old = [Post("old news", guid="g1", published=T0), Post("older", guid="g0")]
    site.publish_rss("/feed.xml", old)
    channel = await rig.channel("rss", url=site.url("/feed.xml"), interval_seconds=60)
    assert await rig.poll(channel) == 0  # connecting a feed replays none of its old posts
    first = await rig.cursor(channel)
    assert first["etag"] == site.resources["/feed.xml"].etag and set(first["seen"]) == {"g0", "g1"}

    rig.clock.advance(30)
    assert await rig.poll(channel) == 0
    assert len(site.requests("/feed.xml")) == 1  # not due: not fetched

    rig.clock.advance(31)
    assert await rig.poll(channel) == 0  # unchanged: 304
    asked = site.requests("/feed.xml")[-1].headers
    assert asked["if-none-match"] == first["etag"]
    assert asked["if-modified-since"] == first["modified"]
    assert "rss+xml" in asked["accept"]

    site.publish_rss("/feed.xml", [*old, Post(SIGNAL_TEXT, guid="g2", published=T0)])
    rig.clock.advance(61)
    assert await rig.poll(channel) == 1
    (message,) = await rig.messages(channel)
    assert message.external_id == "g2" and message.status == m.MessageStatus.PARSED
    assert message.text.startswith("BTC/USDT LONG\nEntry 59900-60100")
    assert rig.queue.calls == []  # a signal nobody follows has no executions to run

    # A new process reads the cursor from the database: 304, nothing stored twice.
    restarted = build_container(rig.settings)
    try:
        rig.clock.advance(61)
        assert await rig.poll(channel, rig.runner("after-restart", restarted)) == 0
    finally:
        await restarted.close()
    assert (
        site.requests("/feed.xml")[-1].headers["if-none-match"] == site.resources["/feed.xml"].etag
    )
    assert len(await rig.messages(channel)) == 1


async def test_an_atom_feed_with_backfill_delivers_oldest_first_and_repeats_nothing(
    rig: Rig,
) -> None:
    posts = [Post(f"post {n}", f"<p>body <b>{n}</b></p>", guid=f"urn:{n}") for n in range(3)]
    rig.site.publish_atom("/atom", posts, conditional=False)  # a server that never says 304
    channel = await rig.channel("rss", url=rig.site.url("/atom"), backfill=True, interval_seconds=1)
    assert await rig.poll(channel) == 3
    rig.clock.advance(2)
    assert await rig.poll(channel) == 0
    stored = await rig.messages(channel)
    assert [(s.external_id, s.text) for s in stored] == [
        (f"urn:{n}", f"post {n}\n\nbody {n}") for n in range(3)
    ]
    assert all(s.status == m.MessageStatus.NOISE for s in stored)


HOSTILE = {
    "billion-laughs": lambda canary: billion_laughs(),
    "quadratic-blowup": lambda canary: quadratic_blowup(),
    "xxe-file": lambda canary: external_entity("file:///etc/passwd"),
    "xxe-canary": lambda canary: external_entity(canary.url("/secret")),
    "parameter-entity": lambda canary: external_parameter_entity(canary.url("/evil.dtd")),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_xml_bombs_and_external_entities_are_refused(
    rig: Rig, canary: CanaryServer, name: str
) -> None:
    rig.site.publish("/evil.xml", HOSTILE[name](canary), "application/rss+xml")
    channel = await rig.channel("rss", url=rig.site.url("/evil.xml"), backfill=True)
    started = time.perf_counter()
    with pytest.raises(FeedRefused, match="refused"):
        await rig.poll(channel)
    # Refused before any expansion: an expanded bomb takes minutes and gigabytes. The bound
    # is loose on purpose (a loaded machine must not fail it); bench/ holds timings.
    assert time.perf_counter() - started < 15.0
    assert await rig.messages(channel) == []
    assert canary.touched == 0
    assert (await rig.cursor(channel)).get("seen") is None  # the cursor did not move


async def test_an_external_dtd_is_not_fetched(rig: Rig, canary: CanaryServer) -> None:
    rig.site.publish("/dtd.xml", external_dtd(canary.url("/rss.dtd")), "application/rss+xml")
    channel = await rig.channel("rss", url=rig.site.url("/dtd.xml"), backfill=True)
    assert await rig.poll(channel) == 1
    assert canary.touched == 0


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://10.0.0.7/feed.xml",
        "http://[::ffff:169.254.169.254]/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "file:///etc/passwd",
    ],
)
async def test_redirects_to_private_addresses_are_refused(rig: Rig, location: str) -> None:
    rig.site.redirect("/moved", location)
    channel = await rig.channel("rss", url=rig.site.url("/moved"), backfill=True)
    with pytest.raises(InvalidRequest):
        await rig.poll(channel)
    assert len(rig.site.requests("/moved")) == 1  # one hop asked, none followed
    assert await rig.messages(channel) == []


async def test_a_redirect_to_an_unlisted_loopback_address_is_refused(
    rig: Rig, canary: CanaryServer
) -> None:
    if "::1" not in canary.hosts:
        pytest.skip("no IPv6 loopback here")
    rig.site.redirect("/moved", canary.url("/feed", host="::1"))  # 127.0.0.1 is listed, ::1 not
    channel = await rig.channel("rss", url=rig.site.url("/moved"))
    with pytest.raises(InvalidRequest, match="refused"):
        await rig.poll(channel)
    assert canary.touched == 0


async def test_loopback_is_refused_unless_the_operator_allows_it(
    tmp_path: Path, database_url: str, site: FeedServer
) -> None:
    site.publish_rss("/feed.xml", [Post("x", guid="x")])
    async for strict in feed_rig(tmp_path, database_url, site):
        channel = await strict.channel("rss", url=site.url("/feed.xml"), backfill=True)
        with pytest.raises(InvalidRequest, match="loopback"):
            await strict.poll(channel)
        assert site.hits == [] and site.connections == 0


async def test_a_gzip_bomb_and_an_endless_body_are_cut_at_the_caps(rig: Rig) -> None:
    rig.site.set_default("/bomb", Reply(gzip_bomb=200_000_000))
    bomb = await rig.channel("rss", url=rig.site.url("/bomb"), max_response_bytes=1_000_000)
    with pytest.raises(ResponseTooLarge):
        await rig.poll(bomb)
    rig.site.set_default("/drip", Reply(drip=0.05))
    drip = await rig.channel("rss", url=rig.site.url("/drip"), timeout_seconds=0.5)
    started = time.perf_counter()
    with pytest.raises(ResponseDeadlineExceeded):
        await rig.poll(drip)
    assert time.perf_counter() - started < 15  # three attempts within the retry budget
    assert await rig.messages(bomb) == [] and await rig.messages(drip) == []


async def test_a_changed_page_post_is_an_edit_and_new_posts_are_new(rig: Rig) -> None:
    posts = [
        Post("BTC long", "Entry 60000 SL 58000", guid="p1", link="/p/1"),
        Post("ETH long", "Entry 3000 SL 2900", guid="p2", link="/p/2"),
    ]
    rig.site.publish_page("/signals", posts)
    config = {
        "url": rig.site.url("/signals"),
        "items_xpath": "//article[@class='post']",
        "id_xpath": "@data-id",
        "text_xpath": ".//div[@class='body']",
        "link_xpath": ".//a/@href",
        "interval_seconds": 10,
        "backfill": True,
    }
    channel = await rig.channel("webpage", **config)
    assert await rig.poll(channel) == 2
    rig.clock.advance(11)
    assert await rig.poll(channel) == 0  # 304
    edited = [Post("BTC long", "Entry 60000 SL 59000", guid="p1", link="/p/1"), posts[1]]
    rig.site.publish_page("/signals", [*edited, Post("SOL", "Entry 150", guid="p3")])
    rig.clock.advance(11)
    assert await rig.poll(channel) == 2
    stored = await rig.messages(channel)
    assert [s.external_id.split("~")[0] for s in stored] == ["p1", "p2", "p1", "p3"]
    assert stored[2].external_id.startswith("p1~") and stored[2].text == "Entry 60000 SL 59000"
    assert stored[3].text == "Entry 150"

    # What the adapter hands over: the edit names the post it edits.
    deps = ChannelDeps(http=rig.container.http, kernel=rig.container.kernel, clock=rig.clock)
    spec_config = rig.container.registry.validate_config("channel", "webpage", config)
    assert isinstance(spec_config, WebPageConfig)
    adapter = WebPageChannel.from_config(spec_config, channel_id=channel.id, deps=deps)
    cursor = json.dumps({**(await rig.cursor(channel)), "next_at": None, "etag": None})
    rig.site.publish_page("/signals", [Post("BTC long", "Entry 61000 SL 59000", guid="p1")])
    result = await adapter.poll(cursor)
    (edit,) = result.messages
    assert edit.edit_of == "p1" and edit.external_id.startswith("p1~")


async def test_long_posts_are_refused_with_a_reason_and_the_rate_limit_defers_the_rest(
    rig: Rig,
) -> None:
    posts = [Post(f"post {n}", "word " * (300 if n == 0 else 1), guid=f"g{n}") for n in range(3)]
    rig.site.publish_rss("/feed.xml", posts)
    channel = await rig.channel(
        "rss",
        url=rig.site.url("/feed.xml"),
        backfill=True,
        interval_seconds=1,
        max_message_chars=200,
        rate_limit="2/second",
    )
    assert await rig.poll(channel) == 2
    stored = await rig.messages(channel)
    assert stored[0].status == m.MessageStatus.REJECTED  # refused, never cut
    assert "has 1507 characters" in (stored[0].error or "") and "(200)" in (stored[0].error or "")
    notes = (await rig.cursor(channel))["notes"]
    assert [n["external_id"] for n in notes] == ["g2"] and "deferred" in notes[0]["reason"]
    assert (await rig.cursor(channel)).get("etag") is None  # so the next GET is not answered 304

    await asyncio.sleep(1.1)  # the inbound window moves on
    rig.clock.advance(2)
    assert await rig.poll(channel) == 1
    assert "if-none-match" not in rig.site.requests("/feed.xml")[-1].headers
    assert [s.external_id for s in await rig.messages(channel)] == ["g0", "g1", "g2"]


async def test_channels_reading_one_host_share_its_politeness_budget(rig: Rig) -> None:
    rig.site.publish_rss("/a.xml", [Post("a", guid="a")])
    rig.site.publish_rss("/b.xml", [Post("b", guid="b")])
    first = await rig.channel("rss", url=rig.site.url("/a.xml"), host_rate_limit="1/minute")
    second = await rig.channel("rss", url=rig.site.url("/b.xml"), host_rate_limit="1/minute")
    runner = rig.runner()
    assert await rig.poll(first, runner) == 0 and await rig.poll(second, runner) == 0
    assert len(rig.site.requests("/a.xml")) == 1 and rig.site.requests("/b.xml") == []
    assert await rig.cursor(second) == {}  # it polls again next time, nothing skipped


async def test_a_failing_source_leaves_the_cursor_and_records_health(rig: Rig) -> None:
    rig.site.set_default("/gone", Reply(status=404, body=b"no"))
    channel = await rig.channel("rss", url=rig.site.url("/gone"))
    with pytest.raises(InvalidRequest, match="404"):
        await rig.poll(channel)
    assert len(rig.site.requests("/gone")) == 1  # a 404 is not retried
    assert await rig.cursor(channel) == {}
    async with rig.container.sessions() as s:
        health = await s.scalar(
            select(m.ConnectionHealth).where(
                m.ConnectionHealth.kind == "channel", m.ConnectionHealth.connection_id == channel.id
            )
        )
    assert health is not None and health.consecutive_failures == 1
    assert health.last_error is not None and "404" in health.last_error


async def test_a_feed_post_becomes_a_stored_signal_and_a_paper_position(
    tmp_path: Path, database_url: str, site: FeedServer
) -> None:
    settings = make_settings(
        tmp_path, database_url, poll_interval_seconds=0.1, allowed_hosts=["127.0.0.1"]
    )
    site.publish_rss("/feed.xml", [Post("welcome to the channel", guid="hello")])
    async with running_harness(settings, scheduler=True) as h:
        bad = await h.api(
            "POST",
            "/channels",
            json={"name": "f", "type": "rss", "config": {"url": "gopher://x", "rate_limit": "x"}},
        )
        assert bad.status_code == 422
        assert {d["field"] for d in bad.json()["error"]["details"]} == {"url", "rate_limit"}
        bad = await h.api(
            "POST",
            "/channels",
            json={"name": "w", "type": "webpage", "config": {"url": "https://a.test/"}},
        )
        assert bad.status_code == 422 and "items_xpath" in bad.text
        channel = await h.ok(
            "POST",
            "/channels",
            json={
                "name": "feed",
                "type": "rss",
                "config": {"url": site.url("/feed.xml"), "interval_seconds": 1},
            },
        )
        assert channel["config"]["max_message_chars"] == 4000
        await h.follow(channel["id"], await h.paper_connection())
        await eventually(lambda: _cursor_primed(h.container, channel["id"]), timeout=20)
        site.publish_rss(
            "/feed.xml",
            [Post("welcome to the channel", guid="hello"), Post(SIGNAL_TEXT, guid="sig-1")],
        )

        async def traded() -> bool:
            async with h.container.sessions() as s:
                return bool(await s.scalar(select(func.count()).select_from(m.Position)))

        await eventually(traded, timeout=20)
        async with h.container.sessions() as s:
            (message,) = (await s.scalars(select(m.Message))).all()
            assert message.external_id == "sig-1"
            signal = await s.scalar(select(m.Signal).where(m.Signal.message_id == message.id))
            assert signal is not None and signal.symbol == "BTC/USDT"


async def _cursor_primed(container: Container, channel_id: int) -> bool:
    async with container.sessions() as s:
        row = await s.scalar(
            select(m.ChannelCursor).where(m.ChannelCursor.channel_id == channel_id)
        )
    return row is not None and bool(load_cursor(row.cursor).get("primed"))
