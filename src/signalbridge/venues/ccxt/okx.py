"""OKX (API v5): client order ids in OKX's alphabet, the trade mode on every order, the
account's position mode, leverage per margin mode, and key permissions.

What sets OKX apart from ccxt's unified calls (https://www.okx.com/docs-v5/en/):

- **Client order ids** (``clOrdId``) are 1-32 case-sensitive letters and digits: ours
  (``sb-42-e0``) carry ``-`` and ``_``. They are written in OKX's alphabet at ccxt's
  request boundary (``Z`` → ``Z0``, ``-`` → ``Z1``, ``_`` → ``Z2``: ``sbZ142Z1e0``) and read
  back from every answer, so the adapter, the engine and the venue's open orders all speak
  of the same id. An id whose escaped form exceeds 32 characters is sent as a stable hash
  (``Z9`` + 30 hex digits, which no escaped id can be): still found and cancelled by id,
  but not recognised as ours in an order list (the engine's ids are far shorter).
- **Answers to placing and cancelling are acknowledgements** (ids and ``sCode`` only): the
  order is read back by its ``ordId`` for its state, fills and fees.
- **Trade mode** (``tdMode``) is on every order: ``cash`` on spot (ccxt's default), the
  connection's margin type (``isolated``/``cross``) on SWAP; each margin mode holds its own
  position, so an exit uses the mode its position was opened in (read from the position
  when this adapter has not set the symbol itself, e.g. after a restart).
- **Position mode** (``GET /api/v5/account/config``, ``posMode``), read once and again when
  an order is refused for its ``posSide`` (51000): ``net_mode`` orders carry ``reduceOnly``
  on exits; ``long_short_mode`` orders name the position (``posSide`` ``long``/``short``:
  closing a long is a sell on ``long``) and carry no ``reduceOnly``.
- **Leverage** is set per instrument and margin mode (``POST /api/v5/account/set-leverage``),
  and per side for isolated positions in ``long_short_mode``; OKX has no separate call for
  the margin type.
- **Key permissions** are in the same ``account/config`` answer (``perm``:
  ``read_only,trade,withdraw``; ``ip``: the key's bound IPs).
- The **passphrase** chosen when the key was made is the connection's ``password`` secret.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any

from signalbridge.integrations import errors as sb
from signalbridge.venues.base import (
    OrderRequest,
    OrderRole,
    OrderSide,
    SymbolSettings,
    VenueOrder,
)
from signalbridge.venues.ccxt.quirks import Call, ExchangeQuirks, KeyRights, MarketType
from signalbridge.venues.symbols import canonicalize

#: OKX's limit on ``clOrdId`` (letters and digits only).
MAX_CLORDID = 32
_ESCAPE = {"Z": "Z0", "-": "Z1", "_": "Z2"}
_UNESCAPE = {v[1]: k for k, v in _ESCAPE.items()}
_ID_FIELDS = ("clOrdId", "algoClOrdId")
#: Marks a hashed id; no escaped id contains it (``Z`` is always followed by 0, 1 or 2).
HASHED = "Z9"
#: The margin type an exit uses when neither this adapter nor a position says (the
#: connection config's default).
DEFAULT_MARGIN = "isolated"

Fetch2 = Callable[..., Awaitable[Any]]


def venue_client_id(ours: str) -> str:
    """Our client order id in OKX's alphabet (reversible, see :func:`our_client_id`), or a
    stable hash when the escaped form would exceed 32 characters."""
    escaped = "".join(_ESCAPE.get(ch, ch) for ch in ours)
    if len(escaped) <= MAX_CLORDID and escaped.isalnum() and escaped.isascii():
        return escaped
    digest = hashlib.blake2b(ours.encode(), digest_size=16).hexdigest()
    return HASHED + digest[: MAX_CLORDID - len(HASHED)]


def our_client_id(venue: str) -> str:
    """The id :func:`venue_client_id` made ``venue`` from; an id it cannot have made (a
    foreign order's, a hash) is returned unchanged."""
    out: list[str] = []
    chars = iter(venue)
    for ch in chars:
        if ch != "Z":
            out.append(ch)
            continue
        original = _UNESCAPE.get(next(chars, ""))
        if original is None:
            return venue
        out.append(original)
    return "".join(out)


def _rewrite(value: Any, convert: Callable[[str], str]) -> Any:
    """``value`` (a dict, or a list of them) with its client order id fields converted."""
    if isinstance(value, list):
        return [_rewrite(v, convert) for v in value]
    if isinstance(value, dict):
        return {
            k: convert(v) if k in _ID_FIELDS and isinstance(v, str) and v else v
            for k, v in value.items()
        }
    return value


def with_okx_ids(fetch2: Fetch2) -> Fetch2:
    """ccxt's ``fetch2`` sending our client ids in OKX's alphabet and reading them back."""

    async def fetch(
        path: str,
        api: Any = ("public",),
        method: str = "GET",
        params: Any = None,
        config: Any = None,
    ) -> Any:
        outgoing = _rewrite({} if params is None else params, venue_client_id)
        answer = await fetch2(path, api, method, outgoing, {} if config is None else config)
        if isinstance(answer, dict) and isinstance(answer.get("data"), list):
            return {**answer, "data": _rewrite(answer["data"], our_client_id)}
        return answer

    return fetch


def info_of(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    info = raw.get("info")
    return info if isinstance(info, Mapping) else {}


def is_ack(raw: Mapping[str, Any]) -> bool:
    """Whether a ccxt order is only OKX's acknowledgement (``sCode``, no ``state``)."""
    info = info_of(raw)
    return "sCode" in info and "state" not in info


def position_side(req: OrderRequest) -> str:
    """The ``long_short_mode`` position an order acts on: entries buy ``long`` / sell
    ``short``, exits the other way round (a sell closing a long is ``long``)."""
    closing = req.reduce_only or (req.role is not None and req.role is not OrderRole.ENTRY)
    return "long" if (req.side is OrderSide.BUY) != closing else "short"


def key_rights(config: Mapping[str, Any]) -> KeyRights:
    """An ``account/config`` entry's key permissions."""
    perm = {p.strip() for p in str(config.get("perm") or "").split(",") if p.strip()}
    return KeyRights(
        can_trade="trade" in perm,
        can_withdraw="withdraw" in perm,
        ip_restricted=bool(str(config.get("ip") or "").strip()),
    )


class Okx(ExchangeQuirks):
    """OKX spot and USDT-margined perpetual swaps (see the module docstring)."""

    def __init__(self, exchange_id: str, market_type: MarketType) -> None:
        super().__init__(exchange_id, market_type)
        self._hedged: bool | None = None
        #: canonical symbol → the margin mode its orders trade in
        self._margin: dict[str, str] = {}
        #: venue symbol → (leverage, margin) last set
        self._set: dict[str, tuple[int, str]] = {}

    def options(self) -> dict[str, Any]:
        return {"fetchMarkets": {"types": ["spot"] if self.market_type == "spot" else ["swap"]}}

    def install(self, exchange: Any) -> None:
        """No budgets beyond the guard's; OKX's client id alphabet at the request boundary."""
        exchange.fetch2 = with_okx_ids(exchange.fetch2)

    def child_id(self, raw: Mapping[str, Any]) -> str | None:
        """An acknowledgement is read back by its ``ordId`` for the order's state."""
        if not is_ack(raw):
            return None
        ord_id = info_of(raw).get("ordId")
        return str(ord_id) if ord_id else None

    def combine(
        self, order: VenueOrder, raw: Mapping[str, Any], child: VenueOrder | None
    ) -> VenueOrder:
        if child is None or not is_ack(raw):
            return order
        return dataclasses.replace(child, client_order_id=order.client_order_id)

    async def _config(self, exchange: Any, call: Call) -> Mapping[str, Any]:
        answer: Mapping[str, Any] = await call(lambda: exchange.privateGetAccountConfig())
        data = answer.get("data") or [{}]
        first = data[0] if isinstance(data, list) and data else {}
        return first if isinstance(first, Mapping) else {}

    async def hedged(self, exchange: Any, call: Call) -> bool:
        """Whether the account is in ``long_short_mode`` (read once, until an order is
        refused for its ``posSide``)."""
        if self._hedged is None:
            config = await self._config(exchange, call)
            self._hedged = config.get("posMode") == "long_short_mode"
        return self._hedged

    async def key_rights(self, exchange: Any, call: Call) -> KeyRights:
        return key_rights(await self._config(exchange, call))

    async def _margin_of(self, exchange: Any, call: Call, symbol: str) -> str:
        """The margin mode ``symbol``'s (canonical) orders trade in: as set here, else its
        open position's, else the default."""
        wanted = canonicalize(symbol)
        known = self._margin.get(wanted)
        if known is not None:
            return known
        positions: list[Mapping[str, Any]] = await call(lambda: exchange.fetch_positions())
        for p in positions:
            mode = p.get("marginMode")
            if (
                p.get("contracts")
                and mode in ("isolated", "cross")
                and canonicalize(str(p.get("symbol") or "")) == wanted
            ):
                self._margin[wanted] = str(mode)
                return str(mode)
        return DEFAULT_MARGIN

    async def order_params(
        self, exchange: Any, call: Call, req: OrderRequest, params: dict[str, Any]
    ) -> None:
        if self.market_type != "linear":
            return  # spot: ccxt sends tdMode "cash"; reduce-only is refused before
        params["marginMode"] = await self._margin_of(exchange, call, req.symbol)
        if await self.hedged(exchange, call):
            params["positionSide"] = position_side(req)
        elif req.reduce_only:
            params["reduceOnly"] = True

    def refused_for_mode(self, exc: sb.IntegrationError) -> bool:
        if self.market_type == "linear" and "51000" in exc.message and "posSide" in exc.message:
            self._hedged = None
            self._set.clear()  # isolated leverage is per side in one mode, "net" in the other
            return True
        return False

    async def configure_symbol(
        self, exchange: Any, call: Call, venue: str, symbol: str, leverage: int, margin: str
    ) -> SymbolSettings | None:
        hedged = await self.hedged(exchange, call)
        mode = "hedge" if hedged else "one_way"
        if self._set.get(venue) != (leverage, margin):
            # posSide only with isolated margin: per side in long_short_mode, else "net"
            sides = ("long", "short") if hedged else ("net",)
            for side in sides if margin == "isolated" else (None,):
                params = {"marginMode": margin} | ({"posSide": side} if side else {})
                await call(partial(exchange.set_leverage, leverage, venue, params))
            self._set[venue] = (leverage, margin)
        self._margin[canonicalize(symbol)] = margin
        return SymbolSettings(symbol, mode, leverage, margin)

    async def resync_clock(self, exchange: Any) -> bool:
        """Turn on ccxt's ``adjustForTimeDifference`` at the first refusal for the
        timestamp (50102: more than 30 s off) and measure the clock now."""
        exchange.options["adjustForTimeDifference"] = True
        await exchange.load_time_difference()
        return True
