"""The hybrid step after intake: rules first, the AI only where the rules are unsure.

The intake stores every message as the rules read it and makes no network call. When a
channel has ``ai_assist`` on, :func:`wants_ai` picks the messages worth asking about: a
signal or update waiting in review (below the channel's ``min_confidence``), a message
the rules rejected, and one they read as noise without being sure. For each, one
``ai_parse`` task (:data:`AI_PARSE`, keyed by the message id) runs :meth:`AiParsing.run`:

1. in one short transaction: the rules' reading (the stored item, or the text read
   again), a claim on the message (the ``ai_parses`` row, written ``pending``: a second
   run finds it and does nothing), the cache (services/ai_cache.py) and the budgets
   (services/ai_usage.py);
2. with no transaction open: the AI call through the fallback chain (ai/parser.py),
   unless the cache answered (outcome ``cached``, cost 0) or a budget is spent (outcome
   ``budget``, no call);
3. in one transaction: the row completed with model, prompt version, tokens, cost,
   latency and the raw answer, and the comparison applied:

   - *agree* (the AI's contract is the rules'): the item's confidence rises to
     max(rules, 0.95);
   - *disagree*: the item stays in review; the AI's parse is shown beside it;
   - *ai_only* (the rules had nothing): the AI's reading is stored as a review item
     (``parsed_by = "ai"``);
   - *failed*: the rules' answer stands, in review. Nothing is lost.

4. after the commit, an item that may now act goes through the review desk's own
   approve path (services/review.py, actor ``ai``, audited), after the guard rails
   (services/ai_guard_facts.py): an agreed item once its confidence reaches the
   threshold, an AI-only one only when the channel has ``ai_may_act_alone`` on and the
   AI's confidence reaches the threshold. There is no second path to execution; the
   desk's conditional UPDATE makes the approval happen once.

A lost task is found again by the sweeper (:func:`lost_parses`); a claim left ``pending``
by a dead worker is taken over once it is older than :data:`CLAIM_TIMEOUT`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final, cast

from sqlalchemy import ColumnElement, CursorResult, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.ai.chain import Attempt, FallbackChain
from signalbridge.ai.client import ChatClient
from signalbridge.ai.parser import AiFailure, AiParser, AiReading
from signalbridge.ai.prompt import PROMPT_VERSION
from signalbridge.domain.errors import InvalidSignal
from signalbridge.domain.signals import (
    Noise,
    Parsed,
    Signal,
    SignalUpdate,
    fmt_decimal,
    parsed_from_dict,
)
from signalbridge.execution.pool import AdapterPool
from signalbridge.integrations.guard import ConnectionGuard
from signalbridge.integrations.http import HttpClientFactory
from signalbridge.integrations.sealing import unseal
from signalbridge.integrations.vault import Vault
from signalbridge.services import ai_cache, ai_usage, review
from signalbridge.services.ai_guard_facts import active_follows, guard_problems
from signalbridge.services.auth import Principal
from signalbridge.services.ingest import IngestResult, Interpretation, classify
from signalbridge.services.interpret import interpret
from signalbridge.store import models as m
from signalbridge.store.db import insert_ignore
from signalbridge.store.types import utcnow

log = logging.getLogger(__name__)

#: The task's name on the queue (jobs/tasks.py registers what it runs).
AI_PARSE: Final = "signalbridge.ai_parse"
#: The review desk's actor for approvals made here (audited as "ai"; no user has id 0).
AI_ACTOR: Final = Principal(0, "ai", m.Role.ADMIN, frozenset())
#: Agreement between the rules and the AI lifts an item's confidence to at least this.
AGREED_CONFIDENCE: Final = Decimal("0.95")
#: ``ai_parses.action`` while the guard rails and the approval run (then approved/review).
ACTING: Final = "acting"
#: The raw answer kept with the parse (characters).
MAX_RAW: Final = 8000
#: A ``pending`` claim older than this is a dead worker's (a live chain of configurations
#: answers or gives up well within it: each call is capped at 120 s).
CLAIM_TIMEOUT: Final = timedelta(minutes=5)
#: The sweeper looks this far back for messages whose AI parse was never recorded.
SWEEP_WINDOW: Final = timedelta(days=1)
_OUT = m.AIParseOutcome
_ITEMS: Final[dict[review.Kind, type[m.Signal] | type[m.SignalUpdate]]] = {
    "signal": m.Signal,
    "update": m.SignalUpdate,
}
_SYMBOL_SEPARATORS = re.compile(r"[/\-_.:\s]")

GuardFor = Callable[[str, int, str], ConnectionGuard]
HandOn = Callable[[IngestResult], Awaitable[None]]


def wants_ai(
    channel: m.ChannelSource, result: IngestResult, meaning: Interpretation | None = None
) -> bool:
    """Whether a newly stored message gets an AI parse task (pure: the intake asks).

    A review item always; a rejected message, or one read as noise below the threshold,
    when the channel reads free text at all. Duplicates, sure readings and channels
    without ``ai_assist`` never.
    """
    if result.duplicate or not channel.ai_assist:
        return False
    if result.status == m.MessageStatus.REVIEW:
        return True
    if not channel.parse_text:
        return False
    if result.status == m.MessageStatus.REJECTED:
        return True
    if result.status == m.MessageStatus.NOISE:
        return meaning is not None and meaning.confidence < channel.min_confidence
    return False


@dataclass(frozen=True)
class AiParts:
    """What the hybrid step takes from the container (bootstrap builds it)."""

    vault: Vault
    http: HttpClientFactory
    guard: GuardFor
    pool: AdapterPool | None = None
    #: SIGNALBRIDGE_AI_DAILY_BUDGET_USD: all AI calls of a UTC day together (None: no cap)
    daily_budget_usd: Decimal | None = None
    #: a ``pending`` claim older than this belongs to a dead worker and is taken over
    claim_timeout: timedelta = CLAIM_TIMEOUT


@dataclass(frozen=True)
class ConfigRow:
    """An active AI configuration as read in the transaction (built into a client later)."""

    id: int
    name: str
    type: str
    priority: int
    config: dict[str, Any]
    secrets_enc: str | None
    daily_budget_usd: Decimal | None


async def active_configs(session: AsyncSession) -> list[ConfigRow]:
    """The active AI configurations, by priority (lowest first), then id."""
    rows = (
        await session.scalars(
            select(m.AIConfig)
            .where(m.AIConfig.is_active.is_(True))
            .order_by(m.AIConfig.priority, m.AIConfig.id)
        )
    ).all()
    return [
        ConfigRow(
            r.id,
            r.name,
            r.type,
            r.priority,
            dict(r.config or {}),
            r.secrets_enc,
            _budget(r.config),
        )
        for r in rows
    ]


def build_chain(configs: Sequence[ConfigRow], parts: AiParts) -> FallbackChain:
    """A chain of ``configs`` (no I/O); one that cannot be built (secrets that no longer
    open, a config the schema refuses) is left out and logged, never fatal."""
    clients: list[ChatClient] = []
    types: dict[int, str] = {}
    for row in configs:
        try:
            secrets = unseal(parts.vault, "ai_configs", row.id, row.secrets_enc)
            client = ChatClient.from_config(
                row.id,
                row.config,
                secrets,
                http_factory=parts.http,
                name=row.name,
                priority=row.priority,
                type_=row.type,
            )
        except Exception as exc:  # one broken configuration must not stop the others
            log.warning("AI config %s left out of the chain: %s", row.id, type(exc).__name__)
            continue
        clients.append(client)
        types[row.id] = row.type
    return FallbackChain(clients, lambda config_id: parts.guard("ai", config_id, types[config_id]))


async def load_chain(
    session: AsyncSession, parts: AiParts, *, within_budget: bool = True
) -> FallbackChain | None:
    """The chain of the active configurations (those whose daily budget is not spent, and
    none once the global budget is), or None when there is none. Close it after use
    (:meth:`FallbackChain.aclose`)."""
    configs = await active_configs(session)
    if within_budget:
        configs = await _within_budget(session, configs, parts, utcnow())
    return build_chain(configs, parts) if configs else None


@dataclass(frozen=True)
class _Plan:
    """What phase 1 found: the message, the rules' reading and how the AI is reached."""

    claim_id: int
    message_id: int
    channel: m.ChannelSource
    text: str
    key: str
    kind: review.Kind | None
    item_id: int | None
    rules: Parsed | None
    rules_confidence: Decimal
    cached: ai_cache.CachedReading | None
    configs: tuple[ConfigRow, ...]
    refusal: str | None


@dataclass(frozen=True)
class _Answer:
    """The AI's reading (fresh or cached), or why there is none, and what it cost."""

    parsed: Parsed | None
    confidence: Decimal | None
    outcome: str | None  # cached, budget or failed when decided before comparing
    reason: str | None = None
    config_id: int | None = None
    model: str | None = None
    prompt_version: str | None = PROMPT_VERSION
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = Decimal(0)
    latency_ms: float = 0.0
    raw: str | None = None
    attempts: tuple[Attempt, ...] = ()


class AiParsing:
    """Runs the ``ai_parse`` task; :meth:`run` is idempotent by message id."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        parts: AiParts,
        hand_on: HandOn,
        *,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._parts = parts
        self._hand_on = hand_on
        self._now = now

    @property
    def parts(self) -> AiParts:
        """How the AI is reached; the market analyst (services/ai_analysis.py) shares it."""
        return self._parts

    async def run(self, message_id: int) -> str | None:
        """Parse one message with the AI; the outcome recorded, or None when this run had
        nothing to do (parsed before, claimed by another worker, no longer pending)."""
        plan = await self._plan(message_id)
        if plan is None:
            return None
        answer = await self._ask(plan)  # no transaction is open here
        outcome, act = await self._record(plan, answer)
        if act is not None:
            await self._act(plan, act)
        return outcome

    # --- phase 1: claim, rules, cache, budget (one short transaction) -----------------

    async def _plan(self, message_id: int) -> _Plan | None:
        now = self._now()
        async with self._sessions() as session, session.begin():
            message = await session.get(m.Message, message_id)
            if message is None:
                return None
            channel = await session.get(m.ChannelSource, message.channel_id)
            if channel is None or not channel.ai_assist:
                return None
            found = await _rules_reading(session, message, channel)
            if found is None:
                return None  # decided meanwhile, or sure noise
            kind, item_id, rules, rules_confidence = found
            key = ai_cache.text_hash(message.text)
            claim_id = await self._claim(session, message, key, now)
            if claim_id is None:
                return None
            cached = await ai_cache.lookup(session, key, PROMPT_VERSION)
            configs = await active_configs(session)
            refusal = None
            if cached is None:
                if not configs:
                    refusal = "no active AI configuration"
                else:
                    allowed = await _within_budget(session, configs, self._parts, now)
                    if not allowed:
                        refusal = await _budget_reason(session, configs, self._parts, now)
                    configs = allowed
            return _Plan(
                claim_id,
                message.id,
                channel,
                message.text,
                key,
                kind,
                item_id,
                rules,
                rules_confidence,
                cached,
                tuple(configs),
                refusal,
            )

    async def _claim(
        self, session: AsyncSession, message: m.Message, key: str, now: datetime
    ) -> int | None:
        """The message's ``ai_parses`` row, new and ``pending``; or a pending one a dead
        worker left behind; None when it is parsed already or another worker holds it."""
        existing = await session.scalar(select(m.AIParse).where(m.AIParse.message_id == message.id))
        if existing is None:
            return await insert_ignore(
                session,
                m.AIParse,
                {
                    "message_id": message.id,
                    "channel_id": message.channel_id,
                    "text_hash": key,
                    "outcome": _OUT.PENDING,
                    "input_tokens": 0,
                    "output_tokens": 0,
                    "cost": Decimal(0),
                    "latency_ms": 0,
                    "attempts": [],
                    "day": ai_usage.utc_day(now),
                    "created_at": now,
                    "updated_at": now,
                },
                conflict=("message_id",),
            )
        alive = existing.updated_at > now - self._parts.claim_timeout
        if existing.outcome != _OUT.PENDING or alive:
            return None
        taken = await session.execute(
            update(m.AIParse)
            .where(
                m.AIParse.id == existing.id,
                m.AIParse.outcome == _OUT.PENDING,
                m.AIParse.updated_at == existing.updated_at,
            )
            .values(updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return existing.id if _changed(taken) else None

    # --- phase 2: the call (no transaction) --------------------------------------------

    async def _ask(self, plan: _Plan) -> _Answer:
        if plan.cached is not None:
            return _Answer(
                plan.cached.parsed,
                plan.cached.confidence,
                _OUT.CACHED,
                model=plan.cached.model,
            )
        if plan.refusal is not None:
            outcome = _OUT.BUDGET if plan.refusal.startswith(ai_usage.BUDGET_SPENT) else _OUT.FAILED
            return _Answer(None, None, outcome, reason=plan.refusal, prompt_version=None)
        chain = build_chain(plan.configs, self._parts)
        try:
            reading = await AiParser(chain).read(plan.text)
        finally:
            await chain.aclose()
        if isinstance(reading, AiFailure):
            return _Answer(
                None, None, _OUT.FAILED, reason=reading.reason, attempts=reading.attempts
            )
        return _fresh(reading)

    # --- phase 3: record and apply the comparison (one transaction) --------------------

    async def _record(self, plan: _Plan, answer: _Answer) -> tuple[str, _Act | None]:
        agreement = None if answer.parsed is None else compare(plan.rules, answer.parsed)
        outcome = answer.outcome or agreement or _OUT.FAILED
        try:
            return await self._write(
                plan, answer, agreement, outcome, answer.reason, _waits(plan, agreement)
            )
        except _TakenOver:  # another worker took the claim over as stuck: its record stands
            return outcome, None

    async def _write(
        self,
        plan: _Plan,
        answer: _Answer,
        agreement: str | None,
        outcome: str,
        reason: str | None,
        waits: bool,
    ) -> tuple[str, _Act | None]:
        act: _Act | None = None
        async with self._sessions() as session, session.begin():
            if answer.parsed is not None and answer.outcome != _OUT.CACHED:
                assert answer.confidence is not None
                await ai_cache.remember(
                    session,
                    plan.key,
                    PROMPT_VERSION,
                    answer.parsed,
                    answer.confidence,
                    config_id=answer.config_id,
                    model=answer.model,
                )
            if agreement == _OUT.AGREE and plan.kind is not None and plan.item_id is not None:
                raised = max(plan.rules_confidence, AGREED_CONFIDENCE)
                if await _raise_confidence(session, plan.kind, plan.item_id, raised):
                    act = _Act(plan.kind, plan.item_id, raised, None, alone=False)
                else:
                    reason, waits = "the item left review before the AI answered", False
            elif agreement == _OUT.AI_ONLY and answer.parsed is not None:
                assert answer.confidence is not None
                made = await _store_ai_item(session, plan, answer.parsed, answer.confidence)
                if made is not None:
                    act = _Act(made[0], made[1], answer.confidence, answer.parsed, alone=True)
            if act is not None and not may_act(
                plan.channel, act.confidence, alone=act.alone, parsed=act.parsed
            ):
                reason = waiting_reason(
                    plan.channel, act.confidence, alone=act.alone, parsed=act.parsed
                )
                act = None
            done = await session.execute(
                update(m.AIParse)
                .where(m.AIParse.id == plan.claim_id, m.AIParse.outcome == _OUT.PENDING)
                .values(
                    outcome=outcome,
                    agreement=agreement,
                    config_id=answer.config_id,
                    model=answer.model,
                    prompt_version=answer.prompt_version,
                    parse=None if answer.parsed is None else answer.parsed.to_dict(),
                    confidence=answer.confidence,
                    input_tokens=answer.input_tokens,
                    output_tokens=answer.output_tokens,
                    cost=answer.cost,
                    latency_ms=round(answer.latency_ms),
                    raw=None if answer.raw is None else answer.raw[:MAX_RAW],
                    attempts=[_attempt(a) for a in answer.attempts],
                    reason=None if reason is None else reason[:2000],
                    action=ACTING
                    if act is not None
                    else (m.SignalStatus.REVIEW if waits else None),
                    updated_at=self._now(),
                )
                .execution_options(synchronize_session=False)
            )
            if not _changed(done):
                raise _TakenOver  # rolls back everything written here
        return outcome, act

    # --- phase 4: act through the review desk ------------------------------------------

    async def _act(self, plan: _Plan, act: _Act) -> None:
        channel = plan.channel
        async with self._sessions() as session:
            row = await _item(session, act.kind, _ITEMS[act.kind].id == act.item_id)
            follows = await active_follows(session, channel.id)
        if row is None:
            await self._note(plan.claim_id, m.SignalStatus.REVIEW, "the item is gone")
            return
        problems = await guard_problems(
            row, channel, text=plan.text, follows=follows, pool=self._parts.pool
        )
        if problems:
            await self._note(
                plan.claim_id, m.SignalStatus.REVIEW, "guard rails: " + "; ".join(problems)
            )
            return
        try:
            await review.approve(self._sessions, AI_ACTOR, act.kind, act.item_id, self._hand_on)
        except review.ReviewError as exc:
            await self._note(plan.claim_id, m.SignalStatus.REVIEW, exc.message)
            return
        await self._note(plan.claim_id, "approved", None)

    async def _note(self, claim_id: int, action: str, reason: str | None) -> None:
        async with self._sessions() as session, session.begin():
            values: dict[str, Any] = {"action": action, "updated_at": self._now()}
            if reason is not None:
                values["reason"] = reason[:2000]
            await session.execute(
                update(m.AIParse)
                .where(m.AIParse.id == claim_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )


class _TakenOver(Exception):
    """The claim is no longer ours: this run's record is rolled back."""


@dataclass(frozen=True)
class _Act:
    kind: review.Kind
    item_id: int
    confidence: Decimal
    parsed: Parsed | None
    alone: bool


def may_act(
    channel: m.ChannelSource, confidence: Decimal, *, alone: bool, parsed: Parsed | None = None
) -> bool:
    """Whether an item may go on without a human (guard rails still to pass): its
    confidence reaches the channel's threshold and, read by the AI alone, the channel
    lets the AI act alone and the item names its market (an update the AI alone read
    with no symbol — close all, cancel — has nothing the guard rails could check)."""
    if confidence < channel.min_confidence:
        return False
    if alone and unanchored(parsed):
        return False
    return channel.ai_may_act_alone or not alone


def unanchored(parsed: Parsed | None) -> bool:
    return isinstance(parsed, SignalUpdate) and parsed.symbol is None


def waiting_reason(
    channel: m.ChannelSource, confidence: Decimal, *, alone: bool, parsed: Parsed | None = None
) -> str:
    """Why an item the AI read (alone, or agreeing) still waits for a human."""
    if confidence < channel.min_confidence:
        return (
            f"confidence {fmt_decimal(confidence)} is below the channel's threshold "
            f"{fmt_decimal(channel.min_confidence)}: a human decides"
        )
    if alone and unanchored(parsed):
        return "only the AI read this update and it names no symbol: a human decides"
    return "only the AI read it and the channel does not let the AI act alone"


def compare(rules: Parsed | None, ai: Parsed) -> str:
    """``agree``, ``disagree``, ``ai_only`` (the rules had no signal or update, the AI
    has) or ``noise`` (neither has). Symbols compare without separators and case
    (``BTC/USDT`` is ``btcusdt``); everything else exactly, as canonical JSON."""
    rules_has = isinstance(rules, Signal | SignalUpdate)
    ai_has = isinstance(ai, Signal | SignalUpdate)
    if not rules_has:
        return _OUT.AI_ONLY if ai_has else _OUT.NOISE
    assert rules is not None
    return _OUT.AGREE if _canonical(rules) == _canonical(ai) else _OUT.DISAGREE


def _canonical(parsed: Parsed) -> dict[str, Any]:
    data = parsed.to_dict()
    if isinstance(data.get("symbol"), str):
        data["symbol"] = _SYMBOL_SEPARATORS.sub("", data["symbol"]).upper()
    return data


def _waits(plan: _Plan, agreement: str | None) -> bool:
    """Whether the item stays (or now is) in review after this parse."""
    return plan.kind is not None or agreement == _OUT.AI_ONLY


def _fresh(reading: AiReading) -> _Answer:
    return _Answer(
        reading.parsed,
        reading.confidence,
        None,
        config_id=reading.config_id,
        model=reading.model,
        prompt_version=reading.prompt_version,
        input_tokens=reading.input_tokens,
        output_tokens=reading.output_tokens,
        cost=reading.cost,
        latency_ms=reading.latency_ms,
        raw=reading.raw,
        attempts=reading.attempts,
    )


def _attempt(attempt: Attempt) -> dict[str, Any]:
    return {
        "config_id": attempt.config_id,
        "model": attempt.model,
        "error": attempt.error,
        "latency_ms": attempt.latency_ms,
    }


async def _rules_reading(
    session: AsyncSession, message: m.Message, channel: m.ChannelSource
) -> tuple[review.Kind | None, int | None, Parsed | None, Decimal] | None:
    """What the rules made of the message: the item in review (kind, id, parse,
    confidence), or no item (rejected, unsure noise); None when there is nothing to ask
    (the item was decided, the message is something else, or the rules are sure)."""
    if message.status == m.MessageStatus.REVIEW:
        for kind in review.KINDS:
            row = await _item(session, kind, _ITEMS[kind].message_id == message.id)
            if row is None:
                continue
            if row.status != review.PENDING:
                return None
            try:
                parsed = parsed_from_dict(review.contract(kind, row), check_geometry=False)
            except InvalidSignal:
                parsed = None
            return kind, row.id, parsed, row.confidence
        return None
    if message.status not in (m.MessageStatus.REJECTED, m.MessageStatus.NOISE):
        return None
    if not channel.parse_text:
        return None  # canonical JSON only: a refused body is no text to read
    meaning = interpret(
        message.text, parse_text=channel.parse_text, template=channel.parse_template
    )
    seen = classify(channel, message.text, meaning)
    if seen.meaning.parsed is not None and not isinstance(seen.meaning.parsed, Noise):
        return None  # the rules read it otherwise now (a new template): not this step's job
    if message.status == m.MessageStatus.NOISE and not seen.below:
        return None
    return None, None, seen.meaning.parsed, seen.meaning.confidence


async def _item(
    session: AsyncSession, kind: review.Kind, where: ColumnElement[bool]
) -> m.Signal | m.SignalUpdate | None:
    found = await session.scalar(select(_ITEMS[kind]).where(where))
    return cast(m.Signal | m.SignalUpdate | None, found)


async def _raise_confidence(
    session: AsyncSession, kind: review.Kind, item_id: int, confidence: Decimal
) -> bool:
    model = _ITEMS[kind]
    result = await session.execute(
        update(model)
        .where(model.id == item_id, model.status == review.PENDING)
        .values(confidence=confidence, parsed_by="rules")
        .execution_options(synchronize_session=False)
    )
    return _changed(result)


async def _store_ai_item(
    session: AsyncSession, plan: _Plan, parsed: Parsed, confidence: Decimal
) -> tuple[review.Kind, int] | None:
    """The AI's reading as a review item of the message (once: the message id is the
    item's natural key), the message moved to review; None if the message changed."""
    moved = await session.execute(
        update(m.Message)
        .where(
            m.Message.id == plan.message_id,
            m.Message.status.in_((m.MessageStatus.REJECTED, m.MessageStatus.NOISE)),
        )
        .values(status=m.MessageStatus.REVIEW)  # the rules' problems stay in ``error``
        .execution_options(synchronize_session=False)
    )
    if not _changed(moved):
        return None
    message = await session.get_one(m.Message, plan.message_id)
    if isinstance(parsed, SignalUpdate):
        update_id = await insert_ignore(
            session,
            m.SignalUpdate,
            {
                "message_id": plan.message_id,
                "channel_id": plan.channel.id,
                "symbol": parsed.symbol,
                "action": parsed.action.value,
                "value": parsed.value,
                "confidence": confidence,
                "status": review.PENDING,
                "parsed_by": "ai",
                "created_at": utcnow(),
            },
            conflict=("message_id",),
        )
        return None if update_id is None else ("update", update_id)
    assert isinstance(parsed, Signal)
    signal_id = await insert_ignore(
        session,
        m.Signal,
        {
            **review.stored_values(parsed),
            "message_id": plan.message_id,
            "channel_id": plan.channel.id,
            "confidence": confidence,
            "status": m.SignalStatus.REVIEW,
            "reasons": ["read by the AI: the rules had no signal"],
            "received_at": message.received_at,
            "parsed_at": utcnow(),
            "parsed_by": "ai",
        },
        conflict=("message_id",),
    )
    return None if signal_id is None else ("signal", signal_id)


async def _within_budget(
    session: AsyncSession, configs: Sequence[ConfigRow], parts: AiParts, now: datetime
) -> list[ConfigRow]:
    check = ai_usage.check_budgets(
        {c.id: c.daily_budget_usd for c in configs},
        await ai_usage.spent_on(session, ai_usage.utc_day(now)),
        parts.daily_budget_usd,
    )
    return [c for c in configs if c.id in check.allowed]


async def _budget_reason(
    session: AsyncSession, configs: Sequence[ConfigRow], parts: AiParts, now: datetime
) -> str:
    check = ai_usage.check_budgets(
        {c.id: c.daily_budget_usd for c in configs},
        await ai_usage.spent_on(session, ai_usage.utc_day(now)),
        parts.daily_budget_usd,
    )
    return check.reason or ai_usage.BUDGET_SPENT


def _budget(config: Any) -> Decimal | None:
    raw = config.get("daily_budget_usd") if isinstance(config, dict) else None
    if raw is None:
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        return Decimal(0)  # unreadable: treated as spent, never as "no cap"
    return value if value.is_finite() else Decimal(0)


def _changed(result: Any) -> bool:
    return bool(isinstance(result, CursorResult) and result.rowcount == 1)


async def lost_parses(session: AsyncSession, *, cutoff: datetime, limit: int = 500) -> list[int]:
    """Message ids whose AI parse task was lost: on an ``ai_assist`` channel, in review or
    rejected, stored before ``cutoff`` (within :data:`SWEEP_WINDOW`) with no parse
    recorded; and claims left ``pending`` for :data:`CLAIM_TIMEOUT` before ``cutoff``
    (the task takes those over). None without an
    active AI configuration. (A lost task of an unsure noise message is not found
    again: the rules' confidence is not stored.)"""
    if not await session.scalar(select(exists().where(m.AIConfig.is_active.is_(True)))):
        return []
    assisted = select(m.ChannelSource.id).where(m.ChannelSource.ai_assist.is_(True))
    reading = assisted.where(m.ChannelSource.parse_text.is_(True))
    parsed = select(m.AIParse.message_id)
    never = (
        select(m.Message.id)
        .where(
            or_(
                (m.Message.status == m.MessageStatus.REVIEW) & m.Message.channel_id.in_(assisted),
                (m.Message.status == m.MessageStatus.REJECTED) & m.Message.channel_id.in_(reading),
            ),
            m.Message.received_at <= cutoff,
            m.Message.received_at >= cutoff - SWEEP_WINDOW,
            m.Message.id.not_in(parsed),
        )
        .order_by(m.Message.id)
        .limit(limit)
    )
    stuck = (
        select(m.AIParse.message_id)
        .where(m.AIParse.outcome == _OUT.PENDING, m.AIParse.updated_at <= cutoff - CLAIM_TIMEOUT)
        .order_by(m.AIParse.id)
        .limit(limit)
    )
    found = [*(await session.scalars(never)).all(), *(await session.scalars(stuck)).all()]
    return sorted(set(found))[:limit]


__all__ = [
    "AGREED_CONFIDENCE",
    "AI_ACTOR",
    "AI_PARSE",
    "AiParsing",
    "AiParts",
    "ConfigRow",
    "active_configs",
    "build_chain",
    "compare",
    "load_chain",
    "lost_parses",
    "may_act",
    "wants_ai",
]
