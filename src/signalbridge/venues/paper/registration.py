"""Registers the paper exchange as the ``paper`` exchange adapter, with its config schema.

The schema is what the connection form validates; :meth:`PaperAdapter.from_config` reads
the same keys from the stored config.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from signalbridge.integrations.registry import AdapterRegistry
from signalbridge.venues.paper.adapter import PaperAdapter
from signalbridge.venues.paper.files import confine, path_problem


class PaperFeedConfig(BaseModel):
    """Where the paper venue's prices come from.

    ``path`` (a replay file) is relative to the data directory and may not leave it. The
    schema refuses absolute paths and ``..`` by their text alone, so a bad path is a 422
    when the connection is saved; when validation is given a ``{"data_dir": ...}``
    context it also resolves symlinks there. The adapter checks again, symlinks resolved,
    whenever it is built (see :mod:`signalbridge.venues.paper.files` for why both).
    """

    model_config = ConfigDict(extra="forbid")

    type: Literal["random_walk", "replay"] = "random_walk"
    seed: int = 1
    volatility: Decimal = Field(default=Decimal("0.001"), ge=0, lt=1)
    start_prices: dict[str, Decimal] = Field(default_factory=dict)
    path: str | None = None

    @field_validator("path")
    @classmethod
    def _inside_data_dir(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        problem = path_problem(value)
        if problem is not None:
            raise ValueError(problem)
        context = info.context if isinstance(info.context, dict) else {}
        data_dir = context.get("data_dir")
        if data_dir is not None:
            confine(value, Path(data_dir))  # UnsafePath is a ValueError: a field error
        return value

    @model_validator(mode="after")
    def _replay_has_a_file(self) -> Self:
        if self.type == "replay" and self.path is None:
            raise ValueError("a replay feed needs a 'path' inside the data directory")
        return self


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


def register(registry: AdapterRegistry) -> None:
    """Make ``paper`` an exchange type (bootstrap calls this)."""
    registry.register(
        "exchange",
        PaperAdapter.type,
        PaperAdapter,  # the pool calls ``factory.from_config(...)``
        PaperConfig,
        description="Built-in simulated exchange (spot and linear futures, offline price feed)",
    )
