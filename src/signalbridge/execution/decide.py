"""Reading the market and deciding an execution's plan: orders, a skip reason, or wait.

The venue is read (markets, price, balance) through the connection's guard, then the pure
planner decides. Both the single path and the fan-out path decide through here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.domain.management import management_settings
from signalbridge.domain.market import Market
from signalbridge.domain.signals import Side, Signal
from signalbridge.execution.planner import (
    Plan,
    Skip,
    Wait,
    netting_guard,
    plan_entry,
    risk_settings,
    sizing_config,
    staleness,
)
from signalbridge.execution.pool import Connected
from signalbridge.execution.symbol_settings import apply_symbol_settings
from signalbridge.store import models as m
from signalbridge.venues.base import Balance, Ticker

_CHUNK = 500  # ids per IN list, well below both databases' bind-parameter limits

#: A batch's market reads, per (connection, symbol): markets, ticker and balances, or why not.
Looks = dict[tuple[int, str], "asyncio.Future[tuple[Market, Ticker, dict[str, Balance]] | str]"]


async def decide(
    live: Connected,
    signal: Signal,
    received_at: datetime,
    follow: m.Follow,
    *,
    now: Callable[[], datetime],
    opposite: bool = False,
    sessions: async_sessionmaker[AsyncSession],
    looks: Looks | None = None,
) -> Plan | str | Wait:
    """The plan, a skip reason, or Wait. ``opposite``: one of our positions on this
    connection and symbol is open the other way; ``now`` is the engine's clock;
    ``sessions``: where the symbol settings set for the plan are recorded; ``looks``: the
    reads a batch shares (execution/batch.py: its plans are all decided before any order
    is sent, so one read per connection and symbol sees what a hundred would)."""
    adapter = live.adapter

    async def look() -> tuple[Market, Ticker, dict[str, Balance]] | str:
        markets = await adapter.load_markets()
        market = markets.get(signal.symbol)
        if market is None:
            return f"{signal.symbol} is not listed on connection {live.connection_id}"
        ticker = (await adapter.fetch_tickers([signal.symbol])).get(signal.symbol)
        if ticker is None:
            return f"no price for {signal.symbol} on connection {live.connection_id}"
        return market, ticker, await adapter.fetch_balance()

    # The three reads go through the guard as one idempotent call of weight 3: the
    # same rate-limit budget as three calls, a third of the guard's own overhead (it
    # dominates on an in-process venue fanned out to a thousand accounts).
    if looks is None:
        looked = await live.read(look, weight=3)
    else:
        key = (live.connection_id, signal.symbol)
        shared = looks.get(key)
        if shared is None:
            shared = looks[key] = asyncio.ensure_future(live.read(look, weight=3))
        looked = shared.result() if shared.done() else await asyncio.shield(shared)
    if isinstance(looked, str):
        return looked
    market, ticker, balances = looked
    risk = risk_settings(follow.risk)
    if opposite:
        # Stale signals are skipped even while they wait; the size is decided after.
        stale = staleness(signal, received_at, ticker, risk, now())
        if stale is not None:
            return stale
        guard = netting_guard(
            signal, market, adapter.capabilities.nets_positions, closes_on_opposite(follow)
        )
        if isinstance(guard, Skip):
            return guard.reason
        if guard is not None:
            return guard
    balance = balances.get(market.margin_asset)  # inverse (coin-margined): the base coin
    if balance is None and len(balances) == 1:
        balance = next(iter(balances.values()))
    plan = plan_entry(
        signal,
        received_at=received_at,
        market=market,
        ticker=ticker,
        balance=balance.free if balance is not None else Decimal(0),
        sizing=sizing_config(follow.sizing),
        risk=risk,
        now=now(),
    )
    if not isinstance(plan, Plan):
        return plan.reason
    if adapter.capabilities.leverage:  # 1x too: never the account's leftover leverage
        await apply_symbol_settings(live, signal.symbol, plan.leverage, sessions=sessions, now=now)
    return plan


async def opposite_open(
    session: AsyncSession, keys: Iterable[tuple[int, str, str]]
) -> set[tuple[int, str, str]]:
    """Of ``(connection, symbol, side)`` keys, those where one of our positions is open on
    that connection and symbol the other way (a few statements, however many keys)."""
    wanted = set(keys)
    if not wanted:
        return set()
    connections = sorted({c for c, _, _ in wanted})
    symbols = sorted({s for _, s, _ in wanted})
    held: set[tuple[int, str, str]] = set()
    for start in range(0, len(connections), _CHUNK):
        rows = await session.execute(
            select(m.Position.connection_id, m.Position.symbol, m.Position.side)
            .where(
                m.Position.status == m.PositionStatus.OPEN,
                m.Position.connection_id.in_(connections[start : start + _CHUNK]),
                m.Position.symbol.in_(symbols),
            )
            .distinct()
        )
        held.update((c, s, side) for c, s, side in rows.all())
    other = {Side.LONG.value: Side.SHORT.value, Side.SHORT.value: Side.LONG.value}
    return {(c, s, side) for c, s, side in wanted if (c, s, other.get(side, "")) in held}


def closes_on_opposite(follow: m.Follow) -> bool:
    """Whether the follow closes a position when the provider signals the other way."""
    try:
        return management_settings(follow.management).close_on_opposite
    except ValidationError:
        return False
