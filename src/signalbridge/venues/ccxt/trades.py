"""The account's fills as ccxt's ``fetch_my_trades`` parses them, read as :class:`VenueTrade`.

A trade history is asked by symbol and time, not by client order id, so it still shows a
fill that a lookup by client id cannot see yet (Binance spot ``GET /api/v3/myTrades``,
USDⓈ-M ``GET /fapi/v1/userTrades``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from signalbridge.venues.base import OrderSide, VenueTrade
from signalbridge.venues.ccxt.markets import ccxt_decimal
from signalbridge.venues.ccxt.orders import sum_fees, time_of


def venue_ms(exchange: Any, at: datetime) -> int:
    """``at`` (our clock) in the venue's milliseconds: ccxt keeps the measured offset of our
    clock from the venue's (``timeDifference``, local minus server) when it adjusts for it."""
    offset = exchange.options.get("timeDifference") if isinstance(exchange.options, dict) else 0
    return int(at.timestamp() * 1000) - int(offset or 0)


def trade_from_ccxt(
    t: Mapping[str, Any], canonical: Callable[[str], str], clock: Callable[[], datetime]
) -> VenueTrade:
    """One ccxt trade structure; ``canonical`` maps the venue symbol to ours."""
    fees = sum_fees(t.get("fees") or [t.get("fee")])
    return VenueTrade(
        trade_id=str(t.get("id") or ""),
        venue_order_id=str(t.get("order") or ""),
        symbol=canonical(str(t.get("symbol"))),
        side=OrderSide(str(t.get("side") or "buy").lower()),
        amount=ccxt_decimal(t.get("amount")) or Decimal(0),
        price=ccxt_decimal(t.get("price")) or Decimal(0),
        at=time_of(t.get("timestamp"), clock),
        fee=fees[0] if len(fees) == 1 else None,
    )
