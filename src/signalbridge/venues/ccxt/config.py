"""A ccxt connection's settings and the ccxt instance built from them."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from signalbridge.integrations.ssrf import url_syntax_problem
from signalbridge.venues.base import Capabilities, MarketKind
from signalbridge.venues.ccxt.quirks import ExchangeQuirks, MarketType
from signalbridge.venues.ccxt.urls import options_problem
from signalbridge.venues.symbols import SymbolMap, SymbolStyle

#: Exchanges whose coin-margined futures SignalBridge knows (quirks, a fake to test on).
INVERSE_EXCHANGES = frozenset({"binance"})


#: A pure check, asked again for every connection built from the same URLs.
_url_problem = functools.lru_cache(maxsize=4096)(url_syntax_problem)


class CcxtConfig(BaseModel):
    """A ccxt connection. ``urls`` replaces ccxt's ``urls['api']`` entries; it may only
    point at hosts in the operator's allow-list (local fakes, an intranet gateway)."""

    model_config = ConfigDict(extra="forbid")

    exchange: str = Field(default="binance", pattern=r"^[a-z0-9]{2,32}$")
    #: ``inverse``: coin-margined futures (Binance COIN-M), amounts in contracts, margin
    #: and PnL in the base coin; on the exchanges in :data:`INVERSE_EXCHANGES` only.
    market_type: MarketType = "spot"
    #: Futures: the margin type set on every symbol before it is traded. Isolated by
    #: default, so one signal's position can lose its own margin, never the whole wallet.
    margin_type: Literal["isolated", "cross"] = "isolated"
    sandbox: bool = False
    timeout_ms: int = Field(default=10_000, ge=100, le=120_000)
    urls: dict[str, str] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
    symbol_style: SymbolStyle | None = None
    symbol_prefix: str = ""
    symbol_suffix: str = ""
    symbol_map: dict[str, str] = Field(default_factory=dict)
    api_key: str | None = Field(default=None, description="secret: the venue API key")
    secret: str | None = Field(default=None, description="secret: the venue API secret")
    password: str | None = Field(default=None, description="secret: passphrase, if any")

    @field_validator("exchange")
    @classmethod
    def _known_exchange(cls, value: str) -> str:
        import ccxt.async_support as ccxt_async  # only when a ccxt config is checked

        if value not in ccxt_async.exchanges:
            raise ValueError(f"ccxt has no exchange {value!r}")
        return value

    @model_validator(mode="after")
    def _inverse_where_known(self) -> CcxtConfig:
        if self.market_type == "inverse" and self.exchange not in INVERSE_EXCHANGES:
            known = ", ".join(sorted(INVERSE_EXCHANGES))
            raise ValueError(
                f"coin-margined (inverse) futures are supported on {known} only, "
                f"not on {self.exchange!r}"
            )
        return self

    @field_validator("urls")
    @classmethod
    def _plain_urls(cls, value: dict[str, str]) -> dict[str, str]:
        """Signed requests carry the API key: refuse at save what no operator setting can
        make safe; the host itself is held to the allow-list when the adapter is built."""
        for name, url in value.items():
            problem = _url_problem(url)
            if problem is not None:
                raise ValueError(f"url override {name!r}: {problem}")
        return value

    @field_validator("options")
    @classmethod
    def _no_urls_in_options(cls, value: dict[str, Any]) -> dict[str, Any]:
        problem = options_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


def build_exchange(config: CcxtConfig, secrets: Mapping[str, str], quirks: ExchangeQuirks) -> Any:
    """The ccxt instance: our limiter (not ccxt's), a timeout, the exchange's own options."""
    import ccxt.async_support as ccxt_async

    klass = getattr(ccxt_async, config.exchange)
    options: dict[str, Any] = {
        "defaultType": "spot" if config.market_type == "spot" else "swap",
        "defaultSubType": None if config.market_type == "spot" else config.market_type,
    }
    options.update(quirks.options())
    options.update(config.options)
    params: dict[str, Any] = {
        "enableRateLimit": False,
        "timeout": config.timeout_ms,
        "options": options,
    }
    for ours, theirs in (("api_key", "apiKey"), ("secret", "secret"), ("password", "password")):
        if secrets.get(ours):
            params[theirs] = secrets[ours]
    if config.urls:
        params["urls"] = {"api": dict(config.urls)}
    exchange = klass(params)
    if config.sandbox:
        exchange.set_sandbox_mode(True)
    return exchange


def symbol_map(config: CcxtConfig, kind: MarketKind) -> SymbolMap:
    """Canonical ↔ venue symbols: ccxt's unified style for the market type unless the
    connection names its own."""
    style = config.symbol_style or (
        SymbolStyle.SLASH if kind is MarketKind.SPOT else SymbolStyle.LINEAR
    )
    return SymbolMap.from_config(
        config.exchange,
        {
            "symbol_style": style.value,
            "symbol_prefix": config.symbol_prefix,
            "symbol_suffix": config.symbol_suffix,
            "symbol_map": config.symbol_map,
        },
    )


def capabilities_of(kind: MarketKind, *, resting: bool) -> Capabilities:
    """What a ccxt connection can do; ``resting``: stops and targets rest on the venue."""
    linear = kind is MarketKind.LINEAR
    return Capabilities(
        stop_orders=resting,
        native_stop_loss=resting,
        native_take_profit=resting,
        reduce_only=linear,
        futures=linear,
        leverage=linear,
        batch_tickers=True,
        max_client_order_id_len=36,
        resting_stops=resting,
        resting_targets=resting,
        nets_positions=linear,
    )


def is_wanted(market: Mapping[str, Any], kind: MarketKind, *, inverse: bool = False) -> bool:
    """Whether a ccxt market belongs to the connection's market type (``inverse``: the
    coin-margined perpetuals; quarterly delivery contracts are not traded)."""
    if kind is MarketKind.SPOT:
        return bool(market.get("spot"))
    return bool(market.get("swap")) and bool(market.get("inverse" if inverse else "linear"))
