"""Inbound webhook channel: a provider (TradingView, a bot, a script) POSTs signals to us.

Each channel has its own secret. A delivery is authentic when the header
``X-SignalBridge-Signature: sha256=<hex HMAC-SHA256 of the raw body>`` matches; the
comparison is constant-time and happens before anything is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from pydantic import BaseModel, ConfigDict, Field

from signalbridge.integrations.registry import adapters

SIGNATURE_HEADER = "x-signalbridge-signature"
DELIVERY_HEADER = "x-signalbridge-delivery"


class WebhookConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret: str = Field(
        default_factory=lambda: secrets.token_urlsafe(32),
        min_length=16,
        max_length=256,
        description="HMAC key for deliveries; generated (and shown once) when not given",
    )
    parse_text: bool = Field(default=True, description="read non-JSON bodies with the rule parser")


def sign(secret: str, body: bytes) -> str:
    """The header value a sender computes: ``sha256=<hex>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookChannel:
    """Authenticates deliveries for one webhook channel."""

    type = "webhook"

    def __init__(self, config: WebhookConfig) -> None:
        self._secret = config.secret
        self.parse_text = config.parse_text

    def __repr__(self) -> str:
        return "WebhookChannel(secret=****)"

    def authenticate(self, body: bytes, headers: dict[str, str]) -> bool:
        given = headers.get(SIGNATURE_HEADER, "")
        if not given.startswith("sha256=") or len(given) != 71:
            return False
        return hmac.compare_digest(given.encode(), sign(self._secret, body).encode())


adapters.register(
    "channel",
    "webhook",
    WebhookChannel,
    WebhookConfig,
    secret_fields=("secret",),
    description="signed HTTP POST deliveries (TradingView alerts, bots, scripts)",
)
