"""An in-memory payment gateway for the payment flow's tests: the ``PaymentGateway``
protocol with a provider behind it that the test drives.

It is not a copy of any vendor (the Stripe, PayPal and CoinPayments fakes are); it is the
smallest honest implementation of the protocol, so the flow (services/payments) is tested
against the protocol only:

- :class:`DoubleProvider` is the provider's side: checkouts it created (one per
  idempotency key, as a provider keeps them), the current state of each subject (what
  ``fetch_state`` answers), the event history (``list_events``), signed deliveries of
  events (HMAC-SHA256 over ``"{t}.{body}"``, ``t=…,v1=…`` like Stripe's) and switches
  that make it fail;
- :class:`DoubleGateway` is what the flow builds from a ``payment_gateways`` row of type
  ``"double"`` (config ``{"world": name, "fee_rate": …, "fixed_fee": …}``, secret
  ``webhook_secret``), bound to the provider registered under ``world``.

Register it in a test's registry, never in bootstrap::

    register_double(harness.container.registry)
    provider = DoubleProvider.open("w1")
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from signalbridge.integrations.errors import (
    CallbackRejected,
    InvalidRequest,
    OrderNotFound,
    TransientError,
)
from signalbridge.integrations.registry import AdapterRegistry
from signalbridge.payments.base import (
    Checkout,
    CheckoutRequest,
    GatewayCapabilities,
    GatewayDeps,
    PaymentEvent,
    PaymentEventKind,
    Subject,
    SubjectKind,
    SubjectState,
    SubjectStatus,
    header,
)
from signalbridge.payments.signing import (
    check_fresh,
    hmac_hex,
    matches_any,
    parse_items,
    timestamp_of,
)

TYPE = "double"
SIGNATURE_HEADER = "Double-Signature"
TOLERANCE = timedelta(seconds=300)

#: Providers by world name; a test opens its own (``DoubleProvider.open``).
WORLDS: dict[str, DoubleProvider] = {}


class DoubleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    world: str = Field(min_length=1, max_length=100)
    base_url: str = "https://double.invalid"
    fee_rate: Decimal = Decimal(0)
    fixed_fee: Decimal = Decimal(0)
    webhook_secret: SecretStr


@dataclass
class DoubleProvider:
    """The provider behind every double gateway of one world."""

    name: str
    secret: str = "whsec_double_secret"
    capabilities: GatewayCapabilities = field(
        default_factory=lambda: GatewayCapabilities(
            subscriptions=True,
            one_time=True,
            trials=True,
            refunds=True,
            customer_portal=True,
            event_listing=True,
        )
    )
    checkouts: dict[str, Checkout] = field(default_factory=dict)
    requests: list[CheckoutRequest] = field(default_factory=list)
    states: dict[Subject, SubjectState] = field(default_factory=dict)
    history: list[PaymentEvent] = field(default_factory=list)
    #: the next N create_checkout calls fail with a 5xx-like error
    fail_checkouts: int = 0
    #: fetch_state fails while set
    fetch_down: bool = False
    fetches: list[Subject] = field(default_factory=list)
    counter: int = 0

    @classmethod
    def open(cls, name: str, **kw: Any) -> DoubleProvider:
        provider = cls(name, **kw)
        WORLDS[name] = provider
        return provider

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}_{self.name}_{self.counter}"

    # --- the provider's side of a delivery ---

    def record(self, event: PaymentEvent, state: SubjectState | None = None) -> PaymentEvent:
        """The provider did something: it is in the history, and its state is current."""
        self.history.append(event)
        if state is not None:
            self.states[state.subject] = state
        return event

    def delivery(
        self, *events: PaymentEvent, at: datetime | None = None, secret: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """A signed webhook body carrying ``events`` and its headers."""
        body = json.dumps([encode(e) for e in events]).encode()
        stamp = int((at or datetime.now(UTC)).timestamp())
        signature = hmac_hex(secret or self.secret, f"{stamp}.".encode() + body)
        return body, {SIGNATURE_HEADER: f"t={stamp},v1={signature}"}


@dataclass
class DoubleGateway:
    """The flow's side: one connection to the double provider of a world."""

    type: ClassVar[str] = TYPE
    connection_id: str
    provider: DoubleProvider
    secret: str
    capabilities: GatewayCapabilities
    closed: bool = False

    @classmethod
    def from_config(
        cls,
        connection_id: str,
        config: Mapping[str, Any],
        secrets: Mapping[str, str],
        *,
        deps: GatewayDeps,
    ) -> DoubleGateway:
        world = str(config["world"])
        provider = WORLDS.get(world)
        if provider is None:
            raise ValueError(f"no double provider named {world!r}")
        return cls(connection_id, provider, secrets["webhook_secret"], provider.capabilities)

    async def create_checkout(self, req: CheckoutRequest) -> Checkout:
        provider = self.provider
        provider.requests.append(req)
        kept = provider.checkouts.get(req.idempotency_key)
        if kept is not None:
            return kept
        if provider.fail_checkouts > 0:
            provider.fail_checkouts -= 1
            raise TransientError("double provider: 503 service unavailable")
        checkout_id = provider.next_id("cs")
        checkout = Checkout(
            provider_id=checkout_id,
            subject_kind=SubjectKind.CHECKOUT,
            redirect_url=f"https://pay.double.test/{checkout_id}",
        )
        provider.checkouts[req.idempotency_key] = checkout
        provider.states[checkout.subject] = SubjectState(
            subject=checkout.subject,
            status=SubjectStatus.PENDING,
            provider_status="open",
            as_of=datetime.now(UTC),
            reference=req.reference,
        )
        return checkout

    async def verify_and_parse(
        self, raw_body: bytes, headers: Mapping[str, str], now: datetime
    ) -> list[PaymentEvent]:
        items = parse_items(header(headers, SIGNATURE_HEADER), SIGNATURE_HEADER)
        stamps = items.get("t", ())
        if len(stamps) != 1:
            raise CallbackRejected("one t= is required", reason="malformed")
        signed_at = timestamp_of(stamps[0], SIGNATURE_HEADER)
        expected = hmac_hex(self.secret, f"{stamps[0]}.".encode() + raw_body)
        if not matches_any(expected, items.get("v1", ())):
            raise CallbackRejected("no v1 signature matches", reason="signature")
        check_fresh(signed_at, now, TOLERANCE)
        try:
            return [decode(item) for item in json.loads(raw_body)]
        except (ValueError, KeyError, TypeError) as exc:
            raise CallbackRejected(
                f"the body cannot be read: {type(exc).__name__}", reason="malformed"
            ) from None

    async def fetch_state(self, subject: Subject) -> SubjectState:
        self.provider.fetches.append(subject)
        if self.provider.fetch_down:
            raise TransientError("double provider: connection refused")
        state = self.provider.states.get(subject)
        if state is None:
            raise OrderNotFound(f"no such {subject.kind}")
        return state

    async def list_events(self, since: datetime) -> AsyncIterator[PaymentEvent]:
        if not self.capabilities.event_listing:
            return
        for event in sorted(self.provider.history, key=lambda e: e.occurred_at):
            if event.occurred_at >= since:
                yield event

    async def portal_url(self, customer_id: str, return_url: str) -> str:
        if not customer_id.startswith("cus_"):
            raise InvalidRequest("no such customer")
        return f"https://billing.double.test/{customer_id}?session={time.monotonic_ns()}"

    async def close(self) -> None:
        self.closed = True


def register_double(registry: AdapterRegistry) -> None:
    registry.register(
        "payment",
        TYPE,
        DoubleGateway.from_config,
        DoubleConfig,
        secret_fields=("webhook_secret",),
        description="in-memory test double of a payment gateway",
        replace=True,
    )


# --- events on the wire (the double's own JSON) ---

_TIMES = ("occurred_at", "provider_updated_at", "period_end")
_DECIMALS = ("amount", "fee")
_TEXTS = (
    "gateway",
    "event_id",
    "kind",
    "status",
    "provider_status",
    "reference",
    "subscription_id",
    "customer_id",
    "currency",
    "reason",
)


def encode(event: PaymentEvent) -> dict[str, Any]:
    out: dict[str, Any] = {"subject": {"kind": event.subject.kind.value, "id": event.subject.id}}
    for name in _TEXTS:
        value = getattr(event, name)
        out[name] = None if value is None else str(value)
    for name in _TIMES:
        value = getattr(event, name)
        out[name] = None if value is None else value.isoformat()
    for name in _DECIMALS:
        value = getattr(event, name)
        out[name] = None if value is None else format(value, "f")
    return out


def decode(item: dict[str, Any]) -> PaymentEvent:
    values: dict[str, Any] = {name: item.get(name) for name in _TEXTS}
    values["kind"] = PaymentEventKind(values["kind"])
    if values["status"] is not None:
        values["status"] = SubjectStatus(values["status"])
    for name in _TIMES:
        raw = item.get(name)
        values[name] = None if raw is None else datetime.fromisoformat(raw)
    for name in _DECIMALS:
        raw = item.get(name)
        values[name] = None if raw is None else Decimal(raw)
    subject = item["subject"]
    return PaymentEvent(
        subject=Subject(SubjectKind(subject["kind"]), subject["id"]), payload=item, **values
    )
