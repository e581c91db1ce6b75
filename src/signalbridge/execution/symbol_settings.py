"""A futures symbol's account settings, set before an entry is planned, and recorded.

A 1x plan must trade at 1x, not at whatever leverage the account was left at, and in the
margin type the connection asks for: adapters that can (:class:`SymbolConfigurer`, the ccxt
adapter on Binance USDⓈ-M) set the leverage, the margin type and read the position mode for
every plan, once per connection and symbol, and say what they set; that is kept per
(connection, symbol) in ``venue_symbol_settings``. Other venues keep their own rule: the
leverage is set when the plan asks for more than 1x.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol, runtime_checkable

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.execution.pool import Connected
from signalbridge.store import models as m
from signalbridge.store.db import insert_ignore
from signalbridge.venues.base import SymbolSettings


@runtime_checkable
class SymbolConfigurer(Protocol):
    """An adapter that sets a symbol's leverage and margin type itself and reports them."""

    async def configure_symbol(self, symbol: str, leverage: int) -> SymbolSettings | None: ...


async def apply_symbol_settings(
    live: Connected,
    symbol: str,
    leverage: int,
    *,
    sessions: async_sessionmaker[AsyncSession],
    now: Callable[[], datetime],
) -> SymbolSettings | None:
    """Set what the symbol needs before an entry (through the connection's guard) and
    record what was set."""
    adapter = live.adapter
    if not isinstance(adapter, SymbolConfigurer):
        if leverage > 1:
            await live.read(lambda: adapter.set_leverage(symbol, leverage))
        return None
    settings = await live.read(lambda: adapter.configure_symbol(symbol, leverage))
    if settings is not None:
        await record_symbol_settings(sessions, live.connection_id, settings, now())
    return settings


async def record_symbol_settings(
    sessions: async_sessionmaker[AsyncSession],
    connection_id: int,
    settings: SymbolSettings,
    at: datetime,
) -> None:
    """Keep the latest settings of one (connection, symbol): insert, or update the row."""
    values = {
        "position_mode": settings.position_mode,
        "leverage": settings.leverage,
        "margin_type": settings.margin_type,
        "set_at": at,
    }
    key = {"connection_id": connection_id, "symbol": settings.symbol}
    async with sessions() as session, session.begin():
        inserted = await insert_ignore(
            session, m.VenueSymbolSettings, {**key, **values}, ("connection_id", "symbol")
        )
        if inserted is None:
            await session.execute(
                update(m.VenueSymbolSettings)
                .where(
                    m.VenueSymbolSettings.connection_id == connection_id,
                    m.VenueSymbolSettings.symbol == settings.symbol,
                )
                .values(**values)
            )
