"""Binance account truths the adapter must follow: position mode, symbol settings, key rights.

- **Position mode** (``GET /fapi/v1/positionSide/dual``, ccxt ``fetch_position_mode``), read
  once per connection and again when an order is refused for it (-4061). One-way mode:
  exits carry ``reduceOnly`` and no ``positionSide``. Hedge mode: every order (algo orders
  too) names the position it acts on, ``LONG`` or ``SHORT`` (closing a long is a SELL on
  LONG), and ``reduceOnly`` may not be sent (-1106).
- **Leverage and margin type**, set explicitly per symbol (1x too) once per connection;
  Binance's "no need to change margin type" (-4046) is success (ccxt answers it so). The
  margin type cannot change while the symbol has a position or open orders (-4048 /
  -4047): the venue's type then stays, is reported as unknown (None) and is tried again
  at the symbol's next plan.
- **Key rights** (``GET /sapi/v1/account/apiRestrictions``): withdrawals, internal and
  universal transfers, trading, and whether the key is restricted to trusted IPs (without,
  Binance unchecks "Enable Spot & Margin Trading" 30 days after it was enabled).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from signalbridge.integrations import errors as sb
from signalbridge.venues.base import OrderRequest, OrderRole, OrderSide, SymbolSettings
from signalbridge.venues.ccxt.quirks import Call, KeyRights

_MODE_REFUSED = re.compile(r"-4061\b")
_MARGIN_LOCKED = re.compile(r"-404[78]\b")
_MARGIN_ALREADY = re.compile(r"-4046\b")
MARGIN_TYPES = ("isolated", "cross")


def position_side(req: OrderRequest) -> str:
    """The hedge-mode position an order acts on: entries buy LONG / sell SHORT, exits the
    other way round (a SELL closing a long is LONG)."""
    closing = req.reduce_only or (req.role is not None and req.role is not OrderRole.ENTRY)
    return "LONG" if (req.side is OrderSide.BUY) != closing else "SHORT"


class FuturesAccount:
    """One USDⓈ-M connection's account settings, read and set once (per adapter)."""

    def __init__(self) -> None:
        self._hedged: bool | None = None
        self._set: dict[str, tuple[int, str | None]] = {}

    async def hedged(self, exchange: Any, call: Call) -> bool:
        """Whether the account is in hedge mode (read once, until :meth:`refused_for_mode`)."""
        if self._hedged is None:
            answer: Mapping[str, Any] = await call(lambda: exchange.fetch_position_mode())
            self._hedged = bool(answer.get("hedged"))
        return self._hedged

    def refused_for_mode(self, exc: sb.IntegrationError) -> bool:
        """True (and the mode forgotten) when an order was refused for the position mode."""
        if isinstance(exc, sb.InvalidRequest) and _MODE_REFUSED.search(exc.message):
            self._hedged = None
            return True
        return False

    async def order_params(
        self, exchange: Any, call: Call, req: OrderRequest, params: dict[str, Any]
    ) -> None:
        """What the account's mode needs on this order."""
        if await self.hedged(exchange, call):
            params["positionSide"] = position_side(req)
        elif req.reduce_only:
            params["reduceOnly"] = True

    async def configure(
        self, exchange: Any, call: Call, venue: str, symbol: str, leverage: int, margin: str
    ) -> SymbolSettings | None:
        """Set the symbol's margin type and leverage unless this connection already did;
        what was set, or None when nothing had to be."""
        hedged = await self.hedged(exchange, call)
        done = self._set.get(venue)
        if done == (leverage, margin):
            return None
        applied: str | None = margin
        if done is None or done[1] != margin:
            try:
                await call(lambda: exchange.set_margin_mode(margin, venue))
            except sb.InvalidRequest as exc:
                if _MARGIN_LOCKED.search(exc.message):
                    applied = None  # a position or open orders: Binance keeps the current type
                elif not _MARGIN_ALREADY.search(exc.message):  # ccxt raises "no need" too
                    raise
        if done is None or done[0] != leverage:
            await call(lambda: exchange.set_leverage(leverage, venue))
        self._set[venue] = (leverage, applied)
        return SymbolSettings(symbol, "hedge" if hedged else "one_way", leverage, applied)


def key_rights(r: Mapping[str, Any], market_type: str) -> KeyRights:
    """A key's rights from Binance's apiRestrictions answer."""
    flag = "enableSpotAndMarginTrading" if market_type == "spot" else "enableFutures"
    restricted = r.get("ipRestrict")
    notes: tuple[str, ...] = ()
    if restricted is False:
        notes = (unrestricted_note(r.get("tradingAuthorityExpirationTime")),)
    return KeyRights(
        can_trade=bool(r.get(flag)),
        can_withdraw=bool(r.get("enableWithdrawals")),
        can_transfer=bool(r.get("enableInternalTransfer") or r.get("permitsUniversalTransfer")),
        ip_restricted=None if restricted is None else bool(restricted),
        notes=notes,
    )


def unrestricted_note(expires_ms: Any) -> str:
    """The warning for a key anyone may use from any IP address."""
    when = ""
    if isinstance(expires_ms, int | float) and expires_ms > 0:
        at = datetime.fromtimestamp(expires_ms / 1000, tz=UTC)
        when = f" (this key's: {at:%Y-%m-%d %H:%M} UTC)"
    return (
        "this key has no IP whitelist: Binance switches off its Spot & Margin Trading "
        f"permission 30 days after it was enabled{when}; restrict it to trusted IPs"
    )
