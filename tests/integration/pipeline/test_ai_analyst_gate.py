"""The AI market analyst end to end (issue 17, item 7), on SQLite and PostgreSQL.

A signal published on a channel with ``ai_analysis`` on is analysed once (candles from the
follows' paper venue, the fake OpenAI-compatible server answering) and the verdict is
stored and shown with the signal (members see the verdict, staff its cost too). A follow
with ``analyst_gate: skip_when_skip`` is held until the analysis arrives (no worker waits:
the analysis task queues it again), skipped when the analyst says skip, executed when it
says take, and decided by ``analyst_on_missing`` when the AI fails or its wait is over; a
follow without the gate is never held. Every execution is decided exactly once. A claim
left ``pending`` by a worker that died is queued again by the sweeper and taken over.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from tests.fakes.openai_compat import DEFAULT_KEY, FakeOpenAI, slow, status, well
from tests.platform_fixtures import SIGNAL, Harness, eventually, make_settings, running_harness

from signalbridge.integrations.queue import DISPATCH_SIGNAL
from signalbridge.jobs.sweeper import sweep
from signalbridge.services.ai_analysis import analyse_signal, lost_analyses
from signalbridge.services.auth import create_token, create_user
from signalbridge.store import models as m
from signalbridge.store.types import utcnow

TAKE: dict[str, Any] = {
    "trend": "up",
    "risk": "low",
    "recommendation": "take",
    "reasons": ["higher lows"],
    "adjusted_stop_loss": None,
    "adjusted_take_profits": None,
}
SKIP: dict[str, Any] = {**TAKE, "trend": "down", "risk": "high", "recommendation": "skip"}
SKIP["reasons"] = ["lower highs into resistance"]
GATE = {"analyst_gate": "skip_when_skip"}


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=DEFAULT_KEY) as server:
        yield server


@pytest.fixture
async def h(tmp_path: Path, database_url: str, fake: FakeOpenAI) -> AsyncIterator[Harness]:
    async with analysed_platform(tmp_path, database_url, fake) as harness:
        yield harness


@pytest.fixture
async def h_sqlite(tmp_path: Path, fake: FakeOpenAI) -> AsyncIterator[Harness]:
    """SQLite only: what differs between the databases is covered by the test on both."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'sb.db'}"
    async with analysed_platform(tmp_path, url, fake) as harness:
        yield harness


@asynccontextmanager
async def analysed_platform(
    tmp_path: Path, database_url: str, fake: FakeOpenAI
) -> AsyncIterator[Harness]:
    settings = make_settings(tmp_path, database_url, allowed_hosts=["127.0.0.1"])
    async with running_harness(settings) as harness:
        body = {
            "name": "analyst",
            "type": "openai_compatible",
            "config": {
                "model": "test/model-a",
                "base_url": fake.api_base,
                "api_key": DEFAULT_KEY,
                "timeout_seconds": 5,
                "usd_per_million_input": "1000",
                "usd_per_million_output": "2000",
            },
        }
        await harness.ok("POST", "/ai-configs", json=body)
        yield harness


async def channel_with(h: Harness, *risks: dict[str, Any]) -> tuple[int, str, list[int]]:
    """A public webhook channel with the analyst on; one paper follow per ``risks``."""
    channel_id, secret = await h.webhook_channel("analysed", ai_analysis=True)
    await h.ok("PATCH", f"/channels/{channel_id}", json={"visibility": "public"})
    follows = []
    for i, risk in enumerate(risks):
        connection_id = await h.paper_connection(f"paper-{i}")
        await h.follow(channel_id, connection_id, risk=risk)
        follows.append(connection_id)
    return channel_id, secret, follows


async def publish(h: Harness, channel_id: int, secret: str) -> int:
    response = await h.post_signal(channel_id, secret, SIGNAL)
    assert response.status_code == 202, response.text
    signal_id = response.json()["signal_id"]
    assert isinstance(signal_id, int)
    return signal_id


async def decided(h: Harness, signal_id: int, count: int) -> dict[int, m.Execution]:
    """The signal's executions (by connection) once none is pending any more."""

    async def done() -> bool:
        rows = await executions(h, signal_id)
        return len(rows) == count and all(
            x.status != m.ExecutionStatus.PENDING for x in rows.values()
        )

    await eventually(done, timeout=15)
    return await executions(h, signal_id)


async def executions(h: Harness, signal_id: int) -> dict[int, m.Execution]:
    async with h.container.sessions() as s:
        rows = await s.scalars(select(m.Execution).where(m.Execution.signal_id == signal_id))
        return {x.connection_id: x for x in rows.all()}


async def orders(h: Harness, execution_id: int) -> int:
    async with h.container.sessions() as s:
        where = m.Order.execution_id == execution_id
        return int(await s.scalar(select(func.count()).select_from(m.Order).where(where)) or 0)


async def analysis_of(h: Harness, signal_id: int) -> m.SignalAnalysis | None:
    async with h.container.sessions() as s:
        row = await s.scalar(
            select(m.SignalAnalysis).where(m.SignalAnalysis.signal_id == signal_id)
        )
        return row


async def test_skip_holds_and_skips_the_gated_follow_take_executes_it_once(
    h: Harness, fake: FakeOpenAI
) -> None:
    fake.default = well(SKIP)
    channel_id, secret, (gated, free) = await channel_with(h, GATE, {})
    signal_id = await publish(h, channel_id, secret)
    rows = await decided(h, signal_id, 2)
    assert rows[gated].status == m.ExecutionStatus.SKIPPED
    assert "analyst says skip" in (rows[gated].reason or "")
    assert "lower highs into resistance" in (rows[gated].reason or "")
    assert rows[free].status != m.ExecutionStatus.SKIPPED and await orders(h, rows[free].id) >= 1
    assert await orders(h, rows[gated].id) == 0
    # The held execution waited without a worker: it was deferred, then queued again.
    async with h.container.sessions() as s:
        logs = await s.scalars(
            select(m.ExecutionLog.action).where(m.ExecutionLog.execution_id == rows[gated].id)
        )
        assert "plan_deferred" in logs.all()
    # Shown with the signal: staff see the cost and model, a member the verdict only.
    shown = (await h.ok("GET", f"/signals/{signal_id}"))["analysis"]
    assert shown["recommendation"] == "skip" and shown["reasons"] == SKIP["reasons"]
    assert shown["status"] == "ok" and shown["model"] == "test/model-a"
    assert shown["input_tokens"] > 0 and shown["cost"] != "0"
    async with h.container.sessions() as s, s.begin():
        member = await create_user(s, "member@example.com", "member password 1", m.Role.MEMBER)
        _, token = await create_token(s, member, "t", ["signals:read"])
    response = await h.client.get(
        f"/api/v1/signals/{signal_id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    seen = response.json()["analysis"]
    assert seen["recommendation"] == "skip" and seen["trend"] == "down"
    assert not {"cost", "raw", "model", "config_id"} & set(seen)
    # What the model saw: the signal and candles between the boundaries, no account data.
    sent = fake.chat_requests()
    assert len(sent) == 1
    assert '"BTC/USDT"' in sent[0].user_text and "candles" in sent[0].user_text
    assert "paper" not in sent[0].user_text and DEFAULT_KEY not in str(sent[0].body)

    # Take: the gated follow executes, exactly once.
    fake.default = well(TAKE)
    channel_id, secret, (gated,) = await channel_with(h, GATE)
    signal_id = await publish(h, channel_id, secret)
    rows = await decided(h, signal_id, 1)
    assert rows[gated].status != m.ExecutionStatus.SKIPPED
    placed = await orders(h, rows[gated].id)
    assert placed >= 1
    # The task and the re-dispatch delivered again (a lost ack, the sweeper): nothing more.
    assert await analyse_signal(_deps(h), signal_id) == "claimed"
    await h.container.queue.enqueue(DISPATCH_SIGNAL, signal_id, [rows[gated].id])
    await h.container.execution.run(rows[gated].id)
    assert await orders(h, rows[gated].id) == placed
    assert len(fake.chat_requests()) == 2


async def test_ai_failure_and_an_expired_wait_follow_analyst_on_missing(
    h_sqlite: Harness, fake: FakeOpenAI
) -> None:
    h = h_sqlite
    fake.default = status(500)
    channel_id, secret, (executes, skips) = await channel_with(
        h, GATE, {**GATE, "analyst_on_missing": "skip"}
    )
    signal_id = await publish(h, channel_id, secret)
    rows = await decided(h, signal_id, 2)
    row = await analysis_of(h, signal_id)
    assert row is not None and row.status == m.AnalysisStatus.FAILED
    assert row.error is not None and DEFAULT_KEY not in row.error
    assert rows[executes].status != m.ExecutionStatus.SKIPPED
    assert rows[skips].status == m.ExecutionStatus.SKIPPED
    assert "analysis failed" in (rows[skips].reason or "")

    # A slow analyst and no wait at all: decided at once by analyst_on_missing; the verdict
    # arriving later changes nothing.
    fake.default = slow(0.5, then=well(SKIP))
    no_wait = {**GATE, "analyst_wait_seconds": 0}
    channel_id, secret, (late_exec, late_skip) = await channel_with(
        h, no_wait, {**no_wait, "analyst_on_missing": "skip"}
    )
    signal_id = await publish(h, channel_id, secret)
    rows = await decided(h, signal_id, 2)
    assert "within 0 s" in (rows[late_skip].reason or "")
    assert rows[late_exec].status != m.ExecutionStatus.SKIPPED
    placed = await orders(h, rows[late_exec].id)

    async def analysed() -> bool:
        found = await analysis_of(h, signal_id)
        return found is not None and found.status == m.AnalysisStatus.OK

    await eventually(analysed, timeout=10)
    await h.container.execution.run(rows[late_exec].id)
    assert (await executions(h, signal_id))[late_exec].status != m.ExecutionStatus.SKIPPED
    assert await orders(h, rows[late_exec].id) == placed


async def test_a_claim_left_pending_is_swept_and_taken_over(
    h_sqlite: Harness, fake: FakeOpenAI
) -> None:
    h = h_sqlite
    fake.default = well(TAKE)
    channel_id, secret, _ = await channel_with(h, {})
    signal_id = await publish(h, channel_id, secret)

    async def analysed() -> bool:
        found = await analysis_of(h, signal_id)
        return found is not None and found.status == m.AnalysisStatus.OK

    await eventually(analysed, timeout=10)
    assert len(fake.chat_requests()) == 1

    async def claim_left(age: timedelta) -> None:
        async with h.container.sessions() as s, s.begin():
            await s.execute(
                update(m.SignalAnalysis)
                .where(m.SignalAnalysis.signal_id == signal_id)
                .values(status=m.AnalysisStatus.PENDING, created_at=utcnow() - age)
            )

    # A live worker's claim: neither swept nor taken over by a second delivery.
    await claim_left(timedelta(minutes=1))
    async with h.container.sessions() as s:
        assert await lost_analyses(s, cutoff=utcnow()) == []
    assert await analyse_signal(_deps(h), signal_id) == "claimed"
    # A dead worker's claim: the sweeper queues the task, which takes the claim over.
    await claim_left(timedelta(minutes=6))
    async with h.container.sessions() as s:
        assert await lost_analyses(s, cutoff=utcnow()) == [signal_id]
    queued = await sweep(h.container.sessions, h.container.queue, stuck_after=timedelta(0))
    assert queued >= 1
    await eventually(analysed, timeout=10)
    assert len(fake.chat_requests()) == 2
    assert await analyse_signal(_deps(h), signal_id) == "claimed"


def _deps(h: Harness) -> Any:
    from signalbridge.services.ai_analysis import AnalysisDeps
    from signalbridge.services.ai_parsing import load_chain

    parts = h.container.ai_parsing.parts
    return AnalysisDeps(
        h.container.sessions,
        h.container.adapter_pool,
        lambda session: load_chain(session, parts),
        h.container.queue,
        DISPATCH_SIGNAL,
    )
