"""Configuration of one PayPal REST connection (validated by the adapter registry).

``client_id`` and ``client_secret`` are the app's credentials (sealed by the vault); the
rest is plain configuration. ``webhook_id`` is the id PayPal gave *our* webhook listener
(sandbox and live differ): both ways of verifying a delivery sign over it.

``cert_hosts`` and ``cert_cn_suffixes`` exist so a test can point offline verification at a
loopback fake; their defaults are PayPal's own hosts and names (integrations.md section 2),
and the SSRF guard still stands between any cert URL and the network.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from signalbridge.integrations.ssrf import url_syntax_problem

LIVE_URL = "https://api-m.paypal.com"
SANDBOX_URL = "https://api-m.sandbox.paypal.com"

#: Hosts PayPal serves its webhook signing certificates from (live and sandbox, both the
#: current ``api-m`` names and the legacy ones that still appear in ``PAYPAL-CERT-URL``).
PAYPAL_CERT_HOSTS: tuple[str, ...] = (
    "api.paypal.com",
    "api-m.paypal.com",
    "api.sandbox.paypal.com",
    "api-m.sandbox.paypal.com",
)
#: The signing certificate's subject CN must end with one of these.
PAYPAL_CERT_CN_SUFFIXES: tuple[str, ...] = (".paypal.com",)

_HOST_ENTRY = r"^[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$"


class PayPalConfig(BaseModel):
    """One PayPal app: credentials, the listener's webhook id, and how deliveries are checked."""

    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(min_length=1, max_length=200, description="REST app client id")
    client_secret: SecretStr = Field(description="REST app secret (OAuth2 client credentials)")
    webhook_id: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="the id PayPal assigned to this listener's webhook (signed over)",
    )
    base_url: str = Field(
        default=LIVE_URL,
        description=f"REST API URL: live {LIVE_URL}, sandbox {SANDBOX_URL}, or a fake's",
    )
    verification: Literal["offline", "online"] = Field(
        default="offline",
        description="offline: check the RSA signature with PayPal's certificate (fetched "
        "once per cert URL); online: ask POST /v1/notifications/verify-webhook-signature",
    )
    capture_on_approval: bool = Field(
        default=True,
        description="capture an approved order while verifying its CHECKOUT.ORDER.APPROVED "
        "delivery and return the capture's event with it (a capture that fails transiently "
        "fails the delivery, and PayPal delivers it again); off: the flow calls "
        "complete_approval itself",
    )
    tolerance_seconds: int = Field(
        default=300,
        ge=30,
        le=3600,
        description="how far PAYPAL-TRANSMISSION-TIME may be from now, either way",
    )
    cert_hosts: tuple[str, ...] = Field(
        default=PAYPAL_CERT_HOSTS,
        min_length=1,
        description="hosts (optionally host:port) a PAYPAL-CERT-URL may name",
    )
    cert_https_only: bool = Field(
        default=True, description="a PAYPAL-CERT-URL must be https (tests of a fake say no)"
    )
    cert_cn_suffixes: tuple[str, ...] = Field(
        default=PAYPAL_CERT_CN_SUFFIXES,
        min_length=1,
        description="the signing certificate's subject CN must end with one of these",
    )
    brand_name: str | None = Field(
        default=None, max_length=127, description="shown on PayPal's pages"
    )
    reference_prefix: str = Field(
        default="",
        max_length=40,
        pattern=r"^[A-Za-z0-9_-]*$",
        description="prefix of the custom_id and invoice_id we send (PayPal refuses an "
        "invoice id used before, and every app webhook sees every event: give each "
        "installation sharing a PayPal app its own prefix)",
    )
    plan_ids: dict[str, str] = Field(
        default_factory=dict,
        description="our plan id → PayPal billing plan id (P-…), for plans whose terms "
        "carry no provider_price_id",
    )
    token_margin_seconds: int = Field(
        default=300,
        ge=0,
        le=3600,
        description="a cached access token is renewed this long before it expires",
    )
    fee_rate: Decimal = Field(default=Decimal(0), ge=0, lt=1)
    fixed_fee: Decimal = Field(default=Decimal(0), ge=0)

    @field_validator("base_url")
    @classmethod
    def _plain_url(cls, value: str) -> str:
        """Forms no operator setting can make safe are refused at save; addresses are
        judged by the SSRF guard on every request (the gateway's clients are guarded)."""
        problem = url_syntax_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value.rstrip("/")

    @field_validator("cert_hosts")
    @classmethod
    def _hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            if not re.fullmatch(_HOST_ENTRY, entry):
                raise ValueError(f"{entry!r} is not a host or host:port")
        return tuple(entry.lower() for entry in value)

    @field_validator("cert_cn_suffixes")
    @classmethod
    def _suffixes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            if not entry.startswith(".") or len(entry) < 3:
                raise ValueError(f"{entry!r} must be a domain suffix starting with '.'")
        return tuple(entry.lower() for entry in value)

    @field_validator("plan_ids")
    @classmethod
    def _plan_ids(cls, value: dict[str, str]) -> dict[str, str]:
        for ours, theirs in value.items():
            if not ours.isdigit() or not re.fullmatch(r"P-[A-Z0-9]{1,60}", theirs):
                raise ValueError(f"plan_ids maps our numeric plan id to P-…, not {ours!r}")
        return value
