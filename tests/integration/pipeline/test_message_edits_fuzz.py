"""Hypothesis drives the intake with untrusted sequences of posts, edits (of known and
unknown posts, in place or with ids of their own) and replies, any text included, on
SQLite and PostgreSQL. Whatever comes: nothing raises, a post has at most one signal,
the post holds its latest text, and delivering everything again changes nothing.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from tests.platform_fixtures import make_settings
from tests.polling_rig import RecordingQueue

from signalbridge.bootstrap import Container, build_container
from signalbridge.channels.base import InboundMessage
from signalbridge.domain.bounds import storable_text
from signalbridge.services.intake import Intake
from signalbridge.store import models as m
from signalbridge.store.migrate import upgrade

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
TEXTS = st.one_of(
    st.builds(
        "BTC/USDT LONG\nEntry 59900-60100\nSL {}\nTP1 62000\nTP2 64000".format,
        st.sampled_from(["58000", "58500", "59000", "61000", "0"]),
    ),
    st.sampled_from(["Move SL to 59000", "TP1 hit", "close all", "BTC going up soon", ""]),
    st.text(max_size=60),
)
POSTS = ("p1", "p2", "p3")


@dataclass(frozen=True)
class Step:
    kind: str  # post | edit | edit_in_place | reply
    target: str
    text: str


STEPS = st.lists(
    st.builds(
        Step,
        st.sampled_from(["post", "edit", "edit_in_place", "reply"]),
        st.sampled_from([*POSTS, "ghost"]),
        TEXTS,
    ),
    min_size=1,
    max_size=8,
)


class Platform:
    """The store and an intake, driven from synchronous hypothesis examples."""

    def __init__(self, tmp_path: Path, database_url: str) -> None:
        self.runner = asyncio.Runner()
        self.container: Container = build_container(make_settings(tmp_path, database_url))
        self.runner.run(self._setup())
        self.ids = itertools.count(1)

    async def _setup(self) -> None:
        await upgrade(self.container.engine)
        async with self.container.sessions() as s, s.begin():
            owner = m.User(email="o@example.com", password_hash="x", role=m.Role.ADMIN)
            s.add(owner)
            await s.flush()
            self.owner_id = owner.id
        self.intake = Intake(
            self.container.sessions, RecordingQueue(), dispatch_task="d", update_task="u"
        )

    async def channel(self) -> m.ChannelSource:
        async with self.container.sessions() as s, s.begin():
            row = m.ChannelSource(
                name="c", type="webhook", config={}, owner_id=self.owner_id, on_edit="apply"
            )
            connection = m.ExecutionConnection(
                name="p", type="paper", config={}, owner_id=self.owner_id
            )
            s.add_all([row, connection])
            await s.flush()
            s.add(m.Follow(connection_id=connection.id, channel_id=row.id))
        async with self.container.sessions() as s:
            return await s.get_one(m.ChannelSource, row.id)

    async def counts(self, channel_id: int) -> dict[str, int]:
        out: dict[str, int] = {}
        async with self.container.sessions() as s:
            per_channel: tuple[tuple[str, Any], ...] = (
                ("messages", m.Message),
                ("signals", m.Signal),
                ("updates", m.SignalUpdate),
            )
            for name, model in per_channel:
                query = select(func.count()).select_from(model)
                query = query.where(model.channel_id == channel_id)
                out[name] = int(await s.scalar(query) or 0)
            overall: tuple[tuple[str, Any], ...] = (
                ("versions", m.MessageEdit),
                ("edits", m.SignalEdit),
                ("executions", m.Execution),
            )
            for name, model in overall:
                out[name] = int(await s.scalar(select(func.count()).select_from(model)) or 0)
        return out

    def close(self) -> None:
        try:
            self.runner.run(self.container.close())
        finally:
            self.runner.close()


@pytest.fixture
def platform(tmp_path: Path, database_url: str) -> Iterator[Platform]:
    running = Platform(tmp_path, database_url)
    try:
        yield running
    finally:
        running.close()


def _message(step: Step, n: int) -> InboundMessage:
    at = T0 + timedelta(seconds=n)
    if step.kind == "post":
        return InboundMessage(step.target, step.text, at)
    if step.kind == "edit":
        return InboundMessage(f"{step.target}~e{n}", step.text, at, edit_of=step.target)
    if step.kind == "edit_in_place":
        return InboundMessage(step.target, step.text, at, edit_of=step.target)
    return InboundMessage(f"r{n}", step.text, at, reply_to=step.target)


async def _run(platform: Platform, steps: list[Step]) -> None:
    channel = await platform.channel()
    delivered: list[InboundMessage] = []
    latest: dict[str, str] = {}
    for n, step in enumerate(steps):
        message = _message(step, n)
        result = await platform.intake.receive(channel, message)
        delivered.append(message)
        if step.kind == "post" and not result.duplicate:
            latest[step.target] = storable_text(step.text)
        elif step.kind.startswith("edit") and step.target in latest and not result.duplicate:
            latest[step.target] = storable_text(step.text)
    before = await platform.counts(channel.id)
    for message in delivered:  # everything again: a redone poll, a retried webhook
        assert (await platform.intake.receive(channel, message)).duplicate
    assert await platform.counts(channel.id) == before
    async with platform.container.sessions() as s:
        posts = (
            await s.scalars(
                select(m.Message).where(
                    m.Message.channel_id == channel.id,
                    m.Message.original_id.is_(None),
                    m.Message.status.not_in(("edit", "orphan_edit")),
                )
            )
        ).all()
        for post in posts:
            if post.external_id in latest:
                assert post.text == latest[post.external_id]
        signals: Any = (
            await s.scalars(select(m.Signal.message_id).where(m.Signal.channel_id == channel.id))
        ).all()
    assert len(signals) == len(set(signals)) <= len(posts)
    assert set(signals) <= {p.id for p in posts}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS)
def test_any_sequence_of_posts_edits_and_replies_keeps_one_signal_per_post(
    platform: Platform, steps: list[Step]
) -> None:
    platform.runner.run(_run(platform, steps))
