"""The market analysis of a published signal: candles in, a stored verdict out, once.

When a signal is published (accepted or approved, its executions written) on a channel
with ``ai_analysis`` on, the dispatch task queues :func:`analyse_signal` once it has run the
executions, so the orders of follows without a gate never wait for it (jobs/tasks.py,
:func:`needs_analysis`). The task

1. claims the signal's ``signal_analyses`` row (``pending``, keyed by the signal: a second
   task, the sweeper's or a duplicate delivery's, finds it claimed and asks nothing; a
   claim left ``pending`` for :data:`CLAIM_TIMEOUT` is a dead worker's and is taken over);
2. reads recent candles through a follow's venue adapter, behind that connection's guard
   (ccxt ``fetch_ohlcv``, the paper venue's feed: venues/candles.py); the first follow
   whose venue answers is used;
3. asks the AI chain (ai/analysis.py) within ``deadline_seconds``;
4. stores the verdict (``ok``) or why there is none (``failed``: no candles, no AI
   configuration, every configuration failed, the deadline passed; a worker killed in
   between leaves the claim ``pending``, which the gate treats as no analysis: after the
   follow's wait, ``analyst_on_missing`` decides; the sweeper queues the task again,
   :func:`lost_analyses`);
5. queues the signal's executions still pending again, so follows whose analyst gate
   holds them (execution/analyst_gate.py) decide now instead of at the next sweep.

Nothing here places or changes an order: the verdict can only hold or skip a follow's
execution through the gate, and the adjusted levels are shown, never applied.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, Final, Protocol

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.ai.analysis import ANALYSIS_PROMPT_VERSION, AiAnalyst, Analysis
from signalbridge.ai.chain import FallbackChain
from signalbridge.domain.market import Candle
from signalbridge.domain.signals import Signal
from signalbridge.execution.pool import AdapterPool
from signalbridge.execution.rows import signal_from_row
from signalbridge.integrations.errors import IntegrationError
from signalbridge.store import models as m
from signalbridge.store.db import insert_ignore
from signalbridge.store.types import utcnow
from signalbridge.venues.candles import SupportsCandles

__all__ = [
    "ANALYSE_SIGNAL",
    "CLAIM_TIMEOUT",
    "AnalysisDeps",
    "analyse_signal",
    "analysis_body",
    "lost_analyses",
    "needs_analysis",
]

#: The task that runs :func:`analyse_signal` (with the signal id).
ANALYSE_SIGNAL = "signalbridge.analyse_signal"
#: The signal statuses that mean "published".
PUBLISHED = (m.SignalStatus.ACCEPTED, m.SignalStatus.DISPATCHED)
#: Follows' venues tried for candles before giving up.
MAX_CANDLE_SOURCES = 3
MAX_ERROR_CHARS = 500
#: A ``pending`` claim older than this is a dead worker's: a live task has its candles and
#: its answer (or gives up) well within it (the AI's deadline is ``deadline_seconds``).
CLAIM_TIMEOUT: Final = timedelta(minutes=5)


class Enqueue(Protocol):
    async def enqueue(self, name: str, *args: Any) -> None: ...


ChainSource = Callable[[AsyncSession], Awaitable[FallbackChain | None]]
"""Builds the fallback chain from the stored AI configurations (services/ai_parsing.py's
``load_chain``); None when no configuration is active."""


@dataclass(frozen=True)
class AnalysisDeps:
    """What the analysis task needs; the jobs layer builds it (task names are its own)."""

    sessions: async_sessionmaker[AsyncSession]
    pool: AdapterPool
    chain: ChainSource
    queue: Enqueue
    dispatch_task: str
    timeframe: str = "1h"
    candles: int = 48
    #: The longest the AI may take for one analysis (every configuration together).
    deadline_seconds: float = 60.0
    now: Callable[[], datetime] = utcnow


async def needs_analysis(sessions: async_sessionmaker[AsyncSession], signal_id: int) -> bool:
    """Whether a published signal's channel wants an analysis and none is stored yet (one
    statement; the dispatch task asks before queueing :func:`analyse_signal`)."""
    async with sessions() as session:
        found = await session.scalar(
            select(m.Signal.id)
            .join(m.ChannelSource, m.ChannelSource.id == m.Signal.channel_id)
            .outerjoin(m.SignalAnalysis, m.SignalAnalysis.signal_id == m.Signal.id)
            .where(
                m.Signal.id == signal_id,
                m.Signal.status.in_(PUBLISHED),
                m.ChannelSource.ai_analysis.is_(True),
                m.SignalAnalysis.id.is_(None),
            )
        )
    return found is not None


async def analyse_signal(deps: AnalysisDeps, signal_id: int) -> str:
    """Analyse one published signal once; returns what happened (``ok``, ``failed``,
    ``claimed`` when another task has it, ``skipped`` when not wanted)."""
    async with deps.sessions() as session, session.begin():
        row = await session.get(m.Signal, signal_id)
        if row is None or row.status not in PUBLISHED:
            return "skipped"
        channel = await session.get_one(m.ChannelSource, row.channel_id)
        if not channel.ai_analysis:
            return "skipped"
        claimed = await insert_ignore(
            session,
            m.SignalAnalysis,
            {
                "signal_id": signal_id,
                "prompt_version": ANALYSIS_PROMPT_VERSION,
                "status": m.AnalysisStatus.PENDING,
                "reasons": [],
                "adjustments": {},
                "input_tokens": 0,
                "output_tokens": 0,
                "cost": Decimal(0),
                "created_at": deps.now(),
            },
            conflict=("signal_id",),
        )
        if claimed is None and not await _take_over(session, signal_id, deps.now()):
            return "claimed"
        signal = signal_from_row(row)
        connections = (
            await session.scalars(
                select(m.Follow.connection_id)
                .where(m.Follow.channel_id == row.channel_id, m.Follow.is_active.is_(True))
                .order_by(m.Follow.id)
            )
        ).all()
    outcome: Analysis | str
    try:
        outcome = await _analyse(deps, signal, list(connections))
    except Exception as exc:  # a claim left pending would hold gated follows to their wait
        outcome = f"the analysis failed unexpectedly ({type(exc).__name__})"
    async with deps.sessions() as session, session.begin():
        await session.execute(
            update(m.SignalAnalysis)
            .where(
                m.SignalAnalysis.signal_id == signal_id,
                m.SignalAnalysis.status == m.AnalysisStatus.PENDING,
            )
            .values(**_columns(outcome), created_at=deps.now())
        )
        pending = (
            await session.scalars(
                select(m.Execution.id)
                .where(
                    m.Execution.signal_id == signal_id,
                    m.Execution.status == m.ExecutionStatus.PENDING,
                )
                .order_by(m.Execution.id)
            )
        ).all()
    if pending:  # after the commit: the gate reads the stored verdict
        await deps.queue.enqueue(deps.dispatch_task, signal_id, list(pending))
    return m.AnalysisStatus.OK if isinstance(outcome, Analysis) else m.AnalysisStatus.FAILED


async def _take_over(session: AsyncSession, signal_id: int, now: datetime) -> bool:
    """Whether the signal's claim was left ``pending`` by a dead worker and is ours now
    (one conditional UPDATE: of two tasks taking it over, one wins)."""
    taken = await session.execute(
        update(m.SignalAnalysis)
        .where(
            m.SignalAnalysis.signal_id == signal_id,
            m.SignalAnalysis.status == m.AnalysisStatus.PENDING,
            m.SignalAnalysis.created_at <= now - CLAIM_TIMEOUT,
        )
        .values(created_at=now)
        .execution_options(synchronize_session=False)
    )
    return isinstance(taken, CursorResult) and taken.rowcount == 1


async def lost_analyses(session: AsyncSession, *, cutoff: datetime, limit: int = 500) -> list[int]:
    """Signal ids whose analysis claim was left ``pending`` for :data:`CLAIM_TIMEOUT` before
    ``cutoff`` (a worker died mid-task): the sweeper queues :func:`analyse_signal` again,
    which takes the claim over."""
    stuck = (
        select(m.SignalAnalysis.signal_id)
        .where(
            m.SignalAnalysis.status == m.AnalysisStatus.PENDING,
            m.SignalAnalysis.created_at <= cutoff - CLAIM_TIMEOUT,
        )
        .order_by(m.SignalAnalysis.signal_id)
        .limit(limit)
    )
    return list((await session.scalars(stuck)).all())


async def _analyse(deps: AnalysisDeps, signal: Signal, connections: list[int]) -> Analysis | str:
    """The analysis, or why there is none (one line, no secret: errors are translated)."""
    candles = await _candles(deps, signal.symbol, connections)
    if not candles:
        return f"no candles for {signal.symbol} from the follows' venues"
    async with deps.sessions() as session:
        chain = await deps.chain(session)
    if chain is None or not chain.clients:
        return "no active AI configuration"
    try:
        result = await asyncio.wait_for(
            AiAnalyst(chain, timeframe=deps.timeframe).analyse(signal, candles),
            timeout=deps.deadline_seconds,
        )
    except TimeoutError:
        return f"the AI did not answer within {deps.deadline_seconds:g} s"
    finally:
        await chain.aclose()
    if isinstance(result, Analysis):
        return result
    tried = "; ".join(a.error or "" for a in result.attempts if a.error)
    return f"{result.reason}: {tried}" if tried else result.reason


async def _candles(deps: AnalysisDeps, symbol: str, connections: list[int]) -> list[Candle]:
    for connection_id in connections[:MAX_CANDLE_SOURCES]:
        try:
            live = await deps.pool.get(connection_id)
        except IntegrationError:
            continue
        adapter = live.adapter
        if not isinstance(adapter, SupportsCandles):
            continue
        try:
            candles = await live.read(
                partial(adapter.fetch_candles, symbol, deps.timeframe, deps.candles)
            )
        except IntegrationError:
            continue
        if candles:
            return candles
    return []


def _columns(outcome: Analysis | str) -> dict[str, Any]:
    if isinstance(outcome, str):
        return {"status": m.AnalysisStatus.FAILED, "error": outcome[:MAX_ERROR_CHARS]}
    answer = outcome.answer
    return {
        "status": m.AnalysisStatus.OK,
        "config_id": outcome.config_id,
        "model": outcome.model[:200],
        "prompt_version": outcome.prompt_version,
        "trend": answer.trend,
        "risk": answer.risk,
        "recommendation": answer.recommendation,
        "reasons": list(answer.reasons),
        "adjustments": answer.adjustments(),
        "input_tokens": outcome.input_tokens,
        "output_tokens": outcome.output_tokens,
        "cost": outcome.cost,
        "latency_ms": Decimal(str(round(outcome.latency_ms, 3))),
        "raw": outcome.raw,
    }


async def analysis_body(
    session: AsyncSession, signal_id: int, *, staff: bool
) -> dict[str, Any] | None:
    """The analysis shown with a signal (None: none asked for). Members see the verdict;
    staff also what it cost, which configuration and model answered, and the raw answer."""
    row = await session.scalar(
        select(m.SignalAnalysis).where(m.SignalAnalysis.signal_id == signal_id)
    )
    if row is None:
        return None
    body: dict[str, Any] = {
        "status": row.status,
        "trend": row.trend,
        "risk": row.risk,
        "recommendation": row.recommendation,
        "reasons": list(row.reasons or []),
        "adjustments": dict(row.adjustments or {}),
        "created_at": row.created_at.isoformat(),
    }
    if staff:
        body.update(
            {
                "config_id": row.config_id,
                "model": row.model,
                "prompt_version": row.prompt_version,
                "input_tokens": row.input_tokens,
                "output_tokens": row.output_tokens,
                "cost": str(row.cost),
                "latency_ms": None if row.latency_ms is None else str(row.latency_ms),
                "error": row.error,
                "raw": row.raw,
            }
        )
    return body
