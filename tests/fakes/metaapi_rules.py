"""MetaTrader's trading rules the MetaApi fake applies, as pure functions: volume, stop and
tick checks, profit, refusals with MetaTrader's return codes, and the result of a done trade."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.fakes.metaapi_state import FakePosition, FakeSymbol
from tests.fakes.metaapi_wire import CLIENT_ID_FORMAT, drop_none

PENDING_ACTIONS = frozenset(
    {
        "ORDER_TYPE_BUY_LIMIT",
        "ORDER_TYPE_SELL_LIMIT",
        "ORDER_TYPE_BUY_STOP",
        "ORDER_TYPE_SELL_STOP",
        "ORDER_TYPE_BUY_STOP_LIMIT",
        "ORDER_TYPE_SELL_STOP_LIMIT",
    }
)


class TradeRefused(Exception):
    """A MetatraderTradeResponse with a failing code (HTTP 200 by default)."""

    def __init__(self, code: int, string: str, message: str) -> None:
        super().__init__(message)
        self.result = {"numericCode": code, "stringCode": string, "message": message}


def done(*, order_id: str | None = None, position_id: str | None = None) -> dict[str, Any]:
    return drop_none(
        {
            "numericCode": 10009,
            "stringCode": "TRADE_RETCODE_DONE",
            "message": "Request completed",
            "orderId": order_id,
            "positionId": position_id,
        }
    )


def with_order_part(client_id: str | None, order_id: str) -> str | None:
    """The clientId MetaApi puts on a stop-loss or take-profit close: the position's, with
    its ``${orderId}`` part replaced by the MT order id (clientId usage page)."""
    if client_id is None or not CLIENT_ID_FORMAT.match(client_id):
        return None
    strategy, position, _ = client_id.split("_")
    return f"{strategy}_{position}_{order_id}"


def nonzero(value: Any) -> Any:
    """An order's stopLoss/takeProfit: 0 (or none) means no level, as in MetaTrader."""
    return None if value is None or value == 0 else value


def check_volume(spec: FakeSymbol, volume: Decimal) -> None:
    if (
        volume <= 0
        or volume % spec.volume_step != 0
        or volume > spec.max_volume
        or volume < spec.min_volume
    ):
        raise TradeRefused(10014, "TRADE_RETCODE_INVALID_VOLUME", "Invalid volume")


def check_stops(spec: FakeSymbol, buy: bool, reference: Decimal, sl: Any, tp: Any) -> None:
    for value in (sl, tp):
        if value is None:
            continue
        if not isinstance(value, Decimal | int) or value <= 0 or not on_tick(spec, Decimal(value)):
            raise TradeRefused(10016, "TRADE_RETCODE_INVALID_STOPS", "Invalid stops")
    if sl is not None and (sl >= reference if buy else sl <= reference):
        raise TradeRefused(10016, "TRADE_RETCODE_INVALID_STOPS", "Invalid stops")
    if tp is not None and (tp <= reference if buy else tp >= reference):
        raise TradeRefused(10016, "TRADE_RETCODE_INVALID_STOPS", "Invalid stops")


def on_tick(spec: FakeSymbol, price: Decimal) -> bool:
    return price % spec.tick == 0


def profit_of(spec: FakeSymbol, p: FakePosition, price: Decimal, volume: Decimal) -> Decimal:
    move = (price - p.open_price) if p.is_buy else (p.open_price - price)
    return (move / spec.tick * spec.tick_value * volume).quantize(Decimal("0.01"))
