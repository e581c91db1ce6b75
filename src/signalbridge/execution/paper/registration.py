"""Registers the paper exchange as the ``paper`` exchange adapter, with its config schema.

The schema is what the connection form validates; :meth:`PaperAdapter.from_config` reads
the same keys from the stored config.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from signalbridge.execution.paper.adapter import PaperAdapter
from signalbridge.integrations.registry import adapters


class PaperFeedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["random_walk", "replay"] = "random_walk"
    seed: int = 1
    volatility: Decimal = Field(default=Decimal("0.001"), ge=0, lt=1)
    start_prices: dict[str, Decimal] = Field(default_factory=dict)
    path: str | None = None


class PaperConfig(BaseModel):
    """A paper account: starting balances, futures or spot, and how the venue behaves."""

    model_config = ConfigDict(extra="forbid")

    account_id: str | None = Field(default=None, max_length=64)
    balances: dict[str, Decimal] = Field(
        default_factory=lambda: {"USDT": Decimal(10_000), "USD": Decimal(10_000)}
    )
    futures: bool = False
    maker_fee: Decimal = Field(default=Decimal("0.0002"), ge=0, lt=Decimal("0.5"))
    taker_fee: Decimal = Field(default=Decimal("0.0005"), ge=0, lt=Decimal("0.5"))
    slippage: Decimal = Field(default=Decimal(0), ge=0, lt=Decimal("0.5"))
    spread: Decimal = Field(default=Decimal(0), ge=0, lt=Decimal("0.5"))
    max_fill_fraction: Decimal | None = Field(default=None, gt=0, le=1)
    max_fill_amount: Decimal | None = Field(default=None, gt=0)
    markets: dict[str, dict[str, Any]] = Field(default_factory=dict)
    feed: PaperFeedConfig = Field(default_factory=PaperFeedConfig)


adapters.register(
    "exchange",
    PaperAdapter.type,
    PaperAdapter,  # the pool calls ``factory.from_config(...)``
    PaperConfig,
    description="Built-in simulated exchange (spot and linear futures, offline price feed)",
)
