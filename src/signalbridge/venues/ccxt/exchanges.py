"""Which quirks each ccxt exchange gets, chosen once by exchange id (default: generic).

A new exchange's quirks are one module beside ``binance.py`` plus one line here.
"""

from __future__ import annotations

from signalbridge.venues.ccxt.binance import Binance, BinanceFamily
from signalbridge.venues.ccxt.bybit import Bybit
from signalbridge.venues.ccxt.okx import Okx
from signalbridge.venues.ccxt.quirks import ExchangeQuirks, MarketType

QUIRKS: dict[str, type[ExchangeQuirks]] = {
    "binance": Binance,
    "binanceusdm": Binance,
    "binancecoinm": BinanceFamily,
    "binanceus": BinanceFamily,
    "bybit": Bybit,
    "okx": Okx,
}


def quirks_for(exchange_id: str, market_type: MarketType) -> ExchangeQuirks:
    """The quirks of one exchange and market type."""
    return QUIRKS.get(exchange_id, ExchangeQuirks)(exchange_id, market_type)
