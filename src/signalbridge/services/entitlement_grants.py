"""Operators' grants: a plan given to a member for N days or without end, and revoked.

A grant entitles exactly like a paid subscription of the plan (services/entitlement.py)
and is its own row (``plan_grants``), never a subscription, so no gateway reconciliation
ever touches it. Granting and revoking are audited in the caller's transaction; a revoked
grant stays, with who revoked it and when. Only staff (admins, operators) and the shell
may call these: the API and the CLI check that before they do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.services import audit
from signalbridge.store import models as m
from signalbridge.store.types import utcnow

MAX_DAYS = 3650
MAX_NOTE = 500


class GrantError(ValueError):
    """Bad grant input; the message is safe to show. Nothing was written."""


class GrantNotFound(GrantError):
    pass


@dataclass(frozen=True)
class Actor:
    """Who grants: an API caller (``id`` set) or the shell (``cli``)."""

    label: str
    id: int | None = None


async def find_user(session: AsyncSession, user: int | str) -> m.User:
    """A user by id or e-mail address."""
    if isinstance(user, int):
        row = await session.get(m.User, user)
    else:
        row = await session.scalar(select(m.User).where(m.User.email == user.strip().lower()))
    if row is None:
        raise GrantNotFound(f"no user {user}")
    return row


async def find_plan(session: AsyncSession, plan: int | str) -> m.Plan:
    """A plan by id or exact name."""
    if isinstance(plan, int):
        row = await session.get(m.Plan, plan)
    else:
        row = await session.scalar(select(m.Plan).where(m.Plan.name == plan))
    if row is None:
        raise GrantNotFound(f"no plan {plan}")
    return row


async def grant(
    session: AsyncSession,
    actor: Actor,
    *,
    user: int | str,
    plan: int | str,
    days: int | None,
    note: str | None = None,
    now: datetime | None = None,
) -> m.PlanGrant:
    """Give ``plan`` to ``user`` from now for ``days`` days (None: without end)."""
    if days is not None and not 1 <= days <= MAX_DAYS:
        raise GrantError(f"days must be between 1 and {MAX_DAYS}, or none for no end")
    if note is not None and len(note) > MAX_NOTE:
        raise GrantError(f"the note is longer than {MAX_NOTE} characters")
    member = await find_user(session, user)
    if not member.is_active:
        raise GrantError(f"user {member.id} is deactivated")
    row_plan = await find_plan(session, plan)
    start = now or utcnow()
    row = m.PlanGrant(
        user_id=member.id,
        plan_id=row_plan.id,
        starts_at=start,
        ends_at=None if days is None else start + timedelta(days=days),
        note=note or None,
        granted_by=actor.label,
        created_at=start,
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        actor=actor.label,
        actor_id=actor.id,
        action="create",
        entity="grant",
        entity_id=row.id,
        changes={
            "user": member.email,
            "user_id": member.id,
            "plan": row_plan.name,
            "plan_id": row_plan.id,
            "starts_at": row.starts_at,
            "ends_at": row.ends_at,
            "note": row.note,
        },
    )
    return row


async def revoke(
    session: AsyncSession, actor: Actor, grant_id: int, *, now: datetime | None = None
) -> m.PlanGrant:
    """End a grant now; a grant revoked already is an error (nothing changes)."""
    row = await session.get(m.PlanGrant, grant_id, with_for_update=True)
    if row is None:
        raise GrantNotFound(f"grant {grant_id} not found")
    if row.revoked_at is not None:
        raise GrantError(f"grant {grant_id} was revoked already")
    row.revoked_at = now or utcnow()
    row.revoked_by = actor.label
    await session.flush()
    await audit.record(
        session,
        actor=actor.label,
        actor_id=actor.id,
        action="revoke",
        entity="grant",
        entity_id=row.id,
        changes={"user_id": row.user_id, "plan_id": row.plan_id, "revoked_at": row.revoked_at},
    )
    return row


def state(row: m.PlanGrant, now: datetime) -> str:
    """``active``, ``scheduled``, ``revoked`` or ``expired`` at ``now``."""
    if row.revoked_at is not None and row.revoked_at <= now:
        return "revoked"
    if now < row.starts_at:
        return "scheduled"
    if row.ends_at is not None and now >= row.ends_at:
        return "expired"
    return "active"
