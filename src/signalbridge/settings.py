"""Settings from ``SIGNALBRIDGE_*`` environment variables and an optional TOML/.env file.

Read once by the composition root (:mod:`signalbridge.bootstrap`) and passed down; no
module reads the environment on its own.
"""

from __future__ import annotations

import ipaddress
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SIGNALBRIDGE_", env_file=".env", extra="ignore", env_nested_delimiter="__"
    )

    data_dir: Path = Path("./data")
    database_url: str = Field(
        default="", description="SQLAlchemy async URL; empty means SQLite in data_dir"
    )
    broker_url: str = Field(
        default="memory://", description="memory:// (in-process) or redis://host:port/db"
    )
    broker_queue: str = Field(default="signalbridge:tasks", description="queue name on the broker")
    host: str = "127.0.0.1"
    port: int = 8000
    # Secrets: comma-separated base64 keys, newest first. Empty means the key file.
    secret_keys: SecretStr = SecretStr("")
    key_file: Path | None = None
    # First admin created on first start of `serve` when no user exists.
    admin_email: str = "admin@localhost"
    admin_password: SecretStr | None = None
    # API tokens expire this many days after creation unless told otherwise.
    token_days: int = Field(default=90, ge=1, le=3650)
    # Failed logins allowed per account (email) and per client address ("N/minute").
    login_limit_per_account: str = "5/minute"
    login_limit_per_address: str = "20/minute"
    # Console and member portal (web/console): who may sign up ("open", "approval": an
    # operator approves each new member, "closed"); the session cookie's Secure flag (turn
    # off only to serve plain http on a host other than localhost, never in production).
    signup: str = Field(default="open", pattern="^(open|approval|closed)$")
    cookie_secure: bool = True
    # When set, GET /metrics requires "Authorization: Bearer <metrics_token>".
    metrics_token: SecretStr | None = None
    # The sweeper re-queues rows stuck in a non-final state for longer than this.
    sweep_interval_seconds: float = 5.0
    stuck_after_seconds: float = 10.0
    # An order whose send outcome is unknown is sent again (same client order id) only when
    # the venue still does not know it this long after it was sent.
    order_settle_seconds: float = 30.0
    # How often open orders are synced with their venue, and the paper feed advanced.
    order_sync_seconds: float = 2.0
    # How often each connection's positions and open orders are read in one batch and
    # compared with ours (execution/position_sync.py): closed or reduced outside, stops
    # cancelled by hand, foreign positions. 0 turns the position sync off.
    position_sync_seconds: float = Field(default=30.0, ge=0)
    paper_tick_seconds: float = 1.0
    monitor_seconds: float = 1.0
    # How often funding payments of perpetual futures are read from the venues that report
    # them (Binance futures' income history) into positions' realised PnL; 0 turns it off.
    funding_sync_seconds: float = Field(default=3600.0, ge=0)
    # The monitor reads prices from one ccxt.pro websocket per venue where it has one and
    # falls back to REST for a symbol whose streamed price is missing or older than this.
    price_streams: bool = True
    price_stream_stale_seconds: float = Field(default=5.0, gt=0, le=300)
    # A symbol no open position asked for this long is unsubscribed from its stream.
    price_stream_idle_seconds: float = Field(default=60.0, gt=0, le=3600)
    # A stop or target resting on the venue is left to the venue this long after the price
    # reached its level; then the monitor cancels it and closes at market.
    resting_grace_seconds: float = 10.0
    # The notification bot (notifications/): its token from @BotFather turns notices on;
    # without one the outbox keeps filling and nothing is sent. The API URL is for a local
    # Bot API server (it must pass the SSRF guard: loopback only through allowed_hosts).
    notify_bot_token: SecretStr | None = None
    notify_bot_api_url: str = "https://api.telegram.org"
    notify_seconds: float = Field(default=1.0, gt=0)
    # How often the scheduler polls each active polling channel (feeds, Telegram, pages).
    poll_interval_seconds: float = Field(default=30.0, gt=0)
    webhook_max_body_bytes: int = 64 * 1024
    # AI parsing (services/ai_parsing.py): the most all AI calls together may cost per UTC
    # day, in USD (unset: no global cap; each AI configuration's daily_budget_usd applies).
    ai_daily_budget_usd: Decimal | None = Field(default=None, ge=0)
    # Entitlement (services/entitlement.py): a subscription whose renewal failed (past_due)
    # keeps its channels this many days after its paid-through time; members are reminded
    # this many days before a period ends; the expiry job runs this often.
    payments_grace_days: int = Field(default=3, ge=0, le=365)
    payments_reminder_days: int = Field(default=3, ge=0, le=365)
    entitlement_job_seconds: float = Field(default=300.0, gt=0)
    # How often the scheduler reconciles payments (what the gateways' webhooks missed,
    # read back as `signalbridge payments reconcile` does); 0 turns the job off.
    payments_reconcile_seconds: float = Field(default=900.0, ge=0)
    # A signed webhook delivery whose X-SignalBridge-Timestamp is further than this from
    # the server's clock is refused, and a body seen again on a channel within this time
    # is a duplicate. A channel's `tolerance_seconds` overrides it.
    webhook_tolerance_seconds: int = Field(default=300, ge=1, le=86_400)
    # TradingView's published alert source addresses: what a webhook channel's
    # `allowed_sources` preset "tradingview" stands for. Update it when TradingView does.
    tradingview_sources: list[str] = Field(
        default_factory=lambda: ["52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7"]
    )
    # Reverse proxies (IPs or CIDRs) whose X-Forwarded-For is believed when a webhook
    # channel checks its allowed sources. Empty by default: the header is never trusted.
    trusted_proxies: list[str] = Field(default_factory=list)
    log_level: str = "INFO"
    log_json: bool = True
    # The operator's SSRF allow-list, and the only way to open one: host names (exact),
    # IP addresses or CIDR networks that user-configured URLs (broker and exchange
    # endpoints, ccxt `urls` overrides, feeds, AI endpoints) may reach although they are
    # loopback or private. Empty by default; for local fakes and development, e.g.
    # SIGNALBRIDGE_ALLOWED_HOSTS='["127.0.0.1", "::1"]'. Nothing in a connection's config
    # extends it.
    allowed_hosts: list[str] = Field(default_factory=list)
    redis_url: str = Field(default="", description="shared state for breakers and rate limits")
    redis_prefix: str = Field(default="signalbridge", description="key prefix in Redis")
    config_file: Path | None = None

    @field_validator("tradingview_sources", "trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            ipaddress.ip_network(entry.strip(), strict=False)  # ValueError names the entry
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'signalbridge.db').as_posix()}"

    @property
    def resolved_key_file(self) -> Path:
        return self.key_file or self.data_dir / "secret.keys"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, dotenv_settings, _TomlFileSource(settings_cls))


class _TomlFileSource(PydanticBaseSettingsSource):
    """Values from the TOML file named by ``SIGNALBRIDGE_CONFIG_FILE`` (lowest precedence)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        import os

        path = os.environ.get("SIGNALBRIDGE_CONFIG_FILE")
        if not path:
            return {}
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        section = data.get("signalbridge", data)
        return {k: v for k, v in section.items() if k in self.settings_cls.model_fields}
