"""ccxt's loosely typed numbers and markets as exact values.

ccxt reports numbers as floats or strings and precisions in one of three modes; the ccxt
adapter reads every one of them through these pure functions, so they are tested on their
own, without an exchange.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from signalbridge.venues.base import Market, MarketKind

#: ccxt's ``precisionMode`` values (``ccxt.base.decimal_to_precision``), copied so that
#: reading a market does not import ccxt (a second of start-up); a unit test pins them.
DECIMAL_PLACES = 2
TICK_SIZE = 4


def ccxt_decimal(value: Any) -> Decimal | None:
    """ccxt numbers are floats or strings; ``str`` of a float is its shortest exact form."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def precision_step(value: Any, mode: int) -> Decimal | None:
    """A ccxt precision as a step: TICK_SIZE gives it directly, DECIMAL_PLACES as digits."""
    number = ccxt_decimal(value)
    if number is None or number <= 0:
        return None
    if mode == DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(number))
    if mode == TICK_SIZE:
        return number
    return None  # SIGNIFICANT_DIGITS has no fixed step


def market_from_ccxt(
    m: Mapping[str, Any], canonical: str, kind: MarketKind, mode: int
) -> Market | None:
    """One ccxt market as ours, or ``None`` when it has no fixed price tick or amount step."""
    precision = m.get("precision") or {}
    tick = precision_step(precision.get("price"), mode)
    step = precision_step(precision.get("amount"), mode)
    if tick is None or step is None:
        return None
    limits = m.get("limits") or {}
    amount_limits = limits.get("amount") or {}
    leverage = ccxt_decimal((limits.get("leverage") or {}).get("max"))
    return Market(
        symbol=canonical,
        venue_symbol=str(m["symbol"]),
        base=str(m.get("base")),
        quote=str(m.get("quote")),
        kind=kind,
        price_tick=tick,
        amount_step=step,
        min_amount=ccxt_decimal(amount_limits.get("min")) or Decimal(0),
        min_notional=ccxt_decimal((limits.get("cost") or {}).get("min")) or Decimal(0),
        max_amount=ccxt_decimal(amount_limits.get("max")) or None,
        contract_size=ccxt_decimal(m.get("contractSize")) or Decimal(1),
        max_leverage=int(leverage) if leverage else None,
        active=m.get("active") is not False,
        # Coin-margined: contractSize is USD per contract, margin and PnL in the base coin.
        inverse=m.get("inverse") is True,
    )
