"""Hostile edit payloads through HTTP (hypothesis), on SQLite and PostgreSQL: a valid one
is stored exactly as shown afterwards, any other is a 4xx that leaves the item as it was;
never a 5xx."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.integration.pipeline.test_review_desk import desk, park
from tests.platform_fixtures import Harness, make_settings, running_harness
from tests.unit.app.test_review_edit_properties import PAYLOADS


class Desk:
    """A running platform with one pending signal and one pending update, driven from
    synchronous hypothesis tests through one event loop."""

    def __init__(self, tmp_path: Path, database_url: str) -> None:
        self.runner = asyncio.Runner()
        self.context = running_harness(make_settings(tmp_path, database_url))
        self.h: Harness = self.runner.run(self.context.__aenter__())
        self.items = self.runner.run(self.seed())

    async def seed(self) -> dict[str, int]:
        channel_id, _, _ = await desk(self.h)
        update = {"kind": "update", "action": "close_all", "symbol": "BTC/USDT"}
        return {
            "signals": await park(self.h, channel_id),
            "updates": await park(self.h, channel_id, update),
        }

    def close(self) -> None:
        try:
            self.runner.run(self.context.__aexit__(None, None, None))
        finally:
            self.runner.close()


@pytest.fixture
def review_desk(tmp_path: Path, database_url: str) -> Iterator[Desk]:
    running = Desk(tmp_path, database_url)
    try:
        yield running
    finally:
        running.close()


def test_any_edit_payload_is_stored_exactly_or_refused_with_nothing_changed(
    review_desk: Desk,
) -> None:
    h = review_desk.h

    async def attempt(path: str, payload: str) -> None:
        url = f"/review/{path}/{review_desk.items[path]}"
        before = (await h.ok("GET", url))["parse"]
        response = await h.api(
            "PUT", url, content=payload.encode(), headers={"Content-Type": "application/json"}
        )
        assert response.status_code < 500, response.text
        after = (await h.ok("GET", url))["parse"]
        if response.status_code == 200:
            assert response.json()["parse"] == after
            again = await h.api(
                "PUT",
                url,
                content=json.dumps(after).encode(),
                headers={"Content-Type": "application/json"},
            )
            assert again.status_code == 200 and again.json()["parse"] == after
        else:
            assert response.status_code in (413, 415, 422), response.text
            assert response.json()["error"]["message"]
            assert after == before

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(path=st.sampled_from(["signals", "updates"]), payload=PAYLOADS)
    def run(path: str, payload: Any) -> None:
        review_desk.runner.run(attempt(path, payload))

    run()
