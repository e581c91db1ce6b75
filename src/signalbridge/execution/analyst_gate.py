"""The follow's analyst gate: hold an execution for the AI market analysis, skip on "skip".

A follow whose risk settings say ``analyst_gate: skip_when_skip`` trades a signal only
after the signal's analysis (services/ai_analysis.py) is stored: a ``skip`` verdict skips
the execution with the analyst's reasons; ``take`` and ``adjust`` let it plan as usual (the
adjusted levels are advice, never applied). While no analysis is stored the execution is
left pending (:class:`~.planner.Wait`), never held by a sleeping worker: the analysis task
queues the signal's pending executions again when it stores its row, and the sweeper finds
them meanwhile. Once ``analyst_wait_seconds`` have passed since the signal was published,
or the analysis failed, or the channel has analysis off, the analysis is *missing* and
``analyst_on_missing`` decides (execute by default).

The decision is pure (:func:`gate`); :func:`analyst_views` reads what it needs for a
batch of signals in two statements.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.execution.planner import RiskSettings, Skip, Wait, risk_settings
from signalbridge.store import models as m

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class AnalystView:
    """What the gate needs to know of one signal."""

    published_at: datetime
    #: The channel asks for analyses: without it, none will come.
    analysis_on: bool
    #: ``ok`` / ``failed`` once stored, None while none is.
    status: str | None = None
    recommendation: str | None = None
    reasons: tuple[str, ...] = ()


def gate(risk: RiskSettings, view: AnalystView, now: datetime) -> Skip | Wait | None:
    """Skip, Wait, or None (go on planning) for one execution of the signal ``view``."""
    if risk.analyst_gate == "off":
        return None
    if view.status == m.AnalysisStatus.OK:
        if view.recommendation == "skip":
            why = "; ".join(view.reasons[:3])
            return Skip("the market analyst says skip" + (f": {why}" if why else ""))
        return None
    waiting = view.status in (None, m.AnalysisStatus.PENDING)
    if waiting and view.analysis_on:
        deadline = view.published_at + timedelta(seconds=risk.analyst_wait_seconds)
        if now < deadline:
            return Wait("waiting for the market analysis (analyst_gate)")
        missing = f"no market analysis within {risk.analyst_wait_seconds} s"
    elif waiting:
        missing = "market analysis is off for this channel"
    else:
        missing = "the market analysis failed"
    if risk.analyst_on_missing == "skip":
        return Skip(f"{missing} (analyst_on_missing: skip)")
    return None


async def analyst_views(
    session: AsyncSession, signals: Iterable[m.Signal]
) -> dict[int, AnalystView]:
    """The gate's view of each signal (by id): its analysis and its channel's setting."""
    rows = {s.id: s for s in signals}
    ids = sorted(rows)
    channels = sorted({s.channel_id for s in rows.values()})
    analysis_on: dict[int, bool] = {}
    stored: dict[int, m.SignalAnalysis] = {}
    for start in range(0, len(channels), _CHUNK):
        found = await session.execute(
            select(m.ChannelSource.id, m.ChannelSource.ai_analysis).where(
                m.ChannelSource.id.in_(channels[start : start + _CHUNK])
            )
        )
        analysis_on.update({cid: bool(on) for cid, on in found.all()})
    for start in range(0, len(ids), _CHUNK):
        analyses = await session.scalars(
            select(m.SignalAnalysis).where(
                m.SignalAnalysis.signal_id.in_(ids[start : start + _CHUNK])
            )
        )
        stored.update({a.signal_id: a for a in analyses.all()})
    views: dict[int, AnalystView] = {}
    for signal_id, signal in rows.items():
        analysis = stored.get(signal_id)
        views[signal_id] = AnalystView(
            published_at=signal.dispatched_at or signal.received_at,
            analysis_on=analysis_on.get(signal.channel_id, False),
            status=analysis.status if analysis is not None else None,
            recommendation=analysis.recommendation if analysis is not None else None,
            reasons=tuple(str(r) for r in (analysis.reasons or ())) if analysis else (),
        )
    return views


def gated(follow: m.Follow) -> RiskSettings | None:
    """The follow's risk settings when its gate is on, else None (unreadable settings
    too: the planner reports those)."""
    try:
        risk = risk_settings(follow.risk)
    except ValidationError:
        return None
    return risk if risk.analyst_gate != "off" else None


async def hold(
    session: AsyncSession, signal: m.Signal, follow: m.Follow, now: datetime
) -> Skip | Wait | None:
    """:func:`gate` for one execution (the single path); no query when the gate is off."""
    risk = gated(follow)
    if risk is None:
        return None
    views = await analyst_views(session, [signal])
    return gate(risk, views[signal.id], now)
