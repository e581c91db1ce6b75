"""Execution quality per order and per channel or venue: slippage (fill against the price
each order was meant to get, ``orders.reference_price``) and latency (signal received →
order sent → acknowledged / filled).

Figures are read over a bounded window (orders written since ``since``, at most
:data:`MAX_ORDERS` of the newest) and summarised in Python, since medians and percentiles
are not portable SQL across SQLite and PostgreSQL. Every query is narrowed to the orders
the caller sees (services/access.py): a member its own connections', staff all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.domain.legs import is_entry_leg
from signalbridge.execution.quality import (
    Stats,
    cost_asset,
    latency_ms,
    slippage_bps,
    slippage_cost,
    summarise,
)
from signalbridge.services import access
from signalbridge.services.auth import Principal
from signalbridge.store import models as m

Group = Literal["channel", "venue"]
Role = Literal["entry", "exit"]

DEFAULT_WINDOW = timedelta(days=30)
MAX_ORDERS = 50_000
"""The most orders one summary reads (the newest); ``truncated`` says when there were more."""
LATENCIES = ("signal_to_sent", "sent_to_acked", "sent_to_filled")
_BPS_PLACES = Decimal("0.01")
_MS_PLACES = Decimal("0.001")
_COST_PLACES = Decimal("1e-10")


@dataclass(frozen=True, slots=True)
class OrderQuality:
    """One sent order's figures; ``None`` where an instant or a price is unknown."""

    order_id: int
    connection_id: int
    execution_id: int
    signal_id: int
    channel_id: int
    venue: str
    leg: str
    symbol: str
    side: str
    status: str
    reference_price: Decimal | None
    average_price: Decimal | None
    filled: Decimal
    slippage_bps: Decimal | None
    slippage_cost: Decimal | None
    cost_asset: str
    latency_ms: dict[str, Decimal | None]

    def body(self) -> dict[str, Any]:
        return {
            "id": self.order_id,
            "connection_id": self.connection_id,
            "execution_id": self.execution_id,
            "signal_id": self.signal_id,
            "channel_id": self.channel_id,
            "venue": self.venue,
            "leg": self.leg,
            "role": "entry" if is_entry_leg(self.leg) else "exit",
            "symbol": self.symbol,
            "side": self.side,
            "status": self.status,
            "reference_price": self.reference_price,
            "average_price": self.average_price,
            "filled": self.filled,
            "slippage_bps": _round(self.slippage_bps, _BPS_PLACES),
            "slippage_cost": _round(self.slippage_cost, _COST_PLACES),
            "cost_asset": self.cost_asset,
            "latency_ms": {k: _round(v, _MS_PLACES) for k, v in self.latency_ms.items()},
        }


def venue_of(type_: str, config: dict[str, Any]) -> str:
    """A connection's venue as summaries group it: the adapter type, with the exchange id
    for ccxt (``ccxt:binance``)."""
    if type_ == "ccxt":
        exchange = config.get("exchange")
        return f"ccxt:{exchange if isinstance(exchange, str) else 'binance'}"
    return type_


def figures_of(row: Any, venue: str, *, inverse: bool, pnl_asset: str | None) -> OrderQuality:
    """The figures of one order row (see :func:`_query` for its columns)."""
    measured = (
        row.reference_price is not None
        and row.reference_price > 0
        and row.average_price is not None
        and row.average_price > 0
        and row.filled > 0
    )
    bps = cost = None
    if measured:
        bps = slippage_bps(row.side, row.reference_price, row.average_price)
        size = row.contract_size if row.contract_size is not None else Decimal(1)
        cost = slippage_cost(
            row.side, row.reference_price, row.average_price, row.filled, size, inverse=inverse
        )
    entry = is_entry_leg(row.leg)
    return OrderQuality(
        order_id=row.id,
        connection_id=row.connection_id,
        execution_id=row.execution_id,
        signal_id=row.signal_id,
        channel_id=row.channel_id,
        venue=venue,
        leg=row.leg,
        symbol=row.symbol,
        side=row.side,
        status=row.status,
        reference_price=row.reference_price,
        average_price=row.average_price,
        filled=row.filled,
        slippage_bps=bps,
        slippage_cost=cost,
        cost_asset=pnl_asset if inverse and pnl_asset else cost_asset(row.symbol, inverse=inverse),
        latency_ms={
            # An exit answers a price, not the signal: only entries measure from the signal.
            "signal_to_sent": latency_ms(row.received_at, row.sent_at) if entry else None,
            "sent_to_acked": latency_ms(row.sent_at, row.acked_at),
            "sent_to_filled": (
                latency_ms(row.sent_at, row.filled_at)
                if row.status == m.OrderStatus.FILLED
                else None
            ),
        },
    )


#: What an order's figures are measured from (joined to its execution and signal); the
#: track record (services/track_record.py) measures its reference orders from the same.
ORDER_COLUMNS = (
    m.Order.id,
    m.Order.connection_id,
    m.Order.execution_id,
    m.Order.leg,
    m.Order.symbol,
    m.Order.side,
    m.Order.status,
    m.Order.filled,
    m.Order.average_price,
    m.Order.reference_price,
    m.Order.sent_at,
    m.Order.acked_at,
    m.Order.filled_at,
    m.Execution.signal_id,
    m.Execution.contract_size,
    m.Signal.channel_id,
    m.Signal.received_at,
)


def _query(who: Principal, since: datetime) -> Any:
    # (typed loosely: the access filter takes any SELECT, whatever its columns)
    query: Any = (
        select(
            *ORDER_COLUMNS,
            m.Position.inverse,
            m.Position.pnl_asset,
        )
        .join(m.Execution, m.Execution.id == m.Order.execution_id)
        .join(m.Signal, m.Signal.id == m.Execution.signal_id)
        .outerjoin(m.Position, m.Position.execution_id == m.Order.execution_id)
        .where(m.Order.sent_at.is_not(None), m.Order.created_at >= since)
        .order_by(m.Order.id.desc())
    )
    return access.visible(query, "order", who)


async def _venues(session: AsyncSession, connection_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(connection_ids))
    venues: dict[int, str] = {}
    for start in range(0, len(ids), 500):
        rows = await session.execute(
            select(
                m.ExecutionConnection.id,
                m.ExecutionConnection.type,
                m.ExecutionConnection.config,
            ).where(m.ExecutionConnection.id.in_(ids[start : start + 500]))
        )
        venues.update({cid: venue_of(type_, config or {}) for cid, type_, config in rows})
    return venues


async def order_figures(
    session: AsyncSession,
    who: Principal,
    *,
    since: datetime,
    limit: int,
    before_id: int | None = None,
    connection_id: int | None = None,
    channel_id: int | None = None,
    role: Role | None = None,
) -> list[OrderQuality]:
    """The figures of the caller's sent orders written since ``since``, newest first."""
    query = _query(who, since)
    if before_id is not None:
        query = query.where(m.Order.id < before_id)
    if connection_id is not None:
        query = query.where(m.Order.connection_id == connection_id)
    if channel_id is not None:
        query = query.where(m.Signal.channel_id == channel_id)
    if role is not None:  # only entry legs start with "e" (domain/legs.py)
        entries = m.Order.leg.like("e%")
        query = query.where(entries if role == "entry" else ~entries)
    rows = list((await session.execute(query.limit(limit))).all())
    venues = await _venues(session, (r.connection_id for r in rows))
    return [
        figures_of(
            r, venues.get(r.connection_id, "?"), inverse=bool(r.inverse), pnl_asset=r.pnl_asset
        )
        for r in rows
    ]


@dataclass
class Bucket:
    """One channel's or venue's figures, gathered before they are summarised."""

    orders: int = 0
    bps: list[Decimal] = field(default_factory=list)
    cost: dict[str, Decimal] = field(default_factory=dict)
    latency: dict[str, list[Decimal]] = field(
        default_factory=lambda: {name: [] for name in LATENCIES}
    )

    def add(self, order: OrderQuality) -> None:
        self.orders += 1
        if order.slippage_bps is not None and order.slippage_cost is not None:
            self.bps.append(order.slippage_bps)
            asset = order.cost_asset
            self.cost[asset] = self.cost.get(asset, Decimal(0)) + order.slippage_cost
        for name, value in order.latency_ms.items():
            if value is not None:
                self.latency[name].append(value)

    def body(self) -> dict[str, Any]:
        return {
            "orders": self.orders,
            "slippage_bps": stats_body(summarise(self.bps), _BPS_PLACES),
            "slippage_cost": {k: _round(v, _COST_PLACES) for k, v in sorted(self.cost.items())},
            "latency_ms": {
                name: stats_body(summarise(values), _MS_PLACES)
                for name, values in self.latency.items()
            },
        }


def group(orders: Sequence[OrderQuality], by: Group) -> dict[str | int, Bucket]:
    """The orders gathered per channel id or per venue."""
    buckets: dict[str | int, Bucket] = defaultdict(Bucket)
    for order in orders:
        buckets[order.channel_id if by == "channel" else order.venue].add(order)
    return dict(buckets)


async def summary(
    session: AsyncSession,
    who: Principal,
    *,
    by: Group,
    since: datetime,
    connection_id: int | None = None,
    channel_id: int | None = None,
    role: Role | None = None,
) -> dict[str, Any]:
    """Per channel or venue: sent orders, slippage (bps statistics, cost per currency)
    and latency statistics, over the caller's orders written since ``since``."""
    figures = await order_figures(
        session,
        who,
        since=since,
        limit=MAX_ORDERS + 1,
        connection_id=connection_id,
        channel_id=channel_id,
        role=role,
    )
    truncated = len(figures) > MAX_ORDERS
    buckets = group(figures[:MAX_ORDERS], by)
    names: dict[int, str] = {}
    if by == "channel" and buckets:
        channels: Any = select(m.ChannelSource.id, m.ChannelSource.name).where(
            m.ChannelSource.id.in_([k for k in buckets if isinstance(k, int)])
        )
        visible = access.visible(channels, "channel", who)
        names = {cid: name for cid, name in (await session.execute(visible)).all()}
    items = []
    for key in sorted(buckets, key=str):
        item: dict[str, Any] = {by: key}
        if by == "channel":
            item["name"] = names.get(int(key))
        items.append({**item, **buckets[key].body()})
    return {
        "group": by,
        "since": since,
        "orders": min(len(figures), MAX_ORDERS),
        "truncated": truncated,
        "items": items,
    }


def stats_body(stats: Stats | None, places: Decimal) -> dict[str, Any] | None:
    if stats is None:
        return None
    return {
        "count": stats.count,
        "mean": _round(stats.mean, places),
        "median": _round(stats.median, places),
        "p95": _round(stats.p95, places),
        "min": _round(stats.min, places),
        "max": _round(stats.max, places),
    }


def _round(value: Decimal | None, places: Decimal) -> Decimal | None:
    """``value`` to ``places``; one too large to hold them is kept whole (never an error)."""
    if value is None:
        return None
    try:
        return value.quantize(places)
    except InvalidOperation:
        return value


def default_since(now: datetime) -> datetime:
    return now - DEFAULT_WINDOW
