"""The console's AI page over HTTP: who sees what (as the API: usage for staff,
configurations for admins), creating, editing, testing and (de)activating a configuration
against the fake OpenAI server, its cost today and this month, and the key in no page."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.console_rig import PageClient, logged_in
from tests.fakes.loopback import LOOPBACK_HOSTS
from tests.fakes.openai_compat import FakeOpenAI
from tests.platform_fixtures import Harness, make_settings, running_harness

from signalbridge.services.ai_usage import utc_day
from signalbridge.store import models as m
from signalbridge.store.types import utcnow

AI_KEY = "sk-console-ai-secret-0123456789abcdefXYZW"
WRONG_KEY = "sk-console-wrong-key-0123456789abcdefQRST"


@pytest.fixture
async def h(tmp_path: Path, database_url: str) -> AsyncIterator[Harness]:
    settings = make_settings(tmp_path, database_url, allowed_hosts=list(LOOPBACK_HOSTS))
    async with running_harness(settings) as harness:
        yield harness


async def audit_rows(h: Harness, entity: str, entity_id: int | None = None) -> list[m.AuditEntry]:
    query = select(m.AuditEntry).where(m.AuditEntry.entity == entity)
    if entity_id is not None:
        query = query.where(m.AuditEntry.entity_id == str(entity_id))
    async with h.container.sessions() as s:
        return list((await s.scalars(query.order_by(m.AuditEntry.id))).all())


def no_secret(*pages: str) -> None:
    for page in pages:
        assert AI_KEY not in page
        assert WRONG_KEY not in page


async def add_config(h: Harness, fake: FakeOpenAI, name: str = "llm") -> int:
    body = await h.ok(
        "POST",
        "/ai-configs",
        json={"name": name, "type": "openai_compatible", "config": fake.config()},
    )
    return int(body["id"])


async def test_who_may_open_the_ai_pages(h: Harness) -> None:
    with FakeOpenAI(api_key=AI_KEY) as fake:
        config_id = await add_config(h, fake)
    anon = PageClient(h)
    for path in ("/console/ai", "/console/ai/new", f"/console/ai/{config_id}"):
        gone = await anon.get(path)
        assert gone.status_code == 303 and gone.headers["location"].startswith("/login?next=")
    member = await logged_in(h, "member@example.com", "member")
    for path in ("/console/ai", "/console/ai/new", f"/console/ai/{config_id}"):
        assert (await member.get(path)).status_code == 403
    operator = await logged_in(h, "op@example.com", "operator")
    page = await operator.get("/console/ai")
    assert page.status_code == 200
    assert "Usage on" in page.text and "managed by admins" in page.text
    assert "/console/ai/new" not in page.text
    # configurations are admin-only in the API: so are their pages and forms
    assert (await operator.get("/console/ai/new")).status_code == 403
    assert (await operator.get(f"/console/ai/{config_id}")).status_code == 403
    refused = await operator.post(f"/console/ai/{config_id}/deactivate")
    assert refused.status_code == 403
    admin = await logged_in(h, "boss@example.com", "admin")
    listed = await admin.get("/console/ai")
    assert listed.status_code == 200 and "llm" in listed.text
    assert (await admin.get(f"/console/ai/{config_id + 1000}")).status_code == 404
    assert (await admin.get("/console/ai/99999999999999999999")).status_code == 422
    no_secret(page.text, listed.text)
    for client in (anon, member, operator, admin):
        await client.aclose()


async def test_admin_creates_edits_tests_and_toggles_a_configuration(h: Harness) -> None:
    admin = await logged_in(h, "boss@example.com", "admin")
    with FakeOpenAI(api_key=AI_KEY) as fake:
        form = await admin.get("/console/ai/new?type=openai_compatible")
        assert form.status_code == 200 and 'name="cfg_api_key"' in form.text
        fields = {
            "type": "openai_compatible",
            "name": "primary",
            "is_active": "true",
            "priority": "3",
            "cfg_model": "test/model-a",
            "cfg_base_url": fake.api_base,
            "cfg_api_key": AI_KEY,
            "cfg_daily_budget_usd": "2.5",
        }
        no_token = await admin.http.post("/console/ai/new", data=fields)
        assert no_token.status_code == 403
        bad = await admin.post("/console/ai/new", {**fields, "cfg_model": ""})
        assert bad.status_code == 422 and "model" in bad.text
        assert 'value="primary"' in bad.text  # what was typed stays, the key does not
        no_secret(bad.text)
        made = await admin.post("/console/ai/new", fields)
        assert made.status_code == 303, made.text
        location = made.headers["location"]
        config_id = int(re.findall(r"/console/ai/(\d+)", location)[0])
        detail = await admin.get(location)
        assert detail.status_code == 200 and "Created." in detail.text
        assert "****" + AI_KEY[-4:] in detail.text  # the API's mask
        assert "test/model-a" in detail.text
        no_secret(detail.text)
        async with h.container.sessions() as s:
            row = await s.get(m.AIConfig, config_id)
            assert row is not None and row.priority == 3
            assert row.config["daily_budget_usd"] == "2.5"
            assert row.secrets_enc and AI_KEY not in row.secrets_enc

        tested = await admin.post(f"/console/ai/{config_id}/test")
        assert tested.status_code == 200 and "The test passed." in tested.text
        fragment = await admin.post(f"/console/ai/{config_id}/test", headers={"HX-Request": "true"})
        assert "The test passed." in fragment.text and "<html" not in fragment.text
        no_secret(tested.text, fragment.text)

        # edit: a blank key keeps the stored one; a blank budget goes back to none
        saved = await admin.post(
            f"/console/ai/{config_id}",
            {
                "name": "primary-2",
                "priority": "1",
                "cfg_model": "test/model-b",
                "cfg_base_url": fake.api_base,
                "cfg_api_key": "",
                "cfg_daily_budget_usd": "",
                "cfg_structured_output": "tools",
            },
        )
        assert saved.status_code == 303 and saved.headers["location"].endswith("done=saved")
        async with h.container.sessions() as s:
            row = await s.get(m.AIConfig, config_id)
            assert row is not None and row.name == "primary-2" and row.priority == 1
            assert row.config["model"] == "test/model-b"
            assert row.config["daily_budget_usd"] is None
            assert row.config["structured_output"] == "tools"
        again = await admin.post(f"/console/ai/{config_id}/test")
        assert "The test passed." in again.text

        # a wrong key: the probe fails, and neither key shows anywhere
        await admin.get(f"/console/ai/{config_id}")
        replaced = await admin.post(
            f"/console/ai/{config_id}",
            {"name": "primary-2", "cfg_model": "test/model-b", "cfg_base_url": fake.api_base,
             "cfg_api_key": WRONG_KEY},
        )  # fmt: skip
        assert replaced.status_code == 303
        failed = await admin.post(f"/console/ai/{config_id}/test")
        assert "The test failed." in failed.text
        no_secret(failed.text, (await admin.get(f"/console/ai/{config_id}")).text)

        refused = await admin.post(f"/console/ai/{config_id}", {"name": "x", "priority": "many"})
        assert refused.status_code == 422 and "Priority" in refused.text

    off = await admin.post(f"/console/ai/{config_id}/deactivate", {"back": "list"})
    assert off.status_code == 303 and off.headers["location"] == "/console/ai?done=deactivated"
    listing = await admin.get(off.headers["location"])
    assert "inactive" in listing.text and "Deactivated." in listing.text
    on = await admin.post(f"/console/ai/{config_id}/activate")
    assert on.headers["location"] == f"/console/ai/{config_id}?done=activated"
    audit = await audit_rows(h, "ai_config", config_id)
    assert {e.action for e in audit} >= {"create", "update"}
    assert all(e.actor == "boss@example.com" for e in audit)
    no_secret(str([e.changes for e in audit]))
    await admin.aclose()


async def test_costs_today_and_this_month_per_configuration(h: Harness) -> None:
    with FakeOpenAI(api_key=AI_KEY) as fake:
        config_id = await add_config(h, fake, "costly")
    channel_id, _ = await h.webhook_channel("costs")
    now = utcnow()
    yesterday = now - timedelta(days=1)
    async with h.container.sessions() as s, s.begin():
        for n, (at, cost) in enumerate(((now, "0.25"), (yesterday, "0.5"))):
            message = m.Message(channel_id=channel_id, external_id=f"x{n}", text="buy")
            s.add(message)
            await s.flush()
            s.add(
                m.AIParse(
                    message_id=message.id,
                    channel_id=channel_id,
                    config_id=config_id,
                    model="test/model-a",
                    text_hash=f"{n:064d}",
                    outcome=m.AIParseOutcome.AGREE,
                    input_tokens=10,
                    output_tokens=5,
                    cost=Decimal(cost),
                    day=utc_day(at),
                    created_at=at,
                )
            )
    admin = await logged_in(h, "boss@example.com", "admin")
    page = await admin.get("/console/ai")
    row = next(r for r in page.text.split("<tr>") if "costly" in r)
    cells = re.findall(r'<td class="num">([^<]*)</td>', row)
    month = "0.75" if yesterday.month == now.month else "0.25"
    # priority, today parses / analyses / total, month parses / analyses / total
    assert cells[1:] == ["0.25", "0", "0.25", month, "0", month], cells
    earlier = await admin.get(f"/console/ai?day={utc_day(yesterday)}")
    assert "0.5" in earlier.text and "No AI call on this day." not in earlier.text
    odd = await admin.get("/console/ai?day=yesterday")
    assert odd.status_code == 200 and "not a date" in odd.text
    operator = await logged_in(h, "op@example.com", "operator")
    seen = await operator.get("/console/ai")
    assert "0.25" in seen.text and "costly" not in seen.text  # usage, not the configuration
    await admin.aclose()
    await operator.aclose()
