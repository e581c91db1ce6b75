"""The small calls the pipeline makes when something worth a notice happens.

Each runs inside the caller's transaction (see outbox.py) and costs one query to find the
owners' chats, plus an insert only when someone wants the notice. Who is told:

- signal published: the owner of the channel, if staff (channels are staff's to run);
- order filled, stop moved, position closed: the owner of the connection it happened on;
- connection failing: the owner of the exchange connection or channel;
- subscription expiring or ended: the member it entitled (services/entitlement_notices.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.notifications import events
from signalbridge.notifications.outbox import notify, notify_many
from signalbridge.store import models as m

#: The breaker opens after this many consecutive failures (the kernel's default).
BREAKER_THRESHOLD = 5
#: Channels that only receive: their "failures" are strangers' badly signed deliveries,
#: which must not page the owner (they show in the channel's health instead).
PASSIVE_CHANNEL_TYPES = frozenset({"webhook", "tradingview"})


async def _owners(session: AsyncSession, connection_ids: Sequence[int]) -> dict[int, int]:
    wanted = sorted(set(connection_ids))
    if not wanted:
        return {}
    rows = await session.execute(
        select(m.ExecutionConnection.id, m.ExecutionConnection.owner_id).where(
            m.ExecutionConnection.id.in_(wanted)
        )
    )
    return {cid: owner for cid, owner in rows.all()}


async def signal_published(
    session: AsyncSession, signal: m.Signal, channel: m.ChannelSource
) -> int:
    event = events.signal_published(
        signal.id,
        channel.name,
        signal.symbol,
        signal.side,
        signal.entry_low,
        signal.entry_high,
        signal.stop_loss,
        list(signal.take_profits or ()),
    )
    return await notify(session, event, channel.owner_id)


async def orders_filled(session: AsyncSession, orders: Sequence[m.Order]) -> int:
    if not orders:
        return 0
    owners = await _owners(session, [o.connection_id for o in orders])
    pairs = [
        (
            events.order_filled(
                o.id, o.symbol, o.side, o.filled, o.average_price or o.price, o.leg
            ),
            owners[o.connection_id],
        )
        for o in orders
        if o.connection_id in owners
    ]
    return await notify_many(session, pairs)


async def stop_moved(
    session: AsyncSession, position: m.Position, old: Decimal | None, new: Decimal | None
) -> int:
    if old == new:
        return 0
    owners = await _owners(session, [position.connection_id])
    event = events.stop_moved(position.id, position.symbol, old, new)
    return await notify(session, event, owners.get(position.connection_id))


async def positions_closed(session: AsyncSession, positions: Sequence[m.Position]) -> int:
    if not positions:
        return 0
    owners = await _owners(session, [p.connection_id for p in positions])
    pairs = [
        (
            events.position_closed(p.id, p.symbol, p.side, p.realized_pnl, p.fees),
            owners[p.connection_id],
        )
        for p in positions
        if p.connection_id in owners
    ]
    return await notify_many(session, pairs)


def failing_reason(
    consecutive_failures: int, last_error: str | None, threshold: int = BREAKER_THRESHOLD
) -> str | None:
    """Why a connection's health is worth a notice: ``authentication`` (its credentials
    were refused), ``breaker_open`` (failures reached the breaker's threshold), or None."""
    if consecutive_failures <= 0:
        return None
    if last_error is not None and last_error.startswith("AuthenticationError"):
        return "authentication"
    if consecutive_failures >= threshold:
        return "breaker_open"
    return None


async def connection_failing(
    session: AsyncSession,
    kind: str,
    connection_id: int,
    *,
    consecutive_failures: int,
    last_error: str | None,
    last_success_at: datetime | None,
) -> int:
    """Called with every persisted health change; a notice once per failure streak and
    reason (the streak is named by the last success before it)."""
    reason = failing_reason(consecutive_failures, last_error)
    if reason is None:
        return 0
    row: m.ExecutionConnection | m.ChannelSource | None
    if kind == "exchange":
        row = await session.get(m.ExecutionConnection, connection_id)
    elif kind == "channel":
        row = await session.get(m.ChannelSource, connection_id)
    else:  # AI and payment connections are the admins' to watch in the console
        return 0
    if row is None or (kind == "channel" and row.type in PASSIVE_CHANNEL_TYPES):
        return 0
    since = last_success_at.isoformat() if last_success_at is not None else "never"
    event = events.connection_failing(kind, connection_id, row.name, reason, since, last_error)
    return await notify(session, event, row.owner_id)


async def subscription_expiring(
    session: AsyncSession,
    user_id: int,
    *,
    source: str,
    source_id: int,
    plan_name: str,
    ends_at: datetime,
    renews: bool,
) -> int:
    """A reminder before a subscription's or grant's period ends (one per period end)."""
    event = events.subscription_expiring(source, source_id, plan_name, ends_at, renews=renews)
    return await notify(session, event, user_id)


async def subscription_ended(
    session: AsyncSession,
    user_id: int,
    *,
    source: str,
    source_id: int,
    plan_name: str,
    ended_at: datetime,
    why: str,
) -> int:
    """A subscription or grant stopped entitling its member (one per end)."""
    event = events.subscription_ended(source, source_id, plan_name, ended_at, why)
    return await notify(session, event, user_id)
