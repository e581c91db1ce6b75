"""Canonical symbol ↔ venue symbol, per connection.

Signals speak canonical symbols (``BTC/USDT``, ``EURUSD``); each venue spells them its own
way (``BTC/USDT:USDT`` for a ccxt linear swap, ``BTCUSDT`` raw, ``EURUSDm`` or ``EURUSD.r``
with a broker suffix). A connection's config picks a style, an optional prefix/suffix and an
explicit map for the odd ones (``XAUUSD`` → ``GOLD``); an explicit entry always wins.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from signalbridge.integrations.errors import SymbolNotListed

#: Quote currencies that mark a slash-less crypto pair (``BTCUSDT`` → ``BTC/USDT``). Plain
#: ``USD`` is left out on purpose: ``EURUSD`` is a forex symbol, canonical without a slash.
CRYPTO_QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "DAI")


class SymbolStyle(StrEnum):
    SLASH = "slash"  # BTC/USDT (ccxt spot)
    LINEAR = "linear"  # BTC/USDT:USDT (ccxt USDT-margined swap; settle = quote)
    CONCAT = "concat"  # BTCUSDT (raw venue ids, MetaTrader)


def canonicalize(symbol: str) -> str:
    """Upper-case, trimmed, and ``BTCUSDT``/``BTC-USDT``/``BTC/USDT:USDT`` → ``BTC/USDT``."""
    text = symbol.strip().upper().replace("-", "/")
    if ":" in text:
        text = text.split(":", 1)[0]
    if "/" not in text:
        for quote in CRYPTO_QUOTES:
            if text.endswith(quote) and len(text) > len(quote) + 1:
                return f"{text[: -len(quote)]}/{quote}"
    return text


@dataclass(frozen=True, slots=True)
class SymbolMap:
    """One connection's naming rules; pure, so the same rules map both ways."""

    venue: str
    style: SymbolStyle = SymbolStyle.SLASH
    prefix: str = ""
    suffix: str = ""
    explicit: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, venue: str, config: Mapping[str, Any]) -> SymbolMap:
        """Read ``symbol_style``, ``symbol_prefix``, ``symbol_suffix`` and ``symbol_map``."""
        raw_map = config.get("symbol_map") or {}
        if not isinstance(raw_map, Mapping):
            raise ValueError("symbol_map must be an object of canonical → venue symbol")
        explicit = {canonicalize(str(k)): str(v).strip() for k, v in raw_map.items()}
        return cls(
            venue=venue,
            style=SymbolStyle(str(config.get("symbol_style", SymbolStyle.SLASH.value))),
            prefix=str(config.get("symbol_prefix", "")),
            suffix=str(config.get("symbol_suffix", "")),
            explicit=explicit,
        )

    def to_venue(self, symbol: str) -> str:
        """The venue's name for a canonical symbol (not checked against the listing)."""
        canonical = canonicalize(symbol)
        if canonical in self.explicit:
            return self.explicit[canonical]
        name = canonical
        if "/" in canonical:
            base, quote = canonical.split("/", 1)
            if self.style is SymbolStyle.LINEAR:
                name = f"{base}/{quote}:{quote}"
            elif self.style is SymbolStyle.CONCAT:
                name = f"{base}{quote}"
        return f"{self.prefix}{name}{self.suffix}"

    def to_canonical(self, venue_symbol: str) -> str:
        """The canonical symbol for a venue symbol (inverse of :meth:`to_venue`)."""
        for canonical, venue_name in self.explicit.items():
            if venue_name == venue_symbol:
                return canonical
        name = venue_symbol
        if self.prefix and name.startswith(self.prefix):
            name = name[len(self.prefix) :]
        if self.suffix and name.endswith(self.suffix):
            name = name[: -len(self.suffix)]
        return canonicalize(name)

    def resolve(self, symbol: str, listed: Collection[str]) -> str:
        """Venue symbol for ``symbol``, or SymbolNotListed naming the symbol and the venue."""
        venue_symbol = self.to_venue(symbol)
        if venue_symbol not in listed:
            raise SymbolNotListed(
                f"{canonicalize(symbol)} is not listed on {self.venue} "
                f"(looked for {venue_symbol!r})"
            )
        return venue_symbol
