"""A loopback PayPal REST server (aiohttp on 127.0.0.1, in a background thread).

A copy of what shared/reference/integrations.md section 2 records (paypal-server-sdk 2.4.0
controllers and models, PayPal's REST docs), not of our client:

- ``POST /v1/oauth2/token``: HTTP Basic ``client_id:secret`` and the form
  ``grant_type=client_credentials``; a wrong pair is 401 ``invalid_client``; answers
  ``{scope, access_token, token_type: "Bearer", app_id, expires_in, nonce}``;
- every other API path needs ``Authorization: Bearer <token>``: missing, unknown, expired
  or revoked is 401 ``{error: "invalid_token", error_description}``;
- errors ``{name, message, debug_id, details[], links}``;
- ``PayPal-Request-Id`` on a POST: the same id on the same path answers the first answer
  again and does nothing twice (every POST is recorded, so tests can check the header);
- Orders v2: create (``payment_source.paypal.experience_context`` → status
  ``PAYER_ACTION_REQUIRED`` and a ``payer-action`` link, else ``CREATED`` and ``approve``),
  get, capture (before approval 422 ``ORDER_NOT_APPROVED``, twice 422
  ``ORDER_ALREADY_CAPTURED``, a declined instrument 422 ``INSTRUMENT_DECLINED``), a reused
  ``invoice_id`` 422 ``DUPLICATE_INVOICE_ID``, amounts with the currency's decimals;
  ``GET /v2/payments/captures/{id}``;
- Subscriptions: create (a known ``P-…`` plan; ``APPROVAL_PENDING`` and an ``approve``
  link), get, cancel (204; again 422 ``SUBSCRIPTION_STATUS_INVALID``); ``GET
  /v1/payments/sale/{id}``;
- ``POST /v1/notifications/verify-webhook-signature`` → ``{verification_status}``;
- ``GET /v1/notifications/certs/{id}``: the self-signed signing certificate (PEM), public.

Lifecycle helpers act as the buyer or PayPal would and return the **signed webhook
delivery** PayPal would POST (:class:`~tests.fakes.paypal_wire.Delivery`).
"""

from __future__ import annotations

import base64
import json
import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from tests.fakes.aiohttp_thread import ThreadedAiohttpServer
from tests.fakes.paypal_wire import (
    Delivery,
    SigningCert,
    envelope,
    error_body,
    paypal_id,
    rfc3339,
    signed_delivery,
    signing_cert,
)

CLIENT_ID = "AeFakeClientId_sandbox_0123456789"
CLIENT_SECRET = "EFakeSecret_sandbox_do_not_leak_9876543210"
WEBHOOK_ID = "8PT597110X687430LKGECATA"
CERT_ID = "CERT-360caa42-fca2a594-1d93a270"
ZERO_DECIMAL = {"HUF", "JPY", "TWD"}
_VALUE = re.compile(r"(0|[1-9][0-9]{0,28})(\.[0-9]{1,2})?")


@dataclass
class Plan:
    id: str
    price: Decimal
    currency: str
    interval_unit: str = "MONTH"
    trial_days: int = 0


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class State:
    tokens: dict[str, datetime] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    captures: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    sales: dict[str, dict[str, Any]] = field(default_factory=dict)
    plans: dict[str, Plan] = field(default_factory=dict)
    invoices: set[str] = field(default_factory=set)
    replays: dict[tuple[str, str], tuple[int, bytes]] = field(default_factory=dict)
    sent: dict[str, Delivery] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    decline_next_capture: bool = False
    faults: list[tuple[str, str, int, dict[str, Any]]] = field(default_factory=list)
    token_requests: int = 0
    cert_fetches: int = 0


class FakePayPal(ThreadedAiohttpServer):
    """The fake; tests call its helpers from their own thread (state under a lock)."""

    name = "fake PayPal"

    def __init__(
        self,
        *,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        webhook_id: str = WEBHOOK_ID,
        token_lifetime: int = 32400,
        seed: int = 16,
    ) -> None:
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self.webhook_id = webhook_id
        self.token_lifetime = token_lifetime
        self.cert: SigningCert = signing_cert()
        self.state = State()
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., tuple[int, Any]]]] = [
            ("POST", re.compile(r"/v2/checkout/orders"), self._create_order),
            ("GET", re.compile(r"/v2/checkout/orders/(?P<id>[A-Z0-9]+)"), self._get_order),
            ("POST", re.compile(r"/v2/checkout/orders/(?P<id>[A-Z0-9]+)/capture"), self._capture),
            ("GET", re.compile(r"/v2/payments/captures/(?P<id>[A-Z0-9]+)"), self._get_capture),
            ("POST", re.compile(r"/v1/billing/subscriptions"), self._create_subscription),
            ("GET", re.compile(r"/v1/billing/subscriptions/(?P<id>I-[A-Z0-9]+)"), self._get_sub),
            (
                "POST",
                re.compile(r"/v1/billing/subscriptions/(?P<id>I-[A-Z0-9]+)/cancel"),
                self._cancel_sub,
            ),
            ("GET", re.compile(r"/v1/payments/sale/(?P<id>[A-Z0-9]+)"), self._get_sale),
            ("POST", re.compile(r"/v1/notifications/verify-webhook-signature"), self._verify),
        ]

    # --- set-up and inspection (test thread) -------------------------------------------

    @property
    def cert_url(self) -> str:
        return f"{self.base_url}/v1/notifications/certs/{CERT_ID}"

    def add_plan(
        self,
        price: str = "10.00",
        currency: str = "USD",
        *,
        plan_id: str | None = None,
        trial_days: int = 0,
    ) -> Plan:
        with self._lock:
            plan = Plan(
                plan_id or "P-" + paypal_id(self._rng, 24),
                Decimal(price),
                currency,
                trial_days=trial_days,
            )
            self.state.plans[plan.id] = plan
            return plan

    def fail_next(self, method: str, path_prefix: str, status: int, body: dict[str, Any]) -> None:
        """The next ``method`` request under ``path_prefix`` answers ``status``/``body``."""
        with self._lock:
            self.state.faults.append((method, path_prefix, status, body))

    def revoke_tokens(self) -> None:
        """Every issued token becomes unknown (as after PayPal rotates or revokes them)."""
        with self._lock:
            self.state.tokens.clear()

    def posts(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.state.requests if r.method == "POST"]

    def order(self, order_id: str) -> dict[str, Any]:
        with self._lock:
            return _copy(self.state.orders[order_id])

    def subscription(self, sub_id: str) -> dict[str, Any]:
        with self._lock:
            return _copy(self.state.subscriptions[sub_id])

    # --- lifecycle (test thread): each returns what PayPal would POST ------------------

    def deliver(
        self, event_type: str, resource: dict[str, Any], *, at: datetime | None = None
    ) -> Delivery:
        """A signed delivery of ``event_type`` about ``resource``, remembered for postback."""
        when = at or self.clock()
        event = envelope(event_type, _copy(resource), when, self.base_url)
        delivery = signed_delivery(
            event, key=self.cert.key, webhook_id=self.webhook_id, cert_url=self.cert_url, at=when
        )
        with self._lock:
            self.state.sent[delivery.transmission_id] = delivery
        return delivery

    def approve(self, order_id: str) -> Delivery:
        """The buyer approves the order on PayPal: ``CHECKOUT.ORDER.APPROVED``."""
        with self._lock:
            order = self.state.orders[order_id]
            order["status"] = "APPROVED"
            order["update_time"] = rfc3339(self.clock())
            order["payer"] = {
                "payer_id": "PAYER" + paypal_id(self._rng, 8),
                "email_address": "buyer@example.com",
            }
            resource = self._order_view(order)
        return self.deliver("CHECKOUT.ORDER.APPROVED", resource)

    def capture_delivery(
        self, capture_id: str, event_type: str = "PAYMENT.CAPTURE.COMPLETED"
    ) -> Delivery:
        with self._lock:
            resource = dict(self.state.captures[capture_id])
        return self.deliver(event_type, resource)

    def refund(self, capture_id: str, *, reversed_: bool = False) -> Delivery:
        """PayPal refunds (or reverses) a capture: ``PAYMENT.CAPTURE.REFUNDED|REVERSED``."""
        with self._lock:
            capture = self.state.captures[capture_id]
            capture["status"] = "REFUNDED"
            capture["update_time"] = rfc3339(self.clock())
            refund = {
                "id": paypal_id(self._rng),
                "status": "COMPLETED",
                "amount": dict(capture["amount"]),
                "custom_id": capture.get("custom_id"),
                "invoice_id": capture.get("invoice_id"),
                "create_time": capture["update_time"],
                "update_time": capture["update_time"],
                "links": [
                    {
                        "href": f"{self.base_url}/v2/payments/captures/{capture_id}",
                        "rel": "up",
                        "method": "GET",
                    }
                ],
            }
        kind = "PAYMENT.CAPTURE.REVERSED" if reversed_ else "PAYMENT.CAPTURE.REFUNDED"
        return self.deliver(kind, refund)

    def activate(self, sub_id: str) -> list[Delivery]:
        """The buyer approves and the first cycle is paid: ACTIVATED, then SALE.COMPLETED."""
        with self._lock:
            sub = self.state.subscriptions[sub_id]
            now = self.clock()
            sub["status"] = "ACTIVE"
            sub["status_update_time"] = sub["update_time"] = rfc3339(now)
            sub["subscriber"] = {
                "email_address": "buyer@example.com",
                "payer_id": "PAYER" + paypal_id(self._rng, 8),
                "name": {"given_name": "Ada", "surname": "Buyer"},
            }
            sale = self._sale(sub, now)
            activated = _copy(sub)
        return [
            self.deliver("BILLING.SUBSCRIPTION.ACTIVATED", activated),
            self.deliver("PAYMENT.SALE.COMPLETED", sale),
        ]

    def renew(self, sub_id: str) -> Delivery:
        """A later billing cycle is paid: ``PAYMENT.SALE.COMPLETED``."""
        with self._lock:
            sale = self._sale(self.state.subscriptions[sub_id], self.clock())
        return self.deliver("PAYMENT.SALE.COMPLETED", sale)

    def set_subscription_status(self, sub_id: str, status: str, event_type: str) -> Delivery:
        """PayPal moves the subscription (SUSPENDED, CANCELLED, EXPIRED…) and tells us."""
        with self._lock:
            sub = self.state.subscriptions[sub_id]
            sub["status"] = status
            sub["status_update_time"] = sub["update_time"] = rfc3339(self.clock())
            if status in ("CANCELLED", "EXPIRED"):
                sub["billing_info"].pop("next_billing_time", None)
            resource = _copy(sub)
        return self.deliver(event_type, resource)

    def dispute(self, transaction_id: str, *, resolved_outcome: str | None = None) -> Delivery:
        with self._lock:
            paid = self.state.captures.get(transaction_id) or self.state.sales.get(transaction_id)
            assert paid is not None, transaction_id
            amount = paid["amount"]
            money = (
                dict(amount)
                if "currency_code" in amount
                else {"currency_code": amount["currency"], "value": amount["total"]}
            )
            now = rfc3339(self.clock())
            resource: dict[str, Any] = {
                "dispute_id": "PP-D-" + paypal_id(self._rng, 5),
                "create_time": now,
                "update_time": now,
                "disputed_transactions": [
                    {
                        "seller_transaction_id": transaction_id,
                        "custom": paid.get("custom_id") or paid.get("custom"),
                    }
                ],
                "reason": "MERCHANDISE_OR_SERVICE_NOT_RECEIVED",
                "status": "RESOLVED" if resolved_outcome else "OPEN",
                "dispute_amount": money,
            }
            if resolved_outcome:
                resource["dispute_outcome"] = {"outcome_code": resolved_outcome}
        kind = "CUSTOMER.DISPUTE.RESOLVED" if resolved_outcome else "CUSTOMER.DISPUTE.CREATED"
        return self.deliver(kind, resource)

    # --- server ------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        path = request.path
        with self._lock:
            self.state.requests.append(Recorded(request.method, path, dict(request.headers), raw))
        if request.method == "GET" and path.startswith("/v1/notifications/certs/"):
            if path != f"/v1/notifications/certs/{CERT_ID}":
                return _json(404, error_body(404, "RESOURCE_NOT_FOUND", "No such certificate."))
            with self._lock:
                self.state.cert_fetches += 1
            return web.Response(body=self.cert.pem, content_type="application/x-pem-file")
        if path == "/v1/oauth2/token":
            with self._lock:  # PayPal's OAuth host fails like any other (fail_next)
                for fault in self.state.faults:
                    if fault[0] == request.method and path.startswith(fault[1]):
                        self.state.faults.remove(fault)
                        return _json(fault[2], fault[3])
            return self._token(request, raw)
        refused = self._check_bearer(request)
        if refused is not None:
            return refused
        with self._lock:
            for fault in self.state.faults:
                if fault[0] == request.method and path.startswith(fault[1]):
                    self.state.faults.remove(fault)
                    return _json(fault[2], fault[3])
        for method, pattern, handler in self._routes:
            found = pattern.fullmatch(path)
            if found is None or method != request.method:
                continue
            if method == "POST":
                return self._idempotent(request, raw, handler, found.groupdict())
            with self._lock:
                status, body = handler(None, **found.groupdict())
            return _json(status, body)
        return _json(
            404, error_body(404, "RESOURCE_NOT_FOUND", "The specified resource does not exist.")
        )

    def _idempotent(
        self,
        request: web.Request,
        raw: bytes,
        handler: Callable[..., tuple[int, Any]],
        args: dict[str, str],
    ) -> web.Response:
        request_id = request.headers.get("PayPal-Request-Id")
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return _json(
                400,
                error_body(
                    400, "INVALID_REQUEST", "Request is not well-formed.", "MALFORMED_REQUEST_JSON"
                ),
            )
        with self._lock:
            key = (request.path, request_id or "")
            if request_id and key in self.state.replays:
                status, payload = self.state.replays[key]
                return web.Response(
                    status=status, body=payload or None, content_type="application/json"
                )
            status, answer = handler(body, **args)
            payload = b"" if answer is None else json.dumps(answer).encode()
            if request_id and status < 500:
                self.state.replays[key] = (status, payload)
        return web.Response(status=status, body=payload or None, content_type="application/json")

    def _token(self, request: web.Request, raw: bytes) -> web.Response:
        with self._lock:
            self.state.token_requests += 1
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.method != "POST" or request.headers.get("Authorization") != f"Basic {expected}":
            return _json(
                401,
                {"error": "invalid_client", "error_description": "Client Authentication failed"},
            )
        form = parse_qs(raw.decode("utf-8", "replace"))
        if form.get("grant_type") != ["client_credentials"]:
            return _json(
                400, {"error": "unsupported_grant_type", "error_description": "Grant Type is NULL"}
            )
        token = "A21AA" + paypal_id(self._rng, 60)
        with self._lock:
            self.state.tokens[token] = datetime.now(UTC) + timedelta(seconds=self.token_lifetime)
        return _json(
            200,
            {
                "scope": "https://uri.paypal.com/services/payments/payment https://uri.paypal.com/services/subscriptions",
                "access_token": token,
                "token_type": "Bearer",
                "app_id": "APP-80W284485P519543T",
                "expires_in": self.token_lifetime,
                "nonce": rfc3339(datetime.now(UTC)) + "-" + paypal_id(self._rng, 20),
            },
        )

    def _check_bearer(self, request: web.Request) -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        with self._lock:
            expiry = self.state.tokens.get(token)
        if expiry is None or expiry < datetime.now(UTC):
            return _json(
                401,
                {
                    "error": "invalid_token",
                    "error_description": "The token passed in was not found in the system",
                },
            )
        return None

    # --- orders (on the server loop, under the lock) -----------------------------------

    def _create_order(self, body: dict[str, Any]) -> tuple[int, Any]:
        if body.get("intent") not in ("CAPTURE", "AUTHORIZE"):
            return 422, error_body(
                422,
                "UNPROCESSABLE_ENTITY",
                "The requested action could not be performed.",
                "INTENT_INVALID",
            )
        units = body.get("purchase_units")
        if not isinstance(units, list) or not 1 <= len(units) <= 10:
            return 400, error_body(
                400, "INVALID_REQUEST", "Request is not well-formed.", "MISSING_REQUIRED_PARAMETER"
            )
        for unit in units:
            amount = unit.get("amount") or {}
            currency, value = amount.get("currency_code"), amount.get("value")
            if not isinstance(value, str) or not _VALUE.fullmatch(value):
                return 400, error_body(
                    400,
                    "INVALID_REQUEST",
                    "Request is not well-formed.",
                    "INVALID_PARAMETER_SYNTAX",
                )
            if currency in ZERO_DECIMAL and "." in value:
                return 422, error_body(
                    422,
                    "UNPROCESSABLE_ENTITY",
                    "The requested action could not be performed.",
                    "DECIMAL_PRECISION",
                )
            invoice = unit.get("invoice_id")
            if invoice and invoice in self.state.invoices:
                return 422, error_body(
                    422,
                    "UNPROCESSABLE_ENTITY",
                    "The requested action could not be performed.",
                    "DUPLICATE_INVOICE_ID",
                )
        for unit in units:
            if unit.get("invoice_id"):
                self.state.invoices.add(unit["invoice_id"])
        order_id = paypal_id(self._rng)
        now = rfc3339(self.clock())
        experience = ((body.get("payment_source") or {}).get("paypal") or {}).get(
            "experience_context"
        )
        order = {
            "id": order_id,
            "intent": body["intent"],
            "status": "PAYER_ACTION_REQUIRED" if experience else "CREATED",
            "purchase_units": [
                {
                    k: v
                    for k, v in unit.items()
                    if k in ("reference_id", "amount", "custom_id", "invoice_id", "description")
                }
                for unit in units
            ],
            "create_time": now,
            "update_time": now,
        }
        self.state.orders[order_id] = order
        view = self._order_view(order)
        return 200, {"id": order_id, "status": order["status"], "links": view["links"]}

    def _order_view(self, order: dict[str, Any]) -> dict[str, Any]:
        view = _copy(order)
        rel = "payer-action" if order["status"] == "PAYER_ACTION_REQUIRED" else "approve"
        view["links"] = [
            {
                "href": f"{self.base_url}/v2/checkout/orders/{order['id']}",
                "rel": "self",
                "method": "GET",
            },
            {
                "href": f"https://www.sandbox.paypal.com/checkoutnow?token={order['id']}",
                "rel": rel,
                "method": "GET",
            },
        ]
        if order["status"] == "APPROVED":
            view["links"].append(
                {
                    "href": f"{self.base_url}/v2/checkout/orders/{order['id']}/capture",
                    "rel": "capture",
                    "method": "POST",
                }
            )
        return view

    def _get_order(self, _body: None, id: str) -> tuple[int, Any]:
        order = self.state.orders.get(id)
        if order is None:
            return 404, error_body(
                404,
                "RESOURCE_NOT_FOUND",
                "The specified resource does not exist.",
                "INVALID_RESOURCE_ID",
            )
        return 200, self._order_view(order)

    def _capture(self, _body: dict[str, Any], id: str) -> tuple[int, Any]:
        order = self.state.orders.get(id)
        if order is None:
            return 404, error_body(
                404,
                "RESOURCE_NOT_FOUND",
                "The specified resource does not exist.",
                "INVALID_RESOURCE_ID",
            )
        if order["status"] == "COMPLETED":
            return 422, error_body(
                422,
                "UNPROCESSABLE_ENTITY",
                "The requested action could not be performed.",
                "ORDER_ALREADY_CAPTURED",
                "Order already captured.",
            )
        if order["status"] != "APPROVED":
            return 422, error_body(
                422,
                "UNPROCESSABLE_ENTITY",
                "The requested action could not be performed.",
                "ORDER_NOT_APPROVED",
                "Payer has not yet approved the Order for payment.",
            )
        if self.state.decline_next_capture:
            self.state.decline_next_capture = False
            return 422, error_body(
                422,
                "UNPROCESSABLE_ENTITY",
                "The requested action could not be performed.",
                "INSTRUMENT_DECLINED",
                "The instrument presented was either declined or rejected.",
            )
        now = rfc3339(self.clock())
        for unit in order["purchase_units"]:
            amount = unit["amount"]
            fee = _fee(Decimal(amount["value"]), amount["currency_code"])
            capture = {
                "id": paypal_id(self._rng),
                "status": "COMPLETED",
                "amount": dict(amount),
                "final_capture": True,
                "custom_id": unit.get("custom_id"),
                "invoice_id": unit.get("invoice_id"),
                "seller_protection": {
                    "status": "ELIGIBLE",
                    "dispute_categories": ["ITEM_NOT_RECEIVED"],
                },
                "seller_receivable_breakdown": {
                    "gross_amount": dict(amount),
                    "paypal_fee": {"currency_code": amount["currency_code"], "value": fee},
                    "net_amount": {
                        "currency_code": amount["currency_code"],
                        "value": str(Decimal(amount["value"]) - Decimal(fee)),
                    },
                },
                "create_time": now,
                "update_time": now,
                "supplementary_data": {"related_ids": {"order_id": order["id"]}},
                "links": [
                    {
                        "href": f"{self.base_url}/v2/payments/captures/{{id}}",
                        "rel": "self",
                        "method": "GET",
                    }
                ],
            }
            capture["links"][0]["href"] = f"{self.base_url}/v2/payments/captures/{capture['id']}"
            self.state.captures[capture["id"]] = capture
            unit["payments"] = {"captures": [capture]}
        order["status"] = "COMPLETED"
        order["update_time"] = now
        return 201, self._order_view(order)

    def _get_capture(self, _body: None, id: str) -> tuple[int, Any]:
        capture = self.state.captures.get(id)
        if capture is None:
            return 404, error_body(
                404,
                "RESOURCE_NOT_FOUND",
                "The specified resource does not exist.",
                "INVALID_RESOURCE_ID",
            )
        return 200, capture

    # --- subscriptions -----------------------------------------------------------------

    def _create_subscription(self, body: dict[str, Any]) -> tuple[int, Any]:
        plan = self.state.plans.get(str(body.get("plan_id")))
        if plan is None:
            return 404, error_body(
                404,
                "RESOURCE_NOT_FOUND",
                "The specified resource does not exist.",
                "INVALID_RESOURCE_ID",
                "Requested resource ID was not found.",
            )
        sub_id = "I-" + paypal_id(self._rng, 12)
        now = rfc3339(self.clock())
        sub: dict[str, Any] = {
            "id": sub_id,
            "plan_id": plan.id,
            "status": "APPROVAL_PENDING",
            "status_update_time": now,
            "start_time": now,
            "quantity": "1",
            "custom_id": body.get("custom_id"),
            "plan_overridden": False,
            "billing_info": {
                "outstanding_balance": {"currency_code": plan.currency, "value": "0.00"},
                "cycle_executions": [
                    {
                        "tenure_type": "REGULAR",
                        "sequence": 1,
                        "cycles_completed": 0,
                        "cycles_remaining": 0,
                        "total_cycles": 0,
                    }
                ],
                "failed_payments_count": 0,
            },
            "create_time": now,
            "update_time": now,
        }
        if body.get("subscriber"):
            sub["subscriber"] = body["subscriber"]
        self.state.subscriptions[sub_id] = sub
        return 201, {
            "id": sub_id,
            "status": "APPROVAL_PENDING",
            "status_update_time": now,
            "plan_id": plan.id,
            "plan_overridden": False,
            "start_time": now,
            "quantity": "1",
            "custom_id": sub["custom_id"],
            "create_time": now,
            "links": self._sub_links(sub_id),
        }

    def _sub_links(self, sub_id: str) -> list[dict[str, str]]:
        return [
            {
                "href": f"https://www.sandbox.paypal.com/webapps/billing/subscriptions?ba_token=BA-{sub_id[2:]}",
                "rel": "approve",
                "method": "GET",
            },
            {
                "href": f"{self.base_url}/v1/billing/subscriptions/{sub_id}",
                "rel": "edit",
                "method": "PATCH",
            },
            {
                "href": f"{self.base_url}/v1/billing/subscriptions/{sub_id}",
                "rel": "self",
                "method": "GET",
            },
        ]

    def _get_sub(self, _body: None, id: str) -> tuple[int, Any]:
        sub = self.state.subscriptions.get(id)
        if sub is None:
            return 404, error_body(
                404,
                "RESOURCE_NOT_FOUND",
                "The specified resource does not exist.",
                "INVALID_RESOURCE_ID",
            )
        view = _copy(sub)
        view["links"] = self._sub_links(id)[1:]
        return 200, view

    def _cancel_sub(self, body: dict[str, Any], id: str) -> tuple[int, Any]:
        sub = self.state.subscriptions.get(id)
        if sub is None:
            return 404, error_body(
                404,
                "RESOURCE_NOT_FOUND",
                "The specified resource does not exist.",
                "INVALID_RESOURCE_ID",
            )
        if not isinstance(body.get("reason"), str) or not body["reason"]:
            return 400, error_body(
                400, "INVALID_REQUEST", "Request is not well-formed.", "MISSING_REQUIRED_PARAMETER"
            )
        if sub["status"] not in ("ACTIVE", "SUSPENDED", "APPROVED"):
            return 422, error_body(
                422,
                "UNPROCESSABLE_ENTITY",
                "The requested action could not be performed.",
                "SUBSCRIPTION_STATUS_INVALID",
                "Invalid subscription status for cancel action; subscription status should be "
                "active or suspended.",
            )
        sub["status"] = "CANCELLED"
        sub["status_change_note"] = body["reason"]
        sub["status_update_time"] = sub["update_time"] = rfc3339(self.clock())
        sub["billing_info"].pop("next_billing_time", None)
        return 204, None

    def _sale(self, sub: dict[str, Any], now: datetime) -> dict[str, Any]:
        plan = self.state.plans[sub["plan_id"]]
        value = f"{plan.price:.2f}" if plan.currency not in ZERO_DECIMAL else f"{plan.price:.0f}"
        cycle = sub["billing_info"]["cycle_executions"][0]
        cycle["cycles_completed"] += 1
        step = {"DAY": 1, "WEEK": 7, "MONTH": 30, "YEAR": 365}[plan.interval_unit]
        sub["billing_info"]["last_payment"] = {
            "amount": {"currency_code": plan.currency, "value": value},
            "time": rfc3339(now),
        }
        sub["billing_info"]["next_billing_time"] = rfc3339(now + timedelta(days=step))
        sale = {
            "id": paypal_id(self._rng),
            "state": "completed",
            "amount": {"total": value, "currency": plan.currency, "details": {"subtotal": value}},
            "payment_mode": "INSTANT_TRANSFER",
            "protection_eligibility": "ELIGIBLE",
            "transaction_fee": {
                "value": _fee(plan.price, plan.currency),
                "currency": plan.currency,
            },
            "billing_agreement_id": sub["id"],
            "custom": sub.get("custom_id"),
            "create_time": rfc3339(now),
            "update_time": rfc3339(now),
            "links": [],
        }
        self.state.sales[sale["id"]] = sale
        return _copy(sale)

    def _get_sale(self, _body: None, id: str) -> tuple[int, Any]:
        sale = self.state.sales.get(id)
        if sale is None:
            return 404, error_body(
                404,
                "RESOURCE_NOT_FOUND",
                "The requested resource ID was not found",
                "INVALID_RESOURCE_ID",
            )
        return 200, sale

    # --- webhooks ----------------------------------------------------------------------

    def _verify(self, body: dict[str, Any]) -> tuple[int, Any]:
        needed = (
            "auth_algo",
            "cert_url",
            "transmission_id",
            "transmission_sig",
            "transmission_time",
            "webhook_id",
            "webhook_event",
        )
        missing = [name for name in needed if not body.get(name)]
        if missing:
            return 400, error_body(
                400,
                "VALIDATION_ERROR",
                "Invalid data provided",
                "MISSING_REQUIRED_PARAMETER",
                f"{missing[0]} is required",
            )
        sent = self.state.sent.get(str(body["transmission_id"]))
        ok = (
            sent is not None
            and body["webhook_id"] == self.webhook_id
            and body["auth_algo"] == "SHA256withRSA"
            and body["cert_url"] == sent.headers["PAYPAL-CERT-URL"]
            and body["transmission_sig"] == sent.headers["PAYPAL-TRANSMISSION-SIG"]
            and body["transmission_time"] == sent.headers["PAYPAL-TRANSMISSION-TIME"]
            and body["webhook_event"] == json.loads(sent.body)
        )
        return 200, {"verification_status": "SUCCESS" if ok else "FAILURE"}


def _copy(value: dict[str, Any]) -> dict[str, Any]:
    """A deep copy through JSON: what leaves the fake is what the wire would carry."""
    copied: dict[str, Any] = json.loads(json.dumps(value))
    return copied


def _fee(amount: Decimal, currency: str) -> str:
    fee = amount * Decimal("0.0349") + Decimal("0.49")
    return f"{fee:.0f}" if currency in ZERO_DECIMAL else f"{fee:.2f}"


def _json(status: int, body: Any) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(body).encode(), content_type="application/json"
    )
