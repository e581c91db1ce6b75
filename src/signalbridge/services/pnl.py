"""Live PnL: positions marked to market, summed per execution, follow, connection, channel.

Realised PnL is the position's own (fills net of fees, plus funding: execution/recorder.py,
execution/funding.py). Unrealised PnL is worked out when read, from the open amount and
entry and the last mark the position monitor wrote for the connection and symbol
(execution/marks.py), with the mark's price and time. Positions count PnL in different
assets (an inverse contract in its base coin, a linear one in its quote), so every sum is
keyed by asset and never adds two assets together.

Every read is narrowed to the caller as the positions list is (services/access.py): a
member's sums cover only its own connections' positions, also when grouped by channel.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.domain.pnl import Contract, PositionPnl, Totals, price_pnl, sum_by_asset
from signalbridge.execution.funding import pnl_asset_of
from signalbridge.execution.recorder import exact
from signalbridge.services import access
from signalbridge.services.auth import Principal
from signalbridge.store import models as m
from signalbridge.venues.ccxt.funding import reports_funding

Group = Literal["execution", "follow", "connection", "channel"]
GROUPS: tuple[Group, ...] = ("execution", "follow", "connection", "channel")
ONE = Decimal(1)


def funding_reported(connection_type: str, config: Mapping[str, Any], enabled: bool) -> bool:
    """Whether funding is read for this connection: the venue lists it and the job runs."""
    if not enabled or connection_type != "ccxt":
        return False
    return reports_funding(str(config.get("exchange", "")), str(config.get("market_type", "")))


def position_pnl(
    position: m.Position,
    contract_size: Decimal | None,
    mark: tuple[Decimal, datetime] | None,
) -> PositionPnl:
    """One position's PnL; its open part marked to ``mark`` (price, time) when known."""
    is_open = position.status == m.PositionStatus.OPEN
    unrealised: Decimal | None = Decimal(0)
    marked_at = None
    if is_open:
        if mark is None:
            unrealised = None
        else:
            contract = Contract(contract_size or ONE, position.inverse)
            unrealised = exact(
                price_pnl(
                    position.side == "long",
                    position.entry_price,
                    mark[0],
                    position.amount,
                    contract,
                )
            )
            marked_at = mark[1]
    return PositionPnl(
        asset=pnl_asset_of(position),
        realised=position.realized_pnl,
        fees=position.fees,
        funding=position.funding or Decimal(0),
        unrealised=unrealised,
        open=is_open,
        marked_at=marked_at,
    )


@dataclass(frozen=True, slots=True)
class Row:
    """A position with what its groups and its mark need."""

    position: m.Position
    follow_id: int
    channel_id: int
    contract_size: Decimal | None
    mark: tuple[Decimal, datetime] | None
    funding_reported: bool

    def key(self, group: Group) -> int:
        if group == "execution":
            return self.position.execution_id
        if group == "follow":
            return self.follow_id
        if group == "connection":
            return self.position.connection_id
        return self.channel_id

    @property
    def pnl(self) -> PositionPnl:
        return position_pnl(self.position, self.contract_size, self.mark)


async def rows(
    session: AsyncSession,
    who: Principal,
    *,
    funding_enabled: bool,
    connection_id: int | None = None,
    channel_id: int | None = None,
    follow_id: int | None = None,
    execution_id: int | None = None,
    position_id: int | None = None,
) -> list[Row]:
    """The positions the caller sees (narrowed by the filters), with marks: one query."""
    query = (
        select(
            m.Position,
            m.Execution.follow_id,
            m.Execution.contract_size,
            m.Signal.channel_id,
            m.MarkPrice.price,
            m.MarkPrice.at,
            m.ExecutionConnection.type,
            m.ExecutionConnection.config,
        )
        .join(m.Execution, m.Execution.id == m.Position.execution_id)
        .join(m.Signal, m.Signal.id == m.Position.signal_id)
        .join(m.ExecutionConnection, m.ExecutionConnection.id == m.Position.connection_id)
        .outerjoin(
            m.MarkPrice,
            and_(
                m.MarkPrice.connection_id == m.Position.connection_id,
                m.MarkPrice.symbol == m.Position.symbol,
            ),
        )
        .order_by(m.Position.id)
    )
    query = access.visible(query, "position", who)
    filters: list[tuple[Any, int | None]] = [
        (m.Position.connection_id, connection_id),
        (m.Signal.channel_id, channel_id),
        (m.Execution.follow_id, follow_id),
        (m.Position.execution_id, execution_id),
        (m.Position.id, position_id),
    ]
    for column, value in filters:
        if value is not None:
            query = query.where(column == value)
    out = []
    for position, follow, size, channel, price, at, type_, config in (
        await session.execute(query)
    ).all():
        out.append(
            Row(
                position,
                follow,
                channel,
                size,
                None if price is None or at is None else (price, at),
                funding_reported(type_, config or {}, funding_enabled),
            )
        )
    return out


def totals_body(totals: Totals) -> dict[str, Any]:
    return {
        "asset": totals.asset,
        "realised": exact(totals.realised),
        "unrealised": exact(totals.unrealised),
        "total": exact(totals.total),
        "fees": exact(totals.fees),
        "funding": exact(totals.funding),
        "positions": totals.positions,
        "open_positions": totals.open_positions,
        "unmarked_positions": totals.unmarked,
        "marked_at": totals.marked_at,
    }


def grouped(found: Iterable[Row], group: Group) -> list[dict[str, Any]]:
    """One item per (group row, asset), ordered by id then asset."""
    members: dict[int, list[Row]] = {}
    for row in found:
        members.setdefault(row.key(group), []).append(row)
    items = []
    for key in sorted(members):
        reported = all(r.funding_reported for r in members[key])
        for _, totals in sorted(sum_by_asset(r.pnl for r in members[key]).items()):
            items.append(
                {"id": key, "group": group, **totals_body(totals), "funding_reported": reported}
            )
    return items


def overall(found: Iterable[Row]) -> list[dict[str, Any]]:
    """Totals over everything found, per asset."""
    return [totals_body(t) for _, t in sorted(sum_by_asset(r.pnl for r in found).items())]


def position_fields(row: Row) -> dict[str, Any]:
    """The PnL fields ``GET /positions/{id}`` adds to a position."""
    pnl = row.pnl
    return {
        "pnl_asset": pnl.asset,
        "unrealised_pnl": None if pnl.unrealised is None else exact(pnl.unrealised),
        "mark_price": None if row.mark is None else row.mark[0],
        "marked_at": None if row.mark is None else row.mark[1],
        "total_pnl": None if pnl.unrealised is None else exact(pnl.realised + pnl.unrealised),
        "funding_reported": row.funding_reported,
    }
