"""ExchangeAdapter for any ccxt exchange (spot and USDT-margined linear perpetuals; Binance
COIN-M inverse perpetuals too, whose markets carry ``inverse``: see :class:`CcxtConfig`).

The adapter only translates: canonical symbols ↔ ccxt symbols, ccxt structures ↔ the
``venues.base`` types (``Decimal`` everywhere) and ccxt exceptions → the integration error
tree (:mod:`signalbridge.venues.ccxt.errors`). Retries, circuit breaking and rate limiting
belong to the kernel's ConnectionGuard around every call, so ccxt's own limiter is off.

Orders always carry our deterministic client order id (ccxt's unified ``clientOrderId``,
sent by binance as ``newClientOrderId``) and are looked up and cancelled by it. There is no
withdraw or transfer call here, by design; :meth:`CcxtAdapter.probe` refuses keys that could.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any, ClassVar, Self, TypeVar

from ccxt.base.decimal_to_precision import TICK_SIZE
from ccxt.base.errors import InvalidNonce

from signalbridge.domain.market import Candle
from signalbridge.integrations import errors as sb
from signalbridge.integrations.redaction import register_secret
from signalbridge.venues.base import (
    AdapterDeps,
    Balance,
    Market,
    MarketKind,
    OrderRequest,
    OrderRole,
    ProbeResult,
    SymbolSettings,
    Ticker,
    TimeInForce,
    VenueOrder,
    VenueOrderType,
    VenuePosition,
    VenueTrade,
)
from signalbridge.venues.candles import candles_from_ccxt, check_request
from signalbridge.venues.ccxt import market_lots
from signalbridge.venues.ccxt.account import (
    balances_from_ccxt,
    position_from_ccxt,
    ticker_from_ccxt,
)
from signalbridge.venues.ccxt.config import (
    CcxtConfig,
    capabilities_of,
    is_wanted,
    symbol_map,
)
from signalbridge.venues.ccxt.errors import translate
from signalbridge.venues.ccxt.exchanges import quirks_for
from signalbridge.venues.ccxt.funding import funding_from_ccxt, reports_funding
from signalbridge.venues.ccxt.instances import new_exchange
from signalbridge.venues.ccxt.keys import TRANSFER_REFUSAL, WITHDRAW_REFUSAL, key_verdict
from signalbridge.venues.ccxt.market_cache import (
    MarketSnapshot,
    Tables,
    VenueKey,
    market_cache_of,
)
from signalbridge.venues.ccxt.markets import market_from_ccxt
from signalbridge.venues.ccxt.orders import order_from_ccxt, sum_fees
from signalbridge.venues.ccxt.trades import trade_from_ccxt, venue_ms
from signalbridge.venues.ccxt.urls import guarded_session, override_problem, policy_of
from signalbridge.venues.funding import FUNDING_PAGE, FundingPayment

__all__ = ["TRANSFER_REFUSAL", "WITHDRAW_REFUSAL", "CcxtAdapter", "CcxtConfig"]

T = TypeVar("T")

_RESTING_ROLES = frozenset({OrderRole.STOP, OrderRole.TARGET})
_TIF = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK"}


class CcxtAdapter:
    """One account on one ccxt exchange, spot or linear (see :class:`CcxtConfig`)."""

    type: ClassVar[str] = "ccxt"

    def __init__(
        self,
        connection_id: str,
        config: CcxtConfig,
        secrets: Mapping[str, str],
        *,
        deps: AdapterDeps,
    ) -> None:
        self.connection_id = connection_id
        self.config = config
        self.kind = MarketKind.SPOT if config.market_type == "spot" else MarketKind.LINEAR
        self._deps = deps
        self._secrets = tuple(v for v in secrets.values() if v)
        for value in self._secrets:
            register_secret(value)
        self.symbols = symbol_map(config, self.kind)
        # Exits rest on the venue where the exchange's quirks say they can (Binance's Algo
        # Service); elsewhere the position monitor enforces stops and targets.
        self.quirks = quirks_for(config.exchange, config.market_type)
        self.capabilities = capabilities_of(self.kind, resting=bool(self.quirks.resting_types))
        # Markets, the TLS context and ccxt's static tables are the venue's, shared by
        # every connection to it (market_cache.py, instances.py); credentials, clock
        # offset and ccxt's running state stay per account.
        self._cache = market_cache_of(deps)
        self.exchange: Any = new_exchange(self._cache, config, secrets, self.quirks)
        self.quirks.install(self.exchange)  # budgets, id rules, routes of the venue's own
        self._venue = self._cache.key(
            VenueKey.of(
                config.exchange,
                config.market_type,
                sandbox=config.sandbox,
                urls=config.urls,
                options=config.options,
            ),
            connection_id,
        )
        self._mapping = (
            config.symbol_style,
            config.symbol_prefix,
            config.symbol_suffix,
            tuple(sorted(config.symbol_map.items())),
        )
        self._snapshot: MarketSnapshot | None = None
        if (shared_ssl := self._cache.ssl_context()) is not None:
            self.exchange.ssl_context = shared_ssl  # ccxt's open() builds none then
        self._markets: dict[str, Market] | None = None
        #: The most one MARKET order may hold, by canonical symbol (Binance MARKET_LOT_SIZE).
        self._market_caps: dict[str, Decimal] = {}
        # An override is held to the operator's allow-list now, and refused on every call
        # (before any request) rather than here, so one connection whose host the operator
        # no longer allows cannot stop the adapter pool from building the others.
        self._policy = policy_of(deps)
        self._refusal = (
            self._cache.once(
                ("url refusal", self._venue),
                lambda: override_problem(config.urls, self._policy),
            )
            if config.urls
            else None
        )

    @classmethod
    def from_config(
        cls,
        connection_id: str,
        config: Mapping[str, Any],
        secrets: Mapping[str, str],
        *,
        deps: AdapterDeps,
    ) -> Self:
        parsed = CcxtConfig.model_validate(
            {k: v for k, v in config.items() if k not in ("api_key", "secret", "password")}
        )
        return cls(connection_id, parsed, secrets, deps=deps)

    def __repr__(self) -> str:
        return (
            f"CcxtAdapter(connection_id={self.connection_id!r}, "
            f"exchange={self.config.exchange!r}, market_type={self.config.market_type!r})"
        )

    # -- calls through the error boundary ----------------------------------------------------

    async def _call(
        self, fn: Callable[[], Awaitable[T]], *, write: bool = False, markets: bool = True
    ) -> T:
        if self._refusal is not None:
            raise sb.InvalidRequest(self._refusal, connection_id=self.connection_id)
        if markets and self._snapshot is None:
            # The venue's shared table first, so ccxt never loads one of its own for a call.
            await self.load_markets()
        if self.config.urls and self.exchange.session is None and not self.exchange.closed_by_user:
            # ccxt closes it with its own (own_session stays true) and never replaces it.
            self.exchange.session = guarded_session(self._policy, self._cache.ssl_context())
        try:
            try:
                return await fn()
            except InvalidNonce:  # -1021: refused for its timestamp, so never executed
                if not await self.quirks.resync_clock(self.exchange):
                    raise
                return await fn()
        except Exception as exc:  # every ccxt/aiohttp failure is translated here
            raise translate(
                exc,
                write=write,
                exchange=self.exchange,
                market_type=self.config.market_type,
                connection_id=self.connection_id,
                secrets=self._secrets,
            ) from None

    # -- markets and prices -------------------------------------------------------------------

    async def load_markets(self) -> Mapping[str, Market]:
        """The venue's markets: its shared table (loaded once per venue, reloaded when old,
        market_cache.py), handed to this account's ccxt instance as it changes."""
        snapshot = await self._cache.snapshot(self._venue, self._load_snapshot)
        if snapshot is not self._snapshot or self._markets is None:
            if self.exchange.markets is not snapshot.markets:
                snapshot.install(self.exchange)
            tables = self._cache.tables(self._venue, snapshot, self._mapping, self._tables)
            self._markets, self._market_caps = tables.markets, tables.caps
            self._snapshot = snapshot
        return self._markets

    async def _load_snapshot(self) -> MarketSnapshot:
        """Load the venue's table through this connection (its guard, budget and URLs)."""
        reload = bool(self.exchange.markets)
        await self._call(lambda: self.exchange.load_markets(reload), markets=False)
        return MarketSnapshot(self.exchange)

    def _tables(self, snapshot: MarketSnapshot) -> Tables:
        """Our reading of a ccxt table (done once per venue table and symbol mapping)."""
        mode = getattr(self.exchange, "precisionMode", TICK_SIZE)
        markets: dict[str, Market] = {}
        caps: dict[str, Decimal] = {}
        for m in snapshot.markets.values():
            if not is_wanted(m, self.kind, inverse=self.config.market_type == "inverse"):
                continue
            market = market_from_ccxt(m, self.symbols.to_canonical(m["symbol"]), self.kind, mode)
            if market is not None:
                markets.setdefault(market.symbol, market)
                cap = market_lots.market_cap(m)
                if cap is not None:
                    caps.setdefault(market.symbol, cap)
        return Tables(markets, caps)

    async def _venue_symbol(self, symbol: str) -> str:
        markets = await self.load_markets()
        market = markets.get(self.symbols.to_canonical(self.symbols.to_venue(symbol)))
        if market is None:
            raise sb.SymbolNotListed(
                f"{symbol} is not listed on {self.config.exchange} ({self.config.market_type})",
                connection_id=self.connection_id,
            )
        return market.venue_symbol

    async def fetch_tickers(self, symbols: Iterable[str]) -> dict[str, Ticker]:
        wanted = {await self._venue_symbol(s): s for s in symbols}
        if not wanted:
            return {}
        venue = list(wanted)
        raw: dict[str, Any]
        if len(venue) == 1 and self.exchange.has.get("fetchTicker"):
            # One symbol: ask for it alone. An every-symbol answer may weigh far more on the
            # venue's budget (Binance USDⓈ-M: 40 without a symbol, 1 with it).
            raw = {venue[0]: await self._call(lambda: self.exchange.fetch_ticker(venue[0]))}
        else:
            raw = await self._call(lambda: self.exchange.fetch_tickers(venue))
        missing_book = any(
            (raw.get(v) or {}).get("bid") is None or (raw.get(v) or {}).get("ask") is None
            for v in venue
        )
        if missing_book and self.exchange.has.get("fetchBidsAsks"):
            book: dict[str, Any] = await self._call(lambda: self.exchange.fetch_bids_asks(venue))
            for v, entry in book.items():
                if v in raw:
                    raw[v] = {**raw[v], "bid": entry.get("bid"), "ask": entry.get("ask")}
        out: dict[str, Ticker] = {}
        for v, requested in wanted.items():
            ticker = self._ticker(raw.get(v), requested)
            if ticker is not None:
                out[ticker.symbol] = ticker
        return out

    async def fetch_candles(self, symbol: str, timeframe: str, limit: int) -> list[Candle]:
        """Recent bars through ccxt's ``fetch_ohlcv`` (venues/candles.py), oldest first."""
        try:
            check_request(timeframe, limit)
        except ValueError as exc:
            raise sb.InvalidRequest(str(exc), connection_id=self.connection_id) from None
        venue = await self._venue_symbol(symbol)
        raw: list[Any] = await self._call(
            lambda: self.exchange.fetch_ohlcv(venue, timeframe, None, limit)
        )
        return candles_from_ccxt(raw)

    def _ticker(self, t: Mapping[str, Any] | None, symbol: str) -> Ticker | None:
        canonical = self.symbols.to_canonical(self.symbols.to_venue(symbol))
        return ticker_from_ccxt(t, canonical, self._deps.clock)

    # -- account ---------------------------------------------------------------------------

    async def fetch_balance(self) -> dict[str, Balance]:
        raw: Mapping[str, Any] = await self._call(lambda: self.exchange.fetch_balance())
        return balances_from_ccxt(raw)

    async def fetch_positions(self) -> list[VenuePosition]:
        if self.kind is MarketKind.SPOT:
            return []
        await self.load_markets()
        raw: list[Mapping[str, Any]] = await self._call(lambda: self.exchange.fetch_positions())
        read = (position_from_ccxt(p, self.symbols.to_canonical) for p in raw)
        return [p for p in read if p is not None]

    async def set_leverage(self, symbol: str, leverage: int) -> None:
        if self.kind is MarketKind.SPOT:
            raise sb.InvalidRequest(
                "spot markets have no leverage", connection_id=self.connection_id
            )
        venue = await self._venue_symbol(symbol)
        await self._call(lambda: self.exchange.set_leverage(leverage, venue))

    async def configure_symbol(self, symbol: str, leverage: int) -> SymbolSettings | None:
        """Set a futures symbol's leverage and the connection's margin type, once per
        symbol and value; what was set (to record), or None when nothing had to be."""
        if self.kind is MarketKind.SPOT:
            return None
        venue = await self._venue_symbol(symbol)
        return await self.quirks.configure_symbol(
            self.exchange, self._call, venue, symbol, leverage, self.config.margin_type
        )

    # -- orders ------------------------------------------------------------------------------

    async def create_order(self, req: OrderRequest) -> VenueOrder:
        resting = req.role in _RESTING_ROLES and req.type in self.quirks.resting_types
        if req.type.is_triggered and not resting:
            raise sb.InvalidRequest(
                f"{req.type} orders are not supported here; the position monitor "
                "enforces stops and targets",
                connection_id=self.connection_id,
            )
        if req.reduce_only and self.kind is MarketKind.SPOT:
            raise sb.InvalidRequest(
                "reduce-only needs a futures market", connection_id=self.connection_id
            )
        venue = await self._venue_symbol(req.symbol)
        market = (await self.load_markets())[self.symbols.to_canonical(venue)]
        problem = market.precision_problem(req.amount, req.price)
        if problem is not None:  # ccxt would silently truncate the amount to the step
            raise sb.InvalidRequest(f"{req.symbol}: {problem}", connection_id=self.connection_id)
        if req.leverage is not None and self.kind is MarketKind.LINEAR:
            await self.configure_symbol(req.symbol, req.leverage)
        cap = self._market_caps.get(market.symbol)
        parts = market_lots.parts_of(req, cap, market.amount_step)
        if cap is not None and len(parts) > 1:
            return await market_lots.send_parts(
                parts, lambda part: self._send(part, venue, resting), cap
            )
        return await self._send(req, venue, resting)

    async def _send(self, req: OrderRequest, venue: str, resting: bool) -> VenueOrder:
        """POST one order. Refused for the account's position mode (changed behind our
        back: nothing was placed), the mode is read again and the order sent once more."""
        try:
            return await self._post(req, venue, resting)
        except sb.InvalidRequest as exc:
            if not self.quirks.refused_for_mode(exc):
                raise
        return await self._post(req, venue, resting)

    async def _post(self, req: OrderRequest, venue: str, resting: bool) -> VenueOrder:
        params: dict[str, Any] = {"clientOrderId": req.client_order_id}
        await self.quirks.order_params(self.exchange, self._call, req, params)
        if req.type is VenueOrderType.LIMIT:
            params["timeInForce"] = _TIF[req.time_in_force]
        kind = self.quirks.resting_order(req, params) if resting else req.type.value
        price = float(req.price) if req.price is not None else None
        raw: Mapping[str, Any] = await self._call(
            lambda: self.exchange.create_order(
                venue, kind, req.side.value, float(req.amount), price, params
            ),
            write=True,
        )
        return await self._resolve(raw, req.client_order_id, venue)

    async def fetch_order(
        self, symbol: str, client_order_id: str, role: OrderRole | None = None
    ) -> VenueOrder:
        """By client id: the matching engine first, then where the exchange keeps
        conditional orders (Binance futures: the Algo Service); a resting stop or target
        (``role``) is looked up there only."""
        venue = await self._venue_symbol(symbol)
        params = {"clientOrderId": client_order_id}
        resting = self._resting_query(params, role)
        if resting is not None:
            found = await self._call(lambda: self.exchange.fetch_order(None, venue, resting))
            return await self._resolve(found, client_order_id, venue)
        try:
            raw: Mapping[str, Any] = await self._call(
                lambda: self.exchange.fetch_order(None, venue, params)
            )
        except sb.OrderNotFound:
            conditional = self.quirks.conditional(params)
            if conditional is None:
                raise
            raw = await self._call(lambda: self.exchange.fetch_order(None, venue, conditional))
        order = await self._resolve(raw, client_order_id, venue)
        cap = self._market_caps.get(order.symbol)
        if not market_lots.may_be_split(order, cap):
            return order
        parts = await market_lots.find_parts(order, partial(self._part, venue))
        return market_lots.combine(parts, client_order_id, cap)

    async def _part(self, venue: str, client_order_id: str) -> VenueOrder | None:
        """One part of a split market order, or None when the venue does not know it."""
        params = {"clientOrderId": client_order_id}
        try:
            raw: Mapping[str, Any] = await self._call(
                lambda: self.exchange.fetch_order(None, venue, params)
            )
        except sb.OrderNotFound:
            return None
        return await self._with_fees(self._parsed(raw, client_order_id), venue)

    async def cancel_order(
        self, symbol: str, client_order_id: str, role: OrderRole | None = None
    ) -> VenueOrder:
        """Cancel by client id; a lost answer is a TransientError (cancelling is idempotent:
        a repeat answers OrderNotFound once the first one went through)."""
        venue = await self._venue_symbol(symbol)
        params = {"clientOrderId": client_order_id}
        resting = self._resting_query(params, role)
        if resting is not None:
            await self._call(lambda: self.exchange.cancel_order(None, venue, resting))
            found = await self._call(lambda: self.exchange.fetch_order(None, venue, resting))
            return await self._resolve(found, client_order_id, venue)
        try:
            raw: Mapping[str, Any] = await self._call(
                lambda: self.exchange.cancel_order(None, venue, params)
            )
        except sb.OrderNotFound:
            conditional = self.quirks.conditional(params)
            if conditional is None:
                raise
            await self._call(lambda: self.exchange.cancel_order(None, venue, conditional))
            # A conditional cancel may answer with ids only (Binance): read what it is now.
            raw = await self._call(lambda: self.exchange.fetch_order(None, venue, conditional))
        return await self._resolve(raw, client_order_id, venue)

    def _resting_query(
        self, params: Mapping[str, Any], role: OrderRole | None
    ) -> dict[str, Any] | None:
        """Where a resting stop or target lives when the exchange keeps them apart (Binance
        futures: the Algo Service). Asked there directly: on fapi.binance.com ccxt reads the
        matching engine's "unknown order" (-2011) as a plain error, not as not-found."""
        if role not in _RESTING_ROLES or not self.quirks.resting_types:
            return None
        return self.quirks.conditional(params)

    async def fetch_open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        venue = await self._venue_symbol(symbol) if symbol is not None else None
        await self.load_markets()
        raw: list[Mapping[str, Any]] = await self._call(
            lambda: self.exchange.fetch_open_orders(venue)
        )
        for query in self.quirks.open_order_queries():
            more: list[Mapping[str, Any]] = await self._call(
                partial(self.exchange.fetch_open_orders, venue, None, None, query)
            )
            raw = [*raw, *more]
        return [self._parsed(o, None) for o in raw]

    async def fetch_trades_since(
        self, symbol: str, since: datetime, limit: int
    ) -> list[VenueTrade] | None:
        """The account's fills on ``symbol`` from ``since`` on (at most ``limit``), from its
        trade history, not by client id: the engine's second proof of absence before it
        sends an order again. None where ccxt has no trade history for the exchange."""
        if not self.exchange.has.get("fetchMyTrades"):
            return None
        venue = await self._venue_symbol(symbol)
        start = venue_ms(self.exchange, since)
        raw: list[Mapping[str, Any]] = await self._call(
            lambda: self.exchange.fetch_my_trades(venue, start, limit)
        )
        return [trade_from_ccxt(t, self.symbols.to_canonical, self._deps.clock) for t in raw]

    async def fetch_funding(
        self, symbol: str | None, since: datetime, limit: int = FUNDING_PAGE
    ) -> list[FundingPayment] | None:
        """The account's funding payments from ``since`` on (venues/funding.py), for one
        symbol or every one (None); None where the venue's funding is not read."""
        if not reports_funding(
            self.config.exchange, self.config.market_type
        ) or not self.exchange.has.get("fetchFundingHistory"):
            return None
        venue = await self._venue_symbol(symbol) if symbol is not None else None
        await self.load_markets()
        start = venue_ms(self.exchange, since)
        raw: list[Mapping[str, Any]] = await self._call(
            lambda: self.exchange.fetch_funding_history(venue, start, limit)
        )
        read = (funding_from_ccxt(f, self.symbols.to_canonical, self._deps.clock) for f in raw)
        return [f for f in read if f is not None]

    async def _resolve(
        self, raw: Mapping[str, Any], client_order_id: str | None, venue: str
    ) -> VenueOrder:
        """A ccxt order as ours; a triggered conditional order is read with its child."""
        actual = self.quirks.child_id(raw)
        if actual is None:
            return await self._with_fees(self._parsed(raw, client_order_id), venue)
        found: Mapping[str, Any] = await self._call(
            lambda: self.exchange.fetch_order(actual, venue)
        )
        child = await self._with_fees(self._order(found, None), venue)  # it holds the fills
        return self._parsed(raw, client_order_id, child)

    async def _with_fees(self, order: VenueOrder, venue: str) -> VenueOrder:
        """A filled order with its fees, read from its trades when the answer has none
        (Binance's ``GET /api/v3/order``, ``/fapi/v1/order`` and ``/dapi/v1/order`` carry no
        fills): one request per filled order whose answer had none. Spot: a BUY pays in the
        coin it bought (or in BNB), so what is held depends on it. Futures: the fees come out
        of the realised PnL, in the margin asset (USDT on linear, the coin on inverse); read
        by order id from the account's trades (ccxt's ``fetch_order_trades`` is spot-only on
        Binance), keeping only this order's should a venue ignore the filter."""
        spot = self.kind is MarketKind.SPOT
        if (
            order.filled <= 0
            or order.fees
            or order.fee is not None
            or not order.venue_order_id
            or not self.exchange.has.get("fetchOrderTrades" if spot else "fetchMyTrades")
        ):
            return order
        order_id = order.venue_order_id
        trades: list[Mapping[str, Any]] = await self._call(
            (lambda: self.exchange.fetch_order_trades(order_id, venue))
            if spot
            else (lambda: self.exchange.fetch_my_trades(venue, None, None, {"orderId": order_id}))
        )
        trades = [t for t in trades if str(t.get("order") or order_id) == order_id]
        fees = sum_fees(fee for t in trades for fee in (t.get("fees") or [t.get("fee")]))
        if not fees:
            return order
        return dataclasses.replace(order, fees=fees, fee=fees[0] if len(fees) == 1 else None)

    def _parsed(
        self,
        raw: Mapping[str, Any],
        client_order_id: str | None,
        child: VenueOrder | None = None,
    ) -> VenueOrder:
        """A ccxt order as ours: a conditional order with its child's fills, if it has one."""
        return self.quirks.combine(self._order(raw, client_order_id), raw, child)

    def _order(self, o: Mapping[str, Any], client_order_id: str | None) -> VenueOrder:
        return order_from_ccxt(o, client_order_id, self.symbols.to_canonical, self._deps.clock)

    # -- health --------------------------------------------------------------------------------

    async def probe(self) -> ProbeResult:
        """Check the key works and can trade but cannot withdraw or transfer funds.

        Authentication failures come back as ``ok=False``; network trouble raises (so the
        kernel counts it). The exchange's quirks read the key's permissions where the venue
        reports them (Binance); elsewhere ccxt has no unified way, so the result says that
        withdrawal rights were not verified.
        """
        started = time.perf_counter()
        try:
            await self.fetch_balance()
        except sb.AuthenticationError as exc:
            return ProbeResult(False, _ms(started), False, False, f"key refused: {exc.message}")
        latency = _ms(started)
        try:
            rights = await self.quirks.key_rights(self.exchange, self._call)
        except sb.AuthenticationError as exc:
            return ProbeResult(
                False, latency, False, False, f"cannot read the key's permissions: {exc.message}"
            )
        return key_verdict(rights, latency, self.config.exchange, self.kind)

    async def close(self) -> None:
        try:
            await self.exchange.close()
        except Exception:  # closing must not fail shutdown  # noqa: S110
            pass


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
