"""In-memory state of the fake Binance: markets, prices, orders, balances, positions.

Pure logic without HTTP, so the matching rules can be read (and tested) on their own. The
server in :mod:`tests.fakes.binance` holds one :class:`BinanceBook` and calls it under its lock.
Errors are raised as :class:`BinanceError` carrying Binance's own code, message and HTTP status.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import Decimal

from tests.fakes.binance_fees import (
    FuturesCommission,
    SpotCommission,
    SpotFill,
    record_futures_fill,
    settle_spot_fill,
)

ZERO = Decimal(0)


class BinanceError(Exception):
    """A refusal exactly as Binance words it: ``{"code": -2010, "msg": "..."}`` + HTTP status."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status


INVALID_SYMBOL = (-1121, "Invalid symbol.")
ORDER_NOT_FOUND = (-2013, "Order does not exist.")
UNKNOWN_ORDER = (-2011, "Unknown order sent.")
SPOT_NO_BALANCE = (-2010, "Account has insufficient balance for requested action.")
FUT_NO_MARGIN = (-2019, "Margin is insufficient.")
SPOT_DUPLICATE = (-2010, "Duplicate order sent.")
FUT_DUPLICATE = (-4116, "ClientOrderId is duplicated.")
REDUCE_ONLY_REJECTED = (-2022, "ReduceOnly Order is rejected.")


def check_order_shape(side: str, type_: str, price: Decimal | None) -> None:
    """The refusals of a malformed new order, worded alike by spot, USDⓈ-M and COIN-M."""
    if side not in ("BUY", "SELL"):
        raise BinanceError(
            -1102, "Mandatory parameter 'side' was not sent, was empty/null, or malformed."
        )
    if type_ not in ("MARKET", "LIMIT"):
        raise BinanceError(-1116, "Invalid orderType.")
    if type_ == "LIMIT" and price is None:
        raise BinanceError(
            -1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed."
        )


def crossing(
    side: str, type_: str, price: Decimal | None, bid: Decimal, ask: Decimal
) -> tuple[Decimal, bool]:
    """The touch a new order would take (the ask for a buy, the bid for a sell) and whether
    it trades at once: a MARKET order, or a LIMIT order priced through the touch."""
    touch = ask if side == "BUY" else bid
    buys_through = side == "BUY" and price is not None and price >= ask
    sells_through = side == "SELL" and price is not None and price <= bid
    return touch, type_ == "MARKET" or buys_through or sells_through


def needs_margin(
    held: Decimal, side: str, qty: Decimal, reduce_only: bool, position_side: str
) -> bool:
    """Whether a futures order of ``qty`` (> 0) against the position ``held`` (signed in
    one-way mode) needs margin; -2022 when it would reduce more than is held. The same rule
    on USDⓈ-M and COIN-M, whatever the margin is counted in."""
    signed = qty if side == "BUY" else -qty
    if position_side != "BOTH":  # hedge mode: the side says which position it acts on
        opens = (position_side == "LONG") == (side == "BUY")
        if not opens and qty > abs(held):
            raise BinanceError(*REDUCE_ONLY_REJECTED)
        if not opens:
            return False
    if reduce_only:
        if held == 0 or (held > 0) == (signed > 0) or qty > abs(held):
            raise BinanceError(*REDUCE_ONLY_REJECTED)
        return False
    # closing part of a position frees margin
    return held == 0 or (held > 0) == (signed > 0) or qty > abs(held)


@dataclass(frozen=True)
class SymbolSpec:
    """One listed symbol with its exchangeInfo filters."""

    symbol: str
    base: str
    quote: str
    futures: bool
    tick: Decimal
    step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    max_leverage: int = 125
    #: MARKET_LOT_SIZE maxQty: the cap on one MARKET order (None: LOT_SIZE's maxQty).
    market_max_qty: Decimal | None = None

    @property
    def market_cap(self) -> Decimal:
        return self.max_qty if self.market_max_qty is None else self.market_max_qty


def default_symbols() -> list[SymbolSpec]:
    d = Decimal
    return [
        SymbolSpec(
            "BTCUSDT",
            "BTC",
            "USDT",
            False,
            d("0.01"),
            d("0.00001"),
            d("0.00001"),
            d("9000"),
            d("5"),
            market_max_qty=d("70"),  # MARKET_LOT_SIZE: far below LOT_SIZE, as on Binance
        ),
        SymbolSpec(
            "ETHUSDT",
            "ETH",
            "USDT",
            False,
            d("0.01"),
            d("0.0001"),
            d("0.0001"),
            d("9000"),
            d("5"),
            market_max_qty=d("2000"),
        ),
        SymbolSpec(
            "SOLUSDT", "SOL", "USDT", False, d("0.01"), d("0.001"), d("0.001"), d("90000"), d("5")
        ),
        SymbolSpec(
            "BTCUSDT",
            "BTC",
            "USDT",
            True,
            d("0.10"),
            d("0.001"),
            d("0.001"),
            d("1000"),
            d("100"),
            market_max_qty=d("120"),
        ),
        SymbolSpec(
            "ETHUSDT",
            "ETH",
            "USDT",
            True,
            d("0.01"),
            d("0.001"),
            d("0.001"),
            d("10000"),
            d("20"),
            market_max_qty=d("2000"),
        ),
    ]


def default_prices() -> dict[str, Decimal]:
    return {"BTCUSDT": Decimal("50000"), "ETHUSDT": Decimal("3000"), "SOLUSDT": Decimal("150")}


@dataclass
class FakeOrder:
    """One order; ``hidden_lookups`` makes GET /order answer -2013 that many more times."""

    order_id: int
    client_order_id: str
    symbol: str
    futures: bool
    side: str  # BUY / SELL
    type: str  # MARKET / LIMIT
    time_in_force: str
    qty: Decimal
    price: Decimal  # 0 for market orders, as Binance reports it
    reduce_only: bool
    created_ms: int
    updated_ms: int
    status: str = "NEW"
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    hidden_lookups: int = 0
    position_side: str = "BOTH"  # futures: BOTH (one-way mode), LONG or SHORT (hedge mode)
    fills: list[SpotFill] = field(default_factory=list)  # its trades, with their commission

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")

    @property
    def avg_price(self) -> Decimal:
        return self.cum_quote / self.executed_qty if self.executed_qty else ZERO


@dataclass
class FuturesPosition:
    amount: Decimal = ZERO  # signed: > 0 long, < 0 short
    entry_price: Decimal = ZERO


@dataclass
class Quote:
    bid: Decimal
    ask: Decimal
    last: Decimal


@dataclass
class BinanceBook:
    """Markets, quotes, orders and accounts of one fake account (spot + USDⓈ-M)."""

    symbols: list[SymbolSpec] = field(default_factory=default_symbols)
    quotes: dict[str, Quote] = field(default_factory=dict)
    spot_free: dict[str, Decimal] = field(default_factory=dict)
    spot_locked: dict[str, Decimal] = field(default_factory=dict)
    futures_wallet: Decimal = Decimal("10000")
    #: Futures positions by (symbol, positionSide): BOTH in one-way mode, LONG/SHORT in hedge.
    positions: dict[tuple[str, str], FuturesPosition] = field(default_factory=dict)
    #: positionSide of orders the venue places itself, by client id (an algo order's child
    #: inherits its parent's).
    position_sides: dict[str, str] = field(default_factory=dict)
    leverage: dict[str, int] = field(default_factory=dict)
    orders: list[FakeOrder] = field(default_factory=list)
    #: "open" (Binance's documented rule, the default): unique among open orders, so a
    #: finished order's id may be sent again as a new order; "all": never reused;
    #: "none": duplicates accepted as new orders (reliability row 15).
    client_id_uniqueness: str = "open"
    #: Spot commission rates and whether BNB pays them (:mod:`tests.fakes.binance_fees`).
    commission: SpotCommission = field(default_factory=SpotCommission)
    #: USDⓈ-M commission rates, debited from ``futures_wallet`` at each fill.
    futures_commission: FuturesCommission = field(default_factory=FuturesCommission)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))

    def __post_init__(self) -> None:
        if not self.quotes:
            for sym, price in default_prices().items():
                self.quotes[sym] = Quote(price, price, price)
        if not self.spot_free:
            self.spot_free = {"USDT": Decimal("10000"), "BTC": Decimal("1"), "ETH": Decimal("10")}

    def next_id(self) -> int:
        """A fresh order id (also the suffix Binance gives an order sent without a client id)."""
        return next(self._ids)

    # -- lookups ---------------------------------------------------------------------------

    def spec(self, symbol: str, futures: bool) -> SymbolSpec:
        for s in self.symbols:
            if s.symbol == symbol and s.futures == futures:
                return s
        raise BinanceError(*INVALID_SYMBOL)

    def quote(self, symbol: str) -> Quote:
        q = self.quotes.get(symbol)
        if q is None:
            raise BinanceError(*INVALID_SYMBOL)
        return q

    def find_order(
        self, futures: bool, symbol: str, order_id: str | None, client_id: str | None
    ) -> FakeOrder:
        """The newest order matching the id (Binance answers the latest for a reused id)."""
        for o in reversed(self.orders):
            if o.futures != futures or o.symbol != symbol:
                continue
            if (order_id is not None and str(o.order_id) == order_id) or (
                client_id is not None and o.client_order_id == client_id
            ):
                return o
        raise BinanceError(*ORDER_NOT_FOUND)

    # -- prices ----------------------------------------------------------------------------

    def set_price(
        self, symbol: str, price: Decimal, bid: Decimal | None, ask: Decimal | None, now_ms: int
    ) -> None:
        self.quotes[symbol] = Quote(
            bid if bid is not None else price, ask if ask is not None else price, price
        )
        for o in self.orders:
            if o.symbol == symbol and o.is_open and o.type == "LIMIT":
                self._try_fill_resting(o, now_ms)

    def _try_fill_resting(self, o: FakeOrder, now_ms: int) -> None:
        q = self.quotes[o.symbol]
        if (o.side == "BUY" and q.ask <= o.price) or (o.side == "SELL" and q.bid >= o.price):
            if not o.futures:
                self._unlock_spot(o)
            self._fill(o, o.price, now_ms, maker=True)

    # -- orders ----------------------------------------------------------------------------

    def new_order(
        self,
        *,
        futures: bool,
        symbol: str,
        side: str,
        type_: str,
        qty: Decimal,
        price: Decimal | None,
        time_in_force: str | None,
        client_id: str,
        reduce_only: bool,
        now_ms: int,
        hidden_lookups: int = 0,
        position_side: str | None = None,
    ) -> FakeOrder:
        spec = self.spec(symbol, futures)
        if position_side is None:
            position_side = self.position_sides.get(client_id, "BOTH")
        quote = self.quote(symbol)
        check_order_shape(side, type_, price)
        self._check_duplicate(futures, client_id)
        self._check_filters(spec, qty, price, futures, type_)
        fill_price, marketable = crossing(side, type_, price, quote.bid, quote.ask)
        ref_price = fill_price if marketable else (price or fill_price)
        self._check_notional(spec, qty, ref_price, futures, reduce_only)
        if futures:
            self._check_margin(spec, side, qty, ref_price, reduce_only, position_side)
        else:
            self._check_spot_funds(spec, side, qty, ref_price)
        order = FakeOrder(
            order_id=self.next_id(),
            client_order_id=client_id,
            symbol=symbol,
            futures=futures,
            side=side,
            type=type_,
            time_in_force=time_in_force or "GTC",
            qty=qty,
            price=price if (type_ == "LIMIT" and price is not None) else ZERO,
            reduce_only=reduce_only,
            created_ms=now_ms,
            updated_ms=now_ms,
            hidden_lookups=hidden_lookups,
            position_side=position_side if futures else "BOTH",
        )
        self.orders.append(order)
        if marketable:
            self._fill(order, fill_price, now_ms)
        elif order.time_in_force in ("IOC", "FOK"):
            order.status = "EXPIRED"
        elif not futures:
            self._lock_spot(order)
        return order

    def cancel(
        self, futures: bool, symbol: str, order_id: str | None, client_id: str | None, now_ms: int
    ) -> FakeOrder:
        try:
            o = self.find_order(futures, symbol, order_id, client_id)
        except BinanceError:
            raise BinanceError(*UNKNOWN_ORDER) from None
        if not o.is_open:
            raise BinanceError(*UNKNOWN_ORDER)
        if not futures:
            self._unlock_spot(o)
        o.status = "CANCELED"
        o.updated_ms = now_ms
        return o

    def open_orders(self, futures: bool, symbol: str | None) -> list[FakeOrder]:
        return [
            o
            for o in self.orders
            if o.futures == futures and o.is_open and (symbol is None or o.symbol == symbol)
        ]

    # -- checks ----------------------------------------------------------------------------

    def _check_duplicate(self, futures: bool, client_id: str) -> None:
        if self.client_id_uniqueness == "none":
            return
        for o in self.orders:
            if o.futures != futures or o.client_order_id != client_id:
                continue
            if self.client_id_uniqueness == "all" or o.is_open:
                raise BinanceError(*(FUT_DUPLICATE if futures else SPOT_DUPLICATE))

    @staticmethod
    def _check_filters(
        spec: SymbolSpec, qty: Decimal, price: Decimal | None, futures: bool, type_: str = "LIMIT"
    ) -> None:
        if qty <= 0:
            raise (
                BinanceError(-4003, "Quantity less than or equal to zero.")
                if futures
                else BinanceError(-1013, "Invalid quantity.")
            )
        if qty < spec.min_qty or qty > spec.max_qty or qty % spec.step != 0:
            if futures and qty % spec.step != 0:
                raise BinanceError(-1111, "Precision is over the maximum defined for this asset.")
            raise BinanceError(-1013, "Filter failure: LOT_SIZE")
        if price is not None and (price <= 0 or price % spec.tick != 0):
            raise BinanceError(-1013, "Filter failure: PRICE_FILTER")
        if type_ == "MARKET" and qty > spec.market_cap:  # MARKET_LOT_SIZE
            raise (
                BinanceError(-4005, "Quantity greater than max quantity.")
                if futures
                else BinanceError(-1013, "Filter failure: MARKET_LOT_SIZE")
            )

    @staticmethod
    def _check_notional(
        spec: SymbolSpec, qty: Decimal, price: Decimal, futures: bool, reduce_only: bool
    ) -> None:
        if qty * price >= spec.min_notional:
            return
        if futures:
            if not reduce_only:
                raise BinanceError(
                    -4164,
                    f"Order's notional must be no smaller than {spec.min_notional} "
                    "(unless you choose reduce only).",
                )
        else:
            raise BinanceError(-1013, "Filter failure: NOTIONAL")

    def _check_spot_funds(self, spec: SymbolSpec, side: str, qty: Decimal, price: Decimal) -> None:
        asset, need = (spec.quote, qty * price) if side == "BUY" else (spec.base, qty)
        if self.spot_free.get(asset, ZERO) < need:
            raise BinanceError(*SPOT_NO_BALANCE)

    def _check_margin(
        self,
        spec: SymbolSpec,
        side: str,
        qty: Decimal,
        price: Decimal,
        reduce_only: bool,
        position_side: str = "BOTH",
    ) -> None:
        pos = self.positions.get((spec.symbol, position_side), FuturesPosition())
        if not needs_margin(pos.amount, side, qty, reduce_only, position_side):
            return
        if qty * price / self.leverage_of(spec.symbol) > self.futures_available():
            raise BinanceError(*FUT_NO_MARGIN)

    # -- accounts --------------------------------------------------------------------------

    def leverage_of(self, symbol: str) -> int:
        return self.leverage.get(symbol, 20)

    def unrealised(self, symbol: str, side: str = "BOTH") -> Decimal:
        pos = self.positions.get((symbol, side))
        if pos is None or pos.amount == 0:
            return ZERO
        return (self.quote(symbol).last - pos.entry_price) * pos.amount

    def position_margin(self, symbol: str, side: str = "BOTH") -> Decimal:
        pos = self.positions.get((symbol, side))
        if pos is None or pos.amount == 0:
            return ZERO
        return abs(pos.amount) * pos.entry_price / self.leverage_of(symbol)

    def futures_available(self) -> Decimal:
        used = sum((self.position_margin(*k) for k in self.positions), ZERO)
        used += sum(
            (o.qty * o.price / self.leverage_of(o.symbol) for o in self.open_orders(True, None)),
            ZERO,
        )
        upnl = sum((self.unrealised(*k) for k in self.positions), ZERO)
        return self.futures_wallet + upnl - used

    def _lock_spot(self, o: FakeOrder) -> None:
        spec = self.spec(o.symbol, False)
        asset, amount = (spec.quote, o.qty * o.price) if o.side == "BUY" else (spec.base, o.qty)
        self.spot_free[asset] = self.spot_free.get(asset, ZERO) - amount
        self.spot_locked[asset] = self.spot_locked.get(asset, ZERO) + amount

    def _unlock_spot(self, o: FakeOrder) -> None:
        spec = self.spec(o.symbol, False)
        asset, amount = (spec.quote, o.qty * o.price) if o.side == "BUY" else (spec.base, o.qty)
        self.spot_free[asset] = self.spot_free.get(asset, ZERO) + amount
        self.spot_locked[asset] = self.spot_locked.get(asset, ZERO) - amount

    def _fill(self, o: FakeOrder, price: Decimal, now_ms: int, *, maker: bool = False) -> None:
        o.executed_qty = o.qty
        o.cum_quote = o.qty * price
        o.status = "FILLED"
        o.updated_ms = now_ms
        if o.futures:
            signed = o.qty if o.side == "BUY" else -o.qty
            realized = self._apply_position((o.symbol, o.position_side), signed, price)
            fill = record_futures_fill(
                o,
                self.futures_commission,
                price,
                self.next_id(),
                now_ms,
                maker=maker,
                realized_pnl=realized,
            )
            self.futures_wallet -= fill.commission
            return
        spec = self.spec(o.symbol, False)
        settle_spot_fill(
            self.spot_free, self.commission, spec, o, price, self.next_id(), now_ms, maker=maker
        )

    def _apply_position(self, key: tuple[str, str], signed: Decimal, price: Decimal) -> Decimal:
        """Move the position by one fill; what it realised (credited to the wallet)."""
        pos = self.positions.setdefault(key, FuturesPosition())
        if pos.amount == 0 or (pos.amount > 0) == (signed > 0):
            total = pos.amount + signed
            pos.entry_price = (pos.entry_price * abs(pos.amount) + price * abs(signed)) / abs(total)
            pos.amount = total
            return ZERO
        closed = min(abs(signed), abs(pos.amount))
        direction = 1 if pos.amount > 0 else -1
        realized = closed * (price - pos.entry_price) * direction
        self.futures_wallet += realized
        rest = pos.amount + signed
        if rest == 0:
            pos.amount, pos.entry_price = ZERO, ZERO
        elif (rest > 0) == (pos.amount > 0):
            pos.amount = rest
        else:
            pos.amount, pos.entry_price = rest, price
        return realized
