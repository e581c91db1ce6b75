"""Thin async REST client for one MetaApi MetaTrader account.

The official SDK trades over socket.io against hard-coded https hosts, so it cannot be
pointed at a loopback fake; this client speaks the documented REST endpoints with a
configurable base URL instead. It returns the JSON as parsed (numbers as ``Decimal``) and
raises only our error tree. No retries here: the integration kernel wraps adapter calls.

The ``auth-token`` header is added per request (so a shared, factory-built
``httpx.AsyncClient`` can be injected) and scrubbed from every error message.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

from signalbridge.integrations.bounded import ResponseDeadlineExceeded
from signalbridge.integrations.errors import (
    AmbiguousOutcome,
    IntegrationError,
    InvalidRequest,
    TransientError,
)
from signalbridge.venues.metaapi.errors import Resource, http_error, transport_error

DEFAULT_BASE_URL = "https://mt-client-api-v1.new-york.agiliumtrade.ai"
DEFAULT_PROVISIONING_URL = "https://mt-provisioning-api-v1.agiliumtrade.agiliumtrade.ai"
DEFAULT_TIMEOUT = 30.0

JsonObject = dict[str, Any]


class MetaApiClient:
    """REST calls for one account; one instance per connection, shareable across tasks."""

    def __init__(
        self,
        *,
        account_id: str,
        token: str,
        base_url: str = DEFAULT_BASE_URL,
        provisioning_url: str | None = DEFAULT_PROVISIONING_URL,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        trade_timeout: float | None = None,
        connection_id: str | None = None,
        clock: Callable[[], datetime] | None = None,
        owns_http: bool | None = None,
    ) -> None:
        """``http`` is closed by :meth:`aclose` only when ``owns_http`` (default: when this
        client built it), so a shared client survives and a per-connection one does not leak."""
        if not account_id or not token:
            raise ValueError("MetaApi needs an account id and a token")
        self.account_id = account_id
        self.connection_id = connection_id
        self._token = token
        self._base = base_url.rstrip("/")
        self._provisioning = provisioning_url.rstrip("/") if provisioning_url else None
        self._owns_http = http is None if owns_http is None else owns_http
        self._http = http or httpx.AsyncClient(transport=transport, timeout=timeout)
        self._timeout = httpx.Timeout(timeout)
        self._trade_timeout = httpx.Timeout(trade_timeout or timeout)
        self._clock = clock or (lambda: datetime.now(UTC))

    def __repr__(self) -> str:
        return f"MetaApiClient(account_id={self.account_id!r}, base_url={self._base!r})"

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    @property
    def http_closed(self) -> bool:
        """Whether the HTTP client it calls through is closed (a per-connection one must be
        after :meth:`aclose`, a shared one must not)."""
        return self._http.is_closed

    # --- reads -------------------------------------------------------------------------

    async def account_information(self) -> JsonObject:
        return await self._get_object("/account-information", Resource.ACCOUNT)

    async def positions(self) -> list[JsonObject]:
        return await self._get_list("/positions", Resource.ACCOUNT)

    async def position(self, position_id: str) -> JsonObject:
        return await self._get_object(f"/positions/{_seg(position_id)}", Resource.POSITION)

    async def orders(self) -> list[JsonObject]:
        return await self._get_list("/orders", Resource.ACCOUNT)

    async def order(self, order_id: str) -> JsonObject:
        return await self._get_object(f"/orders/{_seg(order_id)}", Resource.ORDER)

    async def history_orders(self, start: datetime, end: datetime) -> list[JsonObject]:
        return await self._get_list(
            f"/history-orders/time/{_iso(start)}/{_iso(end)}", Resource.ACCOUNT
        )

    async def history_deals(self, start: datetime, end: datetime) -> list[JsonObject]:
        return await self._get_list(
            f"/history-deals/time/{_iso(start)}/{_iso(end)}", Resource.ACCOUNT
        )

    async def symbol_specification(self, symbol: str) -> JsonObject:
        return await self._get_object(f"/symbols/{_seg(symbol)}/specification", Resource.SYMBOL)

    async def current_price(self, symbol: str) -> JsonObject:
        return await self._get_object(f"/symbols/{_seg(symbol)}/current-price", Resource.SYMBOL)

    async def account_state(self) -> JsonObject | None:
        """Provisioning record (``state``, ``connectionStatus``); ``None`` when not configured."""
        if self._provisioning is None:
            return None
        url = f"{self._provisioning}/users/current/accounts/{_seg(self.account_id)}"
        data = await self._request("GET", url, Resource.ACCOUNT)
        return _expect_object(data, self.connection_id)

    # --- trade -------------------------------------------------------------------------

    async def trade(self, body: Mapping[str, Any]) -> JsonObject:
        """POST a MetatraderTrade; returns the MetatraderTradeResponse as is.

        HTTP and transport failures are translated here (a failure after sending is
        :class:`AmbiguousOutcome`); the caller judges the return code in the response.
        """
        data = await self._request(
            "POST", self._account_url("/trade"), Resource.TRADE, body=body, trade=True
        )
        return _expect_object(data, self.connection_id)

    # --- plumbing ----------------------------------------------------------------------

    def _account_url(self, suffix: str) -> str:
        return f"{self._base}/users/current/accounts/{_seg(self.account_id)}{suffix}"

    async def _get_object(self, suffix: str, resource: Resource) -> JsonObject:
        data = await self._request("GET", self._account_url(suffix), resource)
        return _expect_object(data, self.connection_id)

    async def _get_list(self, suffix: str, resource: Resource) -> list[JsonObject]:
        data = await self._request("GET", self._account_url(suffix), resource)
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise TransientError(
                "MetaApi returned an unexpected body (expected a list)",
                connection_id=self.connection_id,
            )
        return data

    async def _request(
        self,
        method: str,
        url: str,
        resource: Resource,
        *,
        body: Mapping[str, Any] | None = None,
        trade: bool = False,
    ) -> Any:
        headers = {"auth-token": self._token, "accept": "application/json"}
        content: bytes | None = None
        if body is not None:
            headers["content-type"] = "application/json"
            content = encode_json(body).encode()
        try:
            response = await self._http.request(
                method,
                url,
                headers=headers,
                content=content,
                timeout=self._trade_timeout if trade else self._timeout,
            )
            raw = await response.aread()
        except httpx.HTTPError as exc:
            raise self._scrubbed(
                transport_error(exc, resource=resource, connection_id=self.connection_id)
            ) from None
        except InvalidRequest as exc:
            # The SSRF guard refused the address (or a body was over the cap).
            if exc.connection_id is None:
                exc.connection_id = self.connection_id
            raise self._scrubbed(exc) from None
        except TransientError as exc:
            # The kernel's total deadline: after a trade left, its outcome is unknown. A name
            # that did not resolve (the SSRF guard's lookup) sent nothing.
            if not trade or not isinstance(exc, ResponseDeadlineExceeded):
                raise self._scrubbed(exc) from None
            raise self._scrubbed(
                AmbiguousOutcome(
                    f"MetaApi trade outcome unknown ({exc.message}); look the order up by "
                    "client id before retrying",
                    connection_id=self.connection_id,
                )
            ) from None
        parsed = _parse_json(raw)
        if response.status_code >= 400:
            body_map = parsed if isinstance(parsed, dict) else None
            raise self._scrubbed(
                http_error(
                    response.status_code,
                    body_map,
                    response.headers,
                    resource=resource,
                    account_id=self.account_id,
                    connection_id=self.connection_id,
                    now=self._clock,
                )
            )
        if parsed is _INVALID:
            # A 2xx with a broken body: for a trade we cannot tell what happened.
            err = transport_error(
                httpx.DecodingError("invalid JSON"),
                resource=resource,
                connection_id=self.connection_id,
            )
            raise self._scrubbed(err)
        return parsed

    def _scrubbed(self, err: IntegrationError) -> IntegrationError:
        """Belt and braces: a server echoing the token must not put it in our messages."""
        if self._token in err.message:
            err.message = err.message.replace(self._token, "****")
            err.args = (err.message,)
        return err


_INVALID = object()


def _parse_json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw, parse_float=Decimal)
    except ValueError:
        return _INVALID


def _expect_object(data: Any, connection_id: str | None) -> JsonObject:
    if not isinstance(data, dict):
        raise TransientError(
            "MetaApi returned an unexpected body (expected an object)",
            connection_id=connection_id,
        )
    return data


def _seg(value: str) -> str:
    """One URL path segment: broker symbols may contain ``.``, ``#`` or ``/``."""
    return quote(str(value), safe="")


def _iso(when: datetime) -> str:
    """MetaApi's ISO form: UTC with milliseconds and ``Z``."""
    utc = when.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def encode_json(value: Any) -> str:
    """JSON with ``Decimal`` written as an exact number (``json`` would need a float)."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("cannot send a non-finite number")
        return format(value, "f")
    if isinstance(value, Mapping):
        items = (f"{json.dumps(str(k))}:{encode_json(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(encode_json(v) for v in value) + "]"
    return json.dumps(value)
