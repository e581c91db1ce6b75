"""The market facts the AI guard rails need, read from the follows' own venues.

An AI parse may act only if every venue it would reach lists its symbol and its prices lie
near that venue's price now (ai/guard.py). The reads are the execution engine's own: the
follow's connection from the adapter pool, behind its kernel guard, markets + ticker +
balance as one idempotent call (execution/decide.py reads the same way). A venue that
cannot be read is a problem, never a pass: the item then waits in review.

Network calls happen here: the caller must not hold a write transaction on ``session``
while it awaits (the follows are read first, then the venues).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.ai.guard import (
    GuardLimits,
    MarketFacts,
    VenueFacts,
    check,
    grounding_problems,
)
from signalbridge.domain.market import Market
from signalbridge.domain.signals import Noise, Parsed, Signal, SignalUpdate, UpdateAction
from signalbridge.domain.sizing import SizingConfig
from signalbridge.execution.planner import sizing_config
from signalbridge.execution.pool import AdapterPool, Connected
from signalbridge.execution.rows import signal_from_row
from signalbridge.integrations.errors import IntegrationError
from signalbridge.store import models as m

#: The entry's band when the channel sets none (``ai_max_price_distance_percent``).
DEFAULT_MAX_PRICE_DISTANCE = Decimal(5)
#: Venue reads at once for one parse (a channel may have many follows).
CONCURRENCY = 16

Look = tuple[Market | None, Decimal | None, Decimal | None]


FollowFacts = tuple[int, int, dict[str, Any]]  # (follow id, connection id, sizing)


async def active_follows(session: AsyncSession, channel_id: int) -> list[FollowFacts]:
    """The channel's active follows, as :func:`guard_problems` takes them."""
    rows = await session.execute(
        select(m.Follow.id, m.Follow.connection_id, m.Follow.sizing)
        .where(m.Follow.channel_id == channel_id, m.Follow.is_active.is_(True))
        .order_by(m.Follow.id)
    )
    return [(follow_id, connection_id, sizing) for follow_id, connection_id, sizing in rows]


async def guard_problems(
    parsed: Parsed | m.Signal | m.SignalUpdate,
    channel: m.ChannelSource,
    *,
    text: str,
    follows: list[FollowFacts],
    pool: AdapterPool | None,
    limits: GuardLimits | None = None,
) -> list[str]:
    """Every reason the AI parse ``parsed`` may not act on ``channel``; empty when it may.

    ``parsed`` is a domain parse or a stored signal/update row, ``text`` the message it was
    read from (the symbol must be named there), ``follows`` the channel's active follows
    (:func:`active_follows`, read before: no session may be held while the venues are read,
    SQLite has one connection and the adapter pool needs it). Without ``pool`` nothing can
    be checked against a venue, so the answer is a problem (fail closed).
    """
    item = as_parsed(parsed)
    if isinstance(item, Noise):
        return ["noise does not act"]
    grounded = grounding_problems(item, text)
    if pool is None:
        return [*grounded, "the venues cannot be read here (no adapter pool): nothing checked"]
    facts = await market_facts(pool, item.symbol, follows)
    return grounded + check(item, facts, limits or limits_for(channel))


def limits_for(channel: m.ChannelSource) -> GuardLimits:
    """The channel's entry band (``ai_max_price_distance_percent``; None: 5 %)."""
    band = getattr(channel, "ai_max_price_distance_percent", None)
    return GuardLimits(
        max_price_distance_percent=DEFAULT_MAX_PRICE_DISTANCE if band is None else Decimal(band)
    )


async def market_facts(
    pool: AdapterPool, symbol: str | None, follows: list[FollowFacts]
) -> MarketFacts:
    """One :class:`VenueFacts` per ``(follow id, connection id, sizing)``, read concurrently."""
    if symbol is None or not follows:
        return MarketFacts(tuple(VenueFacts(f) for f, _, _ in follows))
    lives = await pool.get_many({c for _, c, _ in follows})
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(follow_id: int, connection_id: int, raw_sizing: dict[str, Any]) -> VenueFacts:
        try:
            sizing: SizingConfig | None = sizing_config(raw_sizing)
        except ValidationError:
            return VenueFacts(follow_id, error="the follow's sizing settings are invalid")
        live = lives.get(connection_id)
        if live is None:
            return VenueFacts(follow_id, error=f"connection {connection_id} is missing")
        if isinstance(live, IntegrationError):
            return VenueFacts(follow_id, error=live.message)
        async with gate:
            try:
                market, price, balance = await read_market(live, symbol)
            except IntegrationError as exc:
                return VenueFacts(follow_id, error=exc.message)
        return VenueFacts(follow_id, market, price, sizing, balance)

    read = await asyncio.gather(*(one(f, c, s) for f, c, s in follows))
    return MarketFacts(tuple(read))


async def read_market(live: Connected, symbol: str) -> Look:
    """The market (None: not listed), its last price and the free quote balance."""
    adapter = live.adapter

    async def look() -> Look:
        market = (await adapter.load_markets()).get(symbol)
        if market is None:
            return None, None, None
        ticker = (await adapter.fetch_tickers([symbol])).get(symbol)
        balances = await adapter.fetch_balance()
        balance = balances.get(market.margin_asset)  # the base coin on inverse markets
        if balance is None and len(balances) == 1:
            balance = next(iter(balances.values()))
        return (
            market,
            None if ticker is None else ticker.last,
            None if balance is None else balance.free,
        )

    return await live.read(look, weight=3)


def as_parsed(item: Parsed | m.Signal | m.SignalUpdate) -> Parsed:
    """A domain parse from a stored signal or update row (or the parse itself)."""
    if isinstance(item, Signal | SignalUpdate | Noise):
        return item
    if isinstance(item, m.Signal):
        return signal_from_row(item)
    return SignalUpdate(action=UpdateAction(item.action), symbol=item.symbol, value=item.value)
