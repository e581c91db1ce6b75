"""Helpers for the Binance account tests: an adapter on the fake with any connection config,
and the requests the fake received. Holds no tests itself."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.fakes.binance import FakeBinance
from tests.fakes.loopback import loopback_deps

from signalbridge.venues.base import OrderRequest, OrderRole, OrderSide, VenueOrderType
from signalbridge.venues.ccxt.adapter import CcxtAdapter

D = Decimal


def adapter(fake: FakeBinance, market_type: str = "linear", **config: Any) -> CcxtAdapter:
    """A ccxt adapter on the fake; ``config`` adds connection settings (margin_type, ...)."""
    cfg = fake.adapter_config(market_type, timeout_ms=2000, **config)
    built = CcxtAdapter.from_config("conn-h1", cfg, fake.adapter_secrets(), deps=loopback_deps())
    built.exchange.timeout_on_exit = 0  # ccxt sleeps 250 ms on close by default
    return built


def market(
    cid: str,
    side: OrderSide,
    amount: str,
    *,
    symbol: str = "BTC/USDT",
    exit_: bool = False,
) -> OrderRequest:
    """A market entry, or (``exit_``) a reduce-only market exit."""
    return OrderRequest(
        cid,
        symbol,
        side,
        VenueOrderType.MARKET,
        D(amount),
        reduce_only=exit_,
        role=OrderRole.EXIT if exit_ else OrderRole.ENTRY,
    )


def stop(cid: str, side: OrderSide, amount: str, trigger: str) -> OrderRequest:
    """A reduce-only stop resting on the Algo Service."""
    return OrderRequest(
        cid,
        "BTC/USDT",
        side,
        VenueOrderType.STOP_MARKET,
        D(amount),
        stop_price=D(trigger),
        reduce_only=True,
        role=OrderRole.STOP,
    )
