"""Per-account venue rules (fees, slippage, spread, partial fills) and the price view.

They are stored with the paper account, so each paper connection can model a different
venue while sharing one price feed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from signalbridge.domain.market import Market, tidy

ZERO = Decimal(0)
EXACT = Decimal("1e-12")
DEFAULT_MAKER = Decimal("0.0002")
DEFAULT_TAKER = Decimal("0.0005")


def exact(value: Decimal) -> Decimal:
    """Derived money values (averages, margins, fees) kept to 12 places, so both stores
    (SQLite text, PostgreSQL NUMERIC(38,18)) hold exactly what the venue computed."""
    return tidy(value.quantize(EXACT)) if value else ZERO


@dataclass(frozen=True, slots=True)
class VenueRules:
    maker_fee: Decimal = DEFAULT_MAKER
    taker_fee: Decimal = DEFAULT_TAKER
    slippage: Decimal = ZERO
    spread: Decimal = ZERO
    max_fill_fraction: Decimal | None = None
    max_fill_amount: Decimal | None = None
    futures: bool = False

    def __post_init__(self) -> None:
        for name in ("maker_fee", "taker_fee", "slippage", "spread"):
            value: Decimal = getattr(self, name)
            if value < 0 or value >= Decimal("0.5"):
                raise ValueError(f"{name} must be a fraction in [0, 0.5)")
        if self.max_fill_fraction is not None and not 0 < self.max_fill_fraction <= 1:
            raise ValueError("max_fill_fraction must be in (0, 1]")
        if self.max_fill_amount is not None and self.max_fill_amount <= 0:
            raise ValueError("max_fill_amount must be positive")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> VenueRules:
        def dec(key: str, default: Decimal | None) -> Decimal | None:
            value = data.get(key)
            return default if value is None else Decimal(str(value))

        return cls(
            maker_fee=dec("maker_fee", DEFAULT_MAKER) or ZERO,
            taker_fee=dec("taker_fee", DEFAULT_TAKER) or ZERO,
            slippage=dec("slippage", ZERO) or ZERO,
            spread=dec("spread", ZERO) or ZERO,
            max_fill_fraction=dec("max_fill_fraction", None),
            max_fill_amount=dec("max_fill_amount", None),
            futures=bool(data.get("futures", False)),
        )

    def to_mapping(self) -> dict[str, Any]:
        def text(value: Decimal | None) -> str | None:
            return None if value is None else str(value)

        return {
            "maker_fee": text(self.maker_fee),
            "taker_fee": text(self.taker_fee),
            "slippage": text(self.slippage),
            "spread": text(self.spread),
            "max_fill_fraction": text(self.max_fill_fraction),
            "max_fill_amount": text(self.max_fill_amount),
            "futures": self.futures,
        }


@dataclass(frozen=True, slots=True)
class Quote:
    """Bid/ask around the last price (spread split evenly), on the market's tick."""

    bid: Decimal
    ask: Decimal
    last: Decimal

    @classmethod
    def around(cls, last: Decimal, market: Market, spread: Decimal) -> Quote:
        half = last * spread / 2
        tick = market.price_tick
        bid = ((last - half) / tick).to_integral_value(rounding=ROUND_FLOOR) * tick
        ask = ((last + half) / tick).to_integral_value(rounding=ROUND_CEILING) * tick
        return cls(bid=max(bid, tick), ask=max(ask, tick), last=last)
