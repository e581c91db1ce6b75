"""Registers ``ccxt`` as an exchange type without importing ccxt.

The config schema is checked when a connection is saved; the adapter class (and ccxt with
it, about a second of imports) is loaded only when the first ccxt connection is built.
"""

from __future__ import annotations

from signalbridge.integrations.registry import AdapterRegistry, Deferred
from signalbridge.venues.ccxt.config import CcxtConfig

TYPE = "ccxt"


def register(registry: AdapterRegistry) -> None:
    """Make ``ccxt`` an exchange type (bootstrap calls this)."""
    registry.register(
        "exchange",
        TYPE,
        Deferred("signalbridge.venues.ccxt.adapter", "CcxtAdapter"),
        CcxtConfig,
        secret_fields=("api_key", "secret", "password"),
        description=(
            "Any ccxt exchange (spot or USDT-margined linear perpetuals; "
            "Binance COIN-M inverse perpetuals)"
        ),
    )
