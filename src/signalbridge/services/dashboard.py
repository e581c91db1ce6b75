"""The staff dashboard's figures: signals per hour, latency per stage, open positions,
recent failures and the connections to watch.

Pure reads, each narrowed to the caller through services/access.py like the API's lists.
Counts are summed in SQL with portable ``CASE`` buckets (no date functions differ between
SQLite and PostgreSQL); medians and percentiles are worked out in Python from a bounded
window of rows, as services/execution_quality.py does, with the same statistics.
PnL totals come from services/pnl.py and breaker states from the kernel (the page asks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.execution.quality import latency_ms, summarise
from signalbridge.services import access
from signalbridge.services.auth import Principal
from signalbridge.store import models as m

WINDOW = timedelta(hours=24)
#: The most signals one latency summary reads (the newest); ``truncated`` says when more.
MAX_SIGNALS = 20_000
#: The stages a signal passes, in order, as (column, label).
STAGES: tuple[tuple[str, str], ...] = (
    ("received_at", "received"),
    ("parsed_at", "parsed"),
    ("dispatched_at", "dispatched"),
    ("order_sent_at", "order sent"),
    ("order_acked_at", "acknowledged"),
    ("filled_at", "filled"),
)
#: Execution log actions that report something gone wrong (the engine writes no level).
ERROR_LOG_ACTIONS = (
    "failed",
    "order_rejected",
    "order_needs_attention",
    "order_unsure",
    "cancel_failed",
    "position_mismatch",
)
_MS = Decimal("0.001")


@dataclass(frozen=True, slots=True)
class HourCount:
    """Signals received in the hour starting at ``start``."""

    start: datetime
    count: int


def hour_floor(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


async def signals_per_hour(
    session: AsyncSession, who: Principal, now: datetime, hours: int = 24
) -> list[HourCount]:
    """Signals the caller sees received in each of the last ``hours`` clock hours, the
    current (partial) hour last; one query, a ``CASE`` sum per hour."""
    first = hour_floor(now) - timedelta(hours=hours - 1)
    starts = [first + timedelta(hours=i) for i in range(hours)]
    received = m.Signal.received_at
    columns = [
        func.sum(case((and_(received >= s, received < s + timedelta(hours=1)), 1), else_=0))
        for s in starts
    ]
    query: Any = select(*columns).select_from(m.Signal).where(received >= first)
    row = (await session.execute(access.visible(query, "signal", who))).one()
    return [HourCount(s, int(n or 0)) for s, n in zip(starts, row, strict=True)]


@dataclass(frozen=True, slots=True)
class StageLatency:
    """Milliseconds from one stage to the next (or end to end) over many signals."""

    start: str
    end: str
    count: int
    median_ms: Decimal | None
    p95_ms: Decimal | None

    @property
    def label(self) -> str:
        return f"{self.start} → {self.end}"


@dataclass(frozen=True, slots=True)
class Latencies:
    stages: list[StageLatency]
    signals: int
    truncated: bool


def _stat(start: str, end: str, values: Sequence[Decimal]) -> StageLatency:
    stats = summarise(values)
    if stats is None:
        return StageLatency(start, end, 0, None, None)
    return StageLatency(
        start, end, stats.count, stats.median.quantize(_MS), stats.p95.quantize(_MS)
    )


async def stage_latencies(
    session: AsyncSession, who: Principal, since: datetime, limit: int = MAX_SIGNALS
) -> Latencies:
    """Median and p95 of each stage step (received → parsed → ... → filled) and of the
    whole way, over the newest ``limit`` signals received since ``since``. A signal that
    skipped a stage (no order yet) counts only in the steps it has both ends of."""
    columns = [getattr(m.Signal, name) for name, _ in STAGES]
    query: Any = (
        select(*columns)
        .where(m.Signal.received_at >= since)
        .order_by(m.Signal.id.desc())
        .limit(limit + 1)
    )
    rows = list((await session.execute(access.visible(query, "signal", who))).all())
    truncated = len(rows) > limit
    rows = rows[:limit]
    steps: list[list[Decimal]] = [[] for _ in range(len(STAGES))]
    for row in rows:
        for i in range(len(STAGES) - 1):
            value = latency_ms(row[i], row[i + 1])
            if value is not None and value >= 0:
                steps[i].append(value)
        whole = latency_ms(row[0], row[-1])
        if whole is not None and whole >= 0:
            steps[-1].append(whole)
    labels = [label for _, label in STAGES]
    found = [_stat(labels[i], labels[i + 1], steps[i]) for i in range(len(STAGES) - 1)]
    found.append(_stat(labels[0], labels[-1], steps[-1]))
    return Latencies(found, len(rows), truncated)


async def open_positions(session: AsyncSession, who: Principal) -> int:
    query: Any = select(func.count()).select_from(m.Position)
    query = query.where(m.Position.status == m.PositionStatus.OPEN)
    return int(await session.scalar(access.visible(query, "position", who)) or 0)


@dataclass(frozen=True, slots=True)
class Failure:
    """One thing that went wrong: what kind of row, its id, a link target, when, why."""

    kind: str
    row_id: int
    href: str | None
    at: datetime | None
    what: str
    reason: str


@dataclass(frozen=True, slots=True)
class Failures:
    executions: list[Failure]
    logs: list[Failure]
    messages: list[Failure]
    actions: list[Failure]
    since: datetime

    @property
    def total(self) -> int:
        return len(self.executions) + len(self.logs) + len(self.messages) + len(self.actions)


def _short(text: str | None, limit: int = 300) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def action_error(result: dict[str, Any] | None) -> str:
    """What a failed manual action's result says went wrong."""
    found = result or {}
    errors = found.get("errors") or []
    return str(found.get("error") or "; ".join(str(e) for e in errors))


async def recent_failures(
    session: AsyncSession, who: Principal, since: datetime, limit: int = 10
) -> Failures:
    """The newest failed executions, error-level execution logs, rejected messages and
    failed manual actions since ``since`` that the caller sees, ``limit`` of each."""
    e = m.Execution
    executions: Any = (
        select(e)
        .where(e.status == m.ExecutionStatus.FAILED, e.updated_at >= since)
        .order_by(e.id.desc())
        .limit(limit)
    )
    failed = (await session.scalars(access.visible(executions, "execution", who))).all()
    lg = m.ExecutionLog
    logs: Any = (
        select(lg)
        .where(lg.action.in_(ERROR_LOG_ACTIONS), lg.at >= since)
        .order_by(lg.id.desc())
        .limit(limit)
    )
    errors = (await session.scalars(access.visible(logs, "execution_log", who))).all()
    msg = m.Message
    messages: Any = (
        select(msg)
        .where(msg.status == m.MessageStatus.REJECTED, msg.received_at >= since)
        .order_by(msg.id.desc())
        .limit(limit)
    )
    rejected = (await session.scalars(access.visible(messages, "message", who))).all()
    act = m.ManualAction
    actions: Any = (
        select(act)
        .where(act.status == m.ManualActionStatus.FAILED, act.created_at >= since)
        .order_by(act.id.desc())
        .limit(limit)
    )
    refused = (await session.scalars(access.visible(actions, "manual_action", who))).all()
    return Failures(
        executions=[
            Failure(
                "execution",
                r.id,
                f"/console/executions/{r.id}",
                r.updated_at,
                f"signal {r.signal_id}, connection {r.connection_id}",
                _short(r.reason),
            )
            for r in failed
        ],
        logs=[
            Failure(
                "execution log",
                r.id,
                f"/console/executions/{r.execution_id}" if r.execution_id else None,
                r.at,
                r.action,
                _short(r.reason),
            )
            for r in errors
        ],
        messages=[
            Failure(
                "message",
                r.id,
                None,
                r.received_at,
                f"channel {r.channel_id}",
                _short(r.error),
            )
            for r in rejected
        ],
        actions=[
            Failure(
                "manual action",
                r.id,
                "/console/manual-actions?status=failed",
                r.created_at,
                r.kind,
                _short(action_error(r.result)),
            )
            for r in refused
        ],
        since=since,
    )


@dataclass(frozen=True, slots=True)
class WatchedConnection:
    """A connection of some kind with its stored health (the breaker is the kernel's)."""

    kind: str  # the kernel's kind: channel, exchange, ai, payment
    row_id: int
    name: str
    type: str
    is_active: bool
    consecutive_failures: int
    error_count: int
    last_error: str | None
    last_error_at: datetime | None
    last_success_at: datetime | None


#: (kernel kind, access entity, scope, model) of every kind of outside connection.
CONNECTION_KINDS: tuple[tuple[str, access.Entity, str, type[Any]], ...] = (
    ("channel", "channel", "channels:read", m.ChannelSource),
    ("exchange", "connection", "connections:read", m.ExecutionConnection),
    ("ai", "ai_config", "connections:read", m.AIConfig),
    ("payment", "payment_gateway", "admin", m.PaymentGateway),
)


async def watched_connections(
    session: AsyncSession, who: Principal, per_kind: int = 100
) -> tuple[list[WatchedConnection], bool]:
    """Active connections of every kind the caller may read, the most failing first,
    at most ``per_kind`` of each; and whether any kind had more."""
    out: list[WatchedConnection] = []
    more = False
    h = m.ConnectionHealth
    for kind, entity, scope, model in CONNECTION_KINDS:
        if not who.allows(scope) or not access.permits(entity, "read", who):
            continue
        failures = func.coalesce(h.consecutive_failures, 0)
        query: Any = (
            select(
                model.id,
                model.name,
                model.type,
                model.is_active,
                failures,
                func.coalesce(h.error_count, 0),
                h.last_error,
                h.last_error_at,
                h.last_success_at,
            )
            .outerjoin(h, and_(h.kind == kind, h.connection_id == model.id))
            .where(model.is_active.is_(True))
            .order_by(failures.desc(), model.id)
            .limit(per_kind + 1)
        )
        rows = list((await session.execute(access.visible(query, entity, who))).all())
        more = more or len(rows) > per_kind
        for row_id, name, type_, active, failing, errors, last, last_at, ok_at in rows[:per_kind]:
            out.append(
                WatchedConnection(
                    kind=kind,
                    row_id=int(row_id),
                    name=str(name),
                    type=str(type_),
                    is_active=bool(active),
                    consecutive_failures=int(failing),
                    error_count=int(errors),
                    last_error=last,
                    last_error_at=last_at,
                    last_success_at=ok_at,
                )
            )
    return out, more
