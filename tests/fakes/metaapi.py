"""A loopback MetaApi: the REST endpoints SignalBridge uses, served by uvicorn on 127.0.0.1.

It holds MetaTrader accounts (:mod:`tests.fakes.metaapi_broker` trades them) and answers
like MetaApi's documentation and official SDK (metaapi-cloud-sdk 29.x) say:

- provisioning: the account record with its ``region``, and the domain look-up
  ``GET /users/current/servers/mt-client-api`` → ``{hostname, domain}``; a request that
  reaches the client API as ``mt-client-api-v1.<region>.<domain>`` for another region
  than the account's is answered 404 (tests resolve those names to loopback);
- history orders and deals paged with ``offset`` and ``limit`` (default and maximum 1000);
- ``clientId`` in the documented ``<strategy>_<position>_<order>`` form (anything else is
  a 400 ValidationError), kept on stop-loss and take-profit closes with the order part
  replaced by the MT order id;
- faults injected per request: 5xx/409 bursts, 429 with ``Retry-After`` and
  ``metadata.recommendedRetryTime``, 202 with ``retry-after`` ("try again later"), a slow
  response, accept-then-drop (the trade executes, then the connection is cut), trade
  errors in a non-2xx body, and a hook that runs just before the next trade.

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
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import uvicorn

from tests.fakes.metaapi_broker import FakeBroker
from tests.fakes.metaapi_routes import CLIENT_HOST, MetaApiRoutes
from tests.fakes.metaapi_state import (
    EXCHANGE,
    HEDGING,
    NETTING,
    FakeAccount,
    FakeDeal,
    FakeOrder,
    FakePosition,
    FakeSymbol,
    default_symbols,
)
from tests.fakes.metaapi_wire import (
    abort_connection,
    error_body,
    iso,
    route_name,
    send_json,
)

__all__ = [
    "EXCHANGE",
    "HEDGING",
    "NETTING",
    "FakeAccount",
    "FakeBroker",
    "FakeDeal",
    "FakeMetaApi",
    "FakeOrder",
    "FakePosition",
    "FakeSymbol",
    "default_symbols",
]


@dataclass
class _Fault:
    kind: str  # status | rate | accepted | delay | drop | result
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


class FakeMetaApi:
    """MetaApi REST (client API, provisioning account record, domain look-up) on one port."""

    def __init__(
        self,
        token: str = "fake-metaapi-token",
        *,
        clock: Callable[[], datetime] | None = None,
        domain: str = "agiliumtrade.ai",
    ) -> None:
        if not token:
            raise ValueError("the fake needs a non-empty token to check against")
        self.token = token
        #: What the domain look-up answers: client API hosts are CLIENT_HOST.<region>.<domain>.
        self.domain = domain
        self.broker = FakeBroker(clock)
        self.requests: Counter[str] = Counter()
        self.trade_bodies: list[dict[str, Any]] = []
        self.seen_tokens: list[str | None] = []
        #: The Host header of every request, in order (which region host was called).
        self.seen_hosts: list[str] = []
        self._faults: list[_Fault] = []
        self._before_trade: list[Callable[[], None]] = []
        self._lock = self.broker.lock
        #: While true, history endpoints answer empty (MetaApi history syncs after the fact).
        self.history_lagging = False
        #: The HTTP status a refused trade is answered with: 200 carries the
        #: MetatraderTradeResponse; anything else a TradeError body with its codes.
        self.trade_error_status = 200
        self._in_flight: Counter[str] = Counter()
        #: Most requests per route handled at the same time (checks client concurrency bounds).
        self.max_in_flight: Counter[str] = Counter()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self.app = MetaApiRoutes(self).app()

    # -- lifecycle

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    def client_api_host(self, region: str) -> str:
        return f"{CLIENT_HOST}.{region}.{self.domain}"

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
        """See :meth:`FakeBroker.add_account` (``region``, ``margin_mode``, ...)."""
        return self.broker.add_account(account_id, **kwargs)

    def set_price(
        self, account_id: str, symbol: str, bid: Decimal, ask: Decimal | None = None
    ) -> None:
        self.broker.set_price(account_id, symbol, bid, ask)

    def add_history(self, account_id: str, count: int, *, at: datetime, symbol: str) -> None:
        """``count`` closed trades of someone else at ``at`` (fills history pages)."""
        self.broker.add_history(account_id, count, at=at, symbol=symbol)

    def close_by_hand(self, account_id: str, volume: Decimal | None = None) -> None:
        """The trader closes (``volume`` of) the account's first position in the terminal:
        a deal with reason ``DEAL_REASON_CLIENT`` and an order without our clientId."""
        with self._lock:
            account = self.broker.accounts[account_id]
            position = next(iter(account.positions.values()))
            self.broker.close(
                account, position, volume or position.volume, None, reason="DEAL_REASON_CLIENT"
            )

    def set_omitted_levels(self, mode: Literal["keep", "remove"]) -> None:
        """What a POSITION_MODIFY without stopLoss/takeProfit does to that level."""
        with self._lock:
            self.broker.omitted_levels = mode

    def set_report_position_id(self, report: bool) -> None:
        """Whether a market order's result carries ``positionId`` (MetaApi may omit it)."""
        with self._lock:
            self.broker.report_position_id = report

    def reset(self) -> None:
        """Accounts as added, and no faults, switches, counters or recorded requests."""
        with self._lock:
            self.broker.reset()
            self._faults.clear()
            self._before_trade.clear()
            self.requests.clear()
            self.trade_bodies.clear()
            self.seen_tokens.clear()
            self.seen_hosts.clear()
            self.max_in_flight.clear()
            self.history_lagging = False
            self.trade_error_status = 200

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
        result = {"error": error, "message": message}
        self._add_fault(_Fault("status", count, path, method, status=status, result=result))

    def rate_limit_next(
        self, count: int = 1, *, retry_after: float = 3, path: str | None = None
    ) -> None:
        self._add_fault(_Fault("rate", count, path, None, seconds=retry_after))

    def accepted_next(
        self, count: int = 1, *, retry_after: float = 5, path: str | None = None
    ) -> None:
        """The next ``count`` matching requests answer 202 with ``retry-after`` (seconds)
        and a ``{status, message}`` body, unhandled: the answer is not ready, ask again."""
        self._add_fault(_Fault("accepted", count, path, None, seconds=retry_after))

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

    def before_next_trade(self, action: Callable[[], None]) -> None:
        """Run ``action`` (e.g. a ``set_price`` that fills an order) just before the next
        trade request is executed: the venue changing between a client's read and write."""
        with self._lock:
            self._before_trade.append(action)

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

    def take_trade_hooks(self) -> list[Callable[[], None]]:
        """The actions :meth:`before_next_trade` queued (the routes run them once)."""
        with self._lock:
            hooks, self._before_trade = self._before_trade, []
        return hooks

    def deals_of(self, account_id: str) -> list[FakeDeal]:
        with self._lock:
            return list(self.accounts[account_id].deals)

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
        route = route_name(scope["path"])
        host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
        with self._lock:
            self.requests[route] += 1
            self.seen_hosts.append(host)
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
            body = error_body(str(info.get("error")), str(info.get("message")))
            await send_json(send, fault.status, body)
            return
        if fault.kind == "rate":
            retry_at = self.clock() + timedelta(seconds=fault.seconds)
            body = error_body(
                "TooManyRequestsError",
                "The API allows 1000 cpu credits per 1s. Please wait and retry.",
                metadata={"recommendedRetryTime": iso(retry_at)},
            )
            headers = [(b"retry-after", str(int(fault.seconds)).encode())]
            await send_json(send, 429, body, headers)
            return
        if fault.kind == "accepted":
            body = {"status": "processing", "message": "The request is being processed"}
            headers = [(b"retry-after", f"{fault.seconds:g}".encode())]
            await send_json(send, 202, body, headers)
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
        abort_connection(send)
