"""Market definitions for the paper venue: sensible defaults, overridable from config.

Crypto pairs are spot or linear depending on the account (``futures``); forex and gold are
always linear CFDs traded in lots, like on a MetaTrader broker.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from signalbridge.domain.market import Market, MarketKind

D = Decimal

#: symbol → (price_tick, amount_step, min_notional, max_leverage, start price)
_CRYPTO: dict[str, tuple[str, str, str, int, str]] = {
    "BTC/USDT": ("0.01", "0.00001", "5", 125, "60000"),
    "ETH/USDT": ("0.01", "0.0001", "5", 100, "3000"),
    "SOL/USDT": ("0.01", "0.001", "5", 50, "150"),
    "BNB/USDT": ("0.01", "0.001", "5", 50, "600"),
    "XRP/USDT": ("0.0001", "0.1", "5", 50, "0.6"),
    "DOGE/USDT": ("0.00001", "1", "5", 50, "0.15"),
    "ADA/USDT": ("0.0001", "0.1", "5", 50, "0.45"),
}

#: symbol → (price_tick, contract_size, max_leverage, start price); lots step 0.01
_CFD: dict[str, tuple[str, str, int, str]] = {
    "EURUSD": ("0.00001", "100000", 500, "1.08"),
    "GBPUSD": ("0.00001", "100000", 500, "1.27"),
    "AUDUSD": ("0.00001", "100000", 500, "0.66"),
    "XAUUSD": ("0.01", "100", 200, "2300"),
}


def default_markets() -> dict[str, Market]:
    """The built-in listing, crypto as spot (see :func:`for_account`)."""
    markets: dict[str, Market] = {}
    for symbol, (tick, step, notional, lev, _) in _CRYPTO.items():
        base, quote = symbol.split("/")
        markets[symbol] = Market(
            symbol=symbol,
            venue_symbol=symbol,
            base=base,
            quote=quote,
            kind=MarketKind.SPOT,
            price_tick=D(tick),
            amount_step=D(step),
            min_amount=D(step),
            min_notional=D(notional),
            max_leverage=lev,
        )
    for symbol, (tick, contract, lev, _) in _CFD.items():
        markets[symbol] = Market(
            symbol=symbol,
            venue_symbol=symbol,
            base=symbol[:3],
            quote=symbol[3:],
            kind=MarketKind.LINEAR,
            price_tick=D(tick),
            amount_step=D("0.01"),
            min_amount=D("0.01"),
            contract_size=D(contract),
            max_leverage=lev,
            tick_value=D(tick) * D(contract),
        )
    return markets


def default_start_prices() -> dict[str, Decimal]:
    prices = {s: D(v[4]) for s, v in _CRYPTO.items()}
    prices.update({s: D(v[3]) for s, v in _CFD.items()})
    return prices


def markets_from_config(config: Mapping[str, Any] | None) -> dict[str, Market]:
    """Defaults plus ``{"BTC/USDT": {"price_tick": "0.1", ...}, "NEW/USDT": {...}}``."""
    markets = default_markets()
    for symbol, spec in (config or {}).items():
        if not isinstance(spec, Mapping):
            raise ValueError(f"market {symbol!r} must be an object")
        fields: dict[str, Any] = {}
        for key, value in spec.items():
            if key in ("price_tick", "amount_step", "min_amount", "min_notional"):
                fields[key] = D(str(value))
            elif key in ("max_amount", "contract_size", "tick_value"):
                fields[key] = None if value is None else D(str(value))
            elif key == "max_leverage":
                fields[key] = None if value is None else int(value)
            elif key == "kind":
                fields[key] = MarketKind(str(value))
            elif key in ("base", "quote"):
                fields[key] = str(value)
            elif key == "active":
                fields[key] = bool(value)
            else:
                raise ValueError(f"market {symbol!r}: unknown field {key!r}")
        if symbol in markets:
            markets[symbol] = replace(markets[symbol], **fields)
        else:
            base, _, quote = symbol.partition("/")
            fields.setdefault("base", base)
            fields.setdefault("quote", quote or "USD")
            fields.setdefault("kind", MarketKind.SPOT if quote else MarketKind.LINEAR)
            markets[symbol] = Market(symbol=symbol, venue_symbol=symbol, **fields)
    return markets


def for_account(markets: Mapping[str, Market], futures: bool) -> dict[str, Market]:
    """The listing as one account sees it: crypto pairs become linear swaps on futures."""
    if not futures:
        return dict(markets)
    view: dict[str, Market] = {}
    for symbol, market in markets.items():
        if market.kind is MarketKind.SPOT and "/" in symbol:
            market = replace(
                market, kind=MarketKind.LINEAR, venue_symbol=f"{symbol}:{market.quote}"
            )
        view[symbol] = market
    return view
