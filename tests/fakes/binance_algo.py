"""Conditional (algo) orders of the fake Binance USDⓈ-M futures: ``/fapi/v1/algoOrder``.

Since December 2025 Binance takes STOP_MARKET and TAKE_PROFIT_MARKET orders on its Algo
Service, not the matching engine: the order rests as an algo order (``algoStatus`` NEW);
when the last price reaches ``triggerPrice`` it is forwarded as a MARKET order (its
``orderId`` becomes the algo order's ``actualOrderId``) and the algo order is FINISHED.
A reduce-only order the matching engine refuses leaves the algo order REJECTED. The
wire shape follows the documented fields (algoId, clientAlgoId, algoType, orderType,
quantity, triggerPrice, algoStatus, actualOrderId, createTime, updateTime, triggerTime).

On Binance a ``clientAlgoId`` is unique among OPEN algo orders only (a finished one's may
be used again): the fake follows ``BinanceBook.client_id_uniqueness`` as regular orders do
("open" is that rule). Since 2025-12-29 an account holds at most 200 open conditional
orders across all symbols (the per-symbol MAX_NUM_ALGO_ORDERS filter is gone): the 201st
is -4045 "Reach max stop order limit.". A lookup forgets as :mod:`.binance_ageing` says;
an unknown or forgotten id (and a cancel of a finished one) is answered -20124 "Invalid
algo id or it has been completed." (Binance's code for its algo services; ccxt's common
table reads it as BadRequest).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tests.fakes.binance_ageing import futures_forgets
from tests.fakes.binance_book import BinanceBook, BinanceError
from tests.fakes.binance_wire import plain

TYPES = ("STOP_MARKET", "TAKE_PROFIT_MARKET")
DUPLICATE = (-4116, "ClientOrderId is duplicated.")
WOULD_TRIGGER = (-2021, "Order would immediately trigger.")
UNKNOWN_ALGO = (-20124, "Invalid algo id or it has been completed.")
MAX_OPEN_REACHED = (-4045, "Reach max stop order limit.")
#: Open conditional orders one account may hold, all symbols together (since 2025-12-29).
MAX_OPEN_ALGO_ORDERS = 200


@dataclass
class AlgoOrder:
    algo_id: int
    client_algo_id: str
    symbol: str
    side: str
    order_type: str
    qty: Decimal
    trigger: Decimal
    reduce_only: bool
    created_ms: int
    updated_ms: int
    status: str = "NEW"
    trigger_ms: int = 0
    actual_order_id: int | None = None

    @property
    def is_open(self) -> bool:
        return self.status == "NEW"

    @property
    def filled(self) -> bool:
        """Whether it has a filled trade (its triggered child executed)."""
        return self.status == "FINISHED" and self.actual_order_id is not None

    def reached(self, last: Decimal) -> bool:
        """STOP_MARKET sells below / buys above; TAKE_PROFIT_MARKET the other way round."""
        rising = (self.order_type == "STOP_MARKET") == (self.side == "BUY")
        return last >= self.trigger if rising else last <= self.trigger


@dataclass
class AlgoDesk:
    """The algo orders of one fake account, triggered against its book's prices."""

    book: BinanceBook
    orders: list[AlgoOrder] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(3000))

    def new(self, p: dict[str, str], now_ms: int) -> AlgoOrder:
        if p.get("algoType") != "CONDITIONAL":
            raise BinanceError(-1102, _missing("algoType"))
        order_type = p.get("type", "")
        if order_type not in TYPES:
            raise BinanceError(-1116, "Invalid orderType.")
        symbol, side = p.get("symbol", ""), p.get("side", "")
        spec = self.book.spec(symbol, True)
        try:
            qty, trigger = Decimal(p["quantity"]), Decimal(p["triggerPrice"])
        except (KeyError, ArithmeticError):
            raise BinanceError(-1102, _missing("quantity' or 'triggerPrice")) from None
        if qty <= 0 or qty % spec.step != 0:
            raise BinanceError(-1111, "Precision is over the maximum defined for this asset.")
        if trigger <= 0 or trigger % spec.tick != 0:
            raise BinanceError(-1013, "Filter failure: PRICE_FILTER")
        client_id = p.get("clientAlgoId") or f"algo_{next(self._ids)}"
        rule = self.book.client_id_uniqueness  # as for regular orders: see BinanceBook
        taken = self.orders if rule == "all" else self.open(None) if rule == "open" else []
        if any(o.client_algo_id == client_id for o in taken):
            raise BinanceError(*DUPLICATE)
        if len(self.open(None)) >= MAX_OPEN_ALGO_ORDERS:
            raise BinanceError(*MAX_OPEN_REACHED)
        order = AlgoOrder(
            algo_id=next(self._ids),
            client_algo_id=client_id,
            symbol=symbol,
            side=side,
            order_type=order_type,
            qty=qty,
            trigger=trigger,
            reduce_only=p.get("reduceOnly", "false").lower() == "true",
            created_ms=now_ms,
            updated_ms=now_ms,
        )
        if order.reached(self.book.quote(symbol).last):
            raise BinanceError(*WOULD_TRIGGER)
        self.orders.append(order)
        return order

    def find(self, p: dict[str, str]) -> AlgoOrder:
        """The newest algo order with this id, however old (-20124 when there is none)."""
        algo_id, client_id = p.get("algoId"), p.get("clientAlgoId")
        if algo_id is None and client_id is None:
            raise BinanceError(
                -1102, "Param 'clientAlgoId' or 'algoId' must be sent, but both were empty/null!"
            )
        for o in reversed(self.orders):
            if str(o.algo_id) == algo_id or o.client_algo_id == client_id:
                return o
        raise BinanceError(*UNKNOWN_ALGO)

    def lookup(self, p: dict[str, str], now_ms: int) -> AlgoOrder:
        """``GET /fapi/v1/algoOrder``: :meth:`find`, as the query's memory allows."""
        order = self.find(p)
        if futures_forgets(order.created_ms, order.status, order.filled, now_ms):
            raise BinanceError(*UNKNOWN_ALGO)
        return order

    def cancel(self, p: dict[str, str], now_ms: int) -> dict[str, Any]:
        order = self.find(p)
        if not order.is_open:
            raise BinanceError(*UNKNOWN_ALGO)
        order.status, order.updated_ms = "CANCELED", now_ms
        return {
            "algoId": order.algo_id,
            "clientAlgoId": order.client_algo_id,
            "code": "200",
            "msg": "success",
        }

    def open(self, symbol: str | None) -> list[AlgoOrder]:
        return [o for o in self.orders if o.is_open and (symbol is None or o.symbol == symbol)]

    def on_price(self, symbol: str, now_ms: int) -> None:
        """Forward every algo order the new last price reached to the matching engine."""
        last = self.book.quote(symbol).last
        for order in self.open(symbol):
            if not order.reached(last):
                continue
            order.status, order.trigger_ms, order.updated_ms = "TRIGGERED", now_ms, now_ms
            try:
                child = self.book.new_order(
                    futures=True,
                    symbol=symbol,
                    side=order.side,
                    type_="MARKET",
                    qty=order.qty,
                    price=None,
                    time_in_force=None,
                    client_id=f"autoalgo_{order.algo_id}",
                    reduce_only=order.reduce_only,
                    now_ms=now_ms,
                )
            except BinanceError:
                order.status = "REJECTED"
                continue
            order.actual_order_id = child.order_id
            order.status = "FINISHED"


def _missing(name: str) -> str:
    return f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."


def algo_json(o: AlgoOrder) -> dict[str, Any]:
    return {
        "algoId": o.algo_id,
        "clientAlgoId": o.client_algo_id,
        "algoType": "CONDITIONAL",
        "orderType": o.order_type,
        "symbol": o.symbol,
        "side": o.side,
        "positionSide": "BOTH",
        "timeInForce": "GTC",
        "quantity": plain(o.qty),
        "algoStatus": o.status,
        "actualOrderId": "" if o.actual_order_id is None else str(o.actual_order_id),
        "triggerPrice": plain(o.trigger),
        "price": "0",
        "icebergQuantity": None,
        "selfTradePreventionMode": "EXPIRE_MAKER",
        "workingType": "CONTRACT_PRICE",
        "priceMatch": "NONE",
        "closePosition": False,
        "priceProtect": False,
        "reduceOnly": o.reduce_only,
        "createTime": o.created_ms,
        "updateTime": o.updated_ms,
        "triggerTime": o.trigger_ms,
        "goodTillDate": 0,
    }
