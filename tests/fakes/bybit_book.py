"""The state behind the fake Bybit: a Unified Trading Account's wallet, orders, fills and
USDT-perpetual positions, with Bybit V5's rules and ``retCode`` refusals.

Follows https://bybit-exchange.github.io/docs/v5/ (instruments-info, order/create,
order/realtime, order/cancel, position/list, position/set-leverage, account/wallet-balance,
execution/list): market orders fill at once at the book's best price (a buy at the ask, a
sell at the bid), a limit order fills when it is marketable and rests otherwise; an
``orderLinkId`` may be used once per category (110072 on linear, 170141 on spot); spot
fees are charged in the coin received, linear fees in USDT; linear positions are one-way
(``positionIdx`` 0) unless the account is switched to hedge mode (1 buy side, 2 sell side).
Not thread-safe on its own: the server holds its lock around every call.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

SPOT_FEE = Decimal("0.001")
LINEAR_FEE = Decimal("0.00055")
#: Bybit's orderLinkId: up to 36 of letters, digits, dashes and underscores.
LINK_ID = re.compile(r"[A-Za-z0-9_-]{1,36}")
OPEN_STATUSES = frozenset({"New", "PartiallyFilled", "Untriggered"})


class BybitError(Exception):
    """A refusal in Bybit's envelope: ``retCode`` and ``retMsg`` (HTTP 200, as Bybit does)."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg


@dataclass(frozen=True)
class Instrument:
    symbol: str
    base: str
    quote: str
    category: str  # "spot" | "linear"
    tick: Decimal
    step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    max_leverage: int = 100


@dataclass
class BybitOrder:
    order_id: str
    link_id: str
    category: str
    symbol: str
    side: str  # "Buy" | "Sell"
    order_type: str  # "Market" | "Limit"
    qty: Decimal
    price: Decimal | None
    time_in_force: str
    reduce_only: bool
    position_idx: int
    created: int
    status: str = "New"
    filled: Decimal = Decimal(0)
    value: Decimal = Decimal(0)
    fee: Decimal = Decimal(0)
    fee_coin: str = ""
    updated: int = 0

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass
class Fill:
    exec_id: str
    order: BybitOrder
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_coin: str
    time: int


@dataclass
class Position:
    symbol: str
    idx: int
    size: Decimal = Decimal(0)  # signed: > 0 long, < 0 short
    avg: Decimal = Decimal(0)
    created: int = 0
    updated: int = 0


def default_instruments() -> list[Instrument]:
    d = Decimal
    return [
        Instrument("BTCUSDT", "BTC", "USDT", "spot", d("0.01"), d("0.000001"), d("0.000048"),
                   d("71.73956243"), d("1")),
        Instrument("ETHUSDT", "ETH", "USDT", "spot", d("0.01"), d("0.00001"), d("0.00062"),
                   d("1229.2336343"), d("1")),
        Instrument("BTCUSDT", "BTC", "USDT", "linear", d("0.10"), d("0.001"), d("0.001"),
                   d("1190.000"), d("5")),
        Instrument("ETHUSDT", "ETH", "USDT", "linear", d("0.01"), d("0.01"), d("0.01"),
                   d("7240.00"), d("5")),
    ]  # fmt: skip


@dataclass
class BybitBook:
    """One account (UTA) and the market it trades on."""

    instruments: list[Instrument] = field(default_factory=default_instruments)
    #: last, bid, ask by symbol (spot and linear share them)
    prices: dict[str, tuple[Decimal, Decimal, Decimal]] = field(
        default_factory=lambda: {
            "BTCUSDT": (Decimal(50000), Decimal("49999.9"), Decimal("50000.1")),
            "ETHUSDT": (Decimal(3000), Decimal("2999.99"), Decimal("3000.01")),
        }
    )
    #: walletBalance by coin (the unified wallet: spot coins and futures margin alike)
    wallet: dict[str, Decimal] = field(
        default_factory=lambda: {"USDT": Decimal(10000), "BTC": Decimal(1)}
    )
    orders: list[BybitOrder] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    positions: dict[tuple[str, int], Position] = field(default_factory=dict)
    leverage: dict[str, Decimal] = field(default_factory=dict)
    hedge_mode: bool = False
    margin_mode: str = "REGULAR_MARGIN"
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # -- lookups ----------------------------------------------------------------------------

    def instrument(self, category: str, symbol: str | None) -> Instrument:
        for inst in self.instruments:
            if inst.category == category and inst.symbol == symbol:
                return inst
        if category == "spot":
            raise BybitError(170121, "Invalid symbol.")
        raise BybitError(10001, "params error: symbol invalid")

    def listed(self, category: str) -> list[Instrument]:
        return [i for i in self.instruments if i.category == category]

    def lev(self, symbol: str) -> Decimal:
        return self.leverage.get(symbol, Decimal(10))

    def _next_id(self) -> str:
        n = next(self._ids)
        return f"{n:08x}-5e4d-4b1f-9c3a-{n:012x}"

    # -- the unified wallet -----------------------------------------------------------------

    def position_im(self) -> Decimal:
        return sum(
            (abs(p.size) * p.avg / self.lev(p.symbol) for p in self.positions.values()),
            Decimal(0),
        )

    def order_im(self) -> Decimal:
        return sum(
            (
                (o.qty - o.filled) * (o.price or Decimal(0)) / self.lev(o.symbol)
                for o in self.orders
                if o.is_open and o.category == "linear" and not o.reduce_only
            ),
            Decimal(0),
        )

    def locked(self, coin: str) -> Decimal:
        """What resting spot orders hold: the quote of a buy, the base of a sell."""
        total = Decimal(0)
        for o in self.orders:
            if not (o.is_open and o.category == "spot"):
                continue
            inst = self.instrument("spot", o.symbol)
            if o.side == "Buy" and inst.quote == coin:
                total += (o.qty - o.filled) * (o.price or Decimal(0))
            elif o.side == "Sell" and inst.base == coin:
                total += o.qty - o.filled
        return total

    def available(self, coin: str) -> Decimal:
        free = self.wallet.get(coin, Decimal(0)) - self.locked(coin)
        if coin == "USDT":
            free -= self.position_im() + self.order_im()
        return free

    def unrealised(self, p: Position) -> Decimal:
        mark = self.prices[p.symbol][0]
        return (mark - p.avg) * p.size

    # -- orders -----------------------------------------------------------------------------

    def create(self, body: dict[str, Any], now: int) -> BybitOrder:
        category = str(body.get("category") or "")
        if category not in ("spot", "linear"):
            raise BybitError(10001, "params error: category invalid")
        inst = self.instrument(category, body.get("symbol"))
        side = body.get("side")
        order_type = body.get("orderType")
        if side not in ("Buy", "Sell") or order_type not in ("Market", "Limit"):
            raise BybitError(10001, "params error: side or orderType invalid")
        qty = _decimal(body, "qty")
        price = _decimal(body, "price") if order_type == "Limit" else None
        link_id = str(body.get("orderLinkId") or "")
        if link_id and not LINK_ID.fullmatch(link_id):
            raise BybitError(10001, "params error: orderLinkId invalid")
        if link_id and any(o.link_id == link_id and o.category == category for o in self.orders):
            if category == "spot":
                raise BybitError(170141, "Duplicate clientOrderId.")
            raise BybitError(110072, "OrderLinkedID is duplicate")
        if category == "spot" and body.get("marketUnit", "baseCoin") != "baseCoin":
            raise BybitError(10001, "params error: this fake takes marketUnit=baseCoin only")
        if qty <= 0 or (qty / inst.step) % 1 != 0:
            code = 170137 if category == "spot" else 10001
            raise BybitError(code, "Order quantity has too many decimals.")
        if qty < inst.min_qty:
            code = 170136 if category == "spot" else 10001
            raise BybitError(code, "Order quantity is lower than the minimum.")
        if price is not None and ((price / inst.tick) % 1 != 0 or price <= 0):
            raise BybitError(10001 if category == "linear" else 170134, "Order price invalid.")
        reduce_only = _flag(body.get("reduceOnly"))
        idx = self._position_idx(category, body)
        if reduce_only and category == "spot":
            raise BybitError(10001, "params error: reduceOnly is for derivatives only")
        last, bid, ask = self.prices[inst.symbol]
        fill_at = ask if side == "Buy" else bid
        marketable = order_type == "Market" or (
            price is not None and (price >= ask if side == "Buy" else price <= bid)
        )
        if reduce_only:
            qty = self._reduce_only_qty(inst.symbol, side, idx, qty)
        check_price = fill_at if marketable else (price or last)
        self._check_funds(inst, side, qty, check_price, reduce_only, idx)
        order = BybitOrder(
            order_id=self._next_id(),
            link_id=link_id,
            category=category,
            symbol=inst.symbol,
            side=side,
            order_type=order_type,
            qty=qty,
            price=price,
            time_in_force="IOC"
            if order_type == "Market"
            else str(body.get("timeInForce") or "GTC"),
            reduce_only=reduce_only,
            position_idx=idx,
            created=now,
            updated=now,
        )
        self.orders.append(order)
        if marketable:
            self.fill(order, fill_at, now)
        elif order.time_in_force in ("IOC", "FOK"):
            order.status = "Cancelled"
        return order

    def _position_idx(self, category: str, body: dict[str, Any]) -> int:
        if category != "linear":
            return 0
        raw = body.get("positionIdx", 0)
        try:
            idx = int(raw)
        except (TypeError, ValueError):
            raise BybitError(10001, "params error: positionIdx invalid") from None
        if (idx == 0) == self.hedge_mode or idx not in (0, 1, 2):
            raise BybitError(10001, "position idx not match position mode")
        if idx and (idx == 1) != (body.get("side") == "Buy") and not _flag(body.get("reduceOnly")):
            raise BybitError(10001, "position idx not match position mode")
        return idx

    def _reduce_only_qty(self, symbol: str, side: str, idx: int, qty: Decimal) -> Decimal:
        """Bybit cuts a reduce-only order to the position; no position to reduce is 110017."""
        pos = self.positions.get((symbol, idx))
        size = pos.size if pos else Decimal(0)
        if size == 0 or (size > 0) == (side == "Buy"):
            raise BybitError(110017, "current position is zero, cannot fix reduce-only order qty")
        return min(qty, abs(size))

    def _check_funds(
        self,
        inst: Instrument,
        side: str,
        qty: Decimal,
        price: Decimal,
        reduce_only: bool,
        idx: int,
    ) -> None:
        if inst.category == "spot":
            coin, need = (inst.quote, qty * price) if side == "Buy" else (inst.base, qty)
            if need > self.available(coin):
                raise BybitError(170131, "Insufficient balance.")
            return
        if reduce_only:
            return
        pos = self.positions.get((inst.symbol, idx))
        size = pos.size if pos else Decimal(0)
        signed = qty if side == "Buy" else -qty
        opening = abs(size + signed) - abs(size)
        if opening <= 0:
            return
        need = opening * price / self.lev(inst.symbol) + opening * price * LINEAR_FEE
        if need > self.available("USDT"):
            raise BybitError(110007, "ab not enough for new order")

    def fill(self, order: BybitOrder, price: Decimal, now: int) -> None:
        """Fill what is left of ``order`` at ``price`` and book it."""
        qty = order.qty - order.filled
        if qty <= 0:
            return
        inst = self.instrument(order.category, order.symbol)
        value = qty * price
        if order.category == "spot":
            if order.side == "Buy":
                fee, coin = (qty * SPOT_FEE).quantize(Decimal("1e-10"), ROUND_DOWN), inst.base
                self._add(inst.quote, -value)
                self._add(inst.base, qty - fee)
            else:
                fee, coin = (value * SPOT_FEE).quantize(Decimal("1e-10"), ROUND_DOWN), inst.quote
                self._add(inst.base, -qty)
                self._add(inst.quote, value - fee)
        else:
            fee, coin = (value * LINEAR_FEE).quantize(Decimal("1e-10"), ROUND_DOWN), "USDT"
            self._add("USDT", -fee + self._move_position(order, qty, price, now))
        order.filled += qty
        order.value += value
        order.fee += fee
        order.fee_coin = coin
        order.status = "Filled"
        order.updated = now
        self.fills.append(Fill(self._next_id(), order, qty, price, fee, coin, now))

    def _move_position(self, order: BybitOrder, qty: Decimal, price: Decimal, now: int) -> Decimal:
        """Net the fill into the position; the realised PnL."""
        key = (order.symbol, order.position_idx)
        pos = self.positions.setdefault(
            key, Position(order.symbol, order.position_idx, created=now)
        )
        signed = qty if order.side == "Buy" else -qty
        realised = Decimal(0)
        if pos.size == 0 or (pos.size > 0) == (signed > 0):
            total = pos.size + signed
            pos.avg = (pos.avg * abs(pos.size) + price * qty) / abs(total)
            pos.size = total
        else:
            closed = min(qty, abs(pos.size))
            realised = (price - pos.avg) * closed * (1 if pos.size > 0 else -1)
            pos.size += signed
            if pos.size == 0:
                pos.avg = Decimal(0)
            elif (pos.size > 0) == (signed > 0):  # flipped through zero
                pos.avg = price
        pos.updated = now
        if pos.size == 0:
            del self.positions[key]
        return realised

    def _add(self, coin: str, amount: Decimal) -> None:
        self.wallet[coin] = self.wallet.get(coin, Decimal(0)) + amount

    def set_price(self, symbol: str, last: Decimal, bid: Decimal, ask: Decimal, now: int) -> None:
        self.prices[symbol] = (last, bid, ask)
        for o in self.orders:
            if o.is_open and o.symbol == symbol and o.price is not None:
                if (o.side == "Buy" and o.price >= ask) or (o.side == "Sell" and o.price <= bid):
                    self.fill(o, o.price, now)

    def find(self, category: str, order_id: str | None, link_id: str | None) -> BybitOrder | None:
        for o in reversed(self.orders):
            if o.category != category:
                continue
            if (order_id and o.order_id == order_id) or (link_id and o.link_id == link_id):
                return o
        return None

    def cancel(self, body: dict[str, Any], now: int) -> BybitOrder:
        category = str(body.get("category") or "")
        self.instrument(category, body.get("symbol"))
        order_id, link_id = body.get("orderId"), body.get("orderLinkId")
        if not order_id and not link_id:
            raise BybitError(10001, "params error: orderId or orderLinkId is required")
        order = self.find(category, order_id, link_id)
        if order is None or not order.is_open or order.symbol != body.get("symbol"):
            if category == "spot":
                raise BybitError(170213, "Order does not exist.")
            raise BybitError(110001, "order not exists or too late to cancel")
        order.status = "Cancelled"
        order.updated = now
        return order


def _decimal(body: dict[str, Any], name: str) -> Decimal:
    raw = body.get(name)
    if raw is None or raw == "":
        raise BybitError(10001, f"params error: {name} is required")
    if not isinstance(raw, str) or not re.fullmatch(r"\d{1,20}(\.\d{1,20})?", raw):
        raise BybitError(10001, f"params error: {name} invalid")
    return Decimal(raw)


def _flag(value: Any) -> bool:
    return value is True or value == "true"
