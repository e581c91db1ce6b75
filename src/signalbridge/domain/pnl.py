"""Profit and loss of a position: linear and inverse contracts, fees and funding.

Pure arithmetic, shared by the recorder (realised PnL from fills), the PnL views (open
profit marked to the last price) and the tests.

- **Linear** (spot, USDⓈ-M futures, MetaTrader lots): ``amount`` is in base units times
  ``contract_size``; a price move is worth ``(exit - entry) * amount * contract_size`` in
  the quote currency, the other way round for a short.
- **Inverse** (coin-margined, Binance COIN-M): ``amount`` is in contracts of
  ``contract_size`` quote units each (BTCUSD_PERP: 100 USD); a move is worth
  ``amount * contract_size * (1/entry - 1/exit)`` in the base coin for a long, the
  opposite for a short.

The average entry is what makes closing the whole position at it worth exactly 0: the
amount-weighted mean of the entry prices when linear, their contract-weighted harmonic
mean when inverse (how the venues state an inverse position's entry price).

Realised PnL = price PnL of what was closed - fees + funding (funding received is
positive, paid negative). Sums of positions counted in different assets (an inverse
position's BTC, a linear one's USDT) are never added together: :func:`sum_by_asset`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

ZERO = Decimal(0)
ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class Contract:
    """How a market's amounts are worth money (see the module)."""

    contract_size: Decimal = ONE
    inverse: bool = False


LINEAR = Contract()


def direction(long: bool) -> int:
    return 1 if long else -1


def average_entry(fills: Iterable[tuple[Decimal, Decimal]], inverse: bool = False) -> Decimal:
    """The entry price of ``(amount, price)`` fills; 0 when nothing (or nothing priced) filled."""
    amounts = ZERO
    weighted = ZERO
    for amount, price in fills:
        if amount <= 0:
            continue
        if inverse:
            if price <= 0:
                continue
            weighted += amount / price
        else:
            weighted += amount * price
        amounts += amount
    if amounts <= 0 or weighted <= 0:
        return ZERO
    return amounts / weighted if inverse else weighted / amounts


def price_pnl(
    long: bool, entry: Decimal, price: Decimal, amount: Decimal, contract: Contract = LINEAR
) -> Decimal:
    """What ``amount`` opened at ``entry`` gains when closed at ``price``, before fees."""
    if amount == 0:
        return ZERO
    if contract.inverse:
        if entry <= 0 or price <= 0:
            return ZERO  # no price to value it at
        value = amount * contract.contract_size * (ONE / entry - ONE / price)
    else:
        value = (price - entry) * amount * contract.contract_size
    return value * direction(long)


def realised(
    long: bool,
    entry: Decimal,
    exits: Iterable[tuple[Decimal, Decimal]],
    contract: Contract = LINEAR,
    *,
    fees: Decimal = ZERO,
    funding: Decimal = ZERO,
) -> Decimal:
    """Realised PnL of ``(amount, price)`` exits of a position entered at ``entry``, net of
    ``fees`` and with ``funding`` (positive: received)."""
    gross = sum((price_pnl(long, entry, p, a, contract) for a, p in exits), ZERO)
    return gross - fees + funding


# --- sums ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PositionPnl:
    """One position's PnL as the views read it: ``unrealised`` None when no mark is known
    (an open position never priced yet), 0 for a closed one."""

    asset: str
    realised: Decimal
    fees: Decimal
    funding: Decimal
    unrealised: Decimal | None
    open: bool
    marked_at: datetime | None = None


@dataclass(slots=True)
class Totals:
    """Sums of positions counted in one asset."""

    asset: str
    realised: Decimal = ZERO
    unrealised: Decimal = ZERO
    fees: Decimal = ZERO
    funding: Decimal = ZERO
    positions: int = 0
    open_positions: int = 0
    #: open positions without a mark: their open profit is missing from ``unrealised``
    unmarked: int = 0
    #: the oldest mark the unrealised sum rests on
    marked_at: datetime | None = None

    @property
    def total(self) -> Decimal:
        return self.realised + self.unrealised

    def add(self, p: PositionPnl) -> None:
        self.realised += p.realised
        self.fees += p.fees
        self.funding += p.funding
        self.positions += 1
        if p.open:
            self.open_positions += 1
            if p.unrealised is None:
                self.unmarked += 1
            else:
                self.unrealised += p.unrealised
            if p.marked_at is not None and (self.marked_at is None or p.marked_at < self.marked_at):
                self.marked_at = p.marked_at


def sum_by_asset(items: Iterable[PositionPnl]) -> dict[str, Totals]:
    """Totals keyed by the asset PnL is counted in, never mixing two assets."""
    out: dict[str, Totals] = {}
    for item in items:
        out.setdefault(item.asset, Totals(item.asset)).add(item)
    return out
