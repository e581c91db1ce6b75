"""Payments: the gateway protocol and the pure rules every gateway shares.

:mod:`.base` holds the types and the :class:`PaymentGateway` protocol, :mod:`.ordering`
resolves out-of-order events, :mod:`.signing` the HMAC checks. A gateway is one module
here with a ``register(registry)`` function that ``bootstrap`` calls; importing this
package registers nothing.
"""

from signalbridge.payments.base import (
    BillingInterval,
    Checkout,
    CheckoutRequest,
    CustomerPortal,
    GatewayCapabilities,
    GatewayDeps,
    GatewayFactory,
    PaymentEvent,
    PaymentEventKind,
    PaymentGateway,
    PlanTerms,
    Subject,
    SubjectKind,
    SubjectState,
    SubjectStatus,
    build_gateway,
    header,
    payment_id_from_reference,
    payment_reference,
)
from signalbridge.payments.ordering import Resolution, by_subject, resolve

__all__ = [
    "BillingInterval",
    "Checkout",
    "CheckoutRequest",
    "CustomerPortal",
    "GatewayCapabilities",
    "GatewayDeps",
    "GatewayFactory",
    "PaymentEvent",
    "PaymentEventKind",
    "PaymentGateway",
    "PlanTerms",
    "Resolution",
    "Subject",
    "SubjectKind",
    "SubjectState",
    "SubjectStatus",
    "build_gateway",
    "by_subject",
    "header",
    "payment_id_from_reference",
    "payment_reference",
    "resolve",
]
