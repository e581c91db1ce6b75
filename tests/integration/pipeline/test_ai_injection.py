"""Reliability row 21: an LLM can be steered by the text it reads; no injected answer trades.

The corpus (tests/data/ai_injection.jsonl) holds messages with instructions hidden in them
and unicode tricks, each with the answer an attacker would like the model to give. Every
answer is stopped: by the strict answer schema (``stopped_by: schema``) or by the market
guard rails (``guard``: symbol listed and named in the message, prices near the market,
leverage and size under the caps). Here each row is checked at its own stage, and then the
whole corpus runs through the pipeline (webhook intake, the AI task, the fake LLM giving
the attacker's answer, the paper venue with follows): zero orders.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.fakes.openai_compat import FakeOpenAI
from tests.fakes.openai_compat import content as raw_reply
from tests.platform_fixtures import eventually, make_settings, running_harness

from signalbridge.ai.errors import MalformedAnswer
from signalbridge.ai.guard import GuardLimits, MarketFacts, VenueFacts, check, grounding_problems
from signalbridge.ai.parser import validate_parse
from signalbridge.ai.prompt import build_parse_messages, clean_text
from signalbridge.channels.webhook import signed_headers
from signalbridge.domain.bounds import JsonOutOfBounds, load_json
from signalbridge.domain.signals import Parsed
from signalbridge.domain.sizing import SizingConfig
from signalbridge.store import models as m
from signalbridge.venues.paper.markets import default_markets, default_start_prices, for_account

CORPUS = Path(__file__).parents[2] / "data" / "ai_injection.jsonl"
ROWS: list[dict[str, Any]] = [
    json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line
]
#: The follow every row is checked against: 100 USDT margin, at most 10x.
SIZING: dict[str, Any] = {"mode": "fixed_quote", "value": "100", "max_leverage": 10}


def content(row: dict[str, Any]) -> str:
    """What the model's message content is: the raw text, or the answer in its envelope."""
    raw = row.get("raw")
    return raw if raw is not None else json.dumps({"answer": row["answer"]}, ensure_ascii=False)


def read_answer(row: dict[str, Any]) -> Parsed | str:
    """The answer through the client's decoding and the parser's validation; a refusal's
    message when either stops it."""
    try:
        data = load_json(content(row))
    except JsonOutOfBounds as exc:
        return f"not JSON: {exc}"
    if not isinstance(data, dict):
        return "not an object"
    try:
        parsed, _ = validate_parse(data)
    except MalformedAnswer as exc:
        return exc.message
    return parsed


def paper_facts(parsed: Parsed) -> MarketFacts:
    """What the paper venue of a futures account says, at its start prices."""
    symbol = getattr(parsed, "symbol", None)
    markets = for_account(default_markets(), futures=True)
    market = markets.get(symbol) if symbol else None
    price = default_start_prices().get(symbol) if symbol else None
    sizing = SizingConfig.model_validate(SIZING)
    return MarketFacts((VenueFacts(1, market, price, sizing, Decimal(10_000)),))


def test_the_corpus_is_big_and_covers_every_attack() -> None:
    assert len(ROWS) >= 30
    assert len({r["id"] for r in ROWS}) == len(ROWS)
    assert {r["stopped_by"] for r in ROWS} == {"schema", "guard"}
    answers = [content(r) for r in ROWS]
    for marker in ("quantity", "api_key", "close_all", "NaN", "1e400", '"-1"', "ВТС"):
        assert any(marker in a for a in answers), marker
    texts = "".join(r["text"] for r in ROWS)
    for trick in ("\u202e", "\u200b", "６", "ВТС"):  # bidi, zero-width, full-width, homoglyph
        assert trick in texts


@pytest.mark.parametrize(
    "row", [r for r in ROWS if r["stopped_by"] == "schema"], ids=lambda r: r["id"]
)
def test_the_strict_answer_schema_refuses(row: dict[str, Any]) -> None:
    refusal = read_answer(row)
    assert isinstance(refusal, str), f"{row['id']} was accepted as {refusal!r}"
    # The refusal names fields, never the attacker's values (the key in particular).
    assert "sk-or-v1" not in refusal and "developer mode" not in refusal


@pytest.mark.parametrize(
    "row", [r for r in ROWS if r["stopped_by"] == "guard"], ids=lambda r: r["id"]
)
def test_the_guard_rails_refuse(row: dict[str, Any]) -> None:
    parsed = read_answer(row)
    assert not isinstance(parsed, str), f"the schema already refuses {row['id']}: {parsed}"
    problems = grounding_problems(parsed, row["text"]) + check(
        parsed, paper_facts(parsed), GuardLimits()
    )
    assert problems, f"{row['id']} passed the guard rails"


def test_a_sound_answer_passes_the_same_rails() -> None:
    """The control: the rails refuse the corpus for what it tries, not for everything."""
    row: dict[str, Any] = {"text": CONTROL_TEXT, "answer": CONTROL_ANSWER}
    parsed = read_answer(row)
    assert not isinstance(parsed, str)
    assert grounding_problems(parsed, row["text"]) == []
    assert check(parsed, paper_facts(parsed), GuardLimits()) == []


# --- the whole pipeline: webhook intake -> rules -> ai_parse task -> fake LLM -> guard rails
# -> review desk -> dispatch -> paper venue. The channel lets the AI act alone (the riskiest
# setting) at a threshold that an agreement reaches (0.95), so every injected answer is
# tried at the last gate there is.

AI_KEY = "sk-inject-test-0123456789abcdef"
CHANNEL_NAME = "chan-inj-Xq7"
CONNECTION_NAME = "paper-acct-Zr4"
#: The control: a sound message and an answer that agrees with the rules; it must trade,
#: so that zero orders from the corpus means the rails held, not that nothing could trade.
CONTROL_TEXT = "BTC long 60000 sl 58000 tp 62000 lev 5"
CONTROL_ANSWER = {
    "kind": "signal",
    "symbol": "BTC/USDT",
    "side": "buy",
    "order_type": "limit",
    "entry": {"low": "60000", "high": "60000"},
    "stop_loss": "58000",
    "take_profits": ["62000"],
    "leverage": "5",
    "confidence": 0.97,
}
ACTS = ("agree", "ai_only")  # the outcomes after which the AI may act: the guard decides
#: The schema rows sent through the pipeline too (one per kind of refusal); every other
#: schema row is refused by the same ``validate_parse`` the chain runs (tested above), and
#: the whole corpus through the pipeline costs more than the suite's time budget allows.
PIPELINE_SCHEMA_ROWS = {
    "extra-quantity",
    "extra-api-key",
    "nan-stop",
    "huge-exponent",
    "homoglyph-symbol",
    "not-json",
}
PIPELINE_ROWS = [r for r in ROWS if r["stopped_by"] == "guard" or r["id"] in PIPELINE_SCHEMA_ROWS]


def data_of(user_content: str) -> str:
    """The message text a request carried: the JSON string between the boundary lines."""
    lines = user_content.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("BEGIN-"))
    decoded: str = json.loads(lines[start + 1])
    return decoded


def settled(row: Any) -> bool:
    """An AI parse whose task has finished, the act step included."""
    if row.outcome == "pending":
        return False
    if row.outcome not in ACTS:
        return True
    return row.action == "approved" or (row.reason or "").startswith("guard rails")


async def test_no_injected_answer_ever_becomes_an_order(tmp_path: Path) -> None:
    replies: dict[str, Any] = {clean_text(CONTROL_TEXT): {"answer": CONTROL_ANSWER}}
    for row in PIPELINE_ROWS:
        raw = row.get("raw")
        replies[clean_text(row["text"])] = (
            raw_reply(raw) if raw is not None else {"answer": row["answer"]}
        )
    assert len(replies) == len(PIPELINE_ROWS) + 1  # one answer per message text

    settings = make_settings(
        tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'sb.db'}", allowed_hosts=["127.0.0.1"]
    )
    with FakeOpenAI(api_key=AI_KEY) as fake:
        fake.responder = lambda text: replies.get(data_of(text))
        async with running_harness(settings) as h:
            # A flood of bad answers opens the configuration's breaker after 5 (then every
            # message waits in review: safe too); raised here so each row meets its own gate.
            h.container.kernel.failure_threshold = 1000
            await h.ok(
                "POST",
                "/ai-configs",
                json={
                    "name": "fake-llm",
                    "type": "openai_compatible",
                    "config": {
                        "model": "test/model-a",
                        "base_url": fake.api_base,
                        "api_key": AI_KEY,
                    },
                },
            )
            channel_id, secret = await h.webhook_channel(
                CHANNEL_NAME, min_confidence="0.95", ai_assist=True, ai_may_act_alone=True
            )
            connection_id = await h.paper_connection(CONNECTION_NAME)
            await h.follow(
                channel_id,
                connection_id,
                sizing=SIZING,
            )

            async def deliver(text: str) -> tuple[int, str]:
                raw = text.encode()
                answer = await h.client.post(
                    f"/webhooks/channels/{channel_id}",
                    content=raw,
                    headers={**signed_headers(secret, raw), "Content-Type": "text/plain"},
                )
                body = answer.json()
                if answer.status_code == 422:  # rejected by the rules, stored all the same
                    body = body["error"]["details"]
                assert answer.status_code in (200, 201, 202, 422), answer.text
                return int(body["message_id"]), text

            texts = [r["text"] for r in PIPELINE_ROWS] + [CONTROL_TEXT]
            message_of = dict(await asyncio.gather(*(deliver(t) for t in texts)))
            control_id = next(i for i, t in message_of.items() if t == CONTROL_TEXT)

            sessions = h.container.sessions

            async def parses() -> dict[int, Any]:
                async with sessions() as session:
                    rows = (await session.scalars(select(m.AIParse))).all()
                return {r.message_id: r for r in rows}

            async def orders_by_message() -> dict[int, int]:
                async with sessions() as session:
                    counted = await session.execute(
                        select(m.Signal.message_id, func.count(m.Order.id))
                        .join(m.Execution, m.Execution.signal_id == m.Signal.id)
                        .join(m.Order, m.Order.execution_id == m.Execution.id)
                        .group_by(m.Signal.message_id)
                    )
                    return {message_id: n for message_id, n in counted.all()}

            async def all_done() -> bool:
                found = await parses()
                return (
                    len(found) == len(message_of)
                    and all(settled(r) for r in found.values())
                    and control_id in await orders_by_message()
                )

            try:
                await eventually(all_done, timeout=60)
            except AssertionError:
                state = {
                    message_of[k][:30]: (r.outcome, r.action, r.reason)
                    for k, r in (await parses()).items()
                }
                raise AssertionError(f"the pipeline did not settle: {state}") from None

            found = await parses()
            text_to_row = {r["text"]: r for r in ROWS}
            for message_id, parse in found.items():
                expected = text_to_row.get(message_of[message_id])
                if expected is None:
                    assert parse.action == "approved", parse.reason  # the control
                    continue
                assert parse.action != "approved", f"{expected['id']} was approved: {parse.parse}"
                if expected["stopped_by"] == "schema":
                    assert parse.outcome == "failed", (expected["id"], parse.outcome, parse.parse)
                elif parse.outcome in ACTS:
                    assert parse.reason.startswith("guard rails"), (expected["id"], parse.reason)
                else:  # the rules read it otherwise: it waits in review, untouched
                    assert parse.outcome == "disagree", (expected["id"], parse.outcome)
            # Zero orders from any injected answer; the control traded.
            orders = await orders_by_message()
            assert set(orders) == {control_id}, {message_of[k][:30]: n for k, n in orders.items()}
            guarded = [
                text_to_row[message_of[k]]["id"]
                for k, p in found.items()
                if p.outcome in ACTS and k != control_id
            ]
            assert len(guarded) >= 10, guarded  # the rails did real work, not only the schema

    # What reached the model: the text as delimited data, the same system prompt for all,
    # nothing else: no key, no account, no names, no balances.
    chats = fake.chat_requests()
    assert len(chats) == len(message_of)  # one call per message (no cache hit, no retry)
    systems = set()
    for seen in chats:
        messages = seen.body["messages"]
        boundary = messages[0]["content"].split("BEGIN-", 1)[1].split(" ", 1)[0]
        text = data_of(messages[1]["content"])
        original = next(t for t in message_of.values() if clean_text(t) == text)
        assert messages == build_parse_messages(original, boundary=boundary)
        assert clean_text(original) not in messages[0]["content"]
        systems.add(messages[0]["content"].replace(boundary, "<b>"))
        # Beside the messages (fully fixed by the text, above): settings and the schema,
        # no account figure (the paper balance is 10000 USDT).
        rest = json.dumps({k: v for k, v in seen.body.items() if k != "messages"})
        assert "10000" not in rest
        dumped = json.dumps(seen.body, ensure_ascii=False)
        for secret_or_account in (
            AI_KEY,
            secret,
            CHANNEL_NAME,
            CONNECTION_NAME,
            "admin@example.com",
            "balance",
        ):
            assert secret_or_account not in dumped
    assert len(systems) == 1  # the system prompt never changes with the message
