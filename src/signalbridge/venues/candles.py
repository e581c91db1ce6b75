"""Recent OHLCV bars from any venue: the optional ``fetch_candles`` seam and its helpers.

Candles are read for the AI market analyst only (ai/analysis.py), never for trading, so the
seam is optional: an adapter without :class:`SupportsCandles` simply gives the analyst
nothing to read. ccxt adapters answer from ``fetch_ohlcv``; the paper venue from the prices
its feed applied (:func:`candles_from_prices`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Protocol, runtime_checkable

from signalbridge.domain.market import Candle

#: Timeframes the analyst may ask for, in seconds (ccxt's unified names).
TIMEFRAMES = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14_400, "1d": 86_400}
MAX_CANDLES = 500


@runtime_checkable
class SupportsCandles(Protocol):
    """An adapter that can read recent bars of a canonical symbol, oldest first."""

    async def fetch_candles(self, symbol: str, timeframe: str, limit: int) -> list[Candle]: ...


def check_request(timeframe: str, limit: int) -> int:
    """The timeframe's length in seconds; ValueError for an unknown one or a bad limit."""
    if timeframe not in TIMEFRAMES:
        raise ValueError(f"unknown timeframe {timeframe!r}; one of {sorted(TIMEFRAMES)}")
    if not 1 <= limit <= MAX_CANDLES:
        raise ValueError(f"limit must be 1..{MAX_CANDLES}")
    return TIMEFRAMES[timeframe]


def candles_from_ccxt(rows: Iterable[object]) -> list[Candle]:
    """ccxt's ``[ms, open, high, low, close, volume]`` rows as candles; a row that is not
    six finite non-negative numbers (a venue's gap, a null volume) is left out."""
    out: list[Candle] = []
    for row in rows:
        if not isinstance(row, list | tuple) or len(row) < 6:
            continue
        try:
            ms = int(row[0])
            values = [Decimal(str(v)) for v in row[1:6]]
        except (TypeError, ValueError, InvalidOperation, OverflowError):
            continue
        if any(not v.is_finite() or v < 0 for v in values):
            continue
        try:
            at = datetime.fromtimestamp(ms / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            continue
        out.append(Candle(at, *values))
    out.sort(key=lambda c: c.opened_at)
    return out


def candles_from_prices(
    samples: Sequence[tuple[datetime, Decimal]], seconds: int, limit: int
) -> list[Candle]:
    """Bars of ``seconds`` from (time, price) samples in time order: the last ``limit``
    buckets that hold a sample (volume 0: a price feed has none)."""
    buckets: dict[int, list[Decimal]] = {}
    for at, price in samples:
        buckets.setdefault(int(at.timestamp()) // seconds, []).append(price)
    out = [
        Candle(
            datetime.fromtimestamp(key * seconds, tz=UTC),
            prices[0],
            max(prices),
            min(prices),
            prices[-1],
            Decimal(0),
        )
        for key, prices in sorted(buckets.items())
    ]
    return out[-limit:]
