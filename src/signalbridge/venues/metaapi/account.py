"""One MetaTrader account through MetaApi: markets, prices, the account and its positions.

The reads and position changes every part needs (the adapter's orders, the resting stops in
:mod:`.stops`); placing, finding and cancelling orders is :mod:`.adapter`'s job. Orders
carry our client order id in MetaApi's ``clientId`` (see :mod:`.client_ids`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

from signalbridge.domain.clock import utcnow
from signalbridge.domain.market import Market
from signalbridge.integrations.errors import (
    AuthenticationError,
    InvalidRequest,
    SymbolNotListed,
    TransientError,
)
from signalbridge.venues.base import (
    Balance,
    OrderSide,
    OrderStatus,
    ProbeResult,
    Ticker,
    VenueOrder,
    VenueOrderType,
    VenuePosition,
)
from signalbridge.venues.metaapi import convert
from signalbridge.venues.metaapi.client import JsonObject, MetaApiClient
from signalbridge.venues.metaapi.client_ids import from_venue_client_id, to_venue_client_id
from signalbridge.venues.metaapi.convert import AccountInfo, MetaApiPosition
from signalbridge.venues.metaapi.errors import trade_error
from signalbridge.venues.symbols import SymbolMap, canonicalize

log = logging.getLogger(__name__)

T = TypeVar("T")
ZERO = Decimal(0)


class MetaApiAccount:
    """One MetaTrader account reached through MetaApi (reads and position changes)."""

    def __init__(
        self,
        connection_id: str,
        client: MetaApiClient,
        *,
        symbols: SymbolMap | None = None,
        preload: Sequence[str] = (),
        clock: Callable[[], datetime] = utcnow,
        history_days: int = 7,
        max_concurrency: int = 4,
    ) -> None:
        self.connection_id = connection_id
        self.client = client
        self.symbols = symbols or SymbolMap(venue="metaapi")
        self._preload = tuple(canonicalize(s) for s in preload)
        self._clock = clock
        self._history = timedelta(days=history_days)
        self._limit = asyncio.Semaphore(max_concurrency)
        self._markets: dict[str, Market] = {}
        self._account_currency: str | None = None
        self._nets: bool | None = None  # the account's margin mode, once read
        # clientIds we made from ids that do not map back (the hashed form), to name them.
        self._known_ids: dict[str, str] = {}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(connection_id={self.connection_id!r}, account={self.client!r})"
        )

    # --- markets and prices ------------------------------------------------------------

    async def load_markets(self) -> Mapping[str, Market]:
        """Specifications of the configured symbols (plus any looked up since), cached."""
        missing = [s for s in dict.fromkeys(self._preload) if s not in self._markets]
        if missing:
            await self._currency()  # once, not once per symbol
            await self._bounded_all([partial(self.market, s) for s in missing])
        return dict(self._markets)

    async def market(self, symbol: str) -> Market:
        """One market by canonical symbol, read from the specification on first use."""
        canonical = canonicalize(symbol)
        cached = self._markets.get(canonical)
        if cached is not None:
            return cached
        venue = self.symbols.to_venue(canonical)
        try:
            spec = await self.client.symbol_specification(venue)
        except SymbolNotListed:
            await self.client.account_information()  # an unknown account raises AuthenticationError
            raise SymbolNotListed(
                f"{canonical} is not listed on this MetaTrader account (looked for {venue!r})",
                connection_id=self.connection_id,
            ) from None
        price: JsonObject | None
        try:
            price = await self.client.current_price(venue)
        except TransientError:
            price = None  # no tick value yet; sizing falls back to contract size
        market = convert.market_from_spec(canonical, spec, price, await self._currency())
        self._markets[canonical] = market
        return market

    async def fetch_tickers(self, symbols: Iterable[str]) -> dict[str, Ticker]:
        """Current prices, one request per symbol (MetaApi has no batch), bounded in parallel."""
        wanted = list(dict.fromkeys(canonicalize(s) for s in symbols))

        async def one(canonical: str) -> Ticker:
            price = await self.client.current_price(self.symbols.to_venue(canonical))
            return convert.ticker_from_price(canonical, price, self._clock())

        tickers = await self._bounded_all([partial(one, s) for s in wanted])
        return {t.symbol: t for t in tickers}

    # --- account ------------------------------------------------------------------------

    async def fetch_account(self) -> AccountInfo:
        info = convert.account_info(await self.client.account_information())
        self._account_currency = info.currency
        self._nets = info.nets
        return info

    async def nets_positions(self) -> bool:
        """Whether the account keeps one position per symbol (MT5 netting or exchange
        margin mode), read once: a broker does not change an account's mode."""
        if self._nets is None:
            await self.fetch_account()
        return bool(self._nets)

    async def fetch_balance(self) -> dict[str, Balance]:
        """The account currency: total = equity, free = free margin, used = margin."""
        info = await self.fetch_account()
        return {
            info.currency: Balance(
                asset=info.currency, free=info.free_margin, used=info.margin, total=info.equity
            )
        }

    async def set_leverage(self, symbol: str, leverage: int) -> None:
        raise InvalidRequest(
            "MetaTrader leverage is set by the broker per account; it cannot be changed here",
            connection_id=self.connection_id,
        )

    async def probe(self) -> ProbeResult:
        """Account information plus the terminal's connection status; never withdraws."""
        started = time.perf_counter()
        try:
            info = await self.fetch_account()
            state = await self.client.account_state()
        except AuthenticationError as exc:
            return ProbeResult(False, _ms(started), False, False, exc.message)
        connected = state is None or state.get("connectionStatus") == "CONNECTED"
        deployed = state is None or state.get("state") in (None, "DEPLOYED")
        ok = connected and deployed
        can_trade = ok and info.trade_allowed and not info.investor_mode
        status = "connected" if ok else f"not ready ({_state_text(state)})"
        mode = (
            "netting account (one position per symbol: an entry on a symbol another "
            "position holds is refused)"
            if info.nets
            else "hedging account"
        )
        trading = "allowed" if can_trade else "not allowed"
        if info.investor_mode:
            trading += " (connected with the investor password: read only)"
        message = (
            f"{info.platform.upper() or 'MT'} account {info.login} on {info.server}: {status}, "
            f"{mode}, trading {trading}, equity {info.equity} {info.currency}"
        )
        return ProbeResult(ok, _ms(started), can_trade, False, message)

    # --- positions ----------------------------------------------------------------------

    async def fetch_positions(self) -> list[VenuePosition]:
        return [convert.venue_position(p) for p in await self.fetch_position_details()]

    async def fetch_position_details(self, symbol: str | None = None) -> list[MetaApiPosition]:
        """Open positions with their ids and SL/TP (what modify/close need)."""
        venue = self.symbols.to_venue(symbol) if symbol else None
        now = self._clock()
        return [
            convert.metaapi_position(
                p,
                canonical=self._canonical(p.get("symbol")),
                client_order_id=self._decode(p.get("clientId")),
                now=now,
            )
            for p in await self.client.positions()
            if venue is None or p.get("symbol") == venue
        ]

    async def find_position(self, client_order_id: str) -> MetaApiPosition | None:
        """The open position our order opened, if it is still open."""
        client_id = self._client_id(client_order_id)
        for position in await self.fetch_position_details():
            if position.client_id == client_id:
                return position
        return None

    async def modify_position(
        self, position_id: str, stop_loss: Decimal | None, take_profit: Decimal | None
    ) -> None:
        """Set both levels of a position (``None`` removes that level); no change is fine.

        Both are always sent: MetaApi does not document what a level left out does, and a
        level of 0 is MetaTrader's "none" (MqlTradeRequest), so ``None`` is sent as 0.
        """
        await self._trade(
            {
                "actionType": "POSITION_MODIFY",
                "positionId": str(position_id),
                "stopLoss": ZERO if stop_loss is None else stop_loss,
                "takeProfit": ZERO if take_profit is None else take_profit,
            }
        )

    async def close_position(
        self,
        position_id: str,
        volume: Decimal | None = None,
        *,
        client_order_id: str | None = None,
    ) -> VenueOrder:
        """Close a position, or ``volume`` lots of it. Pass ``client_order_id`` so that an
        ambiguous close can be found again with :meth:`fetch_order`."""
        position = await self.client.position(str(position_id))
        held = convert.dec(position.get("volume"), "volume")
        if volume is not None and (volume <= 0 or volume > held):
            raise InvalidRequest(
                f"cannot close {volume} lots of a {held}-lot position",
                connection_id=self.connection_id,
            )
        body: dict[str, Any] = {"positionId": str(position_id)}
        if volume is None or volume == held:
            body["actionType"] = "POSITION_CLOSE_ID"
        else:
            body["actionType"] = "POSITION_PARTIAL"
            body["volume"] = volume
        if client_order_id is not None:
            body["clientId"] = self._client_id(client_order_id)
        result = await self._trade(body)
        side = OrderSide.SELL if position.get("type") == "POSITION_TYPE_BUY" else OrderSide.BUY
        amount = volume if volume is not None else held
        now = self._clock()
        return VenueOrder(
            client_order_id=client_order_id,
            venue_order_id=str(result.get("orderId") or position_id),
            symbol=self._canonical(position.get("symbol")),
            side=side,
            type=VenueOrderType.MARKET,
            status=OrderStatus.FILLED,
            amount=amount,
            filled=amount,
            average_price=None,
            fee=None,
            created_at=now,
            updated_at=now,
            reduce_only=True,
            raw=dict(result),
        )

    async def recent_deals(self) -> list[JsonObject]:
        """History deals of the lookup window (``history_days`` back)."""
        start, end = self._window()
        return await self.client.history_deals(start, end)

    def decode_client_id(self, client_id: object) -> str | None:
        """Our client order id from a MetaTrader clientId, if it is one of ours."""
        return self._decode(client_id)

    def now(self) -> datetime:
        return self._clock()

    async def close(self) -> None:
        await self.client.aclose()

    # --- internals ----------------------------------------------------------------------

    async def _trade(self, body: Mapping[str, Any]) -> JsonObject:
        log.info(
            "metaapi trade",
            extra={
                "connection_id": self.connection_id,
                "action": body.get("actionType"),
                "symbol": body.get("symbol"),
                "client_id": body.get("clientId"),
            },
        )
        result = await self.client.trade(body)
        error = trade_error(result, connection_id=self.connection_id)
        if error is not None:
            raise error
        return result

    def _order(
        self,
        order: Mapping[str, Any],
        client_order_id: str | None,
        *,
        deals: Iterable[Mapping[str, Any]] = (),
        position: Mapping[str, Any] | None = None,
    ) -> VenueOrder:
        return convert.venue_order_from_order(
            order,
            canonical=self._canonical(order.get("symbol")),
            client_order_id=client_order_id,
            deals=deals,
            position=position,
            now=self._clock(),
        )

    def _client_id(self, client_order_id: str) -> str:
        client_id = to_venue_client_id(client_order_id)
        if from_venue_client_id(client_id) != client_order_id:
            self._known_ids[client_id] = client_order_id
        return client_id

    def _decode(self, client_id: object) -> str | None:
        if not isinstance(client_id, str):
            return None
        return from_venue_client_id(client_id) or self._known_ids.get(client_id)

    def _canonical(self, venue_symbol: object) -> str:
        return self.symbols.to_canonical(str(venue_symbol or ""))

    def _window(self) -> tuple[datetime, datetime]:
        now = self._clock()
        return now - self._history, now + timedelta(days=1)

    async def _currency(self) -> str:
        if self._account_currency is None:
            await self.fetch_account()
        return self._account_currency or ""

    async def _bounded_all(self, calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
        """Run calls at most ``max_concurrency`` at a time; the first failure is raised
        after all finished (none is left running unobserved)."""

        async def run(call: Callable[[], Awaitable[T]]) -> T:
            async with self._limit:
                return await call()

        results = await asyncio.gather(*(run(c) for c in calls), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return [r for r in results if not isinstance(r, BaseException)]


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _state_text(state: Mapping[str, Any] | None) -> str:
    if state is None:
        return "unknown"
    return f"state {state.get('state')}, connection {state.get('connectionStatus')}"
