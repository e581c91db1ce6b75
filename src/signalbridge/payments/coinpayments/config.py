"""Configuration of one CoinPayments connection (validated by the adapter registry).

The legacy API is keyed by a public key (sent in every body, shown like any identifier)
and a private key (the HMAC-SHA512 key of every call); IPNs are signed with the separate
IPN secret of the merchant account. The two secrets are sealed; the rest is public config.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from signalbridge.integrations.ssrf import url_syntax_problem
from signalbridge.payments.checks import check_currency

DEFAULT_BASE_URL = "https://www.coinpayments.net/api.php"
"""The legacy API's one endpoint: every command is a POST here."""

SECRET_FIELDS = ("private_key", "ipn_secret")


class CoinPaymentsConfig(BaseModel):
    """A merchant account: keys, where IPNs go, which coins buyers may pay with, fees."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(
        default=DEFAULT_BASE_URL,
        description="the legacy API endpoint (api.php); a fake's URL in tests",
    )
    merchant_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9]+$",
        description="your merchant id (Account settings); every IPN must carry it",
    )
    public_key: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9]+$",
        description="the API public key, sent as key= in every call",
    )
    private_key: SecretStr = Field(description="the API private key: HMAC-SHA512 of each call")
    ipn_secret: SecretStr = Field(description="the IPN secret: HMAC-SHA512 of each IPN body")
    ipn_url: str | None = Field(
        default=None,
        description="where CoinPayments posts IPNs (our POST /webhooks/payments/{gateway}); "
        "unset, the account's own IPN URL is used",
    )
    accepted_coins: list[str] = Field(
        default_factory=lambda: ["BTC"],
        min_length=1,
        max_length=50,
        description="coins a buyer may pay with (currency2); the first is the default. "
        "LTCT is the testnet coin",
    )
    price_currencies: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="plan currencies sold (currency1); empty means any",
    )
    fee_rate: Decimal = Field(
        default=Decimal(0), ge=0, lt=1, description="fraction of the price kept as fee"
    )
    fixed_fee: Decimal = Field(default=Decimal(0), ge=0, description="fee in the plan currency")
    timeout: float = Field(default=30.0, gt=0, le=120)

    @field_validator("base_url", "ipn_url")
    @classmethod
    def _plain_url(cls, value: str | None) -> str | None:
        """Refused at save what no operator setting can make safe; the address itself is
        checked by the SSRF guard on every connection (the client is guarded)."""
        if value is not None:
            problem = url_syntax_problem(value)
            if problem is not None:
                raise ValueError(problem)
        return value

    @field_validator("accepted_coins", "price_currencies")
    @classmethod
    def _codes(cls, values: list[str]) -> list[str]:
        for value in values:
            check_currency(value, "currency")
        if len(set(values)) != len(values):
            raise ValueError("a currency is listed twice")
        return values

    @property
    def default_coin(self) -> str:
        return self.accepted_coins[0]
