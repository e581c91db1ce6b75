"""Funding payments as ccxt's ``fetch_funding_history`` parses them (venues/funding.py).

Binance answers from its income history (USDⓈ-M ``GET /fapi/v1/income``, COIN-M
``GET /dapi/v1/income``, ``incomeType=FUNDING_FEE``): ``income`` is a decimal string
(positive: received), ``tranId`` the payment's id, ``time`` its instant in ms. Only
exchanges whose answer was checked against a fake that follows their documentation are
asked; the others do not report funding.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from signalbridge.venues.ccxt.markets import ccxt_decimal
from signalbridge.venues.ccxt.orders import time_of
from signalbridge.venues.funding import FundingPayment

#: ccxt exchange ids whose funding history is read.
FUNDING_EXCHANGES = frozenset({"binance", "binanceusdm", "binancecoinm"})
#: No funding payment is this large: a bigger number is a malformed answer, not money.
_MAX_AMOUNT = Decimal("1e15")
_MAX_ID = 100


def reports_funding(exchange: str, market_type: str) -> bool:
    """Whether a ccxt connection of this exchange and market type lists funding."""
    return market_type != "spot" and exchange in FUNDING_EXCHANGES


def funding_from_ccxt(
    f: Mapping[str, Any], canonical: Callable[[str], str], clock: Callable[[], datetime]
) -> FundingPayment | None:
    """One ccxt funding-history entry; None without an id, a symbol or a plausible amount.
    The venue's own decimal string is read where there is one (ccxt's ``amount`` is a
    float)."""
    info = f.get("info")
    exact = ccxt_decimal(info.get("income")) if isinstance(info, Mapping) else None
    amount = exact if exact is not None else ccxt_decimal(f.get("amount"))
    payment_id = f.get("id")
    symbol = f.get("symbol")
    if amount is None or abs(amount) >= _MAX_AMOUNT or not payment_id or not symbol:
        return None
    if len(str(payment_id)) > _MAX_ID:
        return None
    return FundingPayment(
        payment_id=str(payment_id),
        symbol=canonical(str(symbol)),
        amount=amount,
        asset=str(f.get("code") or ""),
        at=time_of(f.get("timestamp"), clock),
    )
