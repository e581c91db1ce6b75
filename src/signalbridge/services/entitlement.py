"""Entitlement: is user U entitled to channel C at time T, and if not, why; which channels
is U entitled to. The one place the rest of the platform asks.

The rules are pure (:mod:`~signalbridge.services.entitlement_rules`); this module reads the
rows they judge: the user's subscriptions and grants with their plans' channels. The grace
period of a failed renewal is a setting (``SIGNALBRIDGE_PAYMENTS_GRACE_DAYS``) that
bootstrap puts on the session factory (:func:`configure`), so every session, whoever opened
it, judges with the same grace.

Where it is asked:

- following a ``plan`` channel (services/access.py ``followable_channel``);
- dispatch (services/dispatch.py): an execution of a follower no longer entitled is
  skipped with the reason, before any order (:func:`skip_unentitled`). Open positions are
  not touched: their resting stop and targets stay, and provider updates still apply;
- listing channels (services/access.py ``visible``), through the SQL form of the rules
  (:func:`holds_channel`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    and_,
    cast,
    exists,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from signalbridge.execution.settlement import end_pending
from signalbridge.payments.base import SubjectStatus
from signalbridge.services.entitlement_rules import (
    GRANT,
    RUNNING,
    SUBSCRIPTION,
    Decision,
    Holding,
    decide,
    decide_channel,
    judge,
)
from signalbridge.store import models as m
from signalbridge.store.types import utcnow

GRACE_KEY = "signalbridge.entitlement.grace"
DEFAULT_GRACE = timedelta(days=3)


def configure(sessions: async_sessionmaker[AsyncSession], *, grace_days: int) -> None:
    """Give every session of ``sessions`` the grace period (called by bootstrap)."""
    info = dict(sessions.kw.get("info") or {})
    info[GRACE_KEY] = timedelta(days=grace_days)
    sessions.configure(info=info)


def grace_of(session: AsyncSession) -> timedelta:
    grace = session.info.get(GRACE_KEY, DEFAULT_GRACE)
    return grace if isinstance(grace, timedelta) else DEFAULT_GRACE


def _channels(value: Any) -> frozenset[int]:
    """A plan's ``channel_ids`` (a JSON list of ids) as a set; anything else is ignored."""
    out: set[int] = set()
    for item in value if isinstance(value, list) else ():
        if isinstance(item, int) and not isinstance(item, bool):
            out.add(item)
        elif isinstance(item, str) and item.isdigit():
            out.add(int(item))
    return frozenset(out)


def subscription_holding(row: m.Subscription, plan_name: str, channel_ids: Any) -> Holding:
    return Holding(
        kind=SUBSCRIPTION,
        id=row.id,
        user_id=row.user_id,
        plan_id=row.plan_id,
        status=row.status,
        period_end=row.current_period_end,
        plan_name=plan_name,
        channel_ids=_channels(channel_ids),
        changed_at=row.updated_at,
        cancel_at_period_end=bool(getattr(row, "cancel_at_period_end", False)),
    )


def grant_holding(row: m.PlanGrant, plan_name: str, channel_ids: Any) -> Holding:
    return Holding(
        kind=GRANT,
        id=row.id,
        user_id=row.user_id,
        plan_id=row.plan_id,
        status="granted",
        period_end=row.ends_at,
        plan_name=plan_name,
        channel_ids=_channels(channel_ids),
        starts_at=row.starts_at,
        revoked_at=row.revoked_at,
        changed_at=row.revoked_at or row.created_at,
    )


async def holdings_of(
    session: AsyncSession, user_ids: Iterable[int], channel_id: int | None = None
) -> dict[int, list[Holding]]:
    """Every subscription and grant of these users (those whose plan includes
    ``channel_id`` when given), per user: two queries."""
    wanted = sorted(set(user_ids))
    out: dict[int, list[Holding]] = {u: [] for u in wanted}
    if not wanted:
        return out
    subs = await session.execute(
        select(m.Subscription, m.Plan.name, m.Plan.channel_ids)
        .join(m.Plan, m.Plan.id == m.Subscription.plan_id)
        .where(m.Subscription.user_id.in_(wanted))
        .order_by(m.Subscription.id)
    )
    for row, name, channels in subs.all():
        out[row.user_id].append(subscription_holding(row, name, channels))
    grants = await session.execute(
        select(m.PlanGrant, m.Plan.name, m.Plan.channel_ids)
        .join(m.Plan, m.Plan.id == m.PlanGrant.plan_id)
        .where(m.PlanGrant.user_id.in_(wanted))
        .order_by(m.PlanGrant.id)
    )
    for row, name, channels in grants.all():
        out[row.user_id].append(grant_holding(row, name, channels))
    if channel_id is not None:
        out = {u: [h for h in hs if channel_id in h.channel_ids] for u, hs in out.items()}
    return out


async def check(
    session: AsyncSession, user_id: int, channel_id: int, *, now: datetime | None = None
) -> Decision:
    """Is ``user_id`` entitled to copy ``channel_id`` at ``now`` (default: now), and why."""
    when = now or utcnow()
    channel = (
        await session.execute(
            select(m.ChannelSource.visibility, m.ChannelSource.owner_id).where(
                m.ChannelSource.id == channel_id
            )
        )
    ).first()
    role = await session.scalar(select(m.User.role).where(m.User.id == user_id))
    if channel is None or role is None:
        return Decision(False, "missing", "no such channel or user")
    visibility, owner_id = channel
    held = (await holdings_of(session, [user_id], channel_id))[user_id]
    return decide_channel(
        visibility,
        role=role,
        is_owner=owner_id == user_id,
        holdings=held,
        now=when,
        grace=grace_of(session),
    )


async def entitled_channels(
    session: AsyncSession, user_id: int, *, now: datetime | None = None
) -> dict[int, Decision]:
    """The channels ``user_id`` is entitled to through a plan at ``now``, each with the
    holding that lasts longest (channels that are public or the user's own need no plan)."""
    when = now or utcnow()
    grace = grace_of(session)
    held = (await holdings_of(session, [user_id]))[user_id]
    per_channel: dict[int, list[Holding]] = {}
    for h in held:
        if judge(h, when, grace).entitled:
            for channel_id in h.channel_ids:
                per_channel.setdefault(channel_id, []).append(h)
    return {c: decide(hs, when, grace) for c, hs in sorted(per_channel.items())}


async def skip_unentitled(
    session: AsyncSession,
    channel_id: int,
    created: Mapping[int, Sequence[int]],
    *,
    now: datetime | None = None,
) -> dict[int, list[int]]:
    """End the new executions (signal id -> execution ids) of followers of a ``plan``
    channel who are not entitled now as ``skipped``, with the reason (the engine's own
    skip: status, reason, log row), so no order is ever planned for them. Returns the
    executions left to run, per signal.

    Any other channel costs one query and changes nothing.
    """
    everything = [x for ids in created.values() for x in ids]
    if not everything:
        return {signal_id: list(ids) for signal_id, ids in created.items()}
    channel = (
        await session.execute(
            select(m.ChannelSource.visibility, m.ChannelSource.owner_id).where(
                m.ChannelSource.id == channel_id
            )
        )
    ).first()
    if channel is None or channel[0] != m.ChannelVisibility.PLAN:
        return {signal_id: list(ids) for signal_id, ids in created.items()}
    when = now or utcnow()
    grace = grace_of(session)
    rows = (
        await session.execute(
            select(m.Execution.id, m.ExecutionConnection.owner_id, m.User.role)
            .join(m.ExecutionConnection, m.ExecutionConnection.id == m.Execution.connection_id)
            .join(m.User, m.User.id == m.ExecutionConnection.owner_id)
            .where(m.Execution.id.in_(everything))
            # a channel's reference paper account (its track record) follows every signal
            .where(m.Execution.connection_id.not_in(select(m.TrackRecordAccount.connection_id)))
        )
    ).all()
    held = await holdings_of(session, {owner for _, owner, _ in rows}, channel_id)
    refused: dict[int, str] = {}
    for execution_id, owner, role in rows:
        decision = decide_channel(
            channel[0],
            role=role,
            is_owner=owner == channel[1],
            holdings=held[owner],
            now=when,
            grace=grace,
        )
        if not decision.entitled:
            refused[execution_id] = f"not entitled to channel {channel_id}: {decision.detail}"
    for execution_id, reason in sorted(refused.items()):
        await end_pending(session, execution_id, m.ExecutionStatus.SKIPPED, reason, when)
    return {signal_id: [x for x in ids if x not in refused] for signal_id, ids in created.items()}


# --- the rules as SQL, for listings ------------------------------------------------------


class json_int_array_has(FunctionElement[bool]):
    """``array_column`` (a JSON list of ids) holds ``value``: SQLite and PostgreSQL."""

    type = Boolean()
    inherit_cache = True
    name = "json_int_array_has"


@compiles(json_int_array_has, "sqlite")
def _has_sqlite(element: json_int_array_has, compiler: SQLCompiler, **kw: Any) -> str:
    array, value = list(element.clauses)
    # Both parts are compiled SQL expressions (a column, a bound parameter), never text.
    return (
        f"EXISTS (SELECT 1 FROM json_each({compiler.process(array, **kw)}) AS je "  # noqa: S608
        f"WHERE je.value = {compiler.process(value, **kw)})"
    )


@compiles(json_int_array_has, "postgresql")
def _has_postgresql(element: json_int_array_has, compiler: SQLCompiler, **kw: Any) -> str:
    array, value = list(element.clauses)
    return (
        f"(CAST({compiler.process(array, **kw)} AS JSONB) @> "
        f"to_jsonb({compiler.process(value, **kw)}))"
    )


def held_plans(user_id: int, now: datetime) -> Any:
    """The plans ``user_id`` holds at ``now``, as a subquery of plan ids.

    The same rules as :func:`~.entitlement_rules.judge` with one leniency: a ``past_due``
    subscription counts whatever the grace (the provider is still retrying), so the
    member keeps *seeing* the channel; copying follows the exact rules.
    """
    s = m.Subscription
    g = m.PlanGrant
    running = [str(x) for x in RUNNING]
    subscription_ok = or_(
        and_(
            s.status.in_(running),
            or_(s.current_period_end.is_(None), s.current_period_end > now),
        ),
        and_(s.status == str(SubjectStatus.PAST_DUE), s.current_period_end.is_not(None)),
        and_(
            s.status == str(SubjectStatus.CANCELED),
            s.current_period_end.is_not(None),
            s.current_period_end > now,
        ),
    )
    grant_ok = and_(
        or_(g.revoked_at.is_(None), g.revoked_at > now),
        g.starts_at <= now,
        or_(g.ends_at.is_(None), g.ends_at > now),
    )
    return union_all(
        select(s.plan_id).where(s.user_id == user_id, subscription_ok),
        select(g.plan_id).where(g.user_id == user_id, grant_ok),
    )


def holds_channel(user_id: int, now: datetime | None = None) -> ColumnElement[bool]:
    """SQL: the ``channel_sources`` row is in a plan ``user_id`` holds (see
    :func:`held_plans`), for use in a query over channels."""
    when = now or utcnow()
    return exists(
        select(m.Plan.id).where(
            m.Plan.id.in_(held_plans(user_id, when)),
            json_int_array_has(m.Plan.channel_ids, m.ChannelSource.id),
        )
    )


async def plans_offering(session: AsyncSession, channel_id: int) -> list[int]:
    """Active plans that include ``channel_id`` (what a member could buy to copy it)."""
    query = select(m.Plan.id).where(
        m.Plan.is_active.is_(True),
        json_int_array_has(m.Plan.channel_ids, cast(channel_id, BigInteger)),
    )
    return list((await session.scalars(query.order_by(m.Plan.id))).all())
