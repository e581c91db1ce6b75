"""A loopback fake of Bybit v5 public websocket streams (linear), for ``ccxt.pro``.

Following Bybit's v5 documentation, not our client:

- endpoints ``/v5/public/{spot,linear,inverse,option}``, one category each;
- ``{"op": "subscribe", "req_id": .., "args": ["tickers.BTCUSDT"]}`` is answered
  ``{"success": true, "ret_msg": "", "conn_id": .., "req_id": .., "op": "subscribe"}``;
  a topic already subscribed on the connection, or not a topic of the category, gets
  ``success: false`` with the reason in ``ret_msg``; ``unsubscribe`` alike;
- ``{"op": "ping"}`` gets ``{"success": true, "ret_msg": "pong", .., "op": "ping"}``;
- ``tickers.<symbol>``: the first push after subscribing is a ``snapshot`` with every
  field, later ones are ``delta`` pushes with the fields that changed, each with ``cs``
  and ``ts``.

Tests publish with :meth:`FakeBybitStreams.push`, cut sockets with
:meth:`drop_connections` (and refuse new ones while :attr:`down`) and read the counters;
the server plumbing is :mod:`tests.fakes.ws_server`'s.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.ws_server import WsConn, WsStreamServer, now_ms

_CATEGORIES = ("spot", "linear", "inverse", "option")


@dataclass
class _Conn(WsConn):
    category: str
    conn_id: str
    topics: set[str] = field(default_factory=set)
    snapshot_sent: set[str] = field(default_factory=set)


def linear_ticker(symbol: str, last: Decimal, bid: Decimal, ask: Decimal) -> dict[str, Any]:
    """Every field of a linear ``tickers`` snapshot, as strings."""
    return {
        "symbol": symbol,
        "tickDirection": "PlusTick",
        "price24hPcnt": "0",
        "lastPrice": str(last),
        "prevPrice24h": str(last),
        "highPrice24h": str(last),
        "lowPrice24h": str(last),
        "prevPrice1h": str(last),
        "markPrice": str(last),
        "indexPrice": str(last),
        "openInterest": "1000",
        "openInterestValue": str(last * 1000),
        "turnover24h": str(last * 100),
        "volume24h": "100",
        "nextFundingTime": "1673280000000",
        "fundingRate": "0.0001",
        "bid1Price": str(bid),
        "bid1Size": "10",
        "ask1Price": str(ask),
        "ask1Size": "10",
    }


class FakeBybitStreams(WsStreamServer[_Conn]):
    """Bybit v5 public streams on 127.0.0.1 (start/stop or ``with``); :meth:`push` publishes
    a linear ticker of a symbol spelled ``BTCUSDT``."""

    name = "fake Bybit streams"

    def _reset_vendor(self) -> None:
        self._cs = 0
        self._last: dict[str, dict[str, Any]] = {}

    def ws_url(self, category: str = "linear") -> str:
        return f"{self.base_url}/v5/public/{category}"

    def _topics(self, conn: _Conn) -> set[str]:
        return conn.topics

    async def _publish(self, symbol: str, last: Decimal, bid: Decimal, ask: Decimal) -> int:
        data = linear_ticker(symbol, last, bid, ask)
        topic = f"tickers.{symbol}"
        with self._lock:
            self._cs += 1
            cs = self._cs
            previous = self._last.get(symbol, {})
            self._last[symbol] = data
            conns = [c for c in self._conns if c.category == "linear" and topic in c.topics]
        sent = 0
        for conn in conns:
            if topic in conn.snapshot_sent:
                kind = "delta"
                body = {"symbol": symbol} | {k: v for k, v in data.items() if previous.get(k) != v}
            else:
                kind, body = "snapshot", data
                conn.snapshot_sent.add(topic)
            push = {"topic": topic, "type": kind, "data": body, "cs": cs, "ts": now_ms()}
            sent += await self._send(conn, push)
        return sent

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        if len(parts) != 3 or parts[:2] != ["v5", "public"] or parts[2] not in _CATEGORIES:
            return web.Response(status=404, text="Not Found")
        if (refused := self._unavailable()) is not None:
            return refused
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        async with self._connected(
            _Conn(ws, request.transport, parts[2], str(uuid.uuid4()))
        ) as conn:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await ws.send_str(json.dumps(self._answer(conn, msg.data)))
        return ws

    def _answer(self, conn: _Conn, text: str) -> dict[str, Any]:
        try:
            request = json.loads(text)
        except ValueError:
            request = None
        if not isinstance(request, dict):
            return {"success": False, "ret_msg": "error:invalid json", "conn_id": conn.conn_id}
        op, req_id, args = request.get("op"), request.get("req_id"), request.get("args") or []
        self._log(op, args)
        reply: dict[str, Any] = {"success": True, "ret_msg": "", "conn_id": conn.conn_id}
        if req_id is not None:
            reply["req_id"] = req_id
        reply["op"] = op
        if op == "ping":
            return reply | {"ret_msg": "pong"}
        if op not in ("subscribe", "unsubscribe") or not isinstance(args, list):
            return reply | {"success": False, "ret_msg": f"error:handler not found,op:{op}"}
        for topic in args:
            if not isinstance(topic, str) or not _topic_of(topic, conn.category):
                return reply | {
                    "success": False,
                    "ret_msg": f"error:handler not found,topic:{topic}",
                }
            if op == "subscribe" and topic in conn.topics:
                return reply | {
                    "success": False,
                    "ret_msg": f"error:already subscribed,topic:{topic}",
                }
        if op == "subscribe":
            conn.topics.update(args)
        else:
            conn.topics.difference_update(args)
            conn.snapshot_sent.difference_update(args)
        return reply


def _topic_of(topic: str, category: str) -> bool:
    name, _, symbol = topic.partition(".")
    return name == "tickers" and symbol.isalnum() and symbol.isupper() and category in _CATEGORIES


def running_fake_bybit_streams() -> FakeBybitStreams:
    """A fake stream server for a ``with`` block (started on entry, stopped on exit)."""
    return FakeBybitStreams()
