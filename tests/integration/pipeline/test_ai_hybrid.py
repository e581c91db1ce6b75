"""AI-assisted parsing end to end (issue 17, items 4 and 6), on SQLite and PostgreSQL.

Messages the rules are unsure of come in through the signed webhook of a channel with
``ai_assist`` on (followed by a paper account); the ``ai_parse`` task asks the fake
OpenAI-compatible server (tests/fakes/openai_compat.py) through the real ``openai`` SDK:

- agreement raises the confidence and the item executes once, approved through the
  review desk by the actor "ai" (guard rails on the paper venue passed);
- disagreement leaves it in review with the AI's parse beside the rules';
- a message the rules read as noise and the AI as a signal waits in review (the channel
  does not let the AI act alone);
- the same text again (invisible characters, other spacing) is answered by the cache;
- every configuration failing leaves the rules' answer in review (nothing lost);
- a task lost before it ran is queued again by the sweeper;
- a spent budget sends no request at all;
- running the task again, or three times at once, records one parse and makes one call
  (one ``ai_parses`` row per message).

One platform for all of it: a harness costs more than every step here together.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from tests.fakes.openai_compat import DEFAULT_KEY, FakeOpenAI, status
from tests.platform_fixtures import Harness, eventually, make_settings, running_harness

from signalbridge.jobs.sweeper import sweep
from signalbridge.services.ai_parsing import ACTING, AI_ACTOR
from signalbridge.services.ingest import ingest
from signalbridge.services.interpret import interpret
from signalbridge.store import models as m
from signalbridge.store.types import utcnow


def signal_answer(entry: str, stop: str, *tps: str, confidence: float = 0.9) -> dict[str, Any]:
    return {
        "answer": {
            "kind": "signal",
            "symbol": "BTC/USDT",
            "side": "buy",
            "order_type": "limit",
            "entry": {"low": entry, "high": entry},
            "stop_loss": stop,
            "take_profits": list(tps),
            "leverage": None,
            "confidence": confidence,
        }
    }


#: Each text is read by the rules at 0.79 (a long, an entry and a stop, no target: below
#: the default 0.9), except VAGUE (noise at 0.35, "no side").
AGREED = "Buy BTC around 60000. SL 58000"
DISPUTED = "Buy BTC near 61000. SL 59000"
VAGUE = "maybe btc going up soon, 60000 looks nice, stop 58000 target 62000"
FAILING = "Buy BTC around 59000. SL 57000"
LOST = "Long BTC 60000 stop 58000"
OVER_BUDGET = "Buy BTC around 60200. SL 58500"
RACED = "Sell BTC around 60500. SL 62000"
ANSWERS: dict[str, dict[str, Any]] = {
    "around 60000": signal_answer("60000", "58000"),
    "near 61000": signal_answer("61000", "58800", "63000"),
    "btc going up": signal_answer("60000", "58000", "62000", confidence=0.8),
    "Long BTC": signal_answer("60000", "57500"),
    "around 60200": signal_answer("60200", "58500"),
    "around 60500": signal_answer("60500", "58500"),
}


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=DEFAULT_KEY) as server:
        for substring, answer in ANSWERS.items():
            server.answer_for(substring, answer)
        yield server


@pytest.fixture
async def h(tmp_path: Path, database_url: str) -> AsyncIterator[Harness]:
    settings = make_settings(tmp_path, database_url, allowed_hosts=["127.0.0.1"])
    async with running_harness(settings) as harness:
        yield harness


async def ai_config(h: Harness, fake: FakeOpenAI, name: str, **config: Any) -> int:
    body = {
        "name": name,
        "type": "openai_compatible",
        "config": {
            "model": "test/model-a",
            "base_url": fake.api_base,
            "api_key": DEFAULT_KEY,
            "timeout_seconds": 5,
            "usd_per_million_input": "1000",
            "usd_per_million_output": "2000",
            **config,
        },
    }
    return int((await h.ok("POST", "/ai-configs", json=body))["id"])


async def post_text(h: Harness, channel_id: int, secret: str, text: str) -> dict[str, Any]:
    response = await h.post_signal(channel_id, secret, text.encode())
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


async def parse_of(h: Harness, message_id: int) -> m.AIParse | None:
    async with h.container.sessions() as s:
        row = await s.scalar(select(m.AIParse).where(m.AIParse.message_id == message_id))
        return row


async def settled(h: Harness, message_id: int) -> m.AIParse:
    """The message's AI parse once the task is done, after running the task once more
    (which must change nothing)."""

    async def done() -> bool:
        row = await parse_of(h, message_id)
        return row is not None and row.outcome != m.AIParseOutcome.PENDING and row.action != ACTING

    await eventually(done, timeout=10)
    assert await h.container.ai_parsing.run(message_id) is None
    row = await parse_of(h, message_id)
    assert row is not None
    return row


async def count(h: Harness, model: Any, *where: Any) -> int:
    async with h.container.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_the_hybrid_step_end_to_end(h: Harness, fake: FakeOpenAI) -> None:
    first = await ai_config(h, fake, "primary")
    channel_id, secret = await h.webhook_channel("ai", ai_assist=True)
    await h.follow(channel_id, await h.paper_connection())

    # agreement: confidence raised to 0.95, approved by "ai" through the desk, run once
    agreed = await post_text(h, channel_id, secret, AGREED)
    assert agreed["status"] == "review"
    row = await settled(h, agreed["message_id"])
    assert (row.outcome, row.agreement, row.action) == ("agree", "agree", "approved"), row.reason
    assert (row.config_id, row.model, row.prompt_version) == (first, "test/model-a", "parse-v1")
    assert row.input_tokens > 0 and row.output_tokens > 0 and row.cost > 0
    assert row.raw is not None and "58000" in row.raw
    assert AGREED in fake.chat_requests()[0].user_text
    signal_id = agreed["signal_id"]

    async def executed() -> bool:
        return await count(h, m.Execution, m.Execution.signal_id == signal_id) == 1

    await eventually(executed)
    async with h.container.sessions() as s:
        signal = await s.get_one(m.Signal, signal_id)
        assert (signal.status, signal.confidence) == (m.SignalStatus.DISPATCHED, Decimal("0.95"))
        actors = await s.scalars(
            select(m.AuditEntry.actor).where(
                m.AuditEntry.entity == "signal", m.AuditEntry.entity_id == str(signal_id)
            )
        )
        assert list(actors.all()) == [AI_ACTOR.label]

    # disagreement: stays in review, both parses shown
    disputed = await post_text(h, channel_id, secret, DISPUTED)
    row = await settled(h, disputed["message_id"])
    assert (row.outcome, row.action) == ("disagree", "review")
    detail = await h.ok("GET", f"/review/signals/{disputed['signal_id']}")
    assert detail["status"] == "review" and detail["parse"]["stop_loss"] == "59000"
    [shown] = detail["ai_parses"]
    assert shown["outcome"] == "disagree" and shown["parse"]["stop_loss"] == "58800"
    listed = await h.ok("GET", f"/messages/{disputed['message_id']}/ai-parses")
    assert [p["id"] for p in listed["items"]] == [shown["id"]]

    # the rules read noise, the AI a signal: a review item of the AI's, not executed
    vague = await post_text(h, channel_id, secret, VAGUE)
    assert vague["status"] == "noise"
    row = await settled(h, vague["message_id"])
    assert (row.outcome, row.action) == ("ai_only", "review")
    async with h.container.sessions() as s:
        made = await s.scalar(select(m.Signal).where(m.Signal.message_id == vague["message_id"]))
        assert made is not None and (made.status, made.parsed_by) == ("review", "ai")
        assert (await s.get_one(m.Message, vague["message_id"])).status == "review"

    # the same text again, with a zero-width space and other spacing: no call, cost 0
    calls = len(fake.chat_requests())
    again = await post_text(h, channel_id, secret, "Buy  BTC\u200b near 61000.\nSL 59000")
    row = await settled(h, again["message_id"])
    assert (row.outcome, row.agreement, row.config_id) == ("cached", "disagree", None)
    assert row.cost == 0 and row.input_tokens == 0
    assert len(fake.chat_requests()) == calls

    # every configuration failing (a 503, then a refused key): the rules' answer stands
    await ai_config(h, fake, "second", api_key="sk-wrong-key-for-this-fake-000")
    fake.push(status(503, "overloaded"))
    failing = await post_text(h, channel_id, secret, FAILING)
    row = await settled(h, failing["message_id"])
    assert row.outcome == "failed" and row.agreement is None
    assert [a["error"] is not None for a in row.attempts] == [True, True]
    assert "sk-wrong" not in str(row.attempts)
    detail = await h.ok("GET", f"/review/signals/{failing['signal_id']}")
    assert detail["status"] == "review" and detail["parse"]["stop_loss"] == "57000"
    assert len(fake.chat_requests()) == calls + 2

    # a message stored without its task (a crash between commit and queue): the sweeper
    async with h.container.sessions() as s, s.begin():
        channel = await s.get_one(m.ChannelSource, channel_id)
        lost = await ingest(
            s,
            channel=channel,
            external_id="lost",
            text=LOST,
            content_type="text/plain",
            received_at=utcnow(),
            interpretation=interpret(LOST, parse_text=True),
            dispatch=True,
        )
    assert lost.status == "review"
    queued = await sweep(
        h.container.sessions,
        h.container.queue,
        stuck_after=timedelta(seconds=1),
        now=utcnow() + timedelta(seconds=5),
    )
    assert queued >= 1
    assert (await settled(h, lost.message_id)).outcome == "disagree"

    # the task three times at once for one message: one claim, one call, one record
    async with h.container.sessions() as s, s.begin():
        raced = await ingest(
            s,
            channel=await s.get_one(m.ChannelSource, channel_id),
            external_id="raced",
            text=RACED,
            content_type="text/plain",
            received_at=utcnow(),
            interpretation=interpret(RACED, parse_text=True),
            dispatch=True,
        )
    calls = len(fake.chat_requests())
    runs = await asyncio.gather(*(h.container.ai_parsing.run(raced.message_id) for _ in range(3)))
    assert [r for r in runs if r is not None] == ["disagree"] and runs.count(None) == 2
    assert len(fake.chat_requests()) == calls + 1
    # a claim left pending by a worker that died is taken over (the cache answers it now)
    async with h.container.sessions() as s, s.begin():
        await s.execute(
            update(m.AIParse)
            .where(m.AIParse.message_id == raced.message_id)
            .values(outcome="pending", updated_at=utcnow() - timedelta(minutes=6))
        )
    assert await h.container.ai_parsing.run(raced.message_id) == "cached"

    # both configurations' daily budgets spent: no request reaches the server
    async with h.container.sessions() as s, s.begin():
        for config in (await s.scalars(select(m.AIConfig))).all():
            await s.execute(
                update(m.AIConfig)
                .where(m.AIConfig.id == config.id)
                .values(config={**config.config, "daily_budget_usd": "0"})
            )
    calls = len(fake.chat_requests())
    refused = await post_text(h, channel_id, secret, OVER_BUDGET)
    row = await settled(h, refused["message_id"])
    assert row.outcome == "budget" and (row.reason or "").startswith("AI budget spent")
    assert len(fake.chat_requests()) == calls
    assert (await h.ok("GET", f"/review/signals/{refused['signal_id']}"))["status"] == "review"

    # usage per configuration and channel, with the day's totals; one row per message;
    # a market analysis of the agreed signal is listed apart and counted in the totals
    async with h.container.sessions() as s, s.begin():
        s.add(
            m.SignalAnalysis(
                signal_id=signal_id,
                config_id=first,
                prompt_version="analysis-v1",
                status=m.AnalysisStatus.OK,
                input_tokens=100,
                output_tokens=20,
                cost=Decimal("0.5"),
                created_at=utcnow(),
            )
        )
    usage = await h.ok("GET", f"/ai-usage?channel_id={channel_id}")
    parses = usage["total"]["parse"]
    assert parses["parses"] == 8 == await count(h, m.AIParse)
    assert (parses["cache_hits"], parses["budget_refusals"]) == (2, 1)
    mine = next(i for i in usage["items"] if i["config_id"] == first)
    spent = sum((r.cost for r in await rows_of(h) if r.config_id == first), start=Decimal(0))
    assert Decimal(mine["parse"]["cost"]) == spent > 0
    analysis = {"analyses": 1, "failures": 0, "input_tokens": 100, "output_tokens": 20}
    assert mine["analysis"] == {**analysis, "cost": "0.5"}
    assert Decimal(mine["cost"]) == spent + Decimal("0.5")
    assert mine["input_tokens"] == mine["parse"]["input_tokens"] + 100
    assert usage["total"]["analysis"]["analyses"] == 1
    assert Decimal(usage["total"]["cost"]) == Decimal(parses["cost"]) + Decimal("0.5")
    other = await h.ok("GET", f"/ai-usage?channel_id={channel_id}&config_id={first + 1000}")
    assert other["total"]["analysis"]["analyses"] == 0
    for day in ("2026-02-30", "0001-01-01", "9999-12-31"):  # no calendar day, or no next day
        assert (await h.api("GET", f"/ai-usage?day={day}")).status_code == 422, day
    assert await count(h, m.Execution) == 1  # only the agreed signal ever executed


async def rows_of(h: Harness) -> list[m.AIParse]:
    async with h.container.sessions() as s:
        return list((await s.scalars(select(m.AIParse))).all())
