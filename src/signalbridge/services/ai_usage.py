"""What the AI costs: tokens and cost per call, channel and day, and the daily budgets.

Every AI parse is one ``ai_parses`` row (services/ai_parsing.py) with its tokens, its cost
and its UTC ``day``, every market analysis one ``signal_analyses`` row
(services/ai_analysis.py, its day that of ``created_at``); usage is read from those rows,
so there is no second counter to drift.
Two budgets stop calls for the rest of the UTC day once spent: each configuration's
``daily_budget_usd`` (that configuration is left out of the chain) and the operator's
``SIGNALBRIDGE_AI_DAILY_BUDGET_USD`` over all of them (no call at all); the market
analyses' costs (``signal_analyses``) count toward both. A budget is spent
when what was spent reaches it; calls already under way are never cut off, so a day may
end a few calls above its budget. Costs are summed as ``Decimal`` in Python: SQLite keeps
them as exact text, and a SQL SUM there would go through floats.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.domain.signals import fmt_decimal
from signalbridge.store import models as m

BUDGET_SPENT = "AI budget spent"


def utc_day(at: datetime) -> str:
    """``YYYY-MM-DD`` of ``at`` in UTC: the budgets' and the usage report's day."""
    return at.astimezone(UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class Spent:
    """One day's AI spend: in all, and per configuration."""

    total: Decimal
    by_config: Mapping[int, Decimal]


async def spent_on(session: AsyncSession, day: str) -> Spent:
    """What the day's AI calls cost, in all and per configuration: the parses and the
    market analyses (services/ai_analysis.py) alike."""
    start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
    rows = [
        *(
            await session.execute(
                select(m.AIParse.config_id, m.AIParse.cost).where(m.AIParse.day == day)
            )
        ).all(),
        *(
            await session.execute(
                select(m.SignalAnalysis.config_id, m.SignalAnalysis.cost).where(
                    m.SignalAnalysis.created_at >= start,
                    m.SignalAnalysis.created_at < start + timedelta(days=1),
                )
            )
        ).all(),
    ]
    total = Decimal(0)
    by_config: dict[int, Decimal] = {}
    for config_id, cost in rows:
        amount = cost or Decimal(0)
        total += amount
        if config_id is not None:
            by_config[config_id] = by_config.get(config_id, Decimal(0)) + amount
    return Spent(total, by_config)


@dataclass(frozen=True)
class BudgetCheck:
    """The configurations that may still be asked today, and why none may when so."""

    allowed: tuple[int, ...]
    reason: str | None = None


def check_budgets(
    budgets: Mapping[int, Decimal | None], spent: Spent, global_cap: Decimal | None
) -> BudgetCheck:
    """Which configurations (id -> their ``daily_budget_usd``, None: no cap) may be asked.

    Pure; ``reason`` (starting with :data:`BUDGET_SPENT`) is set when none may.
    """
    if global_cap is not None and spent.total >= global_cap:
        return BudgetCheck(
            (),
            f"{BUDGET_SPENT}: {fmt_decimal(spent.total)} USD of the daily "
            f"{fmt_decimal(global_cap)} USD for all AI calls",
        )
    allowed = tuple(
        config_id
        for config_id, budget in budgets.items()
        if budget is None or spent.by_config.get(config_id, Decimal(0)) < budget
    )
    if budgets and not allowed:
        return BudgetCheck((), f"{BUDGET_SPENT}: every AI configuration's daily budget is used")
    return BudgetCheck(allowed)


async def usage(
    session: AsyncSession,
    *,
    day: str,
    channel_id: int | None = None,
    config_id: int | None = None,
) -> dict[str, Any]:
    """Tokens, cost and calls of one UTC day per (configuration, channel), with totals:
    the AI parses and the market analyses apart (``parse``, ``analysis``) and together
    (``input_tokens``, ``output_tokens``, ``cost``: what the budgets count).

    A parse's ``calls`` counts requests answered or failed (not cache hits, not budget
    refusals); ``analyses`` counts every analysis, ``failures`` those that stored no
    verdict. An analysis's channel is its signal's.
    """
    parses = select(
        m.AIParse.config_id,
        m.AIParse.channel_id,
        m.AIParse.outcome,
        m.AIParse.input_tokens,
        m.AIParse.output_tokens,
        m.AIParse.cost,
    ).where(m.AIParse.day == day)
    start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
    analyses = (
        select(
            m.SignalAnalysis.config_id,
            m.Signal.channel_id,
            m.SignalAnalysis.status,
            m.SignalAnalysis.input_tokens,
            m.SignalAnalysis.output_tokens,
            m.SignalAnalysis.cost,
        )
        .join(m.Signal, m.Signal.id == m.SignalAnalysis.signal_id)
        .where(
            m.SignalAnalysis.created_at >= start,
            m.SignalAnalysis.created_at < start + timedelta(days=1),
        )
    )
    if channel_id is not None:
        parses = parses.where(m.AIParse.channel_id == channel_id)
        analyses = analyses.where(m.Signal.channel_id == channel_id)
    if config_id is not None:
        parses = parses.where(m.AIParse.config_id == config_id)
        analyses = analyses.where(m.SignalAnalysis.config_id == config_id)
    groups: dict[tuple[int | None, int], dict[str, Any]] = {}
    total = _empty()
    for kind, query in (("parse", parses), ("analysis", analyses)):
        for cfg, channel, outcome, tokens_in, tokens_out, cost in (
            await session.execute(query)
        ).all():
            group = groups.setdefault((cfg, channel), _empty())
            for bucket in (group, total):
                _add(bucket, kind, outcome, tokens_in, tokens_out, cost or Decimal(0))
    items = [
        {"day": day, "config_id": cfg, "channel_id": channel, **_shown(bucket)}
        for (cfg, channel), bucket in sorted(
            groups.items(), key=lambda kv: (kv[0][0] is None, kv[0][0] or 0, kv[0][1])
        )
    ]
    return {"day": day, "items": items, "total": _shown(total)}


def _spend() -> dict[str, Any]:
    return {"input_tokens": 0, "output_tokens": 0, "cost": Decimal(0)}


def _empty() -> dict[str, Any]:
    return {
        "parse": {
            "parses": 0,
            "calls": 0,
            "cache_hits": 0,
            "budget_refusals": 0,
            "failures": 0,
            **_spend(),
        },
        "analysis": {"analyses": 0, "failures": 0, **_spend()},
        **_spend(),
    }


def _add(
    bucket: dict[str, Any],
    kind: str,
    outcome: str,
    tokens_in: int,
    tokens_out: int,
    cost: Decimal,
) -> None:
    part = bucket[kind]
    if kind == "analysis":
        part["analyses"] += 1
        if outcome == m.AnalysisStatus.FAILED:
            part["failures"] += 1
    else:
        part["parses"] += 1
        if outcome == m.AIParseOutcome.CACHED:
            part["cache_hits"] += 1
        elif outcome == m.AIParseOutcome.BUDGET:
            part["budget_refusals"] += 1
        elif outcome != m.AIParseOutcome.PENDING:
            part["calls"] += 1
        if outcome == m.AIParseOutcome.FAILED:
            part["failures"] += 1
    for spend in (part, bucket):
        spend["input_tokens"] += tokens_in
        spend["output_tokens"] += tokens_out
        spend["cost"] += cost


def _shown(bucket: dict[str, Any]) -> dict[str, Any]:
    return {
        **bucket,
        "parse": {**bucket["parse"], "cost": fmt_decimal(bucket["parse"]["cost"])},
        "analysis": {**bucket["analysis"], "cost": fmt_decimal(bucket["analysis"]["cost"])},
        "cost": fmt_decimal(bucket["cost"]),
    }


async def parses_of(session: AsyncSession, message_id: int) -> list[dict[str, Any]]:
    """The message's AI parse as staff see it beside the rules' (review show, the API):
    the AI's contract and confidence, the comparison, the call's model, prompt version,
    tokens, cost, latency, raw answer and attempts."""
    rows = (
        await session.scalars(
            select(m.AIParse).where(m.AIParse.message_id == message_id).order_by(m.AIParse.id)
        )
    ).all()
    return [parse_view(row) for row in rows]


def parse_view(row: m.AIParse) -> dict[str, Any]:
    return {
        "id": row.id,
        "message_id": row.message_id,
        "channel_id": row.channel_id,
        "outcome": row.outcome,
        "agreement": row.agreement,
        "action": row.action,
        "reason": row.reason,
        "parse": row.parse,
        "confidence": None if row.confidence is None else fmt_decimal(row.confidence),
        "config_id": row.config_id,
        "model": row.model,
        "prompt_version": row.prompt_version,
        "input_tokens": row.input_tokens,
        "output_tokens": row.output_tokens,
        "cost": fmt_decimal(row.cost),
        "latency_ms": row.latency_ms,
        "raw": row.raw,
        "attempts": row.attempts,
        "day": row.day,
        "created_at": row.created_at.isoformat(),
    }
