"""How long the fake Binance remembers finished orders, on a clock tests move forward.

Binance's order lookups forget (the documented rules of the query endpoints):

- USDⓈ-M ``GET /fapi/v1/order`` and ``GET /fapi/v1/algoOrder``: an order whose status is
  CANCELED or EXPIRED, that has no filled trade, and whose creation is more than 3 days
  ago is not found; neither is any order created more than 90 days ago (open or not). The
  open-order lists (``/fapi/v1/openOrders``, ``/fapi/v1/openAlgoOrders``) still show an
  order that is open, however old.
- Spot ``GET /api/v3/order`` keeps more: only an order CANCELED or EXPIRED with no executed
  quantity and last updated more than 90 days ago is archived, answered -2026.

Time passes with :func:`advance`: every order of the account becomes that much older (its
creation, update and trigger times move back), so the rules compare against the real
clock and nothing else of the fake (signatures, rate limits) is touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Protocol

from tests.fakes.binance_book import ORDER_NOT_FOUND, BinanceError

DAY_MS = 86_400_000
#: Unfilled cancelled or expired futures orders are found for this long after creation.
FINISHED_KEPT_MS = 3 * DAY_MS
#: No futures order is found once it is this old; spot archives unfilled finished ones.
KEPT_MS = 90 * DAY_MS
SPOT_ARCHIVED = (
    -2026,
    "Order was canceled or expired with no executed qty over 90 days ago and has been archived.",
)
FORGETTABLE = ("CANCELED", "EXPIRED")


class Aged(Protocol):
    """What ageing moves: an order's (or algo order's) times in milliseconds."""

    created_ms: int
    updated_ms: int


def futures_forgets(created_ms: int, status: str, filled: bool, now_ms: int) -> bool:
    """Whether a USDⓈ-M query no longer finds this order (regular or algo)."""
    age = now_ms - created_ms
    return age > KEPT_MS or (status in FORGETTABLE and not filled and age > FINISHED_KEPT_MS)


def check_futures(created_ms: int, status: str, filled: bool, now_ms: int) -> None:
    """-2013 for a regular USDⓈ-M order the query forgot."""
    if futures_forgets(created_ms, status, filled, now_ms):
        raise BinanceError(*ORDER_NOT_FOUND)


def check_spot(status: str, filled: bool, updated_ms: int, now_ms: int) -> None:
    """-2026 for a spot order archived after 90 days (unfilled and finished only)."""
    if status in FORGETTABLE and not filled and now_ms - updated_ms > KEPT_MS:
        raise BinanceError(*SPOT_ARCHIVED)


def advance(orders: Iterable[Aged], ms: int) -> None:
    """``ms`` milliseconds pass for these orders: their recorded times move back."""
    for o in orders:
        o.created_ms -= ms
        o.updated_ms -= ms
        trigger = getattr(o, "trigger_ms", 0)
        if trigger:
            o.trigger_ms = trigger - ms  # type: ignore[attr-defined]
        fills = getattr(o, "fills", None)
        if fills:
            fills[:] = [replace(f, time_ms=f.time_ms - ms) for f in fills]
