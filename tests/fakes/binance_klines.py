"""Binance's candlestick endpoints for the fake: ``GET /api/v3/klines``, ``/fapi/v1/klines``.

As documented (spot "Kline/Candlestick data", USDⓈ-M "Kline/Candlestick Data"): ``symbol``
and ``interval`` required, ``limit`` default 500 (spot max 1000, futures max 1500), optional
``startTime`` / ``endTime``; each bar an array of 12 fields, times as integers and prices
and volumes as strings: open time, open, high, low, close, volume, close time, quote asset
volume, number of trades, taker buy base volume, taker buy quote volume, ignore ("0").
The bars are built from the prices the test set (``FakeBinance.set_price``) and the
starting quotes; the fake trades no volume, so volumes are ``"0"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from tests.fakes.binance_book import BinanceBook, BinanceError

#: Binance's interval names and their length in milliseconds (1M as 30 days).
INTERVALS: dict[str, int] = {
    "1s": 1_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
    "1M": 2_592_000_000,
}
_MAX_LIMIT = {False: 1000, True: 1500}


class KlineHistory:
    """Every price a symbol had, with the time it was set (ms)."""

    def __init__(self) -> None:
        self.samples: dict[str, list[tuple[int, Decimal]]] = {}

    def record(self, symbol: str, price: Decimal, now_ms: int) -> None:
        self.samples.setdefault(symbol, []).append((now_ms, price))

    def klines(
        self,
        book: BinanceBook,
        p: Mapping[str, str],
        futures: bool,
        now_ms: int,
        fmt: Any,
    ) -> list[list[Any]]:
        symbol = p.get("symbol")
        interval = p.get("interval")
        if not symbol:
            raise BinanceError(
                -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
            )
        if not interval:
            raise BinanceError(
                -1102, "Mandatory parameter 'interval' was not sent, was empty/null, or malformed."
            )
        book.spec(symbol, futures)
        if interval not in INTERVALS:
            raise BinanceError(-1120, "Invalid interval.")
        try:
            limit = int(p.get("limit", "500"))
        except ValueError:
            raise BinanceError(-1100, "Illegal characters found in parameter 'limit'.") from None
        if limit < 1 or limit > _MAX_LIMIT[futures]:
            raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
        step = INTERVALS[interval]
        start, end = int(p.get("startTime", "0")), int(p.get("endTime", str(now_ms)))
        samples = self.samples.get(symbol) or [(now_ms, book.quote(symbol).last)]
        buckets: dict[int, list[Decimal]] = {}
        for at, price in samples:
            if start <= at <= end:
                buckets.setdefault(at // step * step, []).append(price)
        bars = [
            [
                opened,
                fmt(prices[0]),
                fmt(max(prices)),
                fmt(min(prices)),
                fmt(prices[-1]),
                fmt(Decimal(0)),
                opened + step - 1,
                fmt(Decimal(0)),
                0,
                fmt(Decimal(0)),
                fmt(Decimal(0)),
                "0",
            ]
            for opened, prices in sorted(buckets.items())
        ]
        return bars[-limit:]
