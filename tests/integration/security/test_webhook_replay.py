"""Row 32: a captured webhook is replayed; row 7 of issue 11: unauthenticated callers learn
nothing. On SQLite and PostgreSQL.

The signature covers the timestamp, the delivery id and the body; a stale timestamp is
refused; a body seen on the channel inside the window is a duplicate whatever delivery id
it carries, also when the replays race each other.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import shlex
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from tests.platform_fixtures import SIGNAL, Harness

import signalbridge.channels.webhook as webhook
from signalbridge.bootstrap import build_container
from signalbridge.channels.webhook import signature, signed_headers
from signalbridge.integrations.sealing import seal
from signalbridge.integrations.vault import generate_key
from signalbridge.settings import Settings
from signalbridge.store import models as m
from signalbridge.store.migrate import upgrade

NOISE = {"kind": "noise"}


async def _counts(h: Harness) -> tuple[int, int]:
    async with h.container.sessions() as s:
        return (
            int(await s.scalar(select(func.count()).select_from(m.Message)) or 0),
            int(await s.scalar(select(func.count()).select_from(m.Signal)) or 0),
        )


async def _post(h: Harness, channel_id: int, body: bytes, headers: dict[str, str]) -> Any:
    return await h.client.post(
        f"/webhooks/channels/{channel_id}",
        content=body,
        headers={**headers, "Content-Type": "application/json"},
    )


def _outcome(response: Any) -> Any:
    """The stored outcome, from a 2xx answer or a 422's details (a rejected message)."""
    answer = response.json()
    return answer["error"]["details"] if response.status_code == 422 else answer


async def _channel(h: Harness, **config: Any) -> tuple[int, str]:
    body = await h.ok(
        "POST", "/channels", json={"name": "hook", "type": "webhook", "config": config}
    )
    return body["id"], body["generated_secrets"]["secret"]


async def test_the_same_signed_request_again_is_a_duplicate(harness: Harness) -> None:
    h = harness
    channel_id, secret = await h.webhook_channel()
    body = json.dumps(SIGNAL).encode()
    captured = signed_headers(secret, body)
    first = await _post(h, channel_id, body, captured)
    assert first.status_code == 202, first.text
    again = await _post(h, channel_id, body, captured)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["signal_id"] == first.json()["signal_id"]
    assert again.json()["message_id"] == first.json()["message_id"]
    assert await _counts(h) == (1, 1)


async def test_a_new_delivery_id_inside_the_window_is_a_duplicate(harness: Harness) -> None:
    h = harness
    channel_id, secret = await h.webhook_channel()
    body = json.dumps(SIGNAL).encode()
    first = await _post(h, channel_id, body, signed_headers(secret, body, delivery="first"))
    assert first.status_code == 202, first.text
    # the sender itself re-signs with a new id and a new time: still the same body
    resent = signed_headers(secret, body, delivery="second", timestamp=int(time.time()) + 2)
    again = await _post(h, channel_id, body, resent)
    assert again.status_code == 200, again.text
    assert again.json()["signal_id"] == first.json()["signal_id"]
    assert await _counts(h) == (1, 1)
    # a captured request's delivery header swapped without the secret: not authentic
    captured = signed_headers(secret, body, delivery="third")
    swapped = {**captured, "X-SignalBridge-Delivery": "fourth"}
    forged = await _post(h, channel_id, body, swapped)
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "unauthorized"
    # another body is a new message
    other = json.dumps({**SIGNAL, "stop_loss": "57000"}).encode()
    assert (await _post(h, channel_id, other, signed_headers(secret, other))).status_code == 202
    assert await _counts(h) == (2, 2)


async def test_stale_or_future_timestamps_are_refused_and_store_nothing(harness: Harness) -> None:
    h = harness
    channel_id, secret = await h.webhook_channel()
    tolerance = h.container.settings.webhook_tolerance_seconds
    assert tolerance == 300
    body = json.dumps(SIGNAL).encode()
    now = int(time.time())
    for stamp in (now - tolerance - 5, now + tolerance + 5):
        response = await _post(h, channel_id, body, signed_headers(secret, body, timestamp=stamp))
        assert response.status_code == 401, response.text
        error = response.json()["error"]
        assert error["code"] == "stale_delivery" and "sign it again" in error["message"]
    assert await _counts(h) == (0, 0)
    # inside the tolerance (a sender's clock a little off) is fine
    inside = signed_headers(secret, body, timestamp=now - tolerance + 30)
    assert (await _post(h, channel_id, body, inside)).status_code == 202
    assert await _counts(h) == (1, 1)


async def test_a_forged_timestamp_without_re_signing_is_401(harness: Harness) -> None:
    h = harness
    channel_id, secret = await h.webhook_channel()
    body = json.dumps(SIGNAL).encode()
    old = signed_headers(secret, body, timestamp=int(time.time()) - 3600)
    forged = {**old, "X-SignalBridge-Timestamp": str(int(time.time()))}
    response = await _post(h, channel_id, body, forged)
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
    assert await _counts(h) == (0, 0)


async def test_after_the_window_a_capture_is_stale_and_the_body_is_new_again(
    harness: Harness,
) -> None:
    """A channel's own tolerance (1 s here) sets both the signature's life and the window."""
    h = harness
    channel_id, secret = await _channel(h, tolerance_seconds=1)
    body = json.dumps(SIGNAL).encode()
    captured = signed_headers(secret, body)
    first = await _post(h, channel_id, body, captured)
    assert first.status_code == 202, first.text
    await asyncio.sleep(2.2)
    replayed = await _post(h, channel_id, body, captured)
    assert replayed.status_code == 401 and replayed.json()["error"]["code"] == "stale_delivery"
    assert await _counts(h) == (1, 1)
    # the provider sending the same signal again, later, freshly signed: a new signal
    fresh = await _post(h, channel_id, body, signed_headers(secret, body))
    assert fresh.status_code == 202, fresh.text
    assert fresh.json()["signal_id"] != first.json()["signal_id"]
    # and a delivery id stays the idempotency key of its delivery, window or not
    other = json.dumps({**SIGNAL, "stop_loss": "57000"}).encode()
    same_id = signed_headers(secret, other, delivery=captured["X-SignalBridge-Delivery"])
    again = await _post(h, channel_id, other, same_id)
    assert again.status_code == 200 and again.json()["signal_id"] == first.json()["signal_id"]
    assert await _counts(h) == (2, 2)


async def test_concurrent_replays_with_different_delivery_ids_make_one_signal(
    harness: Harness,
) -> None:
    h = harness
    channel_id, secret = await h.webhook_channel()
    connection_id = await h.paper_connection()
    await h.follow(channel_id, connection_id)
    body = json.dumps(SIGNAL).encode()
    responses = await asyncio.gather(
        *(_post(h, channel_id, body, signed_headers(secret, body)) for _ in range(20))
    )
    assert all(r.status_code in (200, 202) for r in responses), [r.text for r in responses]
    assert sum(r.status_code == 202 for r in responses) == 1
    assert len({r.json()["signal_id"] for r in responses}) == 1
    assert await _counts(h) == (1, 1)
    async with h.container.sessions() as s:
        executions = await s.scalar(select(func.count()).select_from(m.Execution))
    assert executions == 1


async def test_body_secret_mode_strips_the_secret_and_deduplicates(harness: Harness) -> None:
    h = harness
    channel_id, secret = await _channel(h, auth="body_secret", secret_field="passphrase")
    detail = await h.ok("GET", f"/channels/{channel_id}")
    assert secret not in json.dumps(detail)
    text = '{"passphrase": "%s", "text": "BTCUSDT LONG entry 60000 SL 58000 TP 62000"}'
    body = (text % secret).encode()
    first = await h.client.post(f"/webhooks/channels/{channel_id}", content=body)
    assert first.status_code in (202, 422), first.text
    message_id = _outcome(first)["message_id"]
    message = await h.ok("GET", f"/messages/{message_id}")
    assert secret not in message["text"] and "passphrase" not in message["text"]
    assert message["text"] == '{"text": "BTCUSDT LONG entry 60000 SL 58000 TP 62000"}'
    # the same body again, whatever delivery header it carries: a duplicate
    for delivery in ("x", "y"):
        again = await h.client.post(
            f"/webhooks/channels/{channel_id}",
            content=body,
            headers={"X-SignalBridge-Delivery": delivery},
        )
        assert again.status_code in (200, 422), again.text
        got = _outcome(again)
        assert got["message_id"] == message_id and got["duplicate"] is True
    # numbers are kept exactly as sent, and the secret may sit anywhere in the object
    canonical = json.dumps({**SIGNAL, "entry": {"low": "59900.50", "high": "60100"}})
    body = (canonical[:-1] + ', "passphrase": "' + secret + '"}').encode()
    second = await h.client.post(f"/webhooks/channels/{channel_id}", content=body)
    assert second.status_code == 202, second.text
    stored = await h.ok("GET", f"/messages/{second.json()['message_id']}")
    assert stored["text"] == canonical
    signal = await h.ok("GET", f"/signals/{second.json()['signal_id']}")
    assert signal["symbol"] == "BTC/USDT" and signal["entry_high"] == "60100"
    # wrong, missing, doubled or non-string secrets are 401 and store nothing
    before = await _counts(h)
    for bad in (
        {"passphrase": secret[:-1] + "x", "kind": "noise"},
        {"kind": "noise"},
        {"passphrase": 12345678901234567890, "kind": "noise"},
    ):
        response = await h.client.post(f"/webhooks/channels/{channel_id}", json=bad)
        assert response.status_code == 401, response.text
    doubled = f'{{"passphrase": "{secret}", "passphrase": "{secret}", "kind": "noise"}}'
    response = await h.client.post(f"/webhooks/channels/{channel_id}", content=doubled)
    assert response.status_code == 401
    # an HMAC signature does not open a body_secret channel
    noise = json.dumps(NOISE).encode()
    assert (await _post(h, channel_id, noise, signed_headers(secret, noise))).status_code == 401
    assert await _counts(h) == before
    async with h.container.sessions() as s:
        texts = (await s.scalars(select(m.Message.text))).all()
    assert all(secret not in t for t in texts)


async def test_body_secret_concurrent_replays_make_one_signal(harness: Harness) -> None:
    h = harness
    channel_id, secret = await _channel(h, auth="body_secret")
    body = json.dumps({**SIGNAL, "secret": secret}).encode()
    responses = await asyncio.gather(
        *(
            h.client.post(
                f"/webhooks/channels/{channel_id}",
                content=body,
                headers={"X-SignalBridge-Delivery": f"d{i}"},
            )
            for i in range(10)
        )
    )
    assert sorted(r.status_code for r in responses) == [200] * 9 + [202]
    assert await _counts(h) == (1, 1)


# --- unauthenticated callers learn nothing ---------------------------------------------


@pytest.fixture
def hmac_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts HMAC computations and body-secret scans made by the webhook channel."""
    calls = [0, 0]
    original_signature, original_scan = webhook.signature, webhook.find_body_secret

    def counted_signature(*args: Any) -> str:
        calls[0] += 1
        return original_signature(*args)

    def counted_scan(*args: Any) -> Any:
        calls[1] += 1
        return original_scan(*args)

    monkeypatch.setattr(webhook, "signature", counted_signature)
    monkeypatch.setattr(webhook, "find_body_secret", counted_scan)
    yield calls


async def test_no_valid_signature_gets_the_same_401_everywhere(
    harness: Harness, hmac_calls: list[int]
) -> None:
    h = harness
    active, _ = await h.webhook_channel("active")
    inactive, _ = await h.webhook_channel("inactive")
    await h.ok("POST", f"/channels/{inactive}/deactivate")
    body_secret, _ = await _channel(h, auth="body_secret")
    async with h.container.sessions() as s, s.begin():
        feed = m.ChannelSource(name="feed", type="rss", config={})
        s.add(feed)
        await s.flush()
        other_type = feed.id
    ids = {
        "active": active,
        "deactivated": inactive,
        "body_secret": body_secret,
        "missing": 987654,
        "beyond_64_bits": 2**70,
        "not_a_webhook_channel": other_type,
    }
    body = json.dumps(SIGNAL).encode()
    headers = signed_headers("not-the-secret-of-any-channel", body)
    answers: dict[str, tuple[int, Any, str | None]] = {}
    for name, channel_id in ids.items():
        before = list(hmac_calls)
        response = await _post(h, channel_id, body, headers)
        answers[name] = (
            response.status_code,
            response.json(),
            response.headers.get("www-authenticate"),
        )
        # the same work: one HMAC and one body-secret scan, whatever the channel
        assert [hmac_calls[0] - before[0], hmac_calls[1] - before[1]] == [1, 1], name
    assert len(set(map(repr, answers.values()))) == 1, answers
    status, payload, _ = answers["missing"]
    assert status == 401 and payload["error"]["code"] == "unauthorized"
    assert await _counts(h) == (0, 0)


async def test_no_valid_signature_takes_the_same_time_everywhere(harness: Harness) -> None:
    """Medians of interleaved calls, compared loosely: the paths do the same work, so only a
    real difference (a database read, a write on one path) could spread them this far."""
    h = harness
    active, _ = await h.webhook_channel("active")
    inactive, _ = await h.webhook_channel("inactive")
    await h.ok("POST", f"/channels/{inactive}/deactivate")
    cases = {"active": active, "deactivated": inactive, "missing": 987654}
    body = json.dumps(SIGNAL).encode()
    headers = signed_headers("not-the-secret-of-any-channel", body)
    for channel_id in cases.values():  # warm up every path once
        assert (await _post(h, channel_id, body, headers)).status_code == 401
    timings: dict[str, list[float]] = {name: [] for name in cases}
    rounds = random.Random(11)
    for _ in range(40):
        order = list(cases.items())
        rounds.shuffle(order)
        for name, channel_id in order:
            started = time.perf_counter()
            response = await _post(h, channel_id, body, headers)
            timings[name].append(time.perf_counter() - started)
            assert response.status_code == 401
    medians = {name: statistics.median(values) for name, values in timings.items()}
    assert max(medians.values()) < 3 * min(medians.values()), medians


# --- signalbridge send ---------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(data_dir: Path, database_url: str, key: str) -> dict[str, str]:
    env = {
        **os.environ,
        "SIGNALBRIDGE_DATA_DIR": str(data_dir),
        "SIGNALBRIDGE_DATABASE_URL": database_url,
        "SIGNALBRIDGE_SECRET_KEYS": key,
        "SIGNALBRIDGE_ADMIN_PASSWORD": "send test password",
        "SIGNALBRIDGE_LOG_JSON": "false",
        "SIGNALBRIDGE_LOG_LEVEL": "WARNING",
    }
    env.pop("SIGNALBRIDGE_CHANNEL_SECRET", None)
    return env


async def _plant_channel(settings: Settings, secret: str) -> int:
    c = build_container(settings)
    try:
        await upgrade(c.engine)
        async with c.sessions() as s, s.begin():
            row = m.ChannelSource(name="cli", type="webhook", config={"parse_text": True})
            s.add(row)
            await s.flush()
            row.secrets_enc = seal(c.vault, "channel_sources", row.id, {"secret": secret})
            return row.id
    finally:
        await c.engine.dispose()


async def _messages(settings: Settings) -> list[str]:
    c = build_container(settings)
    try:
        async with c.sessions() as s:
            return list((await s.scalars(select(m.Message.external_id))).all())
    finally:
        await c.engine.dispose()


def _cli(args: list[str], env: dict[str, str], stdin: str | None = None) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "signalbridge.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_cli_send_and_its_curl_against_a_running_server(tmp_path: Path) -> None:
    # A real server and CLI processes: once, on the embedded default (the replay rules
    # themselves are tested on both databases above).
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'signalbridge.db'}"
    key, secret = generate_key(), "cli-send-secret-0123456789"
    env = _env(tmp_path, database_url, key)
    settings = Settings(data_dir=tmp_path, database_url=database_url, secret_keys=key)
    channel_id = asyncio.run(_plant_channel(settings, secret))
    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "signalbridge.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise AssertionError((tmp_path / "serve.log").read_text())

        # the secret read from the database through the vault; the body from stdin
        sent = _cli(["send", str(channel_id), "-", "--url", url], env, json.dumps(SIGNAL))
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert sent.stdout.startswith("202 Accepted")
        first = json.loads(sent.stdout.splitlines()[1])
        assert first["signal_id"] is not None and secret not in sent.stdout + sent.stderr

        # the same body again (a fresh delivery id): the server calls it a duplicate
        body_file = tmp_path / "signal.json"
        body_file.write_text(json.dumps(SIGNAL))
        again = _cli(["send", str(channel_id), f"@{body_file}", "--url", url], env)
        assert again.returncode == 0 and again.stdout.startswith("200 OK"), again.stdout
        assert json.loads(again.stdout.splitlines()[1])["signal_id"] == first["signal_id"]

        # a wrong --secret: the server's 401, exit code 1
        wrong = _cli(["send", str(channel_id), "x", "--url", url, "--secret", "w" * 20], env)
        assert wrong.returncode == 1 and wrong.stdout.startswith("401"), wrong.stdout

        # --curl prints a signed command that verifies with the channel secret, and works
        other = json.dumps({**SIGNAL, "stop_loss": "57000"})
        printed = _cli(["send", str(channel_id), other, "--url", url, "--curl"], env)
        assert printed.returncode == 0, printed.stderr
        words = shlex.split(printed.stdout)
        assert words[0] == "curl" and f"{url}/webhooks/channels/{channel_id}" in words
        headers = dict(words[i + 1].split(": ", 1) for i, word in enumerate(words) if word == "-H")
        data = words[words.index("--data-binary") + 1].encode()
        assert data == other.encode()
        stamp, delivery = headers["X-SignalBridge-Timestamp"], headers["X-SignalBridge-Delivery"]
        assert abs(int(stamp) - time.time()) < 60 and re.fullmatch(r"[0-9a-f-]{36}", delivery)
        assert headers["X-SignalBridge-Signature"] == signature(secret, stamp, delivery, data)
        ran = subprocess.run(
            printed.stdout.strip(), shell=True, capture_output=True, text=True, timeout=60
        )
        assert ran.returncode == 0 and json.loads(ran.stdout)["status"] == "parsed", ran.stdout
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()
    assert len(asyncio.run(_messages(settings))) == 2
