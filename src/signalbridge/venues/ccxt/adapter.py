"""ExchangeAdapter for any ccxt exchange (spot and USDT-margined linear perpetuals).

The adapter only translates: canonical symbols ↔ ccxt symbols, ccxt structures ↔ the
``venues.base`` types (``Decimal`` everywhere) and ccxt exceptions → the integration error
tree (:mod:`signalbridge.venues.ccxt.errors`). Retries, circuit breaking and rate limiting
belong to the kernel's ConnectionGuard around every call, so ccxt's own limiter is off.

Orders always carry our deterministic client order id (ccxt's unified ``clientOrderId``,
sent by binance as ``newClientOrderId``) and are looked up and cancelled by it. There is no
withdraw or transfer call here, by design; :meth:`CcxtAdapter.probe` refuses keys that could.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any, ClassVar, Self, TypeVar

from ccxt.base.decimal_to_precision import TICK_SIZE

from signalbridge.integrations import errors as sb
from signalbridge.integrations.redaction import register_secret
from signalbridge.integrations.registry import AdapterRegistry
from signalbridge.venues.base import (
    AdapterDeps,
    Balance,
    Capabilities,
    Market,
    MarketKind,
    OrderRequest,
    OrderRole,
    PositionSide,
    ProbeResult,
    Ticker,
    TimeInForce,
    VenueOrder,
    VenueOrderType,
    VenuePosition,
)
from signalbridge.venues.ccxt.config import CcxtConfig, build_exchange
from signalbridge.venues.ccxt.errors import translate
from signalbridge.venues.ccxt.exchanges import quirks_for
from signalbridge.venues.ccxt.markets import ccxt_decimal, market_from_ccxt
from signalbridge.venues.ccxt.orders import order_from_ccxt, time_of
from signalbridge.venues.ccxt.urls import guarded_session, override_problem, policy_of
from signalbridge.venues.symbols import SymbolMap, SymbolStyle

__all__ = ["WITHDRAW_REFUSAL", "CcxtAdapter", "CcxtConfig", "register"]

T = TypeVar("T")

WITHDRAW_REFUSAL = "this API key can withdraw funds; create a trade-only key"
_BALANCE_META = frozenset({"info", "free", "used", "total", "debt", "timestamp", "datetime"})
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
        style = config.symbol_style or (
            SymbolStyle.SLASH if self.kind is MarketKind.SPOT else SymbolStyle.LINEAR
        )
        self.symbols = SymbolMap.from_config(
            config.exchange,
            {
                "symbol_style": style.value,
                "symbol_prefix": config.symbol_prefix,
                "symbol_suffix": config.symbol_suffix,
                "symbol_map": config.symbol_map,
            },
        )
        linear = self.kind is MarketKind.LINEAR
        # Exits rest on the venue where the exchange's quirks say they can (Binance's Algo
        # Service); elsewhere the position monitor enforces stops and targets.
        self.quirks = quirks_for(config.exchange, config.market_type)
        resting = bool(self.quirks.resting_types)
        self.capabilities = Capabilities(
            stop_orders=resting,
            native_stop_loss=resting,
            native_take_profit=resting,
            reduce_only=linear,
            futures=linear,
            leverage=linear,
            batch_tickers=True,
            max_client_order_id_len=36,
            resting_stops=resting,
            resting_targets=resting,
            nets_positions=linear,
        )
        self.exchange: Any = build_exchange(config, secrets, self.quirks)
        self._markets: dict[str, Market] | None = None
        # An override is held to the operator's allow-list now, and refused on every call
        # (before any request) rather than here, so one connection whose host the operator
        # no longer allows cannot stop the adapter pool from building the others.
        self._policy = policy_of(deps)
        self._refusal = override_problem(config.urls, self._policy) if config.urls else None

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

    async def _call(self, fn: Callable[[], Awaitable[T]], *, write: bool = False) -> T:
        if self._refusal is not None:
            raise sb.InvalidRequest(self._refusal, connection_id=self.connection_id)
        if self.config.urls and self.exchange.session is None and not self.exchange.closed_by_user:
            # ccxt closes it with its own (own_session stays true) and never replaces it.
            self.exchange.session = guarded_session(self._policy)
        try:
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
        if self._markets is None:
            raw: Mapping[str, Any] = await self._call(lambda: self.exchange.load_markets())
            mode = getattr(self.exchange, "precisionMode", TICK_SIZE)
            markets: dict[str, Market] = {}
            for m in raw.values():
                if not self._wanted(m):
                    continue
                market = market_from_ccxt(
                    m, self.symbols.to_canonical(m["symbol"]), self.kind, mode
                )
                if market is not None:
                    markets.setdefault(market.symbol, market)
            self._markets = markets
        return self._markets

    def _wanted(self, m: Mapping[str, Any]) -> bool:
        if self.kind is MarketKind.SPOT:
            return bool(m.get("spot"))
        return bool(m.get("swap")) and bool(m.get("linear"))

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
        raw: dict[str, Any] = await self._call(lambda: self.exchange.fetch_tickers(venue))
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

    def _ticker(self, t: Mapping[str, Any] | None, symbol: str) -> Ticker | None:
        if not t:
            return None
        bid, ask, last = (
            ccxt_decimal(t.get("bid")),
            ccxt_decimal(t.get("ask")),
            ccxt_decimal(t.get("last")),
        )
        if last is None and bid is not None and ask is not None:
            last = (bid + ask) / 2
        if last is None:
            return None
        canonical = self.symbols.to_canonical(self.symbols.to_venue(symbol))
        return Ticker(canonical, bid, ask, last, self._time(t.get("timestamp")))

    # -- account ---------------------------------------------------------------------------

    async def fetch_balance(self) -> dict[str, Balance]:
        raw: Mapping[str, Any] = await self._call(lambda: self.exchange.fetch_balance())
        out: dict[str, Balance] = {}
        for asset, entry in raw.items():
            if asset in _BALANCE_META or not isinstance(entry, Mapping):
                continue
            free = ccxt_decimal(entry.get("free")) or Decimal(0)
            used = ccxt_decimal(entry.get("used")) or Decimal(0)
            total = ccxt_decimal(entry.get("total"))
            total = free + used if total is None else total
            if free or used or total:
                out[asset] = Balance(asset, free, used, total)
        return out

    async def fetch_positions(self) -> list[VenuePosition]:
        if self.kind is MarketKind.SPOT:
            return []
        await self.load_markets()
        raw: list[Mapping[str, Any]] = await self._call(lambda: self.exchange.fetch_positions())
        out = []
        for p in raw:
            contracts = ccxt_decimal(p.get("contracts")) or Decimal(0)
            if contracts == 0:
                continue
            side = PositionSide.SHORT if p.get("side") == "short" else PositionSide.LONG
            leverage = ccxt_decimal(p.get("leverage"))
            liquidation = ccxt_decimal(p.get("liquidationPrice"))
            out.append(
                VenuePosition(
                    symbol=self.symbols.to_canonical(str(p.get("symbol"))),
                    side=side,
                    amount=abs(contracts),
                    entry_price=ccxt_decimal(p.get("entryPrice")) or Decimal(0),
                    leverage=int(leverage) if leverage else None,
                    unrealised_pnl=ccxt_decimal(p.get("unrealizedPnl")) or Decimal(0),
                    liquidation_price=liquidation if liquidation else None,
                )
            )
        return out

    async def set_leverage(self, symbol: str, leverage: int) -> None:
        if self.kind is MarketKind.SPOT:
            raise sb.InvalidRequest(
                "spot markets have no leverage", connection_id=self.connection_id
            )
        venue = await self._venue_symbol(symbol)
        await self._call(lambda: self.exchange.set_leverage(leverage, venue))

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
            await self.set_leverage(req.symbol, req.leverage)
        params: dict[str, Any] = {"clientOrderId": req.client_order_id}
        if req.reduce_only:
            params["reduceOnly"] = True
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
        conditional orders (Binance futures: the Algo Service)."""
        venue = await self._venue_symbol(symbol)
        params = {"clientOrderId": client_order_id}
        try:
            raw: Mapping[str, Any] = await self._call(
                lambda: self.exchange.fetch_order(None, venue, params)
            )
        except sb.OrderNotFound:
            conditional = self.quirks.conditional(params)
            if conditional is None:
                raise
            raw = await self._call(lambda: self.exchange.fetch_order(None, venue, conditional))
        return await self._resolve(raw, client_order_id, venue)

    async def cancel_order(
        self, symbol: str, client_order_id: str, role: OrderRole | None = None
    ) -> VenueOrder:
        """Cancel by client id; a lost answer is a TransientError (cancelling is idempotent:
        a repeat answers OrderNotFound once the first one went through)."""
        venue = await self._venue_symbol(symbol)
        params = {"clientOrderId": client_order_id}
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

    async def _resolve(
        self, raw: Mapping[str, Any], client_order_id: str | None, venue: str
    ) -> VenueOrder:
        """A ccxt order as ours; a triggered conditional order is read with its child."""
        actual = self.quirks.child_id(raw)
        if actual is None:
            return self._parsed(raw, client_order_id)
        found: Mapping[str, Any] = await self._call(
            lambda: self.exchange.fetch_order(actual, venue)
        )
        return self._parsed(raw, client_order_id, self._order(found, None))

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

    def _time(self, ms: Any) -> datetime:
        return time_of(ms, self._deps.clock)

    # -- health --------------------------------------------------------------------------------

    async def probe(self) -> ProbeResult:
        """Check the key works and can trade but cannot withdraw.

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
        if rights is None:
            return ProbeResult(
                True,
                latency,
                True,
                False,
                f"key works; withdrawal permission could not be verified on {self.config.exchange}",
            )
        if rights.can_withdraw:
            return ProbeResult(False, latency, rights.can_trade, True, WITHDRAW_REFUSAL)
        if not rights.can_trade:
            what = "spot trading" if self.kind is MarketKind.SPOT else "futures trading"
            return ProbeResult(
                False, latency, False, False, f"this API key cannot trade: enable {what} for it"
            )
        return ProbeResult(True, latency, True, False, "ok: trade-only key")

    async def close(self) -> None:
        try:
            await self.exchange.close()
        except Exception:  # closing must not fail shutdown  # noqa: S110
            pass


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def register(registry: AdapterRegistry) -> None:
    """Make ``ccxt`` an exchange type (bootstrap calls this)."""
    registry.register(
        "exchange",
        CcxtAdapter.type,
        CcxtAdapter,
        CcxtConfig,
        secret_fields=("api_key", "secret", "password"),
        description="Any ccxt exchange (spot or USDT-margined linear perpetuals)",
    )
