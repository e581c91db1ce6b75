"""Funding payments of perpetual futures: the optional ``fetch_funding`` seam.

A perpetual's holders pay each other funding every few hours; the venue books it on the
account, not on an order, so it reaches a position's realised PnL only where the venue
lists it (Binance futures: its income history). The seam is optional: an adapter without
:class:`SupportsFunding`, or one that answers None, does not report funding, and positions
on it keep ``funding`` at 0 (the PnL views say ``funding_reported: false``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

#: The most payments one call asks for (Binance's income history: 1,000 a page).
FUNDING_PAGE = 1000


@dataclass(frozen=True, slots=True)
class FundingPayment:
    """One funding payment on the account: ``amount`` received (positive) or paid
    (negative) in ``asset``; ``payment_id`` is the venue's, unique per account."""

    payment_id: str
    symbol: str
    amount: Decimal
    asset: str
    at: datetime


@runtime_checkable
class SupportsFunding(Protocol):
    """An adapter that can list the account's funding payments from ``since`` on, oldest
    first, for one canonical symbol or (None) all of them; None: the venue does not say."""

    async def fetch_funding(
        self, symbol: str | None, since: datetime, limit: int = FUNDING_PAGE
    ) -> list[FundingPayment] | None: ...
