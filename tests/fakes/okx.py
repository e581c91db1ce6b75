"""A loopback fake of OKX's REST API v5, for the real, unmodified ccxt ``okx`` class.

A real HTTP server (aiohttp, 127.0.0.1, random port) in its own thread, over an in-memory
:class:`~tests.fakes.okx_book.OkxBook`. It answers what ccxt's okx calls in the adapter's
flows: ``public/instruments`` (SPOT, SWAP), ``public/time``, ``market/ticker(s)``,
``asset/currencies``, ``account/balance``, ``account/config``, ``account/positions``,
``account/set-leverage``, ``account/set-position-mode``, ``trade/order`` (POST and GET),
``trade/batch-orders``, ``trade/cancel-order``, ``trade/orders-pending`` and
``trade/fills-history``.

Private requests are checked as OKX documents them: ``OK-ACCESS-KEY``, ``OK-ACCESS-SIGN``
(base64 HMAC-SHA256 of timestamp + method + request path with its query + body, with the
key's secret), ``OK-ACCESS-TIMESTAMP`` (ISO 8601 with milliseconds, within 30 s of the
server's clock) and ``OK-ACCESS-PASSPHRASE`` (the one chosen when the key was made). A
refusal is HTTP 401 with OKX's code (50103/50104/50106/50107 missing header, 50111 unknown
key, 50105 wrong passphrase, 50112 malformed timestamp, 50102 expired, 50113 bad sign).

Every answer is OKX's envelope ``{"code", "msg", "data"}``; a refused order is ``code`` "1"
with the reason in ``data[i].sCode``/``sMsg``. Tests drive it with thread-safe methods:
:meth:`FakeOkx.set_price`, :meth:`set_cash`, :meth:`set_position_mode`,
:meth:`set_permissions`, :meth:`set_clock_offset`, :meth:`rate_limit` (HTTP 429, 50011),
:meth:`fail_next` and :meth:`accept_then_drop` (the order is placed, the answer lost);
:meth:`count`, :meth:`orders`, :meth:`order`, :meth:`positions`, :meth:`leverage_of`,
:meth:`available` and :attr:`requests` observe.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tests.fakes.aiohttp_thread import ThreadedAiohttpServer, fake_fixtures, reset_connection
from tests.fakes.okx_book import LIVE, FakeOrder, FakePosition, OkxBook, OkxError

PREFIX = "/api/v5/"
PUBLIC = frozenset({"public/instruments", "public/time", "market/ticker", "market/tickers"})
#: The request window OKX allows between OK-ACCESS-TIMESTAMP and its clock.
WINDOW_S = 30.0


@dataclass
class _Fault:
    path: str | None
    kind: str  # "status" | "timeout" | "reset"
    remaining: int
    status: int = 503
    delay: float = 2.0


class FakeOkx(ThreadedAiohttpServer):
    """The fake exchange plus its server thread. Use as a context manager or start/stop."""

    name = "fake OKX"

    def __init__(
        self,
        *,
        api_key: str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        secret: str = "FAKEOKXSECRET0123456789ABCDEF0123",
        passphrase: str = "Fake-okx-passphrase-1",
    ) -> None:
        super().__init__()
        self.api_key, self.secret, self.passphrase = api_key, secret, passphrase
        self._lock = threading.RLock()
        self.reset()

    # -- setup -------------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.book = OkxBook()
            self._counts: Counter[str] = Counter()
            self.requests: list[tuple[str, str, str]] = []  # method, path+query, body
            self._faults: list[_Fault] = []
            self._drops: list[_Fault] = []
            self._limited = 0
            self._offset_s = 0.0

    def ccxt_urls(self) -> dict[str, str]:
        """ccxt okx's only ``urls['api']`` entry, pointed at this server."""
        return {"rest": self.base_url}

    def adapter_config(self, market_type: str = "spot", **extra: Any) -> dict[str, Any]:
        """Connection config for SignalBridge's ccxt adapter pointed at this fake."""
        return {"exchange": "okx", "market_type": market_type, "urls": self.ccxt_urls(), **extra}

    def adapter_secrets(self) -> dict[str, str]:
        return {"api_key": self.api_key, "secret": self.secret, "password": self.passphrase}

    # -- driving -----------------------------------------------------------------------

    def set_price(self, inst_id: str, price: Decimal | str) -> None:
        with self._lock:
            self.book.set_price(inst_id, Decimal(price), _now_ms())

    def set_cash(self, ccy: str, amount: Decimal | str) -> None:
        with self._lock:
            self.book.cash[ccy] = Decimal(amount)

    def trade_by_hand(
        self,
        side: str,
        sz: Decimal | str,
        *,
        inst_id: str = "BTC-USDT-SWAP",
        td_mode: str = "isolated",
        reduce_only: bool = False,
    ) -> None:
        """A market order the user places on OKX's website or app (``buy`` / ``sell``, in
        contracts): it carries no ``clOrdId``."""
        body = {
            "instId": inst_id,
            "tdMode": td_mode,
            "side": side,
            "ordType": "market",
            "sz": str(sz),
            "reduceOnly": "true" if reduce_only else "false",
        }
        with self._lock:
            self.book.place(body, _now_ms())

    def set_position_mode(self, mode: str) -> None:
        """``net_mode`` or ``long_short_mode``, as if changed in OKX's web app."""
        with self._lock:
            self.book.config.pos_mode = mode

    def set_permissions(self, perm: str, ip: str = "") -> None:
        """The key's ``perm`` (e.g. ``read_only,trade,withdraw``) and bound IPs."""
        with self._lock:
            self.book.config.perm, self.book.config.ip = perm, ip

    def set_clock_offset(self, seconds: float) -> None:
        """The server's clock runs ``seconds`` ahead of ours (``public/time`` says so)."""
        with self._lock:
            self._offset_s = seconds

    def rate_limit(self, n: int = 1) -> None:
        """The next ``n`` requests answer HTTP 429, 50011 "Too Many Requests"."""
        with self._lock:
            self._limited += n

    def fail_next(
        self, path: str | None = None, n: int = 1, *, kind: str = "status", status: int = 503
    ) -> None:
        """The next ``n`` requests (to ``path`` under /api/v5/, if given) fail WITHOUT being
        processed: ``status`` answers it, ``reset`` drops the connection."""
        with self._lock:
            self._faults.append(_Fault(path, kind, n, status))

    def accept_then_drop(self, n: int = 1, *, kind: str = "reset", delay: float = 2.0) -> None:
        """The next ``n`` order placements ARE executed, then the client sees a reset or,
        with ``kind="timeout"``, no answer for ``delay`` seconds and then a reset."""
        with self._lock:
            self._drops.append(_Fault(None, kind, n, 0, delay))

    # -- observing ---------------------------------------------------------------------

    def count(self, path: str | None = None, method: str | None = None) -> int:
        with self._lock:
            return sum(
                n
                for key, n in self._counts.items()
                if (method is None or key.split(" ")[0] == method)
                and (path is None or key.split(" ")[1] == path)
            )

    def orders(self) -> list[FakeOrder]:
        with self._lock:
            return list(self.book.orders)

    def order(self, cl_ord_id: str) -> FakeOrder:
        with self._lock:
            return next(o for o in reversed(self.book.orders) if o.cl_ord_id == cl_ord_id)

    def positions(self) -> list[FakePosition]:
        with self._lock:
            return list(self.book.positions.values())

    def leverage_of(self, inst_id: str, mgn_mode: str, pos_side: str = "net") -> int | None:
        """The leverage set for an instrument, margin mode and (isolated) side."""
        with self._lock:
            return self.book.leverage.get((inst_id, mgn_mode, pos_side))

    def available(self, ccy: str) -> Decimal:
        with self._lock:
            return self.book.available(ccy)

    # -- serving -----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = (await request.read()).decode()
        path = request.path.removeprefix(PREFIX)
        with self._lock:
            self._counts[f"{request.method} {path}"] += 1
            self.requests.append((request.method, request.raw_path, body))
            limited = self._limited > 0
            self._limited -= 1 if limited else 0
            fault = None if limited else _take(self._faults, path)
        if limited:
            return _envelope("50011", "Too Many Requests", [], 429)
        if fault is not None:
            return await _apply(request, fault)
        if not request.path.startswith(PREFIX):
            return web.Response(status=404, text="Not Found")
        try:
            if path not in PUBLIC:
                self._authenticate(request, body)
            query = dict(parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True))
            payload = json.loads(body) if body else {}
            with self._lock:
                data, placed = self._dispatch(request.method, path, query, payload)
                drop = _take(self._drops, None) if placed else None
        except OkxError as e:
            if e.order:
                return _envelope("1", "All operations failed", [_refusal(e)], e.status)
            return _envelope(e.code, e.msg, [], e.status)
        except (ValueError, TypeError, AttributeError):
            return _envelope("50002", "Json data format error", [], 400)
        if drop is not None:
            return await _apply(request, drop)
        return _envelope("0", "", data, 200)

    def _authenticate(self, request: web.Request, body: str) -> None:
        h = request.headers
        for name, code in (
            ("OK-ACCESS-KEY", "50103"),
            ("OK-ACCESS-PASSPHRASE", "50104"),
            ("OK-ACCESS-SIGN", "50106"),
            ("OK-ACCESS-TIMESTAMP", "50107"),
        ):
            if not h.get(name):
                raise OkxError(code, f'Request header "{name}" can\'t be empty.', status=401)
        if h["OK-ACCESS-KEY"] != self.api_key:
            raise OkxError("50111", "Invalid OK-ACCESS-KEY", status=401)
        if not hmac.compare_digest(h["OK-ACCESS-PASSPHRASE"], self.passphrase):
            raise OkxError("50105", "Invalid OK-ACCESS-PASSPHRASE", status=401)
        stamp = h["OK-ACCESS-TIMESTAMP"]
        try:
            sent = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        except ValueError:
            raise OkxError("50112", "Invalid OK-ACCESS-TIMESTAMP", status=401) from None
        if abs(sent.timestamp() - time.time() - self._offset_s) > WINDOW_S:
            raise OkxError("50102", "Timestamp request expired", status=401)
        prehash = stamp + request.method + request.raw_path + body
        digest = hmac.new(self.secret.encode(), prehash.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(base64.b64encode(digest).decode(), h["OK-ACCESS-SIGN"]):
            raise OkxError("50113", "Invalid Sign", status=401)

    def _dispatch(
        self, method: str, path: str, q: dict[str, str], body: Any
    ) -> tuple[list[Any], bool]:
        """The answer's ``data`` and whether an order was placed."""
        book, now = self.book, _now_ms()
        match method, path:
            case "GET", "public/time":
                return [{"ts": str(now + int(self._offset_s * 1000))}], False
            case "GET", "public/instruments":
                kind = q.get("instType", "")
                if kind not in ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"):
                    raise OkxError("51000", "Parameter instType error")
                return [i.wire() for i in book.instruments.values() if i.inst_type == kind], False
            case "GET", "market/ticker":
                return [book.ticker(book.instrument(q.get("instId")), now)], False
            case "GET", "market/tickers":
                kind = q.get("instType", "")
                insts = [i for i in book.instruments.values() if i.inst_type == kind]
                return [book.ticker(i, now) for i in insts], False
            case "GET", "asset/currencies":
                return [_currency(c) for c in ("BTC", "ETH", "USDT")], False
            case "GET", "account/balance":
                return [book.balance(now)], False
            case "GET", "account/config":
                return [book.config.wire("44556677")], False
            case "GET", "account/positions":
                wanted = set(filter(None, q.get("instId", "").split(",")))
                return [
                    p.wire(book.prices[p.inst.inst_id])
                    for p in book.positions.values()
                    if not wanted or p.inst.inst_id in wanted
                ], False
            case "POST", "account/set-leverage":
                return [book.set_leverage(body)], False
            case "POST", "account/set-position-mode":
                return [book.set_position_mode(body)], False
            case "POST", "trade/order":
                return [_ack(book.place(body, now), now)], True
            case "POST", "trade/batch-orders":
                if not isinstance(body, list) or not 1 <= len(body) <= 20:
                    raise OkxError("50014", "Parameter data can not be empty")
                return [_ack(book.place(entry, now), now) for entry in body], True
            case "POST", "trade/cancel-order":
                return [_ack(book.cancel(body, now), now)], False
            case "GET", "trade/order":
                inst = book.instrument(q.get("instId"))
                if not q.get("ordId") and not q.get("clOrdId"):
                    raise OkxError("50014", "Parameter ordId can not be empty")
                return [book.find(inst, q.get("ordId"), q.get("clOrdId")).wire()], False
            case "GET", "trade/orders-pending":
                return [
                    o.wire()
                    for o in reversed(book.orders)
                    if o.state in LIVE
                    and q.get("instId", o.inst.inst_id) == o.inst.inst_id
                    and q.get("instType", o.inst.inst_type) == o.inst.inst_type
                ], False
            case "GET", "trade/fills-history" | "trade/fills":
                return self._fills(q), False
        raise OkxError("50115", "Invalid request method", status=405)

    def _fills(self, q: dict[str, str]) -> list[dict[str, Any]]:
        if not q.get("instType"):
            raise OkxError("50014", "Parameter instType can not be empty")
        begin = int(q.get("begin") or 0)
        out = [
            {
                "instType": f.order.inst.inst_type,
                "instId": f.order.inst.inst_id,
                "tradeId": f.trade_id,
                "ordId": f.order.ord_id,
                "clOrdId": f.order.cl_ord_id,
                "billId": f.trade_id,
                "tag": f.order.tag,
                "fillPx": str(f.px),
                "fillSz": str(f.sz),
                "fillIdxPx": "",
                "fillPnl": "0",
                "side": f.order.side,
                "posSide": f.order.pos_side or "net",
                "execType": "T",
                "feeCcy": f.order.fee_ccy,
                "fee": str(-f.fee),
                "ts": str(f.ts),
                "fillTime": str(f.ts),
            }
            for f in reversed(self.book.fills)
            if f.order.inst.inst_type == q["instType"]
            and q.get("instId", f.order.inst.inst_id) == f.order.inst.inst_id
            and q.get("ordId", f.order.ord_id) == f.order.ord_id
            and f.ts >= begin
        ]
        return out[: int(q.get("limit") or 100)]


def _ack(order: FakeOrder, now: int) -> dict[str, Any]:
    """What placing or cancelling answers: ids only (the order's state is read apart)."""
    return {
        "clOrdId": order.cl_ord_id,
        "ordId": order.ord_id,
        "tag": order.tag,
        "ts": str(now),
        "sCode": "0",
        "sMsg": "Order placed" if order.state != "canceled" else "",
    }


def _refusal(e: OkxError) -> dict[str, Any]:
    return {
        "clOrdId": "",
        "ordId": "",
        "tag": "",
        "ts": str(_now_ms()),
        "sCode": e.code,
        "sMsg": e.msg,
    }


def _currency(ccy: str) -> dict[str, Any]:
    return {
        "ccy": ccy,
        "chain": f"{ccy}-ERC20",
        "name": ccy,
        "canDep": True,
        "canWd": True,
        "canInternal": True,
        "minDep": "0.00000001",
        "minWd": "0.001",
        "maxWd": "1000000",
        "wdTickSz": "8",
        "minFee": "0.0001",
        "maxFee": "0.001",
        "mainNet": True,
        "logoLink": "",
    }


def _envelope(code: str, msg: str, data: list[Any], status: int) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps({"code": code, "msg": msg, "data": data}),
        content_type="application/json",
    )


def _take(faults: list[_Fault], path: str | None) -> _Fault | None:
    for f in faults:
        if f.remaining > 0 and (f.path is None or f.path == path):
            f.remaining -= 1
            return f
    return None


async def _apply(request: web.Request, fault: _Fault) -> web.StreamResponse:
    if fault.kind == "status":
        return web.Response(
            status=fault.status, text="Service Unavailable", content_type="text/plain"
        )
    if fault.kind == "timeout":
        await asyncio.sleep(fault.delay)
    reset_connection(request)
    return web.Response(status=500)


def _now_ms() -> int:
    return int(time.time() * 1000)


@contextlib.contextmanager
def running_fake_okx(**kwargs: Any) -> Iterator[FakeOkx]:
    fake = FakeOkx(**kwargs)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


#: ``okx_server`` (one per test module) and ``fake_okx`` (reset for each test).
okx_server, fake_okx = fake_fixtures(FakeOkx, "okx")
