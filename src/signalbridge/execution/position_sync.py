"""Position sync: the venue's positions and open orders, read in one batch per connection.

Every ``position_sync_seconds`` each active connection with open positions, resting orders
or foreign positions still seen makes one ``fetch_positions`` and one ``fetch_open_orders``
(no symbol), in that order: a stop that fires between the two reads is then found by the
order sync (its fill recorded) before our books are compared with the positions. Then:

- orders are synced in memory (:class:`~.order_sync.OrderSync`): a hand-cancelled stop or
  target is noticed there;
- our open positions (spot markets excluded: balances are not positions) are compared with
  the venue's (:mod:`position_diff`). What the venue no longer holds was closed outside
  SignalBridge: an exit is recorded as a filled order of leg ``x<n>`` that was never sent
  (so the position, still derived from its fills, gets the amount and the realised PnL),
  at the last price the monitor saw (``mark_prices``), else the venue's ticker, else the
  entry price; the log row says which. A position closed that way gets ``close_reason
  = "closed_outside"`` and its resting orders are cancelled; a reduced one keeps them,
  and the monitor resizes them on its next tick, as after any partial close;
- a position on a key we hold nothing on is recorded in ``foreign_positions`` (first and
  last seen, ``gone_at`` when it disappears) and logged; no order is ever sent for it.

A key with an order of ours still unsettled, an order the lookup could not confirm, or a
position changed within the settle window is not judged this time: the next sync does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.domain.legs import resting_leg
from signalbridge.domain.market import Market, MarketKind
from signalbridge.execution.cancel import Canceller
from signalbridge.execution.order_sync import (
    Forgetful,
    OrderSync,
    SyncDesk,
    Watched,
    open_orders,
    resting_orders,
)
from signalbridge.execution.pool import Connected
from signalbridge.execution.position_diff import Held, Key, Outside, confirmed, diff_positions
from signalbridge.execution.recorder import log_row, refresh_positions
from signalbridge.integrations.errors import IntegrationError
from signalbridge.store import models as m
from signalbridge.venues.base import (
    DEFAULT_PREFIX,
    OrderSide,
    VenueOrder,
    VenueOrderType,
    VenuePosition,
    client_order_id,
)

log = structlog.get_logger("signalbridge.position_sync")

CLOSED_OUTSIDE = "closed_outside"
_LIVE = (
    m.OrderStatus.PENDING,
    m.OrderStatus.SENDING,
    m.OrderStatus.OPEN,
    m.OrderStatus.PARTIALLY_FILLED,
)
_CHUNK = 500


@dataclass
class ConnectionSync:
    """The last sync of one connection (health shows it)."""

    at: datetime
    ok: bool
    requests: int = 0
    closed_outside: int = 0
    reduced_outside: int = 0
    by_hand: int = 0
    foreign: int = 0
    error: str | None = None


@dataclass
class SyncReport:
    connections: int = 0
    requests: int = 0
    closed_outside: list[int] = field(default_factory=list)  # position ids
    reduced_outside: list[int] = field(default_factory=list)
    by_hand: list[int] = field(default_factory=list)  # order ids
    foreign_new: int = 0
    foreign_gone: int = 0
    failed: dict[int, str] = field(default_factory=dict)
    elapsed_ms: float = 0.0


@dataclass
class _Venue:
    """What one connection's venue said this cycle."""

    markets: Mapping[str, Market]
    positions: list[VenuePosition] | None  # None: not asked (spot only)
    listed: list[VenueOrder]


@dataclass
class _Books:
    """Our side, read once for every connection before the venues are asked."""

    orders: dict[int, list[Watched]]
    positions: dict[int, list[tuple[Held, datetime]]]  # with updated_at
    foreign: dict[int, dict[Key, m.ForeignPosition]]

    def connections(self) -> list[int]:
        return sorted(set(self.orders) | set(self.positions) | set(self.foreign))


class PositionSync:
    """One sync cycle over every connection: ``run_once``."""

    def __init__(
        self,
        desk: SyncDesk,
        *,
        canceller: Canceller | None = None,
        guards: Forgetful | None = None,
        prefix: str = DEFAULT_PREFIX,
        concurrency: int = 16,
        books: asyncio.Lock | None = None,
    ) -> None:
        self.desk = desk
        self.orders = OrderSync(desk, guards, concurrency=concurrency, books=books)
        self.canceller = canceller
        self.guards = guards
        self.prefix = prefix
        self._concurrency = concurrency
        self._excess_said: dict[tuple[int, Key], tuple[Decimal, Decimal]] = {}
        #: The last outcome per connection id.
        self.last: dict[int, ConnectionSync] = {}

    async def run_once(self, connection_ids: Iterable[int] | None = None) -> SyncReport:
        started = time.perf_counter()
        report = SyncReport()
        books = await self._books(connection_ids)
        ids = books.connections()
        report.connections = len(ids)
        lives = await self.desk.pool.get_many(ids)
        sem = asyncio.Semaphore(self._concurrency)

        async def ask(connection_id: int) -> _Venue | IntegrationError:
            live = lives[connection_id]
            if isinstance(live, IntegrationError):
                return live
            async with sem:
                try:
                    return await self._ask(live, books, connection_id)
                except IntegrationError as exc:
                    return exc

        answers = await asyncio.gather(*(ask(c) for c in ids))
        for connection_id, venue in zip(ids, answers, strict=True):
            if isinstance(venue, IntegrationError):
                report.failed[connection_id] = venue.message
                self.last[connection_id] = ConnectionSync(
                    self.desk.now(), ok=False, error=venue.message
                )
                log.warning(
                    "position sync failed", connection_id=connection_id, error=venue.message
                )
                continue
            live = lives[connection_id]
            assert not isinstance(live, IntegrationError)
            try:
                async with self.orders.books:  # compared with the books, never while reading
                    await self._connection(live, books, venue, report)
            except IntegrationError as exc:
                report.failed[connection_id] = exc.message
                self.last[connection_id] = ConnectionSync(
                    self.desk.now(), ok=False, error=exc.message
                )
        report.elapsed_ms = (time.perf_counter() - started) * 1000
        if report.closed_outside or report.reduced_outside or report.foreign_new:
            log.info(
                "position sync",
                connections=report.connections,
                closed_outside=len(report.closed_outside),
                reduced_outside=len(report.reduced_outside),
                foreign_new=report.foreign_new,
            )
        return report

    # --- reading -----------------------------------------------------------------------

    async def _books(self, connection_ids: Iterable[int] | None) -> _Books:
        async with self.desk.sessions() as session:
            active_q = select(m.ExecutionConnection.id).where(
                m.ExecutionConnection.is_active.is_(True)
            )
            if connection_ids is not None:
                active_q = active_q.where(m.ExecutionConnection.id.in_(list(connection_ids)))
            active = set((await session.scalars(active_q)).all())
            orders = await resting_orders(session, connection_ids)
            positions = await _open_positions(session, connection_ids)
            foreign: dict[int, dict[Key, m.ForeignPosition]] = {}
            for row in (
                await session.scalars(
                    select(m.ForeignPosition).where(m.ForeignPosition.gone_at.is_(None))
                )
            ).all():
                if row.connection_id in active:
                    foreign.setdefault(row.connection_id, {})[(row.symbol, row.side)] = row
        return _Books(
            {c: v for c, v in orders.items() if c in active},
            {c: v for c, v in positions.items() if c in active},
            foreign,
        )

    async def _ask(self, live: Connected, books: _Books, connection_id: int) -> _Venue:
        markets = await live.adapter.load_markets()  # cached by the adapter
        symbols = {h.symbol for h, _ in books.positions.get(connection_id, [])}
        symbols |= {o.symbol for o in books.orders.get(connection_id, [])}
        wants_positions = connection_id in books.foreign or any(
            s in markets and markets[s].kind is not MarketKind.SPOT for s in symbols
        )
        positions = None
        if wants_positions:
            positions = await live.read(live.adapter.fetch_positions)
        listed = await open_orders(live)
        return _Venue(markets, positions, listed)

    # --- one connection ----------------------------------------------------------------

    async def _connection(
        self, live: Connected, books: _Books, venue: _Venue, report: SyncReport
    ) -> None:
        connection_id = live.connection_id
        outcome = ConnectionSync(self.desk.now(), ok=True, requests=1)
        synced = await self.orders.apply(books.orders.get(connection_id, []), venue.listed)
        outcome.requests += synced.requests - 1 + (venue.positions is not None)
        outcome.by_hand = len(synced.by_hand)
        report.by_hand.extend(synced.by_hand)
        if venue.positions is not None:
            unsure = {o.symbol for o in synced.unsure}
            held = books.positions.get(connection_id, [])
            diff = diff_positions(
                self._judged(held, venue.markets), venue.positions, self._skip(held, unsure)
            )
            known = books.foreign.get(connection_id, {})
            news = any((p.symbol, p.side.value) not in known for p in diff.foreign)
            if not diff.empty or news:  # read our side again: the orders just synced or a
                # position opened since our first read may explain it
                held = await self._held_now(connection_id)
                skip = self._skip(held, unsure | await self._unsettled(connection_id))
                diff = diff_positions(self._judged(held, venue.markets), venue.positions, skip)
                if diff.outside:  # acted on only when a second read of the venue agrees
                    outcome.requests += 1
                    diff.outside = confirmed(
                        diff.outside,
                        diff_positions(
                            self._judged(held, venue.markets),
                            await live.read(live.adapter.fetch_positions),
                            skip,
                        ).outside,
                    )
            for gone in diff.outside:
                if await self._outside(live, gone, outcome):
                    closed = gone.closed
                    (report.closed_outside if closed else report.reduced_outside).append(
                        gone.held.position_id
                    )
                    if closed:
                        outcome.closed_outside += 1
                    else:
                        outcome.reduced_outside += 1
            for key, ours, theirs in diff.excess:
                await self._excess(connection_id, key, ours, theirs)
            new, gone_count = await self._foreign(
                connection_id, books.foreign.get(connection_id, {}), diff.foreign
            )
            report.foreign_new += new
            report.foreign_gone += gone_count
            outcome.foreign = len(diff.foreign)
        report.requests += outcome.requests
        self.last[connection_id] = outcome

    @staticmethod
    def _judged(held: Sequence[tuple[Held, datetime]], markets: Mapping[str, Market]) -> list[Held]:
        """Our positions a venue position can speak for: not on spot markets (balances are
        not positions), not on markets the venue does not list."""
        return [
            h
            for h, _ in held
            if h.symbol in markets and markets[h.symbol].kind is not MarketKind.SPOT
        ]

    def _skip(self, held: Sequence[tuple[Held, datetime]], symbols: set[str]) -> set[Key]:
        """Keys not judged now: an order there is unsettled or unconfirmed, or a position
        there changed inside the settle window (the venue may not show it yet)."""
        recent = self.desk.now() - self.desk.settle
        skip = {h.key for h, updated in held if updated > recent}
        skip |= {(symbol, side) for symbol in symbols for side in ("long", "short")}
        return skip

    async def _held_now(self, connection_id: int) -> list[tuple[Held, datetime]]:
        async with self.desk.sessions() as session:
            return (await _open_positions(session, [connection_id])).get(connection_id, [])

    async def _unsettled(self, connection_id: int) -> set[str]:
        """Symbols with an order of ours whose send is pending or its outcome unknown."""
        async with self.desk.sessions() as session:
            found = await session.scalars(
                select(m.Order.symbol)
                .where(
                    m.Order.connection_id == connection_id,
                    m.Order.status.in_(m.OrderStatus.UNSETTLED),
                )
                .distinct()
            )
            return set(found.all())

    # --- closed or reduced outside ---------------------------------------------------------

    async def _outside(self, live: Connected, gone: Outside, outcome: ConnectionSync) -> bool:
        """Record that part (or all) of a position was closed outside SignalBridge."""
        held = gone.held
        price, source = await self._price(live, held, outcome)
        now = self.desk.now()
        max_len = live.adapter.capabilities.max_client_order_id_len
        async with self.desk.sessions() as session, session.begin():
            position = await session.get(m.Position, held.position_id)
            if (
                position is None
                or position.status != m.PositionStatus.OPEN
                or position.amount != held.amount
            ):
                return False  # changed since we read it: the next sync looks again
            legs = (
                await session.scalars(
                    select(m.Order.leg).where(m.Order.execution_id == held.execution_id)
                )
            ).all()
            n = 1 + sum(1 for leg in legs if leg[:1] == "x" and leg[1:].isdigit())
            leg = f"x{n}"
            side = OrderSide.SELL if held.side == "long" else OrderSide.BUY
            order = m.Order(
                execution_id=held.execution_id,
                connection_id=position.connection_id,
                client_order_id=client_order_id(
                    held.execution_id, leg, self.prefix, max_len=max_len
                ),
                leg=leg,
                symbol=held.symbol,
                side=side.value,
                type=VenueOrderType.MARKET.value,
                amount=gone.gone,
                reduce_only=True,
                status=m.OrderStatus.FILLED,
                filled=gone.gone,
                average_price=price,
                acked_at=now,
                filled_at=now,
            )
            session.add(order)
            await session.flush()
            await refresh_positions(session, [held.execution_id], now)
            await session.flush()  # the position object was updated in place
            what = "closed" if gone.closed else "reduced"
            if position.status == m.PositionStatus.CLOSED:
                position.close_reason = CLOSED_OUTSIDE
            session.add(
                log_row(
                    held.execution_id,
                    f"{what}_outside",
                    order_id=order.id,
                    reason=(
                        f"the venue holds {gone.venue_amount} {held.side} {held.symbol}; "
                        f"{gone.gone} of this position was {what} outside SignalBridge. "
                        f"Recorded as filled at {price} ({source}); the venue's own fill "
                        "price and fees are not known"
                    ),
                    request={
                        "connection_id": position.connection_id,
                        "leg": leg,
                        "amount": str(gone.gone),
                        "price_source": source,
                    },
                    response={"venue_amount": str(gone.venue_amount)},
                )
            )
        if gone.closed:
            await self._cancel_leftovers(held.execution_id)
        if self.guards is not None:
            self.guards.forget(held.execution_id)
        return True

    async def _price(
        self, live: Connected, held: Held, outcome: ConnectionSync
    ) -> tuple[Decimal, str]:
        """The best price we know for a close we did not see: the monitor's last mark, the
        venue's ticker, else the entry price (that part's PnL then counts as zero)."""
        async with self.desk.sessions() as session:
            mark = await session.get(m.MarkPrice, (live.connection_id, held.symbol))
            entry = await session.scalar(
                select(m.Position.entry_price).where(m.Position.id == held.position_id)
            )
        if mark is not None:
            return mark.price, f"last mark price, {mark.at.isoformat()}"
        try:
            outcome.requests += 1
            tickers = await live.read(lambda: live.adapter.fetch_tickers([held.symbol]))
            ticker = tickers.get(held.symbol)
            if ticker is not None:
                return ticker.last, "the venue's ticker at the sync"
        except IntegrationError:
            pass
        return entry or Decimal(0), "no price known: the entry price, so no PnL on that part"

    async def _cancel_leftovers(self, execution_id: int) -> None:
        """A position closed outside keeps no stop, target or entry waiting on the venue."""
        if self.canceller is None:
            return
        async with self.desk.sessions() as session:
            rows = (
                await session.execute(
                    select(m.Order.id, m.Order.leg).where(
                        m.Order.execution_id == execution_id, m.Order.status.in_(_LIVE)
                    )
                )
            ).all()
        for order_id, leg in rows:
            action = "protective_canceled" if resting_leg(leg) is not None else "entry_canceled"
            try:
                await self.canceller.cancel(
                    order_id, "position closed outside SignalBridge", action
                )
            except IntegrationError as exc:  # the monitor's sweep of closed positions retries
                log.warning("cancel after outside close failed", order_id=order_id,
                            error=exc.message)  # fmt: skip

    async def _excess(self, connection_id: int, key: Key, ours: Decimal, theirs: Decimal) -> None:
        """The venue holds more than we do on a key we trade: said once per difference."""
        if self._excess_said.get((connection_id, key)) == (ours, theirs):
            return
        self._excess_said[(connection_id, key)] = (ours, theirs)
        async with self.desk.sessions() as session, session.begin():
            session.add(
                log_row(
                    None,
                    "position_mismatch",
                    reason=f"{key[1]} {key[0]}: our positions hold {ours}, the venue {theirs} "
                    "(added outside SignalBridge?); the difference is left alone",
                    request={"connection_id": connection_id, "symbol": key[0], "side": key[1]},
                )
            )

    # --- foreign positions -----------------------------------------------------------------

    async def _foreign(
        self,
        connection_id: int,
        known: Mapping[Key, m.ForeignPosition],
        seen: Sequence[VenuePosition],
    ) -> tuple[int, int]:
        """Record foreign positions seen, and those no longer seen; never act on them."""
        now = self.desk.now()
        by_key: dict[Key, VenuePosition] = {(p.symbol, p.side.value): p for p in seen}
        if not by_key and not known:
            return 0, 0
        new = gone = 0
        async with self.desk.sessions() as session, session.begin():
            rows = {
                (r.symbol, r.side): r
                for r in (
                    await session.scalars(
                        select(m.ForeignPosition).where(
                            m.ForeignPosition.connection_id == connection_id
                        )
                    )
                ).all()
            }
            for key, vp in by_key.items():
                row = rows.get(key)
                fresh = row is None or row.gone_at is not None
                if row is None:
                    row = m.ForeignPosition(
                        connection_id=connection_id, symbol=key[0], side=key[1], amount=vp.amount
                    )
                    session.add(row)
                if fresh:
                    row.first_seen_at, row.gone_at = now, None
                    new += 1
                    session.add(
                        log_row(
                            None,
                            "foreign_position",
                            reason=f"the venue holds a {key[1]} {key[0]} position of "
                            f"{vp.amount} that SignalBridge did not open; reported, never "
                            "touched",
                            request={
                                "connection_id": connection_id,
                                "symbol": key[0],
                                "side": key[1],
                            },
                            response={"amount": str(vp.amount), "entry": str(vp.entry_price)},
                        )
                    )
                row.amount, row.entry_price = vp.amount, vp.entry_price
                row.unrealised_pnl, row.last_seen_at = vp.unrealised_pnl, now
            for key, row in rows.items():
                if key not in by_key and row.gone_at is None:
                    row.gone_at = now
                    gone += 1
                    session.add(
                        log_row(
                            None,
                            "foreign_position_gone",
                            reason=f"the foreign {key[1]} {key[0]} position is no longer on "
                            "the venue",
                            request={
                                "connection_id": connection_id,
                                "symbol": key[0],
                                "side": key[1],
                            },
                        )
                    )
        return new, gone


async def _open_positions(
    session: AsyncSession, connection_ids: Iterable[int] | None
) -> dict[int, list[tuple[Held, datetime]]]:
    query = select(
        m.Position.id,
        m.Position.execution_id,
        m.Position.connection_id,
        m.Position.symbol,
        m.Position.side,
        m.Position.amount,
        m.Position.opened_at,
        m.Position.updated_at,
    ).where(m.Position.status == m.PositionStatus.OPEN)
    queries = [query]
    if connection_ids is not None:
        ids = list(dict.fromkeys(connection_ids))
        queries = [
            query.where(m.Position.connection_id.in_(ids[i : i + _CHUNK]))
            for i in range(0, len(ids), _CHUNK)
        ]
    out: dict[int, list[tuple[Held, datetime]]] = {}
    for q in queries:
        for pid, eid, cid, symbol, side, amount, opened, updated in (
            await session.execute(q)
        ).all():
            out.setdefault(cid, []).append((Held(pid, eid, symbol, side, amount, opened), updated))
    return out
