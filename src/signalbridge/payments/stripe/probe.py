"""The Stripe connection test: ``GET /v1/balance`` with the connection's key.

The cheapest read every secret key may make; a restricted key (``rk_…``) needs the
"Balance: read" permission, and without it the answer says Stripe refused the key (403).
Test or live: the answer's ``livemode`` when Stripe gives it, else the key's prefix.
"""

from __future__ import annotations

from typing import Any

from signalbridge.integrations.errors import IntegrationError
from signalbridge.payments.base import GatewayProbe
from signalbridge.payments.stripe.client import StripeApi

__all__ = ["probe"]


async def probe(api: StripeApi) -> GatewayProbe:
    """One authenticated read; a failure is ``ok=False`` with Stripe's reason (key masked)."""
    try:
        balance = await api.retrieve_balance()
    except IntegrationError as exc:
        return GatewayProbe.failed(exc, api.key_test_mode)
    livemode = balance.get("livemode")
    test_mode = (not livemode) if isinstance(livemode, bool) else api.key_test_mode
    message = f"Stripe accepted the API key: {_mode(test_mode)}"
    currencies = _currencies(balance.get("available"))
    if currencies:
        message += f"; balance in {', '.join(currencies)}"
    return GatewayProbe(True, message, test_mode)


def _currencies(available: Any) -> list[str]:
    if not isinstance(available, list):
        return []
    found = {
        item["currency"].upper()
        for item in available
        if isinstance(item, dict) and isinstance(item.get("currency"), str)
    }
    return sorted(c for c in found if c.isalpha() and len(c) == 3)


def _mode(test_mode: bool | None) -> str:
    if test_mode is None:
        return "test or live unknown"
    return "a test-mode account" if test_mode else "a live account"
