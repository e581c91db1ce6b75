"""Writing what the venue said: order state, positions, stage timestamps, the execution log.

A position is always *derived* from its execution's filled orders (entries ``e0``, ``e1``...
open it; every other leg is a reduce-only exit), so recording the same fill twice, or in
any order, gives the same position: amount, average entry, fees and realised PnL. Fees are
kept as the venue reports them (amount and asset, per order); one paid in the coin bought
is no longer held (:mod:`net_amount`). The PnL arithmetic, linear and inverse, is
:mod:`signalbridge.domain.pnl`'s: an inverse (coin-margined) position, marked so by its
``inverse`` and ``pnl_asset`` columns, counts its amount in contracts and its PnL and fees
in ``pnl_asset``. Realised PnL includes the funding recorded on the position
(:mod:`signalbridge.execution.funding`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.util import identity_key

from signalbridge.domain.legs import is_entry_leg, target_index
from signalbridge.domain.market import tidy
from signalbridge.domain.pnl import Contract, average_entry, price_pnl
from signalbridge.execution.net_amount import (
    FillFees,
    fees_json,
    fill_fees,
    pair_of,
    stored_fees,
)
from signalbridge.notifications import emit as notify
from signalbridge.store import models as m
from signalbridge.store.db import insert_ignore_many
from signalbridge.store.types import utcnow
from signalbridge.venues.base import Fee, VenueOrder
from signalbridge.venues.base import OrderStatus as VenueStatus

_STATUS = {
    VenueStatus.OPEN: m.OrderStatus.OPEN,
    VenueStatus.PARTIALLY_FILLED: m.OrderStatus.PARTIALLY_FILLED,
    VenueStatus.FILLED: m.OrderStatus.FILLED,
    VenueStatus.CANCELED: m.OrderStatus.CANCELED,
    VenueStatus.REJECTED: m.OrderStatus.REJECTED,
    VenueStatus.EXPIRED: m.OrderStatus.EXPIRED,
}
STAGES = ("order_sent_at", "order_acked_at", "filled_at")


async def mark_stage(session: AsyncSession, signal_id: int, stage: str, at: datetime) -> None:
    """Set a signal's stage timestamp once: the first execution to get there sets it."""
    await mark_stages(session, stage, {signal_id: at})


async def mark_stages(session: AsyncSession, stage: str, at: Mapping[int, datetime]) -> None:
    """:func:`mark_stage` for many signals in one statement (executemany)."""
    if not at:
        return
    table: Any = m.Signal.__table__
    column = table.c[stage]
    stmt = (
        update(table)
        .where(table.c.id == bindparam("b_id"), column.is_(None))
        .values({stage: bindparam("b_at")})
    )
    params = [{"b_id": signal_id, "b_at": when} for signal_id, when in at.items()]
    if len(params) == 1:
        await session.execute(stmt, params[0])
    else:
        await session.execute(stmt, params)


def _earliest(into: dict[int, datetime], key: int, at: datetime) -> None:
    current = into.get(key)
    if current is None or at < current:
        into[key] = at


def log_values(
    execution_id: int | None,
    action: str,
    *,
    order_id: int | None = None,
    reason: str | None = None,
    request: dict[str, Any] | None = None,
    response: dict[str, Any] | None = None,
    latency_ms: float | None = None,
) -> dict[str, Any]:
    """The columns of one execution log row (for :func:`insert_logs`)."""
    return {
        "execution_id": execution_id,
        "order_id": order_id,
        "action": action,
        "reason": reason,
        "request": request,
        "response": response,
        "latency_ms": None if latency_ms is None else Decimal(str(round(latency_ms, 3))),
    }


def log_row(execution_id: int | None, action: str, **fields: Any) -> m.ExecutionLog:
    """One execution log row as an ORM object; ``fields`` as for :func:`log_values`."""
    return m.ExecutionLog(**log_values(execution_id, action, **fields))


async def insert_logs(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write many log rows (:func:`log_values`) with one executemany INSERT; the ORM would
    send one statement per row."""
    if not rows:
        return
    now = utcnow()
    table: Any = m.ExecutionLog.__table__
    await session.execute(insert(table), [{"at": now, **row} for row in rows])


def venue_summary(vo: VenueOrder) -> dict[str, Any]:
    return {
        "venue_order_id": vo.venue_order_id,
        "status": vo.status.value,
        "filled": str(vo.filled),
        "average_price": None if vo.average_price is None else str(vo.average_price),
        "fee": None if vo.fee is None else f"{vo.fee.amount} {vo.fee.asset}",
        "fees": fees_json(vo.fees) if vo.fees else None,
    }


async def record_order(
    session: AsyncSession, order: m.Order, vo: VenueOrder, signal_id: int, now: datetime
) -> None:
    """Apply the venue's view of one of our orders; never moves a final order backwards."""
    await record_orders(session, [(order, vo, signal_id)], now)


async def record_orders(
    session: AsyncSession,
    answers: Sequence[tuple[m.Order, VenueOrder, int]],
    now: datetime,
) -> None:
    """:func:`record_order` for many ``(order, venue answer, signal id)`` at once.

    Stage timestamps are set with one statement per stage (the earliest instant of each
    signal wins, as "the first execution to get there" does one by one) and every touched
    position is refreshed together: positions are derived from all filled orders, so the
    result does not depend on the order the answers are applied in.
    """
    acked: dict[int, datetime] = {}
    filled: dict[int, datetime] = {}
    refresh: list[int] = []
    newly_filled: list[m.Order] = []
    for order, vo, signal_id in answers:
        if order.status in m.OrderStatus.FINAL and order.status != _STATUS[vo.status]:
            continue
        order.venue_order_id = vo.venue_order_id
        order.status = _STATUS[vo.status]
        order.filled = vo.filled
        order.average_price = vo.average_price
        fees = vo.fees or ((vo.fee,) if vo.fee is not None else ())
        if fees:
            order.fee, order.fee_asset = fees[0].amount, fees[0].asset
            order.fees = fees_json(fees)
        order.acked_at = order.acked_at or now
        _earliest(acked, signal_id, order.acked_at)
        if vo.status is VenueStatus.FILLED:
            if order.filled_at is None:
                newly_filled.append(order)
            order.filled_at = order.filled_at or now
        if vo.filled > 0:
            if is_entry_leg(order.leg):
                _earliest(filled, signal_id, order.filled_at or now)
            if order.execution_id not in refresh:
                refresh.append(order.execution_id)
    await mark_stages(session, "order_acked_at", acked)
    await mark_stages(session, "filled_at", filled)
    if refresh:
        await refresh_positions(session, refresh, now)
    await notify.orders_filled(session, newly_filled)  # in the transaction of the fill


_EXACT = Decimal("1e-12")
ZERO = Decimal(0)


def exact(value: Decimal) -> Decimal:
    """Derived money kept to 12 places, so SQLite text and PostgreSQL NUMERIC hold the same."""
    return tidy(value.quantize(_EXACT)) if value else ZERO


@dataclass(frozen=True, slots=True)
class Fill:
    """One order's fill: ``fee`` is worth that much quote currency; ``held_fee`` of the
    base asset was paid out of what the fill brought in (a Binance spot BUY)."""

    leg: str
    filled: Decimal
    price: Decimal
    fee: Decimal
    held_fee: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Book:
    """A position as its fills define it. ``realized_pnl`` is net of every fee paid so far."""

    opened: Decimal
    amount: Decimal
    entry_price: Decimal
    realized_pnl: Decimal
    fees: Decimal
    tp_hits: int
    #: Left below one amount step once exits sold the rest: cannot be sold, not held here.
    dust: Decimal = ZERO

    @property
    def closed(self) -> bool:
        return self.amount <= 0


def book(
    fills: Iterable[Fill],
    long: bool,
    contract_size: Decimal = Decimal(1),
    step: Decimal | None = None,
    *,
    inverse: bool = False,
) -> Book | None:
    """Pure accounting of one execution's fills; ``None`` while no entry has filled.

    What is held is what the entries filled, less fees paid in the base asset, less what
    the exits sold. With the market's amount ``step`` known (recorded when an exit is
    written), a remainder below one step is dust that cannot be sold: the position is closed.
    ``inverse``: amounts are contracts of ``contract_size`` quote units, the entry is their
    harmonic mean and PnL is in the base coin (:mod:`signalbridge.domain.pnl`); fees are
    then worth what the fills say, in that coin.
    """
    entries = [f for f in fills if f.filled > 0 and is_entry_leg(f.leg)]
    exits = [f for f in fills if f.filled > 0 and not is_entry_leg(f.leg)]
    opened = sum((f.filled for f in entries), ZERO)
    if opened <= 0:
        return None
    entry_price = exact(average_entry(((f.filled, f.price) for f in entries), inverse))
    closed = sum((f.filled for f in exits), ZERO)
    held = max(opened - sum((f.held_fee for f in (*entries, *exits)), ZERO) - closed, ZERO)
    dust = held if step and held < step else ZERO
    contract = Contract(contract_size, inverse)
    gross = sum((price_pnl(long, entry_price, f.price, f.filled, contract) for f in exits), ZERO)
    fees = sum((f.fee for f in (*entries, *exits)), ZERO)
    tp_hits = max((target_index(f.leg) or 0 for f in exits), default=0)
    return Book(
        opened=opened,
        amount=exact(held - dust),
        entry_price=entry_price,
        realized_pnl=exact(gross - fees),
        fees=exact(fees),
        tp_hits=tp_hits,
        dust=exact(dust),
    )


def unrealised_pnl(
    side: str,
    entry_price: Decimal,
    amount: Decimal,
    price: Decimal,
    contract_size: Decimal,
    *,
    inverse: bool = False,
) -> Decimal:
    """Open profit of what is left of a position at ``price``, before exit fees (in the
    quote currency; in the base coin when ``inverse``)."""
    contract = Contract(contract_size, inverse)
    return exact(price_pnl(side == "long", entry_price, price, amount, contract))


def position_fees(
    fees: Iterable[Fee],
    symbol: str,
    price: Decimal,
    *,
    contract_size: Decimal = Decimal(1),
    inverse: bool = False,
    pnl_asset: str | None = None,
) -> FillFees:
    """What one fill's ``fees`` cost a position, in its PnL asset, and hold back of it.

    Linear with amounts in base units (contract size 1): :func:`fill_fees` (spot fees in
    the coin bought are no longer held). Amounts in contracts or lots hold nothing back
    (a fee in the base coin is not taken from a count of contracts). Inverse: fees in the
    PnL asset (the base coin) are worth their amount; any other asset is not valued.
    """
    if inverse:
        asset = pnl_asset or (pair_of(symbol) or ("",))[0]
        worth = sum((f.amount for f in fees if f.asset in (asset, "")), ZERO)
        return FillFees(worth, ZERO)
    paid = fill_fees(fees, symbol, price)
    if contract_size != 1:
        return FillFees(paid.quote, ZERO)
    return paid


async def refresh_position(
    session: AsyncSession,
    execution_id: int,
    now: datetime,
    *,
    contract_size: Decimal | None = None,
) -> None:
    """Create or update the execution's position from its filled orders.

    ``contract_size`` (base units per amount unit) values the realised PnL; by default it is
    the one the execution recorded when it was planned (1 for crypto).
    """
    await refresh_positions(session, [execution_id], now, contract_size=contract_size)


async def refresh_positions(
    session: AsyncSession,
    execution_ids: Sequence[int],
    now: datetime,
    *,
    contract_size: Decimal | None = None,
) -> None:
    """:func:`refresh_position` for many executions with a fixed number of statements.

    An existing position keeps its ``inverse``/``pnl_asset`` marks and its funding: its
    realised PnL is what the fills say plus that funding."""
    await session.flush()
    raw: dict[int, list[tuple[str, Decimal, Decimal, list[Fee], str]]] = {
        e: [] for e in execution_ids
    }
    orders: Any = m.Order.__table__
    for chunk in _chunks(list(raw)):
        rows = await session.execute(
            select(
                orders.c.execution_id,
                orders.c.leg,
                orders.c.filled,
                orders.c.average_price,
                orders.c.price,
                orders.c.fee,
                orders.c.fee_asset,
                orders.c.fees,
                orders.c.symbol,
            ).where(orders.c.execution_id.in_(chunk), orders.c.filled > 0)
        )
        for execution_id, leg, filled, average, price, fee, asset, listed, symbol in rows.all():
            at = average or price or ZERO
            raw[execution_id].append((leg, filled, at, stored_fees(listed, fee, asset), symbol))
    executions = await get_rows(session, m.Execution, list(raw))
    signals = await get_rows(session, m.Signal, sorted({x.signal_id for x in executions.values()}))
    known = await _positions(session, [e for e in raw if raw[e]])
    books: dict[int, Book] = {}
    inserts: list[dict[str, object]] = []
    for execution_id, filled_orders in raw.items():
        execution = executions[execution_id]
        signal = signals[execution.signal_id]
        size = contract_size or execution.contract_size or Decimal(1)
        position = known.get(execution_id)
        # A new position takes its marks from the plan (executions.pnl_asset: inverse).
        inverse = position.inverse if position is not None else execution.pnl_asset is not None
        asset = position.pnl_asset if position is not None else execution.pnl_asset
        fills = []
        for leg, filled, at, fees, symbol in filled_orders:
            paid = position_fees(
                fees, symbol, at, contract_size=size, inverse=inverse, pnl_asset=asset
            )
            fills.append(Fill(leg, filled, at, paid.quote, paid.held))
        result = book(fills, signal.side == "long", size, execution.amount_step, inverse=inverse)
        if result is None:
            continue
        books[execution_id] = result
        if position is not None:
            continue
        inserts.append(
            {
                "execution_id": execution_id,
                "signal_id": signal.id,
                "connection_id": execution.connection_id,
                "symbol": signal.symbol,
                "side": signal.side,
                "amount": result.amount,
                "entry_price": result.entry_price,
                "stop_loss": signal.stop_loss,
                "take_profits": list(signal.take_profits),
                "fees": result.fees,
                "realized_pnl": result.realized_pnl,
                "tp_hits": result.tp_hits,
                "inverse": inverse,
                "pnl_asset": asset,
                "opened_at": now,
            }
        )
    created = set(
        await insert_ignore_many(
            session, m.Position, inserts, ("execution_id",), returning=("execution_id",)
        )
    )
    # Created by someone else since the look above (a concurrent refresh): read now.
    raced = [e for e in books if e not in created and e not in known]
    known.update(await _positions(session, raced))
    closed: list[m.Position] = []
    for execution_id, result in books.items():
        position = known.get(execution_id)
        if position is None or execution_id in created:
            continue
        position.amount = result.amount
        position.entry_price = result.entry_price
        position.fees = result.fees
        position.realized_pnl = exact(result.realized_pnl + (position.funding or ZERO))
        position.tp_hits = max(position.tp_hits, result.tp_hits)
        if result.closed and position.status != m.PositionStatus.CLOSED:
            position.status = m.PositionStatus.CLOSED
            position.closed_at = now
            # Our own exits; the position sync marks what closed outside SignalBridge.
            position.close_reason = position.close_reason or "exit"
            closed.append(position)
    for execution_id, result in books.items():
        execution = executions[execution_id]
        if execution.status in m.ExecutionStatus.NOT_STARTED:
            execution.status = m.ExecutionStatus.OPEN
        if result.closed and execution.status not in m.ExecutionStatus.FINAL:
            execution.status = m.ExecutionStatus.CLOSED
            execution.reason = "position closed"
    await notify.positions_closed(session, closed)  # with the fill that closed them


async def _positions(session: AsyncSession, execution_ids: list[int]) -> dict[int, m.Position]:
    """The positions of these executions that exist, by execution id."""
    found: dict[int, m.Position] = {}
    for chunk in _chunks(execution_ids):
        query = select(m.Position).where(m.Position.execution_id.in_(chunk))
        for position in (await session.scalars(query)).all():
            found[position.execution_id] = position
    return found


_CHUNK = 500
_Row = TypeVar("_Row", m.Execution, m.Signal, m.Order)


async def get_rows(session: AsyncSession, model: type[_Row], ids: Sequence[int]) -> dict[int, _Row]:
    """``session.get`` for many ids: the identity map first, one query for the rest."""
    found: dict[int, _Row] = {}
    missing: list[int] = []
    for row_id in dict.fromkeys(ids):
        known = session.identity_map.get(identity_key(model, row_id))
        if known is not None:
            found[row_id] = known
        else:
            missing.append(row_id)
    for chunk in _chunks(missing):
        column: Any = model.id
        for row in (await session.scalars(select(model).where(column.in_(chunk)))).all():
            found[row.id] = row
    return found


def _chunks(items: list[int]) -> list[list[int]]:
    """IN lists bounded well below both databases' bind-parameter limits."""
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]
