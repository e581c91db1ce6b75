"""Writing order intents: the one place an order row is created.

An intent is written before anything is sent, with a client order id derived from the
execution and the leg, by ``INSERT ... ON CONFLICT DO NOTHING`` on (connection, client order
id): an intent written twice (two workers, a retry after a crash) is one row, and only the
writer that inserted it gets its id, so only that one may send it. Entries (single and
fan-out path), exits and resting protective orders are all written by :func:`write_intents`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.execution.planner import OrderIntent, Plan
from signalbridge.execution.pool import Connected
from signalbridge.execution.recorder import insert_logs, log_values, mark_stages
from signalbridge.execution.rows import OrderSnapshot, contract_size_of, plan_summary
from signalbridge.store import models as m
from signalbridge.store.db import insert_ignore_many
from signalbridge.venues.base import client_order_id

_CHUNK = 500  # ids per IN list, well below both databases' bind-parameter limits
_KEY = ("connection_id", "client_order_id")


@dataclass(frozen=True, slots=True)
class NewOrder:
    """One order intent of an execution on its connection."""

    execution_id: int
    connection_id: int
    symbol: str
    intent: OrderIntent
    max_client_order_id_len: int

    @property
    def client_order_id(self) -> str:
        return client_order_id(
            self.execution_id, self.intent.leg, max_len=self.max_client_order_id_len
        )


async def write_intents(
    session: AsyncSession, orders: Sequence[NewOrder], *, sent_at: datetime | None = None
) -> dict[tuple[int, str], int]:
    """Write intents as ``pending`` (or, with ``sent_at``, as ``sending``: their POST follows
    this commit). Returns ``(connection id, client order id) -> order id`` of the rows this
    call inserted; an intent whose row already exists is not among them."""
    status = m.OrderStatus.PENDING if sent_at is None else m.OrderStatus.SENDING
    rows: list[dict[str, object]] = [
        {
            "execution_id": o.execution_id,
            "connection_id": o.connection_id,
            "client_order_id": o.client_order_id,
            "leg": o.intent.leg,
            "symbol": o.symbol,
            "side": o.intent.side.value,
            "type": o.intent.type.value,
            "amount": o.intent.amount,
            "price": o.intent.price,
            "stop_price": o.intent.stop_price,
            "reduce_only": o.intent.reduce_only,
            "reference_price": o.intent.reference_price,
            "status": status,
            "sent_at": sent_at,
        }
        for o in orders
    ]
    # One multi-row INSERT ... ON CONFLICT DO NOTHING: an intent whose unique key exists
    # is not returned, so it is never POSTed twice.
    inserted = await insert_ignore_many(
        session, m.Order, rows, _KEY, returning=("id", "connection_id", "client_order_id")
    )
    return {(conn, coid): order_id for order_id, conn, coid in inserted}


@dataclass(frozen=True, slots=True)
class Planned:
    """An execution and the plan decided for it on its connection."""

    execution_id: int
    signal_row: m.Signal
    live: Connected
    plan: Plan


async def write_plans(
    session: AsyncSession, planned: Sequence[Planned], now: datetime, *, sending: bool
) -> list[tuple[Connected, OrderSnapshot]]:
    """Claim the executions (``pending`` -> ``placing``) and write their plans' intents.

    An execution another worker claimed first is left alone. ``sending=False`` (the single
    path): intents are ``pending`` and each is claimed for sending on its own later.
    ``sending=True`` (the fan-out path): intents are committed as ``sending`` with this
    transaction, and the returned snapshots are the orders to POST after the commit.
    """
    claimed = await claim_executions(session, [p.execution_id for p in planned], now)
    won = [p for p in planned if p.execution_id in claimed]
    await _set_contract_sizes(session, won)
    orders: list[tuple[Planned, NewOrder]] = [
        (
            p,
            NewOrder(
                p.execution_id,
                p.live.connection_id,
                p.signal_row.symbol,
                intent,
                p.live.adapter.capabilities.max_client_order_id_len,
            ),
        )
        for p in won
        for intent in p.plan.orders
    ]
    new_ids = await write_intents(session, [o for _, o in orders], sent_at=now if sending else None)
    sends: list[tuple[Connected, OrderSnapshot]] = []
    for p, order in orders:
        order_id = new_ids.get((order.connection_id, order.client_order_id))
        if order_id is None:
            continue
        intent = order.intent
        snapshot = OrderSnapshot(
            order_id=order_id,
            execution_id=p.execution_id,
            connection_id=order.connection_id,
            signal_id=p.signal_row.id,
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=intent.side.value,
            type=intent.type.value,
            status=m.OrderStatus.SENDING if sending else m.OrderStatus.PENDING,
            amount=intent.amount,
            price=intent.price,
            stop_price=intent.stop_price,
            reduce_only=intent.reduce_only,
            sent_at=now if sending else None,
            leg=intent.leg,
        )
        sends.append((p.live, snapshot))
    await insert_logs(
        session, [log_values(p.execution_id, "planned", request=plan_summary(p.plan)) for p in won]
    )
    if sending:
        await mark_stages(
            session, "order_sent_at", dict.fromkeys({s.signal_id for _, s in sends}, now)
        )
    return sends


async def claim_executions(session: AsyncSession, ids: Sequence[int], now: datetime) -> set[int]:
    """Move pending executions to ``placing`` (conditional UPDATE); returns those won.

    Of two workers racing for an execution only one sees it in RETURNING, on SQLite and
    PostgreSQL alike, just as with one conditional UPDATE per execution.
    """
    table: Any = m.Execution.__table__
    won: set[int] = set()
    for start in range(0, len(ids), _CHUNK):
        result = await session.execute(
            update(table)
            .where(
                table.c.id.in_(list(ids[start : start + _CHUNK])),
                table.c.status == m.ExecutionStatus.PENDING,
            )
            .values(status=m.ExecutionStatus.PLACING, updated_at=now)
            .returning(table.c.id)
        )
        won.update(result.scalars().all())
    return won


async def _set_contract_sizes(session: AsyncSession, planned: Sequence[Planned]) -> None:
    """Record the contract size of the planned executions that are not 1, and the coin an
    inverse market counts PnL in (one executemany)."""
    params = [
        {"b_id": p.execution_id, "b_size": size, "b_asset": p.plan.pnl_asset}
        for p in planned
        if (size := contract_size_of(p.plan)) is not None or p.plan.pnl_asset is not None
    ]
    if params:
        table: Any = m.Execution.__table__
        await session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(contract_size=bindparam("b_size"), pnl_asset=bindparam("b_asset")),
            params,
        )
