"""A loopback MetaApi: the REST endpoints SignalBridge uses, served by uvicorn on 127.0.0.1.

It holds MetaTrader accounts with a balance, symbol specifications and prices that tests
set; market orders open positions, pending orders fill when ``set_price`` crosses them and
stop loss / take profit close positions the same way. ``clientId`` is stored on orders,
positions, history orders and deals. Faults are injected per request: 5xx bursts, 429 with
``Retry-After``, a slow response, and accept-then-drop (the trade executes, then the
connection is cut before any response byte).

Every endpoint checks the ``auth-token`` header against the token the fake was given (the
constructor, or :meth:`FakeMetaApi.set_token`) and answers a wrong or missing one the way
MetaApi does: HTTP 401 with ``{"id", "error": "UnauthorizedError", "message"}``.

Usage::

    fake = FakeMetaApi(token="t0k3n")
    fake.add_account("acc-1", balance=Decimal("10000"))
    with fake:                       # starts the server thread
        ... fake.base_url ...
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ZERO = Decimal(0)
PREFIX = "/users/current/accounts/"
MAX_CLIENT_FIELDS = 26  # comment + clientId, per MetaApi docs


# --- state -----------------------------------------------------------------------------------


@dataclass
class FakeSymbol:
    name: str
    digits: int
    contract_size: Decimal
    tick_value: Decimal
    bid: Decimal
    ask: Decimal
    min_volume: Decimal = Decimal("0.01")
    max_volume: Decimal = Decimal("100")
    volume_step: Decimal = Decimal("0.01")
    tick_size: Decimal | None = None
    base_currency: str = ""
    profit_currency: str = "USD"
    trade_mode: str = "SYMBOL_TRADE_MODE_FULL"

    @property
    def tick(self) -> Decimal:
        return self.tick_size or Decimal(1).scaleb(-self.digits)


def default_symbols() -> list[FakeSymbol]:
    """EURUSDm (suffixed, 5 digits), XAUUSD (2 digits, 100 oz lots), US30 (index CFD)."""
    return [
        FakeSymbol(
            "EURUSDm",
            5,
            Decimal(100000),
            Decimal(1),
            Decimal("1.08450"),
            Decimal("1.08462"),
            base_currency="EUR",
        ),
        FakeSymbol(
            "XAUUSD",
            2,
            Decimal(100),
            Decimal(1),
            Decimal("2350.10"),
            Decimal("2350.40"),
            base_currency="XAU",
        ),
        FakeSymbol(
            "US30",
            1,
            Decimal(1),
            Decimal("0.1"),
            Decimal("39000.0"),
            Decimal("39002.0"),
            min_volume=Decimal("0.1"),
            max_volume=Decimal(50),
            volume_step=Decimal("0.1"),
            base_currency="USD",
        ),
    ]


@dataclass
class FakePosition:
    id: str
    symbol: str
    type: str  # POSITION_TYPE_BUY | POSITION_TYPE_SELL
    volume: Decimal
    open_price: Decimal
    time: datetime
    order_id: str
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    client_id: str | None = None
    comment: str | None = None
    magic: int = 0

    @property
    def is_buy(self) -> bool:
        return self.type == "POSITION_TYPE_BUY"


@dataclass
class FakeOrder:
    id: str
    symbol: str
    type: str  # ORDER_TYPE_BUY, ORDER_TYPE_SELL_LIMIT, ...
    volume: Decimal
    open_price: Decimal | None
    time: datetime
    state: str = "ORDER_STATE_PLACED"
    current_volume: Decimal | None = None
    stop_limit_price: Decimal | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    client_id: str | None = None
    comment: str | None = None
    position_id: str | None = None
    done_time: datetime | None = None
    magic: int = 0

    @property
    def is_buy(self) -> bool:
        return self.type.startswith("ORDER_TYPE_BUY")


@dataclass
class FakeDeal:
    id: str
    type: str  # DEAL_TYPE_BUY | DEAL_TYPE_SELL
    entry_type: str  # DEAL_ENTRY_IN | DEAL_ENTRY_OUT
    symbol: str
    volume: Decimal
    price: Decimal
    profit: Decimal
    position_id: str
    order_id: str
    time: datetime
    client_id: str | None = None
    reason: str = "DEAL_REASON_EXPERT"  # DEAL_REASON_SL / _TP when the broker closed it


@dataclass
class FakeAccount:
    id: str
    balance: Decimal
    currency: str = "USD"
    leverage: int = 100
    platform: str = "mt5"
    symbols: dict[str, FakeSymbol] = field(default_factory=dict)
    positions: dict[str, FakePosition] = field(default_factory=dict)
    orders: dict[str, FakeOrder] = field(default_factory=dict)
    history_orders: list[FakeOrder] = field(default_factory=list)
    deals: list[FakeDeal] = field(default_factory=list)
    state: str = "DEPLOYED"
    connection_status: str = "CONNECTED"
    trade_allowed: bool = True


@dataclass
class _Fault:
    kind: str  # status | rate | delay | drop | result
    remaining: int
    path: str | None
    method: str | None
    status: int = 503
    seconds: float = 0.0
    result: dict[str, Any] | None = None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or self.path in path
        )


class _TradeRefused(Exception):
    def __init__(self, code: int, string: str, message: str) -> None:
        super().__init__(message)
        self.result = {"numericCode": code, "stringCode": string, "message": message}


def _refuse(code: int, string: str, message: str) -> _TradeRefused:
    return _TradeRefused(code, string, message)


class FakeBroker:
    """The MT accounts and the trading rules, without HTTP: thread-safe through ``lock``."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.accounts: dict[str, FakeAccount] = {}
        self.lock = threading.RLock()
        self._initial: dict[str, tuple[Decimal, list[FakeSymbol]]] = {}
        self._ids = itertools.count(46648037)

    def add_account(
        self,
        account_id: str,
        *,
        balance: Decimal = Decimal(10000),
        currency: str = "USD",
        leverage: int = 100,
        symbols: list[FakeSymbol] | None = None,
        platform: str = "mt5",
    ) -> FakeAccount:
        with self.lock:
            account = FakeAccount(
                account_id,
                balance,
                currency,
                leverage,
                platform,
                symbols={s.name: replace(s) for s in (symbols or default_symbols())},
            )
            self.accounts[account_id] = account
            self._initial[account_id] = (balance, [replace(s) for s in account.symbols.values()])
            return account

    def reset(self) -> None:
        """Every account back to how it was added: balance, prices, nothing open, no history."""
        with self.lock:
            for account in self.accounts.values():
                balance, symbols = self._initial[account.id]
                account.balance = balance
                account.symbols = {sym.name: replace(sym) for sym in symbols}
                account.state, account.connection_status = "DEPLOYED", "CONNECTED"
                account.positions.clear()
                account.orders.clear()
                account.history_orders.clear()
                account.deals.clear()

    def set_price(
        self, account_id: str, symbol: str, bid: Decimal, ask: Decimal | None = None
    ) -> None:
        """Move the market; fills pending orders and triggers SL/TP that the move crosses."""
        with self.lock:
            account = self.accounts[account_id]
            spec = account.symbols[symbol]
            spec.bid = bid
            spec.ask = ask if ask is not None else bid
            self._fill_pending(account, spec)
            self._trigger_stops(account, spec)

    # -- trading rules

    def execute(self, account: FakeAccount, body: dict[str, Any]) -> dict[str, Any]:
        action = body["actionType"]
        if action in ("ORDER_TYPE_BUY", "ORDER_TYPE_SELL"):
            return self._market(account, body)
        if action in (
            "ORDER_TYPE_BUY_LIMIT",
            "ORDER_TYPE_SELL_LIMIT",
            "ORDER_TYPE_BUY_STOP",
            "ORDER_TYPE_SELL_STOP",
            "ORDER_TYPE_BUY_STOP_LIMIT",
            "ORDER_TYPE_SELL_STOP_LIMIT",
        ):
            return self._pending(account, body)
        if action == "ORDER_CANCEL":
            order = account.orders.pop(str(body.get("orderId")), None)
            if order is None:
                raise _refuse(10013, "TRADE_RETCODE_INVALID", "Invalid request")
            order.state, order.done_time = "ORDER_STATE_CANCELED", self.clock()
            account.history_orders.append(order)
            return _done(order_id=order.id)
        position = account.positions.get(str(body.get("positionId")))
        if position is None:
            raise _refuse(10036, "TRADE_RETCODE_POSITION_CLOSED", "Position doesn't exist")
        spec = account.symbols[position.symbol]
        if action == "POSITION_MODIFY":
            sl, tp = body.get("stopLoss"), body.get("takeProfit")
            if sl == position.stop_loss and tp == position.take_profit:
                return {
                    "numericCode": 10025,
                    "stringCode": "TRADE_RETCODE_NO_CHANGES",
                    "message": "No changes",
                    "positionId": position.id,
                }
            reference = spec.bid if position.is_buy else spec.ask
            _check_stops(spec, position.is_buy, reference, sl, tp)
            position.stop_loss, position.take_profit = sl, tp
            return _done(position_id=position.id)
        if action == "POSITION_CLOSE_ID":
            order = self._close(account, position, position.volume, body.get("clientId"))
            return _done(order_id=order.id, position_id=position.id)
        if action == "POSITION_PARTIAL":
            volume = body.get("volume")
            if not isinstance(volume, Decimal | int) or volume <= 0 or volume > position.volume:
                raise _refuse(10038, "TRADE_RETCODE_INVALID_CLOSE_VOLUME", "Invalid close volume")
            _check_volume(spec, Decimal(volume), allow_below_min=False)
            order = self._close(account, position, Decimal(volume), body.get("clientId"))
            return _done(order_id=order.id, position_id=position.id)
        raise _refuse(10013, "TRADE_RETCODE_INVALID", f"Unsupported action {action}")

    def _spec(self, account: FakeAccount, body: dict[str, Any]) -> FakeSymbol:
        spec = account.symbols.get(str(body.get("symbol")))
        if spec is None:
            raise _refuse(10013, "TRADE_RETCODE_INVALID", "Unknown symbol")
        if spec.trade_mode == "SYMBOL_TRADE_MODE_DISABLED":
            raise _refuse(10018, "TRADE_RETCODE_MARKET_CLOSED", "Market closed")
        if spec.bid <= 0 or spec.ask <= 0:
            raise _refuse(10021, "TRADE_RETCODE_PRICE_OFF", "No quotes")
        return spec

    def _market(self, account: FakeAccount, body: dict[str, Any]) -> dict[str, Any]:
        spec = self._spec(account, body)
        buy = body["actionType"] == "ORDER_TYPE_BUY"
        volume = Decimal(body["volume"])
        _check_volume(spec, volume)
        price = spec.ask if buy else spec.bid
        sl, tp = body.get("stopLoss"), body.get("takeProfit")
        _check_stops(spec, buy, spec.bid if buy else spec.ask, sl, tp)
        self._check_margin(account, spec, volume, price)
        now = self.clock()
        order = FakeOrder(
            self._next_id(),
            spec.name,
            body["actionType"],
            volume,
            price,
            now,
            state="ORDER_STATE_FILLED",
            current_volume=ZERO,
            stop_loss=sl,
            take_profit=tp,
            client_id=body.get("clientId"),
            comment=body.get("comment"),
            done_time=now,
        )
        position = self._open(account, order, price)
        return _done(order_id=order.id, position_id=position.id)

    def _pending(self, account: FakeAccount, body: dict[str, Any]) -> dict[str, Any]:
        spec = self._spec(account, body)
        action: str = body["actionType"]
        buy = action.startswith("ORDER_TYPE_BUY")
        volume = Decimal(body["volume"])
        _check_volume(spec, volume)
        price = body.get("openPrice")
        if not isinstance(price, Decimal | int) or price <= 0 or not _on_tick(spec, Decimal(price)):
            raise _refuse(10015, "TRADE_RETCODE_INVALID_PRICE", "Invalid price")
        price = Decimal(price)
        limit = action.endswith("_LIMIT") and "STOP" not in action
        wrong_side = (
            (price >= spec.ask if buy else price <= spec.bid)
            if limit
            else (price <= spec.ask if buy else price >= spec.bid)
        )
        if wrong_side:
            raise _refuse(10015, "TRADE_RETCODE_INVALID_PRICE", "Invalid price")
        sl, tp = body.get("stopLoss"), body.get("takeProfit")
        _check_stops(spec, buy, price, sl, tp)
        self._check_margin(account, spec, volume, price)
        order = FakeOrder(
            self._next_id(),
            spec.name,
            action,
            volume,
            price,
            self.clock(),
            current_volume=volume,
            stop_limit_price=body.get("stopLimitPrice"),
            stop_loss=sl,
            take_profit=tp,
            client_id=body.get("clientId"),
            comment=body.get("comment"),
        )
        account.orders[order.id] = order
        return {
            "numericCode": 10008,
            "stringCode": "TRADE_RETCODE_PLACED",
            "message": "Order placed",
            "orderId": order.id,
        }

    def _open(self, account: FakeAccount, order: FakeOrder, price: Decimal) -> FakePosition:
        position = FakePosition(
            order.id,
            order.symbol,
            "POSITION_TYPE_BUY" if order.is_buy else "POSITION_TYPE_SELL",
            order.volume,
            price,
            order.done_time or self.clock(),
            order.id,
            order.stop_loss,
            order.take_profit,
            order.client_id,
            order.comment,
        )
        order.position_id = position.id
        account.positions[position.id] = position
        account.history_orders.append(order)
        account.deals.append(
            FakeDeal(
                self._next_id(),
                "DEAL_TYPE_BUY" if order.is_buy else "DEAL_TYPE_SELL",
                "DEAL_ENTRY_IN",
                order.symbol,
                order.volume,
                price,
                ZERO,
                position.id,
                order.id,
                position.time,
                order.client_id,
            )
        )
        return position

    def _close(
        self,
        account: FakeAccount,
        position: FakePosition,
        volume: Decimal,
        client_id: str | None,
        price: Decimal | None = None,
        reason: str = "DEAL_REASON_EXPERT",
    ) -> FakeOrder:
        """Close ``volume`` of a position. A close by the broker (stop loss, take profit)
        gets MetaTrader's own comment, so our clientId is not on its order and deal."""
        spec = account.symbols[position.symbol]
        by_broker = reason != "DEAL_REASON_EXPERT"
        if by_broker:
            client_id = None
        exit_price = price if price is not None else (spec.bid if position.is_buy else spec.ask)
        profit = _profit(spec, position, exit_price, volume)
        account.balance += profit
        now = self.clock()
        order = FakeOrder(
            self._next_id(),
            position.symbol,
            "ORDER_TYPE_SELL" if position.is_buy else "ORDER_TYPE_BUY",
            volume,
            exit_price,
            now,
            state="ORDER_STATE_FILLED",
            current_volume=ZERO,
            client_id=None if by_broker else (client_id or position.client_id),
            position_id=position.id,
            done_time=now,
        )
        account.history_orders.append(order)
        account.deals.append(
            FakeDeal(
                self._next_id(),
                "DEAL_TYPE_SELL" if position.is_buy else "DEAL_TYPE_BUY",
                "DEAL_ENTRY_OUT",
                position.symbol,
                volume,
                exit_price,
                profit,
                position.id,
                order.id,
                now,
                order.client_id,
                reason,
            )
        )
        position.volume -= volume
        if position.volume <= 0:
            del account.positions[position.id]
        return order

    def _fill_pending(self, account: FakeAccount, spec: FakeSymbol) -> None:
        for order in [o for o in account.orders.values() if o.symbol == spec.name]:
            assert order.open_price is not None
            kind = order.type.removeprefix("ORDER_TYPE_BUY_").removeprefix("ORDER_TYPE_SELL_")
            buy = order.is_buy
            if kind == "LIMIT":
                hit = spec.ask <= order.open_price if buy else spec.bid >= order.open_price
                fill = order.open_price
            else:
                hit = spec.ask >= order.open_price if buy else spec.bid <= order.open_price
                fill = spec.ask if buy else spec.bid
            if not hit:
                continue
            del account.orders[order.id]
            order.state, order.done_time, order.current_volume = (
                "ORDER_STATE_FILLED",
                self.clock(),
                ZERO,
            )
            self._open(account, order, fill)

    def _trigger_stops(self, account: FakeAccount, spec: FakeSymbol) -> None:
        for position in [p for p in account.positions.values() if p.symbol == spec.name]:
            mark = spec.bid if position.is_buy else spec.ask
            sl, tp = position.stop_loss, position.take_profit
            if position.is_buy:
                stop = sl is not None and mark <= sl
                target = tp is not None and mark >= tp
            else:
                stop = sl is not None and mark >= sl
                target = tp is not None and mark <= tp
            if stop or target:
                reason = "DEAL_REASON_SL" if stop else "DEAL_REASON_TP"
                self._close(account, position, position.volume, None, mark, reason)

    def _check_margin(
        self, account: FakeAccount, spec: FakeSymbol, volume: Decimal, price: Decimal
    ) -> None:
        equity, margin = self.equity_and_margin(account)
        needed = volume * spec.contract_size * price / account.leverage
        if needed > equity - margin:
            raise _refuse(10019, "TRADE_RETCODE_NO_MONEY", "No money")

    def equity_and_margin(self, account: FakeAccount) -> tuple[Decimal, Decimal]:
        equity, margin = account.balance, ZERO
        for p in account.positions.values():
            spec = account.symbols[p.symbol]
            equity += _profit(spec, p, spec.bid if p.is_buy else spec.ask, p.volume)
            margin += p.volume * spec.contract_size * p.open_price / account.leverage
        return equity, margin

    def position_json(self, account: FakeAccount, p: FakePosition) -> dict[str, Any]:
        spec = account.symbols[p.symbol]
        current = spec.bid if p.is_buy else spec.ask
        profit = _profit(spec, p, current, p.volume)
        return _drop_none(
            {
                "id": p.id,
                "platform": account.platform,
                "type": p.type,
                "symbol": p.symbol,
                "magic": p.magic,
                "time": _iso(p.time),
                "brokerTime": _broker(p.time),
                "updateTime": _iso(p.time),
                "openPrice": p.open_price,
                "currentPrice": current,
                "currentTickValue": spec.tick_value,
                "stopLoss": p.stop_loss,
                "takeProfit": p.take_profit,
                "volume": p.volume,
                "swap": ZERO,
                "commission": ZERO,
                "profit": profit,
                "unrealizedProfit": profit,
                "realizedProfit": ZERO,
                "comment": p.comment,
                "clientId": p.client_id,
                "reason": "POSITION_REASON_EXPERT",
            }
        )

    def order_json(self, account: FakeAccount, o: FakeOrder) -> dict[str, Any]:
        spec = account.symbols[o.symbol]
        return _drop_none(
            {
                "id": o.id,
                "platform": account.platform,
                "type": o.type,
                "state": o.state,
                "magic": o.magic,
                "time": _iso(o.time),
                "brokerTime": _broker(o.time),
                "doneTime": _iso(o.done_time) if o.done_time else None,
                "symbol": o.symbol,
                "openPrice": o.open_price,
                "currentPrice": spec.ask if o.is_buy else spec.bid,
                "stopLoss": o.stop_loss,
                "takeProfit": o.take_profit,
                "stopLimitPrice": o.stop_limit_price,
                "volume": o.volume,
                "currentVolume": o.current_volume if o.current_volume is not None else o.volume,
                "positionId": o.position_id,
                "comment": o.comment,
                "clientId": o.client_id,
                "reason": "ORDER_REASON_EXPERT",
                "fillingMode": "ORDER_FILLING_FOK",
                "expirationType": "ORDER_TIME_GTC",
            }
        )

    def _next_id(self) -> str:
        return str(next(self._ids))


# --- the fake --------------------------------------------------------------------------------


class FakeMetaApi:
    """MetaApi REST (client + provisioning account record) on one loopback port."""

    def __init__(
        self, token: str = "fake-metaapi-token", *, clock: Callable[[], datetime] | None = None
    ) -> None:
        if not token:
            raise ValueError("the fake needs a non-empty token to check against")
        self.token = token
        self.broker = FakeBroker(clock)
        self.requests: Counter[str] = Counter()
        self.trade_bodies: list[dict[str, Any]] = []
        self.seen_tokens: list[str | None] = []
        self._faults: list[_Fault] = []
        self._lock = self.broker.lock
        #: While true, history endpoints answer empty (MetaApi history syncs after the fact).
        self.history_lagging = False
        self._in_flight: Counter[str] = Counter()
        #: Most requests per route handled at the same time (checks client concurrency bounds).
        self.max_in_flight: Counter[str] = Counter()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self.app = self._build_app()

    # -- lifecycle

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._asgi,
            log_level="warning",
            lifespan="off",
            interface="asgi3",
            http="h11",
            proxy_headers=False,
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake MetaApi did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeMetaApi:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test controls

    @property
    def accounts(self) -> dict[str, FakeAccount]:
        return self.broker.accounts

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.broker.clock

    def set_token(self, token: str) -> None:
        """The auth token requests must carry from now on; any other answers 401."""
        if not token:
            raise ValueError("the fake needs a non-empty token to check against")
        with self._lock:
            self.token = token

    def add_account(self, account_id: str, **kwargs: Any) -> FakeAccount:
        """See :meth:`FakeBroker.add_account`."""
        return self.broker.add_account(account_id, **kwargs)

    def set_price(
        self, account_id: str, symbol: str, bid: Decimal, ask: Decimal | None = None
    ) -> None:
        self.broker.set_price(account_id, symbol, bid, ask)

    def reset(self) -> None:
        """Accounts as added, and no faults, counters or recorded requests."""
        with self._lock:
            self.broker.reset()
            self._faults.clear()
            self.requests.clear()
            self.trade_bodies.clear()
            self.seen_tokens.clear()
            self.max_in_flight.clear()
            self.history_lagging = False

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 503,
        path: str | None = None,
        method: str | None = None,
        message: str = "injected failure",
        error: str = "InternalError",
    ) -> None:
        """The next ``count`` matching requests answer ``status`` without being handled."""
        self._add_fault(
            _Fault(
                "status",
                count,
                path,
                method,
                status=status,
                result={"error": error, "message": message},
            )
        )

    def rate_limit_next(
        self, count: int = 1, *, retry_after: float = 3, path: str | None = None
    ) -> None:
        self._add_fault(_Fault("rate", count, path, None, seconds=retry_after))

    def delay_next(self, seconds: float, count: int = 1, *, path: str | None = None) -> None:
        """Handle the request (a trade executes), then hold the response back ``seconds``."""
        self._add_fault(_Fault("delay", count, path, None, seconds=seconds))

    def drop_next(self, count: int = 1, *, path: str | None = "/trade") -> None:
        """Accept then drop: handle the request, then reset the connection without answering."""
        self._add_fault(_Fault("drop", count, path, None))

    def force_trade_result(
        self, numeric: int, string: str, message: str = "", count: int = 1
    ) -> None:
        """The next trade(s) answer this return code without executing."""
        result = {"numericCode": numeric, "stringCode": string, "message": message or string}
        self._add_fault(_Fault("result", count, "/trade", "POST", result=result))

    def request_count(self, route: str) -> int:
        return self.requests[route]

    def positions_with_client_id(self, account_id: str, client_id: str) -> list[FakePosition]:
        with self._lock:
            return [
                p for p in self.accounts[account_id].positions.values() if p.client_id == client_id
            ]

    def orders_with_client_id(self, account_id: str, client_id: str) -> list[FakeOrder]:
        with self._lock:
            return [
                o for o in self.accounts[account_id].orders.values() if o.client_id == client_id
            ]

    def _add_fault(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.matches(method, path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # -- ASGI outer layer: counting and faults

    async def _asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = _route_name(scope["path"])
        with self._lock:
            self.requests[route] += 1
            self._in_flight[route] += 1
            self.max_in_flight[route] = max(self.max_in_flight[route], self._in_flight[route])
        try:
            await self._serve(scope, receive, send)
        finally:
            with self._lock:
                self._in_flight[route] -= 1

    async def _serve(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        method, path = scope["method"], scope["path"]
        fault = self._take_fault(method, path)
        if fault is None or fault.kind == "result":
            if fault is not None:
                scope = {**scope, "fake_result": fault.result}
            await self.app(scope, receive, send)
            return
        if fault.kind == "status":
            info = fault.result or {}
            body = _error_body(str(info.get("error")), str(info.get("message")))
            await _send_json(send, fault.status, body)
            return
        if fault.kind == "rate":
            retry_at = self.clock() + timedelta(seconds=fault.seconds)
            body = _error_body(
                "TooManyRequestsError",
                "The API allows 1000 cpu credits per 1s. Please wait and retry.",
                metadata={"recommendedRetryTime": retry_at.isoformat().replace("+00:00", "Z")},
            )
            headers = [(b"retry-after", str(int(fault.seconds)).encode())]
            await _send_json(send, 429, body, headers)
            return
        held: list[MutableMapping[str, Any]] = []

        async def capture(message: MutableMapping[str, Any]) -> None:
            held.append(message)

        await self.app(scope, receive, capture)
        if fault.kind == "delay":
            await asyncio.sleep(fault.seconds)
            for message in held:
                await send(message)
            return
        _abort_connection(send)

    # -- HTTP app

    def _build_app(self) -> Starlette:
        base = PREFIX + "{account_id}"
        routes = [
            Route(base, self._account_record),
            Route(base + "/account-information", self._account_information),
            Route(base + "/positions", self._positions),
            Route(base + "/positions/{item_id}", self._position),
            Route(base + "/orders", self._orders),
            Route(base + "/orders/{item_id}", self._order),
            Route(base + "/history-orders/time/{start}/{end}", self._history_orders),
            Route(base + "/history-deals/time/{start}/{end}", self._history_deals),
            Route(base + "/symbols/{symbol}/specification", self._specification),
            Route(base + "/symbols/{symbol}/current-price", self._current_price),
            Route(base + "/trade", self._trade, methods=["POST"]),
        ]
        return Starlette(routes=routes)

    def _authorise(self, request: Request) -> FakeAccount | Response:
        token = request.headers.get("auth-token")
        with self._lock:
            self.seen_tokens.append(token)
            expected = self.token
        if token is None or not hmac.compare_digest(token.encode(), expected.encode()):
            return _json(
                401,
                _error_body(
                    "UnauthorizedError",
                    "Authorization failed. Please check your auth-token header value",
                ),
            )
        account = self.accounts.get(request.path_params["account_id"])
        if account is None:
            return _json(
                404, _error_body("NotFoundError", "Trading account not found or not deployed")
            )
        return account

    async def _account_record(self, request: Request) -> Response:
        account = self._authorise(request)
        if isinstance(account, Response):
            return account
        return _json(
            200,
            {
                "_id": account.id,
                "name": f"fake {account.id}",
                "login": "1234567",
                "server": "FakeBroker-Demo",
                "platform": account.platform,
                "type": "cloud-g2",
                "state": account.state,
                "connectionStatus": account.connection_status,
            },
        )

    async def _account_information(self, request: Request) -> Response:
        account = self._authorise(request)
        if isinstance(account, Response):
            return account
        with self._lock:
            equity, margin = self.broker.equity_and_margin(account)
            return _json(
                200,
                {
                    "platform": account.platform,
                    "broker": "Fake Broker Ltd",
                    "currency": account.currency,
                    "server": "FakeBroker-Demo",
                    "balance": account.balance,
                    "equity": equity,
                    "margin": margin,
                    "freeMargin": equity - margin,
                    "leverage": account.leverage,
                    "marginLevel": (equity / margin * 100) if margin else None,
                    "tradeAllowed": account.trade_allowed,
                    "marginMode": "ACCOUNT_MARGIN_MODE_RETAIL_HEDGING",
                    "name": "Fake Trader",
                    "login": 1234567,
                    "credit": 0,
                },
            )

    async def _positions(self, request: Request) -> Response:
        account = self._authorise(request)
        if isinstance(account, Response):
            return account
        with self._lock:
            return _json(
                200, [self.broker.position_json(account, p) for p in account.positions.values()]
            )

    async def _position(self, request: Request) -> Response:
        account = self._authorise(request)
        if isinstance(account, Response):
            return account
        with self._lock:
            position = account.positions.get(request.path_params["item_id"])
            if position is None:
                return _json(404, _error_body("NotFoundError", "Position not found"))
            return _json(200, self.broker.position_json(account, position))

    async def _orders(self, request: Request) -> Response:
        account = self._authorise(request)
        if isinstance(account, Response):
            return account
        with self._lock:
            return _json(200, [self.broker.order_json(account, o) for o in account.orders.values()])

    async def _order(self, request: Request) -> Response:
        account = self._authorise(request)
        if isinstance(account, Response):
            return account
        with self._lock:
            order = account.orders.get(request.path_params["item_id"])
            if order is None:
                return _json(404, _error_body("NotFoundError", "Order not found"))
            return _json(200, self.broker.order_json(account, order))

    async def _history_orders(self, request: Request) -> Response:
        account = self._authorise(request)
        if isinstance(account, Response):
            return account
        start, end = _time_range(request)
        if start is None or end is None:
            return _json(400, _error_body("ValidationError", "Validation failed"))
        with self._lock:
            items = [
                self.broker.order_json(account, o)
                for o in account.history_orders
                if start <= (o.done_time or o.time) < end and not self.history_lagging
            ]
        return _json(200, items)

    async def _history_deals(self, request: Request) -> Response:
        account = self._authorise(request)
        if isinstance(account, Response):
            return account
        start, end = _time_range(request)
        if start is None or end is None:
            return _json(400, _error_body("ValidationError", "Validation failed"))
        with self._lock:
            items = [
                _deal_json(account, d)
                for d in account.deals
                if start <= d.time < end and not self.history_lagging
            ]
        return _json(200, items)

    async def _specification(self, request: Request) -> Response:
        account = self._authorise(request)
        if isinstance(account, Response):
            return account
        with self._lock:
            spec = account.symbols.get(request.path_params["symbol"])
            if spec is None:
                return _json(404, _error_body("NotFoundError", "Symbol not found"))
            return _json(
                200,
                {
                    "symbol": spec.name,
                    "tickSize": spec.tick,
                    "minVolume": spec.min_volume,
                    "maxVolume": spec.max_volume,
                    "volumeStep": spec.volume_step,
                    "fillingModes": ["ORDER_FILLING_FOK", "ORDER_FILLING_IOC"],
                    "executionMode": "SYMBOL_TRADE_EXECUTION_MARKET",
                    "contractSize": spec.contract_size,
                    "quoteSessions": {},
                    "tradeSessions": {},
                    "tradeMode": spec.trade_mode,
                    "digits": spec.digits,
                    "point": Decimal(1).scaleb(-spec.digits),
                    "baseCurrency": spec.base_currency,
                    "profitCurrency": spec.profit_currency,
                    "marginCurrency": spec.base_currency,
                    "description": spec.name,
                    "stopsLevel": 0,
                    "freezeLevel": 0,
                },
            )

    async def _current_price(self, request: Request) -> Response:
        account = self._authorise(request)
        if isinstance(account, Response):
            return account
        with self._lock:
            spec = account.symbols.get(request.path_params["symbol"])
            if spec is None:
                return _json(404, _error_body("NotFoundError", "Symbol not found"))
            now = self.clock()
            return _json(
                200,
                {
                    "symbol": spec.name,
                    "bid": spec.bid,
                    "ask": spec.ask,
                    "profitTickValue": spec.tick_value,
                    "lossTickValue": spec.tick_value,
                    "time": _iso(now),
                    "brokerTime": now.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
                },
            )

    async def _trade(self, request: Request) -> Response:
        account = self._authorise(request)
        if isinstance(account, Response):
            return account
        try:
            body = json.loads(await request.body(), parse_float=Decimal)
        except ValueError:
            return _json(400, _error_body("ValidationError", "Request body is not JSON"))
        if not isinstance(body, dict):
            return _json(400, _error_body("ValidationError", "Validation failed"))
        with self._lock:
            self.trade_bodies.append(body)
        problem = _validate_trade(body)
        if problem:
            return _json(
                400,
                _error_body(
                    "ValidationError",
                    "Validation failed",
                    details=[{"parameter": problem[0], "message": problem[1]}],
                ),
            )
        forced = request.scope.get("fake_result")
        if forced is not None:
            return _json(200, forced)
        with self._lock:
            try:
                result = self.broker.execute(account, body)
            except _TradeRefused as refused:
                return _json(200, refused.result)
        return _json(200, result)


# --- helpers ---------------------------------------------------------------------------------


def _validate_trade(body: dict[str, Any]) -> tuple[str, str] | None:
    action = body.get("actionType")
    if not isinstance(action, str):
        return ("actionType", "actionType is required")
    client_id, comment = body.get("clientId"), body.get("comment")
    if client_id is not None and not isinstance(client_id, str):
        return ("clientId", "clientId must be a string")
    total = len(client_id or "") + len(comment or "")
    if total > MAX_CLIENT_FIELDS:
        return (
            "clientId",
            f"comment and clientId together must not exceed {MAX_CLIENT_FIELDS} characters",
        )
    if action.startswith("ORDER_TYPE_"):
        volume = body.get("volume")
        if not isinstance(volume, Decimal | int) or isinstance(volume, bool) or volume < 0:
            return ("volume", "volume must be a non-negative number")
        if not isinstance(body.get("symbol"), str):
            return ("symbol", "symbol is required")
    return None


def _check_volume(spec: FakeSymbol, volume: Decimal, *, allow_below_min: bool = False) -> None:
    if (
        volume <= 0
        or volume % spec.volume_step != 0
        or volume > spec.max_volume
        or (not allow_below_min and volume < spec.min_volume)
    ):
        raise _refuse(10014, "TRADE_RETCODE_INVALID_VOLUME", "Invalid volume")


def _check_stops(spec: FakeSymbol, buy: bool, reference: Decimal, sl: Any, tp: Any) -> None:
    for value in (sl, tp):
        if value is None:
            continue
        if not isinstance(value, Decimal | int) or value <= 0 or not _on_tick(spec, Decimal(value)):
            raise _refuse(10016, "TRADE_RETCODE_INVALID_STOPS", "Invalid stops")
    if sl is not None and (sl >= reference if buy else sl <= reference):
        raise _refuse(10016, "TRADE_RETCODE_INVALID_STOPS", "Invalid stops")
    if tp is not None and (tp <= reference if buy else tp >= reference):
        raise _refuse(10016, "TRADE_RETCODE_INVALID_STOPS", "Invalid stops")


def _on_tick(spec: FakeSymbol, price: Decimal) -> bool:
    return price % spec.tick == 0


def _profit(spec: FakeSymbol, p: FakePosition, price: Decimal, volume: Decimal) -> Decimal:
    move = (price - p.open_price) if p.is_buy else (p.open_price - price)
    return (move / spec.tick * spec.tick_value * volume).quantize(Decimal("0.01"))


def _done(*, order_id: str | None = None, position_id: str | None = None) -> dict[str, Any]:
    return _drop_none(
        {
            "numericCode": 10009,
            "stringCode": "TRADE_RETCODE_DONE",
            "message": "Request completed",
            "orderId": order_id,
            "positionId": position_id,
        }
    )


def _deal_json(account: FakeAccount, d: FakeDeal) -> dict[str, Any]:
    return _drop_none(
        {
            "id": d.id,
            "platform": account.platform,
            "type": d.type,
            "entryType": d.entry_type,
            "symbol": d.symbol,
            "magic": 0,
            "time": _iso(d.time),
            "brokerTime": _broker(d.time),
            "volume": d.volume,
            "price": d.price,
            "commission": ZERO,
            "swap": ZERO,
            "profit": d.profit,
            "positionId": d.position_id,
            "orderId": d.order_id,
            "clientId": d.client_id,
            "reason": d.reason,
        }
    )


def _time_range(request: Request) -> tuple[datetime | None, datetime | None]:
    return _parse_time(request.path_params["start"]), _parse_time(request.path_params["end"])


def _parse_time(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _broker(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def _error_body(error: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"id": 1, "error": error, "message": message, **extra}


def _dumps(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_dumps(v) for v in value) + "]"
    return json.dumps(value)


def _json(status: int, body: Any) -> Response:
    return Response(_dumps(body), status_code=status, media_type="application/json")


async def _send_json(
    send: Any, status: int, body: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = _dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _abort_connection(send: Any) -> None:
    """Reset the TCP connection before any response byte (uvicorn h11: the cycle's transport)."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("cannot reach the connection to drop it")
    cycle.disconnected = True  # type: ignore[union-attr]
    transport.abort()


def _route_name(path: str) -> str:
    """Coarse route name for counters: ``trade``, ``positions``, ``current-price``, ``account``."""
    if not path.startswith(PREFIX):
        return path
    parts = path[len(PREFIX) :].split("/")[1:]
    if not parts:
        return "account"
    if parts[0] == "symbols" and len(parts) >= 3:
        return parts[2]
    return parts[0]
