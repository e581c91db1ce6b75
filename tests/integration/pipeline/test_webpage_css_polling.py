"""A web page read with CSS selectors, polled by the runner from the fake site: posts
stored once, a changed post stored as an edit, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.fakes.feed_server import FeedServer, Post
from tests.integration.pipeline.test_feed_channels import Rig, feed_rig

from signalbridge.store import models as m


@pytest.fixture
def site() -> Iterator[FeedServer]:
    server = FeedServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def rig(tmp_path: Path, database_url: str, site: FeedServer) -> AsyncIterator[Rig]:
    """The operator allows loopback (the fake site); nothing else internal."""
    async for r in feed_rig(tmp_path, database_url, site, allowed_hosts=["127.0.0.1"]):
        yield r


async def test_css_selected_posts_are_stored_once_and_a_change_is_an_edit(rig: Rig) -> None:
    posts = [
        Post("BTC long", "<p>Entry 60000</p><p>SL 58000</p>", guid="p1", link="/p/1"),
        Post("ETH long", "Entry 3000 SL 2900", guid="p2", link="/p/2"),
    ]
    rig.site.publish_page("/signals", posts)
    channel = await rig.channel(
        "webpage",
        url=rig.site.url("/signals"),
        items_css="main > article.post",
        id_css=":scope::attr(data-id)",
        text_css="div.body",
        link_css="a::attr(href)",
        interval_seconds=10,
        backfill=True,
    )
    assert channel.config["items_css"] == "main > article.post"
    assert await rig.poll(channel) == 2
    rig.clock.advance(11)
    assert await rig.poll(channel) == 0  # 304: the page did not change
    rig.site.publish_page(
        "/signals",
        [
            Post("BTC long", "<p>Entry 60000</p><p>SL 59000</p>", guid="p1", link="/p/1"),
            posts[1],
            Post("SOL long", "Entry 150", guid="p3", link="/p/3"),
        ],
    )
    rig.clock.advance(11)
    assert await rig.poll(channel) == 2
    rig.clock.advance(11)
    assert await rig.poll(channel) == 0

    stored = await rig.messages(channel)
    assert [s.external_id.split("~")[0] for s in stored] == ["p1", "p2", "p1", "p3"]
    edited = "Entry 60000\n\nSL 59000"
    assert [s.text for s in stored] == [edited, "Entry 3000 SL 2900", edited, "Entry 150"]
    assert stored[2].external_id.startswith("p1~")
    async with rig.container.sessions() as s:  # the first version is kept beside the edit
        kept = await s.scalars(
            select(m.MessageEdit.previous_text).where(m.MessageEdit.message_id == stored[0].id)
        )
        assert list(kept) == ["Entry 60000\n\nSL 58000"]
    assert len(rig.site.requests("/signals")) == 4
