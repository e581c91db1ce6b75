"""Stripe through the official ``stripe`` library: ``config`` (the connection's settings),
``client`` (the library on the kernel's httpx), ``errors`` (translation), ``convert``
(Stripe objects ↔ our types), ``webhook`` (Stripe-Signature), ``gateway`` (the
PaymentGateway and CustomerPortal). :func:`register` adds the ``stripe`` payment type."""

from __future__ import annotations

from signalbridge.integrations.registry import AdapterRegistry
from signalbridge.payments.stripe.config import StripeConfig
from signalbridge.payments.stripe.gateway import StripeGateway

__all__ = ["StripeConfig", "StripeGateway", "register"]


def register(registry: AdapterRegistry) -> None:
    """Make ``stripe`` a payment type (bootstrap calls this)."""
    registry.register(
        "payment",
        StripeGateway.type,
        StripeGateway.from_config,
        StripeConfig,
        secret_fields=("api_key", "webhook_secret"),
        description="Stripe Checkout, signed webhooks, the events list and the billing portal",
    )
