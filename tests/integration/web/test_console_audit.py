"""The audit log page over HTTP: staff only, newest first, paged by ``before_id``, and
filtered by actor, action, entity, entity id and a first day."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from tests.console_rig import PageClient, logged_in
from tests.platform_fixtures import Harness

from signalbridge.store import models as m

OLD = datetime(2024, 3, 1, 12, tzinfo=UTC)


async def seed(h: Harness) -> None:
    """Audit rows with known actors, actions and times (beside the ones logins write)."""
    async with h.container.sessions() as s, s.begin():
        for i in range(55):
            s.add(
                m.AuditEntry(
                    actor="robot@example.com",
                    actor_id=None,
                    action="update",
                    entity="channel",
                    entity_id=str(i % 5),
                    changes={"name": [f"old {i}", f"new {i}"], "secret": ["****", "****"]},
                    at=OLD,
                )
            )
        s.add(
            m.AuditEntry(
                actor="someone_else@example.com",
                action="delete",
                entity="plan",
                entity_id="7",
                changes={"note": "<b>gone</b>"},
            )
        )


def entries(html: str) -> list[int]:
    body = html.split("Audit entries, newest first", 1)[1]
    return [int(x) for x in re.findall(r"<tr>\s*<td>(\d+)</td>", body)]


async def test_audit_is_for_staff(harness: Harness) -> None:
    anon = PageClient(harness)
    away = await anon.get("/console/audit?actor=x")
    assert away.status_code == 303
    assert away.headers["location"] == "/login?next=/console/audit%3Factor%3Dx"
    member = await logged_in(harness, "member@example.com", "member")
    assert (await member.get("/console/audit")).status_code == 403
    await anon.aclose()
    await member.aclose()


async def test_audit_filters_and_pages(harness: Harness) -> None:
    await seed(harness)
    staff = await logged_in(harness, "op@example.com", "operator")
    page = await staff.get("/console/audit")
    assert page.status_code == 200 and page.text.count("<h1>") == 1
    newest = entries(page.text)
    assert len(newest) == 50 and newest == sorted(newest, reverse=True)
    assert "op@example.com" in page.text  # the login's own row
    assert "&lt;b&gt;gone&lt;/b&gt;" in page.text and "<b>gone</b>" not in page.text
    older = re.search(r'href="(/console/audit\?before_id=\d+)" rel="next"', page.text)
    assert older is not None
    rest = await staff.get(older.group(1))
    assert entries(rest.text) and max(entries(rest.text)) < min(newest)

    robot = await staff.get("/console/audit?actor=ROBOT&action=&entity=&entity_id=&since=")
    assert len(entries(robot.text)) == 50 and "someone_else" not in robot.text
    paged = re.search(r'href="(/console/audit\?actor=ROBOT&amp;before_id=\d+)"', robot.text)
    assert paged is not None, "the older link keeps the filters"
    assert len(entries((await staff.get(paged.group(1).replace("&amp;", "&"))).text)) == 5
    # "_" is a character, not a wildcard
    assert entries((await staff.get("/console/audit?actor=r_bot")).text) == []
    one = await staff.get("/console/audit?entity=channel&entity_id=3&action=update")
    assert len(entries(one.text)) == 11
    plans = await staff.get("/console/audit?entity=plan&action=delete")
    assert len(entries(plans.text)) == 1 and "someone_else@example.com" in plans.text
    recent = await staff.get("/console/audit?since=2025-01-01")
    assert "robot@example.com" not in recent.text and "someone_else" in recent.text
    since_old = await staff.get("/console/audit?since=2024-03-01&actor=robot")
    assert len(entries(since_old.text)) == 50
    bad = await staff.get("/console/audit?since=yesterday")
    assert bad.status_code == 422 and "YYYY-MM-DD" in bad.text
    long = await staff.get("/console/audit?action=" + "x" * 17)
    assert long.status_code == 422
    await staff.aclose()
