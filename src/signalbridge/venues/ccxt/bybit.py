"""Bybit (V5 API, Unified Trading Account): client ids, position mode, margin mode,
leverage, the server's clock and the key's permissions.

- **Unified Trading Account only.** ccxt is told so (``enableUnifiedAccount``) instead of
  asking ``/v5/user/query-api`` and ``/v5/account/info`` on every new instance; the
  connection test reads ``query-api`` and says when the account is not a UTA.
- **Client order ids** (``orderLinkId``): at most 36 of ``[A-Za-z0-9_-]``, refused here
  before sending. ccxt's bybit sends our unified ``clientOrderId`` on a new order, but not
  on a lookup or a cancel: ``fetch_order(None, ...)`` asks for ``orderId=None`` (an order
  that cannot exist). :class:`ClientIdRoutes` therefore looks orders up by ``orderLinkId``
  on ``/v5/order/realtime`` (open ones, then the last 500 closed ones), then on
  ``/v5/order/history``, and cancels by ``orderLinkId``. A create or cancel answers ids
  only (``orderId``, ``orderLinkId``), so the order is read again after either.
- **Position mode**: one-way (``positionIdx`` 0) unless an order is refused with "position
  idx not match position mode"; then hedge mode (1 the buy side, 2 the sell side) is assumed
  and the order sent once more. Exits carry ``reduceOnly`` in both modes.
- **Margin mode** is the whole account's on a UTA (``ISOLATED_MARGIN`` / ``REGULAR_MARGIN``,
  ``/v5/account/set-margin-mode``): read once, set when it differs; Bybit refuses the switch
  while positions or orders are open (3400045), and the account's mode then stays.
- **Leverage** per symbol (buy and sell alike); Bybit's "not modified" (110043) is success.
- **Clock**: a 10002 (timestamp outside recvWindow) turns on ccxt's
  ``adjustForTimeDifference`` and measures ``/v5/market/time``.
- **Load** (:mod:`.errors`): a 10006 "Too many visits!" waits until the answer's
  ``X-Bapi-Limit-Reset-Timestamp`` (at most a minute); an HTTP 403 "access too frequent"
  is an IP ban of at least the ten minutes Bybit documents.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from functools import wraps
from typing import Any

from ccxt.base.errors import ExchangeNotAvailable, OrderNotFound

from signalbridge.integrations import errors as sb
from signalbridge.venues.base import OrderRequest, OrderRole, OrderSide, SymbolSettings
from signalbridge.venues.ccxt.quirks import Call, ExchangeQuirks, KeyRights, MarketType

#: Bybit's orderLinkId rule (https://bybit-exchange.github.io/docs/v5/order/create-order).
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,36}")
_MODE_REFUSED = re.compile(r"position idx not match position mode", re.IGNORECASE)
_LEVERAGE_SAME = re.compile(r"\b110043\b")
_MARGIN_LOCKED = re.compile(r"\b3400045\b")
#: retCodes that leave a request's outcome unknown (server error, timeout, restart; an order
#: creation or cancellation that timed out), which ccxt reads as refusals (ExchangeError,
#: InvalidOrder): raised as ccxt's ExchangeNotAvailable instead, so a placement becomes
#: AmbiguousOutcome (looked up by client id) and a read a TransientError.
UNSURE_CODES = frozenset({"10000", "10016", "10019", "170001", "170146", "170147"})
_RET_CODE = re.compile(r'"retCode"\s*:\s*(\d+)')
#: query-api permissions that move funds out of the account ("Wallet" group).
_WITHDRAW = frozenset({"Withdraw"})
_TRANSFER = frozenset({"AccountTransfer", "SubMemberTransfer"})


def client_id_problem(client_order_id: str) -> str | None:
    """Why Bybit would refuse ``client_order_id`` as an orderLinkId, or None."""
    if CLIENT_ID.fullmatch(client_order_id):
        return None
    return "Bybit client order ids are 1-36 characters of letters, digits, '-' and '_'"


def position_idx(req: OrderRequest, hedged: bool) -> int:
    """The position an order acts on: 0 in one-way mode; in hedge mode 1 (long) for a buy
    that opens or a sell that closes, 2 (short) the other way round."""
    if not hedged:
        return 0
    closing = req.reduce_only or (req.role is not None and req.role is not OrderRole.ENTRY)
    return 1 if (req.side is OrderSide.BUY) != closing else 2


def key_rights(r: Mapping[str, Any], market_type: str) -> KeyRights:
    """A key's rights from ``GET /v5/user/query-api``."""
    perms = r.get("permissions")
    perms = perms if isinstance(perms, Mapping) else {}

    def granted(group: str) -> set[str]:
        value = perms.get(group)
        return {str(v) for v in value} if isinstance(value, list) else set()

    wallet = granted("Wallet")
    if market_type == "spot":
        trades = "SpotTrade" in granted("Spot")
    else:
        trades = "Order" in granted("ContractTrade") or "DerivativesTrade" in granted("Derivatives")
    unified = str(r.get("uta")) == "1"
    ips = r.get("ips")
    restricted = None if not isinstance(ips, list) else ips not in ([], ["*"])
    notes: list[str] = []
    if not unified:
        notes.append(
            "the account is not a Unified Trading Account; SignalBridge trades Bybit "
            "through a UTA only: upgrade the account on Bybit"
        )
    if restricted is False:
        notes.append(unrestricted_note(r.get("expiredAt")))
    return KeyRights(
        can_trade=trades and unified and str(r.get("readOnly")) == "0",
        can_withdraw=bool(wallet & _WITHDRAW),
        can_transfer=bool(wallet & _TRANSFER),
        ip_restricted=restricted,
        notes=tuple(notes),
    )


def unrestricted_note(expires: Any) -> str:
    """The warning for a key anyone may use from any IP address."""
    when = ""
    if isinstance(expires, str) and expires:
        try:
            at = datetime.fromisoformat(expires.replace("Z", "+00:00"))
            when = f" (this key's: {at:%Y-%m-%d %H:%M} UTC)"
        except ValueError:
            when = ""
    return (
        "this key has no IP whitelist: such a Bybit key expires three months after it was "
        f"created{when}; restrict it to trusted IPs for a key that does not expire"
    )


class ClientIdRoutes:
    """Wraps one ccxt bybit instance's order calls so they work by our client order id
    (``orderLinkId``) and answer whole orders (see the module's docstring), and its error
    handler so that :data:`UNSURE_CODES` are not read as refusals."""

    def __init__(self, exchange: Any) -> None:
        self.exchange = exchange

    def install(self) -> None:
        ex = self.exchange
        create, fetch, cancel = ex.create_order, ex.fetch_order, ex.cancel_order

        @wraps(create)
        async def create_order(
            symbol: str,
            type: str,
            side: str,
            amount: float,
            price: float | None = None,
            params: dict[str, Any] | None = None,
        ) -> Any:
            placed = await create(symbol, type, side, amount, price, params or {})
            if placed.get("status") is not None or not placed.get("clientOrderId"):
                return placed
            try:
                return await self.by_client_id(symbol, str(placed["clientOrderId"]))
            except OrderNotFound:  # placed for sure, not readable yet: open until synced
                return placed

        @wraps(fetch)
        async def fetch_order(
            id: str | None,
            symbol: str | None = None,
            params: dict[str, Any] | None = None,
        ) -> Any:
            rest = dict(params or {})
            cid = rest.pop("clientOrderId", None) or rest.pop("orderLinkId", None)
            if id is None and cid and symbol is not None:
                return await self.by_client_id(symbol, str(cid), rest)
            return await fetch(id, symbol, params or {})

        @wraps(cancel)
        async def cancel_order(
            id: str | None,
            symbol: str | None = None,
            params: dict[str, Any] | None = None,
        ) -> Any:
            rest = dict(params or {})
            cid = rest.pop("clientOrderId", None) or rest.pop("orderLinkId", None)
            if id is None and cid and symbol is not None:
                await cancel(None, symbol, {**rest, "orderLinkId": cid})
                return await self.by_client_id(symbol, str(cid), rest)
            return await cancel(id, symbol, params or {})

        ex.create_order, ex.fetch_order, ex.cancel_order = create_order, fetch_order, cancel_order
        handle_errors = ex.handle_errors

        @wraps(handle_errors)
        def unsure_first(code: int, reason: str, url: str, method: str, *rest: Any) -> Any:
            body = rest[1] if len(rest) > 1 and isinstance(rest[1], str) else ""
            found = _RET_CODE.search(body)
            if found and found.group(1) in UNSURE_CODES:
                raise ExchangeNotAvailable(f"{ex.id} {body}")
            return handle_errors(code, reason, url, method, *rest)

        ex.handle_errors = unsure_first

    async def by_client_id(
        self, symbol: str, cid: str, params: Mapping[str, Any] | None = None
    ) -> Any:
        """The order with orderLinkId ``cid``: among the open orders, then the last 500
        closed ones (``openOnly=1``), then the order history (which may lag, and is where a
        closed order lives after a Bybit server restart); ccxt's OrderNotFound when none
        knows it."""
        query = {**(params or {}), "orderLinkId": cid}
        ex = self.exchange
        for fetch, extra in (
            (ex.fetch_open_orders, {}),
            (ex.fetch_open_orders, {"openOnly": 1}),
            (ex.fetch_canceled_and_closed_orders, {}),
        ):
            answer = await fetch(symbol, None, None, {**query, **extra})
            found = [o for o in answer if o.get("clientOrderId") == cid]
            if found:
                return found[0]
        raise OrderNotFound(f"bybit order with orderLinkId {cid} was not found")


class Bybit(ExchangeQuirks):
    """Bybit spot and USDT perpetuals on a Unified Trading Account."""

    def __init__(self, exchange_id: str, market_type: MarketType) -> None:
        super().__init__(exchange_id, market_type)
        self._hedged = False  # until an order is refused for it
        self._margin: str | None = None  # the account's margin mode, once read
        self._leverage: dict[str, int] = {}

    def options(self) -> dict[str, Any]:
        return {
            "fetchMarkets": {"types": ["spot"] if self.market_type == "spot" else ["linear"]},
            "enableUnifiedAccount": True,
            "enableUnifiedMargin": False,
            "defaultSettle": "USDT",
        }

    def install(self, exchange: Any) -> None:
        """:class:`ClientIdRoutes` around the instance's order calls (no request budgets
        of Bybit's own: the guard's per-account budget is all)."""
        ClientIdRoutes(exchange).install()

    async def order_params(
        self, exchange: Any, call: Call, req: OrderRequest, params: dict[str, Any]
    ) -> None:
        problem = client_id_problem(req.client_order_id)
        if problem is not None:
            raise sb.InvalidRequest(f"{req.client_order_id!r}: {problem}")
        if self.market_type != "linear":
            return
        params["positionIdx"] = position_idx(req, self._hedged)
        if req.reduce_only:
            params["reduceOnly"] = True

    def refused_for_mode(self, exc: sb.IntegrationError) -> bool:
        """Refused for the position mode: nothing was placed; the other mode is the one."""
        if self.market_type == "linear" and _MODE_REFUSED.search(exc.message):
            self._hedged = not self._hedged
            return True
        return False

    async def configure_symbol(
        self, exchange: Any, call: Call, venue: str, symbol: str, leverage: int, margin: str
    ) -> SymbolSettings | None:
        """The account's margin mode (once), then the symbol's leverage (once per value)."""
        if self._leverage.get(venue) == leverage and self._margin == margin:
            return None
        if self._margin is None:
            found: Mapping[str, Any] = await call(lambda: exchange.fetch_margin_mode(venue))
            self._margin = str(found.get("marginMode") or "")
        applied: str | None = margin
        if self._margin != margin:
            try:
                await call(lambda: exchange.set_margin_mode(margin, venue))
                self._margin = margin
            except sb.InvalidRequest as exc:
                if not _MARGIN_LOCKED.search(exc.message):
                    raise
                applied = None  # positions or orders open: the account keeps its mode
        if self._leverage.get(venue) != leverage:
            try:
                await call(lambda: exchange.set_leverage(leverage, venue))
            except sb.InvalidRequest as exc:
                if not _LEVERAGE_SAME.search(exc.message):
                    raise
            self._leverage[venue] = leverage
        mode = "hedge" if self._hedged else "one_way"
        return SymbolSettings(symbol, mode, leverage, applied)

    async def key_rights(self, exchange: Any, call: Call) -> KeyRights:
        answer: Mapping[str, Any] = await call(lambda: exchange.private_get_v5_user_query_api())
        result = answer.get("result")
        return key_rights(result if isinstance(result, Mapping) else {}, self.market_type)

    async def resync_clock(self, exchange: Any) -> bool:
        exchange.options["adjustForTimeDifference"] = True
        await exchange.load_time_difference()
        return True
