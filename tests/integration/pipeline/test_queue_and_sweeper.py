"""The queue only wakes workers up: tasks travel through the real Redis broker, and a task
that was lost is found again by the sweeper."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from tests.platform_fixtures import SIGNAL, eventually, make_settings, running_harness

from signalbridge.bootstrap import build_container
from signalbridge.jobs.runtime import Platform
from signalbridge.services.ingest import ingest, interpret_canonical
from signalbridge.store import models as m
from signalbridge.store.types import utcnow
from signalbridge.web.app import create_app

pytestmark = pytest.mark.redis


async def _positions(sessions) -> int:  # type: ignore[no-untyped-def]
    async with sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(m.Position)) or 0)


async def test_web_without_worker_hands_work_to_a_redis_worker(
    tmp_path: Path, database_url: str
) -> None:
    queue = f"signalbridge:test:{uuid.uuid4().hex}"
    settings = make_settings(
        tmp_path, database_url, broker_url="redis://127.0.0.1:6379/0", broker_queue=queue
    )
    # the "worker" process: consumes the shared queue
    async with running_harness(settings) as worker_side:
        channel_id, secret = await worker_side.webhook_channel()
        connection_id = await worker_side.paper_connection()
        await worker_side.follow(channel_id, connection_id)
        # the "web" process: no worker of its own, same database and broker
        web = build_container(settings)
        web_platform = Platform(web, worker=False, scheduler=False)
        await web_platform.start()
        try:
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(web)), base_url="http://web.test"
            )
            worker_side.client, original = client, worker_side.client
            response = await worker_side.post_signal(channel_id, secret, SIGNAL)
            worker_side.client = original
            assert response.status_code == 202, response.text
            ready = await client.get("/readyz")
            assert ready.json()["checks"]["broker"] == "ok"
            await client.aclose()

            async def filled() -> bool:
                return await _positions(worker_side.container.sessions) == 1

            await eventually(filled, timeout=20)
        finally:
            await web_platform.stop()


async def test_sweeper_finds_a_signal_whose_task_was_lost(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path, database_url, sweep_interval_seconds=0.2)
    async with running_harness(settings, scheduler=True) as h:
        channel_id, _ = await h.webhook_channel()
        connection_id = await h.paper_connection()
        await h.follow(channel_id, connection_id)
        async with h.container.sessions() as s, s.begin():
            channel = await s.get_one(m.ChannelSource, channel_id)
            import json

            text = json.dumps(SIGNAL)
            # stored exactly as the webhook stores it, but no task is ever queued
            result = await ingest(
                s,
                channel=channel,
                external_id="lost-task",
                text=text,
                content_type="application/json",
                received_at=utcnow(),
                interpretation=interpret_canonical(text),
            )
        assert result.signal_id is not None

        async def recovered() -> bool:
            return await _positions(h.container.sessions) == 1

        await eventually(recovered, timeout=20)
        async with h.container.sessions() as s:
            signal = await s.get_one(m.Signal, result.signal_id)
            assert signal.status == m.SignalStatus.DISPATCHED and signal.filled_at is not None


async def test_sweeper_applies_an_update_whose_task_was_lost(
    tmp_path: Path, database_url: str
) -> None:
    """A provider update stored without its task (a crash after commit) is applied anyway."""
    import json

    settings = make_settings(tmp_path, database_url, sweep_interval_seconds=0.2)
    async with running_harness(settings, scheduler=True) as h:
        channel_id, secret = await h.webhook_channel()
        connection_id = await h.paper_connection()
        await h.follow(channel_id, connection_id)
        assert (await h.post_signal(channel_id, secret, SIGNAL)).status_code == 202

        async def opened() -> bool:
            return await _positions(h.container.sessions) == 1

        await eventually(opened, timeout=20)
        text = json.dumps({"kind": "update", "action": "close_all", "symbol": "BTC/USDT"})
        async with h.container.sessions() as s, s.begin():
            channel = await s.get_one(m.ChannelSource, channel_id)
            result = await ingest(
                s,
                channel=channel,
                external_id="lost-update-task",
                text=text,
                content_type="application/json",
                received_at=utcnow(),
                interpretation=interpret_canonical(text),
            )
        assert result.update_id is not None

        async def closed() -> bool:
            async with h.container.sessions() as s:
                update = await s.get_one(m.SignalUpdate, result.update_id)
                position = await s.scalar(select(m.Position))
                return update.status == "applied" and position.status == m.PositionStatus.CLOSED

        await eventually(closed, timeout=20)
