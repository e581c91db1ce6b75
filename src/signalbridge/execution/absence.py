"""A second proof of absence before an order whose outcome is unknown is sent again.

A lookup by client order id that answers "not found" after the settle window is not proof
enough where a client id is unique only among OPEN orders (Binance): a market order that
FILLED, and that the lookup does not show yet, is accepted again under the same id, and
the position doubles. So, before any re-send, the venue is asked a second way that does not
depend on the client id: the account's trades on the symbol since the order's intent was
written, and its open orders on the symbol. A fill since then that no known order of
ours explains may be ours (a trade names its order by the venue's id only); so may an open
order without a client id or under the id of one of the order's split parts (an open order
keeps the id it was sent with, so one that names another order is not this one, and
neither are its fills). Then the order is not sent again; it stays
``sending`` and is looked up on every pass, and after :data:`UNSURE_LIMIT` the execution
is flagged for a human. Only when neither the lookup nor the trades nor the open orders
show anything is the order sent again.

Adapters opt in with :class:`TradeHistory` (the ccxt adapter); the others (paper, MetaApi)
keep the lookup alone.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.execution.pool import Connected
from signalbridge.execution.rows import OrderSnapshot
from signalbridge.store import models as m
from signalbridge.venues.base import VenueOrder, VenueTrade, part_client_order_id

#: The most trades asked for at once; a full page cannot prove absence.
TRADE_PAGE = 1000
#: Trades and orders this much older than the intent still count (our clock may run ahead
#: of the venue's).
CLOCK_MARGIN = timedelta(minutes=1)
#: How long after its POST an order may stay unsure before a human is asked to look.
UNSURE_LIMIT = timedelta(minutes=15)
#: The most parts of one split market order whose ids are recognised (market_lots).
MAX_PARTS = 100


@runtime_checkable
class TradeHistory(Protocol):
    """An adapter that lists the account's fills on a symbol since a moment."""

    async def fetch_trades_since(
        self, symbol: str, since: datetime, limit: int
    ) -> list[VenueTrade] | None:
        """Fills from ``since`` (our clock) on, at most ``limit``; None when the venue keeps
        no trade history the adapter can read (then the lookup alone decides)."""


@dataclass(frozen=True, slots=True)
class Proof:
    """What the second source says: absent (send again), or why not, and the order itself
    when it is open on the venue after all."""

    absent: bool
    reason: str
    listed: VenueOrder | None = None


async def prove_absent(
    live: Connected, sessions: async_sessionmaker[AsyncSession], snapshot: OrderSnapshot
) -> Proof:
    """Ask the venue's trades and open orders whether the order may exist after all.

    Raises :class:`~signalbridge.integrations.errors.IntegrationError` when the venue cannot
    be asked (nothing is proven then)."""
    adapter = live.adapter
    if not isinstance(adapter, TradeHistory):
        return Proof(True, "the venue keeps no trade history to ask")
    since = await _written_at(sessions, snapshot.order_id) - CLOCK_MARGIN
    symbol = snapshot.symbol
    trades = await live.read(lambda: adapter.fetch_trades_since(symbol, since, TRADE_PAGE))
    if trades is None:
        return Proof(True, "the venue keeps no trade history to ask")
    listed = await live.read(lambda: adapter.fetch_open_orders(symbol))
    for order in listed:
        if order.client_order_id == snapshot.client_order_id:
            return Proof(False, "open on the venue under its client order id", order)
    if len(trades) >= TRADE_PAGE:
        return Proof(False, f"{len(trades)} or more trades on {symbol} since its intent")
    parts = _part_ids(snapshot.client_order_id)
    # An open order keeps the client id it was sent with: one that names another order
    # (ours or not) is not this one, and neither are its fills.
    orders = [
        o
        for o in listed
        if o.created_at >= since and (o.client_order_id is None or o.client_order_id in parts)
    ]
    others = {o.venue_order_id for o in listed} - {o.venue_order_id for o in orders}
    unexplained = {t.venue_order_id for t in trades} - others
    known = await _known_venue_ids(sessions, snapshot.connection_id, unexplained)
    fills = [t for t in trades if t.venue_order_id in unexplained - known]
    if not fills and not orders:
        return Proof(True, "no trade and no open order on the symbol since its intent")
    return Proof(False, _why(symbol, fills, orders))


def _part_ids(client_order_id: str) -> set[str]:
    """The ids the parts of this order carry when a venue made us split it (market_lots)."""
    return {part_client_order_id(client_order_id, k) for k in range(1, MAX_PARTS)}


def _why(symbol: str, fills: list[VenueTrade], orders: list[VenueOrder]) -> str:
    parts = [
        *(
            f"trade {t.trade_id} of venue order {t.venue_order_id} ({t.side.value} "
            f"{t.amount} at {t.price})"
            for t in fills[:3]
        ),
        *(f"open order {o.venue_order_id} ({o.client_order_id})" for o in orders[:3]),
    ]
    more = len(fills) + len(orders) - len(parts)
    tail = f" and {more} more" if more > 0 else ""
    return (
        f"since its intent {symbol} shows what no known order of ours explains: "
        f"{'; '.join(parts)}{tail}; it may be this order"
    )


async def _written_at(sessions: async_sessionmaker[AsyncSession], order_id: int) -> datetime:
    async with sessions() as session:
        query = select(m.Order.created_at).where(m.Order.id == order_id)
        written: datetime = (await session.execute(query)).scalar_one()
    return written


async def _known_venue_ids(
    sessions: async_sessionmaker[AsyncSession], connection_id: int, venue_ids: Collection[str]
) -> set[str]:
    """Which of these venue order ids belong to orders of ours recorded on the connection."""
    wanted = [v for v in venue_ids if v]
    if not wanted:
        return set()
    async with sessions() as session:
        found = await session.scalars(
            select(m.Order.venue_order_id).where(
                m.Order.connection_id == connection_id, m.Order.venue_order_id.in_(wanted)
            )
        )
        return {v for v in found.all() if v}
