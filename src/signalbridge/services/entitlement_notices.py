"""Reminders before a plan's period ends, and a notice when an entitlement ends.

The scheduler runs :func:`send_notices` every ``entitlement_job_seconds`` (jobs/runtime.py).
Each notice is issued once: an ``entitlement_notices`` row keyed by (subscription or
grant, kind, the period end it is about) is written with the outbox rows in one
transaction, so a second run, a second scheduler or a crash between the two issues
nothing twice. A member without a linked chat still gets the row (and nothing to read):
linking a chat later does not replay old reminders.

- ``expiring``: the holding entitles now and its end (period end; a failed renewal's
  grace end) is less than ``reminder_days`` away. Once per period end: a renewal moves
  the end, and the next period gets its own reminder.
- ``ended``: the holding stopped entitling within the last ``lookback`` (so a first run
  on an old database does not page everyone about years-old ends), and no other holding
  still gives the member the same plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.notifications import emit
from signalbridge.payments.base import SubjectStatus
from signalbridge.services.entitlement import grace_of, grant_holding, subscription_holding
from signalbridge.services.entitlement_rules import (
    GRANT,
    RUNNING,
    SUBSCRIPTION,
    Holding,
    ended_at,
    judge,
)
from signalbridge.store import models as m
from signalbridge.store.db import insert_ignore_many
from signalbridge.store.types import utcnow

EXPIRING = "expiring"
ENDED = "ended"
DEFAULT_LOOKBACK = timedelta(days=7)
#: Ends worth an "ended" notice: a holding that once entitled (never a pending checkout).
_ENDABLE = frozenset(
    {
        *RUNNING,
        SubjectStatus.PAST_DUE,
        SubjectStatus.CANCELED,
        SubjectStatus.REFUNDED,
        SubjectStatus.DISPUTED,
        SubjectStatus.EXPIRED,
    }
)


@dataclass(frozen=True)
class Due:
    """A notice to issue: what, about which holding, for which period end."""

    kind: str
    holding: Holding
    at: datetime
    #: expiring: the provider charges again at ``at``; ended: why it ended
    renews: bool = False
    why: str = ""

    @property
    def period(self) -> str:
        return self.at.astimezone(UTC).isoformat()


@dataclass(frozen=True)
class NoticeReport:
    expiring: int
    ended: int


def due_notices(
    holdings: list[Holding],
    now: datetime,
    *,
    grace: timedelta,
    reminder: timedelta,
    lookback: timedelta = DEFAULT_LOOKBACK,
) -> list[Due]:
    """The notices these holdings call for at ``now`` (pure: the job's decision)."""
    verdicts = [(h, judge(h, now, grace)) for h in holdings]
    held_now = {(h.user_id, h.plan_id) for h, d in verdicts if d.entitled}
    out: list[Due] = []
    for h, decision in verdicts:
        if decision.entitled:
            end = decision.until
            if end is not None and reminder > timedelta(0) and end - reminder <= now < end:
                renews = (
                    h.kind == SUBSCRIPTION and h.status in RUNNING and not h.cancel_at_period_end
                )
                out.append(Due(EXPIRING, h, end, renews=renews))
            continue
        if h.kind == SUBSCRIPTION and h.status not in _ENDABLE:
            continue
        end = ended_at(h, grace)
        if end is None or not now - lookback <= end <= now:
            continue
        if (h.user_id, h.plan_id) in held_now:
            continue  # still held through another subscription or grant: nothing ended
        out.append(Due(ENDED, h, end, why=decision.detail))
    return out


async def _candidates(
    session: AsyncSession, now: datetime, grace: timedelta, reminder: timedelta, lookback: timedelta
) -> list[Holding]:
    """Every holding of the users who have a holding that may need a notice now (the
    users' other holdings decide whether an end is real)."""
    s, g = m.Subscription, m.PlanGrant
    near = and_(
        s.current_period_end.is_not(None),
        s.current_period_end >= now - lookback - grace,
        s.current_period_end <= now + reminder + grace,
    )
    changed = and_(
        s.status.in_([str(SubjectStatus.REFUNDED), str(SubjectStatus.DISPUTED)]),
        s.updated_at >= now - lookback,
    )
    grant_near = or_(
        and_(g.ends_at.is_not(None), g.ends_at >= now - lookback, g.ends_at <= now + reminder),
        and_(g.revoked_at.is_not(None), g.revoked_at >= now - lookback),
    )
    users = select(s.user_id).where(or_(near, changed)).union(select(g.user_id).where(grant_near))
    subs = await session.execute(
        select(s, m.Plan.name, m.Plan.channel_ids)
        .join(m.Plan, m.Plan.id == s.plan_id)
        .where(s.user_id.in_(users))
        .order_by(s.id)
    )
    out = [subscription_holding(row, name, ch) for row, name, ch in subs.all()]
    grants = await session.execute(
        select(g, m.Plan.name, m.Plan.channel_ids)
        .join(m.Plan, m.Plan.id == g.plan_id)
        .where(g.user_id.in_(users))
        .order_by(g.id)
    )
    out.extend(grant_holding(row, name, ch) for row, name, ch in grants.all())
    return out


async def send_notices(
    sessions: async_sessionmaker[AsyncSession],
    *,
    reminder_days: int,
    now: datetime | None = None,
    lookback: timedelta = DEFAULT_LOOKBACK,
) -> NoticeReport:
    """Issue the reminders and end notices due now, each once (one transaction)."""
    when = now or utcnow()
    reminder = timedelta(days=reminder_days)
    async with sessions() as session, session.begin():
        grace = grace_of(session)
        holdings = await _candidates(session, when, grace, reminder, lookback)
        due = due_notices(holdings, when, grace=grace, reminder=reminder, lookback=lookback)
        if not due:
            return NoticeReport(0, 0)
        rows: list[dict[str, Any]] = [
            {
                "user_id": d.holding.user_id,
                "source": d.holding.kind,
                "source_id": d.holding.id,
                "kind": d.kind,
                "period": d.period,
                "created_at": when,
            }
            for d in due
        ]
        made = await insert_ignore_many(
            session,
            m.EntitlementNotice,
            rows,
            ("source", "source_id", "kind", "period"),
            returning=("source", "source_id", "kind", "period"),
        )
        new = set(made)
        counts = {EXPIRING: 0, ENDED: 0}
        for d in due:
            if (d.holding.kind, d.holding.id, d.kind, d.period) not in new:
                continue
            counts[d.kind] += 1
            if d.kind == EXPIRING:
                await emit.subscription_expiring(
                    session,
                    d.holding.user_id,
                    source=d.holding.kind,
                    source_id=d.holding.id,
                    plan_name=d.holding.plan_name,
                    ends_at=d.at,
                    renews=d.renews,
                )
            else:
                await emit.subscription_ended(
                    session,
                    d.holding.user_id,
                    source=d.holding.kind,
                    source_id=d.holding.id,
                    plan_name=d.holding.plan_name,
                    ended_at=d.at,
                    why=d.why,
                )
        return NoticeReport(counts[EXPIRING], counts[ENDED])


__all__ = ["ENDED", "EXPIRING", "GRANT", "Due", "NoticeReport", "due_notices", "send_notices"]
