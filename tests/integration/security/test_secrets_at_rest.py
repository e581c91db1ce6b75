"""Secrets are sealed at rest, bound to their row, masked everywhere they are shown."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import select, update
from tests.platform_fixtures import Harness, eventually, make_settings, running_harness

from signalbridge.integrations.sealing import unseal
from signalbridge.integrations.vault import VaultError
from signalbridge.store import models as m

API_KEY = "CANARYapikey7fQ2ZrXk9LmN3pWs"
API_SECRET = "CANARYsecretB8vT4yHq1JdE6uZo"
HOOK_SECRET = "CANARYhooksecret5Rk2Wm8Nc"


async def _plant(h: Harness) -> tuple[int, int]:
    channel = await h.ok(
        "POST",
        "/channels",
        json={"name": "hook", "type": "webhook", "config": {"secret": HOOK_SECRET}},
    )
    connection = await h.ok(
        "POST",
        "/connections",
        json={
            "name": "binance",
            "type": "ccxt",
            "config": {"exchange": "binance", "api_key": API_KEY, "secret": API_SECRET},
        },
    )
    return channel["id"], connection["id"]


def _files(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in data_dir.glob("signalbridge.db*"))


async def test_database_file_holds_no_planted_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"sqlite+aiosqlite:///{tmp_path / 'signalbridge.db'}"
    async with running_harness(make_settings(tmp_path, url)) as h:
        channel_id, connection_id = await _plant(h)
        shown = [
            await h.api("GET", f"/connections/{connection_id}"),
            await h.api("GET", "/connections"),
            await h.api("GET", f"/channels/{channel_id}"),
            await h.api("GET", "/audit"),
            await h.api(
                "PUT",
                f"/connections/{connection_id}/credentials",
                json={"secret": API_SECRET + "X"},
            ),
        ]
        for response in shown:
            assert response.status_code == 200, response.text
            for canary in (API_KEY, API_SECRET, HOOK_SECRET):
                assert canary not in response.text
        detail = shown[0].json()
        assert detail["secrets"] == {
            "api_key": "****" + API_KEY[-4:],
            "secret": "****" + API_SECRET[-4:],
        }
        assert "api_key" not in detail["config"]
        audit = shown[3].json()["items"]
        assert {(a["entity"], a["action"]) for a in audit} >= {
            ("connection", "create"),
            ("channel", "create"),
        }
    raw = _files(tmp_path)
    assert raw, "database file not found"
    for canary in (API_KEY, API_SECRET, HOOK_SECRET):
        assert canary.encode() not in raw
    assert all(c not in caplog.text for c in (API_KEY, API_SECRET, HOOK_SECRET))


async def test_ciphertext_copied_to_another_row_does_not_decrypt(harness: Harness) -> None:
    h = harness
    first, _ = await _plant(h)
    second = (await h.ok("POST", "/channels", json={"name": "other", "type": "webhook"}))["id"]
    async with h.container.sessions() as s, s.begin():
        stolen = await s.scalar(
            select(m.ChannelSource.secrets_enc).where(m.ChannelSource.id == first)
        )
        await s.execute(
            update(m.ChannelSource).where(m.ChannelSource.id == second).values(secrets_enc=stolen)
        )
    with pytest.raises(VaultError) as info:
        unseal(h.container.vault, "channel_sources", second, stolen)
    assert HOOK_SECRET not in str(info.value)
    # the same token still opens its own row
    assert unseal(h.container.vault, "channel_sources", first, stolen) == {"secret": HOOK_SECRET}
    # and across tables it fails too
    with pytest.raises(VaultError):
        unseal(h.container.vault, "execution_connections", first, stolen)
    # a sender learns nothing (the same 401 as a wrong secret); the operator sees why
    response = await h.post_signal(second, HOOK_SECRET, {"kind": "noise"})
    assert response.status_code == 401 and HOOK_SECRET not in response.text
    assert response.json()["error"]["code"] == "unauthorized"

    async def reason_recorded() -> bool:
        health = (await h.ok("GET", f"/channels/{second}"))["health"]
        return bool(health) and "cannot be decrypted" in (health["last_error"] or "")

    await eventually(reason_recorded)
