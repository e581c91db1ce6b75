"""Configuration of one MetaApi connection (validated by the adapter registry)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from signalbridge.integrations.ssrf import url_syntax_problem
from signalbridge.venues.metaapi.client import DEFAULT_PROVISIONING_URL


class MetaApiConfig(BaseModel):
    """``token`` is the only secret; everything else is plain configuration."""

    model_config = ConfigDict(extra="forbid")

    account_id: str = Field(min_length=1, max_length=100, description="MetaApi account id")
    token: SecretStr = Field(description="MetaApi auth token (JWT), sent as auth-token")
    region: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9-]{2,40}$",
        description="MetaApi region (new-york, london, ...): overrides the account's own "
        "region when the client API host is looked up",
    )
    base_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="client API URL; unset, it is mt-client-api-v1.<region>.<domain> of the "
        "account's region, looked up through provisioning as the official SDK does",
    )
    provisioning_url: str | None = Field(
        default=DEFAULT_PROVISIONING_URL,
        pattern=r"^https?://",
        description="provisioning API URL (the account's region and state, the API domain); "
        "null skips the connection status and then needs base_url",
    )
    symbol_prefix: str = Field(default="", max_length=10)
    symbol_suffix: str = Field(default="", max_length=10, description="broker suffix, e.g. m, .r")
    symbol_map: dict[str, str] = Field(
        default_factory=dict, description="canonical → broker symbol for the odd ones"
    )
    symbols: list[str] = Field(
        default_factory=list, description="canonical symbols load_markets reads up front"
    )
    timeout: float = Field(default=30.0, gt=0, le=300)
    trade_timeout: float | None = Field(default=None, gt=0, le=300)
    history_days: int = Field(default=7, ge=1, le=90, description="how far back lookups search")
    max_concurrency: int = Field(default=4, ge=1, le=16)

    @field_validator("base_url", "provisioning_url")
    @classmethod
    def _plain_url(cls, value: str | None) -> str | None:
        """Refused at save what no operator setting can make safe; the addresses are
        checked by the SSRF guard on every connection (the adapter's client is guarded)."""
        if value is not None:
            problem = url_syntax_problem(value)
            if problem is not None:
                raise ValueError(problem)
        return value
