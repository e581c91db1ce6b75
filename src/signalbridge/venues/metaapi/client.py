"""Thin async REST client for one MetaApi MetaTrader account.

The official SDK trades over socket.io against hard-coded https hosts, so it cannot be
pointed at a loopback fake; this client speaks the documented REST endpoints instead. Its
host is the account's region's (found through provisioning as the SDK finds it, see
:mod:`.hosts`) unless a base URL is configured. It returns the JSON as parsed (numbers as
``Decimal``), reads history page by page, and raises only our error tree. No retries here:
the integration kernel wraps adapter calls.

The ``auth-token`` header is added per request (so a shared, factory-built
``httpx.AsyncClient`` can be injected) and scrubbed from every error message.
"""

from __future__ import annotations

import asyncio
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
from signalbridge.venues.metaapi.errors import (
    Resource,
    accepted_error,
    http_error,
    transport_error,
)
from signalbridge.venues.metaapi.hosts import HOST_TTL, client_api_url, domain_of, region_of

DEFAULT_PROVISIONING_URL = "https://mt-provisioning-api-v1.agiliumtrade.agiliumtrade.ai"
DEFAULT_TIMEOUT = 30.0
#: History endpoints: ``limit`` is at most 1,000 (and that is the default), paged by ``offset``.
PAGE_SIZE = 1000
MAX_PAGES = 100

JsonObject = dict[str, Any]


class MetaApiClient:
    """REST calls for one account; one instance per connection, shareable across tasks."""

    def __init__(
        self,
        *,
        account_id: str,
        token: str,
        base_url: str | None = None,
        provisioning_url: str | None = DEFAULT_PROVISIONING_URL,
        region: str | None = None,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        trade_timeout: float | None = None,
        connection_id: str | None = None,
        clock: Callable[[], datetime] | None = None,
        owns_http: bool | None = None,
    ) -> None:
        """Without ``base_url`` the host is the account's region's, looked up through
        ``provisioning_url`` (``region`` overrides the account record's). ``http`` is closed
        by :meth:`aclose` only when ``owns_http`` (default: when this client built it), so a
        shared client survives and a per-connection one does not leak."""
        if not account_id or not token:
            raise ValueError("MetaApi needs an account id and a token")
        self.account_id = account_id
        self.connection_id = connection_id
        self._token = token
        self._base = base_url.rstrip("/") if base_url else None
        self._provisioning = provisioning_url.rstrip("/") if provisioning_url else None
        self._region = region
        self._found: tuple[str, datetime] | None = None  # the region's host, and when
        self._finding = asyncio.Lock()
        self._owns_http = http is None if owns_http is None else owns_http
        self._http = http or httpx.AsyncClient(transport=transport, timeout=timeout)
        self._timeout = httpx.Timeout(timeout)
        self._trade_timeout = httpx.Timeout(trade_timeout or timeout)
        self._clock = clock or (lambda: datetime.now(UTC))

    def __repr__(self) -> str:
        base = self._base or (self._found[0] if self._found else None)
        return f"MetaApiClient(account_id={self.account_id!r}, base_url={base!r})"

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
        return await self._get_pages(f"/history-orders/time/{_iso(start)}/{_iso(end)}")

    async def history_deals(self, start: datetime, end: datetime) -> list[JsonObject]:
        return await self._get_pages(f"/history-deals/time/{_iso(start)}/{_iso(end)}")

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

    async def client_api_base(self) -> str:
        """The client API's base URL: the configured one, else the account's region's host
        (looked up once, and again after :data:`~.hosts.HOST_TTL`)."""
        if self._base is not None:
            return self._base
        async with self._finding:
            now = self._clock()
            if self._found is not None and now - self._found[1] < HOST_TTL:
                return self._found[0]
            if self._provisioning is None:
                raise InvalidRequest(
                    "MetaApi needs a base_url, or a provisioning URL to find the region of "
                    f"account {self.account_id}",
                    connection_id=self.connection_id,
                )
            region = self._region
            if region is None:
                record = await self.account_state()
                region = region_of(record or {}, self.account_id)
            settings = await self._request(
                "GET", f"{self._provisioning}/users/current/servers/mt-client-api", Resource.ACCOUNT
            )
            domain = domain_of(_expect_object(settings, self.connection_id))
            found = client_api_url(self._provisioning, region, domain)
            self._found = (found, now)
            return found

    # --- trade -------------------------------------------------------------------------

    async def trade(self, body: Mapping[str, Any]) -> JsonObject:
        """POST a MetatraderTrade; returns the MetatraderTradeResponse as is.

        HTTP and transport failures are translated here (a failure after sending is
        :class:`AmbiguousOutcome`); the caller judges the return code in the response.
        """
        url = await self._account_url("/trade")
        data = await self._request("POST", url, Resource.TRADE, body=body, trade=True)
        return _expect_object(data, self.connection_id)

    # --- plumbing ----------------------------------------------------------------------

    async def _account_url(self, suffix: str) -> str:
        base = await self.client_api_base()
        return f"{base}/users/current/accounts/{_seg(self.account_id)}{suffix}"

    async def _get_object(self, suffix: str, resource: Resource) -> JsonObject:
        data = await self._request("GET", await self._account_url(suffix), resource)
        return _expect_object(data, self.connection_id)

    async def _get_pages(self, suffix: str) -> list[JsonObject]:
        """Every item of a paged history endpoint: pages of ``PAGE_SIZE`` until a short one."""
        items: list[JsonObject] = []
        for _ in range(MAX_PAGES):
            params = {"offset": str(len(items)), "limit": str(PAGE_SIZE)}
            page = await self._get_list(suffix, Resource.ACCOUNT, params=params)
            items.extend(page)
            if len(page) < PAGE_SIZE:
                return items
        raise TransientError(
            f"MetaApi history holds more than {MAX_PAGES * PAGE_SIZE} items in the window; "
            "shorten history_days",
            connection_id=self.connection_id,
        )

    async def _get_list(
        self, suffix: str, resource: Resource, *, params: Mapping[str, str] | None = None
    ) -> list[JsonObject]:
        url = await self._account_url(suffix)
        data = await self._request("GET", url, resource, params=params)
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
        params: Mapping[str, str] | None = None,
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
                params=params,
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
        body_map = parsed if isinstance(parsed, dict) else None
        if response.status_code == 202:
            raise self._scrubbed(
                accepted_error(
                    response.headers,
                    body_map,
                    resource=resource,
                    connection_id=self.connection_id,
                    now=self._clock,
                )
            )
        if response.status_code >= 400:
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
