"""Spot commissions of the fake Binance: charged in the asset received, or in BNB.

Binance takes a spot trade's commission out of what the trade brings in: a BUY of BTCUSDT
pays in BTC (buying 1 BTC at a 0.1 % taker rate leaves 0.999 BTC), a SELL pays in USDT.
With "Use BNB to pay for fees" switched on and enough BNB in the account, it pays in BNB
instead, at a 25 % discount. Every fill reports ``commission`` and ``commissionAsset``: in
the ``fills`` of a ``newOrderRespType=FULL`` order answer and in ``GET /api/v3/myTrades``
(which ccxt's ``fetch_order_trades`` reads). ``GET /api/v3/order`` carries no fills.

A fresh fake account pays Binance's standard spot rate, 0.1 % maker and taker, as a real
regular account does. USDⓈ-M futures charge their own standard rates (a regular account:
0.0200 % maker, 0.0500 % taker) on each fill's notional, in USDT, debited from the futures
wallet balance; each fill reports it as ``commission`` / ``commissionAsset`` (and a closing
fill its ``realizedPnl``, before commission) in ``GET /fapi/v1/userTrades``, while
``GET /fapi/v1/order`` carries no fills. Both trade lists filter on ``startTime`` /
``endTime`` as Binance's do, so a client can ask what traded since a moment without
knowing any order id.

Pure logic without HTTP; :mod:`tests.fakes.binance_book` calls :func:`settle_spot_fill`
for every spot fill and :func:`record_futures_fill` for every futures fill. Tests set the
rates and the BNB option on :class:`SpotCommission` (``FakeBinance.set_spot_commission``)
and the futures rates on :class:`FuturesCommission` (``FakeBinance.set_futures_commission``);
a test whose subject is fee-free arithmetic may set a rate to 0, saying why.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.binance_book import FakeOrder, SymbolSpec

ZERO = Decimal(0)
#: Spot commissions are kept to 8 decimals (exchangeInfo's ``baseCommissionPrecision``).
PRECISION = Decimal("0.00000001")
#: Paying with BNB takes 25 % off the commission.
BNB_DISCOUNT = Decimal("0.75")


@dataclass(frozen=True)
class SpotFill:
    """One trade of one order, as ``fills[]``, ``myTrades`` and ``userTrades`` report it."""

    trade_id: int
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    time_ms: int
    maker: bool
    #: USDⓈ-M: the profit the fill realised by closing (before commission); 0 otherwise.
    realized_pnl: Decimal = ZERO

    @property
    def quote_qty(self) -> Decimal:
        return self.price * self.qty


@dataclass
class SpotCommission:
    """The account's spot commission rates and the BNB option.

    A fresh fake account trades at ``STANDARD`` (0.1 %, Binance's regular rate for maker
    and taker alike), in the asset Binance charges; a test may set other rates.
    """

    STANDARD = Decimal("0.001")

    maker: Decimal = STANDARD
    taker: Decimal = STANDARD
    pay_with_bnb: bool = False
    #: BNB's price in the quote asset, to convert a commission into BNB.
    bnb_price: Decimal = Decimal("600")

    def charge(
        self, spec: SymbolSpec, side: str, qty: Decimal, price: Decimal, maker: bool, bnb: Decimal
    ) -> tuple[Decimal, str]:
        """The commission of one fill and its asset; ``bnb`` is the account's free BNB."""
        rate = self.maker if maker else self.taker
        if self.pay_with_bnb and self.bnb_price > 0:
            in_bnb = _round(qty * price * rate * BNB_DISCOUNT / self.bnb_price)
            if in_bnb <= bnb:
                return in_bnb, "BNB"
        if side == "BUY":
            return _round(qty * rate), spec.base
        return _round(qty * price * rate), spec.quote


@dataclass
class FuturesCommission:
    """The account's USDⓈ-M commission rates, charged in USDT on a fill's notional.

    A fresh fake account trades at Binance's regular-tier standard rates (``MAKER``
    0.0200 %, ``TAKER`` 0.0500 %); a test may set others, 0 included.
    """

    MAKER = Decimal("0.0002")
    TAKER = Decimal("0.0005")

    maker: Decimal = MAKER
    taker: Decimal = TAKER

    def charge(self, qty: Decimal, price: Decimal, maker: bool) -> Decimal:
        """The commission of one fill, in USDT."""
        return _round(qty * price * (self.maker if maker else self.taker))


def _round(value: Decimal) -> Decimal:
    return value.quantize(PRECISION, rounding=ROUND_HALF_UP)


def settle_spot_fill(
    balances: dict[str, Decimal],
    commission: SpotCommission,
    spec: SymbolSpec,
    order: FakeOrder,
    price: Decimal,
    trade_id: int,
    now_ms: int,
    *,
    maker: bool,
) -> SpotFill:
    """Move the free balances for one whole-order fill and record it on the order."""
    qty, cost = order.qty, order.qty * price
    fee, asset = commission.charge(spec, order.side, qty, price, maker, balances.get("BNB", ZERO))
    got, gave = (spec.base, spec.quote) if order.side == "BUY" else (spec.quote, spec.base)
    balances[got] = balances.get(got, ZERO) + (qty if order.side == "BUY" else cost)
    balances[gave] = balances.get(gave, ZERO) - (cost if order.side == "BUY" else qty)
    balances[asset] = balances.get(asset, ZERO) - fee
    fill = SpotFill(trade_id, price, qty, fee, asset, now_ms, maker)
    order.fills.append(fill)
    return fill


def fill_json(f: SpotFill) -> dict[str, Any]:
    """One entry of a FULL order answer's ``fills``."""
    return {
        "price": f"{f.price:.8f}",
        "qty": f"{f.qty:.8f}",
        "commission": f"{f.commission:.8f}",
        "commissionAsset": f.commission_asset,
        "tradeId": f.trade_id,
    }


def trade_json(o: FakeOrder, f: SpotFill) -> dict[str, Any]:
    """One ``GET /api/v3/myTrades`` entry (the documented fields)."""
    return {
        "symbol": o.symbol,
        "id": f.trade_id,
        "orderId": o.order_id,
        "orderListId": -1,
        "price": f"{f.price:.8f}",
        "qty": f"{f.qty:.8f}",
        "quoteQty": f"{f.quote_qty:.8f}",
        "commission": f"{f.commission:.8f}",
        "commissionAsset": f.commission_asset,
        "time": f.time_ms,
        "isBuyer": o.side == "BUY",
        "isMaker": f.maker,
        "isBestMatch": True,
    }


def record_futures_fill(
    order: FakeOrder,
    commission: FuturesCommission,
    price: Decimal,
    trade_id: int,
    now_ms: int,
    *,
    maker: bool,
    realized_pnl: Decimal = ZERO,
) -> SpotFill:
    """Keep one USDⓈ-M whole-order fill for ``userTrades``, with its commission in USDT
    (the caller debits it from the wallet)."""
    fee = commission.charge(order.qty, price, maker)
    fill = SpotFill(trade_id, price, order.qty, fee, "USDT", now_ms, maker, realized_pnl)
    order.fills.append(fill)
    return fill


def futures_trade_json(o: FakeOrder, f: SpotFill) -> dict[str, Any]:
    """One ``GET /fapi/v1/userTrades`` entry (the documented fields)."""
    buyer = o.side == "BUY"
    return {
        "buyer": buyer,
        "commission": f"{f.commission:.8f}",
        "commissionAsset": f.commission_asset,
        "id": f.trade_id,
        "maker": f.maker,
        "orderId": o.order_id,
        "price": f"{f.price}",
        "qty": f"{f.qty}",
        "quoteQty": f"{f.quote_qty}",
        "realizedPnl": f"{f.realized_pnl:.8f}",
        "side": o.side,
        "positionSide": o.position_side,
        "symbol": o.symbol,
        "time": f.time_ms,
    }


def my_trades(orders: list[FakeOrder], p: dict[str, str]) -> list[dict[str, Any]]:
    """``GET /api/v3/myTrades``: the symbol's trades, of one order when ``orderId`` is given
    (``symbol`` is mandatory; the caller checked it is listed)."""
    return _trades(orders, p, futures=False)


def user_trades(orders: list[FakeOrder], p: dict[str, str]) -> list[dict[str, Any]]:
    """``GET /fapi/v1/userTrades``: the symbol's USDⓈ-M trades (``symbol`` is mandatory)."""
    return _trades(orders, p, futures=True)


def _trades(orders: list[FakeOrder], p: dict[str, str], *, futures: bool) -> list[dict[str, Any]]:
    """Trades in id order, within ``startTime`` / ``endTime`` when given: the first
    ``limit`` from ``startTime`` on, otherwise the most recent ``limit``."""
    order_id = p.get("orderId")
    start, end = p.get("startTime"), p.get("endTime")
    shape = futures_trade_json if futures else trade_json
    out = [
        shape(o, f)
        for o in orders
        if o.futures == futures
        and o.symbol == p["symbol"]
        and (order_id is None or str(o.order_id) == order_id)
        for f in o.fills
        if (start is None or f.time_ms >= int(start)) and (end is None or f.time_ms <= int(end))
    ]
    limit = int(p.get("limit") or 500)
    ordered = sorted(out, key=lambda t: t["id"])
    return ordered[:limit] if start is not None and end is None else ordered[-limit:]
