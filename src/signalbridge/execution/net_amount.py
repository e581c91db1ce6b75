"""What a position holds net of fees paid in its own coin, and what of it can be sold.

A spot BUY on Binance pays its commission in the coin bought (unless BNB pays it): buying
1 BTC at a 0.1 % rate leaves 0.999 BTC, and a sell of 1 BTC is refused. So a fill's fees
(as the venue reported them: amount and asset) count two ways. Paid in the base asset,
they reduce what is held, and are worth their amount at the fill's price. Paid in the
quote asset (or an asset the venue did not name), they are worth their amount. Paid in a
third asset (BNB) they are kept on the order but not valued: no price for it is known
here. A full exit sells what is held, rounded down to the market's step; what is left
below one step cannot be sold (fee dust) and closes the position.

Pure functions, shared by the recorder (positions from fills) and the exit desk.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from signalbridge.domain.market import tidy
from signalbridge.venues.base import Fee

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class FillFees:
    """One fill's fees as a position counts them."""

    quote: Decimal  # worth, in the quote (account) currency
    held: Decimal  # paid in the base asset: no longer held


def pair_of(symbol: str) -> tuple[str, str] | None:
    """``(base, quote)`` of a canonical crypto symbol (``BTC/USDT``); None for ``EURUSD``."""
    if "/" not in symbol:
        return None
    base, quote = symbol.split("/", 1)
    return base, quote


def stored_fees(
    listed: Sequence[Mapping[str, Any]] | None, fee: Decimal | None, fee_asset: str | None
) -> list[Fee]:
    """An order row's fees: its per-asset list, else its one ``fee``/``fee_asset``."""
    out: list[Fee] = []
    for item in listed or ():
        try:
            out.append(Fee(Decimal(str(item["amount"])), str(item.get("asset") or "")))
        except (KeyError, InvalidOperation, TypeError):
            continue
    if not out and fee:
        out.append(Fee(fee, fee_asset or ""))
    return out


def fill_fees(fees: Iterable[Fee], symbol: str, price: Decimal) -> FillFees:
    """What ``fees`` of a fill at ``price`` cost in the quote currency, and hold back."""
    pair = pair_of(symbol)
    quote = held = ZERO
    for fee in fees:
        if pair is not None and fee.asset == pair[0]:
            held += fee.amount
            quote += fee.amount * price
        elif pair is None or fee.asset in ("", pair[1]):
            quote += fee.amount
    return FillFees(quote, held)


def fees_json(fees: Iterable[Fee]) -> list[dict[str, str]]:
    """Fees as an order row keeps them (``orders.fees``): exact decimal strings."""
    return [{"asset": f.asset, "amount": f"{tidy(f.amount):f}"} for f in fees]


def floor_to(amount: Decimal, step: Decimal | None) -> Decimal:
    """``amount`` rounded down to ``step`` (unchanged without a step)."""
    if not step or step <= 0:
        return amount
    return tidy((amount / step).to_integral_value(rounding=ROUND_FLOOR) * step)
