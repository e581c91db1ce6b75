"""The fake Stripe's account: its objects, its events, and the lifecycle a member drives.

Objects are plain dicts shaped like the API version the library pins (2025 "basil" on):
a subscription's period lives on its items, an invoice reaches its subscription through
``parent.subscription_details`` and its payments through ``payments`` (an includable
field, answered only when expanded). Every change emits the events Stripe emits for it,
in Stripe's order, each holding a snapshot of its object (``data.object``) and, for
``*.updated``, ``data.previous_attributes``.

All access goes through one lock: the server thread and the test thread share the state.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.stripe_wire import StripeFail, new_id

API_VERSION = "2026-10-28.endive"
DAY = 86_400
INTERVAL_SECONDS = {"day": DAY, "week": 7 * DAY, "month": 30 * DAY, "year": 365 * DAY}
#: What Stripe charges on a card payment in the fake: 2.9 % + 30 minor units.
FEE_RATE = 0.029
FEE_FIXED = 30
#: Includable fields: answered only when named in ``expand[]``.
INCLUDABLE = {"invoice": ("payments",)}
MAX_EXPAND_DEPTH = 4


@dataclass
class EventRecord:
    """One emitted event and the request that caused it."""

    event: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.event["id"])

    @property
    def type(self) -> str:
        return str(self.event["type"])


@dataclass
class SessionTerms:
    """What a Checkout Session will create once paid."""

    price: dict[str, Any]
    trial_days: int = 0
    subscription_metadata: dict[str, str] = field(default_factory=dict)
    payment_metadata: dict[str, str] = field(default_factory=dict)
    customer_creation: str | None = None


@dataclass
class StripeAccount:
    """Objects by id, events newest last, and a clock in Unix seconds."""

    now: int = field(default_factory=lambda: int(time.time()))
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[EventRecord] = field(default_factory=list)
    listeners: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)
    #: what a Checkout Session sells, kept beside it (Stripe keeps it, the API hides it)
    terms: dict[str, SessionTerms] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    # --- plumbing -------------------------------------------------------------------

    @contextmanager
    def locked(self) -> Iterator[None]:
        with self.lock:
            yield

    def get(self, object_id: str, object_type: str, param: str = "id") -> dict[str, Any]:
        found = self.objects.get(object_id)
        if found is None or found["object"] != object_type:
            raise StripeFail(
                404,
                f"No such {object_type.split('.')[-1]}: '{object_id}'",
                code="resource_missing",
                param=param,
            )
        return found

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.objects[obj["id"]] = obj
        return obj

    def emit(
        self,
        type_: str,
        obj: dict[str, Any],
        *,
        previous: dict[str, Any] | None = None,
        request: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        data: dict[str, Any] = {"object": self.public(obj)}
        if previous is not None:
            data["previous_attributes"] = copy.deepcopy(previous)
        event = {
            "id": new_id("evt_"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.now,
            "data": data,
            "livemode": False,
            "pending_webhooks": 1,
            "request": request or {"id": None, "idempotency_key": None},
            "type": type_,
        }
        self.events.append(EventRecord(event))
        for listener in self.listeners:
            listener(event)
        return event

    def public(self, obj: dict[str, Any], expand: list[str] | None = None) -> dict[str, Any]:
        """A snapshot as the API answers it: includable fields only when expanded."""
        answer = copy.deepcopy(obj)
        wanted = {path.split(".")[0] for path in expand or []}
        for name in INCLUDABLE.get(obj["object"], ()):
            if name not in wanted:
                answer.pop(name, None)
        for path in expand or []:
            self._expand(answer, path.split("."), path)
        return answer

    def _expand(self, node: Any, parts: list[str], path: str) -> None:
        if len([p for p in path.split(".") if p != "data"]) > MAX_EXPAND_DEPTH:
            raise StripeFail(
                400,
                f"You cannot expand more than {MAX_EXPAND_DEPTH} levels of a property. "
                f"Property: {path}",
                param="expand",
            )
        if not parts or node is None:
            return
        head, rest = parts[0], parts[1:]
        if isinstance(node, list):
            for item in node:
                self._expand(item, parts, path)
            return
        if not isinstance(node, dict) or head not in node:
            raise StripeFail(400, f"This property cannot be expanded ({head}).", param="expand")
        value = node[head]
        if isinstance(value, str) and value in self.objects:
            value = self.public(self.objects[value])
            node[head] = value
        self._expand(value, rest, path)

    # --- catalogue ------------------------------------------------------------------

    def add_customer(self, email: str | None = None) -> dict[str, Any]:
        return self.put(
            {
                "id": new_id("cus_", 14),
                "object": "customer",
                "email": email,
                "created": self.now,
                "livemode": False,
                "metadata": {},
            }
        )

    def add_price(
        self,
        unit_amount: int,
        currency: str,
        *,
        interval: str | None = None,
        interval_count: int = 1,
        product_name: str = "Plan",
    ) -> dict[str, Any]:
        product = self.put(
            {
                "id": new_id("prod_", 14),
                "object": "product",
                "name": product_name,
                "created": self.now,
                "livemode": False,
            }
        )
        recurring = (
            None
            if interval is None
            else {"interval": interval, "interval_count": interval_count, "usage_type": "licensed"}
        )
        return self.put(
            {
                "id": new_id("price_"),
                "object": "price",
                "active": True,
                "currency": currency,
                "unit_amount": unit_amount,
                "product": product["id"],
                "recurring": recurring,
                "type": "one_time" if recurring is None else "recurring",
                "created": self.now,
                "livemode": False,
            }
        )

    # --- member's lifecycle ---------------------------------------------------------

    def complete_checkout(self, session_id: str) -> list[dict[str, Any]]:
        """The member pays on the hosted page: the objects and events Stripe creates."""
        session = self.get(session_id, "checkout.session")
        if session["status"] != "open":
            raise StripeFail(400, f"Checkout Session {session_id} is {session['status']}")
        first = len(self.events)
        terms = self.terms[session_id]
        customer_id = session["customer"]
        if customer_id is None and (
            session["mode"] == "subscription" or terms.customer_creation == "always"
        ):
            customer = self.add_customer(session["customer_email"])
            customer_id = customer["id"]
            self.emit("customer.created", customer)
        if session["mode"] == "payment":
            pi, _ = self._pay(
                session["amount_total"], session["currency"], customer_id, terms.payment_metadata
            )
            session.update(
                status="complete",
                payment_status="paid",
                customer=customer_id,
                payment_intent=pi["id"],
            )
        else:
            sub = self._subscribe(terms, customer_id)
            session.update(
                status="complete",
                payment_status="paid" if session["amount_total"] else "no_payment_required",
                customer=customer_id,
                subscription=sub["id"],
            )
        session["url"] = None
        self.emit("checkout.session.completed", session)
        return [r.event for r in self.events[first:]]

    def expire_checkout(self, session_id: str) -> dict[str, Any]:
        session = self.get(session_id, "checkout.session")
        session.update(status="expired", url=None)
        return self.emit("checkout.session.expired", session)

    def renew(self, subscription_id: str, *, paid: bool = True) -> list[dict[str, Any]]:
        """The next period's invoice, paid or failed (the subscription goes past_due)."""
        sub = self.get(subscription_id, "subscription")
        first = len(self.events)
        item = sub["items"]["data"][0]
        price = item["price"]
        start = item["current_period_end"]
        end = start + _period(price)
        amount = price["unit_amount"] * item["quantity"]
        previous_items = copy.deepcopy(sub["items"])
        previous_status = sub["status"]
        item.update(current_period_start=start, current_period_end=end)
        invoice = self._invoice(sub, amount, start, end, "subscription_cycle")
        if paid:
            self._settle(invoice, sub["customer"])
            sub["status"] = "active"
        else:
            invoice.update(
                status="open",
                attempted=True,
                attempt_count=1,
                next_payment_attempt=self.now + 3 * DAY,
            )
            self.emit("invoice.payment_failed", invoice)
            sub["status"] = "past_due"
        sub["latest_invoice"] = invoice["id"]
        previous: dict[str, Any] = {"items": previous_items, "latest_invoice": None}
        if previous_status != sub["status"]:
            previous["status"] = previous_status
        self.emit("customer.subscription.updated", sub, previous=previous)
        return [r.event for r in self.events[first:]]

    def cancel(self, subscription_id: str, *, at_period_end: bool = False) -> dict[str, Any]:
        sub = self.get(subscription_id, "subscription")
        if sub["status"] == "canceled":
            raise StripeFail(400, "This subscription is already canceled.")
        if at_period_end:
            sub["cancel_at_period_end"] = True
            sub["cancel_at"] = sub["items"]["data"][0]["current_period_end"]
            return self.emit(
                "customer.subscription.updated",
                sub,
                previous={"cancel_at_period_end": False, "cancel_at": None},
            )
        sub.update(status="canceled", canceled_at=self.now, ended_at=self.now)
        return self.emit("customer.subscription.deleted", sub)

    def refund(self, charge_id: str, amount: int | None = None) -> dict[str, Any]:
        charge = self.get(charge_id, "charge", "charge")
        left = charge["amount"] - charge["amount_refunded"]
        amount = left if amount is None else amount
        if amount <= 0 or amount > left:
            raise StripeFail(
                400,
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                param="amount",
                code="amount_too_large" if amount > left else None,
            )
        refund = self.put(
            {
                "id": new_id("re_"),
                "object": "refund",
                "amount": amount,
                "charge": charge_id,
                "currency": charge["currency"],
                "payment_intent": charge["payment_intent"],
                "status": "succeeded",
                "reason": None,
                "metadata": {},
                "created": self.now,
            }
        )
        previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        self.emit("charge.refunded", charge, previous=previous)
        self.emit("refund.created", refund)
        return refund

    def dispute(self, charge_id: str, reason: str = "fraudulent") -> dict[str, Any]:
        charge = self.get(charge_id, "charge", "charge")
        dispute = self.put(
            {
                "id": new_id("dp_"),
                "object": "dispute",
                "amount": charge["amount"],
                "currency": charge["currency"],
                "charge": charge_id,
                "payment_intent": charge["payment_intent"],
                "reason": reason,
                "status": "needs_response",
                "is_charge_refundable": False,
                "metadata": {},
                "created": self.now,
                "livemode": False,
            }
        )
        charge["disputed"] = True
        self.emit("charge.dispute.created", dispute)
        return dispute

    def close_dispute(self, dispute_id: str, status: str = "lost") -> dict[str, Any]:
        dispute = self.get(dispute_id, "dispute")
        dispute["status"] = status
        return self.emit("charge.dispute.closed", dispute)

    # --- internals ------------------------------------------------------------------

    def _subscribe(self, terms: SessionTerms, customer_id: str) -> dict[str, Any]:
        price = terms.price
        trial_days = terms.trial_days
        start = self.now
        trial_end = start + trial_days * DAY if trial_days else None
        end = trial_end if trial_end is not None else start + _period(price)
        sub_id = new_id("sub_")
        sub = self.put(
            {
                "id": sub_id,
                "object": "subscription",
                "status": "trialing" if trial_end else "active",
                "customer": customer_id,
                "currency": price["currency"],
                "metadata": dict(terms.subscription_metadata),
                "items": {
                    "object": "list",
                    "data": [
                        {
                            "id": new_id("si_", 14),
                            "object": "subscription_item",
                            "price": copy.deepcopy(price),
                            "quantity": 1,
                            "current_period_start": start,
                            "current_period_end": end,
                            "subscription": sub_id,
                        }
                    ],
                    "has_more": False,
                    "url": f"/v1/subscription_items?subscription={sub_id}",
                },
                "cancel_at_period_end": False,
                "cancel_at": None,
                "canceled_at": None,
                "ended_at": None,
                "trial_start": start if trial_end else None,
                "trial_end": trial_end,
                "start_date": start,
                "created": start,
                "collection_method": "charge_automatically",
                "latest_invoice": None,
                "livemode": False,
            }
        )
        self.emit("customer.subscription.created", sub)
        amount = 0 if trial_end else price["unit_amount"]
        invoice = self._invoice(sub, amount, start, end, "subscription_create")
        self._settle(invoice, customer_id)
        sub["latest_invoice"] = invoice["id"]
        return sub

    def _invoice(
        self, sub: dict[str, Any], amount: int, start: int, end: int, reason: str
    ) -> dict[str, Any]:
        invoice_id = new_id("in_")
        invoice = self.put(
            {
                "id": invoice_id,
                "object": "invoice",
                "status": "draft",
                "customer": sub["customer"],
                "currency": sub["currency"],
                "amount_due": amount,
                "amount_paid": 0,
                "amount_remaining": amount,
                "attempt_count": 0,
                "attempted": False,
                "billing_reason": reason,
                "collection_method": "charge_automatically",
                "created": self.now,
                "period_start": start,
                "period_end": start,
                "next_payment_attempt": None,
                "lines": {
                    "object": "list",
                    "data": [
                        {
                            "id": new_id("il_"),
                            "object": "line_item",
                            "amount": amount,
                            "currency": sub["currency"],
                            "period": {"start": start, "end": end},
                            "quantity": 1,
                            # a subscription line carries the subscription's metadata
                            "metadata": dict(sub["metadata"]),
                        }
                    ],
                    "has_more": False,
                    "url": f"/v1/invoices/{invoice_id}/lines",
                },
                "parent": {
                    "type": "subscription_details",
                    "quote_details": None,
                    "subscription_details": {
                        "subscription": sub["id"],
                        "metadata": dict(sub["metadata"]),
                    },
                },
                "payments": {"object": "list", "data": [], "has_more": False},
                "metadata": {},
                "status_transitions": {"finalized_at": None, "paid_at": None},
                "hosted_invoice_url": None,
                "livemode": False,
            }
        )
        self.emit("invoice.created", invoice)
        invoice.update(
            status="open", status_transitions={"finalized_at": self.now, "paid_at": None}
        )
        self.emit("invoice.finalized", invoice)
        return invoice

    def _settle(self, invoice: dict[str, Any], customer_id: str) -> None:
        amount = invoice["amount_due"]
        if amount:
            pi, _ = self._pay(amount, invoice["currency"], customer_id, {})
            invoice["payments"]["data"].append(
                {
                    "id": new_id("inpay_"),
                    "object": "invoice_payment",
                    "amount_paid": amount,
                    "amount_requested": amount,
                    "currency": invoice["currency"],
                    "invoice": invoice["id"],
                    "is_default": True,
                    "payment": {"type": "payment_intent", "payment_intent": pi["id"]},
                    "status": "paid",
                    "created": self.now,
                }
            )
        invoice.update(
            status="paid",
            amount_paid=amount,
            amount_remaining=0,
            attempted=True,
            attempt_count=1 if amount else 0,
            status_transitions={"finalized_at": self.now, "paid_at": self.now},
        )
        self.emit("invoice.paid", invoice)
        self.emit("invoice.payment_succeeded", invoice)

    def _pay(
        self, amount: int, currency: str, customer_id: str | None, metadata: dict[str, str]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A PaymentIntent, its charge (carrying the intent's metadata) and the fee."""
        pi_id, charge_id, txn_id = new_id("pi_"), new_id("ch_"), new_id("txn_")
        fee = round(amount * FEE_RATE) + FEE_FIXED
        self.put(
            {
                "id": txn_id,
                "object": "balance_transaction",
                "amount": amount,
                "currency": currency,
                "fee": fee,
                "fee_details": [
                    {
                        "amount": fee,
                        "currency": currency,
                        "description": "Stripe processing fees",
                        "type": "stripe_fee",
                    }
                ],
                "net": amount - fee,
                "source": charge_id,
                "status": "pending",
                "type": "charge",
                "created": self.now,
                "available_on": self.now + 2 * DAY,
            }
        )
        charge = self.put(
            {
                "id": charge_id,
                "object": "charge",
                "amount": amount,
                "amount_captured": amount,
                "amount_refunded": 0,
                "currency": currency,
                "customer": customer_id,
                "paid": True,
                "captured": True,
                "status": "succeeded",
                "refunded": False,
                "disputed": False,
                "payment_intent": pi_id,
                "balance_transaction": txn_id,
                "metadata": dict(metadata),
                "created": self.now,
                "livemode": False,
            }
        )
        pi = self.put(
            {
                "id": pi_id,
                "object": "payment_intent",
                "amount": amount,
                "amount_received": amount,
                "currency": currency,
                "customer": customer_id,
                "status": "succeeded",
                "latest_charge": charge_id,
                "metadata": dict(metadata),
                "created": self.now,
                "livemode": False,
            }
        )
        self.emit("charge.succeeded", charge)
        self.emit("payment_intent.succeeded", pi)
        return pi, charge


def _period(price: dict[str, Any]) -> int:
    recurring = price["recurring"]
    return int(INTERVAL_SECONDS[recurring["interval"]] * int(recurring["interval_count"]))
