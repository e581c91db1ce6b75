"""Channel settings through the API, on SQLite and PostgreSQL: set on create and update,
validated (a bad value is a 422 that changes nothing, an unknown field too), audited, and
obeyed by the intake (threshold, text parsing, dialect)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from tests.platform_fixtures import Harness

from signalbridge.store import models as m

TEMPLATE = {"name": "moon desk", "keywords": {"long": ["moon"]}}
SETTINGS: dict[str, Any] = {
    "min_confidence": "0.75",
    "parse_template": TEMPLATE,
    "parse_text": False,
    "dialect": "pineconnector",
    "max_signal_age_seconds": 120,
}
PINE = b"LIC123456,buy,BTCUSDT,sl=58000,tp=62000"
TRADINGVIEW = (
    b'{"ticker": "BTCUSDT", "action": "buy", "stop_loss": "58000", "take_profit": "62000"}'
)
CANONICAL = {
    "kind": "signal",
    "symbol": "BTC/USDT",
    "side": "long",
    "order_type": "market",
    "stop_loss": "58000",
    "take_profits": ["62000"],
}
FREE_TEXT = b"BTCUSDT long now, stop 58000, target 62000"


async def channels(h: Harness) -> int:
    async with h.container.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(m.ChannelSource)) or 0)


async def stored(h: Harness, channel_id: int) -> m.ChannelSource:
    async with h.container.sessions() as s:
        return await s.get_one(m.ChannelSource, channel_id)


async def test_settings_are_kept_on_create_and_audited(harness: Harness) -> None:
    h = harness
    body = await h.ok("POST", "/channels", json={"name": "set", "type": "webhook", **SETTINGS})
    for name, value in SETTINGS.items():
        assert body[name] == value, name
    row = await stored(h, body["id"])
    assert str(row.min_confidence) == "0.75" and row.parse_template == TEMPLATE
    assert (row.parse_text, row.dialect, row.max_signal_age_seconds) == (
        False,
        "pineconnector",
        120,
    )
    async with h.container.sessions() as s:
        entry = await s.scalar(
            select(m.AuditEntry).where(
                m.AuditEntry.entity == "channel", m.AuditEntry.entity_id == str(body["id"])
            )
        )
    assert entry is not None and entry.changes["min_confidence"] == "0.75"
    assert entry.changes["dialect"] == "pineconnector"
    plain = await h.ok("POST", "/channels", json={"name": "plain", "type": "webhook"})
    assert (plain["min_confidence"], plain["parse_text"], plain["dialect"]) == ("0.9", True, None)
    assert plain["max_signal_age_seconds"] is None and plain["parse_template"] is None


async def test_bad_or_unknown_settings_are_refused_and_change_nothing(harness: Harness) -> None:
    h = harness
    bad: list[dict[str, Any]] = [
        {"min_confidence": "1.01"},
        {"min_confidence": "-0.1"},
        {"min_confidence": "abc"},
        {"min_confidence": "1e-9999990"},
        {"min_confidence": True},
        {"parse_template": {"patterns": ["("]}},
        {"parse_template": {"nonsense": 1}},
        {"parse_template": {}},
        {"parse_text": "sometimes"},
        {"dialect": "tradingview"},
        {"dialect": "3Commas"},
        {"max_signal_age_seconds": 0},
        {"max_signal_age_seconds": 10**12},
        {"max_signal_age_seconds": "soon"},
        {"min_confidnce": "0.5"},  # a typo is not dropped in silence
        {"owner_id": 1},
    ]
    before = await channels(h)
    for extra in bad:
        response = await h.api("POST", "/channels", json={"name": "x", "type": "webhook", **extra})
        assert response.status_code == 422, (extra, response.text)
        assert response.json()["error"]["message"]
    assert await channels(h) == before
    channel_id = (await h.ok("POST", "/channels", json={"name": "y", "type": "webhook"}))["id"]
    row = await stored(h, channel_id)
    for extra in [*bad, {"min_confidence": None}, {"parse_text": None}]:
        response = await h.api("PATCH", f"/channels/{channel_id}", json=extra)
        assert response.status_code == 422, (extra, response.text)
    after = await stored(h, channel_id)
    for name in ("min_confidence", "parse_template", "parse_text", "dialect"):
        assert getattr(after, name) == getattr(row, name)
    # an exchange connection has no such settings
    paper = {"futures": True, "feed": {"seed": 3, "volatility": "0"}}
    response = await h.api(
        "POST",
        "/connections",
        json={"name": "p", "type": "paper", "config": paper, "min_confidence": "0.5"},
    )
    assert response.status_code == 422 and "only a channel" in response.json()["error"]["message"]


async def test_settings_change_on_update_and_null_clears(harness: Harness) -> None:
    h = harness
    channel_id = (
        await h.ok("POST", "/channels", json={"name": "u", "type": "webhook", **SETTINGS})
    )["id"]
    changed = await h.ok(
        "PATCH",
        f"/channels/{channel_id}",
        json={"min_confidence": "0.5", "dialect": "none", "max_signal_age_seconds": None},
    )
    assert changed["min_confidence"] == "0.5" and changed["dialect"] is None
    assert changed["max_signal_age_seconds"] is None
    assert changed["parse_template"] == TEMPLATE and changed["parse_text"] is False  # kept
    cleared = await h.ok("PATCH", f"/channels/{channel_id}", json={"parse_template": None})
    assert cleared["parse_template"] is None
    async with h.container.sessions() as s:
        changes = (
            await s.scalars(
                select(m.AuditEntry.changes)
                .where(
                    m.AuditEntry.entity == "channel",
                    m.AuditEntry.entity_id == str(channel_id),
                    m.AuditEntry.action == "update",
                )
                .order_by(m.AuditEntry.id)
            )
        ).all()
    assert changes[0]["min_confidence"] == ["0.75", "0.5"]
    assert changes[0]["dialect"] == ["pineconnector", None]
    assert changes[1]["parse_template"] == [TEMPLATE, None]


async def post(h: Harness, channel_id: int, secret: str, body: bytes | dict[str, Any]) -> Any:
    return await h.post_signal(channel_id, secret, body)


async def test_the_intake_obeys_dialect_text_parsing_and_threshold(harness: Harness) -> None:
    h = harness
    channel_id, secret = await h.webhook_channel("settings")
    await h.ok(
        "PATCH",
        f"/channels/{channel_id}",
        json={"dialect": "pineconnector", "parse_text": False, "min_confidence": "0.5"},
    )
    pine = await post(h, channel_id, secret, PINE)
    assert pine.status_code == 202 and pine.json()["status"] == "parsed", pine.text
    tradingview = await post(h, channel_id, secret, TRADINGVIEW)
    assert tradingview.status_code == 422
    assert "PineConnector" in tradingview.json()["error"]["message"]
    text = await post(h, channel_id, secret, FREE_TEXT)
    assert text.status_code == 422 and "text parsing is off" in text.json()["error"]["message"]
    canonical = await post(h, channel_id, secret, CANONICAL)
    assert canonical.status_code == 202, canonical.text
    # any dialect, free text on, and a threshold above the dialect's confidence: review
    await h.ok(
        "PATCH",
        f"/channels/{channel_id}",
        json={"dialect": "none", "parse_text": True, "min_confidence": "0.99"},
    )
    # (another body: the same one inside the replay window answers its first outcome)
    tradingview = await post(h, channel_id, secret, TRADINGVIEW.replace(b"58000", b"57000"))
    assert tradingview.status_code == 202 and tradingview.json()["status"] == "review"
    async with h.container.sessions() as s:
        refused = (
            await s.scalars(
                select(m.Message.error).where(
                    m.Message.channel_id == channel_id,
                    m.Message.status == m.MessageStatus.REJECTED,
                )
            )
        ).all()
    assert len(refused) == 2 and all(refused)
