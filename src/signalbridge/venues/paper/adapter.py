"""One paper account as an ExchangeAdapter (``type = "paper"``).

Connections share one :class:`PaperExchange` per process (kept in ``deps.shared["paper"]``):
SQL-backed when the process has a session factory, in memory otherwise. The first paper
connection's ``feed`` and ``markets`` config build it; the feed rounds its prices to those
markets' ticks. A replay feed's file is confined to ``deps.data_dir`` (:mod:`.files`),
checked for every paper connection that is built, whether or not its feed is the one used.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Self

from signalbridge.domain.market import Candle, Market
from signalbridge.integrations.errors import InvalidRequest, SymbolNotListed
from signalbridge.venues.base import (
    AdapterDeps,
    Balance,
    Capabilities,
    OrderRequest,
    OrderRole,
    ProbeResult,
    Ticker,
    VenueOrder,
    VenuePosition,
)
from signalbridge.venues.paper.exchange import PaperExchange
from signalbridge.venues.paper.feeds import PriceFeed, RandomWalkFeed, ReplayFeed
from signalbridge.venues.paper.files import UnsafePath, confine
from signalbridge.venues.paper.markets import default_start_prices, markets_from_config
from signalbridge.venues.paper.rules import VenueRules
from signalbridge.venues.paper.store import MemoryPaperStore, PaperStateStore

PAPER_CAPABILITIES = Capabilities(
    market_orders=True,
    limit_orders=True,
    stop_orders=True,
    native_stop_loss=True,
    native_take_profit=True,
    reduce_only=True,
    futures=True,
    leverage=True,
    client_order_ids=True,
    lookup_by_client_id=True,
    batch_tickers=True,
    max_client_order_id_len=36,
    resting_stops=True,
    resting_targets=True,
    nets_positions=True,
)

DEFAULT_BALANCES = {"USDT": Decimal(10_000), "USD": Decimal(10_000)}


def build_exchange(config: Mapping[str, Any], deps: AdapterDeps) -> PaperExchange:
    """A paper exchange from config: feed, markets, and SQL or memory state."""
    store: PaperStateStore = (
        deps.paper_store() if deps.paper_store is not None else MemoryPaperStore()
    )
    markets = markets_from_config(config.get("markets"))
    ticks = {symbol: market.price_tick for symbol, market in markets.items()}
    return PaperExchange(
        store,
        markets=markets,
        feed=_feed(config.get("feed") or {}, ticks, deps.data_dir),
        clock=deps.clock,
    )


def replay_file(spec: Mapping[str, Any], data_dir: Path | None) -> Path | None:
    """The replay file a feed config names, confined to ``data_dir`` (``None``: no replay).

    Raises InvalidRequest, so the engine and the connection test report it as a refused
    configuration, naming the configured path only.
    """
    if spec.get("type", "random_walk") != "replay":
        return None
    path = spec.get("path")
    if not isinstance(path, str):
        raise InvalidRequest("a replay feed needs a 'path' inside the data directory")
    if data_dir is None:
        raise InvalidRequest("replay feeds are not available here: no data directory is set")
    try:
        target = confine(path, data_dir)
    except UnsafePath as exc:
        raise InvalidRequest(f"paper replay feed: {exc}") from None
    if not target.is_file():
        raise InvalidRequest(f"paper replay feed: {path!r} is not a file in the data directory")
    return target


def _feed(
    spec: Mapping[str, Any], ticks: Mapping[str, Decimal], data_dir: Path | None
) -> PriceFeed:
    kind = spec.get("type", "random_walk")
    replay = replay_file(spec, data_dir)
    if replay is not None:
        try:
            return ReplayFeed(replay, ticks)
        except OSError as exc:  # its text would name the resolved path: say what failed
            problem = f"cannot be read ({type(exc).__name__})"
            raise InvalidRequest(f"paper replay feed {spec['path']!r} {problem}") from None
        except ValueError as exc:  # a bad row, a bad encoding: the line and what is wrong
            raise InvalidRequest(f"paper replay feed {spec['path']!r}: {exc}") from None
    if kind != "random_walk":
        raise InvalidRequest(f"unknown paper feed type {kind!r}")
    starts = default_start_prices()
    starts.update({s: Decimal(str(p)) for s, p in (spec.get("start_prices") or {}).items()})
    return RandomWalkFeed(
        seed=int(spec.get("seed", 1)),
        start_prices=starts,
        volatility=Decimal(str(spec.get("volatility", "0.001"))),
        ticks=ticks,
    )


class PaperAdapter:
    type: ClassVar[str] = "paper"
    capabilities: Capabilities = PAPER_CAPABILITIES

    def __init__(
        self,
        connection_id: str,
        exchange: PaperExchange,
        *,
        account_id: str,
        rules: VenueRules,
        balances: Mapping[str, Decimal],
        clock_deps: AdapterDeps | None = None,
    ) -> None:
        self.connection_id = connection_id
        self.exchange = exchange
        self.account_id = account_id
        self._rules = rules
        self._balances = dict(balances)
        self._clock = (clock_deps or AdapterDeps()).clock
        self._ready = False
        self._leverage: dict[str, int] = {}

    @classmethod
    def from_config(
        cls,
        connection_id: str,
        config: Mapping[str, Any],
        secrets: Mapping[str, str],
        *,
        deps: AdapterDeps,
    ) -> Self:
        replay_file(config.get("feed") or {}, deps.data_dir)  # refused for every connection
        exchange = deps.shared.get(cls.type)
        if not isinstance(exchange, PaperExchange):
            exchange = build_exchange(config, deps)
            deps.shared[cls.type] = exchange
        balances = {
            asset: Decimal(str(amount))
            for asset, amount in (config.get("balances") or DEFAULT_BALANCES).items()
        }
        return cls(
            connection_id,
            exchange,
            account_id=str(config.get("account_id") or connection_id),
            rules=VenueRules.from_mapping(config),
            balances=balances,
            clock_deps=deps,
        )

    async def _account(self) -> str:
        if not self._ready:
            await self.exchange.open_account(self.account_id, self._rules, self._balances)
            self._ready = True
        return self.account_id

    async def load_markets(self) -> Mapping[str, Market]:
        return await self.exchange.markets(await self._account())

    async def fetch_tickers(self, symbols: Iterable[str]) -> dict[str, Ticker]:
        account = await self._account()
        markets = await self.exchange.markets(account)
        now = self._clock()
        tickers: dict[str, Ticker] = {}
        for symbol in symbols:
            market = markets.get(symbol)
            if market is None:
                raise SymbolNotListed(
                    f"{symbol} is not listed on paper", connection_id=self.connection_id
                )
            quote = self.exchange.quote(market, self._rules)
            tickers[symbol] = Ticker(symbol, quote.bid, quote.ask, quote.last, now)
        return tickers

    async def fetch_candles(self, symbol: str, timeframe: str, limit: int) -> list[Candle]:
        """Bars of the prices the shared feed applied (venues/candles.py)."""
        markets = await self.exchange.markets(await self._account())
        if symbol not in markets:
            raise SymbolNotListed(
                f"{symbol} is not listed on paper", connection_id=self.connection_id
            )
        try:
            return self.exchange.candles(symbol, timeframe, limit)
        except ValueError as exc:
            raise InvalidRequest(str(exc), connection_id=self.connection_id) from None

    async def fetch_balance(self) -> dict[str, Balance]:
        balances = await self.exchange.balances(await self._account())
        return {a: Balance(a, b.free, b.used, b.total) for a, b in balances.items()}

    async def create_order(self, req: OrderRequest) -> VenueOrder:
        if len(req.client_order_id) > self.capabilities.max_client_order_id_len:
            raise InvalidRequest("client order id is too long", connection_id=self.connection_id)
        return await self.exchange.create_order(await self._account(), req)

    async def fetch_order(
        self, symbol: str, client_order_id: str, role: OrderRole | None = None
    ) -> VenueOrder:
        return await self.exchange.fetch_order(await self._account(), client_order_id)

    async def cancel_order(
        self, symbol: str, client_order_id: str, role: OrderRole | None = None
    ) -> VenueOrder:
        return await self.exchange.cancel_order(await self._account(), client_order_id)

    async def fetch_open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        return await self.exchange.open_orders(await self._account(), symbol)

    async def fetch_positions(self) -> list[VenuePosition]:
        return await self.exchange.positions(await self._account())

    async def set_leverage(self, symbol: str, leverage: int) -> None:
        # The venue keeps the setting; a repeat of the one already set costs nothing.
        if self._leverage.get(symbol) == leverage:
            return
        await self.exchange.set_leverage(await self._account(), symbol, leverage)
        self._leverage[symbol] = leverage

    async def probe(self) -> ProbeResult:
        started = time.perf_counter()
        await self._account()
        latency = (time.perf_counter() - started) * 1000
        return ProbeResult(
            ok=True,
            latency_ms=latency,
            can_trade=True,
            can_withdraw=False,
            message="paper account ready",
        )

    async def close(self) -> None:
        """Nothing to release: the exchange is shared and outlives one connection."""
