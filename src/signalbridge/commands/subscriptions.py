"""``signalbridge subscriptions grant|revoke|list``: operators' grants from the shell.

A grant gives a member a plan's channels exactly as a paid subscription would, for N days
or without end, until revoked. Each command works on the database directly (upgrading
its schema first) and audits as the actor ``cli``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from signalbridge.commands.common import fail, on_database

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


def _member(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value is not None else "-"


def grant(
    user: Annotated[str, typer.Argument(help="The member: e-mail address or user id.")],
    plan: Annotated[str, typer.Argument(help="The plan: id or exact name.")],
    days: Annotated[
        int | None,
        typer.Option(min=1, max=3650, help="Days the grant lasts, from now."),
    ] = None,
    forever: Annotated[
        bool, typer.Option("--forever", help="The grant has no end (until revoked).")
    ] = False,
    note: Annotated[
        str | None, typer.Option(help="Why (kept with the grant and in the audit log).")
    ] = None,
) -> None:
    """Give a member a plan's channels for --days N days, or --forever (until revoked).

    The member may then follow the plan's plan-only channels, and their accounts copy new
    signals, as with a paid subscription. Audited as the actor 'cli'.
    """
    if (days is None) == (not forever):
        fail("give either --days N or --forever")
    from signalbridge.services import entitlement_grants as grants

    async def work(s: AsyncSession) -> str:
        row = await grants.grant(
            s, grants.Actor("cli"), user=_member(user), plan=_member(plan), days=days, note=note
        )
        ends = "without end" if row.ends_at is None else f"until {_when(row.ends_at)} UTC"
        return f"grant {row.id}: plan {row.plan_id} to user {row.user_id} {ends}"

    typer.echo(on_database(work))


def revoke(
    grant_id: Annotated[int, typer.Argument(min=1, help="The grant's id (see 'list').")],
) -> None:
    """End a grant now (audited as 'cli').

    New signals of its plan's channels are then skipped for the member, with the reason;
    open positions keep their stop loss and targets.
    """
    from signalbridge.services import entitlement_grants as grants

    async def work(s: AsyncSession) -> str:
        row = await grants.revoke(s, grants.Actor("cli"), grant_id)
        return f"grant {row.id} revoked at {_when(row.revoked_at)} UTC"

    typer.echo(on_database(work))


def list_(
    user: Annotated[
        str | None, typer.Option(help="Only this member (e-mail address or user id).")
    ] = None,
) -> None:
    """List subscriptions and grants: kind, id, member, plan, state, period end (UTC)."""
    from sqlalchemy import select

    from signalbridge.services import entitlement_grants as grants
    from signalbridge.services.entitlement import grace_of, grant_holding, subscription_holding
    from signalbridge.services.entitlement_rules import judge
    from signalbridge.store import models as m
    from signalbridge.store.types import utcnow

    async def work(s: AsyncSession) -> list[str]:
        now = utcnow()
        grace = grace_of(s)
        who: int | None = None
        if user is not None:
            who = (await grants.find_user(s, _member(user))).id
        emails = dict((await s.execute(select(m.User.id, m.User.email))).all())
        subs = select(m.Subscription, m.Plan.name, m.Plan.channel_ids).join(
            m.Plan, m.Plan.id == m.Subscription.plan_id
        )
        gs = select(m.PlanGrant, m.Plan.name, m.Plan.channel_ids).join(
            m.Plan, m.Plan.id == m.PlanGrant.plan_id
        )
        if who is not None:
            subs = subs.where(m.Subscription.user_id == who)
            gs = gs.where(m.PlanGrant.user_id == who)
        lines = []
        for row, name, channels in (await s.execute(subs.order_by(m.Subscription.id))).all():
            verdict = judge(subscription_holding(row, name, channels), now, grace)
            lines.append(
                f"{'subscription':<12} {row.id:>5}  {emails.get(row.user_id, '?'):<28} "
                f"{name[:24]:<24} {row.status:<10} {_when(row.current_period_end):<16}  "
                f"{'yes' if verdict.entitled else 'no':<8} {row.gateway}"
            )
        for row, name, channels in (await s.execute(gs.order_by(m.PlanGrant.id))).all():
            verdict = judge(grant_holding(row, name, channels), now, grace)
            lines.append(
                f"{'grant':<12} {row.id:>5}  {emails.get(row.user_id, '?'):<28} "
                f"{name[:24]:<24} {grants.state(row, now):<10} {_when(row.ends_at):<16}  "
                f"{'yes' if verdict.entitled else 'no':<8} by {row.granted_by}"
            )
        return lines

    lines = on_database(work, write=False)
    typer.echo(
        f"{'kind':<12} {'id':>5}  {'member':<28} {'plan':<24} {'state':<10} "
        f"{'ends (UTC)':<16}  {'entitled':<8} via"
    )
    for line in lines:
        typer.echo(line)
