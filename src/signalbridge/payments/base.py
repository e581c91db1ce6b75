"""The PaymentGateway protocol: the one surface the payment flow uses with any gateway.

A gateway module (``payments/stripe.py``, ``payments/paypal.py``,
``payments/coinpayments.py``) implements :class:`PaymentGateway` and translates the
provider's objects to and from the types here. Everything is ``Decimal`` that fits
NUMERIC(38, 18) and timezone-aware UTC; the constructors refuse anything else, so a gateway
that parses a callback into these types cannot hand the flow a value the store would refuse.
Gateways raise only classes from :mod:`signalbridge.integrations.errors`; a callback that is
not authentic, stale or malformed raises
:class:`~signalbridge.integrations.errors.CallbackRejected` and yields nothing at all.

Registration. A gateway module registers nothing at import. It exposes one function that
the composition root calls, one line per gateway in ``bootstrap``::

    def register(registry: AdapterRegistry) -> None:
        registry.register(
            "payment",
            "stripe",
            StripeGateway.from_config,  # a GatewayFactory
            StripeConfig,  # pydantic model of the connection's config
            secret_fields=("api_key", "webhook_secret"),
            description="Stripe Checkout and signed webhooks",
        )

The factory is called as ``factory(connection_id, config, secrets, deps=GatewayDeps(...))``
by :func:`build_gateway`, which also checks that what it built is a :class:`PaymentGateway`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from signalbridge.integrations.errors import IntegrationError
from signalbridge.integrations.redaction import redact
from signalbridge.payments.checks import (
    MAX_ID_LENGTH,
    MAX_REASON_LENGTH,
    aware_utc,
    check_currency,
    check_ident,
    check_url,
    is_email,
    optional_ident,
    optional_utc,
    storable_amount,
)

if TYPE_CHECKING:
    from signalbridge.integrations.http import HttpClientFactory
    from signalbridge.integrations.registry import AdapterRegistry

__all__ = [
    "BillingInterval",
    "Checkout",
    "CheckoutRequest",
    "CustomerPortal",
    "GatewayCapabilities",
    "GatewayDeps",
    "GatewayFactory",
    "GatewayProbe",
    "PaymentEvent",
    "PaymentEventKind",
    "PaymentGateway",
    "PlanTerms",
    "ProbesAccount",
    "Subject",
    "SubjectKind",
    "SubjectState",
    "SubjectStatus",
    "build_gateway",
    "header",
    "payment_id_from_reference",
    "payment_reference",
]

_REFERENCE = re.compile(r"sbpay_([1-9][0-9]{0,18})", re.ASCII)


class BillingInterval(StrEnum):
    """How often a plan is paid; ``ONE_TIME`` plans are bought once."""

    ONE_TIME = "one_time"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


class SubjectKind(StrEnum):
    """Which provider object a state or an event is about."""

    CHECKOUT = "checkout"  # Stripe Checkout Session, PayPal order, CoinPayments transaction
    PAYMENT = "payment"  # Stripe invoice or charge, PayPal capture or sale
    SUBSCRIPTION = "subscription"  # Stripe sub_…, PayPal I-…


class SubjectStatus(StrEnum):
    """A subject's state, normalised across gateways (the raw text stays beside it)."""

    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"
    EXPIRED = "expired"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    REFUNDED = "refunded"
    DISPUTED = "disputed"


class PaymentEventKind(StrEnum):
    """What a callback tells the payment flow; a gateway maps its event types onto these."""

    CHECKOUT_COMPLETED = "checkout_completed"
    CHECKOUT_EXPIRED = "checkout_expired"
    PAYMENT_PENDING = "payment_pending"  # e.g. a CoinPayments underpayment, with the reason
    PAYMENT_SUCCEEDED = "payment_succeeded"
    PAYMENT_FAILED = "payment_failed"
    SUBSCRIPTION_UPDATED = "subscription_updated"
    SUBSCRIPTION_CANCELED = "subscription_canceled"
    REFUNDED = "refunded"
    DISPUTED = "disputed"
    DISPUTE_CLOSED = "dispute_closed"


@dataclass(frozen=True, slots=True)
class Subject:
    """One provider object by kind and the provider's id for it."""

    kind: SubjectKind
    id: str

    def __post_init__(self) -> None:
        _set(self, "kind", SubjectKind(self.kind))
        check_ident(self.id, "subject id")


@dataclass(frozen=True, slots=True)
class PlanTerms:
    """What is sold: our plan, its billing interval and, if set up, the gateway's price id."""

    plan_id: int
    name: str
    interval: BillingInterval
    interval_count: int = 1
    trial_days: int = 0
    #: the gateway's own price or plan id (Stripe ``price_…``, PayPal ``P-…``), if any
    provider_price_id: str | None = None

    def __post_init__(self) -> None:
        _set(self, "interval", BillingInterval(self.interval))
        if not self.name or len(self.name) > MAX_ID_LENGTH:
            raise ValueError(f"plan name must be 1 to {MAX_ID_LENGTH} characters")
        if self.interval_count < 1:
            raise ValueError("interval_count must be at least 1")
        if self.trial_days < 0:
            raise ValueError("trial_days must not be negative")
        if self.interval is BillingInterval.ONE_TIME and self.trial_days:
            raise ValueError("a one-time plan has no trial")
        optional_ident(self.provider_price_id, "provider_price_id")

    @property
    def recurring(self) -> bool:
        return self.interval is not BillingInterval.ONE_TIME


def payment_reference(payment_id: int) -> str:
    """The text our ``payments`` row travels as (client_reference_id, custom_id, invoice)."""
    if payment_id < 1:
        raise ValueError("payment_id must be positive")
    return f"sbpay_{payment_id}"


def payment_id_from_reference(reference: str | None) -> int | None:
    """Our ``payments`` row id back from a reference a callback carries; None if not ours."""
    found = _REFERENCE.fullmatch(reference or "")
    return int(found.group(1)) if found else None


@dataclass(frozen=True, slots=True)
class CheckoutRequest:
    """Everything a gateway needs to send a member to pay for a plan.

    The ``payments`` row (``payment_id``) is written ``pending`` before this is made;
    :attr:`reference` links the provider's objects back to it, and :attr:`idempotency_key`
    goes on every POST the checkout makes (``Idempotency-Key``, ``PayPal-Request-Id``), so
    a retried checkout for the same row creates nothing twice.
    """

    plan: PlanTerms
    price: Decimal
    currency: str
    payment_id: int
    user_id: int
    success_url: str
    cancel_url: str
    email: str | None = None
    #: an existing provider customer of this member (Stripe ``cus_…``), reused if set
    customer_id: str | None = None
    #: the currency the buyer pays in when the gateway converts (CoinPayments' coin)
    pay_currency: str | None = None

    def __post_init__(self) -> None:
        _set(self, "price", storable_amount(self.price, "price", positive=True))
        check_currency(self.currency, "currency")
        if self.pay_currency is not None:
            check_currency(self.pay_currency, "pay_currency")
        payment_reference(self.payment_id)
        if self.user_id < 1:
            raise ValueError("user_id must be positive")
        check_url(self.success_url, "success_url")
        check_url(self.cancel_url, "cancel_url")
        if self.email is not None and not is_email(self.email):
            raise ValueError("email is not an address")
        optional_ident(self.customer_id, "customer_id")

    @property
    def reference(self) -> str:
        return payment_reference(self.payment_id)

    @property
    def idempotency_key(self) -> str:
        return f"{self.reference}_checkout"


@dataclass(frozen=True, slots=True)
class Checkout:
    """A checkout the provider created: send the member to ``redirect_url``."""

    provider_id: str
    subject_kind: SubjectKind
    redirect_url: str
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        check_ident(self.provider_id, "provider_id")
        _set(self, "subject_kind", SubjectKind(self.subject_kind))
        check_url(self.redirect_url, "redirect_url")
        _set(self, "expires_at", optional_utc(self.expires_at, "expires_at"))

    @property
    def subject(self) -> Subject:
        return Subject(self.subject_kind, self.provider_id)


@dataclass(frozen=True, slots=True)
class PaymentEvent:
    """One fact a callback (or the provider's event list) reports, parsed and validated.

    ``(gateway, event_id)`` is the idempotency key the event is stored under once: the
    provider's event id (Stripe ``evt_…``, PayPal ``WH-…``), or for a provider without one
    a key that names the fact (CoinPayments: ``txn_id`` and status). When one delivery
    yields several events, each gets its own ``event_id``.

    ``provider_updated_at`` is the provider's marker for ``subject``'s state: an event whose
    marker is older than the stored one changes nothing (see
    :func:`signalbridge.payments.ordering.resolve`). ``status`` is the subject's state after
    the event when the event says it. ``payload`` is the provider's decoded body, kept for
    audit; it is left out of comparisons and of ``repr``.
    """

    gateway: str
    event_id: str
    kind: PaymentEventKind
    subject: Subject
    occurred_at: datetime
    provider_updated_at: datetime
    status: SubjectStatus | None = None
    provider_status: str | None = None
    #: our payment reference (:func:`payment_reference`) when the provider echoes it
    reference: str | None = None
    subscription_id: str | None = None
    customer_id: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    fee: Decimal | None = None
    #: the end of the period paid for (a subscription's paid-through time)
    period_end: datetime | None = None
    #: why a payment failed or stays pending (e.g. underpaid), fit to show a member
    reason: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        check_ident(self.gateway, "gateway")
        check_ident(self.event_id, "event_id")
        _set(self, "kind", PaymentEventKind(self.kind))
        if self.status is not None:
            _set(self, "status", SubjectStatus(self.status))
        _set(self, "occurred_at", aware_utc(self.occurred_at, "occurred_at"))
        _set(
            self, "provider_updated_at", aware_utc(self.provider_updated_at, "provider_updated_at")
        )
        _set(self, "period_end", optional_utc(self.period_end, "period_end"))
        for name in ("provider_status", "reference", "subscription_id", "customer_id"):
            optional_ident(getattr(self, name), name)
        _check_amounts(self)

    @property
    def key(self) -> tuple[str, str]:
        """The idempotency key: (gateway, provider event id)."""
        return (self.gateway, self.event_id)


@dataclass(frozen=True, slots=True)
class SubjectState:
    """A subject's current state as the provider reports it when asked (reconciliation).

    ``as_of`` is the provider's last-modified time of the object, or the time the provider
    answered when it keeps none; stored as the subject's marker, it makes every event that
    the fetched state already includes stale.
    """

    subject: Subject
    status: SubjectStatus
    provider_status: str
    as_of: datetime
    reference: str | None = None
    subscription_id: str | None = None
    customer_id: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    fee: Decimal | None = None
    period_end: datetime | None = None
    reason: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        _set(self, "status", SubjectStatus(self.status))
        check_ident(self.provider_status, "provider_status")
        _set(self, "as_of", aware_utc(self.as_of, "as_of"))
        _set(self, "period_end", optional_utc(self.period_end, "period_end"))
        for name in ("reference", "subscription_id", "customer_id"):
            optional_ident(getattr(self, name), name)
        _check_amounts(self)


@dataclass(frozen=True, slots=True)
class GatewayCapabilities:
    """What a gateway can do; checkout hides a gateway that cannot sell a plan."""

    subscriptions: bool = False
    one_time: bool = False
    trials: bool = False
    refunds: bool = False
    #: a hosted page where members manage their billing (see :class:`CustomerPortal`)
    customer_portal: bool = False
    #: ``list_events`` returns the provider's event history; without it, reconciliation
    #: asks ``fetch_state`` for every pending subject
    event_listing: bool = False
    #: price currencies accepted; empty means any
    currencies: frozenset[str] = frozenset()

    def refusal(self, req: CheckoutRequest) -> str | None:
        """Why this gateway cannot sell ``req``, or None when it can."""
        if req.plan.recurring and not self.subscriptions:
            return "this gateway does not sell recurring plans"
        if not req.plan.recurring and not self.one_time:
            return "this gateway does not sell one-time plans"
        if req.plan.trial_days and not self.trials:
            return "this gateway does not offer trials"
        if self.currencies and req.currency not in self.currencies:
            return f"this gateway does not take {req.currency}"
        return None


@runtime_checkable
class PaymentGateway(Protocol):
    """One connection to one payment gateway account. Methods raise IntegrationError only."""

    #: the gateway's type as registered ("stripe"); every event's ``gateway``
    type: ClassVar[str]
    connection_id: str
    capabilities: GatewayCapabilities

    async def create_checkout(self, req: CheckoutRequest) -> Checkout:
        """Create the provider's checkout for ``req`` with ``req.idempotency_key`` on it."""
        ...

    async def verify_and_parse(
        self, raw_body: bytes, headers: Mapping[str, str], now: datetime
    ) -> list[PaymentEvent]:
        """Authenticate one delivery over its raw bytes and parse it into events.

        Raises :class:`~signalbridge.integrations.errors.CallbackRejected` for a missing or
        wrong signature, a timestamp outside the tolerance of ``now`` or a body that cannot
        be read; never returns part of a delivery. An authentic delivery of an event type
        the flow does not act on gives ``[]``. Async because some gateways verify with the
        provider (PayPal's ``verify-webhook-signature``, or its certificate, fetched once).
        Header names are matched case-insensitively (:func:`header`).
        """
        ...

    async def fetch_state(self, subject: Subject) -> SubjectState:
        """The provider's current state of ``subject``: for events out of order and reconcile."""
        ...

    def list_events(self, since: datetime) -> AsyncIterator[PaymentEvent]:
        """Events since ``since``, oldest first, paging inside; empty without event listing."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class CustomerPortal(Protocol):
    """A gateway with a hosted billing page (``GatewayCapabilities.customer_portal``)."""

    async def portal_url(self, customer_id: str, return_url: str) -> str: ...


@dataclass(frozen=True, slots=True)
class GatewayProbe:
    """A connection test's answer: did one authenticated read succeed, and on which account.

    ``test_mode`` is True on a test or sandbox account, False on a live one, None when the
    gateway cannot tell. ``message`` is for the operator (redacted here once more, so no
    secret can ride along). ``error`` is the failure behind ``ok=False``, for a caller that
    counts it (the connection's guard); it is never shown.
    """

    ok: bool
    message: str
    test_mode: bool | None = None
    error: IntegrationError | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.ok and self.error is not None:
            raise ValueError("a probe that succeeded carries no error")
        _set(self, "message", redact(" ".join(self.message.split()))[:MAX_REASON_LENGTH])

    @classmethod
    def failed(cls, exc: IntegrationError, test_mode: bool | None = None) -> GatewayProbe:
        return cls(False, exc.message, test_mode, error=exc)


@runtime_checkable
class ProbesAccount(Protocol):
    """Optional: a gateway that tests its connection with one cheap authenticated read.

    ``probe`` raises nothing for the account's failures (a refused key, the provider
    down): they are ``ok=False`` with the reason and the error."""

    async def probe(self) -> GatewayProbe: ...


@dataclass(slots=True)
class GatewayDeps:
    """Shared things a gateway may need; one per process, passed to every gateway."""

    #: the kernel's ``HttpClientFactory``: gateways build their HTTP clients from it
    http_factory: HttpClientFactory | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


class GatewayFactory(Protocol):
    """What a gateway module registers as its factory (usually a ``from_config`` classmethod)."""

    def __call__(
        self,
        connection_id: str,
        config: Mapping[str, Any],
        secrets: Mapping[str, str],
        *,
        deps: GatewayDeps,
    ) -> PaymentGateway: ...


def build_gateway(
    registry: AdapterRegistry,
    type_: str,
    connection_id: str,
    config: Mapping[str, Any],
    secrets: Mapping[str, str],
    deps: GatewayDeps,
) -> PaymentGateway:
    """Build the gateway registered as ``type_`` for one connection."""
    spec = registry.get("payment", type_)
    gateway = spec.factory(connection_id, config, secrets, deps=deps)
    if not isinstance(gateway, PaymentGateway):
        raise TypeError(f"payment type {type_!r} built a {type(gateway).__name__}, not a gateway")
    return gateway


def header(headers: Mapping[str, str], name: str) -> str | None:
    """``name``'s value in ``headers``, whatever the case of either (HTTP names are not cased)."""
    for candidate in (name, name.lower()):
        value = headers.get(candidate)
        if value is not None:
            return value
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)  # normalising a frozen dataclass's own field


def _check_amounts(obj: PaymentEvent | SubjectState) -> None:
    if (obj.amount is None) != (obj.currency is None):
        raise ValueError("amount and currency come together or not at all")
    if obj.amount is not None:
        _set(obj, "amount", storable_amount(obj.amount, "amount"))
    if obj.currency is not None:
        check_currency(obj.currency, "currency")
    if obj.fee is not None:
        if obj.amount is None:
            raise ValueError("a fee needs an amount and currency")
        _set(obj, "fee", storable_amount(obj.fee, "fee"))
    if obj.reason is not None and len(obj.reason) > MAX_REASON_LENGTH:
        raise ValueError(f"reason is longer than {MAX_REASON_LENGTH} characters")
