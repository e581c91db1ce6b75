"""Teaching a channel its format through the API, end to end: learn from 3-5 labelled
examples, store the template (audited), and read the channel's next post with it."""

from __future__ import annotations

from typing import Any

from tests.platform_fixtures import Harness

from signalbridge.channels.webhook import signed_headers
from signalbridge.services.auth import create_token, create_user

# A made-up channel: its own words for the zone, the stop and the targets, and the side only
# as a coloured dot; the general rules read none of them.
EXAMPLES: list[dict[str, Any]] = [
    {
        "text": "🟢 Pair: SOLUSDT\nBox 140.5 - 142\nBail 133\nAim 150 / 158 / 170",
        "expected": {
            "symbol": "SOL/USDT",
            "side": "long",
            "entry": {"low": "140.5", "high": "142"},
            "stop_loss": "133",
            "take_profits": ["150", "158", "170"],
        },
    },
    {
        "text": "🔴 Pair: ETHUSDT\nBox 3500 - 3520\nBail 3600\nAim 3400 / 3300",
        "expected": {
            "symbol": "ETH/USDT",
            "side": "short",
            "entry": {"low": "3500", "high": "3520"},
            "stop_loss": "3600",
            "take_profits": ["3400", "3300"],
        },
    },
    {
        "text": "🟢 Pair: ADAUSDT\nBox 0.45 - 0.46\nBail 0.42\nAim 0.5 / 0.55",
        "expected": {
            "symbol": "ADA/USDT",
            "side": "long",
            "entry": {"low": "0.45", "high": "0.46"},
            "stop_loss": "0.42",
            "take_profits": ["0.5", "0.55"],
        },
    },
    {
        "text": "🔴 Pair: LINKUSDT\nBox 18 - 18.4\nBail 19.5\nAim 17 / 16.2 / 15",
        "expected": {
            "symbol": "LINK/USDT",
            "side": "short",
            "entry": {"low": "18", "high": "18.4"},
            "stop_loss": "19.5",
            "take_profits": ["17", "16.2", "15"],
        },
    },
]
NEW_POST = "🔴 Pair: BNBUSDT\nBox 600 - 605\nBail 620\nAim 580 / 560"


async def learn(h: Harness, channel: int, body: dict[str, Any], **kw: Any) -> Any:
    return await h.api("POST", f"/channels/{channel}/learn-template", json=body, **kw)


async def stored_template(h: Harness, channel: int) -> Any:
    return (await h.ok("GET", f"/channels/{channel}"))["parse_template"]


async def test_dry_run_scores_and_stores_nothing(harness: Harness) -> None:
    channel, _ = await harness.webhook_channel()
    response = await learn(harness, channel, {"examples": EXAMPLES, "dry_run": True})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["stored"] is False
    assert {"entry", "stop_loss", "take_profits", "symbol", "side"} <= set(body["learned"])
    assert body["template"]["fields"]["stop_loss"] == {"label": "bail", "read": "first"}
    score = body["score"]
    assert score["examples"] == 4
    assert score["right_learned"] > score["right_generic"]
    assert score["wrong_at_0_9"] == 0
    assert await stored_template(harness, channel) is None


async def test_learned_template_is_stored_audited_and_used(harness: Harness) -> None:
    channel, secret = await harness.webhook_channel()
    before = await harness.client.post(
        f"/webhooks/channels/{channel}",
        content=NEW_POST.encode(),
        headers={**signed_headers(secret, NEW_POST.encode()), "Content-Type": "text/plain"},
    )
    assert before.json()["signal_id"] is None  # the general rules do not read the dots

    response = await learn(harness, channel, {"examples": EXAMPLES[:3]})
    assert response.status_code == 200, response.text
    assert response.json()["stored"] is True
    stored = await stored_template(harness, channel)
    assert stored["fields"]["side"] == {"long": ["🟢"], "short": ["🔴"]}
    audit = (await harness.ok("GET", "/audit?limit=50"))["items"]
    assert any(
        row["entity"] == "channel"
        and row["entity_id"] == str(channel)
        and "parse_template" in (row["changes"] or {})
        for row in audit
    ), audit

    text = NEW_POST.replace("600 - 605", "601 - 606").encode()  # a new body, not a replay
    after = await harness.client.post(
        f"/webhooks/channels/{channel}",
        content=text,
        headers={**signed_headers(secret, text), "Content-Type": "text/plain"},
    )
    assert after.status_code == 202, after.text
    signal_id = after.json()["signal_id"]
    assert signal_id is not None
    signal = await harness.ok("GET", f"/signals/{signal_id}")
    assert signal["side"] == "short"
    assert signal["stop_loss"] == "620"
    assert [str(t) for t in signal["take_profits"]] == ["580", "560"]


async def test_hand_written_parts_are_kept(harness: Harness) -> None:
    channel, _ = await harness.webhook_channel()
    async with harness.container.sessions() as s, s.begin():
        from signalbridge.store import models as m

        row = await s.get(m.ChannelSource, channel)
        assert row is not None
        row.parse_template = {"name": "mine", "symbols": {"yellow metal": "XAUUSD"}}
    response = await learn(harness, channel, {"examples": EXAMPLES[1:]})
    assert response.status_code == 200, response.text
    stored = await stored_template(harness, channel)
    assert stored["name"] == "mine"
    assert stored["symbols"] == {"yellow metal": "XAUUSD"}
    assert "fields" in stored


async def test_bad_examples_are_refused_and_lose_nothing(harness: Harness) -> None:
    channel, _ = await harness.webhook_channel()
    await learn(harness, channel, {"examples": EXAMPLES[:3]})
    kept = await stored_template(harness, channel)
    assert kept is not None

    too_few = await learn(harness, channel, {"examples": EXAMPLES[:2]})
    assert too_few.status_code == 422
    too_many = await learn(harness, channel, {"examples": EXAMPLES + EXAMPLES[:2]})
    assert too_many.status_code == 422

    contradicting = [dict(e) for e in EXAMPLES[:3]]
    moved = dict(contradicting[2]["expected"])
    moved["stop_loss"] = "0.46"  # written after "Zone" here, after "Invalidation" elsewhere
    contradicting[2] = {"text": contradicting[2]["text"], "expected": moved}
    refused = await learn(harness, channel, {"examples": contradicting})
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "cannot_learn"
    assert "stop_loss" in error["message"]

    not_there = [dict(e) for e in EXAMPLES[:3]]
    not_there[0] = {"text": "🟢 SOL soon", "expected": EXAMPLES[0]["expected"]}
    missing = await learn(harness, channel, {"examples": not_there})
    assert missing.status_code == 422
    assert "not written" in missing.json()["error"]["message"]

    nonsense = await learn(harness, channel, {"examples": [{"text": "x", "expected": 3}] * 3})
    assert nonsense.status_code == 422
    assert await stored_template(harness, channel) == kept

    absent = await learn(harness, 2**62, {"examples": EXAMPLES[:3]})
    assert absent.status_code == 404


async def test_only_channel_editors_may_teach(harness: Harness) -> None:
    channel, _ = await harness.webhook_channel()
    async with harness.container.sessions() as s, s.begin():
        member = await create_user(s, "member@example.com", "member password 1", "member")
        _, token = await create_token(s, member, "t", ["channels:read", "channels:write"])
    headers = {"Authorization": f"Bearer {token}"}
    refused = await learn(harness, channel, {"examples": EXAMPLES[:3]}, headers=headers)
    assert refused.status_code == 403
    anonymous = await harness.client.post(
        f"/api/v1/channels/{channel}/learn-template", json={"examples": EXAMPLES[:3]}
    )
    assert anonymous.status_code == 401
    assert await stored_template(harness, channel) is None
