"""The official ``stripe`` library, async, pointed at a configurable base URL, on our httpx.

:class:`KernelHttpClient` is the library's documented extension point (a subclass of
``stripe.HTTPClient``, the base its own ``HTTPXClient`` uses) carrying an
``httpx.AsyncClient`` built by the kernel's ``HttpClientFactory``: the SSRF guard, the
timeouts, the response cap, metrics and redaction apply to every call the library makes.
The library's own retries are off (``max_network_retries=0``); the kernel retries.

:class:`StripeApi` is the handful of calls the gateway makes, each returning the object
as a plain ``dict`` (``StripeObject.to_dict()``) and raising only our error tree.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Mapping
from datetime import datetime
from typing import Any, NoReturn

import httpx
import stripe

from signalbridge.integrations.errors import IntegrationError, TransientError
from signalbridge.payments.stripe.config import key_test_mode
from signalbridge.payments.stripe.errors import translate

__all__ = ["EVENT_PAGE_SIZE", "MAX_EVENT_PAGES", "KernelHttpClient", "StripeApi"]

JsonObject = dict[str, Any]

#: ``GET /v1/events``: ``limit`` is 1 to 100 (Stripe's list maximum).
EVENT_PAGE_SIZE = 100
#: Stripe keeps events 30 days; 200 pages of 100 is far beyond what one account sends.
MAX_EVENT_PAGES = 200


class KernelHttpClient(stripe.HTTPClient):
    """``stripe.HTTPClient`` over one kernel-built ``httpx.AsyncClient`` (async only).

    The library hands over its form-encoded body as text; it goes out as the request's
    content (``Content-Type`` is the library's). A failure of our own stack (the SSRF guard
    refusing an address, the size cap) is raised as the library's ``APIConnectionError``
    with ours as its cause, so :func:`~.errors.translate` passes ours on unchanged.
    """

    name = "httpx"

    def __init__(self, http: httpx.AsyncClient, *, owns_http: bool = True) -> None:
        super().__init__()
        self._http = http
        self._owns_http = owns_http

    @property
    def closed(self) -> bool:
        return self._http.is_closed

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        try:
            response = await self._http.request(
                method.upper(), url, headers=dict(headers), content=post_data or None
            )
        except (IntegrationError, httpx.HTTPError) as exc:
            self._fail(exc)
        return response.content, response.status_code, response.headers

    async def request_stream_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[AsyncIterator[bytes], int, Mapping[str, str]]:
        content, status, answer_headers = await self.request_async(method, url, headers, post_data)

        async def chunks() -> AsyncIterator[bytes]:
            yield content

        return chunks(), status, answer_headers

    def sleep_async(self, secs: float) -> Awaitable[None]:
        return asyncio.sleep(secs)

    async def close_async(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    def request(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise RuntimeError("the Stripe gateway is async only: use the *_async methods")

    def request_stream(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise RuntimeError("the Stripe gateway is async only: use the *_async methods")

    def close(self) -> None:
        """Nothing synchronous to close (see :meth:`close_async`)."""

    @staticmethod
    def _fail(exc: Exception) -> NoReturn:
        ours = isinstance(exc, IntegrationError)
        raise stripe.APIConnectionError(  # type: ignore[no-untyped-call]
            f"request to Stripe failed ({type(exc).__name__})", should_retry=not ours
        ) from exc


class StripeApi:
    """The Stripe calls the gateway makes; one per connection."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        http: httpx.AsyncClient,
        connection_id: str | None = None,
        stripe_version: str | None = None,
        owns_http: bool = True,
    ) -> None:
        self.connection_id = connection_id
        #: what the key's prefix says of the account (see :func:`.config.key_test_mode`)
        self.key_test_mode = key_test_mode(api_key)
        self._http_client = KernelHttpClient(http, owns_http=owns_http)
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": base_url, "files": base_url, "connect": base_url},
            stripe_version=stripe_version,
            max_network_retries=0,
            http_client=self._http_client,
        )

    def __repr__(self) -> str:
        return f"StripeApi(connection_id={self.connection_id!r})"

    @property
    def closed(self) -> bool:
        return self._http_client.closed

    async def aclose(self) -> None:
        await self._http_client.close_async()

    async def create_checkout_session(
        self, params: Mapping[str, Any], *, idempotency_key: str
    ) -> JsonObject:
        """``POST /v1/checkout/sessions`` under ``idempotency_key``."""
        return await self._call(
            self._client.v1.checkout.sessions.create_async(
                _params(params), {"idempotency_key": idempotency_key}
            )
        )

    async def create_portal_session(
        self, customer: str, return_url: str, *, idempotency_key: str
    ) -> JsonObject:
        """``POST /v1/billing_portal/sessions``: a member's hosted billing page."""
        return await self._call(
            self._client.v1.billing_portal.sessions.create_async(
                {"customer": customer, "return_url": return_url},
                {"idempotency_key": idempotency_key},
            )
        )

    async def retrieve_balance(self) -> JsonObject:
        """``GET /v1/balance``: the cheapest authenticated read (the connection test)."""
        return await self._call(self._client.v1.balance.retrieve_async())

    async def retrieve_checkout_session(self, session_id: str) -> JsonObject:
        return await self._call(self._client.v1.checkout.sessions.retrieve_async(session_id))

    async def retrieve_subscription(self, subscription_id: str) -> JsonObject:
        return await self._call(self._client.v1.subscriptions.retrieve_async(subscription_id))

    async def retrieve_invoice(self, invoice_id: str) -> JsonObject:
        """The invoice with its ``payments`` (an includable field: only when expanded)."""
        params = {"expand": ["payments"]}
        return await self._call(
            self._client.v1.invoices.retrieve_async(invoice_id, _params(params))
        )

    async def retrieve_payment_intent(self, intent_id: str) -> JsonObject:
        """The PaymentIntent with its latest charge's balance transaction (the fee)."""
        params = {"expand": ["latest_charge.balance_transaction"]}
        return await self._call(
            self._client.v1.payment_intents.retrieve_async(intent_id, _params(params))
        )

    async def retrieve_charge(self, charge_id: str) -> JsonObject:
        """The charge with its balance transaction (the fee Stripe took)."""
        params = {"expand": ["balance_transaction"]}
        return await self._call(self._client.v1.charges.retrieve_async(charge_id, _params(params)))

    async def events(self, since: datetime, types: tuple[str, ...]) -> list[JsonObject]:
        """Every event of ``types`` created at or after ``since``, oldest first.

        ``GET /v1/events`` answers newest first; pages follow ``starting_after`` (the last
        id of the page) while ``has_more``. The whole window is read, then reversed.
        """
        newest_first: list[JsonObject] = []
        params: dict[str, Any] = {
            "created": {"gte": int(since.timestamp())},
            "limit": EVENT_PAGE_SIZE,
            "types": list(types),
        }
        for _ in range(MAX_EVENT_PAGES):
            page = await self._call(self._client.v1.events.list_async(_params(params)))
            data = [item for item in page.get("data") or [] if isinstance(item, dict)]
            newest_first.extend(data)
            if not page.get("has_more") or not data:
                return newest_first[::-1]
            last = data[-1].get("id")
            if not isinstance(last, str) or not last:
                raise TransientError(
                    "Stripe listed an event without an id; cannot page on",
                    connection_id=self.connection_id,
                )
            params["starting_after"] = last
        raise TransientError(
            f"Stripe listed more than {MAX_EVENT_PAGES * EVENT_PAGE_SIZE} events since "
            f"{since.isoformat()}; reconcile a shorter window",
            connection_id=self.connection_id,
        )

    async def _call(self, call: Awaitable[Any]) -> JsonObject:
        try:
            answer = await call
        except stripe.StripeError as exc:
            raise translate(exc, connection_id=self.connection_id) from None
        if isinstance(answer, stripe.StripeObject):
            return answer.to_dict()
        raise TransientError(
            f"Stripe answered with a {type(answer).__name__}, not an object",
            connection_id=self.connection_id,
        )


def _params(params: Mapping[str, Any]) -> Any:
    """Our plain dict where the library's ``TypedDict`` params are declared."""
    return dict(params)
