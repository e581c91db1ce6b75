"""Configuration of one Stripe connection (validated by the adapter registry).

``api_key`` and ``webhook_secret`` are the sealed secrets. ``webhook_secret`` may hold
several ``whsec_…`` secrets (separated by commas, spaces or new lines, or given as a list)
while an endpoint's secret is rolled: Stripe then signs every delivery once per live secret
and a delivery is accepted when any one matches.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from signalbridge.domain.bounds import StoreDecimal
from signalbridge.integrations.ssrf import url_syntax_problem

DEFAULT_BASE_URL = "https://api.stripe.com"
DEFAULT_TOLERANCE_SECONDS = 300  # stripe.Webhook.DEFAULT_TOLERANCE
MAX_WEBHOOK_SECRETS = 8

_SECRET_SPLIT = re.compile(r"[\s,;]+")
_PRICE_ID = re.compile(r"^(price|plan)_[A-Za-z0-9_]{1,190}$")


class StripeConfig(BaseModel):
    """One Stripe account: keys, where its API is, the fee it charges, the webhook window."""

    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr = Field(description="secret (sk_…) or restricted (rk_…) API key")
    webhook_secret: SecretStr = Field(
        description="the endpoint's signing secret (whsec_…); during a rotation several, "
        "separated by commas or new lines"
    )
    base_url: str = Field(
        default=DEFAULT_BASE_URL, description="Stripe API URL (a local fake in tests)"
    )
    fee_rate: StoreDecimal = Field(
        default=Decimal(0), ge=0, lt=1, description="fee as a fraction of the amount, e.g. 0.029"
    )
    fixed_fee: StoreDecimal = Field(
        default=Decimal(0), ge=0, description="fixed fee per payment, in the plan currency"
    )
    webhook_tolerance_seconds: int = Field(
        default=DEFAULT_TOLERANCE_SECONDS,
        ge=1,
        le=3600,
        description="how far a delivery's signed timestamp may be from now, either way",
    )
    price_ids: dict[str, str] = Field(
        default_factory=dict,
        description="our plan id → a Stripe price id (price_…); without one a price is "
        "sent inline (price_data)",
    )
    product_name_prefix: str = Field(default="", max_length=60)
    stripe_version: str | None = Field(
        default=None,
        pattern=r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$",
        description="API version sent as Stripe-Version; unset, the library's pinned one",
    )
    timeout: float = Field(default=30.0, gt=0, le=120)

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _joined(cls, value: Any) -> Any:
        """A list of secrets is kept as one text (the vault seals text)."""
        if isinstance(value, list | tuple):
            return ",".join(str(v) for v in value)
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secrets_readable(cls, value: SecretStr) -> SecretStr:
        found = webhook_secrets(value.get_secret_value())
        if not found:
            raise ValueError("needs at least one webhook signing secret")
        if len(found) > MAX_WEBHOOK_SECRETS:
            raise ValueError(f"at most {MAX_WEBHOOK_SECRETS} webhook secrets at a time")
        return value

    @field_validator("base_url")
    @classmethod
    def _plain_url(cls, value: str) -> str:
        """Refused at save what no operator setting can make safe; the address itself is
        checked by the SSRF guard on every connection."""
        problem = url_syntax_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value.rstrip("/")

    @field_validator("price_ids")
    @classmethod
    def _price_ids(cls, value: dict[str, str]) -> dict[str, str]:
        for plan, price in value.items():
            if not plan.isdigit() or not _PRICE_ID.fullmatch(price):
                raise ValueError("keys are plan ids, values Stripe price ids (price_…)")
        return value


def webhook_secrets(value: str | Iterable[str]) -> tuple[str, ...]:
    """The signing secrets in a stored ``webhook_secret``: one, several, or a JSON list."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                loaded = json.loads(text)
            except ValueError:
                loaded = None
            if isinstance(loaded, list):
                return webhook_secrets(str(item) for item in loaded)
        parts: Iterable[str] = _SECRET_SPLIT.split(text)
    else:
        parts = (part for item in value for part in _SECRET_SPLIT.split(str(item)))
    return tuple(dict.fromkeys(part for part in parts if part))


def key_test_mode(api_key: str) -> bool | None:
    """True for a test-mode key (``sk_test_``/``rk_test_``), False for a live one, None when
    the key has neither prefix (Stripe's answer's ``livemode`` then decides)."""
    if api_key.startswith(("sk_test_", "rk_test_")):
        return True
    if api_key.startswith(("sk_live_", "rk_live_")):
        return False
    return None
