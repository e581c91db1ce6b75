"""Bad input gets a clear error and changes nothing (or is kept as rejected)."""

from __future__ import annotations

import json

from sqlalchemy import func, select
from tests.platform_fixtures import SIGNAL, Harness, eventually

from signalbridge.channels.webhook import signature, signed_headers
from signalbridge.store import models as m


async def _counts(h: Harness) -> tuple[int, int, int]:
    async with h.container.sessions() as s:
        return (
            int(await s.scalar(select(func.count()).select_from(m.Message)) or 0),
            int(await s.scalar(select(func.count()).select_from(m.Signal)) or 0),
            int(await s.scalar(select(func.count()).select_from(m.Execution)) or 0),
        )


async def test_signature_problems_are_401_and_store_nothing(harness: Harness) -> None:
    h = harness
    channel_id, secret = await h.webhook_channel()
    body = json.dumps(SIGNAL).encode()
    url = f"/webhooks/channels/{channel_id}"
    tampered = body.replace(b"58000", b"58001")
    good = signed_headers(secret, body)
    cases = [
        {},  # no headers
        {**good, "X-SignalBridge-Signature": "sha256=" + "0" * 64},
        signed_headers("another-secret-entirely", body),
        {**good, "X-SignalBridge-Signature": good["X-SignalBridge-Signature"][7:]},  # no scheme
        signed_headers(secret, tampered),  # the signature of other bytes
        {k: v for k, v in good.items() if k != "X-SignalBridge-Timestamp"},
        {k: v for k, v in good.items() if k != "X-SignalBridge-Delivery"},
        {**good, "X-SignalBridge-Delivery": "another-id"},  # not what was signed
        {**good, "X-SignalBridge-Signature": signature(secret, "", "", body)},  # body only
    ]
    for headers in cases:
        response = await h.client.post(url, content=body, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.json()["error"]["code"] == "unauthorized"
    assert await _counts(h) == (0, 0, 0)

    async def failure_recorded() -> bool:
        health = (await h.ok("GET", f"/channels/{channel_id}"))["health"]
        return bool(health) and health["consecutive_failures"] >= 1

    await eventually(failure_recorded)
    health = (await h.ok("GET", f"/channels/{channel_id}"))["health"]
    assert "signature" in health["last_error"]
    assert (await h.post_signal(channel_id, secret, {"kind": "noise"})).status_code == 202
    health = (await h.ok("GET", f"/channels/{channel_id}"))["health"]
    assert health["consecutive_failures"] == 0 and health["last_success_at"] is not None


async def test_malformed_signed_headers_are_422(harness: Harness) -> None:
    """An authentic sender's mistakes get a clear message (the signature proves the sender)."""
    h = harness
    channel_id, secret = await h.webhook_channel()
    body = json.dumps(SIGNAL).encode()
    for delivery, stamp in (("", "1767225600"), ("with.dot", "1767225600"), ("ok", "-5")):
        headers = {
            "X-SignalBridge-Timestamp": stamp,
            "X-SignalBridge-Delivery": delivery,
            "X-SignalBridge-Signature": signature(secret, stamp, delivery, body),
        }
        response = await h.client.post(
            f"/webhooks/channels/{channel_id}", content=body, headers=headers
        )
        assert response.status_code == 422, response.text
        assert "X-SignalBridge-" in response.json()["error"]["message"]
    assert await _counts(h) == (0, 0, 0)


async def test_oversize_body_is_413(harness: Harness) -> None:
    h = harness
    channel_id, secret = await h.webhook_channel()
    body = b'{"text":"' + b"x" * (64 * 1024) + b'"}'
    response = await h.client.post(
        f"/webhooks/channels/{channel_id}",
        content=body,
        headers=signed_headers(secret, body),
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert await _counts(h) == (0, 0, 0)


async def test_invalid_json_is_422_and_kept_as_rejected(harness: Harness) -> None:
    h = harness
    channel_id, secret = await h.webhook_channel()
    response = await h.post_signal(channel_id, secret, b'{"kind": "signal", "symbol": ')
    assert response.status_code == 422
    error = response.json()["error"]
    assert "not valid JSON" in error["message"]
    message_id = error["details"]["message_id"]
    message = await h.ok("GET", f"/messages/{message_id}")
    assert message["status"] == "rejected" and "JSON" in message["error"]
    assert await _counts(h) == (1, 0, 0)


async def test_broken_geometry_is_422_with_the_reason(harness: Harness) -> None:
    h = harness
    channel_id, secret = await h.webhook_channel()
    connection_id = await h.paper_connection()
    await h.follow(channel_id, connection_id)
    wrong = {**SIGNAL, "stop_loss": "61000"}  # a long with its stop above the entry
    response = await h.post_signal(channel_id, secret, wrong)
    assert response.status_code == 422
    assert "stop loss 61000 must be below the entry" in response.json()["error"]["message"]
    assert await _counts(h) == (1, 0, 0)
    # the same rejected delivery again is still a 422, and still stores nothing more
    again = await h.post_signal(channel_id, secret, wrong)
    assert again.status_code == 422 and await _counts(h) == (1, 0, 0)


async def test_missing_fields_are_all_reported(harness: Harness) -> None:
    h = harness
    channel_id, secret = await h.webhook_channel()
    response = await h.post_signal(
        channel_id, secret, {"kind": "signal", "side": "sideways", "stop_loss": 1.5}
    )
    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert "symbol is required" in message and "side must be one of" in message


async def test_unknown_or_inactive_channel(harness: Harness) -> None:
    h = harness
    # without the secret, a missing channel looks like any other failed signature
    response = await h.post_signal(999, "whatever-secret", SIGNAL)
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
    channel_id, secret = await h.webhook_channel()
    await h.ok("POST", f"/channels/{channel_id}/deactivate")
    # with it, the sender learns that the channel is deactivated
    response = await h.post_signal(channel_id, secret, SIGNAL)
    assert response.status_code == 403
    assert await _counts(h) == (0, 0, 0)


async def test_api_needs_a_valid_token_with_the_scope(harness: Harness) -> None:
    h = harness
    assert (await h.client.get("/api/v1/signals")).status_code == 401
    bad = await h.client.get("/api/v1/signals", headers={"Authorization": "Bearer sbt_nope"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "unauthorized"
    from signalbridge.services.auth import create_token

    async with h.container.sessions() as s, s.begin():
        admin = await s.scalar(select(m.User))
        assert admin is not None
        _, reader = await create_token(s, admin, "reader", ["signals:read"])
    headers = {"Authorization": f"Bearer {reader}"}
    assert (await h.client.get("/api/v1/signals", headers=headers)).status_code == 200
    denied = await h.client.get("/api/v1/connections", headers=headers)
    assert denied.status_code == 403 and "connections:read" in denied.json()["error"]["message"]
    post = await h.client.post(
        "/api/v1/channels", headers=headers, json={"name": "x", "type": "webhook"}
    )
    assert post.status_code == 403
