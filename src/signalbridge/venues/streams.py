"""Streamed prices: what the position monitor asks before it spends a REST request.

A price stream is public market data, the same for every account on a venue, so one
stream serves all connections to that venue. Asking for a symbol is also what keeps it
subscribed: a symbol nobody asked for in a while is dropped from the stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from signalbridge.venues.base import ExchangeAdapter, Ticker


class PriceStreams(Protocol):
    """Fresh streamed tickers by venue; an adapter or symbol without one is left out."""

    def latest(self, adapter: ExchangeAdapter, symbols: Sequence[str]) -> dict[str, Ticker]:
        """The fresh streamed ticker of each of ``symbols`` (canonical) that has one, keyed
        by the symbol as asked; asking (re)subscribes the symbols. Never raises, never
        waits: a missing or stale price is for the caller to fetch some other way."""
        ...

    async def close(self) -> None:
        """Stop every stream and close its socket (shutdown)."""
        ...
