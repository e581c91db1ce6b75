"""JSON shapes of the fake Binance: how Binance's spot and USDⓈ-M REST API spell things.

Field names and number formatting follow Binance's documentation (spot numbers as 8-decimal
strings, futures numbers as plain strings) so ccxt's parsers see what they see in production.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.fakes.binance_book import BinanceBook, FakeOrder, SymbolSpec
from tests.fakes.binance_fees import fill_json

FAR_FUTURE_MS = 4133404800000
#: ``orderTypes`` of a USDⓈ-M or COIN-M perpetual in exchangeInfo
FUTURES_ORDER_TYPES = (
    "LIMIT",
    "MARKET",
    "STOP",
    "STOP_MARKET",
    "TAKE_PROFIT",
    "TAKE_PROFIT_MARKET",
    "TRAILING_STOP_MARKET",
)


def percent_price_filter() -> dict[str, Any]:
    """A futures symbol's PERCENT_PRICE filter: orders within ±5 % of the mark."""
    return {
        "filterType": "PERCENT_PRICE",
        "multiplierUp": "1.0500",
        "multiplierDown": "0.9500",
        "multiplierDecimal": "4",
    }


def s8(value: Decimal) -> str:
    """Spot formatting: always 8 decimals (``"50000.00000000"``)."""
    return f"{value:.8f}"


def plain(value: Decimal) -> str:
    """Futures formatting: no exponent, no superfluous zeros (``"50000"``, ``"0.001"``)."""
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def rate_limits(weight_limit: int) -> list[dict[str, Any]]:
    return [
        {
            "rateLimitType": "REQUEST_WEIGHT",
            "interval": "MINUTE",
            "intervalNum": 1,
            "limit": weight_limit,
        },
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    ]


def _price_filter(spec: SymbolSpec, fmt: Any) -> dict[str, Any]:
    return {
        "filterType": "PRICE_FILTER",
        "minPrice": fmt(spec.tick),
        "maxPrice": fmt(Decimal("1000000")),
        "tickSize": fmt(spec.tick),
    }


def _lot(spec: SymbolSpec, fmt: Any, kind: str = "LOT_SIZE") -> dict[str, Any]:
    return {
        "filterType": kind,
        "minQty": fmt(spec.min_qty),
        "maxQty": fmt(spec.max_qty),
        "stepSize": fmt(spec.step),
    }


def _decimals(step: Decimal) -> int:
    return max(0, -step.normalize().as_tuple().exponent)  # type: ignore[operator]


def spot_symbol(spec: SymbolSpec) -> dict[str, Any]:
    return {
        "symbol": spec.symbol,
        "status": "TRADING",
        "baseAsset": spec.base,
        "baseAssetPrecision": 8,
        "quoteAsset": spec.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            _price_filter(spec, s8),
            _lot(spec, s8),
            {
                "filterType": "NOTIONAL",
                "minNotional": s8(spec.min_notional),
                "applyMinToMarket": True,
                "maxNotional": s8(Decimal("9000000")),
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": s8(Decimal(0)),
                "maxQty": s8(spec.market_cap),
                "stepSize": s8(Decimal(0)),
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def futures_symbol(spec: SymbolSpec) -> dict[str, Any]:
    return {
        "symbol": spec.symbol,
        "pair": spec.symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": FAR_FUTURE_MS,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": spec.base,
        "quoteAsset": spec.quote,
        "marginAsset": spec.quote,
        "pricePrecision": _decimals(spec.tick),
        "quantityPrecision": _decimals(spec.step),
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": ["PoW"],
        "settlePlan": 0,
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            _price_filter(spec, plain),
            _lot(spec, plain),
            {**_lot(spec, plain, "MARKET_LOT_SIZE"), "maxQty": plain(spec.market_cap)},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            # MAX_NUM_ALGO_ORDERS is gone since 2025-12-29: 200 per account, all symbols
            {"filterType": "MIN_NOTIONAL", "notional": plain(spec.min_notional)},
            percent_price_filter(),
        ],
        "orderTypes": list(FUTURES_ORDER_TYPES),
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
    }


def ticker_24hr(book: BinanceBook, symbol: str, futures: bool, now_ms: int) -> dict[str, Any]:
    q = book.quote(symbol)
    fmt = plain if futures else s8
    out: dict[str, Any] = {
        "symbol": symbol,
        "priceChange": fmt(Decimal(0)),
        "priceChangePercent": "0.000",
        "weightedAvgPrice": fmt(q.last),
        "lastPrice": fmt(q.last),
        "lastQty": fmt(Decimal(1)),
        "openPrice": fmt(q.last),
        "highPrice": fmt(q.last),
        "lowPrice": fmt(q.last),
        "volume": fmt(Decimal(1000)),
        "quoteVolume": fmt(q.last * 1000),
        "openTime": now_ms - 86_400_000,
        "closeTime": now_ms,
        "firstId": 1,
        "lastId": 1000,
        "count": 1000,
    }
    if not futures:  # the USDⓈ-M 24hr ticker has no book prices
        out.update(
            {
                "prevClosePrice": s8(q.last),
                "bidPrice": s8(q.bid),
                "bidQty": s8(Decimal(1)),
                "askPrice": s8(q.ask),
                "askQty": s8(Decimal(1)),
            }
        )
    return out


def book_ticker(book: BinanceBook, symbol: str, futures: bool, now_ms: int) -> dict[str, Any]:
    q = book.quote(symbol)
    fmt = plain if futures else s8
    out: dict[str, Any] = {
        "symbol": symbol,
        "bidPrice": fmt(q.bid),
        "bidQty": fmt(Decimal(1)),
        "askPrice": fmt(q.ask),
        "askQty": fmt(Decimal(1)),
    }
    if futures:
        out.update({"time": now_ms, "lastUpdateId": now_ms})
    return out


def price_ticker(book: BinanceBook, symbol: str, futures: bool, now_ms: int) -> dict[str, Any]:
    q = book.quote(symbol)
    if futures:
        return {"symbol": symbol, "price": plain(q.last), "time": now_ms}
    return {"symbol": symbol, "price": s8(q.last)}


def spot_order(o: FakeOrder, *, resp_type: str = "GET", now_ms: int = 0) -> dict[str, Any]:
    """GET /api/v3/order shape, or the POST response for ``ACK`` / ``RESULT`` / ``FULL``."""
    head = {
        "symbol": o.symbol,
        "orderId": o.order_id,
        "orderListId": -1,
        "clientOrderId": o.client_order_id,
    }
    if resp_type == "ACK":
        return {**head, "transactTime": now_ms}
    body = {
        **head,
        "price": s8(o.price),
        "origQty": s8(o.qty),
        "executedQty": s8(o.executed_qty),
        "cummulativeQuoteQty": s8(o.cum_quote),
        "status": o.status,
        "timeInForce": o.time_in_force,
        "type": o.type,
        "side": o.side,
        "workingTime": o.created_ms,
        "origQuoteOrderQty": s8(Decimal(0)),
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }
    if resp_type == "GET":
        body.update(
            {
                "stopPrice": s8(Decimal(0)),
                "icebergQty": s8(Decimal(0)),
                "time": o.created_ms,
                "updateTime": o.updated_ms,
                "isWorking": True,
            }
        )
        return body
    body["transactTime"] = now_ms
    if resp_type == "FULL":
        body["fills"] = [fill_json(f) for f in o.fills]  # each with its commission
    return body


def futures_order(o: FakeOrder, *, ack: bool = False) -> dict[str, Any]:
    """USDⓈ-M order; ``ack`` reports it as just accepted (NEW, nothing executed yet)."""
    status, executed, cum = (
        ("NEW", Decimal(0), Decimal(0)) if ack else (o.status, o.executed_qty, o.cum_quote)
    )
    return {
        "orderId": o.order_id,
        "symbol": o.symbol,
        "status": status,
        "clientOrderId": o.client_order_id,
        "price": plain(o.price),
        "avgPrice": plain(cum / executed if executed else Decimal(0)),
        "origQty": plain(o.qty),
        "executedQty": plain(executed),
        "cumQty": plain(executed),
        "cumQuote": plain(cum),
        "timeInForce": o.time_in_force,
        "type": o.type,
        "reduceOnly": o.reduce_only,
        "closePosition": False,
        "side": o.side,
        "positionSide": "BOTH",
        "stopPrice": "0",
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "origType": o.type,
        "priceMatch": "NONE",
        "selfTradePreventionMode": "EXPIRE_MAKER",
        "goodTillDate": 0,
        "time": o.created_ms,
        "updateTime": o.updated_ms,
    }


def spot_account(book: BinanceBook, now_ms: int, can_withdraw: bool) -> dict[str, Any]:
    assets = sorted(set(book.spot_free) | set(book.spot_locked))
    return {
        "makerCommission": int(book.commission.maker * 10000),
        "takerCommission": int(book.commission.taker * 10000),
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": s8(book.commission.maker),
            "taker": s8(book.commission.taker),
            "buyer": "0.00000000",
            "seller": "0.00000000",
        },
        "canTrade": True,
        "canWithdraw": can_withdraw,
        "canDeposit": True,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": now_ms,
        "accountType": "SPOT",
        "balances": [
            {
                "asset": a,
                "free": s8(book.spot_free.get(a, Decimal(0))),
                "locked": s8(book.spot_locked.get(a, Decimal(0))),
            }
            for a in assets
        ],
        "permissions": ["SPOT"],
        "uid": 354937868,
    }


def futures_asset(book: BinanceBook, now_ms: int) -> dict[str, Any]:
    upnl = sum((book.unrealised(*k) for k in book.positions), Decimal(0))
    pos_margin = sum((book.position_margin(*k) for k in book.positions), Decimal(0))
    available = book.futures_available()
    return {
        "asset": "USDT",
        "walletBalance": plain(book.futures_wallet),
        "unrealizedProfit": plain(upnl),
        "marginBalance": plain(book.futures_wallet + upnl),
        "maintMargin": "0",
        "initialMargin": plain(book.futures_wallet + upnl - available),
        "positionInitialMargin": plain(pos_margin),
        "openOrderInitialMargin": "0",
        "crossWalletBalance": plain(book.futures_wallet),
        "crossUnPnl": plain(upnl),
        "availableBalance": plain(available),
        "maxWithdrawAmount": plain(available),
        "marginAvailable": True,
        "updateTime": now_ms,
    }


def futures_account(book: BinanceBook, now_ms: int) -> dict[str, Any]:
    asset = futures_asset(book, now_ms)
    return {
        "totalInitialMargin": asset["initialMargin"],
        "totalMaintMargin": "0",
        "totalWalletBalance": asset["walletBalance"],
        "totalUnrealizedProfit": asset["unrealizedProfit"],
        "totalMarginBalance": asset["marginBalance"],
        "totalPositionInitialMargin": asset["positionInitialMargin"],
        "totalOpenOrderInitialMargin": "0",
        "totalCrossWalletBalance": asset["walletBalance"],
        "totalCrossUnPnl": asset["crossUnPnl"],
        "availableBalance": asset["availableBalance"],
        "maxWithdrawAmount": asset["maxWithdrawAmount"],
        "assets": [asset],
        "positions": [
            position_risk(book, k, now_ms) for k, p in book.positions.items() if p.amount != 0
        ],
    }


def futures_balance(book: BinanceBook, now_ms: int) -> list[dict[str, Any]]:
    a = futures_asset(book, now_ms)
    return [
        {
            "accountAlias": "SgsR",
            "asset": "USDT",
            "balance": a["walletBalance"],
            "crossWalletBalance": a["crossWalletBalance"],
            "crossUnPnl": a["crossUnPnl"],
            "availableBalance": a["availableBalance"],
            "maxWithdrawAmount": a["availableBalance"],
            "marginAvailable": True,
            "updateTime": now_ms,
        }
    ]


def position_risk(
    book: BinanceBook,
    key: tuple[str, str],
    now_ms: int,
    v2: bool = False,
    margin_type: str = "CROSSED",
) -> dict[str, Any]:
    """One position (``key``: symbol and positionSide) as positionRisk / account show it."""
    symbol, side = key
    pos = book.positions[key]
    mark = book.quote(symbol).last
    lev = book.leverage_of(symbol)
    margin = book.position_margin(symbol, side)
    isolated = plain(margin) if margin_type == "ISOLATED" else "0"
    out: dict[str, Any] = {
        "symbol": symbol,
        "positionSide": side,
        "positionAmt": plain(pos.amount),
        "entryPrice": plain(pos.entry_price),
        "breakEvenPrice": plain(pos.entry_price),
        "markPrice": plain(mark),
        "unRealizedProfit": plain(book.unrealised(symbol, side)),
        "liquidationPrice": "0",
        "isolatedMargin": isolated,
        "notional": plain(pos.amount * mark),
        "marginAsset": "USDT",
        "isolatedWallet": isolated,
        "initialMargin": plain(margin),
        "maintMargin": plain(abs(pos.amount) * mark * Decimal("0.004")),
        "positionInitialMargin": plain(margin),
        "openOrderInitialMargin": "0",
        "adl": 0,
        "bidNotional": "0",
        "askNotional": "0",
        "updateTime": now_ms,
    }
    if v2:
        out.update(
            {
                "leverage": str(lev),
                "marginType": "isolated" if margin_type == "ISOLATED" else "cross",
                "isAutoAddMargin": "false",
                "maxNotionalValue": "1000000",
            }
        )
    return out


def leverage_brackets(book: BinanceBook) -> list[dict[str, Any]]:
    return [
        {
            "symbol": s.symbol,
            "notionalCoef": 1.5,
            "brackets": [
                {
                    "bracket": 1,
                    "initialLeverage": s.max_leverage,
                    "notionalCap": 50000,
                    "notionalFloor": 0,
                    "maintMarginRatio": 0.004,
                    "cum": 0.0,
                },
                {
                    "bracket": 2,
                    "initialLeverage": 50,
                    "notionalCap": 10000000,
                    "notionalFloor": 50000,
                    "maintMarginRatio": 0.01,
                    "cum": 300.0,
                },
            ],
        }
        for s in book.symbols
        if s.futures
    ]
