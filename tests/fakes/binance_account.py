"""Account settings of the fake Binance: position mode, margin types, key permissions, clock.

What Binance keeps per account (USDⓈ-M position mode, each symbol's margin type) and per
API key (its permissions), and the server's own clock, as the documentation describes them:

- ``GET/POST /fapi/v1/positionSide/dual`` (``dualSidePosition``). In one-way mode an order's
  ``positionSide`` is ``BOTH`` (or absent); in hedge mode it must be ``LONG`` or ``SHORT``,
  else -4061, and ``reduceOnly`` may not be sent at all (-1106). The mode cannot change
  while a position (-4068) or an open order (-4067) exists; the same mode again is -4059.
- ``POST /fapi/v1/marginType`` (``ISOLATED`` / ``CROSSED``; a new account is CROSSED): the
  same type again is -4046, a symbol with a position -4048 or open orders -4047.
- ``GET /sapi/v1/account/apiRestrictions``: every documented flag. A key without an IP
  whitelist keeps "Enable Spot & Margin Trading" for 30 days from activation
  (``tradingAuthorityExpirationTime``), then Binance unchecks it.
- The server clock: tests skew it (:meth:`AccountSettings.skew`), so a client that does
  not adjust for the time difference gets -1021.

Pure logic; the server in :mod:`tests.fakes.binance` calls it under its lock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.binance_book import BinanceBook, BinanceError

POSITION_SIDE_MISMATCH = (-4061, "Order's position side does not match user's setting.")
INVALID_POSITION_SIDE = (-4060, "Invalid position side.")
REDUCE_ONLY_NOT_REQUIRED = (-1106, "Parameter 'reduceOnly' sent when not required.")
NO_NEED_MARGIN_TYPE = (-4046, "No need to change margin type.")
MARGIN_OPEN_ORDERS = (-4047, "Margin type cannot be changed if there exists open orders.")
MARGIN_POSITION = (-4048, "Margin type cannot be changed if there exists position.")
NO_NEED_POSITION_SIDE = (-4059, "No need to change position side.")
SIDE_OPEN_ORDERS = (-4067, "Position side cannot be changed if there exists open orders.")
SIDE_POSITION = (-4068, "Position side cannot be changed if there exists position.")
MARGIN_TYPES = ("ISOLATED", "CROSSED")
#: How long Binance keeps spot trading enabled on a key without an IP whitelist.
UNRESTRICTED_TRADING_MS = 30 * 86_400_000

#: The permission flags of a fresh trade-only key (apiRestrictions' field names).
DEFAULT_PERMISSIONS: dict[str, bool] = {
    "ipRestrict": False,
    "enableReading": True,
    "enableWithdrawals": False,
    "enableInternalTransfer": False,
    "permitsUniversalTransfer": False,
    "enableMargin": False,
    "enableFutures": True,
    "enableVanillaOptions": False,
    "enableFixApiTrade": False,
    "enableFixReadOnly": False,
    "enableSpotAndMarginTrading": True,
    "enablePortfolioMarginTrading": False,
}


def _missing(name: str) -> str:
    return f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."


def _flag(p: dict[str, str], name: str) -> bool:
    value = p.get(name, "").lower()
    if value not in ("true", "false"):
        raise BinanceError(-1102, _missing(name))
    return value == "true"


@dataclass
class AccountSettings:
    """One fake account's settings and its key's permissions (reset with the fake)."""

    dual_side: bool = False
    margin_types: dict[str, str] = field(default_factory=dict)
    permissions: dict[str, bool] = field(default_factory=lambda: dict(DEFAULT_PERMISSIONS))
    #: When the key's permissions were last edited (trading activated), server time in ms.
    activated_ms: int = field(default_factory=lambda: int(time.time() * 1000) - 86_400_000)
    clock_offset_ms: int = 0

    # -- the server's clock ----------------------------------------------------------------

    def now_ms(self) -> int:
        """The server's time: the machine's clock plus the skew a test set."""
        return int(time.time() * 1000) + self.clock_offset_ms

    def skew(self, offset_ms: int) -> None:
        """Run the server's clock ``offset_ms`` ahead of the machine's (negative: behind)."""
        self.clock_offset_ms = offset_ms

    # -- orders ----------------------------------------------------------------------------

    def position_side(self, p: dict[str, str]) -> str:
        """The order's position side, refused as Binance refuses it for this account's mode."""
        side = p.get("positionSide", "BOTH").upper()
        if side not in ("BOTH", "LONG", "SHORT"):
            raise BinanceError(*INVALID_POSITION_SIDE)
        if self.dual_side:
            if side == "BOTH":
                raise BinanceError(*POSITION_SIDE_MISMATCH)
            if "reduceOnly" in p:
                raise BinanceError(*REDUCE_ONLY_NOT_REQUIRED)
        elif side != "BOTH":
            raise BinanceError(*POSITION_SIDE_MISMATCH)
        return side

    # -- settings endpoints ----------------------------------------------------------------

    def position_mode(self) -> dict[str, Any]:
        return {"dualSidePosition": self.dual_side}

    def change_position_mode(self, book: BinanceBook, p: dict[str, str]) -> dict[str, Any]:
        wanted = _flag(p, "dualSidePosition")
        if wanted == self.dual_side:
            raise BinanceError(*NO_NEED_POSITION_SIDE)
        if any(pos.amount != 0 for pos in book.positions.values()):
            raise BinanceError(*SIDE_POSITION)
        if book.open_orders(True, None):
            raise BinanceError(*SIDE_OPEN_ORDERS)
        self.dual_side = wanted
        return {"code": 200, "msg": "success"}

    def margin_type(self, symbol: str) -> str:
        return self.margin_types.get(symbol, "CROSSED")

    def change_margin_type(self, book: BinanceBook, p: dict[str, str]) -> dict[str, Any]:
        symbol = p.get("symbol", "")
        book.spec(symbol, True)
        wanted = p.get("marginType", "").upper()
        if wanted not in MARGIN_TYPES:
            raise BinanceError(-1102, _missing("marginType"))
        if wanted == self.margin_type(symbol):
            raise BinanceError(*NO_NEED_MARGIN_TYPE)
        if any(s == symbol and pos.amount != 0 for (s, _), pos in book.positions.items()):
            raise BinanceError(*MARGIN_POSITION)
        if book.open_orders(True, symbol):
            raise BinanceError(*MARGIN_OPEN_ORDERS)
        self.margin_types[symbol] = wanted
        return {"code": 200, "msg": "success"}

    # -- the key ---------------------------------------------------------------------------

    def restrictions(self, withdrawals: bool, trading: bool) -> dict[str, Any]:
        """``GET /sapi/v1/account/apiRestrictions`` for the key. ``withdrawals`` and
        ``trading`` are the server's older switches; :attr:`permissions` holds the rest."""
        flags = {
            **self.permissions,
            "enableWithdrawals": withdrawals or self.permissions["enableWithdrawals"],
            "enableFutures": trading and self.permissions["enableFutures"],
            "enableSpotAndMarginTrading": trading
            and self.permissions["enableSpotAndMarginTrading"],
        }
        out: dict[str, Any] = {"createTime": self.activated_ms - 86_400_000, **flags}
        if flags["enableSpotAndMarginTrading"] and not flags["ipRestrict"]:
            out["tradingAuthorityExpirationTime"] = self.activated_ms + UNRESTRICTED_TRADING_MS
        return out
