"""How much to trade for one follow: a pure rule from config, market, balance and prices.

Modes (``SizingConfig.mode``):

* ``fixed_quote``: ``value`` quote currency of margin (spot: of cost); the position's
  notional is ``value × leverage``. On an inverse (coin-margined) market margin is in the
  base coin, so ``value`` is in that coin (0.01 = 0.01 BTC of margin on BTCUSD_PERP).
* ``fixed_base``: ``value`` base units (crypto), lots (MetaTrader) or contracts (inverse).
* ``percent_balance``: ``value`` % of the free balance as margin, × leverage.
* ``risk_percent``: the loss if the stop is hit is ``value`` % of the balance; needs a stop.

Balances, ``max_notional`` and the results' ``notional``/``margin``/``risk`` are in the
market's margin asset (:attr:`Market.margin_asset`: the quote currency, or the base coin on
an inverse market, where one contract is worth ``contract_size / price`` coins).

Then caps apply (max leverage, max position, max notional, the venue's max amount, what the
balance can carry), the amount is rounded DOWN to the venue's step and prices to its tick.
A result that breaks the venue's minimums is a :class:`SizingSkip` with the reason, not an
exception: the engine records it on the execution.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from signalbridge.domain.market import ZERO, Market, MarketKind
from signalbridge.domain.signals import Side

HUNDRED = Decimal(100)


class SizingMode(StrEnum):
    FIXED_QUOTE = "fixed_quote"
    FIXED_BASE = "fixed_base"
    PERCENT_BALANCE = "percent_balance"
    RISK_PERCENT = "risk_percent"


class SizingConfig(BaseModel):
    """Per-follow sizing settings; stored as JSON on the follow (decimals as strings)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: SizingMode
    value: Decimal = Field(gt=0)
    leverage: int | None = Field(default=None, ge=1)
    max_leverage: int | None = Field(default=None, ge=1)
    use_signal_leverage: bool = True
    max_position: Decimal | None = Field(default=None, gt=0)
    max_notional: Decimal | None = Field(default=None, gt=0)
    fee_reserve_percent: Decimal = Field(default=Decimal("0.2"), ge=0, lt=50)

    @model_validator(mode="after")
    def _percent_in_range(self) -> SizingConfig:
        if self.mode in (SizingMode.PERCENT_BALANCE, SizingMode.RISK_PERCENT):
            if self.value > HUNDRED:
                raise ValueError("a percentage cannot exceed 100")
        return self


class SkipReason(StrEnum):
    INVALID_PRICES = "invalid_prices"
    NO_STOP = "no_stop"
    NO_BALANCE = "no_balance"
    MAX_POSITION_REACHED = "max_position_reached"
    BELOW_MIN_AMOUNT = "below_min_amount"
    BELOW_MIN_NOTIONAL = "below_min_notional"
    MARKET_INACTIVE = "market_inactive"


@dataclass(frozen=True, slots=True)
class SizingSkip:
    """No order: ``reason`` is a code, ``detail`` a sentence for the execution record."""

    reason: SkipReason
    detail: str


@dataclass(frozen=True, slots=True)
class Sized:
    """An order size that respects the venue's precision and limits."""

    amount: Decimal
    price: Decimal
    stop_price: Decimal | None
    leverage: int
    notional: Decimal
    margin: Decimal
    risk: Decimal | None
    capped_by: tuple[str, ...] = field(default_factory=tuple)


SizeResult = Sized | SizingSkip


def effective_leverage(config: SizingConfig, market: Market, signal_leverage: int | None) -> int:
    """Leverage to use: the signal's (if allowed) or the follow's, capped; 1 on spot."""
    if market.kind is MarketKind.SPOT:
        return 1
    wanted = (signal_leverage if config.use_signal_leverage else None) or config.leverage or 1
    for cap in (config.max_leverage, market.max_leverage):
        if cap is not None:
            wanted = min(wanted, cap)
    return max(wanted, 1)


def loss_per_unit(market: Market, entry: Decimal, stop: Decimal) -> Decimal:
    """Account-currency loss per unit of amount if price moves from entry to stop
    (inverse: coins, ``contract_size × |1/entry − 1/stop|`` per contract)."""
    if market.inverse:
        return market.contract_size * abs(entry - stop) / (entry * stop)
    distance = abs(entry - stop)
    if market.tick_value is not None:
        return distance / market.price_tick * market.tick_value
    return distance * market.contract_size


def size_order(
    config: SizingConfig,
    market: Market,
    balance: Decimal,
    entry_price: Decimal,
    stop_price: Decimal | None,
    side: Side,
    *,
    signal_leverage: int | None = None,
    current_position: Decimal = ZERO,
) -> SizeResult:
    """Size one order. ``balance`` is the free balance in the quote/account currency;
    ``current_position`` is what this follow already holds on the symbol (for max_position).
    On an inverse market ``balance`` is in the margin coin and the amount is in contracts.
    """
    if not market.active:
        return SizingSkip(SkipReason.MARKET_INACTIVE, f"{market.symbol} is not trading")
    price = market.round_price(entry_price)
    if price <= 0:
        return SizingSkip(SkipReason.INVALID_PRICES, f"entry price {entry_price} is not positive")
    stop = market.round_price(stop_price) if stop_price is not None else None
    if stop is not None:
        wrong_side = stop >= price if side is Side.LONG else stop <= price
        if wrong_side or stop <= 0:
            return SizingSkip(
                SkipReason.INVALID_PRICES,
                f"stop {stop} is not on the losing side of entry {price} for a {side} trade",
            )
    leverage = effective_leverage(config, market, signal_leverage)
    capped_by: list[str] = []

    if config.mode is SizingMode.RISK_PERCENT:
        if stop is None:
            return SizingSkip(SkipReason.NO_STOP, "risk sizing needs a stop loss")
        if balance <= 0:
            return SizingSkip(SkipReason.NO_BALANCE, "no free balance to risk")
        raw = balance * config.value / HUNDRED / loss_per_unit(market, price, stop)
    elif config.mode is SizingMode.FIXED_BASE:
        raw = config.value
    else:
        margin = config.value
        if config.mode is SizingMode.PERCENT_BALANCE:
            if balance <= 0:
                return SizingSkip(SkipReason.NO_BALANCE, "no free balance")
            margin = balance * config.value / HUNDRED
        raw = market.amount_for(margin * leverage, price)

    caps: list[tuple[str, Decimal]] = []
    if config.max_notional is not None:
        caps.append(("max_notional", market.amount_for(config.max_notional, price)))
    if config.max_position is not None:
        room = config.max_position - abs(current_position)
        if room <= 0:
            return SizingSkip(
                SkipReason.MAX_POSITION_REACHED,
                f"position {abs(current_position)} already at max {config.max_position}",
            )
        caps.append(("max_position", room))
    if market.max_amount is not None:
        caps.append(("venue_max_amount", market.max_amount))
    usable = balance * (HUNDRED - config.fee_reserve_percent) / HUNDRED
    caps.append(("balance", market.amount_for(max(usable, ZERO) * leverage, price)))
    amount = raw
    for name, cap in caps:
        if cap < amount:
            amount = cap
            capped_by.append(name)

    amount = market.round_amount(amount)
    if amount <= 0 or amount < market.min_amount:
        return SizingSkip(
            SkipReason.BELOW_MIN_AMOUNT,
            f"size {amount} is below the minimum {market.min_amount} "
            f"(step {market.amount_step}) for {market.symbol}",
        )
    face = market.notional(amount, price)  # the venue's minimum is in the quote currency
    if face < market.min_notional:
        return SizingSkip(
            SkipReason.BELOW_MIN_NOTIONAL,
            f"order value {face} is below the minimum {market.min_notional} for {market.symbol}",
        )
    notional = market.value(amount, price)
    risk = amount * loss_per_unit(market, price, stop) if stop is not None else None
    return Sized(
        amount=amount,
        price=price,
        stop_price=stop,
        leverage=leverage,
        notional=notional,
        margin=notional / leverage,
        risk=risk,
        capped_by=tuple(capped_by),
    )
