"""A loopback fake of Binance's spot and USDⓈ-M futures REST API, for the real ccxt.

A real HTTP server (aiohttp, on 127.0.0.1, random port) in a background thread with an
in-memory :class:`~tests.fakes.binance_book.BinanceBook`. It answers what ccxt's ``binance``
class calls (exchangeInfo, tickers, orders, accounts, positions, leverage, API restrictions),
verifies HMAC-SHA256 signatures exactly as Binance does (``totalParams`` = query string +
body, ``signature`` removed, ``X-MBX-APIKEY``, ``timestamp``/``recvWindow``) and answers
errors with Binance's codes and HTTP statuses. Only known keys get in: a missing or malformed
``X-MBX-APIKEY`` is -2014, an unknown key -2015, and a signature made with any other secret
than the key's own -1022. The known keys are the constructor's pair, replaced with
:meth:`FakeBinance.set_credentials` or extended with :meth:`FakeBinance.add_credentials`.

Tests drive it with thread-safe methods: :meth:`FakeBinance.set_price` fills resting limit
orders; :meth:`fail_next`, :meth:`accept_then_drop`, :meth:`hide_new_orders`,
:meth:`rate_limit`, ``reuse_client_order_ids`` and ``withdrawals_enabled`` inject the
failures of reliability rows 9-17 and 29 (:meth:`clear_faults` ends them); request weight is
counted per endpoint and argument, spot / futures / SAPI apart (:mod:`tests.fakes.binance_weights`),
set with :meth:`set_weight_limit`, :meth:`spend_weight`, :meth:`ban` and
``retry_after_on_ban``, read with :meth:`used_weight_of`;
:meth:`place_outside_order`, :meth:`set_order_status`, :meth:`lose_order` and :meth:`set_tick`
change the account behind the client's back, as do :meth:`revoke_key`, :meth:`set_market_lot`
(MARKET_LOT_SIZE) and ``account`` (:mod:`tests.fakes.binance_account`: position mode, margin
types, the key's permissions, a skewed server clock); :meth:`set_spot_commission` sets the
spot fee rates and BNB option (:mod:`tests.fakes.binance_fees`: 0.1 % by default, in the
coin bought; ``/api/v3/myTrades``), :meth:`set_futures_commission` the USDⓈ-M ones (0.02 %
maker, 0.05 % taker by default, in USDT from the wallet; ``/fapi/v1/userTrades``) and
:meth:`advance` lets days pass for the orders' lookups (:mod:`tests.fakes.binance_ageing`);
a client id is unique among OPEN orders only, as on Binance; :meth:`count`, :meth:`orders` and
:meth:`order` observe. Tests never reach into the fake's private state.

    with FakeBinance() as fake:
        ex = ccxt.async_support.binance({"apiKey": fake.api_key, "secret": fake.secret,
                                         "urls": {"api": fake.ccxt_urls()}, ...})
        adapter = CcxtAdapter.from_config("c1", fake.adapter_config("linear"),
                                          fake.adapter_secrets(), deps=AdapterDeps())

or, in a test module, ``from tests.fakes.binance import binance_server, fake_binance``
(module-scoped server, state reset per test).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import hmac
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tests.fakes import binance_ageing, binance_dapi, binance_fees
from tests.fakes import binance_wire as wire
from tests.fakes.aiohttp_thread import ThreadedAiohttpServer, fake_fixtures, reset_connection
from tests.fakes.binance_account import AccountSettings
from tests.fakes.binance_algo import AlgoDesk, algo_json
from tests.fakes.binance_book import BinanceBook, BinanceError, FakeOrder
from tests.fakes.binance_income import IncomeLedger
from tests.fakes.binance_klines import KlineHistory
from tests.fakes.binance_weights import Refusal, WeightMeter

PUBLIC_PATHS = frozenset(
    {
        "/api/v3/ping",
        "/api/v3/time",
        "/api/v3/exchangeInfo",
        "/api/v3/ticker/24hr",
        "/api/v3/ticker/price",
        "/api/v3/ticker/bookTicker",
        "/api/v3/klines",
        "/fapi/v1/ping",
        "/fapi/v1/time",
        "/fapi/v1/exchangeInfo",
        "/fapi/v1/ticker/24hr",
        "/fapi/v1/ticker/price",
        "/fapi/v2/ticker/price",
        "/fapi/v1/ticker/bookTicker",
        "/fapi/v1/klines",
    }
)

PRIVATE_PATHS = frozenset(
    {
        "/api/v3/order",
        "/api/v3/openOrders",
        "/api/v3/myTrades",
        "/api/v3/account",
        "/fapi/v1/order",
        "/fapi/v1/openOrders",
        "/fapi/v1/userTrades",
        "/fapi/v1/income",
        "/fapi/v1/algoOrder",
        "/fapi/v1/openAlgoOrders",
        "/fapi/v2/account",
        "/fapi/v3/account",
        "/fapi/v2/balance",
        "/fapi/v3/balance",
        "/fapi/v2/positionRisk",
        "/fapi/v3/positionRisk",
        "/fapi/v1/leverageBracket",
        "/fapi/v1/leverage",
        "/fapi/v1/marginType",
        "/fapi/v1/positionSide/dual",
        "/sapi/v1/account/apiRestrictions",
    }
)

PUBLIC_PATHS |= binance_dapi.PUBLIC_PATHS  # COIN-M: tests.fakes.binance_dapi
PRIVATE_PATHS |= binance_dapi.PRIVATE_PATHS

BAD_SIGNATURE = (-1022, "Signature for this request is not valid.")
BAD_KEY_FORMAT = (-2014, "API-key format invalid.")
BAD_KEY = (-2015, "Invalid API-key, IP, or permissions for action.")
#: What an API key can look like on the wire (Binance's are 64 letters and digits).
_KEY_SHAPE = re.compile(r"[A-Za-z0-9_-]{8,128}")


def _check_key_pair(api_key: str, secret: str) -> None:
    if not _KEY_SHAPE.fullmatch(api_key) or not secret:
        raise ValueError("a fake Binance key is 8-128 of [A-Za-z0-9_-], with a non-empty secret")


@dataclass
class _Fault:
    path: str | None
    method: str | None
    kind: str  # "status" | "timeout" | "reset"
    remaining: int
    status: int = 503
    delay: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        return (self.path is None or self.path == path) and (
            self.method is None or self.method == method
        )


class FakeBinance(ThreadedAiohttpServer):
    """The fake exchange plus its server thread. Use as a context manager or start/stop."""

    name = "fake Binance"

    #: The key pair ccxt should be given (the first known key).
    api_key: str
    secret: str

    def __init__(
        self,
        *,
        api_key: str = "fake-binance-api-key-0123456789abcdef",
        secret: str = "fake-binance-secret-0123456789abcdef",
        clock: Callable[[], float] = time.time,
        weight_limit: int = 6000,
        futures_weight_limit: int = 2400,
    ) -> None:
        super().__init__()
        self.clock = clock
        self._keys_lock = threading.Lock()
        self._keys: dict[str, str] = {}
        self._initial_keys = (api_key, secret)
        self.set_credentials(api_key, secret)
        #: REQUEST_WEIGHT per minute and IP, per family (see tests.fakes.binance_weights)
        self._weight_limits = {"spot": weight_limit, "futures": futures_weight_limit}
        self._lock = threading.RLock()
        self.reset()

    def _configure(self, app: web.Application) -> None:
        app.on_response_prepare.append(self._stamp_weight)

    def ccxt_urls(self) -> dict[str, str]:
        """Every ``urls['api']`` key of ccxt's binance, pointed at this server."""
        b = self.base_url
        return {
            "public": f"{b}/api/v3",
            "private": f"{b}/api/v3",
            "v1": f"{b}/api/v1",
            "sapi": f"{b}/sapi/v1",
            "sapiV2": f"{b}/sapi/v2",
            "sapiV3": f"{b}/sapi/v3",
            "sapiV4": f"{b}/sapi/v4",
            "fapiPublic": f"{b}/fapi/v1",
            "fapiPublicV2": f"{b}/fapi/v2",
            "fapiPublicV3": f"{b}/fapi/v3",
            "fapiPrivate": f"{b}/fapi/v1",
            "fapiPrivateV2": f"{b}/fapi/v2",
            "fapiPrivateV3": f"{b}/fapi/v3",
            "fapiData": f"{b}/futures/data",
            "dapiPublic": f"{b}/dapi/v1",
            "dapiPrivate": f"{b}/dapi/v1",
            "dapiPrivateV2": f"{b}/dapi/v2",
            "dapiData": f"{b}/futures/data",
            "eapiPublic": f"{b}/eapi/v1",
            "eapiPrivate": f"{b}/eapi/v1",
            "papi": f"{b}/papi/v1",
            "papiV2": f"{b}/papi/v2",
        }

    def adapter_config(self, market_type: str = "spot", **extra: Any) -> dict[str, Any]:
        """Connection config for SignalBridge's ccxt adapter pointed at this fake."""
        return {
            "exchange": "binance",
            "market_type": market_type,
            "urls": self.ccxt_urls(),
            **extra,
        }

    def adapter_secrets(self) -> dict[str, str]:
        return {"api_key": self.api_key, "secret": self.secret}

    # -- credentials -----------------------------------------------------------------------

    def set_credentials(self, api_key: str, secret: str) -> None:
        """From now on only this key (signing with this secret) is accepted."""
        _check_key_pair(api_key, secret)
        with self._keys_lock:
            self.api_key, self.secret = api_key, secret
            self._keys = {api_key: secret}

    def add_credentials(self, api_key: str, secret: str) -> None:
        """Accept one more key pair (another account's key), keeping the others."""
        _check_key_pair(api_key, secret)
        with self._keys_lock:
            self._keys[api_key] = secret

    def revoke_key(self, api_key: str) -> None:
        """The user deletes a key on Binance: from now on it is answered -2015."""
        with self._keys_lock:
            self._keys.pop(api_key, None)

    def _secret_for(self, api_key: str) -> str | None:
        with self._keys_lock:
            return self._keys.get(api_key)

    # -- state for tests -------------------------------------------------------------------

    def reset(self) -> None:
        """Fresh book, no faults, counters zeroed, the constructor's key pair (between tests)."""
        self.set_credentials(*self._initial_keys)
        with self._lock:
            self.book = BinanceBook()
            self.algo = AlgoDesk(self.book)
            #: every price set, for the klines endpoints (tests.fakes.binance_klines)
            self.candles = KlineHistory()
            #: funding fees and other income (tests.fakes.binance_income)
            self.income = IncomeLedger()
            #: Position mode, margin types, the key's permissions, the server's clock skew.
            self.account = AccountSettings()
            #: COIN-M futures (``/dapi``): their own book, wallets and position mode.
            self.coinm = binance_dapi.CoinmDesk()
            self.withdrawals_enabled = False
            self.trading_enabled = True
            self._faults: list[_Fault] = []
            self._drops: list[_Fault] = []
            self._hide_next = 0
            self._counts: Counter[str] = Counter()
            self.request_log: list[tuple[str, str]] = []
            #: (arrival on time.monotonic(), path, 429/418 if refused else 0) per request
            self.arrivals: list[tuple[float, str, int]] = []
            #: request weight per IP, spot / futures / SAPI apart, on ``self.clock``
            self.weights = WeightMeter(lambda: self.clock(), dict(self._weight_limits))
            #: whether a 418 carries Retry-After (documented; a proxy may drop it)
            self.retry_after_on_ban = True

    def set_price(
        self,
        symbol: str,
        price: Decimal | str,
        *,
        bid: Decimal | str | None = None,
        ask: Decimal | str | None = None,
    ) -> None:
        """Move the market (spot and futures share it); resting limit orders fill and
        futures algo orders the price reached trigger."""
        with self._lock:
            now = _now_ms()
            self.book.set_price(
                symbol,
                Decimal(price),
                None if bid is None else Decimal(bid),
                None if ask is None else Decimal(ask),
                now,
            )
            self.algo.on_price(symbol, now)
            self.candles.record(symbol, Decimal(price), now)

    def set_coinm_price(self, symbol: str, price: Decimal | str) -> None:
        """Move a COIN-M market (``BTCUSD_PERP``); resting limit orders it reaches fill."""
        with self._lock:
            self.coinm.set_price(symbol, Decimal(price), _now_ms())

    def set_coinm_wallet(self, asset: str, amount: Decimal | str) -> None:
        """The COIN-M wallet balance of one coin (margin, fees and PnL are in it)."""
        with self._lock:
            self.coinm.set_wallet(asset, Decimal(amount))

    def coinm_wallet(self, asset: str) -> Decimal:
        with self._lock:
            return self.coinm.book.wallet.get(asset, Decimal(0))

    def coinm_orders(self) -> list[binance_dapi.CoinmOrder]:
        """Snapshots of every COIN-M order, oldest first."""
        with self._lock:
            return [copy.copy(o) for o in self.coinm.book.orders]

    def set_coinm_hedge_mode(self, hedged: bool) -> None:
        """COIN-M's own position mode (hedge: LONG / SHORT positions apart)."""
        with self._lock:
            self.coinm.book.dual_side = hedged

    def coinm_position(self, symbol: str, side: str = "BOTH") -> tuple[Decimal, Decimal]:
        """A COIN-M position's (signed contracts, entry price)."""
        with self._lock:
            pos = self.coinm.book.positions.get((symbol, side))
            return (pos.amount, pos.entry_price) if pos else (Decimal(0), Decimal(0))

    def set_spot_balance(self, asset: str, free: Decimal | str) -> None:
        with self._lock:
            self.book.spot_free[asset] = Decimal(free)

    def set_futures_wallet(self, amount: Decimal | str) -> None:
        with self._lock:
            self.book.futures_wallet = Decimal(amount)

    @property
    def reuse_client_order_ids(self) -> bool:
        return self.book.client_id_uniqueness == "none"

    @reuse_client_order_ids.setter
    def reuse_client_order_ids(self, value: bool) -> None:
        """True: duplicates accepted (row 15); False: Binance's rule, unique among open."""
        with self._lock:
            self.book.client_id_uniqueness = "none" if value else "open"

    def set_spot_commission(
        self,
        rate: Decimal | str = "0.001",
        *,
        maker: Decimal | str | None = None,
        pay_with_bnb: bool = False,
        bnb_price: Decimal | str = "600",
    ) -> None:
        """Spot commission rates (taker ``rate``; maker the same unless given) and whether
        BNB pays them (Binance's "Use BNB to pay for fees"): see :mod:`.binance_fees`."""
        with self._lock:
            self.book.commission = binance_fees.SpotCommission(
                maker=Decimal(rate if maker is None else maker),
                taker=Decimal(rate),
                pay_with_bnb=pay_with_bnb,
                bnb_price=Decimal(bnb_price),
            )

    def set_futures_commission(
        self,
        rate: Decimal | str = binance_fees.FuturesCommission.TAKER,
        *,
        maker: Decimal | str | None = None,
    ) -> None:
        """USDⓈ-M commission rates (taker ``rate``; maker the same unless given), in USDT
        and debited from the wallet: see :mod:`.binance_fees`. A fresh fake pays Binance's
        regular rates, 0.0200 % maker and 0.0500 % taker."""
        with self._lock:
            self.book.futures_commission = binance_fees.FuturesCommission(
                maker=Decimal(rate if maker is None else maker), taker=Decimal(rate)
            )

    def advance(self, *, days: float = 0, hours: float = 0) -> None:
        """Time passes for the venue's records: every order (regular and algo) becomes that
        much older, so lookups forget as Binance's do (:mod:`.binance_ageing`)."""
        ms = int((days * 24 + hours) * 3_600_000)
        with self._lock:
            binance_ageing.advance([*self.book.orders, *self.algo.orders], ms)

    def set_market_lot(self, symbol: str, max_qty: Decimal | str, *, futures: bool = False) -> None:
        """The symbol's MARKET_LOT_SIZE maxQty: the largest quantity one MARKET order may have."""
        with self._lock:
            self.book.symbols = [
                replace(s, market_max_qty=Decimal(max_qty))
                if (s.symbol, s.futures) == (symbol, futures)
                else s
                for s in self.book.symbols
            ]

    def set_tick(self, symbol: str, tick: Decimal | str, *, futures: bool = False) -> None:
        """The venue changes a symbol's PRICE_FILTER tick; a client keeps the markets it loaded."""
        with self._lock:
            self.book.symbols = [
                replace(s, tick=Decimal(tick)) if (s.symbol, s.futures) == (symbol, futures) else s
                for s in self.book.symbols
            ]

    # -- the account changed by others -----------------------------------------------------

    def place_outside_order(
        self,
        client_id: str,
        *,
        symbol: str = "BTCUSDT",
        side: str = "BUY",
        qty: Decimal | str = "0.001",
        price: Decimal | str = "40000",
    ) -> None:
        """A resting spot GTC limit order placed on the account by someone else (the user, or
        a lost copy of us), not through the API under test."""
        with self._lock:
            self.book.new_order(
                futures=False,
                symbol=symbol,
                side=side,
                type_="LIMIT",
                qty=Decimal(qty),
                price=Decimal(price),
                time_in_force="GTC",
                client_id=client_id,
                reduce_only=False,
                now_ms=_now_ms(),
                hidden_lookups=0,
            )

    def trade_by_hand(
        self, side: str, qty: Decimal | str, *, symbol: str = "BTCUSDT", reduce_only: bool = False
    ) -> None:
        """A USD-M futures market order the user places on Binance's website or app (to
        close a position by hand, or open one SignalBridge does not know): Binance names it
        with its own client id (``web_...``), not one of ours."""
        with self._lock:
            self.book.new_order(
                futures=True,
                symbol=symbol,
                side=side,
                type_="MARKET",
                qty=Decimal(qty),
                price=None,
                time_in_force=None,
                client_id=f"web_{len(self.book.orders) + 1}",
                reduce_only=reduce_only,
                now_ms=_now_ms(),
            )

    def set_order_status(
        self, client_id: str, status: str, *, executed_qty: Decimal | str | None = None
    ) -> None:
        """An order changed while the client was away (filled, part-filled, cancelled by the
        user). ``executed_qty`` also sets the quote spent, at the order's price."""
        with self._lock:
            order = self._newest(client_id)
            order.status = status
            if executed_qty is not None:
                order.executed_qty = Decimal(executed_qty)
                order.cum_quote = order.executed_qty * order.price

    def lose_order(self, client_id: str) -> None:
        """The venue forgets an order: lookups answer -2013 (order does not exist) from now on."""
        with self._lock:
            self.book.orders.remove(self._newest(client_id))

    def _newest(self, client_id: str) -> FakeOrder:
        for o in reversed(self.book.orders):
            if o.client_order_id == client_id:
                return o
        raise KeyError(client_id)

    # -- fault injection -------------------------------------------------------------------

    def fail_next(
        self,
        path: str | None = None,
        n: int = 1,
        *,
        kind: str = "status",
        status: int = 503,
        delay: float = 2.0,
        method: str | None = None,
    ) -> None:
        """The next ``n`` matching requests fail WITHOUT being processed.

        ``kind``: ``"status"`` answers ``status`` (5xx), ``"timeout"`` waits ``delay`` seconds
        then drops the connection, ``"reset"`` resets the TCP connection at once.
        """
        if kind not in ("status", "timeout", "reset"):
            raise ValueError(kind)
        with self._lock:
            self._faults.append(_Fault(path, method, kind, n, status, delay))

    def accept_then_drop(self, n: int = 1, *, kind: str = "reset", delay: float = 2.0) -> None:
        """The next ``n`` order creations ARE executed, then the client sees a reset/timeout."""
        if kind not in ("timeout", "reset"):
            raise ValueError(kind)
        with self._lock:
            self._drops.append(_Fault(None, "POST", kind, n, 0, delay))

    def clear_faults(self) -> None:
        """The network comes back: every pending :meth:`fail_next` and :meth:`accept_then_drop`
        fault is dropped (prices, orders, counters and rate limits stay)."""
        with self._lock:
            self._faults.clear()
            self._drops.clear()

    def hide_new_orders(self, k: int) -> None:
        """Orders created from now on answer -2013 to their first ``k`` lookups (row 12)."""
        with self._lock:
            self._hide_next = k

    def rate_limit(
        self,
        retry_after: float = 5.0,
        *,
        ban_after: int = 1,
        ban_seconds: float = 120.0,
        family: str | None = None,
    ) -> None:
        """Answer 429 + Retry-After for ``retry_after`` seconds; more than ``ban_after``
        requests inside that window earn a 418 IP ban for ``ban_seconds`` (Binance's rule).
        ``family``: ``"spot"``, ``"futures"`` or ``"sapi"`` (default: all of them)."""
        with self._lock:
            self.weights.rate_limit(
                retry_after, ban_after=ban_after, ban_seconds=ban_seconds, family_name=family
            )

    def ban(self, seconds: float, *, family: str | None = None) -> None:
        """The IP is banned for ``seconds`` from now: 418 "IP banned until <ms>"."""
        with self._lock:
            self.weights.ban(seconds, family_name=family)

    def set_weight_limit(self, family: str, limit: int) -> None:
        """A family's REQUEST_WEIGHT per minute (``exchangeInfo`` states it)."""
        with self._lock:
            self.weights.set_limit(family, limit)

    def spend_weight(self, family: str, amount: int) -> None:
        """Weight used this minute by another program behind the same IP."""
        with self._lock:
            self.weights.spend(family, amount)

    def used_weight_of(self, family: str) -> int:
        """Weight used this minute (what X-MBX-USED-WEIGHT-1M says)."""
        with self._lock:
            return self.weights.used(family)

    @property
    def weight_limit(self) -> int:
        """The spot REQUEST_WEIGHT per minute."""
        return self.weights.limit("spot")

    @weight_limit.setter
    def weight_limit(self, limit: int) -> None:
        self.set_weight_limit("spot", limit)

    @property
    def used_weight(self) -> int:
        return self.used_weight_of("spot")

    @property
    def requests_while_limited(self) -> int:
        """Requests that arrived while told to wait (429) or banned (418)."""
        return self.weights.requests_while_limited

    # -- observation -----------------------------------------------------------------------

    def count(self, path: str | None = None, method: str | None = None) -> int:
        """Requests received (all, or for one path and optionally one method)."""
        with self._lock:
            return sum(
                n
                for key, n in self._counts.items()
                if (path is None or key.split(" ", 1)[1] == path)
                and (method is None or key.split(" ", 1)[0] == method)
            )

    def orders(self, *, futures: bool | None = None) -> list[FakeOrder]:
        """Snapshots of every order ever created, oldest first."""
        with self._lock:
            return [
                copy.copy(o) for o in self.book.orders if futures is None or o.futures == futures
            ]

    def order(self, client_id: str) -> FakeOrder:
        """A snapshot of the newest order with this client id (KeyError when there is none)."""
        with self._lock:
            return copy.copy(self._newest(client_id))

    # -- request handling ------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method, path = request.method, request.path
        raw_query = request.rel_url.raw_query_string
        body = (await request.read()).decode()
        charged = dict(parse_qsl(raw_query, keep_blank_values=True))
        charged.update(parse_qsl(body, keep_blank_values=True))
        with self._lock:
            self._counts[f"{method} {path}"] += 1
            self.request_log.append((method, path))
            limited = self._rate_limit_check(method, path, charged)
            self.arrivals.append((time.monotonic(), path, 0 if limited is None else limited.status))
            fault = None if limited else self._take(self._faults, method, path)
        if limited is not None:
            return limited
        if fault is not None:
            return await self._apply_fault(request, fault)
        try:
            params = dict(parse_qsl(raw_query, keep_blank_values=True))
            params.update(parse_qsl(body, keep_blank_values=True))
            if path not in PUBLIC_PATHS:
                if path not in PRIVATE_PATHS and not _money_out(path):
                    raise _NotFound()
                self._authenticate(request, raw_query, body, params)
            with self._lock:
                result, drop = self._dispatch(method, path, params)
        except BinanceError as e:
            return self._json({"code": e.code, "msg": e.msg}, e.status)
        except _NotFound:
            return web.Response(
                status=404,
                text="<html><body><h2>404 Not found</h2></body></html>",
                content_type="text/html",
                headers=self._weight_headers(),
            )
        if drop is not None:
            return await self._apply_fault(request, drop)
        return self._json(result, 200)

    def _json(
        self, payload: Any, status: int, headers: dict[str, str] | None = None
    ) -> web.Response:
        return web.Response(
            status=status,
            text=json.dumps(payload),
            content_type="application/json",
            headers={**self._weight_headers(), **(headers or {})},
        )

    def _weight_headers(self) -> dict[str, str]:
        """None here: :meth:`_stamp_weight` adds the used weight to every answer as it is sent."""
        return {}

    async def _stamp_weight(self, request: web.Request, response: web.StreamResponse) -> None:
        """Every answer carries its family's used weight (X-MBX-USED-WEIGHT-1M or SAPI's)."""
        with self._lock:
            response.headers.update(self.weights.headers(request.path))

    @staticmethod
    def _take(faults: list[_Fault], method: str, path: str) -> _Fault | None:
        for f in faults:
            if f.remaining > 0 and f.matches(method, path):
                f.remaining -= 1
                return f
        return None

    async def _apply_fault(self, request: web.Request, fault: _Fault) -> web.StreamResponse:
        if fault.kind == "status" and fault.status == 500:  # Binance's "status unknown"
            return self._json(
                {
                    "code": -1001,
                    "msg": "Internal error; unable to process your request. Please try again.",
                },
                fault.status,
            )
        if fault.kind == "status":  # what a gateway in front of the matching engine says
            return web.Response(
                status=fault.status,
                text="Service Unavailable.",
                content_type="text/plain",
                headers=self._weight_headers(),
            )
        if fault.kind == "timeout":
            await asyncio.sleep(fault.delay)
        reset_connection(request)
        return web.Response(status=500)

    def _rate_limit_check(
        self, method: str, path: str, params: dict[str, str]
    ) -> web.Response | None:
        """Binance's weight budget: 429 + Retry-After when over, 418 ban when ignored."""
        refusal = self.weights.charge(method, path, params)
        return None if refusal is None else self._limit_response(refusal)

    def _limit_response(self, refusal: Refusal) -> web.Response:
        seconds = max(1, int(refusal.retry_after + 0.999))
        headers = {"Retry-After": str(seconds)}
        if refusal.banned_until is not None:
            msg = (
                f"Way too much request weight used; IP banned until "
                f"{int(refusal.banned_until * 1000)}. Please use WebSocket Streams for live "
                "updates to avoid bans."
            )
            if not self.retry_after_on_ban:
                headers = {}
        else:
            msg = (
                f"Too many requests; current limit of IP(127.0.0.1) request weight is "
                f"{refusal.limit} per 1 MINUTE. Please use WebSocket Streams for live "
                "updates to avoid polling the API."
            )
        return self._json({"code": -1003, "msg": msg}, refusal.status, headers)

    def _authenticate(
        self, request: web.Request, raw_query: str, body: str, params: dict[str, str]
    ) -> None:
        key = request.headers.get("X-MBX-APIKEY")
        if not key or not _KEY_SHAPE.fullmatch(key):
            raise BinanceError(*BAD_KEY_FORMAT, status=401)
        secret = self._secret_for(key)
        if secret is None:
            raise BinanceError(*BAD_KEY, status=401)
        payload_q, sig_q = _split_signature(raw_query)
        payload_b, sig_b = _split_signature(body)
        signature = sig_q or sig_b
        if not signature:
            raise BinanceError(
                -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."
            )
        expected = hmac.new(
            secret.encode(), (payload_q + payload_b).encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise BinanceError(*BAD_SIGNATURE)
        try:
            stamp = int(params["timestamp"])
            recv_window = int(params.get("recvWindow", "5000"))
        except (KeyError, ValueError):
            raise BinanceError(
                -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
            ) from None
        now = self.account.now_ms()  # the server's clock, which a test may skew
        if recv_window > 60000:
            raise BinanceError(-1131, "recvWindow must be less than 60000")
        if stamp > now + 1000:
            raise BinanceError(
                -1021, "Timestamp for this request was 1000ms ahead of the server's time."
            )
        if now - stamp > recv_window:
            raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")

    # -- endpoints -------------------------------------------------------------------------

    def _dispatch(self, method: str, path: str, p: dict[str, str]) -> tuple[Any, _Fault | None]:
        now = _now_ms()
        book = self.book
        futures = path.startswith("/fapi/")
        route = f"{method} {path}"
        if route in ("GET /api/v3/ping", "GET /fapi/v1/ping"):
            return {}, None
        if path.startswith("/dapi/") and route != "GET /dapi/v1/time":
            if route == "POST /dapi/v1/order" and not self.trading_enabled:
                raise BinanceError(*BAD_KEY, status=401)
            self.coinm.weight_limit = self.weights.limit("coinm")  # exchangeInfo states it
            return self.coinm.dispatch(method, path, p, now), None
        if route in ("GET /api/v3/time", "GET /fapi/v1/time", "GET /dapi/v1/time"):
            return {"serverTime": self.account.now_ms()}, None
        if route == "GET /api/v3/exchangeInfo":
            return {
                "timezone": "UTC",
                "serverTime": now,
                "rateLimits": wire.rate_limits(self.weight_limit),
                "exchangeFilters": [],
                "symbols": [wire.spot_symbol(s) for s in book.symbols if not s.futures],
            }, None
        if route == "GET /fapi/v1/exchangeInfo":
            return {
                "timezone": "UTC",
                "serverTime": now,
                "futuresType": "U_MARGINED",
                "rateLimits": wire.rate_limits(self.weights.limit("futures")),
                "exchangeFilters": [],
                "assets": [
                    {"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}
                ],
                "symbols": [wire.futures_symbol(s) for s in book.symbols if s.futures],
            }, None
        tickers = {
            "/api/v3/ticker/24hr": wire.ticker_24hr,
            "/fapi/v1/ticker/24hr": wire.ticker_24hr,
            "/api/v3/ticker/price": wire.price_ticker,
            "/fapi/v1/ticker/price": wire.price_ticker,
            "/fapi/v2/ticker/price": wire.price_ticker,
            "/api/v3/ticker/bookTicker": wire.book_ticker,
            "/fapi/v1/ticker/bookTicker": wire.book_ticker,
        }
        if method == "GET" and path in tickers:
            return self._tickers(tickers[path], p, futures, now), None
        if route in ("GET /api/v3/klines", "GET /fapi/v1/klines"):
            number = wire.plain if futures else wire.s8
            return self.candles.klines(book, p, futures, now, number), None
        if path in ("/api/v3/order", "/fapi/v1/order"):
            return self._order_route(method, p, futures, now)
        if path == "/fapi/v1/algoOrder" or route == "GET /fapi/v1/openAlgoOrders":
            return self._algo_route(method, path, p, now), None
        if route == "GET /api/v3/myTrades":
            book.spec(_required(p, "symbol"), False)
            return binance_fees.my_trades(book.orders, p), None
        if route == "GET /fapi/v1/income":
            return self.income.answer(p, now, lambda s: book.spec(s, True)), None
        if route == "GET /fapi/v1/userTrades":
            book.spec(_required(p, "symbol"), True)
            return binance_fees.user_trades(book.orders, p), None
        if route in ("GET /api/v3/openOrders", "GET /fapi/v1/openOrders"):
            symbol = p.get("symbol")
            if symbol is not None:
                book.spec(symbol, futures)
            fmt = wire.futures_order if futures else wire.spot_order
            return [fmt(o) for o in book.open_orders(futures, symbol)], None
        if route == "GET /api/v3/account":
            return wire.spot_account(book, now, self.withdrawals_enabled), None
        if route in ("GET /fapi/v2/account", "GET /fapi/v3/account"):
            return wire.futures_account(book, now), None
        if route in ("GET /fapi/v2/balance", "GET /fapi/v3/balance"):
            return wire.futures_balance(book, now), None
        if route in ("GET /fapi/v2/positionRisk", "GET /fapi/v3/positionRisk"):
            v2 = "/v2/" in path
            symbol = p.get("symbol")
            return [
                wire.position_risk(book, k, now, v2, self.account.margin_type(k[0]))
                for k, pos in book.positions.items()
                if (v2 or pos.amount != 0) and (symbol is None or k[0] == symbol)
            ], None
        if route == "GET /fapi/v1/leverageBracket":
            return wire.leverage_brackets(book), None
        if route == "POST /fapi/v1/leverage":
            return self._set_leverage(p), None
        if route == "GET /fapi/v1/positionSide/dual":
            return self.account.position_mode(), None
        if route == "POST /fapi/v1/positionSide/dual":
            return self.account.change_position_mode(book, p), None
        if route == "POST /fapi/v1/marginType":
            return self.account.change_margin_type(book, p), None
        if route == "GET /sapi/v1/account/apiRestrictions":
            return self.account.restrictions(self.withdrawals_enabled, self.trading_enabled), None
        if _money_out(path):
            raise BinanceError(-1002, "You are not authorized to execute this request.", 401)
        raise _NotFound()

    def _tickers(
        self, shape: Callable[..., dict[str, Any]], p: dict[str, str], futures: bool, now: int
    ) -> Any:
        if "symbol" in p:
            self.book.spec(p["symbol"], futures)
            return shape(self.book, p["symbol"], futures, now)
        if "symbols" in p:
            try:
                wanted = json.loads(p["symbols"])
            except ValueError:
                raise BinanceError(
                    -1100,
                    "Illegal characters found in parameter 'symbols'; "
                    'legal range is \'^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]'
                    "{1,20}\"){0,}){0,1}\\]$'.",
                ) from None
            for s in wanted:
                self.book.spec(s, futures)
        else:
            wanted = [s.symbol for s in self.book.symbols if s.futures == futures]
        return [shape(self.book, s, futures, now) for s in wanted]

    def _order_route(
        self, method: str, p: dict[str, str], futures: bool, now: int
    ) -> tuple[Any, _Fault | None]:
        book = self.book
        symbol = _required(p, "symbol")
        if method == "POST":
            if not self.trading_enabled:
                raise BinanceError(*BAD_KEY, status=401)
            book.spec(symbol, futures)
            price = p.get("price")
            order = book.new_order(
                futures=futures,
                symbol=symbol,
                side=_required(p, "side"),
                type_=_required(p, "type"),
                qty=_decimal(p, "quantity"),
                price=_decimal(p, "price") if price is not None else None,
                time_in_force=p.get("timeInForce"),
                client_id=p.get("newClientOrderId") or f"web_{book.next_id()}",
                reduce_only=p.get("reduceOnly", "false").lower() == "true",
                now_ms=now,
                hidden_lookups=self._hide_next,
                position_side=self.account.position_side(p) if futures else None,
            )
            drop = self._take(self._drops, "POST", "")
            if futures:
                body = wire.futures_order(order, ack=p.get("newOrderRespType") != "RESULT")
            else:
                default = "FULL" if order.type in ("MARKET", "LIMIT") else "ACK"
                body = wire.spot_order(
                    order, resp_type=p.get("newOrderRespType", default), now_ms=now
                )
            return body, drop
        order_id, client_id = p.get("orderId"), p.get("origClientOrderId")
        if order_id is None and client_id is None:
            raise BinanceError(
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        if method == "GET":
            order = book.find_order(futures, symbol, order_id, client_id)
            filled = order.executed_qty > 0
            if futures:
                binance_ageing.check_futures(order.created_ms, order.status, filled, now)
            else:
                binance_ageing.check_spot(order.status, filled, order.updated_ms, now)
            if order.hidden_lookups > 0:
                order.hidden_lookups -= 1
                raise BinanceError(-2013, "Order does not exist.")
            return (wire.futures_order(order) if futures else wire.spot_order(order)), None
        if method == "DELETE":
            order = book.cancel(futures, symbol, order_id, client_id, now)
            if futures:
                return wire.futures_order(order), None
            body = wire.spot_order(order, resp_type="RESULT", now_ms=now)
            body["origClientOrderId"] = order.client_order_id
            body["clientOrderId"] = p.get("newClientOrderId") or f"cancel{order.order_id}"
            return body, None
        raise _NotFound()

    def _algo_route(self, method: str, path: str, p: dict[str, str], now: int) -> Any:
        """USDⓈ-M conditional orders (stop / take-profit market) on the Algo Service."""
        if path == "/fapi/v1/openAlgoOrders":
            symbol = p.get("symbol")
            if symbol is not None:
                self.book.spec(symbol, True)
            return [algo_json(o) for o in self.algo.open(symbol)]
        if method == "POST":
            if not self.trading_enabled:
                raise BinanceError(*BAD_KEY, status=401)
            side = self.account.position_side(p)  # hedge mode rules hold for algo orders too
            algo = self.algo.new(p, now)
            self.book.position_sides[f"autoalgo_{algo.algo_id}"] = side  # its child's side
            return algo_json(algo)
        if method == "GET":
            return algo_json(self.algo.lookup(p, now))
        if method == "DELETE":
            return self.algo.cancel(p, now)
        raise _NotFound()

    def _set_leverage(self, p: dict[str, str]) -> dict[str, Any]:
        symbol = _required(p, "symbol")
        spec = self.book.spec(symbol, True)
        try:
            lev = int(_required(p, "leverage"))
        except ValueError:
            raise BinanceError(
                -1102, "Mandatory parameter 'leverage' was not sent, was empty/null, or malformed."
            ) from None
        if not 1 <= lev <= spec.max_leverage:
            raise BinanceError(-4028, f"Leverage {lev} is not valid")
        self.book.leverage[symbol] = lev
        return {"leverage": lev, "maxNotionalValue": "1000000", "symbol": symbol}


class _NotFound(Exception):
    pass


def _money_out(path: str) -> bool:
    """Withdraw and transfer endpoints: answered with a refusal and counted, never served."""
    lowered = path.lower()
    return "withdraw" in lowered or "transfer" in lowered


def _now_ms() -> int:
    return int(time.time() * 1000)


def _required(p: dict[str, str], name: str) -> str:
    value = p.get(name)
    if not value:
        raise BinanceError(
            -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
        )
    return value


def _decimal(p: dict[str, str], name: str) -> Decimal:
    try:
        return Decimal(_required(p, name))
    except InvalidOperation:
        raise BinanceError(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal "
            "range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
        ) from None


def _split_signature(raw: str) -> tuple[str, str | None]:
    """``raw`` without its ``signature=`` parameter, and the signature (hex)."""
    if not raw:
        return "", None
    kept, signature = [], None
    for part in raw.split("&"):
        if part.startswith("signature="):
            signature = part[len("signature=") :]
        else:
            kept.append(part)
    return "&".join(kept), signature


@contextlib.contextmanager
def running_fake_binance(**kwargs: Any) -> Iterator[FakeBinance]:
    """Start a fake Binance for the duration of a ``with`` block."""
    fake = FakeBinance(**kwargs)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


#: ``binance_server`` (one per test module) and ``fake_binance`` (reset for each test).
binance_server, fake_binance = fake_fixtures(FakeBinance, "binance")
