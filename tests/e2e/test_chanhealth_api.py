"""Channel health and connection tests over HTTP, against a running platform, the fake
feed server and the fake Bot API: ``POST /api/v1/channels/{id}/test`` gives a real answer
for RSS and Telegram bot channels (a wrong token fails without being named), ``GET
/api/v1/channels/{id}/health`` shows last synced and the lag after the scheduler's
runner polled, and only staff may read it; the push inbound limits are channel settings,
validated, and refused with a clear 422 on kinds that keep them in their config."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.fakes.feed_server import FeedServer, Post
from tests.fakes.telegram import FakeTelegram
from tests.platform_fixtures import Harness, make_settings, running_harness

from signalbridge.jobs.polling import polling_runner
from signalbridge.services.auth import SCOPES, create_token, create_user

TOKEN = "555000111:AAFtelegramFakeBotTokenForHealthApi"


@pytest.fixture
def site() -> Iterator[FeedServer]:
    server = FeedServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def h(tmp_path: Path, database_url: str) -> AsyncIterator[Harness]:
    settings = make_settings(tmp_path, database_url, allowed_hosts=["127.0.0.1"])
    async with running_harness(settings) as harness:
        yield harness


async def test_a_feed_channel_is_tested_and_its_health_shown_after_a_poll(
    h: Harness, site: FeedServer
) -> None:
    published = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    site.publish_rss("/feed.xml", [Post("hello", guid="a", published=published)])
    channel = await h.ok(
        "POST",
        "/channels",
        json={"name": "feed", "type": "rss", "config": {"url": site.url("/feed.xml")}},
    )
    tested = await h.ok("POST", f"/channels/{channel['id']}/test")
    assert tested["ok"] is True and "1 item(s)" in tested["message"]
    health = await h.ok("GET", f"/channels/{channel['id']}/health")
    assert health["state"] == "never_polled" and health["last_synced_at"] is None

    await polling_runner(h.container).run_once()  # the scheduler's runner, one tick
    health = await h.ok("GET", f"/channels/{channel['id']}/health")
    assert health["state"] == "ok" and health["id"] == channel["id"]
    assert health["last_synced_at"] is not None and health["last_error"] is None
    assert health["newest_item_at"] == published.isoformat()
    assert health["lag_basis"] == "provider_time" and health["lag_seconds"] >= 30 * 60
    assert health["breaker"]["state"] == "closed"
    listed = (await h.ok("GET", "/channels"))["items"]
    (row,) = [item for item in listed if item["id"] == channel["id"]]
    assert row["health"]["last_poll_ok_at"] is not None  # the list shows it too

    missing = await h.api("GET", "/channels/4611686018427387904/health")
    assert missing.status_code == 404


async def test_a_wrong_bot_token_fails_the_test_without_being_named(h: Harness) -> None:
    with FakeTelegram(TOKEN) as telegram:
        good = await h.ok(
            "POST",
            "/channels",
            json={
                "name": "bot",
                "type": "telegram_bot",
                "config": {"bot_token": TOKEN, "api_url": telegram.base_url},
            },
        )
        tested = await h.ok("POST", f"/channels/{good['id']}/test")
        assert tested["ok"] is True and tested["message"].startswith("authorised as @")
        wrong = "555000111:AAFnotTheTokenTelegramKnowsForThisBot"
        bad = await h.ok(
            "POST",
            "/channels",
            json={
                "name": "bad bot",
                "type": "telegram_bot",
                "config": {"bot_token": wrong, "api_url": telegram.base_url},
            },
        )
        response = await h.api("POST", f"/channels/{bad['id']}/test")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is False and body["error_class"] == "AuthenticationError"
    assert wrong.split(":", 1)[1] not in response.text


async def test_push_limits_are_validated_channel_settings(h: Harness, site: FeedServer) -> None:
    hook = await h.ok("POST", "/channels", json={"name": "hook", "type": "webhook"})
    bad = await h.api("PATCH", f"/channels/{hook['id']}", json={"inbound_rate_limit": "often"})
    assert bad.status_code == 422 and "inbound_rate_limit" in bad.text
    bad = await h.api("PATCH", f"/channels/{hook['id']}", json={"max_message_chars": 5})
    assert bad.status_code == 422
    set_ = await h.ok(
        "PATCH",
        f"/channels/{hook['id']}",
        json={"inbound_rate_limit": "10/minute", "max_message_chars": 1000},
    )
    assert set_["inbound_rate_limit"] == "10/minute" and set_["max_message_chars"] == 1000
    cleared = await h.ok("PATCH", f"/channels/{hook['id']}", json={"max_message_chars": None})
    assert cleared["max_message_chars"] is None and cleared["inbound_rate_limit"] == "10/minute"

    site.publish_rss("/feed.xml", [Post("a", guid="a")])
    feed = await h.ok(
        "POST",
        "/channels",
        json={"name": "feed", "type": "rss", "config": {"url": site.url("/feed.xml")}},
    )
    refused = await h.api("PATCH", f"/channels/{feed['id']}", json={"max_message_chars": 500})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "limit_in_config"
    unchanged = await h.ok("GET", f"/channels/{feed['id']}")
    assert unchanged["max_message_chars"] is None


async def test_only_staff_read_a_channels_health(h: Harness) -> None:
    hook = await h.ok(
        "POST", "/channels", json={"name": "pub", "type": "webhook", "visibility": "public"}
    )
    async with h.container.sessions() as s, s.begin():
        member = await create_user(s, "member@example.com", "member password 1", "member")
        _, token = await create_token(s, member, "t", [x for x in SCOPES if x != "admin"])
    seen = await h.client.get(
        f"/api/v1/channels/{hook['id']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert seen.status_code == 200  # a member reads a public channel...
    health = await h.client.get(
        f"/api/v1/channels/{hook['id']}/health", headers={"Authorization": f"Bearer {token}"}
    )
    assert health.status_code == 403  # ...but not how it fails
    anonymous = await h.client.get(f"/api/v1/channels/{hook['id']}/health")
    assert anonymous.status_code == 401
