"""The fake Binance's COIN-M futures REST API (``/dapi``), as Binance documents it.

Served by :class:`tests.fakes.binance.FakeBinance` (same host, keys, signatures and
weight counting; COIN-M has its own 2,400 a minute) from a :class:`CoinmBook`:

- public: ``GET /dapi/v1/ping|time|exchangeInfo|ticker/24hr|ticker/price|ticker/bookTicker``
  (exchangeInfo lists ``contractSize``, ``contractType`` PERPETUAL, ``marginAsset`` and the
  PRICE_FILTER / LOT_SIZE / MARKET_LOT_SIZE / MAX_NUM_ORDERS / PERCENT_PRICE filters);
- signed: ``/dapi/v1/order`` (POST / GET / DELETE, by ``orderId`` or client id),
  ``openOrders``, ``userTrades`` (commission in the coin), ``income`` (funding in the
  coin: ``fake.coinm.income.add_funding(..., asset="BTC")``), ``account``, ``balance``,
  ``positionRisk`` (``notionalValue`` in coins, ``marginAsset``), ``leverage``,
  ``marginType``, ``positionSide/dual`` (GET / POST) and ``/dapi/v2/leverageBracket``.

Position mode and margin type follow the same rules as USDⓈ-M (-4061, -1106, -4046,
-4047, -4048, -4059, -4067, -4068), kept apart: COIN-M has its own position mode.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.fakes.binance_account import (
    MARGIN_OPEN_ORDERS,
    MARGIN_POSITION,
    MARGIN_TYPES,
    NO_NEED_MARGIN_TYPE,
    NO_NEED_POSITION_SIDE,
    SIDE_OPEN_ORDERS,
    SIDE_POSITION,
    AccountSettings,
)
from tests.fakes.binance_book import BinanceError
from tests.fakes.binance_coinm_book import MAKER, TAKER, CoinmBook, CoinmOrder, CoinmSpec
from tests.fakes.binance_income import IncomeLedger
from tests.fakes.binance_wire import (
    FAR_FUTURE_MS,
    FUTURES_ORDER_TYPES,
    percent_price_filter,
    plain,
    rate_limits,
)

PUBLIC_PATHS = frozenset(
    f"/dapi/v1/{p}"
    for p in ("ping", "time", "exchangeInfo", "ticker/24hr", "ticker/price", "ticker/bookTicker")
)
PRIVATE_PATHS = frozenset(
    {
        "/dapi/v1/order",
        "/dapi/v1/openOrders",
        "/dapi/v1/userTrades",
        "/dapi/v1/account",
        "/dapi/v1/balance",
        "/dapi/v1/positionRisk",
        "/dapi/v1/leverage",
        "/dapi/v1/marginType",
        "/dapi/v1/positionSide/dual",
        "/dapi/v1/income",
        "/dapi/v2/leverageBracket",
    }
)


def _missing(name: str) -> BinanceError:
    return BinanceError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def _required(p: dict[str, str], name: str) -> str:
    if not p.get(name):
        raise _missing(name)
    return p[name]


def _decimal(p: dict[str, str], name: str) -> Decimal:
    try:
        return Decimal(_required(p, name))
    except ArithmeticError:
        raise BinanceError(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal "
            "range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
        ) from None


class CoinmDesk:
    """The COIN-M side of one fake Binance account."""

    def __init__(self) -> None:
        self.book = CoinmBook()
        #: Position mode rules (its own, apart from USDⓈ-M's), read by ``position_side``.
        self.mode = AccountSettings()
        #: Funding fees in the coin (``GET /dapi/v1/income``, shaped as USDⓈ-M's).
        self.income = IncomeLedger()
        self.weight_limit = 2400

    # -- test controls (under the server's lock) ---------------------------------------------

    def set_price(self, symbol: str, price: Decimal, now_ms: int) -> None:
        self.book.set_price(symbol, price, price, price, now_ms)

    def set_wallet(self, asset: str, amount: Decimal) -> None:
        self.book.wallet[asset] = amount

    # -- routes ------------------------------------------------------------------------------

    def dispatch(self, method: str, path: str, p: dict[str, str], now: int) -> Any:
        book = self.book
        route = f"{method} {path}"
        if route == "GET /dapi/v1/ping":
            return {}
        if route == "GET /dapi/v1/exchangeInfo":
            return {
                "timezone": "UTC",
                "serverTime": now,
                "rateLimits": rate_limits(self.weight_limit),
                "exchangeFilters": [],
                "symbols": [symbol_json(s) for s in book.specs.values()],
            }
        shapes = {
            "/dapi/v1/ticker/24hr": ticker_24hr,
            "/dapi/v1/ticker/price": price_ticker,
            "/dapi/v1/ticker/bookTicker": book_ticker,
        }
        if method == "GET" and path in shapes:
            return self._tickers(shapes[path], p, now)
        if path == "/dapi/v1/order":
            return self._order(method, p, now)
        if route == "GET /dapi/v1/openOrders":
            symbol = p.get("symbol")
            if symbol is not None:
                book.spec(symbol)
            return [order_json(o) for o in book.open_orders(symbol)]
        if route == "GET /dapi/v1/userTrades":
            return self._trades(p)
        if route == "GET /dapi/v1/income":
            return self.income.answer(p, now, book.spec)
        if route == "GET /dapi/v1/account":
            return account_json(book, now)
        if route == "GET /dapi/v1/balance":
            return balance_json(book, now)
        if route == "GET /dapi/v1/positionRisk":
            return [
                position_json(book, key, now)
                for key in sorted(book.positions)
                if p.get("pair") in (None, book.specs[key[0]].pair)
                and p.get("marginAsset") in (None, book.specs[key[0]].base)
            ]
        if route == "GET /dapi/v2/leverageBracket":
            return brackets_json(book)
        if route == "POST /dapi/v1/leverage":
            return self._leverage(p)
        if route == "GET /dapi/v1/positionSide/dual":
            return {"dualSidePosition": book.dual_side}
        if route == "POST /dapi/v1/positionSide/dual":
            return self._position_mode(p)
        if route == "POST /dapi/v1/marginType":
            return self._margin_type(p)
        raise BinanceError(-5000, "Path not found", 404)

    def _tickers(self, shape: Any, p: dict[str, str], now: int) -> Any:
        if "symbol" in p:
            return [shape(self.book, p["symbol"], now)]  # COIN-M answers a list either way
        return [shape(self.book, s, now) for s in self.book.specs]

    def _order(self, method: str, p: dict[str, str], now: int) -> Any:
        book = self.book
        symbol = _required(p, "symbol")
        if method == "POST":
            book.spec(symbol)
            self.mode.dual_side = book.dual_side
            side = self.mode.position_side(p)  # -4061 / -1106 as for USDⓈ-M
            order = book.new_order(
                symbol=symbol,
                side=_required(p, "side"),
                type_=_required(p, "type"),
                qty=_decimal(p, "quantity"),
                price=_decimal(p, "price") if p.get("price") is not None else None,
                time_in_force=p.get("timeInForce"),
                client_id=p.get("newClientOrderId") or f"web_{book.next_id()}",
                reduce_only=p.get("reduceOnly", "false").lower() == "true",
                position_side=side,
                now_ms=now,
            )
            return order_json(order, ack=p.get("newOrderRespType") != "RESULT")
        order_id, client_id = p.get("orderId"), p.get("origClientOrderId")
        if order_id is None and client_id is None:
            raise BinanceError(
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        if method == "GET":
            return order_json(book.find(symbol, order_id, client_id))
        if method == "DELETE":
            return order_json(book.cancel(symbol, order_id, client_id, now))
        raise BinanceError(-5000, "Path not found", 404)

    def _trades(self, p: dict[str, str]) -> list[dict[str, Any]]:
        symbol = p.get("symbol")
        if symbol is None and p.get("pair") is None:
            raise _missing("symbol")
        if symbol is not None:
            self.book.spec(symbol)
        start = int(p.get("startTime") or 0)
        out = [
            trade_json(o, fill)
            for o in self.book.orders
            if (symbol is None or o.symbol == symbol)
            and (symbol is not None or self.book.specs[o.symbol].pair == p.get("pair"))
            if p.get("orderId") in (None, str(o.order_id))
            for fill in o.fills
            if fill[6] >= start
        ]
        out.sort(key=lambda t: t["time"])
        return out[: int(p.get("limit") or 50)]

    def _leverage(self, p: dict[str, str]) -> dict[str, Any]:
        symbol = _required(p, "symbol")
        spec = self.book.spec(symbol)
        try:
            lev = int(_required(p, "leverage"))
        except ValueError:
            raise _missing("leverage") from None
        if not 1 <= lev <= spec.max_leverage:
            raise BinanceError(-4028, f"Leverage {lev} is not valid")
        self.book.leverage[symbol] = lev
        return {"leverage": lev, "maxQty": "1000", "symbol": symbol}

    def _position_mode(self, p: dict[str, str]) -> dict[str, Any]:
        raw = p.get("dualSidePosition", "").lower()
        if raw not in ("true", "false"):
            raise _missing("dualSidePosition")
        wanted = raw == "true"
        if wanted == self.book.dual_side:
            raise BinanceError(*NO_NEED_POSITION_SIDE)
        if any(pos.amount != 0 for pos in self.book.positions.values()):
            raise BinanceError(*SIDE_POSITION)
        if self.book.open_orders(None):
            raise BinanceError(*SIDE_OPEN_ORDERS)
        self.book.dual_side = wanted
        return {"code": 200, "msg": "success"}

    def _margin_type(self, p: dict[str, str]) -> dict[str, Any]:
        symbol = _required(p, "symbol")
        self.book.spec(symbol)
        wanted = p.get("marginType", "").upper()
        if wanted not in MARGIN_TYPES:
            raise _missing("marginType")
        if wanted == self.book.margin_type(symbol):
            raise BinanceError(*NO_NEED_MARGIN_TYPE)
        if any(s == symbol and pos.amount != 0 for (s, _), pos in self.book.positions.items()):
            raise BinanceError(*MARGIN_POSITION)
        if self.book.open_orders(symbol):
            raise BinanceError(*MARGIN_OPEN_ORDERS)
        self.book.margin_types[symbol] = wanted
        return {"code": 200, "msg": "success"}


# -- JSON shapes ------------------------------------------------------------------------------


def symbol_json(spec: CoinmSpec) -> dict[str, Any]:
    tick = plain(spec.tick)
    return {
        "symbol": spec.symbol,
        "pair": spec.pair,
        "contractType": "PERPETUAL",
        "deliveryDate": FAR_FUTURE_MS,
        "onboardDate": 1597042800000,
        "contractStatus": "TRADING",
        "contractSize": spec.contract_size,
        "marginAsset": spec.base,
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": spec.base,
        "quoteAsset": "USD",
        "pricePrecision": max(0, -spec.tick.normalize().as_tuple().exponent),  # type: ignore[operator]
        "quantityPrecision": 0,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "equalQtyPrecision": 4,
        "maxMoveOrderLimit": 10000,
        "triggerProtect": "0.0500",
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": tick,
                "maxPrice": "4529764",
                "tickSize": tick,
            },
            {
                "filterType": "LOT_SIZE",
                "stepSize": "1",
                "maxQty": plain(spec.max_qty),
                "minQty": "1",
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "stepSize": "1",
                "maxQty": plain(spec.market_max_qty),
                "minQty": "1",
            },
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            percent_price_filter(),
        ],
        "orderTypes": list(FUTURES_ORDER_TYPES),
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
        "liquidationFee": "0.015000",
        "marketTakeBound": "0.05",
    }


def ticker_24hr(book: CoinmBook, symbol: str, now: int) -> dict[str, Any]:
    last = plain(book.quote(symbol)[0])
    spec = book.spec(symbol)
    return {
        "symbol": symbol,
        "pair": spec.pair,
        "priceChange": "0",
        "priceChangePercent": "0.000",
        "weightedAvgPrice": last,
        "lastPrice": last,
        "lastQty": "1",
        "openPrice": last,
        "highPrice": last,
        "lowPrice": last,
        "volume": "1000",
        "baseVolume": plain(book.coins(symbol, Decimal(1000), book.quote(symbol)[0])),
        "openTime": now - 86_400_000,
        "closeTime": now,
        "firstId": 1,
        "lastId": 1000,
        "count": 1000,
    }


def price_ticker(book: CoinmBook, symbol: str, now: int) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "ps": book.spec(symbol).pair,
        "price": plain(book.quote(symbol)[0]),
        "time": now,
    }


def book_ticker(book: CoinmBook, symbol: str, now: int) -> dict[str, Any]:
    _, bid, ask = book.quote(symbol)
    return {
        "lastUpdateId": now,
        "symbol": symbol,
        "pair": book.spec(symbol).pair,
        "bidPrice": plain(bid),
        "bidQty": "10",
        "askPrice": plain(ask),
        "askQty": "10",
        "time": now,
    }


def order_json(o: CoinmOrder, *, ack: bool = False) -> dict[str, Any]:
    """A COIN-M order (``cumBase`` in coins); ``ack``: just accepted, nothing executed."""
    new = ack and o.status == "FILLED"
    executed = Decimal(0) if new else o.executed_qty
    return {
        "orderId": o.order_id,
        "symbol": o.symbol,
        "pair": o.symbol.split("_")[0],
        "status": "NEW" if new else o.status,
        "clientOrderId": o.client_order_id,
        "price": plain(o.price),
        "avgPrice": plain(Decimal(0) if new else o.avg_price),
        "origQty": plain(o.qty),
        "executedQty": plain(executed),
        "cumQty": plain(executed),
        "cumBase": plain(Decimal(0) if new else o.cum_base),
        "timeInForce": o.time_in_force,
        "type": o.type,
        "reduceOnly": o.reduce_only,
        "closePosition": False,
        "side": o.side,
        "positionSide": o.position_side,
        "stopPrice": "0",
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "origType": o.type,
        "time": o.created_ms,
        "updateTime": o.updated_ms,
    }


def trade_json(o: CoinmOrder, fill: tuple[Any, ...]) -> dict[str, Any]:
    trade_id, qty, price, fee, maker, realised, at = fill
    spec_base = o.symbol.split("USD")[0]
    return {
        "symbol": o.symbol,
        "id": trade_id,
        "orderId": o.order_id,
        "pair": o.symbol.split("_")[0],
        "side": o.side,
        "price": plain(price),
        "qty": plain(qty),
        "realizedPnl": plain(realised),
        "marginAsset": spec_base,
        "baseQty": plain(qty * o.size / price),
        "commission": plain(fee),
        "commissionAsset": spec_base,
        "time": at,
        "positionSide": o.position_side,
        "buyer": o.side == "BUY",
        "maker": maker,
    }


def _asset_json(book: CoinmBook, asset: str, now: int) -> dict[str, Any]:
    wallet = book.wallet.get(asset, Decimal(0))
    pnl = sum(
        (book.unrealised(s, side) for (s, side) in book.positions if book.specs[s].base == asset),
        Decimal(0),
    )
    used = book.used_margin(asset)
    return {
        "asset": asset,
        "walletBalance": plain(wallet),
        "unrealizedProfit": plain(pnl),
        "marginBalance": plain(wallet + pnl),
        "maintMargin": "0",
        "initialMargin": plain(used),
        "positionInitialMargin": plain(used),
        "openOrderInitialMargin": "0",
        "maxWithdrawAmount": plain(max(wallet - used, Decimal(0))),
        "crossWalletBalance": plain(wallet),
        "crossUnPnl": plain(pnl),
        "availableBalance": plain(wallet - used),
        "updateTime": now,
    }


def account_json(book: CoinmBook, now: int) -> dict[str, Any]:
    return {
        "assets": [_asset_json(book, a, now) for a in sorted(book.wallet)],
        "positions": [
            {
                "symbol": s,
                "positionAmt": plain(pos.amount),
                "initialMargin": plain(book.position_margin(s, side)),
                "maintMargin": "0",
                "unrealizedProfit": plain(book.unrealised(s, side)),
                "positionInitialMargin": plain(book.position_margin(s, side)),
                "openOrderInitialMargin": "0",
                "leverage": str(book.leverage_of(s)),
                "isolated": book.margin_type(s) == "ISOLATED",
                "positionSide": side,
                "entryPrice": plain(pos.entry_price),
                "maxQty": "1000",
                "updateTime": now,
            }
            for (s, side), pos in sorted(book.positions.items())
        ],
        "canDeposit": True,
        "canTrade": True,
        "canWithdraw": False,
        "feeTier": 0,
        "updateTime": 0,
    }


def balance_json(book: CoinmBook, now: int) -> list[dict[str, Any]]:
    return [
        {
            "accountAlias": "SgsR",
            "asset": a["asset"],
            "balance": a["walletBalance"],
            "withdrawAvailable": a["maxWithdrawAmount"],
            "crossWalletBalance": a["crossWalletBalance"],
            "crossUnPnl": a["crossUnPnl"],
            "availableBalance": a["availableBalance"],
            "updateTime": now,
        }
        for a in (_asset_json(book, asset, now) for asset in sorted(book.wallet))
    ]


def position_json(book: CoinmBook, key: tuple[str, str], now: int) -> dict[str, Any]:
    symbol, side = key
    pos = book.positions[key]
    mark = book.quote(symbol)[0]
    isolated = book.margin_type(symbol) == "ISOLATED"
    margin = plain(book.position_margin(symbol, side)) if isolated else "0"
    return {
        "symbol": symbol,
        "positionAmt": plain(pos.amount),
        "entryPrice": plain(pos.entry_price),
        "breakEvenPrice": plain(pos.entry_price),
        "markPrice": plain(mark),
        "unRealizedProfit": plain(book.unrealised(symbol, side)),
        "liquidationPrice": "0",
        "leverage": str(book.leverage_of(symbol)),
        "maxQty": "1000",
        "marginType": "isolated" if isolated else "cross",
        "isolatedMargin": margin,
        "isAutoAddMargin": "false",
        "positionSide": side,
        "notionalValue": plain(book.coins(symbol, pos.amount, mark)),  # coins, signed
        "isolatedWallet": margin,
        "updateTime": now,
        "marginAsset": book.specs[symbol].base,
    }


def brackets_json(book: CoinmBook) -> list[dict[str, Any]]:
    return [
        {
            "symbol": s.symbol,
            "notionalCoef": 1.5,
            "brackets": [
                {
                    "bracket": 1,
                    "initialLeverage": s.max_leverage,
                    "qtyCap": 5,
                    "qtyFloor": 0,
                    "maintMarginRatio": 0.004,
                    "cum": 0.0,
                },
                {
                    "bracket": 2,
                    "initialLeverage": 50,
                    "qtyCap": 10,
                    "qtyFloor": 5,
                    "maintMarginRatio": 0.005,
                    "cum": 0.005,
                },
            ],
        }
        for s in book.specs.values()
    ]


def fee_rates() -> tuple[Decimal, Decimal]:
    """(maker, taker) commission rates the fake charges, in the coin."""
    return MAKER, TAKER
