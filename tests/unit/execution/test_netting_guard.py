"""The netting guard (pure): a signal against one of our open positions, on a venue that
nets one position per symbol, waits for close_on_opposite or is skipped with the reason;
spot markets and hedging venues are left alone."""

from __future__ import annotations

from decimal import Decimal

from signalbridge.domain.market import Market, MarketKind
from signalbridge.domain.signals import OrderType, Side, Signal
from signalbridge.execution.planner import Skip, Wait, netting_guard

D = Decimal


def market(kind: MarketKind = MarketKind.LINEAR) -> Market:
    return Market("BTC/USDT", "BTC/USDT:USDT", "BTC", "USDT", kind, D("0.1"), D("0.001"))


SHORT = Signal("BTC/USDT", Side.SHORT, OrderType.MARKET, stop_loss=D(62000))
LONG = Signal("BTC/USDT", Side.LONG, OrderType.MARKET, stop_loss=D(58000))


def test_skipped_with_the_reason_without_close_on_opposite() -> None:
    outcome = netting_guard(SHORT, market(), nets_positions=True, close_on_opposite=False)
    assert isinstance(outcome, Skip)
    assert outcome.reason.startswith("an open long on BTC/USDT would be netted by this short")


def test_waits_for_the_monitor_with_close_on_opposite() -> None:
    outcome = netting_guard(LONG, market(), nets_positions=True, close_on_opposite=True)
    assert outcome == Wait("waiting for the open short on BTC/USDT to close (close_on_opposite)")


def test_hedging_venues_and_spot_markets_are_left_alone() -> None:
    assert netting_guard(SHORT, market(), nets_positions=False, close_on_opposite=False) is None
    spot = market(MarketKind.SPOT)
    assert netting_guard(SHORT, spot, nets_positions=True, close_on_opposite=False) is None
