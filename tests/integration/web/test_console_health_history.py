"""A connection's health history: each change (failing, breaker threshold, recovered) is
kept once, not every call, and the connection's page lists it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from tests.console_rig import logged_in
from tests.platform_fixtures import Harness

from signalbridge.integrations.health import HealthState
from signalbridge.services.health import health_change, health_writer
from signalbridge.store import models as m


def test_only_changes_of_health_count() -> None:
    assert health_change(0, 0) is None
    assert health_change(0, 1) == "failing"
    assert health_change(1, 2) is None
    assert health_change(4, 5) == "breaker_open"
    assert health_change(5, 6) is None
    assert health_change(0, 7) == "breaker_open"  # straight past the threshold
    assert health_change(6, 0) == "recovered"
    assert health_change(0, 0, threshold=1) is None


async def test_a_failing_then_recovered_connection_shows_its_history(harness: Harness) -> None:
    h = harness
    connection_id = await h.paper_connection("flaky")
    save = health_writer(h.container.sessions)
    state = HealthState()
    start = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    for i in range(6):
        state.record_failure(RuntimeError("venue timed out"), start + timedelta(seconds=i))
        await save("exchange", connection_id, state)
    state.record_success(start + timedelta(minutes=1))
    await save("exchange", connection_id, state)
    await save("exchange", connection_id, state)  # still fine: nothing new
    async with h.container.sessions() as s:
        events = (
            await s.scalars(
                select(m.HealthEvent)
                .where(m.HealthEvent.connection_id == connection_id)
                .order_by(m.HealthEvent.id)
            )
        ).all()
    assert [(e.event, e.consecutive_failures) for e in events] == [
        ("failing", 1),
        ("breaker_open", 5),
        ("recovered", 0),
    ]
    assert events[0].error is not None and "timed out" in events[0].error
    assert events[2].error is None
    admin = await logged_in(h, "boss@example.com", "admin")
    page = await admin.get(f"/console/connections/{connection_id}")
    assert page.status_code == 200
    history = page.text.split("Health history", 1)[1]
    for text in ("started failing", "breaker threshold reached", "recovered"):
        assert text in history
    await admin.aclose()
