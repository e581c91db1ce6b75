"""PayPal REST: Orders v2 and Subscriptions, webhooks verified offline or online.

``config`` (the connection's schema), ``auth`` (OAuth2 client-credentials token, cached),
``client`` (httpx REST calls), ``errors`` (PayPal's error shapes to our tree), ``convert``
(PayPal objects to our payment types, pure), ``webhook`` (transmission headers, cert URL
rules, certificate cache, signature), ``gateway`` (the :class:`PaymentGateway` and the
optional :class:`CompletesApproval`). :func:`register` adds the ``paypal`` payment type;
importing this package registers nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from signalbridge.payments.paypal.config import PayPalConfig
from signalbridge.payments.paypal.gateway import CompletesApproval, PayPalGateway

if TYPE_CHECKING:
    from signalbridge.integrations.registry import AdapterRegistry

__all__ = ["CompletesApproval", "PayPalConfig", "PayPalGateway", "register"]


def register(registry: AdapterRegistry) -> None:
    """Make ``paypal`` a payment type (bootstrap calls this)."""
    registry.register(
        "payment",
        PayPalGateway.type,
        PayPalGateway.from_config,
        PayPalConfig,
        secret_fields=("client_secret",),
        description="PayPal REST: Orders v2 checkout and capture, Subscriptions, "
        "webhooks verified with PayPal's certificate or verify-webhook-signature",
    )
