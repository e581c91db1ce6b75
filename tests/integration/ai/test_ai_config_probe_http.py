"""``POST /api/v1/ai-configs/{id}/test`` on the running platform: the configuration's probe
(``GET /models`` with its key) runs through its guard against the fake; a wrong key is a
200 with ``ok: false`` and the key in no answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.fakes.loopback import LOOPBACK_HOSTS
from tests.fakes.openai_compat import FakeOpenAI
from tests.platform_fixtures import Harness, make_settings, running_harness

WRONG_KEY = "sk-wrong-probe-key-0123456789abcdef"


@pytest.fixture
async def h(tmp_path: Path, database_url: str) -> AsyncIterator[Harness]:
    settings = make_settings(tmp_path, database_url, allowed_hosts=list(LOOPBACK_HOSTS))
    async with running_harness(settings) as harness:
        yield harness


async def probe(h: Harness, config: dict[str, Any]) -> dict[str, Any]:
    created = await h.ok(
        "POST", "/ai-configs", json={"name": "llm", "type": "openai_compatible", "config": config}
    )
    response = await h.api("POST", f"/ai-configs/{created['id']}/test")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_probe_reaches_the_endpoint_with_the_stored_key(h: Harness) -> None:
    with FakeOpenAI() as fake:
        good = await probe(h, fake.config())
        assert good["ok"] is True, good
        assert fake.api_key is not None and fake.api_key not in str(good)

        refused = await probe(h, {**fake.config(), "api_key": WRONG_KEY})
        assert refused["ok"] is False
        assert WRONG_KEY not in str(refused)


async def test_priority_is_set_changed_audited_and_only_for_ai(h: Harness) -> None:
    with FakeOpenAI() as fake:
        body = {"name": "second", "type": "openai_compatible", "config": fake.config()}
        created = await h.ok("POST", "/ai-configs", json={**body, "priority": 5})
        assert created["priority"] == 5
        changed = await h.ok("PATCH", f"/ai-configs/{created['id']}", json={"priority": 1})
        assert changed["priority"] == 1
        audit = await h.ok("GET", "/audit?entity=ai_config")
        assert any(e["changes"].get("priority") == [5, 1] for e in audit["items"]), audit
        for bad in (-1, 1001, "x"):
            r = await h.api("PATCH", f"/ai-configs/{created['id']}", json={"priority": bad})
            assert r.status_code == 422, (bad, r.text)
    channel_id, _ = await h.webhook_channel("no-priority")
    refused = await h.api("PATCH", f"/channels/{channel_id}", json={"priority": 1})
    assert refused.status_code == 422
