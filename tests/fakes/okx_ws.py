"""A loopback fake of OKX v5 public websocket channels (``tickers``), for ``ccxt.pro``.

Following OKX's v5 documentation, not our client:

- endpoints ``/ws/v5/public``, ``/ws/v5/business`` and ``/ws/v5/private``; ``tickers`` is a
  public channel;
- ``{"op": "subscribe", "args": [{"channel": "tickers", "instId": "BTC-USDT-SWAP"}]}``
  is answered, per argument, ``{"event": "subscribe", "arg": {..}, "connId": ..}`` (an
  ``id`` in the request is echoed); ``unsubscribe`` alike; a bad request gets
  ``{"event": "error", "code": "60012", "msg": "Invalid request: ..", "connId": ..}`` and an
  unknown instrument ``60018``;
- the text ``ping`` is answered with the text ``pong``; a connection with no message
  from the client for ``idle_seconds`` (30) is closed;
- pushes: ``{"arg": {"channel": "tickers", "instId": ..}, "data": [{"instType", "instId",
  "last", "lastSz", "askPx", "askSz", "bidPx", "bidSz", "open24h", "high24h", "low24h",
  "volCcy24h", "vol24h", "sodUtc0", "sodUtc8", "ts"}]}``, numbers as strings.

The server plumbing (connections, :meth:`~FakeOkxStreams.drop_connections`, the ``down``
switch, :meth:`~FakeOkxStreams.push`) is :mod:`tests.fakes.ws_server`'s.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.ws_server import WsConn, WsStreamServer, now_ms

_PUBLIC_CHANNELS = ("tickers",)


@dataclass
class _Conn(WsConn):
    access: str
    conn_id: str
    inst_ids: set[str] = field(default_factory=set)


def ticker_data(inst_id: str, last: Decimal, bid: Decimal, ask: Decimal) -> dict[str, Any]:
    now = str(now_ms())
    inst_type = "SWAP" if inst_id.endswith("-SWAP") else "SPOT"
    return {
        "instType": inst_type,
        "instId": inst_id,
        "last": str(last),
        "lastSz": "1",
        "askPx": str(ask),
        "askSz": "10",
        "bidPx": str(bid),
        "bidSz": "10",
        "open24h": str(last),
        "high24h": str(last),
        "low24h": str(last),
        "volCcy24h": "100",
        "vol24h": "10000",
        "sodUtc0": str(last),
        "sodUtc8": str(last),
        "ts": now,
    }


class FakeOkxStreams(WsStreamServer[_Conn]):
    """OKX v5 public websocket on 127.0.0.1 (start/stop or ``with``); :meth:`push`
    publishes a ticker of an instrument spelled ``BTC-USDT-SWAP``."""

    name = "fake OKX streams"

    def __init__(self, *, idle_seconds: float = 30.0) -> None:
        super().__init__()
        self.idle_seconds = idle_seconds

    @property
    def ws_url(self) -> str:
        """The v5 base (``wss://ws.okx.com:8443/ws/v5``); ccxt appends ``/public``."""
        return f"{self.base_url}/ws/v5"

    def _topics(self, conn: _Conn) -> set[str]:
        return conn.inst_ids

    async def _publish(self, inst_id: str, last: Decimal, bid: Decimal, ask: Decimal) -> int:
        data = ticker_data(inst_id, last, bid, ask)
        push = {"arg": {"channel": "tickers", "instId": inst_id}, "data": [data]}
        sent = 0
        for conn in self._live():
            if inst_id in conn.inst_ids:
                sent += await self._send(conn, push)
        return sent

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        if len(parts) != 3 or parts[:2] != ["ws", "v5"]:
            return web.Response(status=404, text="Not Found")
        if parts[2] not in ("public", "business", "private"):
            return web.Response(status=404, text="Not Found")
        if (refused := self._unavailable()) is not None:
            return refused
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        async with self._connected(
            _Conn(ws, request.transport, parts[2], uuid.uuid4().hex[:8])
        ) as conn:
            while True:
                try:
                    msg = await ws.receive(timeout=self.idle_seconds)
                except TimeoutError:
                    break  # OKX closes a connection that sent nothing for 30 seconds
                if msg.type != WSMsgType.TEXT:
                    break
                if msg.data == "ping":
                    await ws.send_str("pong")
                    continue
                for reply in self._answer(conn, msg.data):
                    await ws.send_str(json.dumps(reply))
        return ws

    def _answer(self, conn: _Conn, text: str) -> list[dict[str, Any]]:
        def error(code: str, msg: str) -> list[dict[str, Any]]:
            return [{"event": "error", "code": code, "msg": msg, "connId": conn.conn_id}]

        try:
            request = json.loads(text)
        except ValueError:
            return error("60012", f"Invalid request: {text[:100]}")
        if not isinstance(request, dict):
            return error("60012", f"Invalid request: {text[:100]}")
        op, args = request.get("op"), request.get("args")
        self._log(op, args)
        if op not in ("subscribe", "unsubscribe") or not isinstance(args, list) or not args:
            return error("60012", f"Invalid request: {text[:100]}")
        replies = []
        for arg in args:
            if not isinstance(arg, dict) or arg.get("channel") not in _PUBLIC_CHANNELS:
                return error("60012", f"Invalid request: {text[:100]}")
            inst_id = arg.get("instId")
            if not isinstance(inst_id, str) or not _inst_id(inst_id):
                return error(
                    "60018", f"Wrong URL or channel:tickers,instId:{inst_id} doesn't exist"
                )
            if conn.access != "public":
                return error("60018", "Wrong URL or channel:tickers doesn't exist")
            if op == "subscribe":
                conn.inst_ids.add(inst_id)
            else:
                conn.inst_ids.discard(inst_id)
            reply: dict[str, Any] = {"event": op, "arg": arg, "connId": conn.conn_id}
            if "id" in request:
                reply["id"] = request["id"]
            replies.append(reply)
        return replies


def _inst_id(value: str) -> bool:
    parts = value.split("-")
    return len(parts) in (2, 3) and all(p.isalnum() and p.isupper() for p in parts)


def running_fake_okx_streams(**kwargs: Any) -> FakeOkxStreams:
    """A fake stream server for a ``with`` block (started on entry, stopped on exit)."""
    return FakeOkxStreams(**kwargs)
