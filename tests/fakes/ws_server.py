"""The plumbing every loopback websocket fake of a venue's market streams shares.

:class:`WsStreamServer` is a :class:`~tests.fakes.aiohttp_thread.ThreadedAiohttpServer` that
keeps the live connections (under a lock, as tests read them from their own thread), counts
handshakes, logs requests, refuses handshakes with 503 while :attr:`~WsStreamServer.down`,
cuts every socket on :meth:`~WsStreamServer.drop_connections` and runs :meth:`push` on the
server's loop. A vendor's module keeps only its wire format: the paths, the replies to
(un)subscribing, the payloads, the limits and the pings.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, TypeVar

from aiohttp import web

from tests.fakes.aiohttp_thread import ThreadedAiohttpServer


def now_ms() -> int:
    """Wall-clock milliseconds, the unit every venue's push stamps its events in."""
    return int(time.time() * 1000)


@dataclass
class WsConn:
    """One client's socket; a vendor's connection adds what it subscribed to."""

    ws: web.WebSocketResponse
    transport: asyncio.BaseTransport | None


C = TypeVar("C", bound=WsConn)


class WsStreamServer(ThreadedAiohttpServer, Generic[C]):
    """Live connections, counters and the test-side controls of a websocket fake."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """No connections counted, no requests logged, serving (between tests)."""
        with self._lock:
            self._conns: list[C] = []
            #: websocket handshakes accepted, in all
            self.connections_opened = 0
            #: every request received: (method or op, its params or args)
            self.requests: list[tuple[str, list[Any]]] = []
            #: while True, handshakes are refused with 503 (the endpoint is unreachable)
            self.down = False
            self._reset_vendor()

    def _reset_vendor(self) -> None:
        """A vendor's own counters back to zero; called under the lock by :meth:`reset`."""

    # -- what tests read ---------------------------------------------------------------------

    @property
    def live_connections(self) -> int:
        with self._lock:
            return len(self._conns)

    def subscriptions(self) -> list[set[str]]:
        """What each live connection subscribed to."""
        with self._lock:
            return [set(self._topics(c)) for c in self._conns]

    def subscribed(self) -> set[str]:
        """Everything some live connection receives."""
        return set().union(*self.subscriptions())

    def _topics(self, conn: C) -> set[str]:
        raise NotImplementedError

    # -- what tests do -----------------------------------------------------------------------

    def push(
        self,
        symbol: str,
        last: Decimal | str,
        *,
        bid: Decimal | str | None = None,
        ask: Decimal | str | None = None,
    ) -> int:
        """Publish a price of ``symbol`` (in the venue's spelling) to every subscriber;
        returns how many messages were sent. Blocks until they are written."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the fake is not running")
        price = Decimal(last)
        best_bid = Decimal(bid) if bid is not None else price
        best_ask = Decimal(ask) if ask is not None else price
        publish = self._publish(symbol, price, best_bid, best_ask)
        return asyncio.run_coroutine_threadsafe(publish, loop).result(5)

    def drop_connections(self) -> int:
        """Cut every live socket without a close frame (a network drop); returns how many."""
        loop = self._loop
        if loop is None:
            return 0
        return asyncio.run_coroutine_threadsafe(self._drop(), loop).result(5)

    # -- for the vendor's server -------------------------------------------------------------

    def _publish(
        self, symbol: str, last: Decimal, bid: Decimal, ask: Decimal
    ) -> Coroutine[Any, Any, int]:
        raise NotImplementedError

    def _live(self) -> list[C]:
        with self._lock:
            return list(self._conns)

    def _log(self, op: object, params: object) -> None:
        with self._lock:
            self.requests.append((str(op), list(params) if isinstance(params, list) else []))

    def _unavailable(self) -> web.Response | None:
        """The 503 a handshake gets while the endpoint is :attr:`down`."""
        return web.Response(status=503, text="Service Unavailable") if self.down else None

    @staticmethod
    async def _send(conn: WsConn, body: Any) -> bool:
        """Send ``body`` as JSON; False when the socket is already gone."""
        with contextlib.suppress(ConnectionError, RuntimeError):
            await conn.ws.send_str(json.dumps(body))
            return True
        return False

    @contextlib.asynccontextmanager
    async def _connected(self, conn: C) -> AsyncIterator[C]:
        """Track and count ``conn`` while the block runs; forget and close it after."""
        with self._lock:
            self._conns.append(conn)
            self.connections_opened += 1
        try:
            yield conn
        finally:
            with self._lock:
                if conn in self._conns:
                    self._conns.remove(conn)
            await conn.ws.close()

    async def _drop(self) -> int:
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            if isinstance(conn.transport, asyncio.Transport):
                conn.transport.abort()
        return len(conns)
