"""CoinPayments through its legacy API and IPN: ``config``, ``client`` (signed calls),
``errors`` (translation), ``convert`` (status rules), ``ipn`` (verification) and
``gateway``; :func:`register` adds the ``coinpayments`` payment type (bootstrap calls it).

Why the legacy platform: the reference (integrations.md §3) documents its API and IPN
wire-exactly and it is still operable; the 2023+ platform (REST ``api.coinpayments.com``,
``X-CoinPayments-*`` headers, invoices and webhooks) takes different keys and is a
separate gateway type when needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from signalbridge.payments.coinpayments.config import SECRET_FIELDS, CoinPaymentsConfig
from signalbridge.payments.coinpayments.gateway import CoinPaymentsGateway

if TYPE_CHECKING:
    from signalbridge.integrations.registry import AdapterRegistry

__all__ = ["CoinPaymentsConfig", "CoinPaymentsGateway", "register"]


def register(registry: AdapterRegistry) -> None:
    """Make ``coinpayments`` a payment type (bootstrap calls this)."""
    registry.register(
        "payment",
        CoinPaymentsGateway.type,
        CoinPaymentsGateway.from_config,
        CoinPaymentsConfig,
        secret_fields=SECRET_FIELDS,
        description="CoinPayments crypto checkouts (legacy API, HMAC-signed IPN); one-time plans",
    )
