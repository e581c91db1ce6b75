"""The fake Binance COIN-M book: inverse perpetuals, orders, positions and coin wallets.

What Binance documents for coin-margined futures (``/dapi``): a contract is worth a fixed
amount of USD (``contractSize``: BTCUSD_PERP 100, the others 10), quantities are whole
contracts, and margin, fees and PnL are in the base coin (``marginAsset``). A position of
``n`` contracts opened at ``entry`` is worth ``n × size / price`` coins; closing it at
``exit`` realises ``n × size × (1/entry − 1/exit)`` coins for a long (the opposite for a
short), and the average entry of several fills is the one that keeps the coin value:
``Σn / Σ(n / price)``. Commissions are charged in the coin on each fill's value
(taker 0.05 %, maker 0.02 %). Refusals use Binance's codes: -2019 (margin insufficient),
-2022 (reduce-only rejected), -4003 / -1111 / -1013 (quantity and price filters), -1116,
-4116 (duplicate client id among open orders), -2011 / -2013.

Pure logic; :mod:`tests.fakes.binance_dapi` serves it under the fake server's lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from tests.fakes.binance_book import (
    FUT_DUPLICATE,
    FUT_NO_MARGIN,
    INVALID_SYMBOL,
    ORDER_NOT_FOUND,
    UNKNOWN_ORDER,
    BinanceError,
    check_order_shape,
    crossing,
    needs_margin,
)

ZERO = Decimal(0)
TAKER = Decimal("0.0005")
MAKER = Decimal("0.0002")


@dataclass(frozen=True)
class CoinmSpec:
    """One COIN-M perpetual as exchangeInfo lists it."""

    symbol: str  # BTCUSD_PERP
    base: str  # BTC (also the margin asset)
    contract_size: int  # USD per contract
    tick: Decimal
    max_qty: Decimal = Decimal(1_000_000)
    market_max_qty: Decimal = Decimal(60_000)
    max_leverage: int = 125

    @property
    def pair(self) -> str:
        return f"{self.base}USD"


DEFAULT_SPECS = (
    CoinmSpec("BTCUSD_PERP", "BTC", 100, Decimal("0.1")),
    CoinmSpec("ETHUSD_PERP", "ETH", 10, Decimal("0.01")),
)


@dataclass
class CoinmOrder:
    order_id: int
    client_order_id: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    qty: Decimal
    price: Decimal
    reduce_only: bool
    position_side: str
    created_ms: int
    updated_ms: int
    status: str = "NEW"
    executed_qty: Decimal = ZERO
    #: Σ contracts × size / price of the fills: the coins traded (``cumBase``)
    cum_base: Decimal = ZERO
    #: (trade id, qty, price, commission in coin, maker, realised pnl, at ms)
    fills: list[tuple[int, Decimal, Decimal, Decimal, bool, Decimal, int]] = field(
        default_factory=list
    )

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")

    @property
    def avg_price(self) -> Decimal:
        """Binance's average for inverse fills: contracts over coins, times the size."""
        return ZERO if not self.cum_base else self.executed_qty * self.size / self.cum_base

    size: Decimal = Decimal(1)


@dataclass
class CoinmPosition:
    amount: Decimal = ZERO  # contracts, signed in one-way mode
    entry_price: Decimal = ZERO


class CoinmBook:
    """One account's COIN-M state."""

    def __init__(self, specs: tuple[CoinmSpec, ...] = DEFAULT_SPECS) -> None:
        self.specs = {s.symbol: s for s in specs}
        self.quotes: dict[str, tuple[Decimal, Decimal, Decimal]] = {}  # last, bid, ask
        self.wallet: dict[str, Decimal] = {}
        self.positions: dict[tuple[str, str], CoinmPosition] = {}
        self.leverage: dict[str, int] = {}
        self.margin_types: dict[str, str] = {}
        self.dual_side = False
        self.orders: list[CoinmOrder] = []
        self._ids = 7_000_000

    def next_id(self) -> int:
        self._ids += 1
        return self._ids

    # -- market ----------------------------------------------------------------------------

    def spec(self, symbol: str) -> CoinmSpec:
        try:
            return self.specs[symbol]
        except KeyError:
            raise BinanceError(*INVALID_SYMBOL) from None

    def quote(self, symbol: str) -> tuple[Decimal, Decimal, Decimal]:
        self.spec(symbol)
        return self.quotes.get(symbol, (Decimal(50000), Decimal(50000), Decimal(50000)))

    def set_price(self, symbol: str, last: Decimal, bid: Decimal, ask: Decimal, now: int) -> None:
        self.spec(symbol)
        self.quotes[symbol] = (last, bid, ask)
        for o in self.orders:
            if o.symbol == symbol and o.is_open:
                if (o.side == "BUY" and ask <= o.price) or (o.side == "SELL" and bid >= o.price):
                    self._fill(o, o.price, now, maker=True)

    # -- accounts --------------------------------------------------------------------------

    def leverage_of(self, symbol: str) -> int:
        return self.leverage.get(symbol, 20)

    def margin_type(self, symbol: str) -> str:
        return self.margin_types.get(symbol, "CROSSED")

    def position(self, symbol: str, side: str) -> CoinmPosition:
        return self.positions.setdefault((symbol, side), CoinmPosition())

    def coins(self, symbol: str, qty: Decimal, price: Decimal) -> Decimal:
        """The coin value of ``qty`` contracts at ``price``."""
        return qty * self.spec(symbol).contract_size / price

    def unrealised(self, symbol: str, side: str) -> Decimal:
        pos = self.positions.get((symbol, side), CoinmPosition())
        if pos.amount == 0:
            return ZERO
        mark = self.quote(symbol)[0]
        size = self.spec(symbol).contract_size
        return pos.amount * size * (1 / pos.entry_price - 1 / mark)

    def position_margin(self, symbol: str, side: str) -> Decimal:
        pos = self.positions.get((symbol, side), CoinmPosition())
        if pos.amount == 0:
            return ZERO
        return self.coins(symbol, abs(pos.amount), self.quote(symbol)[0]) / self.leverage_of(symbol)

    def used_margin(self, asset: str) -> Decimal:
        used = sum(
            (
                self.position_margin(s, side)
                for (s, side) in self.positions
                if self.specs[s].base == asset
            ),
            ZERO,
        )
        for o in self.orders:
            if o.is_open and not o.reduce_only and self.specs[o.symbol].base == asset:
                left = o.qty - o.executed_qty
                used += self.coins(o.symbol, left, o.price) / self.leverage_of(o.symbol)
        return used

    def available(self, asset: str) -> Decimal:
        return self.wallet.get(asset, ZERO) - self.used_margin(asset)

    # -- orders ----------------------------------------------------------------------------

    def new_order(
        self,
        *,
        symbol: str,
        side: str,
        type_: str,
        qty: Decimal,
        price: Decimal | None,
        time_in_force: str | None,
        client_id: str,
        reduce_only: bool,
        position_side: str,
        now_ms: int,
    ) -> CoinmOrder:
        spec = self.spec(symbol)
        check_order_shape(side, type_, price)
        if any(o.is_open and o.client_order_id == client_id for o in self.orders):
            raise BinanceError(*FUT_DUPLICATE)
        self._check_filters(spec, qty, price, type_)
        _, bid, ask = self.quote(symbol)
        fill_price, marketable = crossing(side, type_, price, bid, ask)
        self._check_margin(
            spec,
            side,
            qty,
            fill_price if marketable else (price or fill_price),
            reduce_only,
            position_side,
        )
        order = CoinmOrder(
            order_id=self.next_id(),
            client_order_id=client_id,
            symbol=symbol,
            side=side,
            type=type_,
            time_in_force=time_in_force or "GTC",
            qty=qty,
            price=price if (type_ == "LIMIT" and price is not None) else ZERO,
            reduce_only=reduce_only,
            position_side=position_side,
            created_ms=now_ms,
            updated_ms=now_ms,
            size=Decimal(spec.contract_size),
        )
        self.orders.append(order)
        if marketable:
            self._fill(order, fill_price, now_ms)
        elif order.time_in_force in ("IOC", "FOK"):
            order.status = "EXPIRED"
        return order

    def find(self, symbol: str, order_id: str | None, client_id: str | None) -> CoinmOrder:
        self.spec(symbol)
        for o in reversed(self.orders):
            if o.symbol != symbol:
                continue
            if (order_id is not None and str(o.order_id) == order_id) or (
                order_id is None and o.client_order_id == client_id
            ):
                return o
        raise BinanceError(*ORDER_NOT_FOUND)

    def cancel(
        self, symbol: str, order_id: str | None, client_id: str | None, now_ms: int
    ) -> CoinmOrder:
        try:
            o = self.find(symbol, order_id, client_id)
        except BinanceError:
            raise BinanceError(*UNKNOWN_ORDER) from None
        if not o.is_open:
            raise BinanceError(*UNKNOWN_ORDER)
        o.status, o.updated_ms = "CANCELED", now_ms
        return o

    def open_orders(self, symbol: str | None) -> list[CoinmOrder]:
        return [o for o in self.orders if o.is_open and (symbol is None or o.symbol == symbol)]

    # -- checks and fills ------------------------------------------------------------------

    @staticmethod
    def _check_filters(spec: CoinmSpec, qty: Decimal, price: Decimal | None, type_: str) -> None:
        if qty <= 0:
            raise BinanceError(-4003, "Quantity less than or equal to zero.")
        if qty % 1 != 0:
            raise BinanceError(-1111, "Precision is over the maximum defined for this asset.")
        if qty > spec.max_qty:
            raise BinanceError(-1013, "Filter failure: LOT_SIZE")
        if type_ == "MARKET" and qty > spec.market_max_qty:
            raise BinanceError(-4005, "Quantity greater than max quantity.")
        if price is not None and (price <= 0 or price % spec.tick != 0):
            raise BinanceError(-1013, "Filter failure: PRICE_FILTER")

    def _check_margin(
        self,
        spec: CoinmSpec,
        side: str,
        qty: Decimal,
        price: Decimal,
        reduce_only: bool,
        position_side: str,
    ) -> None:
        pos = self.positions.get((spec.symbol, position_side), CoinmPosition())
        if not needs_margin(pos.amount, side, qty, reduce_only, position_side):
            return
        needed = self.coins(spec.symbol, qty, price) / self.leverage_of(spec.symbol)
        if needed > self.available(spec.base):
            raise BinanceError(*FUT_NO_MARGIN)

    def _fill(self, o: CoinmOrder, price: Decimal, now_ms: int, *, maker: bool = False) -> None:
        spec = self.specs[o.symbol]
        qty = o.qty - o.executed_qty
        coins = self.coins(o.symbol, qty, price)
        fee = coins * (MAKER if maker else TAKER)
        realised = self._apply(spec, o, qty, price)
        self.wallet[spec.base] = self.wallet.get(spec.base, ZERO) + realised - fee
        o.executed_qty += qty
        o.cum_base += coins
        o.status, o.updated_ms = "FILLED", now_ms
        o.fills.append((self.next_id(), qty, price, fee, maker, realised, now_ms))

    def _apply(self, spec: CoinmSpec, o: CoinmOrder, qty: Decimal, price: Decimal) -> Decimal:
        """Move the position by a fill; the coins it realises."""
        pos = self.position(o.symbol, o.position_side)
        signed = qty if o.side == "BUY" else -qty
        size = spec.contract_size
        if pos.amount == 0 or (pos.amount > 0) == (signed > 0):
            coins = abs(pos.amount) / pos.entry_price if pos.amount else ZERO
            total = abs(pos.amount) + qty
            pos.entry_price = total / (coins + qty / price)
            pos.amount += signed
            return ZERO
        closing = min(qty, abs(pos.amount))
        sign = 1 if pos.amount > 0 else -1
        realised = closing * size * (1 / pos.entry_price - 1 / price) * sign
        pos.amount += signed
        if pos.amount == 0:
            pos.entry_price = ZERO
        elif (pos.amount > 0) != (sign > 0):  # flipped: the rest opens at this price
            pos.entry_price = price
        return realised
