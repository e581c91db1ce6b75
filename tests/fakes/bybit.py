"""A loopback fake of Bybit's V5 REST API (Unified Trading Account), for the real ccxt.

A real HTTP server (aiohttp, 127.0.0.1, random port, own thread) over a
:class:`~tests.fakes.bybit_book.BybitBook`. It answers what ccxt's ``bybit`` class calls in
SignalBridge's flows: ``/v5/market/{time,instruments-info,tickers}``,
``/v5/asset/coin/query-info``, ``/v5/account/{wallet-balance,info,set-margin-mode}``,
``/v5/order/{create,cancel,realtime,history}``, ``/v5/position/{list,set-leverage,
switch-mode}``, ``/v5/execution/list`` and ``/v5/user/query-api``.

Private requests are checked as Bybit documents (https://bybit-exchange.github.io/docs/v5/guide):
headers ``X-BAPI-API-KEY``, ``X-BAPI-TIMESTAMP``, ``X-BAPI-RECV-WINDOW`` and ``X-BAPI-SIGN``,
the hex HMAC-SHA256 of ``timestamp + api_key + recv_window + (query string | JSON body)``
with the key's secret; the timestamp must satisfy ``server_time - recv_window <= timestamp
< server_time + 1000``. Refusals use Bybit's envelope (``retCode``/``retMsg``/``result``/
``retExtInfo``/``time``, HTTP 200): 10003 unknown key, 10004 bad signature, 10002 timestamp,
10006 too many visits (the ``X-Bapi-Limit-*`` headers go with every JSON answer; the reset
timestamp is the window's end after a 10006, else the server's time), 10005 a key without the
permission; an IP over its limit gets HTTP 403 "access too frequent" with no JSON.

Tests drive it with thread-safe methods: :meth:`FakeBybit.set_price`, :meth:`set_balance`,
:meth:`fail_next` (HTTP status, a timeout or a reset before the request is served),
:meth:`accept_then_drop` (served, then the answer lost), :meth:`answer_code` (a retCode
such as 10016, after or instead of serving), :meth:`restart`, :meth:`blind_lookups`,
:meth:`rate_limit`, :meth:`ban_ip`, :meth:`set_clock_skew`, :meth:`set_hedge_mode`,
``permissions``, ``ips``, ``uta``; they observe
with :meth:`count`, :meth:`orders`, :meth:`order`, :meth:`position_size`, ``margin_mode``
and ``leverage_of``. Tests never reach into private state.

    with FakeBybit() as fake:
        adapter = CcxtAdapter.from_config("c1", fake.adapter_config("linear"),
                                          fake.adapter_secrets(), deps=loopback_deps())
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tests.fakes.aiohttp_thread import ThreadedAiohttpServer, fake_fixtures, reset_connection
from tests.fakes.bybit_book import BybitBook, BybitError, BybitOrder, Fill, Instrument

PUBLIC_PATHS = frozenset({"/v5/market/time", "/v5/market/instruments-info", "/v5/market/tickers"})
PRIVATE_PATHS = frozenset(
    {
        "/v5/asset/coin/query-info",
        "/v5/account/wallet-balance",
        "/v5/account/info",
        "/v5/account/set-margin-mode",
        "/v5/order/create",
        "/v5/order/cancel",
        "/v5/order/realtime",
        "/v5/order/history",
        "/v5/position/list",
        "/v5/position/set-leverage",
        "/v5/position/switch-mode",
        "/v5/execution/list",
        "/v5/user/query-api",
    }
)
#: What a trade-only key may do, in query-api's shape (the "Wallet" group stays empty).
TRADE_ONLY: dict[str, list[str]] = {
    "ContractTrade": ["Order", "Position"],
    "Spot": ["SpotTrade"],
    "Wallet": [],
    "Options": [],
    "Derivatives": [],
    "CopyTrading": [],
    "BlockTrade": [],
    "Exchange": [],
    "NFT": [],
    "Affiliate": [],
    "Earn": [],
}
_UID_LIMIT = 10  # X-Bapi-Limit for order endpoints (per second, per UID)


@dataclass
class _Fault:
    path: str | None
    kind: str  # "status" | "timeout" | "reset"
    remaining: int
    status: int = 503
    delay: float = 0.0


class FakeBybit(ThreadedAiohttpServer):
    """The fake exchange plus its server thread. Use as a context manager or start/stop."""

    name = "fake Bybit"

    def __init__(
        self,
        *,
        api_key: str = "FAKEBYBITKEY0123456",
        secret: str = "FakeBybitSecret0123456789abcdefghijkl",
    ) -> None:
        super().__init__()
        self.api_key, self.secret = api_key, secret
        self._lock = threading.RLock()
        self.reset()

    def ccxt_urls(self) -> dict[str, str]:
        """Every ``urls['api']`` key of ccxt's bybit, pointed at this server."""
        return {k: self.base_url for k in ("spot", "futures", "v2", "public", "private")}

    def adapter_config(self, market_type: str = "spot", **extra: Any) -> dict[str, Any]:
        """Connection config for SignalBridge's ccxt adapter pointed at this fake."""
        return {"exchange": "bybit", "market_type": market_type, "urls": self.ccxt_urls(), **extra}

    def adapter_secrets(self) -> dict[str, str]:
        return {"api_key": self.api_key, "secret": self.secret}

    # -- state for tests -----------------------------------------------------------------------

    def reset(self) -> None:
        """Fresh account, no faults, counters zeroed (between tests)."""
        with self._lock:
            self.book = BybitBook()
            self._faults: list[_Fault] = []
            self._drops: list[_Fault] = []
            self._limited = 0
            self._reset_in_ms = 1000
            self._last_reset_ms: int | None = None
            self._banned = 0
            self._skew_ms = 0
            self._forgotten: set[str] = set()
            self._coded: list[tuple[str, int, str, bool]] = []
            self._blind_lookups = 0
            self._counts: Counter[str] = Counter()
            #: query-api "permissions"; tests add e.g. ``{"Wallet": ["Withdraw"]}``
            self.permissions: dict[str, list[str]] = copy.deepcopy(TRADE_ONLY)
            #: query-api "ips" (``["*"]``: any IP may use the key)
            self.ips: list[str] = ["*"]
            #: query-api "uta": 1 for a Unified Trading Account
            self.uta = 1
            self.read_only = 0

    def set_price(self, symbol: str, price: Decimal | str, spread: Decimal | str = "0") -> None:
        """Move the market (spot and linear share it); resting limit orders it reaches fill."""
        p, s = Decimal(price), Decimal(spread)
        with self._lock:
            self.book.set_price(symbol, p, p - s, p + s, _now_ms())

    def set_balance(self, coin: str, amount: Decimal | str) -> None:
        with self._lock:
            self.book.wallet[coin] = Decimal(amount)

    def trade_by_hand(
        self, side: str, qty: Decimal | str, *, symbol: str = "BTCUSDT", reduce_only: bool = False
    ) -> None:
        """A linear market order the user places on Bybit's website or app (``Buy`` /
        ``Sell``): it carries no ``orderLinkId``."""
        body = {
            "category": "linear",
            "symbol": symbol,
            "side": side,
            "orderType": "Market",
            "qty": str(qty),
            "reduceOnly": reduce_only,
        }
        with self._lock:
            self.book.create(body, _now_ms())

    def set_hedge_mode(self, hedged: bool) -> None:
        """Switch the account's USDT perpetuals between one-way and hedge mode behind the
        client's back (as the Bybit website can)."""
        with self._lock:
            self.book.hedge_mode = hedged

    def restart(self) -> None:
        """A Bybit server release: realtime forgets the closed orders it kept (open orders and
        order history stay), as the docs warn."""
        with self._lock:
            self._forgotten |= {o.order_id for o in self.book.orders if not o.is_open}

    def set_clock_skew(self, ms: int) -> None:
        """The server's clock runs ``ms`` ahead of ours (negative: behind)."""
        with self._lock:
            self._skew_ms = ms

    def fail_next(
        self,
        n: int = 1,
        *,
        path: str | None = None,
        kind: str = "status",
        status: int = 503,
        delay: float = 1.0,
    ) -> None:
        """The next ``n`` requests (to ``path``) fail before they are served."""
        with self._lock:
            self._faults.append(_Fault(path, kind, n, status, delay))

    def accept_then_drop(self, n: int = 1, *, kind: str = "timeout", delay: float = 1.0) -> None:
        """The next ``n`` order placements are executed, then their answers are lost."""
        with self._lock:
            self._drops.append(_Fault("/v5/order/create", kind, n, delay=delay))

    def answer_code(self, path: str, code: int, msg: str, *, executed: bool = True) -> None:
        """The next request to ``path`` is answered ``code`` (e.g. 10016 "Internal error."),
        after being carried out (``executed``) or not."""
        with self._lock:
            self._coded.append((path, code, msg, executed))

    def blind_lookups(self, n: int) -> None:
        """The next ``n`` order lists (realtime, history) answer empty, as Bybit's may for a
        moment after a placement (its order data is asynchronous)."""
        with self._lock:
            self._blind_lookups = n

    def rate_limit(self, n: int = 1, *, reset_in_ms: int = 1000) -> None:
        """The next ``n`` private requests (credentials checked first) are refused 10006
        "Too many visits!" (per-UID limit); their ``X-Bapi-Limit-Reset-Timestamp`` is the
        server's clock + ``reset_in_ms`` (:attr:`limit_reset_ms` says which one was sent)."""
        with self._lock:
            self._limited += n
            self._reset_in_ms = reset_in_ms

    @property
    def limit_reset_ms(self) -> int | None:
        """The ``X-Bapi-Limit-Reset-Timestamp`` of the last 10006 answer (None: none yet)."""
        with self._lock:
            return self._last_reset_ms

    def ban_ip(self, n: int = 1) -> None:
        """The next ``n`` requests get Bybit's IP-limit answer: HTTP 403, not JSON."""
        with self._lock:
            self._banned += n

    def count(self, path: str | None = None, method: str | None = None) -> int:
        with self._lock:
            return sum(
                v
                for k, v in self._counts.items()
                if (path is None or k.split(" ")[1] == path)
                and (method is None or k.split(" ")[0] == method)
            )

    def orders(self, category: str | None = None) -> list[BybitOrder]:
        with self._lock:
            return [copy.copy(o) for o in self.book.orders if category in (None, o.category)]

    def order(self, link_id: str) -> BybitOrder:
        found = [o for o in self.orders() if o.link_id == link_id]
        if not found:
            raise KeyError(link_id)
        return found[-1]

    def position_size(self, symbol: str, idx: int = 0) -> Decimal:
        with self._lock:
            pos = self.book.positions.get((symbol, idx))
            return pos.size if pos else Decimal(0)

    def leverage_of(self, symbol: str) -> Decimal | None:
        with self._lock:
            return self.book.leverage.get(symbol)

    @property
    def margin_mode(self) -> str:
        with self._lock:
            return self.book.margin_mode

    # -- the server ----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method, path = request.method, request.path
        raw_query = request.rel_url.raw_query_string
        body = (await request.read()).decode()
        with self._lock:
            self._counts[f"{method} {path}"] += 1
            banned = self._banned > 0
            self._banned -= 1 if banned else 0
            fault = self._take(self._faults, path)
        if banned:
            return web.Response(status=403, text="access too frequent", content_type="text/plain")
        if fault is not None:
            return await self._apply_fault(request, fault)
        try:
            if path not in PUBLIC_PATHS and path not in PRIVATE_PATHS:
                return web.Response(status=404, text="404 page not found")
            params: dict[str, Any] = dict(parse_qsl(raw_query, keep_blank_values=True))
            if path in PRIVATE_PATHS:
                self._authenticate(request, raw_query if method == "GET" else body)
                with self._lock:
                    if self._limited > 0:
                        self._limited -= 1
                        return self._envelope(None, 10006, "Too many visits!", limited=True)
                if method == "POST":
                    params = _json_body(body)
            elif method != "GET":
                raise BybitError(10017, "route not found")
            with self._lock:
                coded = next((c for c in self._coded if c[0] == path), None)
                if coded is not None:
                    self._coded.remove(coded)
                    if coded[3]:
                        self._dispatch(method, path, params)
                    raise BybitError(coded[1], coded[2])
                result = self._dispatch(method, path, params)
                drop = self._take(self._drops, path)
        except BybitError as e:
            return self._envelope({}, e.code, e.msg)
        if drop is not None:
            return await self._apply_fault(request, drop)
        return self._envelope(result, 0, "OK")

    def _envelope(self, result: Any, code: int, msg: str, *, limited: bool = False) -> web.Response:
        """Bybit's JSON envelope with its rate-limit headers: the reset timestamp (ms) is
        when the window reopens after a 10006, otherwise just the server's time."""
        now = self._server_ms()
        reset = now
        if limited:
            with self._lock:
                reset = self._last_reset_ms = now + self._reset_in_ms
        headers = {
            "X-Bapi-Limit": str(_UID_LIMIT),
            "X-Bapi-Limit-Status": "0" if limited else str(_UID_LIMIT - 1),
            "X-Bapi-Limit-Reset-Timestamp": str(reset),
        }
        payload = {
            "retCode": code,
            "retMsg": msg,
            "result": {} if result is None else result,
            "retExtInfo": {},
            "time": now,
        }
        return web.json_response(payload, headers=headers)

    def _server_ms(self) -> int:
        return _now_ms() + self._skew_ms

    def _authenticate(self, request: web.Request, signed: str) -> None:
        key = request.headers.get("X-BAPI-API-KEY", "")
        stamp = request.headers.get("X-BAPI-TIMESTAMP", "")
        window = request.headers.get("X-BAPI-RECV-WINDOW", "5000")
        sign = request.headers.get("X-BAPI-SIGN", "")
        if not key or not hmac.compare_digest(key, self.api_key):
            raise BybitError(10003, "API key is invalid.")
        if not stamp.isdigit() or not window.isdigit():
            raise BybitError(10001, "params error: timestamp or recv_window invalid")
        server = self._server_ms()
        if not server - int(window) <= int(stamp) < server + 1000:
            raise BybitError(
                10002,
                "invalid request, please check your server timestamp or recv_window param. "
                f"req_timestamp[{stamp}],server_timestamp[{server}],recv_window[{window}]",
            )
        payload = stamp + key + window + signed
        expected = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(sign.lower(), expected):
            raise BybitError(10004, f"error sign! origin_string[{payload}]")

    @staticmethod
    def _take(faults: list[_Fault], path: str) -> _Fault | None:
        for fault in faults:
            if fault.remaining > 0 and fault.path in (None, path):
                fault.remaining -= 1
                return fault
        return None

    async def _apply_fault(self, request: web.Request, fault: _Fault) -> web.StreamResponse:
        if fault.kind == "status":
            return web.Response(
                status=fault.status, text="<html>502 Bad Gateway</html>", content_type="text/html"
            )
        if fault.kind == "timeout":
            await asyncio.sleep(fault.delay)
        reset_connection(request)
        return web.Response(status=500)

    # -- routes --------------------------------------------------------------------------------

    def _dispatch(self, method: str, path: str, p: dict[str, Any]) -> Any:
        now = self._server_ms()
        book = self.book
        if path == "/v5/market/time":
            return {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}
        if path == "/v5/market/instruments-info":
            if p.get("status") == "PreLaunch":
                return {"category": p.get("category"), "list": [], "nextPageCursor": ""}
            listed = [_instrument_json(i) for i in book.listed(_category(p))]
            return {"category": p["category"], "list": listed, "nextPageCursor": ""}
        if path == "/v5/market/tickers":
            return self._tickers(p)
        if path == "/v5/asset/coin/query-info":
            return {"rows": [_coin_json(c) for c in ("BTC", "ETH", "USDT")]}
        if path == "/v5/account/wallet-balance":
            if p.get("accountType") != "UNIFIED":
                raise BybitError(10001, "accountType only support UNIFIED.")
            return {"list": [self._wallet_json()]}
        if path == "/v5/account/info":
            return {
                "unifiedMarginStatus": 5,
                "marginMode": book.margin_mode,
                "isMasterTrader": False,
                "spotHedgingStatus": "OFF",
                "updatedTime": str(now),
                "dcpStatus": "OFF",
                "timeWindow": 10,
                "smpGroup": 0,
            }
        if path == "/v5/account/set-margin-mode":
            return self._set_margin_mode(p)
        if path == "/v5/user/query-api":
            return self._key_info(now)
        if path == "/v5/order/create":
            self._need("ContractTrade" if p.get("category") == "linear" else "Spot")
            order = book.create(p, now)
            return {"orderId": order.order_id, "orderLinkId": order.link_id}
        if path == "/v5/order/cancel":
            order = book.cancel(p, now)
            return {"orderId": order.order_id, "orderLinkId": order.link_id}
        if path in ("/v5/order/realtime", "/v5/order/history"):
            return self._order_list(path, p)
        if path == "/v5/position/list":
            return self._positions(p, now)
        if path == "/v5/position/set-leverage":
            return self._set_leverage(p)
        if path == "/v5/position/switch-mode":
            hedged = str(p.get("mode")) == "3"
            if hedged == book.hedge_mode:
                raise BybitError(110025, "Position mode is not modified")
            if book.positions or any(o.is_open and o.category == "linear" for o in book.orders):
                raise BybitError(
                    110024, "You have an existing position, so position mode cannot be switched"
                )
            book.hedge_mode = hedged
            return {}
        if path == "/v5/execution/list":
            return self._executions(p)
        raise BybitError(10017, "route not found")

    def _need(self, group: str) -> None:
        if self.read_only or not self.permissions.get(group):
            raise BybitError(10005, "Permission denied, please check your API key permissions.")

    def _tickers(self, p: dict[str, Any]) -> dict[str, Any]:
        category = _category(p)
        listed = self.book.listed(category)
        symbol = p.get("symbol")
        if symbol is not None and symbol not in {i.symbol for i in listed}:
            raise BybitError(10001, "Not supported symbols")
        rows = []
        for inst in listed:
            if symbol is not None and inst.symbol != symbol:
                continue
            last, bid, ask = self.book.prices[inst.symbol]
            row = {
                "symbol": inst.symbol,
                "bid1Price": str(bid),
                "bid1Size": "1.5",
                "ask1Price": str(ask),
                "ask1Size": "2.1",
                "lastPrice": str(last),
                "prevPrice24h": str(last),
                "price24hPcnt": "0",
                "highPrice24h": str(last),
                "lowPrice24h": str(last),
                "turnover24h": "1000000",
                "volume24h": "100",
            }
            if category == "linear":
                row.update(
                    markPrice=str(last),
                    indexPrice=str(last),
                    fundingRate="0.0001",
                    openInterest="1000",
                    nextFundingTime="0",
                )
            rows.append(row)
        return {"category": category, "list": rows}

    def _wallet_json(self) -> dict[str, Any]:
        book = self.book
        coins = []
        for coin, balance in sorted(book.wallet.items()):
            price = book.prices.get(f"{coin}USDT", (Decimal(1),))[0]
            coins.append(
                {
                    "coin": coin,
                    "equity": str(balance),
                    "usdValue": str(balance * price),
                    "walletBalance": str(balance),
                    "locked": str(book.locked(coin)),
                    "totalOrderIM": str(book.order_im() if coin == "USDT" else 0),
                    "totalPositionIM": str(book.position_im() if coin == "USDT" else 0),
                    "totalPositionMM": "0",
                    "unrealisedPnl": "0",
                    "cumRealisedPnl": "0",
                    "borrowAmount": "0",
                    "accruedInterest": "0",
                    "availableToWithdraw": "",  # deprecated for UTA accounts (2025-01)
                    "availableToBorrow": "",
                    "bonus": "0",
                    "collateralSwitch": True,
                    "marginCollateral": True,
                    "spotHedgingQty": "0",
                }
            )
        return {"accountType": "UNIFIED", "accountIMRate": "0", "totalEquity": "0", "coin": coins}

    def _set_margin_mode(self, p: dict[str, Any]) -> dict[str, Any]:
        mode = p.get("setMarginMode")
        if mode not in ("ISOLATED_MARGIN", "REGULAR_MARGIN", "PORTFOLIO_MARGIN"):
            raise BybitError(10001, "params error: setMarginMode invalid")
        book = self.book
        if mode != book.margin_mode and (
            book.positions or any(o.is_open and o.category == "linear" for o in book.orders)
        ):
            raise BybitError(3400045, "Set margin mode failed")
        book.margin_mode = mode
        return {"reasons": []}

    def _set_leverage(self, p: dict[str, Any]) -> dict[str, Any]:
        inst = self.book.instrument(_category(p, linear_only=True), p.get("symbol"))
        buy, sell = p.get("buyLeverage"), p.get("sellLeverage")
        if buy is None or sell is None or (buy != sell and not self.book.hedge_mode):
            raise BybitError(10001, "params error: buy leverage must equal sell leverage")
        try:
            value = Decimal(str(buy))
        except ArithmeticError:
            raise BybitError(10001, "params error: leverage invalid") from None
        if not 1 <= value <= inst.max_leverage:
            raise BybitError(10001, f"leverage invalid, max leverage is {inst.max_leverage}")
        if self.book.leverage.get(inst.symbol) == value:
            raise BybitError(110043, "Set leverage not modified")
        self.book.leverage[inst.symbol] = value
        return {}

    def _key_info(self, now: int) -> dict[str, Any]:
        return {
            "id": "13770661",
            "note": "signalbridge",
            "apiKey": self.api_key,
            "readOnly": self.read_only,
            "secret": "",
            "permissions": copy.deepcopy(self.permissions),
            "ips": list(self.ips),
            "type": 1,
            "deadlineDay": 83 if self.ips == ["*"] else -1,
            "expiredAt": "2027-03-01T03:21:05Z" if self.ips == ["*"] else "",
            "createdAt": "2026-12-01T02:24:40Z",
            "unified": 0,
            "uta": self.uta,
            "userID": 24600000,
            "inviterID": 0,
            "vipLevel": "No VIP",
            "mktMakerLevel": "0",
            "affiliateID": 0,
            "rsaPublicKey": "",
            "isMaster": True,
            "parentUid": "0",
            "kycLevel": "LEVEL_1",
            "kycRegion": "",
        }

    def _order_list(self, path: str, p: dict[str, Any]) -> dict[str, Any]:
        category = _category(p)
        if self._blind_lookups > 0:
            self._blind_lookups -= 1
            return {"category": category, "list": [], "nextPageCursor": ""}
        symbol = p.get("symbol")
        if category == "linear" and not (symbol or p.get("settleCoin") or p.get("baseCoin")):
            raise BybitError(
                10001,
                "Missing some parameters that must be filled in, symbol or settleCoin or baseCoin",
            )
        if symbol is not None:
            self.book.instrument(category, symbol)
        order_id, link_id = p.get("orderId"), p.get("orderLinkId")
        realtime = path == "/v5/order/realtime"
        closed_only = str(p.get("openOnly", "0")) == "1"
        # realtime keeps the last 500 closed orders of a category, until a server restart
        recent = [o for o in self.book.orders if o.category == category and not o.is_open]
        recent.sort(key=lambda o: o.updated)
        kept = {o.order_id for o in recent[-500:]} - self._forgotten
        status = p.get("orderStatus")
        rows = []
        for o in reversed(self.book.orders):
            if o.category != category or (symbol is not None and o.symbol != symbol):
                continue
            if (order_id and o.order_id != order_id) or (link_id and o.link_id != link_id):
                continue
            if p.get("orderFilter") == "StopOrder":  # none of ours are conditional
                continue
            if realtime and (o.is_open == closed_only or (closed_only and o.order_id not in kept)):
                continue
            if not realtime and status and o.status != status:
                continue
            rows.append(_order_json(o))
        limit = int(p.get("limit") or 20)
        return {"category": category, "list": rows[:limit], "nextPageCursor": ""}

    def _positions(self, p: dict[str, Any], now: int) -> dict[str, Any]:
        category = _category(p, linear_only=True)
        symbol = p.get("symbol")
        if not (symbol or p.get("settleCoin") or p.get("baseCoin")):
            raise BybitError(
                10001,
                "Missing some parameters that must be filled in, symbol or settleCoin or baseCoin",
            )
        rows = []
        for (sym, idx), pos in sorted(self.book.positions.items()):
            if symbol is None or sym == symbol:
                rows.append(
                    self._position_json(sym, idx, pos.size, pos.avg, pos.created, pos.updated)
                )
        if symbol is not None and not rows:  # Bybit lists an empty entry per side asked for
            self.book.instrument(category, symbol)
            for idx in (1, 2) if self.book.hedge_mode else (0,):
                rows.append(self._position_json(symbol, idx, Decimal(0), Decimal(0), now, now))
        return {"category": category, "list": rows, "nextPageCursor": ""}

    def _position_json(
        self, symbol: str, idx: int, size: Decimal, avg: Decimal, created: int, updated: int
    ) -> dict[str, Any]:
        book = self.book
        mark = book.prices[symbol][0]
        lev = book.lev(symbol)
        side = "" if size == 0 else ("Buy" if size > 0 else "Sell")
        liq = Decimal(0)
        if size != 0:
            liq = (avg * (1 - 1 / lev) if size > 0 else avg * (1 + 1 / lev)).quantize(
                Decimal("0.01")
            )
        return {
            "positionIdx": idx,
            "riskId": 1,
            "riskLimitValue": "2000000",
            "symbol": symbol,
            "side": side,
            "size": str(abs(size)),
            "avgPrice": str(avg),
            "positionValue": str(abs(size) * avg),
            "tradeMode": 0,
            "positionStatus": "Normal",
            "autoAddMargin": 0,
            "adlRankIndicator": 2 if size else 0,
            "leverage": str(lev),
            "positionBalance": str(abs(size) * avg / lev),
            "markPrice": str(mark),
            "liqPrice": str(liq) if size else "",
            "bustPrice": "",
            "positionMM": "0",
            "positionIM": str(abs(size) * avg / lev),
            "tpslMode": "Full",
            "takeProfit": "0",
            "stopLoss": "0",
            "trailingStop": "0",
            "unrealisedPnl": str((mark - avg) * size),
            "curRealisedPnl": "0",
            "cumRealisedPnl": "0",
            "seq": 1,
            "isReduceOnly": False,
            "mmrSysUpdateTime": "",
            "leverageSysUpdatedTime": "",
            "sessionAvgPrice": "",
            "createdTime": str(created),
            "updatedTime": str(updated),
        }

    def _executions(self, p: dict[str, Any]) -> dict[str, Any]:
        category = _category(p)
        symbol = p.get("symbol")
        start = int(p.get("startTime") or 0)
        rows = [
            _fill_json(f)
            for f in reversed(self.book.fills)
            if f.order.category == category
            and (symbol is None or f.order.symbol == symbol)
            and f.time >= start
            and (not p.get("orderId") or f.order.order_id == p.get("orderId"))
        ]
        limit = int(p.get("limit") or 50)
        return {"category": category, "list": rows[:limit], "nextPageCursor": ""}


# -- wire shapes ---------------------------------------------------------------------------


def _category(p: dict[str, Any], *, linear_only: bool = False) -> str:
    category = p.get("category")
    allowed = ("linear",) if linear_only else ("spot", "linear")
    if category not in allowed:
        raise BybitError(10001, "params error: category invalid")
    return str(category)


def _instrument_json(i: Instrument) -> dict[str, Any]:
    if i.category == "spot":
        return {
            "symbol": i.symbol,
            "baseCoin": i.base,
            "quoteCoin": i.quote,
            "innovation": "0",
            "status": "Trading",
            "marginTrading": "utaOnly",
            "stTag": "0",
            "lotSizeFilter": {
                "basePrecision": str(i.step),
                "quotePrecision": "0.00000001",
                "minOrderQty": str(i.min_qty),
                "maxOrderQty": str(i.max_qty),
                "minOrderAmt": str(i.min_notional),
                "maxOrderAmt": "4000000",
            },
            "priceFilter": {"tickSize": str(i.tick)},
            "riskParameters": {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.05"},
        }
    return {
        "symbol": i.symbol,
        "contractType": "LinearPerpetual",
        "status": "Trading",
        "baseCoin": i.base,
        "quoteCoin": i.quote,
        "launchTime": "1585526400000",
        "deliveryTime": "0",
        "deliveryFeeRate": "",
        "priceScale": str(-i.tick.normalize().as_tuple().exponent),  # type: ignore[operator]
        "leverageFilter": {
            "minLeverage": "1",
            "maxLeverage": f"{i.max_leverage}.00",
            "leverageStep": "0.01",
        },
        "priceFilter": {"minPrice": str(i.tick), "maxPrice": "1999999.80", "tickSize": str(i.tick)},
        "lotSizeFilter": {
            "maxOrderQty": str(i.max_qty),
            "minOrderQty": str(i.min_qty),
            "qtyStep": str(i.step),
            "postOnlyMaxOrderQty": str(i.max_qty),
            "maxMktOrderQty": str(i.max_qty),
            "minNotionalValue": str(i.min_notional),
        },
        "unifiedMarginTrade": True,
        "fundingInterval": 480,
        "settleCoin": "USDT",
        "copyTrading": "both",
        "upperFundingRate": "0.00375",
        "lowerFundingRate": "-0.00375",
        "isPreListing": False,
        "preListingInfo": None,
        "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
        "displayName": "",
    }


def _coin_json(coin: str) -> dict[str, Any]:
    return {"name": coin, "coin": coin, "remainAmount": "150000", "chains": []}


def _order_json(o: BybitOrder) -> dict[str, Any]:
    avg = o.value / o.filled if o.filled else Decimal(0)
    row: dict[str, Any] = {
        "orderId": o.order_id,
        "orderLinkId": o.link_id,
        "blockTradeId": "",
        "symbol": o.symbol,
        "price": str(o.price) if o.price is not None else "0",
        "qty": str(o.qty),
        "side": o.side,
        "isLeverage": "0" if o.category == "spot" else "",
        "positionIdx": o.position_idx,
        "orderStatus": o.status,
        "cancelType": "CancelByUser" if o.status == "Cancelled" else "UNKNOWN",
        "rejectReason": "EC_NoError",
        "avgPrice": str(avg) if o.filled else ("" if o.category == "spot" else "0"),
        "leavesQty": str(o.qty - o.filled if o.is_open else 0),
        "leavesValue": "0",
        "cumExecQty": str(o.filled),
        "cumExecValue": str(o.value),
        "cumExecFee": str(o.fee),
        "cumFeeDetail": {o.fee_coin: str(o.fee)} if o.fee_coin else {},
        "timeInForce": o.time_in_force,
        "orderType": o.order_type,
        "stopOrderType": "",
        "orderIv": "",
        "triggerPrice": "0",
        "takeProfit": "0",
        "stopLoss": "0",
        "tpTriggerBy": "",
        "slTriggerBy": "",
        "triggerDirection": 0,
        "triggerBy": "",
        "lastPriceOnCreated": "",
        "reduceOnly": o.reduce_only,
        "closeOnTrigger": False,
        "smpType": "None",
        "smpGroup": 0,
        "smpOrderId": "",
        "placeType": "",
        "createdTime": str(o.created),
        "updatedTime": str(o.updated),
    }
    if o.category == "linear":
        row.update(tpslMode="", tpLimitPrice="", slLimitPrice="")
    else:
        row["marketUnit"] = "baseCoin" if o.order_type == "Market" else ""
    return row


def _fill_json(f: Fill) -> dict[str, Any]:
    o = f.order
    return {
        "symbol": o.symbol,
        "orderId": o.order_id,
        "orderLinkId": o.link_id,
        "side": o.side,
        "orderPrice": str(o.price) if o.price is not None else "0",
        "orderQty": str(o.qty),
        "leavesQty": "0",
        "createType": "CreateByUser",
        "orderType": o.order_type,
        "stopOrderType": "",
        "execFee": str(f.fee),
        "feeCurrency": f.fee_coin,
        "execId": f.exec_id,
        "execPrice": str(f.price),
        "execQty": str(f.qty),
        "execType": "Trade",
        "execValue": str(f.qty * f.price),
        "execTime": str(f.time),
        "isMaker": o.order_type == "Limit",
        "feeRate": "0.001" if o.category == "spot" else "0.00055",
        "tradeIv": "",
        "markIv": "",
        "markPrice": str(f.price),
        "indexPrice": "",
        "underlyingPrice": "",
        "blockTradeId": "",
        "closedSize": "",
        "seq": 1,
    }


def _json_body(body: str) -> dict[str, Any]:
    try:
        parsed = json.loads(body or "{}")
    except ValueError:
        raise BybitError(10001, "params error: body is not valid json") from None
    if not isinstance(parsed, dict):
        raise BybitError(10001, "params error: body is not a json object")
    return parsed


def _now_ms() -> int:
    return int(time.time() * 1000)


@contextlib.contextmanager
def running_fake_bybit(**kwargs: Any) -> Iterator[FakeBybit]:
    """Start a fake Bybit for the duration of a ``with`` block."""
    fake = FakeBybit(**kwargs)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


#: ``bybit_server`` (one per test module) and ``fake_bybit`` (reset for each test).
bybit_server, fake_bybit = fake_fixtures(FakeBybit, "bybit")


__all__ = ["FakeBybit", "bybit_server", "fake_bybit", "running_fake_bybit"]
