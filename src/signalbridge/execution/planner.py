"""From a signal, a follow's settings and the market now, to the entry orders (pure).

The planner decides once, before anything is sent: skip (with the reason recorded) or the
exact list of orders. Staleness is checked here so an old or run-away signal never trades.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from signalbridge.domain.bounds import StoreDecimal, check_decimal_inputs
from signalbridge.domain.market import Market, MarketKind
from signalbridge.domain.signals import OrderType, Side, Signal
from signalbridge.domain.sizing import Sized, SizingConfig, SizingMode, SizingSkip, size_order
from signalbridge.venues.base import OrderSide, Ticker, VenueOrderType

HUNDRED = Decimal(100)


MAX_SIGNAL_AGE_SECONDS = 366 * 86_400
"""A year: longer ages are meaningless and overflow date arithmetic."""


class RiskSettings(BaseModel):
    """A follow's guards against stale or run-away signals."""

    model_config = ConfigDict(extra="forbid")

    max_signal_age_seconds: int = Field(default=300, ge=1, le=MAX_SIGNAL_AGE_SECONDS)
    max_deviation_percent: StoreDecimal = Field(default=Decimal(2), gt=0, le=100)
    entry_orders: int = Field(default=1, ge=1, le=10)
    # The AI market analyst as a gate (execution/analyst_gate.py): "skip_when_skip" holds
    # the execution until the signal's analysis arrives (at most analyst_wait_seconds after
    # it was published) and skips it when the analyst says skip; a missing analysis (AI
    # failure, timeout, analysis off on the channel) does what analyst_on_missing says.
    analyst_gate: Literal["off", "skip_when_skip"] = "off"
    analyst_wait_seconds: int = Field(default=20, ge=0, le=300)
    analyst_on_missing: Literal["execute", "skip"] = "execute"


DEFAULT_SIZING = SizingConfig(mode=SizingMode.FIXED_QUOTE, value=Decimal(100))


@dataclass(frozen=True, slots=True)
class OrderIntent:
    leg: str
    side: OrderSide
    type: VenueOrderType
    amount: Decimal
    price: Decimal | None = None
    stop_price: Decimal | None = None
    reduce_only: bool = False
    #: The price this order is meant to get (the signal's entry level; for a market entry
    #: the ticker price it was sized at; for an exit the level that triggered it): its
    #: slippage is measured against it (execution/quality.py).
    reference_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    orders: tuple[OrderIntent, ...]
    leverage: int
    sized: Sized
    contract_size: Decimal = Decimal(1)
    #: Inverse (coin-margined) markets: the base coin PnL and fees are counted in.
    pnl_asset: str | None = None


@dataclass(frozen=True, slots=True)
class Skip:
    reason: str


@dataclass(frozen=True, slots=True)
class Wait:
    """Not now: plan again later (the execution stays pending; the sweeper retries)."""

    reason: str


def netting_guard(
    signal: Signal, market: Market, nets_positions: bool, close_on_opposite: bool
) -> Skip | Wait | None:
    """A signal against one of our open positions on a venue that nets one position per
    symbol: its entry would shrink or flip that position on the venue while our books
    kept two. With ``close_on_opposite`` the monitor closes the old one first and the
    entry waits for it; otherwise the signal is skipped."""
    if not nets_positions or market.kind is not MarketKind.LINEAR:
        return None
    held = "short" if signal.side is Side.LONG else "long"
    if close_on_opposite:
        return Wait(f"waiting for the open {held} on {signal.symbol} to close (close_on_opposite)")
    return Skip(
        f"an open {held} on {signal.symbol} would be netted by this {signal.side}: the venue "
        "keeps one position per symbol (close_on_opposite closes it first)"
    )


def sizing_config(raw: dict[str, Any]) -> SizingConfig:
    """Validate a follow's ``sizing`` dict; every amount must fit the store's NUMERIC(38, 18)."""
    if not raw:
        return DEFAULT_SIZING
    check_decimal_inputs(SizingConfig, raw)
    return SizingConfig.model_validate(raw)


def risk_settings(raw: dict[str, Any]) -> RiskSettings:
    return RiskSettings.model_validate(raw or {})


def staleness(
    signal: Signal, received_at: datetime, ticker: Ticker, risk: RiskSettings, now: datetime
) -> str | None:
    """Why the signal is too old or the market has left it behind, or ``None``."""
    age = now - received_at
    if age > timedelta(seconds=risk.max_signal_age_seconds):
        limit = risk.max_signal_age_seconds
        return f"signal is {int(age.total_seconds())} s old; the limit is {limit} s"
    price = ticker.last
    long = signal.side is Side.LONG
    if signal.stop_loss is not None and (
        (long and price <= signal.stop_loss) or (not long and price >= signal.stop_loss)
    ):
        return f"price {price} is already beyond the stop loss {signal.stop_loss}"
    if signal.take_profits:
        tp1 = signal.take_profits[0]
        if (long and price >= tp1) or (not long and price <= tp1):
            return f"price {price} is already beyond the first target {tp1}"
    if signal.entry is not None:
        ref = signal.entry.high if long else signal.entry.low
        moved = (price - ref) / ref * HUNDRED if long else (ref - price) / ref * HUNDRED
        if moved > risk.max_deviation_percent:
            return (
                f"price {price} has moved {moved.quantize(Decimal('0.01'))} % past the entry "
                f"{ref}; the limit is {risk.max_deviation_percent} %"
            )
    return None


def plan_entry(
    signal: Signal,
    *,
    received_at: datetime,
    market: Market,
    ticker: Ticker,
    balance: Decimal,
    sizing: SizingConfig,
    risk: RiskSettings,
    now: datetime,
) -> Plan | Skip:
    stale = staleness(signal, received_at, ticker, risk, now)
    if stale is not None:
        return Skip(stale)
    long = signal.side is Side.LONG
    side = OrderSide.BUY if long else OrderSide.SELL
    price = ticker.ask if long and ticker.ask else ticker.bid if ticker.bid else ticker.last
    if signal.order_type is OrderType.MARKET or signal.entry is None:
        sized = size_order(
            sizing,
            market,
            balance,
            price,
            signal.stop_loss,
            signal.side,
            signal_leverage=signal.leverage,
        )
        if isinstance(sized, SizingSkip):
            return Skip(sized.detail)
        order = OrderIntent("e0", side, VenueOrderType.MARKET, sized.amount, reference_price=price)
        return Plan((order,), sized.leverage, sized, market.contract_size, pnl_asset_of(market))
    zone = signal.entry
    # Waiting for the price to come back into the zone is a limit; waiting for a breakout
    # beyond the market is a stop order.
    breakout = (long and price < zone.low) or (not long and price > zone.high)
    prices = _ladder(zone.low, zone.high, risk.entry_orders, long)
    reference = sum(prices, Decimal(0)) / len(prices)
    sized = size_order(
        sizing,
        market,
        balance,
        reference,
        signal.stop_loss,
        signal.side,
        signal_leverage=signal.leverage,
    )
    if isinstance(sized, SizingSkip):
        return Skip(sized.detail)
    legs = _split(sized.amount, prices, market)
    if not legs:
        return Skip(f"size {sized.amount} cannot be split into {len(prices)} orders above minimums")
    orders = tuple(
        OrderIntent(
            f"e{i}",
            side,
            VenueOrderType.STOP_MARKET if breakout else VenueOrderType.LIMIT,
            amount,
            price=None if breakout else market.round_price(level),
            stop_price=market.round_price(level) if breakout else None,
            reference_price=level,
        )
        for i, (level, amount) in enumerate(legs)
    )
    return Plan(orders, sized.leverage, sized, market.contract_size, pnl_asset_of(market))


def pnl_asset_of(market: Market) -> str | None:
    """What an execution on ``market`` counts its PnL in, when not the quote currency."""
    return market.margin_asset if market.inverse else None


def _ladder(low: Decimal, high: Decimal, count: int, long: bool) -> list[Decimal]:
    """Entry prices across the zone, the first one nearest the market side."""
    if low == high or count == 1:
        return [high if long else low]
    step = (high - low) / (count - 1)
    levels = (
        [high - step * i for i in range(count)] if long else [low + step * i for i in range(count)]
    )
    return levels


def _split(total: Decimal, prices: list[Decimal], market: Market) -> list[tuple[Decimal, Decimal]]:
    """Split ``total`` evenly over ``prices``; drop legs that would fall under the minimums."""
    for count in range(len(prices), 0, -1):
        part = market.round_amount(total / count)
        chosen = prices[:count]
        if (
            part >= market.min_amount
            and part > 0
            and all(market.notional(part, p) >= market.min_notional for p in chosen)
        ):
            legs = [(p, part) for p in chosen]
            remainder = market.round_amount(total - part * count)
            if remainder > 0:
                legs[0] = (legs[0][0], legs[0][1] + remainder)
            return legs
    return []
