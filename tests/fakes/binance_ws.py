"""A loopback fake of Binance USDⓈ-M futures market streams (websocket), for ``ccxt.pro``.

It follows Binance's documentation for the market streams, not our client:

- endpoints: ``/public/ws`` (high-frequency book data: ``<symbol>@bookTicker``,
  ``!bookTicker``, ``@depth``), ``/market/ws`` (everything else: ``@ticker``,
  ``@miniTicker``, ``!ticker@arr``, ...) and the legacy ``/ws`` (both). A raw stream may
  be named in the path (``/market/ws/btcusdt@ticker``); ``/stream?streams=a/b`` (and
  ``/public/stream``, ``/market/stream``) is the combined form, whose events come
  wrapped as ``{"stream": <name>, "data": <event>}``;
- live subscribing: ``{"method": "SUBSCRIBE", "params": [...], "id": 1}`` is answered
  ``{"result": null, "id": 1}``; ``UNSUBSCRIBE`` alike; ``LIST_SUBSCRIPTIONS`` answers the
  list; ``SET_PROPERTY``/``GET_PROPERTY`` ``combined``; a malformed request gets
  ``{"code": .., "msg": .., "id": ..}`` (code 2 invalid request, 3 invalid JSON);
- limits: at most ``max_streams`` (200) streams per connection, at most 10 incoming
  messages per second (a connection going beyond is disconnected); the server pings every
  ``ping_seconds`` (3 minutes) and drops a connection that does not pong;
- payloads: ``24hrTicker``, ``24hrMiniTicker`` and ``bookTicker`` events with the
  documented fields, prices as strings, times in milliseconds.

With ``spot=True`` it is Binance spot's ``stream.binance.com:9443`` instead: the spot
payloads (``24hrTicker`` with the best bid and ask, ``bookTicker`` without an event
type) and spot's limits (1024 streams, 5 incoming messages a second).

Tests push prices with :meth:`FakeBinanceStreams.push` and cut every socket with
:meth:`drop_connections` (and refuse new ones while :attr:`down`), and read what clients
did from the counters. The server plumbing is :mod:`tests.fakes.ws_server`'s.
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.ws_server import WsConn, WsStreamServer, now_ms

#: Streams served on the ``/public`` endpoint since Binance split its futures streams.
_PUBLIC_KINDS = ("bookTicker", "depth")
_METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")


def stream_kind(name: str) -> str:
    """``btcusdt@bookTicker`` → ``bookTicker``; ``!ticker@arr`` → ``ticker``."""
    body = name[1:] if name.startswith("!") else name.split("@", 1)[1] if "@" in name else ""
    return body.split("@", 1)[0]


def valid_stream(name: str) -> bool:
    """A stream name Binance would take: ``<lower symbol>@<kind>`` or an all-market one."""
    if name in ("!bookTicker", "!ticker@arr", "!miniTicker@arr"):
        return True
    symbol, sep, kind = name.partition("@")
    return bool(sep) and symbol.isalnum() and symbol == symbol.lower() and bool(kind)


@dataclass
class _Conn(WsConn):
    category: str  # "public", "market" or "ws" (legacy: both)
    combined: bool
    streams: set[str] = field(default_factory=set)
    arrivals: deque[float] = field(default_factory=deque)

    def serves(self, name: str) -> bool:
        if self.category == "ws":
            return True
        public = stream_kind(name) in _PUBLIC_KINDS
        return public == (self.category == "public")


def ticker_event(
    symbol: str, last: Decimal, now: int, book: tuple[Decimal, Decimal] | None = None
) -> dict[str, Any]:
    """A ``24hrTicker`` event (individual symbol ticker stream); spot's also carries the
    previous close and the best bid and ask (``book``), USDⓈ-M's does not."""
    spot = {} if book is None else {"x": str(last), "b": str(book[0]), "B": "10"}
    spot |= {} if book is None else {"a": str(book[1]), "A": "10"}
    return spot | {
        "e": "24hrTicker",
        "E": now,
        "s": symbol,
        "p": "0",
        "P": "0.000",
        "w": str(last),
        "c": str(last),
        "Q": "1",
        "o": str(last),
        "h": str(last),
        "l": str(last),
        "v": "1000",
        "q": str(last * 1000),
        "O": now - 86_400_000,
        "C": now,
        "F": 1,
        "L": 1000,
        "n": 1000,
    }


def mini_ticker_event(symbol: str, last: Decimal, now: int) -> dict[str, Any]:
    return {
        "e": "24hrMiniTicker",
        "E": now,
        "s": symbol,
        "c": str(last),
        "o": str(last),
        "h": str(last),
        "l": str(last),
        "v": "1000",
        "q": str(last * 1000),
    }


def book_ticker_event(
    symbol: str, bid: Decimal, ask: Decimal, now: int, update_id: int, *, spot: bool = False
) -> dict[str, Any]:
    """A ``bookTicker`` event: USDⓈ-M's carries ``e``, ``E`` and ``T``, spot's does not."""
    if spot:
        return {"u": update_id, "s": symbol, "b": str(bid), "B": "10", "a": str(ask), "A": "10"}
    return {
        "e": "bookTicker",
        "u": update_id,
        "E": now,
        "T": now,
        "s": symbol,
        "b": str(bid),
        "B": "10",
        "a": str(ask),
        "A": "10",
    }


class FakeBinanceStreams(WsStreamServer[_Conn]):
    """Binance USDⓈ-M market streams on 127.0.0.1 (start/stop or ``with``); ``spot=True``
    serves spot's payloads instead (``wss://stream.binance.com:9443/ws``)."""

    name = "fake Binance streams"

    def __init__(
        self,
        *,
        max_streams: int | None = None,
        max_messages_per_second: int | None = None,
        ping_seconds: float = 180,
        spot: bool = False,
    ) -> None:
        super().__init__()
        self.spot = spot
        # documented: USDⓈ-M 200 streams and 10 messages a second, spot 1024 and 5
        self.max_streams = max_streams or (1024 if spot else 200)
        self.max_messages_per_second = max_messages_per_second or (5 if spot else 10)
        self.ping_seconds = ping_seconds

    def _reset_vendor(self) -> None:
        #: connections closed for sending too many messages
        self.rate_limited = 0
        self._update_id = 0

    @property
    def ws_url(self) -> str:
        """The legacy USDⓈ-M base (``wss://fstream.binance.com/ws``); ccxt derives
        ``/public/ws`` and ``/market/ws`` from it. ``http://``: aiohttp upgrades it."""
        return f"{self.base_url}/ws"

    def _topics(self, conn: _Conn) -> set[str]:
        return conn.streams

    # -- the server --------------------------------------------------------------------------

    async def _publish(self, symbol: str, last: Decimal, bid: Decimal, ask: Decimal) -> int:
        now = now_ms()
        with self._lock:
            self._update_id += 1
            update_id = self._update_id
        low = symbol.lower()
        events = {
            f"{low}@ticker": ticker_event(symbol, last, now, (bid, ask) if self.spot else None),
            f"{low}@miniTicker": mini_ticker_event(symbol, last, now),
            f"{low}@bookTicker": book_ticker_event(
                symbol, bid, ask, now, update_id, spot=self.spot
            ),
        }
        events["!bookTicker"] = events[f"{low}@bookTicker"]
        arrays = {
            "!ticker@arr": [events[f"{low}@ticker"]],
            "!miniTicker@arr": [events[f"{low}@miniTicker"]],
        }
        sent = 0
        for conn in self._live():
            for name in sorted(conn.streams):
                payload: Any = events.get(name, arrays.get(name))
                if payload is None or not conn.serves(name):
                    continue
                body = {"stream": name, "data": payload} if conn.combined else payload
                sent += await self._send(conn, body)
        return sent

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        category = "ws"
        if parts and parts[0] in ("public", "market"):
            category, parts = parts[0], parts[1:]
        if not parts or parts[0] not in ("ws", "stream"):
            return web.json_response({"code": -1, "msg": "not found"}, status=404)
        if (refused := self._unavailable()) is not None:
            return refused
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return web.Response(status=400, text="websocket upgrade expected")
        combined = parts[0] == "stream"
        if combined:
            initial = [s for s in request.query.get("streams", "").split("/") if s]
        else:
            initial = [s for s in "/".join(parts[1:]).split("/") if s]
        ws = web.WebSocketResponse(heartbeat=self.ping_seconds, autoping=True)
        await ws.prepare(request)
        streams = {s for s in initial if valid_stream(s)}
        async with self._connected(
            _Conn(ws, request.transport, category, combined, streams)
        ) as conn:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                if self._over_limit(conn):
                    with self._lock:
                        self.rate_limited += 1
                    break
                reply = self._answer(conn, msg.data)
                if reply is not None:
                    await ws.send_str(json.dumps(reply))
                if len(conn.streams) > self.max_streams:
                    break  # Binance closes a connection over its stream limit
        return ws

    def _over_limit(self, conn: _Conn) -> bool:
        now = time.monotonic()
        conn.arrivals.append(now)
        while conn.arrivals and now - conn.arrivals[0] > 1.0:
            conn.arrivals.popleft()
        return len(conn.arrivals) > self.max_messages_per_second

    def _answer(self, conn: _Conn, text: str) -> dict[str, Any] | None:
        try:
            request = json.loads(text)
        except ValueError:
            return {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}
        if not isinstance(request, dict):
            return {"code": 2, "msg": "Invalid request: expected an object"}
        rid = request.get("id")
        if not (rid is None or isinstance(rid, int | str)) or isinstance(rid, bool):
            return {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"}
        method = request.get("method")
        if method not in _METHODS:
            return {
                "code": 2,
                "msg": f"Invalid request: unknown variant {method!r}, expected one of "
                + ", ".join(_METHODS),
                "id": rid,
            }
        params = request.get("params", [])
        self._log(method, params)
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(
                isinstance(p, str) and valid_stream(p) for p in params
            ):
                return {"code": 2, "msg": "Invalid request: invalid stream name", "id": rid}
            if method == "SUBSCRIBE":
                conn.streams.update(params)
            else:
                conn.streams.difference_update(params)
            return {"result": None, "id": rid}
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": sorted(conn.streams), "id": rid}
        if (
            params != ["combined", True]
            and params != ["combined", False]
            and params != ["combined"]
        ):
            return {"code": 0, "msg": "Unknown property", "id": rid}
        if method == "SET_PROPERTY":
            conn.combined = bool(params[1]) if len(params) == 2 else conn.combined
            return {"result": None, "id": rid}
        return {"result": conn.combined, "id": rid}


def running_fake_streams(**kwargs: Any) -> FakeBinanceStreams:
    """A fake stream server for a ``with`` block (started on entry, stopped on exit)."""
    return FakeBinanceStreams(**kwargs)


def fresh(server: FakeBinanceStreams) -> FakeBinanceStreams:
    """A module's server made ready for the next test: no sockets left, counters zeroed."""
    server.drop_connections()
    server.reset()
    return server
