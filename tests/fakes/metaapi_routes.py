"""The MetaApi fake's HTTP endpoints: provisioning (account record, domain look-up) and the
client API (account, positions, orders, paged history, symbols, trade), each answered the
way MetaApi documents it. State and switches live on :class:`~tests.fakes.metaapi.FakeMetaApi`.
"""

from __future__ import annotations

import hmac
import json
import threading
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.metaapi_rules import TradeRefused
from tests.fakes.metaapi_state import FakeAccount
from tests.fakes.metaapi_wire import (
    PREFIX,
    deal_json,
    error_body,
    iso,
    json_response,
    page_params,
    parse_time,
    trade_problem,
    validation_error,
)

if TYPE_CHECKING:
    from tests.fakes.metaapi import FakeMetaApi

CLIENT_HOST = "mt-client-api-v1"
SUCCESS = frozenset({0, 10008, 10009, 10010, 10025})


class MetaApiRoutes:
    """The Starlette routes of one :class:`FakeMetaApi`."""

    def __init__(self, fake: FakeMetaApi) -> None:
        self.fake = fake

    @property
    def lock(self) -> threading.RLock:
        return self.fake.broker.lock

    def app(self) -> Starlette:
        base = PREFIX + "{account_id}"
        routes = [
            Route("/users/current/servers/mt-client-api", self._servers),
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

    def _token_problem(self, request: Request) -> Response | None:
        token = request.headers.get("auth-token")
        with self.lock:
            self.fake.seen_tokens.append(token)
            expected = self.fake.token
        if token is None or not hmac.compare_digest(token.encode(), expected.encode()):
            return json_response(
                401,
                error_body(
                    "UnauthorizedError",
                    "Authorization failed. Please check your auth-token header value",
                ),
            )
        return None

    def _authorise(self, request: Request, *, client_api: bool = True) -> FakeAccount | Response:
        problem = self._token_problem(request)
        if problem is not None:
            return problem
        account = self.fake.accounts.get(request.path_params["account_id"])
        if account is not None and client_api and not self._right_region(request, account):
            account = None  # another region's servers do not know the account
        if account is None:
            return json_response(
                404, error_body("NotFoundError", "Trading account not found or not deployed")
            )
        return account

    def _right_region(self, request: Request, account: FakeAccount) -> bool:
        """A client API host names its region; a bare address (tests) is any region."""
        host = (request.headers.get("host") or "").split(":")[0].lower()
        suffix = f".{self.fake.domain}".lower()
        if not host.startswith(CLIENT_HOST + ".") or not host.endswith(suffix):
            return True
        return host[len(CLIENT_HOST) + 1 : -len(suffix)] == account.region

    async def _servers(self, request: Request) -> Response:
        problem = self._token_problem(request)
        if problem is not None:
            return problem
        return json_response(200, {"hostname": CLIENT_HOST, "domain": self.fake.domain})

    async def _account_record(self, request: Request) -> Response:
        account = self._authorise(request, client_api=False)
        if isinstance(account, Response):
            return account
        return json_response(
            200,
            {
                "_id": account.id,
                "name": f"fake {account.id}",
                "login": "1234567",
                "server": "FakeBroker-Demo",
                "platform": account.platform,
                "type": "cloud-g2",
                "region": account.region,
                "reliability": "regular",
                "state": account.state,
                "connectionStatus": account.connection_status,
            },
        )

    async def _account_information(self, request: Request) -> Response:
        account = self._authorise(request)
        if isinstance(account, Response):
            return account
        with self.lock:
            equity, margin = self.fake.broker.equity_and_margin(account)
            info: dict[str, Any] = {
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
                "investorMode": account.investor_mode,
                "name": "Fake Trader",
                "login": 1234567,
                "credit": 0,
                "type": "ACCOUNT_TRADE_MODE_DEMO",
            }
            if account.platform == "mt5":  # MT4 has no margin modes: it always hedges
                info["marginMode"] = account.margin_mode
            return json_response(200, {k: v for k, v in info.items() if v is not None})

    async def _positions(self, request: Request) -> Response:
        account = self._authorise(request)
        if isinstance(account, Response):
            return account
        with self.lock:
            items = [self.fake.broker.position_json(account, p) for p in account.positions.values()]
        return json_response(200, items)

    async def _position(self, request: Request) -> Response:
        account = self._authorise(request)
        if isinstance(account, Response):
            return account
        with self.lock:
            position = account.positions.get(request.path_params["item_id"])
            if position is None:
                return json_response(404, error_body("NotFoundError", "Position not found"))
            return json_response(200, self.fake.broker.position_json(account, position))

    async def _orders(self, request: Request) -> Response:
        account = self._authorise(request)
        if isinstance(account, Response):
            return account
        with self.lock:
            items = [self.fake.broker.order_json(account, o) for o in account.orders.values()]
        return json_response(200, items)

    async def _order(self, request: Request) -> Response:
        account = self._authorise(request)
        if isinstance(account, Response):
            return account
        with self.lock:
            order = account.orders.get(request.path_params["item_id"])
            if order is None:
                return json_response(404, error_body("NotFoundError", "Order not found"))
            return json_response(200, self.fake.broker.order_json(account, order))

    def _history_window(
        self, request: Request
    ) -> tuple[FakeAccount, datetime, datetime, int, int] | Response:
        account = self._authorise(request)
        if isinstance(account, Response):
            return account
        start = parse_time(request.path_params["start"])
        end = parse_time(request.path_params["end"])
        if start is None or end is None:
            return validation_error("startTime", "start and end must be ISO times")
        paging = page_params(request)
        if isinstance(paging, str):
            return validation_error("limit", paging)
        return account, start, end, *paging

    async def _history_orders(self, request: Request) -> Response:
        window = self._history_window(request)
        if isinstance(window, Response):
            return window
        account, start, end, offset, limit = window
        with self.lock:
            found = [] if self.fake.history_lagging else account.history_orders
            matching = sorted(
                (o for o in found if start <= (o.done_time or o.time) < end),
                key=lambda o: o.done_time or o.time,
            )
            items = [
                self.fake.broker.order_json(account, o) for o in matching[offset : offset + limit]
            ]
        return json_response(200, items)

    async def _history_deals(self, request: Request) -> Response:
        window = self._history_window(request)
        if isinstance(window, Response):
            return window
        account, start, end, offset, limit = window
        with self.lock:
            found = [] if self.fake.history_lagging else account.deals
            matching = sorted((d for d in found if start <= d.time < end), key=lambda d: d.time)
            items = [deal_json(account, d) for d in matching[offset : offset + limit]]
        return json_response(200, items)

    async def _specification(self, request: Request) -> Response:
        account = self._authorise(request)
        if isinstance(account, Response):
            return account
        with self.lock:
            spec = account.symbols.get(request.path_params["symbol"])
            if spec is None:
                return json_response(404, error_body("NotFoundError", "Symbol not found"))
            return json_response(
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
        with self.lock:
            spec = account.symbols.get(request.path_params["symbol"])
            if spec is None:
                return json_response(404, error_body("NotFoundError", "Symbol not found"))
            now = self.fake.clock()
            return json_response(
                200,
                {
                    "symbol": spec.name,
                    "bid": spec.bid,
                    "ask": spec.ask,
                    "profitTickValue": spec.tick_value,
                    "lossTickValue": spec.tick_value,
                    "time": iso(now),
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
            return json_response(400, error_body("ValidationError", "Request body is not JSON"))
        if not isinstance(body, dict):
            return json_response(400, error_body("ValidationError", "Validation failed"))
        with self.lock:
            self.fake.trade_bodies.append(body)
        problem = trade_problem(body)
        if problem:
            return validation_error(*problem)
        for hook in self.fake.take_trade_hooks():
            hook()
        forced = request.scope.get("fake_result")
        if forced is not None:
            return self._trade_answer(forced)
        with self.lock:
            try:
                result = self.fake.broker.execute(account, body)
            except TradeRefused as refused:
                return self._trade_answer(refused.result)
        return json_response(200, result)

    def _trade_answer(self, result: dict[str, Any]) -> Response:
        if self.fake.trade_error_status == 200 or result.get("numericCode") in SUCCESS:
            return json_response(200, result)
        message = str(result.get("message") or "Trade failed")
        codes = {"numericCode": result.get("numericCode"), "stringCode": result.get("stringCode")}
        return json_response(
            self.fake.trade_error_status, error_body("TradeError", message, **codes)
        )
