"""Who may see and change which rows: the one place that holds the ownership rules.

Roles:

- ``admin`` sees and changes everything.
- ``operator`` runs the channels and the review of signals: reads and writes every
  channel, reads every account (connections, follows, executions, orders, positions,
  execution logs) and the whole audit log, and writes only the connections and follows
  it owns itself.
- ``member`` sees and changes only its own accounts, reads the channels it may follow
  (public, its own, or ``plan`` channels of a plan it holds: services/entitlement.py) or
  already follows, their messages and signals, its own plan grants, and the audit rows
  of its own actions.

Ownership is derived, never copied: a connection has ``owner_id``; a follow, execution,
order and position belongs to the owner of its ``connection_id``; an execution log to the
owner of its execution; a manual action to whoever requested it and to the owner of its
``connection_id``. Tokens belong to their ``user_id``, audit rows to their
``actor_id``, a user to itself.

Routes ask two things. :func:`permits` (by role, before any row is read): is this route
open to the caller at all? A "no" is a 403. :func:`find` (by row): does the caller see
this row, and may it change it? A row the caller may not see is :class:`NotFound`, worded
exactly like a missing id, so an id never reveals that someone else's row exists; a row
it sees but may not change (an operator on a member's account) is :class:`ReadOnly`.
Lists go through :func:`visible`, the same filter as a query clause.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.services import entitlement
from signalbridge.services.auth import Principal
from signalbridge.store import models as m
from signalbridge.store.models import ChannelVisibility, Role

Entity = Literal[
    "channel",
    "connection",
    "ai_config",
    "payment_gateway",
    "follow",
    "signal",
    "message",
    "execution",
    "order",
    "position",
    "foreign_position",
    "execution_log",
    "audit",
    "user",
    "token",
    "plan",
    "grant",
    "manual_action",
]
Action = Literal["read", "write", "create"]

MODELS: dict[Entity, type[Any]] = {
    "channel": m.ChannelSource,
    "connection": m.ExecutionConnection,
    "ai_config": m.AIConfig,
    "payment_gateway": m.PaymentGateway,
    "follow": m.Follow,
    "signal": m.Signal,
    "message": m.Message,
    "execution": m.Execution,
    "order": m.Order,
    "position": m.Position,
    "foreign_position": m.ForeignPosition,
    "execution_log": m.ExecutionLog,
    "audit": m.AuditEntry,
    "user": m.User,
    "token": m.ApiToken,
    "plan": m.Plan,
    "grant": m.PlanGrant,
    "manual_action": m.ManualAction,
}

_EVERYONE = frozenset(Role.ALL)
_STAFF = frozenset((Role.ADMIN, Role.OPERATOR))
_ADMINS = frozenset((Role.ADMIN,))
_NOBODY: frozenset[str] = frozenset()

#: Roles a route family is open to, per action: (read, write, create).
ROLES: dict[Entity, tuple[frozenset[str], frozenset[str], frozenset[str]]] = {
    "channel": (_EVERYONE, _STAFF, _STAFF),
    "connection": (_EVERYONE, _EVERYONE, _EVERYONE),
    "ai_config": (_ADMINS, _ADMINS, _ADMINS),
    "payment_gateway": (_ADMINS, _ADMINS, _ADMINS),
    "follow": (_EVERYONE, _EVERYONE, _EVERYONE),
    "signal": (_EVERYONE, _NOBODY, _NOBODY),
    "message": (_EVERYONE, _NOBODY, _NOBODY),
    "execution": (_EVERYONE, _NOBODY, _NOBODY),
    "order": (_EVERYONE, _NOBODY, _NOBODY),
    "position": (_EVERYONE, _NOBODY, _NOBODY),
    "foreign_position": (_EVERYONE, _NOBODY, _NOBODY),
    "execution_log": (_EVERYONE, _NOBODY, _NOBODY),
    "audit": (_EVERYONE, _NOBODY, _NOBODY),
    "user": (_EVERYONE, _EVERYONE, _ADMINS),
    "token": (_EVERYONE, _EVERYONE, _EVERYONE),
    "plan": (_ADMINS, _ADMINS, _ADMINS),
    "grant": (_EVERYONE, _STAFF, _STAFF),
    "manual_action": (_EVERYONE, _NOBODY, _NOBODY),
}

#: What an operator reads beyond its own rows (everything of these kinds).
_OPERATOR_READS_ALL = frozenset(
    (
        "channel",
        "connection",
        "follow",
        "signal",
        "message",
        "execution",
        "order",
        "position",
        "foreign_position",
        "execution_log",
        "audit",
        "grant",
        "manual_action",
    )
)
#: What an operator changes beyond its own rows.
_OPERATOR_WRITES_ALL = frozenset(("channel", "grant"))

Q = TypeVar("Q", bound=Select[Any])


class AccessDenied(Exception):
    """The caller may not do this; ``message`` is safe to show."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(AccessDenied):
    """Missing, or not the caller's to see: the two are never told apart."""

    def __init__(self, entity: Entity, row_id: int) -> None:
        super().__init__(f"{entity} {row_id} not found")


class ReadOnly(AccessDenied):
    """The caller sees the row (an operator, someone else's account) but may not change it."""

    def __init__(self, entity: Entity, row_id: int) -> None:
        super().__init__(f"{entity} {row_id} belongs to another user: it is read-only for you")


def is_admin(who: Principal) -> bool:
    return who.role == Role.ADMIN


def is_staff(who: Principal) -> bool:
    """Admins and operators: they run channels, so they see channels' full configuration."""
    return who.role in _STAFF


def permits(entity: Entity, action: Action, who: Principal) -> bool:
    """Is this kind of route open to the caller's role at all (before any row is read)?"""
    read, write, create = ROLES[entity]
    return who.role in {"read": read, "write": write, "create": create}[action]


def owned_connections(user_id: int) -> Select[int]:
    return select(m.ExecutionConnection.id).where(m.ExecutionConnection.owner_id == user_id)


def _followed_channels(user_id: int) -> Select[int]:
    return select(m.Follow.channel_id).where(m.Follow.connection_id.in_(owned_connections(user_id)))


def _followable(user_id: int) -> ColumnElement[bool]:
    """Channels a member may follow: public ones, its own, and plan-only ones of a plan it
    holds (the listing form of the entitlement rules: services/entitlement.py)."""
    return or_(
        m.ChannelSource.visibility == ChannelVisibility.PUBLIC,
        m.ChannelSource.owner_id == user_id,
        and_(
            m.ChannelSource.visibility == ChannelVisibility.PLAN,
            entitlement.holds_channel(user_id),
        ),
    )


def _member_channels(user_id: int) -> Select[int]:
    """Channels a member sees: those it may follow, and those it follows already."""
    return select(m.ChannelSource.id).where(
        or_(_followable(user_id), m.ChannelSource.id.in_(_followed_channels(user_id)))
    )


def _owned(entity: Entity, user_id: int) -> ColumnElement[bool]:
    """The rows of ``entity`` that ``user_id`` owns."""
    mine = owned_connections(user_id)
    if entity == "connection":
        return m.ExecutionConnection.owner_id == user_id
    if entity in ("follow", "execution", "order", "position", "foreign_position"):
        column: ColumnElement[bool] = MODELS[entity].connection_id.in_(mine)
        return column
    if entity == "execution_log":
        executions = select(m.Execution.id).where(m.Execution.connection_id.in_(mine))
        return m.ExecutionLog.execution_id.in_(executions)
    if entity == "channel":
        return m.ChannelSource.owner_id == user_id
    if entity == "token":
        return m.ApiToken.user_id == user_id
    if entity == "audit":
        return m.AuditEntry.actor_id == user_id
    if entity == "grant":
        return m.PlanGrant.user_id == user_id
    if entity == "manual_action":  # what it asked for, and what was done to its accounts
        return or_(m.ManualAction.requested_by == user_id, m.ManualAction.connection_id.in_(mine))
    if entity == "user":
        return m.User.id == user_id
    return false()  # admin-only kinds (AI configs, payment gateways, plans); read-only kinds


def visible(query: Q, entity: Entity, who: Principal) -> Q:
    """``query`` (over ``entity``'s model) narrowed to the rows the caller may see."""
    if who.role == Role.ADMIN:
        return query
    if who.role == Role.OPERATOR and entity in _OPERATOR_READS_ALL:
        return query
    if entity == "channel":
        return query.where(m.ChannelSource.id.in_(_member_channels(who.user_id)))
    if entity in ("signal", "message"):
        return query.where(MODELS[entity].channel_id.in_(_member_channels(who.user_id)))
    return query.where(_owned(entity, who.user_id))


def writable(query: Q, entity: Entity, who: Principal) -> Q:
    """``query`` narrowed to the rows the caller may change."""
    if who.role == Role.ADMIN:
        return query
    if who.role == Role.OPERATOR and entity in _OPERATOR_WRITES_ALL:
        return query
    if not permits(entity, "write", who):
        return query.where(false())
    return query.where(_owned(entity, who.user_id))


async def find(
    session: AsyncSession, entity: Entity, row_id: int, who: Principal, *, write: bool = False
) -> Any:
    """The row with ``row_id`` if the caller sees it (and, with ``write``, may change it).

    Raises :class:`NotFound` for a row that is missing or not visible (one message for
    both) and :class:`ReadOnly` for a visible row the caller may not change.
    """
    model = MODELS[entity]
    row = await session.scalar(visible(select(model).where(model.id == row_id), entity, who))
    if row is None:
        raise NotFound(entity, row_id)
    if write:
        mine = writable(
            select(func.count()).select_from(model).where(model.id == row_id), entity, who
        )
        if not await session.scalar(mine):
            raise ReadOnly(entity, row_id)
    return row


async def usable_connection(
    session: AsyncSession, connection_id: int, who: Principal
) -> m.ExecutionConnection | None:
    """A connection the caller may attach a follow to: its own (an admin: any)."""
    query = select(m.ExecutionConnection).where(m.ExecutionConnection.id == connection_id)
    if who.role != Role.ADMIN:
        query = query.where(m.ExecutionConnection.owner_id == who.user_id)
    row: m.ExecutionConnection | None = await session.scalar(query)
    return row


class NotEntitled(AccessDenied):
    """A plan-only channel the caller holds no live plan for (``message`` says why)."""


async def followable_channel(
    session: AsyncSession, channel_id: int, who: Principal
) -> m.ChannelSource | None:
    """A channel the caller may follow: public, its own, or plan-only with an entitlement
    now (admins and operators: any). A plan-only channel that an active plan sells, or
    that the caller once held, raises :class:`NotEntitled` with the reason; any other is
    None, like a missing one."""
    query = select(m.ChannelSource).where(m.ChannelSource.id == channel_id)
    if is_staff(who):
        row: m.ChannelSource | None = await session.scalar(query)
        return row
    row = await session.scalar(
        query.where(
            or_(
                m.ChannelSource.visibility.in_((ChannelVisibility.PUBLIC, ChannelVisibility.PLAN)),
                m.ChannelSource.owner_id == who.user_id,
            )
        )
    )
    if row is None or row.visibility != ChannelVisibility.PLAN or row.owner_id == who.user_id:
        return row
    decision = await entitlement.check(session, who.user_id, channel_id)
    if decision.entitled:
        return row
    offered = await entitlement.plans_offering(session, channel_id)
    if decision.code == "no_plan" and not offered:
        return None  # sold by no plan and never held: as good as missing
    plans = f" (plans that include it: {', '.join(map(str, offered))})" if offered else ""
    raise NotEntitled(
        f"channel {channel_id} is for subscribers of a plan: {decision.detail}{plans}"
    )


async def first_admin_id(session: AsyncSession) -> int | None:
    """The first admin (lowest id): the owner of rows made by the CLI and the demo."""
    found: int | None = await session.scalar(
        select(func.min(m.User.id)).where(m.User.role == Role.ADMIN)
    )
    return found
