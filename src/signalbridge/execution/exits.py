"""Carrying out exit decisions: exit orders written with deterministic legs, then sent.

The monitor and the provider-update service decide what to do (:mod:`management`); the
:class:`ExitDesk` turns those actions into reduce-only exit orders (or stop and target
changes on the position), so an action decided twice (two ticks, two workers, a crash and a
retry) is one order. Before a market exit for a level it cancels that level's order resting
on the venue (:mod:`protection`) and skips the exit when the venue says it filled.

An exit sells at most what the position holds (net of fees paid in its own coin, which a
Binance spot BUY pays: :mod:`net_amount`), rounded down to the market's amount step; the
step is recorded on the execution, so what a full exit leaves below it closes the position.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.domain.legs import is_entry_leg, is_full_close
from signalbridge.domain.management import (
    Action,
    ActionKind,
    PositionView,
    Precision,
    modified_tps,
)
from signalbridge.domain.market import MarketKind
from signalbridge.domain.signals import Side
from signalbridge.execution.cancel import Canceller
from signalbridge.execution.intents import NewOrder, write_intents
from signalbridge.execution.net_amount import floor_to
from signalbridge.execution.planner import OrderIntent
from signalbridge.execution.pool import AdapterPool
from signalbridge.execution.protection import ProtectionDesk, Released
from signalbridge.execution.recorder import log_row, refresh_position
from signalbridge.execution.sending import OrderDesk
from signalbridge.execution.views import lenient_view_of
from signalbridge.notifications import emit as notify
from signalbridge.store import models as m
from signalbridge.store.types import utcnow
from signalbridge.venues.base import OrderSide, VenueOrderType

ZERO = Decimal(0)


class ExitDesk:
    """Writes actions as exit orders and position changes, then has ``orders`` send them."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        pool: AdapterPool,
        orders: OrderDesk,
        *,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._pool = pool
        self._orders = orders
        self._now = now
        self._markets: dict[tuple[int, datetime], dict[str, Precision]] = {}
        self.canceller = Canceller(sessions, pool, orders, now=now)
        self.guards = ProtectionDesk(sessions, pool, orders, self.canceller)

    async def markets(self, connection_id: int) -> dict[str, Precision]:
        """The venue's precision per symbol (markets are loaded once per adapter version)."""
        live = await self._pool.get(connection_id)
        key = (connection_id, live.version)
        if key not in self._markets:
            markets = await live.read(live.adapter.load_markets)
            caps = live.adapter.capabilities
            self._markets[key] = {
                s: Precision(
                    mk.amount_step,
                    mk.price_tick,
                    mk.min_amount,
                    mk.contract_size,
                    resting_stops=caps.resting_stops and mk.kind is MarketKind.LINEAR,
                    resting_targets=caps.resting_targets and mk.kind is MarketKind.LINEAR,
                )
                for s, mk in markets.items()
            }
        return self._markets[key]

    async def precision(self, connection_id: int, symbol: str) -> Precision | None:
        return (await self.markets(connection_id)).get(symbol)

    async def view(
        self,
        position: m.Position,
        management: dict[str, Any] | None,
        legs: list[tuple[str, Decimal]],
    ) -> PositionView | None:
        """The rules' view of one stored position at its venue's precision, the way the
        monitor sees it (default settings when the stored ones are invalid); ``None`` when
        the venue no longer lists its symbol."""
        precision = await self.precision(position.connection_id, position.symbol)
        if precision is None:
            return None
        return lenient_view_of(position, management, legs, precision)[0]

    async def carry_out(
        self,
        position_id: int,
        actions: Sequence[Action],
        *,
        source: str,
        precision: Precision,
        context: dict[str, Any] | None = None,
    ) -> Carried:
        """Apply ``actions`` to one open position: exit orders written, then sent.

        A resting protective order for a level acted upon here is cancelled first; when
        the venue says it filled, the market order for that level is not sent.
        """
        order_ids: list[int] = []
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(m.Position.connection_id, m.Position.execution_id).where(
                        m.Position.id == position_id
                    )
                )
            ).one_or_none()
        if row is None:
            return Carried(0)
        connection_id, execution_id = row
        roles = resting_roles(actions)
        released = Released()
        if precision.resting_exits and roles != set():
            released = await self.guards.release(execution_id, roles)
        # The adapter is looked up before the transaction: on SQLite the pool's own read
        # would wait for the one connection this transaction holds.
        live = await self._pool.get(connection_id)
        max_len = live.adapter.capabilities.max_client_order_id_len
        # Spot venues have no reduce-only flag (they refuse it); a plain sell of what the
        # position holds is the reducing order there.
        reduce_only = live.adapter.capabilities.reduce_only
        complete = True
        async with self._sessions() as session, session.begin():
            position = await session.get(m.Position, position_id)
            if position is None or position.status != m.PositionStatus.OPEN:
                return Carried(0)
            execution = await session.get_one(m.Execution, execution_id)
            stepped = execution.amount_step is None
            if stepped:
                execution.amount_step = precision.amount_step
            for action in actions:
                amount, note = _exit_amount(action, position.amount, released)
                amount = floor_to(amount, precision.amount_step)
                if note is not None:
                    complete = False
                    session.add(log_row(execution_id, "exit_deferred", reason=note))
                    continue
                order_id = await self._write(session, position, action, amount, max_len,
                                             reduce_only)  # fmt: skip
                if order_id is not None:
                    order_ids.append(order_id)
                session.add(
                    log_row(
                        execution_id,
                        f"{source}_{action.kind.value}",
                        order_id=order_id,
                        reason=action.reason,
                        request=_describe(action, context),
                    )
                )
        for order_id in order_ids:
            await self._orders.place(order_id)
        if order_ids or stepped:  # a remainder below the step now closes the position
            async with self._sessions() as session, session.begin():
                await refresh_position(
                    session, execution_id, self._now(), contract_size=precision.contract_size
                )
        return Carried(len(order_ids), complete)

    async def _write(
        self,
        session: AsyncSession,
        position: m.Position,
        action: Action,
        amount: Decimal,
        max_len: int,
        reduce_only: bool,
    ) -> int | None:
        if action.kind is ActionKind.MOVE_SL:
            moved_from, position.stop_loss = position.stop_loss, action.level
            await notify.stop_moved(session, position, moved_from, action.level)
            return None
        if action.kind is ActionKind.MODIFY_TP:
            assert action.level is not None
            current = tuple(Decimal(str(tp)) for tp in position.take_profits)
            tps = modified_tps(current, action.tp_index, action.level)
            position.take_profits = [str(tp) for tp in tps]
            return None
        if action.kind is ActionKind.TAKE_PROFIT:
            position.tp_hits = max(position.tp_hits, action.tp_index)
        if amount <= 0 or action.leg is None:
            return None
        side = OrderSide.SELL if position.side == Side.LONG.value else OrderSide.BUY
        reference = action.level
        if reference is None:  # a close with no level (by hand, an update): the market then
            reference = await _fresh_mark(session, position, self._now())
        intent = OrderIntent(
            action.leg,
            side,
            VenueOrderType.MARKET,
            amount,
            reduce_only=reduce_only,
            reference_price=reference,
        )
        order = NewOrder(
            position.execution_id, position.connection_id, position.symbol, intent, max_len
        )
        coid = order.client_order_id
        new_id = (await write_intents(session, [order])).get((position.connection_id, coid))
        if new_id is not None:
            return new_id
        return await session.scalar(
            select(m.Order.id).where(
                m.Order.connection_id == position.connection_id,
                m.Order.client_order_id == coid,
                m.Order.status.in_(m.OrderStatus.UNSETTLED),
            )
        )

    async def cancel_entries(self, execution_id: int, reason: str) -> int:
        """Cancel an execution's unfilled entry orders on the venue; returns how many."""
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(m.Order.id, m.Order.leg).where(
                        m.Order.execution_id == execution_id,
                        m.Order.status.in_(
                            (
                                m.OrderStatus.PENDING,
                                m.OrderStatus.OPEN,
                                m.OrderStatus.PARTIALLY_FILLED,
                            )
                        ),
                    )
                )
            ).all()
        canceled = 0
        for order_id, leg in rows:
            if is_entry_leg(leg):
                outcome = await self.canceller.cancel(order_id, reason, "entry_canceled")
                canceled += outcome.settled
        return canceled


@dataclass(frozen=True, slots=True)
class Carried:
    """What :meth:`ExitDesk.carry_out` did: exit orders sent, and whether every action
    was carried out (``False``: some wait for the venue; evaluate them again later)."""

    orders: int
    complete: bool = True


def resting_roles(actions: Iterable[Action]) -> set[int] | None:
    """The protective roles these actions take over (``None``: all of them)."""
    roles: set[int] = set()
    for action in actions:
        if action.kind is ActionKind.CLOSE and action.leg and is_full_close(action.leg):
            return None
        if action.kind is ActionKind.TAKE_PROFIT:
            roles.add(action.tp_index)
    return roles


def _exit_amount(action: Action, held: Decimal, released: Released) -> tuple[Decimal, str | None]:
    """How much this action closes now (never more than is held), or why it waits."""
    if action.kind is ActionKind.TAKE_PROFIT:
        k = action.tp_index
        if k in released.filled:
            return ZERO, None  # the resting target did it on the venue
        if k in released.unsure:
            return ZERO, f"take-profit {k}: its resting order could not be cancelled yet"
        return min(action.amount, held), None
    if action.kind is ActionKind.CLOSE and action.leg and is_full_close(action.leg):
        # Everything that is still held; reduce-only caps it if a resting stop fires too.
        return held, None
    return min(action.amount, held), None


MARK_FRESH = timedelta(seconds=60)
"""A monitor's mark older than this is no reference for a market exit's slippage."""


async def _fresh_mark(session: AsyncSession, position: m.Position, now: datetime) -> Decimal | None:
    """The monitor's last price of the position's symbol, if it is fresh."""
    price: Decimal | None = await session.scalar(
        select(m.MarkPrice.price).where(
            m.MarkPrice.connection_id == position.connection_id,
            m.MarkPrice.symbol == position.symbol,
            m.MarkPrice.at >= now - MARK_FRESH,
        )
    )
    return price


def _describe(action: Action, context: dict[str, Any] | None) -> dict[str, Any]:
    described: dict[str, Any] = {"kind": action.kind.value, "leg": action.leg}
    if action.amount:
        described["amount"] = str(action.amount)
    if action.level is not None:
        described["level"] = str(action.level)
    if action.tp_index:
        described["tp"] = action.tp_index
    return {**described, **(context or {})}
