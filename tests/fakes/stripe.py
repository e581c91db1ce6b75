"""A loopback Stripe: the v1 API SignalBridge uses, and webhooks signed as Stripe signs them.

It answers like Stripe's documentation and the official library (stripe 16.x) expect:

- ``Authorization: Bearer sk_test_…`` on every API request, checked against the fake's
  key; a missing or wrong key is Stripe's 401 ``invalid_request_error`` (the key masked);
- form-encoded bodies and queries with bracket notation (``line_items[0][price]``,
  ``expand[]``), decoded by :mod:`tests.fakes.stripe_wire`;
- ``Idempotency-Key``: the first successful answer is stored and replayed for the same key
  and parameters with ``Idempotent-Replayed: true``; the same key with other parameters is
  400 ``idempotency_error``; a validation error is not stored (Stripe saves a result only
  once the endpoint began executing); keys longer than 255 characters are refused;
- errors as ``{"error": {"type", "code", "message", "param", …}}``, a ``Request-Id`` on
  every answer, faults injected per request (:meth:`FakeStripe.fail_next`: 429 with
  ``Retry-After``, 500 ``api_error``, …);
- Checkout Sessions (:mod:`tests.fakes.stripe_checkout`), subscriptions, invoices (with
  the includable ``payments``), payment intents, charges, balance transactions, refunds,
  disputes, customers, prices, ``expand[]`` up to four levels, ``GET /v1/events`` (newest
  first, ``created[gte|gt|lte|lt]``, ``types[]``, ``starting_after``/``ending_before``,
  ``limit`` ≤ 100, ``has_more``), billing-portal sessions and ``GET /v1/balance``.

The member's side is driven by the test (:meth:`FakeStripe.complete_checkout`,
:meth:`renew`, :meth:`cancel`, :meth:`refund`, :meth:`dispute`, :meth:`close_dispute`,
:meth:`expire_checkout`; or ``POST`` to the session's hosted URL). Every event lands in
``/v1/events`` and, for each webhook endpoint, as a signed :class:`Delivery`
(``Stripe-Signature: t=…,v1=…``, one ``v1`` per live secret while a secret is rolled),
which a test can read, re-sign, feed to ``verify_and_parse`` or POST to the endpoint's URL.

Usage (a ``stripe`` gateway row pointed at it needs loopback on the operator's allow-list,
see :mod:`tests.fakes.loopback`)::

    with FakeStripe() as fake:
        endpoint = fake.add_endpoint(url=".../webhooks/payments/1")
        config = {"api_key": fake.api_key, "webhook_secret": endpoint.secret,
                  "base_url": fake.base_url}
        checkout = await gateway.create_checkout(req)   # or the library directly
        fake.complete_checkout(checkout.provider_id)     # the member pays
        fake.deliver()          # POST the signed events (deliver_async: in-process app)
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import web

from tests.fakes.aiohttp_thread import ThreadedAiohttpServer
from tests.fakes.stripe_checkout import create_session
from tests.fakes.stripe_state import API_VERSION, StripeAccount
from tests.fakes.stripe_wire import StripeFail, decode_form, dumps, error_body, new_id, sign_payload

__all__ = ["Delivery", "FakeStripe", "SeenRequest", "WebhookEndpoint"]

DEFAULT_KEY = "sk_test_51FakeStripeKey0123456789abcdef"
MAX_IDEMPOTENCY_KEY = 255
_RETRIEVABLE = {
    "checkout/sessions": "checkout.session",
    "subscriptions": "subscription",
    "invoices": "invoice",
    "charges": "charge",
    "payment_intents": "payment_intent",
    "customers": "customer",
    "prices": "price",
    "balance_transactions": "balance_transaction",
    "disputes": "dispute",
    "refunds": "refund",
    "events": "event",
}
_RETRIEVE = re.compile(r"^/v1/(checkout/sessions|[a-z_]+)/([A-Za-z0-9_]+)$")
_HOSTED = re.compile(r"^/c/pay/(cs_[A-Za-z0-9_]+)$")


@dataclass(frozen=True)
class SeenRequest:
    """One request the fake received, decoded."""

    method: str
    path: str
    headers: dict[str, str]
    params: dict[str, Any]
    raw_body: str

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery: the exact bytes and headers Stripe would POST."""

    event_id: str
    type: str
    body: bytes
    headers: dict[str, str]
    signed_at: int

    @property
    def event(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.body)
        return loaded

    @property
    def signature(self) -> str:
        return self.headers["Stripe-Signature"]


@dataclass
class WebhookEndpoint:
    """An endpoint Stripe signs for: its secrets (newest first) and what is pending."""

    secrets: list[str]
    url: str | None = None
    enabled_events: tuple[str, ...] = ("*",)
    pending: list[Delivery] = field(default_factory=list)
    delivered: list[tuple[Delivery, int]] = field(default_factory=list)

    @property
    def secret(self) -> str:
        return self.secrets[0]

    def wants(self, type_: str) -> bool:
        return "*" in self.enabled_events or type_ in self.enabled_events

    def roll_secret(self, new: str | None = None) -> str:
        """Start a rotation: the new secret signs beside the old ones until they expire."""
        secret = new or new_id("whsec_", 32)
        self.secrets.insert(0, secret)
        return secret

    def expire_old_secrets(self) -> None:
        del self.secrets[1:]


@dataclass
class _Fault:
    status: int
    message: str
    type: str
    code: str | None
    headers: dict[str, str]
    path: str | None
    raw: str | None = None


@dataclass
class _Stored:
    fingerprint: str
    status: int
    body: bytes
    request_id: str


class FakeStripe(ThreadedAiohttpServer):
    """Start/stop (or ``with``) a loopback Stripe; drive it through its public methods."""

    name = "fake stripe"

    def __init__(self, api_key: str = DEFAULT_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.account = StripeAccount()
        self.requests: list[SeenRequest] = []
        self.endpoints: list[WebhookEndpoint] = []
        self._idempotent: dict[str, _Stored] = {}
        self._faults: list[_Fault] = []
        self._guard = threading.Lock()
        self.account.listeners.append(self._queue)

    # --- test controls --------------------------------------------------------------

    def add_endpoint(
        self,
        secret: str | None = None,
        *,
        url: str | None = None,
        enabled_events: tuple[str, ...] = ("*",),
    ) -> WebhookEndpoint:
        endpoint = WebhookEndpoint([secret or new_id("whsec_", 32)], url, enabled_events)
        self.endpoints.append(endpoint)
        return endpoint

    def fail_next(
        self,
        status: int,
        message: str = "Something went wrong on Stripe's end.",
        *,
        type_: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        path: str | None = None,
        times: int = 1,
        raw: str | None = None,
    ) -> None:
        """Answer the next ``times`` API requests (to ``path``, if given) with an error;
        ``raw`` replaces the JSON body (a proxy's HTML page, say)."""
        kind = type_ or {
            401: "invalid_request_error",
            402: "card_error",
            429: "invalid_request_error",
        }.get(status, "api_error" if status >= 500 else "invalid_request_error")
        if status == 429 and code is None:
            code = "rate_limit"
        for _ in range(times):
            self._faults.append(_Fault(status, message, kind, code, dict(headers or {}), path, raw))

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def now(self) -> int:
        return self.account.now

    def advance(self, seconds: int) -> int:
        with self.account.locked():
            self.account.now += seconds
            return self.account.now

    def object(self, object_id: str) -> dict[str, Any]:
        """A stored object as it is now (a copy)."""
        with self.account.locked():
            return copy.deepcopy(self.account.objects[object_id])

    def events(self, type_: str | None = None) -> list[dict[str, Any]]:
        with self.account.locked():
            return [
                copy.deepcopy(r.event)
                for r in self.account.events
                if type_ is None or r.type == type_
            ]

    def add_price(
        self,
        unit_amount: int,
        currency: str = "usd",
        *,
        interval: str | None = None,
        interval_count: int = 1,
    ) -> str:
        with self.account.locked():
            return str(
                self.account.add_price(
                    unit_amount, currency, interval=interval, interval_count=interval_count
                )["id"]
            )

    def add_customer(self, email: str | None = None) -> str:
        with self.account.locked():
            return str(self.account.add_customer(email)["id"])

    def complete_checkout(self, session_id: str) -> list[dict[str, Any]]:
        """The member pays: returns the events it caused, in Stripe's order."""
        return self._drive(lambda a: a.complete_checkout(session_id))

    def expire_checkout(self, session_id: str) -> dict[str, Any]:
        return self._drive(lambda a: a.expire_checkout(session_id))

    def renew(self, subscription_id: str, *, paid: bool = True) -> list[dict[str, Any]]:
        """The next period: its invoice paid, or failed (the subscription goes past_due)."""
        return self._drive(lambda a: a.renew(subscription_id, paid=paid))

    def cancel(self, subscription_id: str, *, at_period_end: bool = False) -> dict[str, Any]:
        return self._drive(lambda a: a.cancel(subscription_id, at_period_end=at_period_end))

    def refund(self, charge_id: str, amount: int | None = None) -> dict[str, Any]:
        return self._drive(lambda a: a.refund(charge_id, amount))

    def dispute(self, charge_id: str, reason: str = "fraudulent") -> dict[str, Any]:
        return self._drive(lambda a: a.dispute(charge_id, reason))

    def close_dispute(self, dispute_id: str, status: str = "lost") -> dict[str, Any]:
        return self._drive(lambda a: a.close_dispute(dispute_id, status))

    # --- webhooks -------------------------------------------------------------------

    def sign(
        self,
        event: dict[str, Any],
        *,
        at: int | None = None,
        secrets: list[str] | None = None,
        endpoint: WebhookEndpoint | None = None,
    ) -> Delivery:
        """``event`` as a delivery signed at ``at`` (default now) with the endpoint's secrets."""
        chosen = endpoint or (self.endpoints[0] if self.endpoints else None)
        keys = secrets if secrets is not None else (chosen.secrets if chosen else [])
        if not keys:
            raise ValueError("no webhook secret: add_endpoint() first or pass secrets")
        body = dumps(event)
        stamp = self.now if at is None else at
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": sign_payload(body, stamp, keys),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        return Delivery(str(event["id"]), str(event["type"]), body, headers, stamp)

    def deliveries(self, endpoint: WebhookEndpoint | None = None) -> list[Delivery]:
        """What is pending for ``endpoint`` (default the first), oldest first."""
        chosen = endpoint or self.endpoints[0]
        with self._guard:
            return list(chosen.pending)

    def deliver(self, endpoint: WebhookEndpoint | None = None) -> list[tuple[Delivery, int]]:
        """POST every pending delivery to the endpoint's URL, re-signed at the attempt's
        time as Stripe does; a non-2xx answer leaves it pending (to be retried)."""
        chosen = endpoint or self.endpoints[0]
        if chosen.url is None:
            raise ValueError("the endpoint has no url")
        results: list[tuple[Delivery, int]] = []
        with httpx.Client(timeout=10, trust_env=False) as client:
            for delivery in self.deliveries(chosen):
                fresh = self.sign(delivery.event, endpoint=chosen)
                status = client.post(
                    chosen.url, content=fresh.body, headers=fresh.headers
                ).status_code
                results.append((fresh, status))
                if 200 <= status < 300:
                    with self._guard:
                        chosen.pending.remove(delivery)
                        chosen.delivered.append((fresh, status))
        return results

    async def deliver_async(
        self, client: httpx.AsyncClient, endpoint: WebhookEndpoint | None = None
    ) -> list[tuple[Delivery, int]]:
        """:meth:`deliver` through ``client`` (an app served in-process, e.g. through
        ``httpx.ASGITransport``; the endpoint's ``url`` may then be a path)."""
        chosen = endpoint or self.endpoints[0]
        if chosen.url is None:
            raise ValueError("the endpoint has no url")
        results: list[tuple[Delivery, int]] = []
        for delivery in self.deliveries(chosen):
            fresh = self.sign(delivery.event, endpoint=chosen)
            answer = await client.post(chosen.url, content=fresh.body, headers=fresh.headers)
            results.append((fresh, answer.status_code))
            if 200 <= answer.status_code < 300:
                with self._guard:
                    chosen.pending.remove(delivery)
                    chosen.delivered.append((fresh, answer.status_code))
        return results

    # --- server ---------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.text()
        method = request.method.upper()
        path = request.path
        request_id = new_id("req_", 14)
        try:
            params = decode_form(raw if method == "POST" else request.query_string)
        except StripeFail as fail:
            return self._error(fail, request_id)
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._guard:
            self.requests.append(SeenRequest(method, path, headers, params, raw))
        hosted = _HOSTED.match(path)
        if hosted:
            return self._hosted(method, hosted.group(1))
        try:
            self._authenticate(headers.get("authorization"))
            fault = self._take_fault(path)
            if fault is not None and fault.raw is not None:
                return web.Response(status=fault.status, text=fault.raw, headers=fault.headers)
            if fault is not None:
                raise StripeFail(
                    fault.status,
                    fault.message,
                    type_=fault.type,
                    code=fault.code,
                    headers=fault.headers,
                )
            key = headers.get("idempotency-key") if method == "POST" else None
            if key is not None:
                replay = self._replay(key, method, path, params)
                if replay is not None:
                    return replay
            with self.account.locked():
                status, body = self._route(method, path, params, request_id, key)
                encoded = dumps(body)
                if key is not None:
                    self._idempotent[key] = _Stored(
                        _fingerprint(method, path, params), status, encoded, request_id
                    )
        except StripeFail as fail:
            return self._error(fail, request_id)
        return web.Response(status=status, body=encoded, headers=self._headers(request_id, headers))

    def _authenticate(self, authorization: str | None) -> None:
        if not authorization:
            raise StripeFail(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for "
                "details, or we can help at https://support.stripe.com/.",
                headers={"WWW-Authenticate": 'Bearer realm="Stripe"'},
            )
        scheme, _, given = authorization.partition(" ")
        if scheme != "Bearer" or given.strip() != self.api_key:
            raise StripeFail(
                401,
                f"Invalid API Key provided: {_masked(given.strip())}",
                headers={"WWW-Authenticate": 'Bearer realm="Stripe"'},
            )

    def _take_fault(self, path: str) -> _Fault | None:
        with self._guard:
            for fault in self._faults:
                if fault.path is None or path.startswith(fault.path):
                    self._faults.remove(fault)
                    return fault
        return None

    def _replay(
        self, key: str, method: str, path: str, params: dict[str, Any]
    ) -> web.Response | None:
        if len(key) > MAX_IDEMPOTENCY_KEY:
            raise StripeFail(
                400,
                f"Invalid idempotency key: must be at most {MAX_IDEMPOTENCY_KEY} characters.",
                param="Idempotency-Key",
            )
        with self.account.locked():
            stored = self._idempotent.get(key)
        if stored is None:
            return None
        if stored.fingerprint != _fingerprint(method, path, params):
            raise StripeFail(
                400,
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request.",
                type_="idempotency_error",
            )
        headers = self._headers(new_id("req_", 14), {})
        headers["Idempotent-Replayed"] = "true"
        headers["Original-Request"] = stored.request_id
        return web.Response(status=stored.status, body=stored.body, headers=headers)

    def _route(
        self,
        method: str,
        path: str,
        params: dict[str, Any],
        request_id: str,
        key: str | None,
    ) -> tuple[int, dict[str, Any]]:
        expand = params.get("expand") or []
        if not isinstance(expand, list):
            raise StripeFail(400, "Invalid array", param="expand")
        if method == "POST" and path == "/v1/checkout/sessions":
            session = create_session(self.account, params, self.base_url)
            return 200, self.account.public(session, expand)
        if method == "POST" and path == "/v1/billing_portal/sessions":
            return 200, self._portal(params)
        if method == "POST" and path == "/v1/refunds":
            charge = params.get("charge")
            if not charge:
                raise StripeFail(400, "Missing required param: charge.", param="charge")
            amount = (
                _int_param(params["amount"], "amount", 1, 99_999_999)
                if "amount" in params
                else None
            )
            return 200, self.account.public(self.account.refund(charge, amount), expand)
        if method == "GET" and path == "/v1/events":
            return 200, self._list_events(params)
        if method == "GET" and path == "/v1/balance":
            return 200, self._balance()
        found = _RETRIEVE.match(path)
        if found and found.group(1) in _RETRIEVABLE:
            object_type = _RETRIEVABLE[found.group(1)]
            object_id = found.group(2)
            if method == "GET":
                return 200, self.account.public(self.account.get(object_id, object_type), expand)
            if method == "DELETE" and object_type == "subscription":
                self.account.cancel(object_id)
                return 200, self.account.public(self.account.get(object_id, object_type), expand)
        raise StripeFail(
            404,
            f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
            "or we can help at https://support.stripe.com/.",
        )

    def _portal(self, params: dict[str, Any]) -> dict[str, Any]:
        customer = params.get("customer")
        if not customer:
            raise StripeFail(
                400,
                "Missing required param: customer.",
                param="customer",
                code="parameter_missing",
            )
        self.account.get(customer, "customer", "customer")
        return_url = params.get("return_url")
        if return_url is not None and not return_url.startswith(("http://", "https://")):
            raise StripeFail(400, "Not a valid URL", param="return_url", code="url_invalid")
        session_id = new_id("bps_")
        return self.account.put(
            {
                "id": session_id,
                "object": "billing_portal.session",
                "customer": customer,
                "return_url": return_url,
                "url": f"{self.base_url}/p/session/test_{session_id}",
                "configuration": "bpc_fakeDefaultConfig",
                "created": self.account.now,
                "livemode": False,
                "locale": None,
            }
        )

    def _balance(self) -> dict[str, Any]:
        """``GET /v1/balance``: Stripe's balance object (this fake holds no funds);
        ``livemode`` follows the key, as a live key only ever reads the live account."""
        funds = [{"amount": 0, "currency": "usd", "source_types": {"card": 0}}]
        return {
            "object": "balance",
            "available": copy.deepcopy(funds),
            "connect_reserved": [{"amount": 0, "currency": "usd"}],
            "livemode": self.api_key.startswith(("sk_live_", "rk_live_")),
            "pending": copy.deepcopy(funds),
        }

    def _list_events(self, params: dict[str, Any]) -> dict[str, Any]:
        limit = _int_param(params.get("limit", "10"), "limit", 1, 100)
        records = [r.event for r in reversed(self.account.events)]  # newest first
        created = params.get("created")
        if isinstance(created, dict):
            for op, test in (
                ("gte", lambda c, v: c >= v),
                ("gt", lambda c, v: c > v),
                ("lte", lambda c, v: c <= v),
                ("lt", lambda c, v: c < v),
            ):
                if op in created:
                    bound = _int_param(created[op], f"created[{op}]", 0, 2**40)
                    records = [e for e in records if test(e["created"], bound)]
        elif created is not None:
            bound = _int_param(created, "created", 0, 2**40)
            records = [e for e in records if e["created"] == bound]
        types = params.get("types")
        if types is not None:
            if not isinstance(types, list) or len(types) > 20:
                raise StripeFail(400, "types must be an array of at most 20 types", param="types")
            records = [e for e in records if e["type"] in types]
        if "type" in params:
            records = [e for e in records if _type_matches(params["type"], e["type"])]
        if "starting_after" in params:
            at = _position(records, params["starting_after"], "starting_after")
            records = records[at + 1 :]
        elif "ending_before" in params:
            at = _position(records, params["ending_before"], "ending_before")
            records = records[max(0, at - limit) : at]
        page = records[:limit]
        return {
            "object": "list",
            "data": copy.deepcopy(page),
            "has_more": len(records) > limit,
            "url": "/v1/events",
        }

    def _hosted(self, method: str, session_id: str) -> web.Response:
        """The hosted payment page: GET shows it, POST is the member paying."""
        try:
            if method == "POST":
                with self.account.locked():
                    self.account.complete_checkout(session_id)
                return web.Response(text="paid", content_type="text/html")
            with self.account.locked():
                session = self.account.get(session_id, "checkout.session")
            return web.Response(
                text=f"<h1>Pay {session['amount_total']} {session['currency']}</h1>",
                content_type="text/html",
            )
        except StripeFail as fail:
            return web.Response(status=fail.status, text=fail.message)

    def _headers(self, request_id: str, request_headers: dict[str, str]) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "Request-Id": request_id,
            "Stripe-Version": request_headers.get("stripe-version", API_VERSION),
        }

    def _error(self, fail: StripeFail, request_id: str) -> web.Response:
        headers = self._headers(request_id, {})
        headers.update(fail.headers)
        return web.Response(
            status=fail.status, body=dumps(error_body(fail, request_id)), headers=headers
        )

    def _queue(self, event: dict[str, Any]) -> None:
        with self._guard:
            for endpoint in self.endpoints:
                if endpoint.wants(str(event["type"])):
                    endpoint.pending.append(self.sign(event, endpoint=endpoint))

    def _drive(self, action: Callable[[StripeAccount], Any]) -> Any:
        with self.account.locked():
            try:
                return copy.deepcopy(action(self.account))
            except StripeFail as fail:
                raise ValueError(fail.message) from None


def _fingerprint(method: str, path: str, params: dict[str, Any]) -> str:
    return json.dumps([method, path, params], sort_keys=True)


def _masked(key: str) -> str:
    """Stripe shows a wrong key's prefix and last four characters only."""
    if len(key) <= 12:
        return "*" * len(key)
    prefix = key[: key.index("_", 3) + 1] if key.count("_") >= 2 else key[:3]
    return prefix + "*" * (len(key) - len(prefix) - 4) + key[-4:]


def _int_param(value: Any, param: str, low: int, high: int) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise StripeFail(400, f"Invalid integer: {str(value)[:20]}", param=param) from None
    if not low <= number <= high:
        raise StripeFail(400, f"{param} must be between {low} and {high}", param=param)
    return number


def _position(records: list[dict[str, Any]], event_id: Any, param: str) -> int:
    for index, event in enumerate(records):
        if event["id"] == event_id:
            return index
    raise StripeFail(404, f"No such event: '{event_id}'", code="resource_missing", param=param)


def _type_matches(pattern: str, type_: str) -> bool:
    if pattern.endswith(".*"):
        return type_.startswith(pattern[:-1])
    return type_ == pattern
