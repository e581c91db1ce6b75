"""The paper exchange: one price feed and one store shared by many paper accounts.

Each call is one atomic store operation on one account. A price tick (``on_price``) visits only
the accounts that have open orders on that symbol, so thousands of idle accounts cost
nothing. Every price the exchange applies is put on its market's tick first, whatever fed
it (a feed, a test, a replay file): the book a market order trades at is always on the tick.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

from signalbridge.domain.clock import utcnow
from signalbridge.domain.market import Candle, Market
from signalbridge.integrations.errors import (
    InvalidRequest,
    OrderNotFound,
    SymbolNotListed,
    TransientError,
)
from signalbridge.venues.base import OrderRequest, VenueOrder, VenuePosition
from signalbridge.venues.candles import candles_from_prices, check_request
from signalbridge.venues.paper import venue
from signalbridge.venues.paper.feeds import PriceFeed, on_tick
from signalbridge.venues.paper.markets import (
    default_markets,
    default_start_prices,
    for_account,
)
from signalbridge.venues.paper.rules import Quote, VenueRules
from signalbridge.venues.paper.state import AccountState, PaperBalance, PaperOrder
from signalbridge.venues.paper.store import PaperStateStore

HISTORY_SAMPLES = 5000
"""Prices kept per symbol for candles: at a 1 s tick, well over an hour of bars."""


class PaperExchange:
    def __init__(
        self,
        store: PaperStateStore,
        *,
        markets: Mapping[str, Market] | None = None,
        feed: PriceFeed | None = None,
        clock: Callable[[], datetime] = utcnow,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self.store = store
        self.feed = feed
        self._clock = clock
        self._new_id = new_id
        base = dict(markets) if markets is not None else default_markets()
        self._views = {False: for_account(base, False), True: for_account(base, True)}
        # The tick is the same in the spot and the futures view of a symbol.
        self._ticks = {symbol: market.price_tick for symbol, market in base.items()}
        self._prices = self.on_ticks(feed.current() if feed else default_start_prices())
        self._rules: dict[str, VenueRules] = {}
        # The prices applied, per symbol, for candles (the analyst's read; bounded memory).
        self._history: dict[str, deque[tuple[datetime, Decimal]]] = {}
        self._remember(self._prices)

    # --- accounts --------------------------------------------------------------------------

    async def open_account(
        self, account_id: str, rules: VenueRules, balances: Mapping[str, Decimal]
    ) -> None:
        """Create the account once (balances only at creation); rules follow the config."""
        await self.store.ensure_account(account_id, {"rules": rules.to_mapping()}, balances)
        self._rules[account_id] = rules

    async def rules(self, account_id: str) -> VenueRules:
        if account_id not in self._rules:
            settings = await self.store.get_settings(account_id)
            self._rules[account_id] = VenueRules.from_mapping(settings.get("rules") or {})
        return self._rules[account_id]

    async def markets(self, account_id: str) -> dict[str, Market]:
        return self._views[(await self.rules(account_id)).futures]

    async def market(self, account_id: str, symbol: str) -> Market:
        markets = await self.markets(account_id)
        if symbol not in markets:
            raise SymbolNotListed(f"{symbol} is not listed on paper")
        return markets[symbol]

    # --- prices ----------------------------------------------------------------------------

    def on_ticks(self, prices: Mapping[str, Decimal]) -> dict[str, Decimal]:
        """``prices`` rounded to their markets' ticks (a symbol not listed keeps its price)."""
        return {s: on_tick(p, self._ticks.get(s)) for s, p in prices.items()}

    def price(self, symbol: str) -> Decimal:
        if symbol not in self._prices:
            raise TransientError(f"no price yet for {symbol} on paper")
        return self._prices[symbol]

    def quote(self, market: Market, rules: VenueRules) -> Quote:
        return Quote.around(self.price(market.symbol), market, rules.spread)

    def _remember(self, prices: Mapping[str, Decimal]) -> None:
        now = self._clock()
        for symbol, price in prices.items():
            self._history.setdefault(symbol, deque(maxlen=HISTORY_SAMPLES)).append((now, price))

    def candles(self, symbol: str, timeframe: str, limit: int) -> list[Candle]:
        """Bars built from the prices this exchange applied (its feed's ticks), oldest first."""
        seconds = check_request(timeframe, limit)
        return candles_from_prices(list(self._history.get(symbol, ())), seconds, limit)

    async def on_price(self, symbol: str, price: Decimal) -> int:
        """Set a price and match resting orders on it; returns how many orders changed."""
        return await self.on_prices({symbol: price})

    async def on_prices(self, prices: Mapping[str, Decimal]) -> int:
        """Set several prices, then match the resting orders on all of them together.

        One store query finds the accounts with open orders on any of the symbols (a feed
        tick moves every symbol at once, and most have no resting order at all); each
        (account, symbol) match is then one operation, grouped in one store transaction.
        """
        if any(not price.is_finite() or price <= 0 for price in prices.values()):
            raise ValueError("price must be a positive number")
        prices = self.on_ticks(prices)
        self._prices.update(prices)
        self._remember(prices)
        if not prices:
            return 0
        runs = []
        holders = await self.store.accounts_with_open_orders_on(list(prices))
        for symbol in prices:
            for account_id in holders.get(symbol, ()):
                rules = await self.rules(account_id)
                market = self._views[rules.futures].get(symbol)
                if market is None:
                    continue
                tick = partial(
                    venue.on_tick,
                    market=market,
                    quote=self.quote(market, rules),
                    rules=rules,
                    now=self._clock(),
                )
                runs.append(self.store.run(account_id, tick, open_orders_symbol=symbol))
        return sum(len(touched) for touched in await asyncio.gather(*runs))

    async def advance(self) -> dict[str, Decimal]:
        """Pull the next tick from the feed and apply it; returns the prices applied."""
        if self.feed is None:
            return {}
        prices = self.on_ticks(self.feed.advance())
        await self.on_prices(prices)
        return prices

    # --- orders ----------------------------------------------------------------------------

    async def create_order(self, account_id: str, req: OrderRequest) -> VenueOrder:
        rules = await self.rules(account_id)
        market = await self.market(account_id, req.symbol)
        quote, now, order_id = self.quote(market, rules), self._clock(), self._new_id()

        def place(state: AccountState) -> VenueOrder:
            if _by_client_id(state, req.client_order_id) is not None:
                raise InvalidRequest("duplicate client order id")
            order = venue.place(state, req, market, quote, rules, now, order_id)
            return order.to_venue_order()

        return await self.store.run(account_id, place, client_order_id=req.client_order_id)

    async def fetch_order(self, account_id: str, client_order_id: str) -> VenueOrder:
        order = await self.store.get_order(account_id, client_order_id)
        if order is None:
            raise OrderNotFound(f"order {client_order_id} not found on paper")
        return order.to_venue_order()

    async def cancel_order(self, account_id: str, client_order_id: str) -> VenueOrder:
        now = self._clock()

        def cancel(state: AccountState) -> VenueOrder:
            order = _by_client_id(state, client_order_id)
            if order is None:
                raise OrderNotFound(f"order {client_order_id} not found on paper")
            return venue.cancel(state, order, now).to_venue_order()

        return await self.store.run(account_id, cancel, client_order_id=client_order_id)

    async def open_orders(self, account_id: str, symbol: str | None) -> list[VenueOrder]:
        return [o.to_venue_order() for o in await self.store.list_open_orders(account_id, symbol)]

    async def balances(self, account_id: str) -> dict[str, PaperBalance]:
        return await self.store.get_balances(account_id)

    async def positions(self, account_id: str) -> list[VenuePosition]:
        markets = await self.markets(account_id)
        result: list[VenuePosition] = []
        for symbol, position in sorted((await self.store.get_positions(account_id)).items()):
            market = markets[symbol]
            last = self._prices.get(symbol, position.entry_price)
            result.append(
                VenuePosition(
                    symbol=symbol,
                    side=position.side,
                    amount=position.amount,
                    entry_price=position.entry_price,
                    leverage=position.leverage,
                    unrealised_pnl=venue.unrealised_pnl(position, market, last),
                    liquidation_price=venue.liquidation_price(position, market),
                )
            )
        return result

    async def set_leverage(self, account_id: str, symbol: str, leverage: int) -> None:
        market = await self.market(account_id, symbol)
        if leverage < 1 or (market.max_leverage is not None and leverage > market.max_leverage):
            raise InvalidRequest(f"leverage {leverage} is not allowed for {symbol}")

        def remember(state: AccountState) -> None:
            levels: dict[str, Any] = dict(state.settings.get("leverage") or {})
            levels[symbol] = leverage
            state.settings["leverage"] = levels
            state.settings_changed = True

        await self.store.run(account_id, remember)


def _by_client_id(state: AccountState, client_order_id: str) -> PaperOrder | None:
    for order in state.orders.values():
        if order.client_order_id == client_order_id:
            return order
    return None
