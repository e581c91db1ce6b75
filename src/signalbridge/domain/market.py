"""What a venue lists and how precise it is: pure types shared by sizing and the adapters.

They live in ``domain`` (not ``execution``) because sizing is a pure rule that must not import
the execution layer; ``venues.base`` re-exports them for adapter authors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from enum import StrEnum

ONE = Decimal(1)
ZERO = Decimal(0)


class MarketKind(StrEnum):
    """Spot (balances move) or linear (futures / CFDs: positions and margin). Coin-margined
    (inverse) futures are ``LINEAR`` markets too, with :attr:`Market.inverse` set: they
    hold positions the same way, only their value is counted in the base coin."""

    SPOT = "spot"
    LINEAR = "linear"


@dataclass(frozen=True, slots=True)
class Market:
    """One tradable instrument as a venue lists it.

    ``symbol`` is canonical (``BTC/USDT``, ``EURUSD``); ``venue_symbol`` is what the venue
    calls it (``BTC/USDT:USDT``, ``BTCUSDT``, ``EURUSDm``). Amounts are in base units for
    crypto and in lots for MetaTrader (``contract_size`` base units per lot).
    ``tick_value`` (MetaTrader) is what a move of one ``price_tick`` is worth, for one
    unit of amount, in the account currency; when absent the value of a move is
    ``distance * contract_size`` in the quote currency.

    ``inverse`` (coin-margined futures, Binance COIN-M): ``contract_size`` is a fixed
    amount of the quote currency per contract (BTCUSD_PERP: 100 USD), amounts are in
    contracts, and margin, fees and PnL are in the base coin (:attr:`margin_asset`).
    """

    symbol: str
    venue_symbol: str
    base: str
    quote: str
    kind: MarketKind
    price_tick: Decimal
    amount_step: Decimal
    min_amount: Decimal = ZERO
    min_notional: Decimal = ZERO
    max_amount: Decimal | None = None
    contract_size: Decimal = ONE
    max_leverage: int | None = None
    tick_value: Decimal | None = None
    active: bool = True
    inverse: bool = False

    def __post_init__(self) -> None:
        if self.price_tick <= 0 or self.amount_step <= 0:
            raise ValueError(f"{self.symbol}: price_tick and amount_step must be positive")
        if self.contract_size <= 0:
            raise ValueError(f"{self.symbol}: contract_size must be positive")
        if self.min_amount < 0 or self.min_notional < 0:
            raise ValueError(f"{self.symbol}: minimums cannot be negative")

    def round_amount(self, amount: Decimal) -> Decimal:
        """Round an amount DOWN to the venue's step: never trade more than was sized."""
        return floor_to_step(amount, self.amount_step)

    def round_price(self, price: Decimal) -> Decimal:
        """Round a price to the nearest tick (half up)."""
        return round_to_step(price, self.price_tick)

    @property
    def margin_asset(self) -> str:
        """The asset margin, fees and PnL are counted in: the base coin when inverse."""
        return self.base if self.inverse else self.quote

    def notional(self, amount: Decimal, price: Decimal) -> Decimal:
        """Value of ``amount`` at ``price`` in the quote currency (inverse: the contracts'
        fixed face value, whatever the price)."""
        if self.inverse:
            return amount * self.contract_size
        return amount * self.contract_size * price

    def value(self, amount: Decimal, price: Decimal) -> Decimal:
        """Value of ``amount`` at ``price`` in :attr:`margin_asset`: what sizing weighs
        against the balance (inverse: face value / price, in coins)."""
        if self.inverse:
            return amount * self.contract_size / price
        return self.notional(amount, price)

    def amount_for(self, value: Decimal, price: Decimal) -> Decimal:
        """The amount worth ``value`` of :attr:`margin_asset` at ``price`` (the inverse of
        :meth:`value`, computed without rounding one unit's value first)."""
        if self.inverse:
            return value * price / self.contract_size
        return value / (self.contract_size * price)

    def precision_problem(self, amount: Decimal, price: Decimal | None) -> str | None:
        """Why the venue would refuse this amount/price, or ``None`` when it is acceptable."""
        if amount <= 0:
            return f"amount {amount} must be positive"
        if not is_multiple(amount, self.amount_step):
            return f"amount {amount} is not a multiple of the step {self.amount_step}"
        if amount < self.min_amount:
            return f"amount {amount} is below the minimum {self.min_amount}"
        if self.max_amount is not None and amount > self.max_amount:
            return f"amount {amount} is above the maximum {self.max_amount}"
        if price is not None:
            if price <= 0:
                return f"price {price} must be positive"
            if not is_multiple(price, self.price_tick):
                return f"price {price} is not a multiple of the tick {self.price_tick}"
            notional = self.notional(amount, price)
            if notional < self.min_notional:
                return f"notional {notional} is below the minimum {self.min_notional}"
        return None


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Largest multiple of ``step`` that is ≤ ``value`` (for non-negative values)."""
    units = (value / step).to_integral_value(rounding=ROUND_DOWN)
    return tidy(units * step)


def round_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Nearest multiple of ``step`` (half up)."""
    units = (value / step).to_integral_value(rounding=ROUND_HALF_UP)
    return tidy(units * step)


def is_multiple(value: Decimal, step: Decimal) -> bool:
    return value % step == 0


def tidy(value: Decimal) -> Decimal:
    """Drop trailing zeros without switching to exponent form (``100``, not ``1E+2``)."""
    if value == value.to_integral_value():
        return value.quantize(ONE)
    return value.normalize()


@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLCV bar (``opened_at`` UTC): what a venue's ``fetch_candles`` returns and the
    AI market analyst reads (ai/analysis.py)."""

    opened_at: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
