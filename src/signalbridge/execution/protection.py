"""Protective orders: a position's stop and next target resting on the venue.

Where the venue keeps reduce-only trigger orders on a futures market
(``Capabilities.resting_stops`` / ``resting_targets``) and the follow does not opt out
(``native_exits``), each open position has at most one resting ``stop_market`` (leg
``s<g>``, the whole remaining amount) and one resting ``take_profit_market`` for its next
target (leg ``t<k>g<g>``, that target's share). They protect the position while
SignalBridge is down, at the venue's own trigger. (MetaTrader keeps the stop as the
positions' stop loss and no targets: see ``metaapi/stops.py``.)

The database stays the only memory: the resting orders are ordinary order rows placed by
the engine (written before they are sent, deterministic client order ids, looked up
rather than resent), and :func:`wanted` derives what should rest from the same position
view the monitor's rules use. When the view changes (a target filled, the stop moved to
break-even or trails, a provider update, a partial close) the order that no longer fits
is cancelled first and its successor placed after, so two stops never rest at once.
Before the monitor or a provider update closes at market, :meth:`ProtectionDesk.release`
cancels the resting order for that level; if the venue says it filled, the market order
is not sent. Orders left resting by a closed position are cancelled on the next tick.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.domain.legs import STOP_ROLE, resting_leg, stop_leg, target_leg
from signalbridge.domain.management import PositionView, tp_share
from signalbridge.domain.market import tidy
from signalbridge.domain.signals import Side
from signalbridge.execution.cancel import Canceller
from signalbridge.execution.intents import NewOrder, write_intents
from signalbridge.execution.planner import OrderIntent
from signalbridge.execution.pool import AdapterPool
from signalbridge.execution.recorder import log_row
from signalbridge.execution.sending import OrderDesk
from signalbridge.integrations.errors import IntegrationError
from signalbridge.store import models as m
from signalbridge.venues.base import OrderSide, VenueOrderType

ZERO = Decimal(0)
LIVE = (
    m.OrderStatus.PENDING,
    m.OrderStatus.SENDING,
    m.OrderStatus.OPEN,
    m.OrderStatus.PARTIALLY_FILLED,
)
_CHUNK = 500
#: The ``error`` of a protective order the position sync found cancelled by hand on the
#: venue; with ``on_manual_cancel: leave`` its role is not placed again.
HAND_CANCELLED = "cancelled by hand on the venue"


# --- what should rest (pure) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Guard:
    """One protective order as it should rest: ``role`` 0 is the stop, k is target k."""

    role: int
    type: VenueOrderType
    trigger: Decimal
    amount: Decimal


def trigger_on_tick(view: PositionView, level: Decimal) -> Decimal:
    """``level`` on the venue's tick, rounded in the position's favour.

    A level we rest may not be on the tick (a break-even stop at an averaged entry, a
    provider's stop update), and a venue refuses such a trigger. Up for a long, down for a
    short: the stop then risks less than the level (it fires a little earlier), and a
    target never closes on the wrong side of its level.
    """
    tick = view.precision.price_tick
    rounding = ROUND_CEILING if view.long else ROUND_FLOOR
    return max(tidy((level / tick).to_integral_value(rounding=rounding) * tick), tick)


def wanted(view: PositionView) -> dict[int, Guard]:
    """The protective orders this position should have resting now, by role (triggers
    on the venue's tick: :func:`trigger_on_tick`)."""
    if not (view.precision.resting_exits and view.settings.native_exits):
        return {}
    if view.closing or view.amount <= 0:
        return {}
    guards: dict[int, Guard] = {}
    if view.stop_loss is not None and view.precision.resting_stops:
        trigger = trigger_on_tick(view, view.stop_loss)
        guards[STOP_ROLE] = Guard(STOP_ROLE, VenueOrderType.STOP_MARKET, trigger, view.amount)
    count = len(view.take_profits)
    if view.tp_done < count and view.precision.resting_targets:
        k = view.tp_done + 1
        part = view.amount if k == count else min(view.amount, tp_share(view, k))
        if part > 0:
            level = trigger_on_tick(view, view.take_profits[k - 1])
            guards[k] = Guard(k, VenueOrderType.TAKE_PROFIT_MARKET, level, part)
    return guards


# --- what rests (the database) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resting:
    """A live protective order row (pending, sending, open or partly filled)."""

    order_id: int
    role: int
    status: str
    trigger: Decimal | None
    amount: Decimal
    filled: Decimal
    generation: int = 0

    @property
    def on_venue(self) -> bool:
        return self.status in (m.OrderStatus.OPEN, m.OrderStatus.PARTIALLY_FILLED)

    def fits(self, guard: Guard) -> bool:
        return (
            self.trigger == guard.trigger
            and self.amount - self.filled == guard.amount
            and self.status != m.OrderStatus.PARTIALLY_FILLED
        )


@dataclass
class Snapshot:
    """Protective orders of some executions: the newest live one per role, any older live
    ones (to cancel), and the highest generation written per role (whatever its state)."""

    live: dict[int, dict[int, Resting]] = field(default_factory=dict)
    extra: dict[int, list[Resting]] = field(default_factory=dict)
    latest: dict[int, dict[int, int]] = field(default_factory=dict)
    #: Roles whose newest order was cancelled by hand on the venue, per execution.
    by_hand: dict[int, set[int]] = field(default_factory=dict)


@dataclass
class Released:
    """Outcome of :meth:`ProtectionDesk.release`, by role."""

    filled: set[int] = field(default_factory=set)  # the venue filled (part of) it first
    unsure: set[int] = field(default_factory=set)  # its fate is unknown: do not act yet


@dataclass
class ProtectReport:
    errors: list[str] = field(default_factory=list)
    #: Executions whose resting orders are not in line yet: look at them again.
    unsettled: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Holder:
    """The position a protective order belongs to (what placing one needs to know)."""

    execution_id: int
    connection_id: int
    symbol: str
    view: PositionView


class ProtectionDesk:
    """Keeps each protectable position's resting orders equal to :func:`wanted`."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        pool: AdapterPool,
        orders: OrderDesk,
        canceller: Canceller,
    ) -> None:
        self._sessions = sessions
        self._pool = pool
        self._orders = orders
        self._canceller = canceller
        # execution id -> the wanted set last made to rest; skips unchanged positions.
        self._ensured: dict[int, tuple[Guard, ...]] = {}

    def forget(self, execution_id: int) -> None:
        self._ensured.pop(execution_id, None)

    async def live(self, execution_ids: Sequence[int]) -> dict[int, dict[int, Resting]]:
        """The live protective orders of these executions, by execution and role."""
        return (await self.snapshot(execution_ids)).live

    async def snapshot(self, execution_ids: Sequence[int]) -> Snapshot:
        """Every protective order of these executions, read in one pass (chunked)."""
        snap = Snapshot()
        ids = list(dict.fromkeys(execution_ids))
        async with self._sessions() as session:
            for start in range(0, len(ids), _CHUNK):
                rows = await session.execute(
                    select(
                        m.Order.id,
                        m.Order.execution_id,
                        m.Order.leg,
                        m.Order.status,
                        m.Order.stop_price,
                        m.Order.amount,
                        m.Order.filled,
                        m.Order.error,
                    )
                    .where(
                        m.Order.execution_id.in_(ids[start : start + _CHUNK]),
                        m.Order.reduce_only.is_(True),
                    )
                    .order_by(m.Order.id)
                )
                for order_id, execution_id, leg, status, trigger, amount, filled, error in rows:
                    parsed = resting_leg(leg)
                    if parsed is None:
                        continue
                    role, generation = parsed
                    latest = snap.latest.setdefault(execution_id, {})
                    if generation >= latest.get(role, 0):
                        hand = snap.by_hand.setdefault(execution_id, set())
                        if error == HAND_CANCELLED:
                            hand.add(role)
                        else:
                            hand.discard(role)
                    latest[role] = max(latest.get(role, 0), generation)
                    if status not in LIVE:
                        continue
                    order = Resting(order_id, role, status, trigger, amount, filled, generation)
                    live = snap.live.setdefault(execution_id, {})
                    older = live.get(role)
                    if older is not None:  # two live of one role: keep the newest
                        stale = min(older, order, key=lambda r: r.generation)
                        snap.extra.setdefault(execution_id, []).append(stale)
                        order = max(older, order, key=lambda r: r.generation)
                    live[role] = order
        return snap

    async def ensure(self, holders: Iterable[Holder]) -> ProtectReport:
        """Make the resting orders of changed positions what :func:`wanted` says."""
        report = ProtectReport()
        todo: list[tuple[Holder, dict[int, Guard]]] = []
        for holder in holders:
            if not holder.view.precision.resting_exits:
                continue
            want = wanted(holder.view)
            if self._ensured.get(holder.execution_id) != tuple(want.values()):
                todo.append((holder, want))
        if not todo:
            return report
        snap = await self.snapshot([h.execution_id for h, _ in todo])
        for holder, want in todo:
            try:
                done = await self._ensure_one(holder, want, snap, report)
            except IntegrationError as exc:
                report.errors.append(f"execution {holder.execution_id}: {exc.message}")
                done = False
            if done:
                self._ensured[holder.execution_id] = tuple(want.values())
            else:
                report.unsettled.append(holder.execution_id)
        return report

    async def _ensure_one(
        self, holder: Holder, want: dict[int, Guard], snap: Snapshot, report: ProtectReport
    ) -> bool:
        """One position; False when it must be looked at again on the next tick.

        The next generation of a role is one more than the newest this snapshot saw, so
        two workers acting on the same picture write the same client order id (one row,
        one order) instead of two stops.
        """
        execution_id = holder.execution_id
        have = snap.live.get(execution_id, {})
        latest = snap.latest.get(execution_id, {})
        caps = (await self._pool.get(holder.connection_id)).adapter.capabilities
        in_place_stops = caps.stop_replaces_in_place
        for stale in snap.extra.get(execution_id, []):
            if in_place_stops and stale.role == STOP_ROLE:
                # One stop slot: the newest generation owns it once it rests there.
                newest = have.get(STOP_ROLE)
                if newest is not None and newest.on_venue:
                    await self._retire(execution_id, stale.order_id)
                continue
            await self._canceller.cancel(
                stale.order_id, "a newer protective order rests", "protective_canceled"
            )
        settled = True
        if holder.view.settings.on_manual_cancel == "leave":
            # Cancelled by hand and the follow says leave it: the monitor enforces the level.
            want = {r: g for r, g in want.items() if r not in snap.by_hand.get(execution_id, ())}
        for role in sorted(set(want) | set(have)):
            need, old = want.get(role), have.get(role)
            if old is not None and need is not None and old.fits(need):
                if old.status in m.OrderStatus.UNSETTLED:
                    # A send that was deferred, or whose outcome is unknown (a crash
                    # between the POST and its record): place() sends or looks it up.
                    await self._orders.place(old.order_id)
                    settled = False
                continue
            if in_place_stops and role == STOP_ROLE and old is not None and need is not None:
                if old.status == m.OrderStatus.OPEN:
                    # The venue overwrites the stop in one call: place, then retire the old.
                    status = await self._place(holder, need, latest.get(role, 0) + 1)
                    if status == m.OrderStatus.OPEN:
                        await self._retire(execution_id, old.order_id)
                    settled = settled and status == m.OrderStatus.OPEN
                    continue
            if old is not None:
                outcome = await self._canceller.cancel(
                    old.order_id, "protective order replaced", "protective_canceled"
                )
                if not outcome.settled or outcome.filled > old.filled:
                    return False  # the venue acted (or may have): the view is stale
            if need is not None:
                status = await self._place(holder, need, latest.get(role, 0) + 1)
                settled = settled and status not in m.OrderStatus.UNSETTLED
        return settled

    async def _retire(self, execution_id: int, order_id: int) -> None:
        """Record a stop as cancelled without a venue call: its successor took its place
        on the venue (``Capabilities.stop_replaces_in_place``)."""
        async with self._sessions() as session, session.begin():
            done = await session.execute(
                update(m.Order)
                .where(m.Order.id == order_id, m.Order.status == m.OrderStatus.OPEN)
                .values(status=m.OrderStatus.CANCELED)
            )
            if done.rowcount == 1:  # type: ignore[attr-defined]
                reason = "replaced in place by the next stop"
                session.add(
                    log_row(execution_id, "protective_canceled", order_id=order_id, reason=reason)
                )

    async def _place(self, holder: Holder, guard: Guard, generation: int) -> str:
        """Write the protective order (``generation`` of its role) and send it."""
        live = await self._pool.get(holder.connection_id)
        max_len = live.adapter.capabilities.max_client_order_id_len
        exit_side = OrderSide.SELL if holder.view.side is Side.LONG else OrderSide.BUY
        leg = (
            stop_leg(generation) if guard.role == STOP_ROLE else target_leg(guard.role, generation)
        )
        intent = OrderIntent(
            leg,
            exit_side,
            guard.type,
            guard.amount,
            stop_price=guard.trigger,
            reduce_only=True,
            reference_price=guard.trigger,
        )
        order = NewOrder(holder.execution_id, holder.connection_id, holder.symbol, intent, max_len)
        async with self._sessions() as session, session.begin():
            written = await write_intents(session, [order])
            order_id = written.get((holder.connection_id, order.client_order_id))
            if order_id is None:
                return m.OrderStatus.SENDING  # another worker wrote it: look again next tick
            what = "stop" if guard.role == STOP_ROLE else f"take-profit {guard.role}"
            session.add(
                log_row(
                    holder.execution_id,
                    "protective_order",
                    order_id=order_id,
                    reason=f"{what} resting on the venue",
                    request={
                        "leg": leg,
                        "trigger": str(guard.trigger),
                        "amount": str(guard.amount),
                    },
                )
            )
        await self._orders.place(order_id)
        async with self._sessions() as session:
            status = await session.scalar(select(m.Order.status).where(m.Order.id == order_id))
        return status or m.OrderStatus.PENDING

    async def release(self, execution_id: int, roles: set[int] | None) -> Released:
        """Cancel the resting orders of ``roles`` (``None``: all) before a market exit."""
        result = Released()
        have = (await self.live([execution_id])).get(execution_id, {})
        for role, resting in have.items():
            if roles is not None and role not in roles:
                continue
            outcome = await self._canceller.cancel(
                resting.order_id, "a market exit takes over", "protective_canceled"
            )
            if not outcome.settled:
                result.unsure.add(role)
            elif outcome.filled > 0:
                result.filled.add(role)
        if have:
            self.forget(execution_id)
        return result

    async def check(self, resting: Iterable[Resting]) -> None:
        """Ask the venue about resting orders whose level the price reached."""
        for order in resting:
            await self._orders.reconcile(order.order_id)

    async def sweep_closed(self, execution_ids: Sequence[int] | None = None) -> int:
        """Cancel protective orders still live although their position is closed (of
        these executions, or of all when ``None``)."""
        base = (
            select(m.Order.id, m.Order.leg, m.Order.execution_id)
            .join(m.Position, m.Position.execution_id == m.Order.execution_id)
            .where(
                m.Position.status == m.PositionStatus.CLOSED,
                m.Order.status.in_(LIVE),
                m.Order.reduce_only.is_(True),
            )
        )
        if execution_ids is None:
            queries = [base]
        else:
            ids = list(dict.fromkeys(execution_ids))
            queries = [
                base.where(m.Order.execution_id.in_(ids[i : i + _CHUNK]))
                for i in range(0, len(ids), _CHUNK)
            ]
        rows: list[tuple[int, str, int]] = []
        async with self._sessions() as session:
            for query in queries:
                found = (await session.execute(query)).all()
                rows.extend((order_id, leg, execution) for order_id, leg, execution in found)
        canceled = 0
        for order_id, leg, execution_id in rows:
            if resting_leg(leg) is None:
                continue
            outcome = await self._canceller.cancel(
                order_id, "position closed", "protective_canceled"
            )
            canceled += outcome.settled
            self.forget(execution_id)
        return canceled
