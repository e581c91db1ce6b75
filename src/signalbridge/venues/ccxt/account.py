"""ccxt's balances, positions and tickers read as ``venues.base`` types (pure functions).

ccxt reports each as a loosely typed dict of floats and strings; the ccxt adapter reads
them here so the reading is tested without an exchange.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from signalbridge.venues.base import Balance, PositionSide, Ticker, VenuePosition
from signalbridge.venues.ccxt.markets import ccxt_decimal
from signalbridge.venues.ccxt.orders import time_of

ZERO = Decimal(0)
#: Keys of ccxt's balance structure that are not assets.
_BALANCE_META = frozenset({"info", "free", "used", "total", "debt", "timestamp", "datetime"})


def balances_from_ccxt(raw: Mapping[str, Any]) -> dict[str, Balance]:
    """Every asset with something in it (a missing total is free + used)."""
    out: dict[str, Balance] = {}
    for asset, entry in raw.items():
        if asset in _BALANCE_META or not isinstance(entry, Mapping):
            continue
        free = ccxt_decimal(entry.get("free")) or ZERO
        used = ccxt_decimal(entry.get("used")) or ZERO
        total = ccxt_decimal(entry.get("total"))
        total = free + used if total is None else total
        if free or used or total:
            out[asset] = Balance(asset, free, used, total)
    return out


def position_from_ccxt(
    p: Mapping[str, Any], to_canonical: Callable[[str], str]
) -> VenuePosition | None:
    """One open position; None for ccxt's empty entries (zero contracts)."""
    contracts = ccxt_decimal(p.get("contracts")) or ZERO
    if contracts == 0:
        return None
    leverage = ccxt_decimal(p.get("leverage"))
    liquidation = ccxt_decimal(p.get("liquidationPrice"))
    return VenuePosition(
        symbol=to_canonical(str(p.get("symbol"))),
        side=PositionSide.SHORT if p.get("side") == "short" else PositionSide.LONG,
        amount=abs(contracts),
        entry_price=ccxt_decimal(p.get("entryPrice")) or ZERO,
        leverage=int(leverage) if leverage else None,
        unrealised_pnl=ccxt_decimal(p.get("unrealizedPnl")) or ZERO,
        liquidation_price=liquidation if liquidation else None,
    )


def ticker_from_ccxt(
    t: Mapping[str, Any] | None, canonical: str, clock: Callable[[], datetime]
) -> Ticker | None:
    """A ticker with a last price (the mid when the venue gave only bid and ask), else None."""
    if not t:
        return None
    bid, ask, last = (
        ccxt_decimal(t.get("bid")),
        ccxt_decimal(t.get("ask")),
        ccxt_decimal(t.get("last")),
    )
    if last is None and bid is not None and ask is not None:
        last = (bid + ask) / 2
    if last is None:
        return None
    return Ticker(canonical, bid, ask, last, time_of(t.get("timestamp"), clock))
