"""The channels pages over HTTP: the list, a creation form per type (the API's refusals
beside it, a generated secret shown once), settings, configuration, activation, a fetch
test, health, the parse template and its live preview; staff only."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.console_rig import PageClient, logged_in
from tests.fakes.feed_server import FeedServer, Post
from tests.platform_fixtures import Harness, make_settings, running_harness

from signalbridge.store import models as m

PINE = "LIC123456,buy,BTCUSDT,sl=58000,tp=62000"
TEMPLATE = (
    '{"name": "gold desk", "patterns": [{"regex": '
    '"(?P<symbol>[A-Z]+) NOW (?P<side>buy) SL (?P<stop_loss>\\\\d+) TP (?P<tp1>\\\\d+)"}]}'
)


async def channel_row(h: Harness, channel_id: int) -> m.ChannelSource:
    async with h.container.sessions() as s:
        return await s.get_one(m.ChannelSource, channel_id)


async def test_channel_pages_are_for_staff_only(harness: Harness) -> None:
    h = harness
    channel_id, _ = await h.webhook_channel("staff only")
    anon = PageClient(h)
    for path in ("/console/channels", "/console/channels/new", f"/console/channels/{channel_id}"):
        response = await anon.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=/console/channels")
    member = await logged_in(h, "member@example.com", "member")
    for path in ("/console/channels", "/console/channels/new", f"/console/channels/{channel_id}"):
        assert (await member.get(path)).status_code == 403
    await member.get("/portal")  # a page with the member's CSRF token
    for path in (
        "/console/channels",
        f"/console/channels/{channel_id}/settings",
        f"/console/channels/{channel_id}/deactivate",
        f"/console/channels/{channel_id}/preview",
        f"/console/channels/{channel_id}/test",
    ):
        refused = await member.post(path, {"name": "x", "type": "webhook", "message": "x"})
        assert refused.status_code == 403, path
    assert (await channel_row(h, channel_id)).is_active
    staff = await logged_in(h, "op@example.com", "operator")
    missing = await staff.get("/console/channels/987654")
    assert missing.status_code == 404 and "not found" in missing.text
    for client in (anon, member, staff):
        await client.aclose()


async def test_a_webhook_channel_is_created_and_its_secret_shown_once(harness: Harness) -> None:
    h = harness
    page = await logged_in(h, "op@example.com", "operator")
    form = await page.get("/console/channels/new?type=webhook")
    assert form.status_code == 200
    for field in ("cfg-secret", "cfg-auth", "cfg-allowed_sources", "cfg-parse_text"):
        assert f'id="{field}"' in form.text
    made = await page.post(
        "/console/channels",
        {
            "type": "webhook",
            "name": "TradingView alerts",
            "visibility": "public",
            "is_active": "on",
            "config.auth": "hmac",
            "config.parse_text": "on",
            "config.allowed_sources": "",
            "config.secret": "",
        },
    )
    assert made.status_code == 201, made.text
    secret = re.search(r"<code>([A-Za-z0-9_\-]{30,})</code>", made.text)
    assert secret is not None and "shown this once" in made.text
    async with h.container.sessions() as s:
        row = await s.scalar(
            select(m.ChannelSource).where(m.ChannelSource.name == "TradingView alerts")
        )
    assert row is not None and row.visibility == "public" and row.is_active
    detail = await page.get(f"/console/channels/{row.id}")
    assert detail.status_code == 200
    assert secret.group(1) not in detail.text and "****" in detail.text
    assert f"webhooks/channels/{row.id}" in detail.text
    listing = await page.get("/console/channels")
    assert listing.status_code == 200
    assert "TradingView alerts" in listing.text and secret.group(1) not in listing.text
    # the secret works: a signed delivery is taken
    delivered = await h.post_signal(row.id, secret.group(1), {"kind": "noise"})
    assert delivered.status_code in (200, 202), delivered.text
    await page.aclose()


async def test_a_refused_creation_keeps_what_was_typed_but_no_secret(harness: Harness) -> None:
    h = harness
    page = await logged_in(h, "op@example.com", "operator")
    await page.get("/console/channels/new?type=rss")
    refused = await page.post(
        "/console/channels",
        {
            "type": "rss",
            "name": "My feed",
            "visibility": "private",
            "config.url": "ftp://feeds.example.com/x",
            "config.interval_seconds": "soon",
        },
    )
    assert refused.status_code == 422
    assert 'role="alert"' in refused.text
    assert "URL scheme" in refused.text and "valid integer" in refused.text
    assert 'value="My feed"' in refused.text and 'value="ftp://feeds.example.com/x"' in refused.text
    assert 'value="soon"' in refused.text
    short = await page.post(
        "/console/channels",
        {"type": "webhook", "name": "hook", "config.secret": "tooShortSecret1"},
    )
    assert short.status_code == 422 and "at least 16" in short.text
    assert "tooShortSecret1" not in short.text
    async with h.container.sessions() as s:
        assert (await s.scalars(select(m.ChannelSource))).all() == []
    await page.aclose()


async def test_settings_are_saved_through_the_api_and_refusals_change_nothing(
    harness: Harness,
) -> None:
    h = harness
    channel_id, _ = await h.webhook_channel("settings")
    page = await logged_in(h, "admin2@example.com", "admin")
    shown = await page.get(f"/console/channels/{channel_id}")
    assert 'name="min_confidence"' in shown.text and 'value="0.9"' in shown.text
    assert 'name="track_record_public"' in shown.text
    saved = await page.post(
        f"/console/channels/{channel_id}/settings",
        {
            "name": "renamed",
            "visibility": "plan",
            "min_confidence": "0.75",
            "on_edit": "ignore",
            "dialect": "3commas",
            "max_signal_age_seconds": "120",
            "ai_assist": "on",
            "track_record_public": "on",
            "ai_max_price_distance_percent": "",
            "max_message_chars": "2000",
            "inbound_rate_limit": "30/minute",
        },
    )
    assert saved.status_code == 303, saved.text
    row = await channel_row(h, channel_id)
    assert row.name == "renamed" and row.visibility == "plan"
    assert str(row.min_confidence) in ("0.75", "0.750000000000000000")
    assert (row.on_edit, row.dialect, row.max_signal_age_seconds) == ("ignore", "3commas", 120)
    assert row.parse_text is False and row.ai_assist is True and row.ai_analysis is False
    assert row.track_record_public is True
    assert (row.max_message_chars, row.inbound_rate_limit) == (2000, "30/minute")
    after = await page.get(saved.headers["location"])
    assert "Settings saved." in after.text
    refused = await page.post(
        f"/console/channels/{channel_id}/settings",
        {"name": "again", "visibility": "plan", "min_confidence": "1.5", "on_edit": "ignore"},
    )
    assert refused.status_code == 422
    assert 'value="1.5"' in refused.text and 'value="again"' in refused.text
    assert "less than or equal to 1" in refused.text
    assert (await channel_row(h, channel_id)).name == "renamed"
    async with h.container.sessions() as s:
        actions = (
            await s.scalars(
                select(m.AuditEntry.action).where(
                    m.AuditEntry.entity == "channel", m.AuditEntry.entity_id == str(channel_id)
                )
            )
        ).all()
    assert "update" in actions
    await page.aclose()


async def test_configuration_edit_keeps_a_blank_secret(harness: Harness) -> None:
    h = harness
    channel_id, secret = await h.webhook_channel("config")
    page = await logged_in(h, "op@example.com", "operator")
    await page.get(f"/console/channels/{channel_id}")
    saved = await page.post(
        f"/console/channels/{channel_id}/config",
        {
            "config.auth": "body_secret",
            "config.secret_field": "passphrase",
            "config.parse_text": "on",
            "config.allowed_sources": "10.0.0.0/8\n192.168.1.7",
            "config.secret": "",
            "config.tolerance_seconds": "",
        },
    )
    assert saved.status_code == 303, saved.text
    row = await channel_row(h, channel_id)
    assert row.config["auth"] == "body_secret" and row.config["secret_field"] == "passphrase"
    assert row.config["allowed_sources"] == ["10.0.0.0/8", "192.168.1.7/32"]
    detail = await page.get(f"/console/channels/{channel_id}")
    assert secret not in detail.text
    bad = await page.post(
        f"/console/channels/{channel_id}/config",
        {"config.auth": "carrier pigeon", "config.secret": "a new secret long enough"},
    )
    assert bad.status_code == 422 and "a new secret long enough" not in bad.text
    assert (await channel_row(h, channel_id)).config["auth"] == "body_secret"
    await page.aclose()


async def test_deactivate_and_activate(harness: Harness) -> None:
    h = harness
    channel_id, _ = await h.webhook_channel("switch")
    page = await logged_in(h, "op@example.com", "operator")
    await page.get(f"/console/channels/{channel_id}")
    off = await page.post(f"/console/channels/{channel_id}/deactivate")
    assert off.status_code == 303 and not (await channel_row(h, channel_id)).is_active
    shown = await page.get(off.headers["location"])
    assert "Channel deactivated." in shown.text and "/activate" in shown.text
    probe = await page.post(f"/console/channels/{channel_id}/test")
    assert probe.status_code == 200 and "deactivated; nothing was called" in probe.text
    on = await page.post(f"/console/channels/{channel_id}/activate")
    assert on.status_code == 303 and (await channel_row(h, channel_id)).is_active
    forged = await page.http.post(
        f"/console/channels/{channel_id}/deactivate", data={"csrf_token": "x" * 43}
    )
    assert forged.status_code == 403 and (await channel_row(h, channel_id)).is_active
    await page.aclose()


async def test_a_webhook_probe_says_there_is_nothing_to_call(harness: Harness) -> None:
    h = harness
    channel_id, _ = await h.webhook_channel("push")
    page = await logged_in(h, "op@example.com", "operator")
    await page.get(f"/console/channels/{channel_id}")
    fragment = await page.post(
        f"/console/channels/{channel_id}/test", headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert "nothing to call" in fragment.text and "It works" in fragment.text
    await page.aclose()


@pytest.fixture
def site() -> Iterator[FeedServer]:
    server = FeedServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_an_rss_channel_fetch_test_says_what_it_read(
    tmp_path: Path, database_url: str, site: FeedServer
) -> None:
    site.publish_rss(
        "/feed.xml",
        [Post("BTC/USDT long", "SL 58000", guid="a"), Post("ETH short", "SL 4000", guid="b")],
    )
    settings = make_settings(tmp_path, database_url, allowed_hosts=["127.0.0.1"])
    async with running_harness(settings) as h:
        page = await logged_in(h, "op@example.com", "operator")
        await page.get("/console/channels/new?type=rss")
        made = await page.post(
            "/console/channels",
            {
                "type": "rss",
                "name": "feed",
                "visibility": "private",
                "is_active": "on",
                "config.url": site.url("/feed.xml"),
                "config.interval_seconds": "600",
            },
        )
        assert made.status_code == 303, made.text
        location = made.headers["location"]
        assert (await page.get(location)).status_code == 200
        channel_id = int(location.split("/")[-1].split("?")[0])
        assert (await channel_row(h, channel_id)).config["interval_seconds"] == 600
        probe = await page.post(f"/console/channels/{channel_id}/test")
        assert probe.status_code == 200
        assert "fetched and read, 2 item(s) found" in probe.text
        assert site.requests("/feed.xml")
        await page.aclose()


async def test_the_template_is_saved_and_the_preview_reads_like_the_pipeline(
    harness: Harness,
) -> None:
    h = harness
    channel_id, _ = await h.webhook_channel("gold")
    page = await logged_in(h, "op@example.com", "operator")
    await page.get(f"/console/channels/{channel_id}")
    bad = await page.post(
        f"/console/channels/{channel_id}/template",
        {"parse_template": '{"patterns": [{"regex": "(?P<nonsense>x"}]}'},
    )
    assert bad.status_code == 422 and "parse_template is not valid" in bad.text
    assert "(?P&lt;nonsense&gt;x" in bad.text  # what was typed, kept
    assert (await channel_row(h, channel_id)).parse_template is None
    saved = await page.post(
        f"/console/channels/{channel_id}/template", {"parse_template": TEMPLATE}
    )
    assert saved.status_code == 303, saved.text
    stored = (await channel_row(h, channel_id)).parse_template
    assert stored is not None and stored["name"] == "gold desk"

    hx = {"HX-Request": "true"}
    matched = await page.post(
        f"/console/channels/{channel_id}/preview",
        {"message": "XAUUSD NOW buy SL 1900 TP 2000"},
        headers=hx,
    )
    assert matched.status_code == 200 and "<html" not in matched.text
    assert "matched: template &#39;gold desk&#39;" in matched.text
    assert "XAUUSD" in matched.text and "1900" in matched.text and "Accepted" in matched.text
    # the draft in the editor is read instead of the stored template
    draft = await page.post(
        f"/console/channels/{channel_id}/preview",
        {"message": "XAUUSD NOW buy SL 1900 TP 2000", "parse_template": "{nope"},
        headers=hx,
    )
    assert draft.status_code == 200 and "not valid JSON" in draft.text
    await h.ok("PATCH", f"/channels/{channel_id}", json={"min_confidence": "0.99"})
    pine = await page.post(f"/console/channels/{channel_id}/preview", {"message": PINE}, headers=hx)
    assert "pineconnector" in pine.text and "0.95" in pine.text
    assert "Accepted" not in pine.text and "Waits in the review desk" in pine.text
    # without JavaScript: the whole page, the message kept
    plain = await page.post(f"/console/channels/{channel_id}/preview", {"message": "hello there"})
    assert plain.status_code == 200 and "<html" in plain.text
    assert "hello there</textarea>" in plain.text and "Noise" in plain.text
    await page.aclose()
