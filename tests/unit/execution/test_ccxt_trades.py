"""ccxt trade structures read as VenueTrade, and our clock turned into the venue's."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

from signalbridge.venues.base import Fee, OrderSide, VenueTrade
from signalbridge.venues.ccxt.trades import trade_from_ccxt, venue_ms

AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_venue_ms_applies_ccxts_measured_time_difference() -> None:
    """ccxt keeps local minus server time; the venue's clock is ours minus that."""
    ms = int(AT.timestamp() * 1000)
    assert venue_ms(SimpleNamespace(options={}), AT) == ms
    assert venue_ms(SimpleNamespace(options={"timeDifference": 2500}), AT) == ms - 2500
    assert venue_ms(SimpleNamespace(options={"timeDifference": -700}), AT) == ms + 700


def test_a_ccxt_trade_is_read_with_its_order_and_fee() -> None:
    raw = {
        "id": "77",
        "order": "1001",
        "symbol": "BTC/USDT:USDT",
        "side": "sell",
        "amount": 0.01,
        "price": 50000.5,
        "timestamp": int(AT.timestamp() * 1000),
        "fee": {"cost": 0.25, "currency": "USDT"},
        "fees": [{"cost": 0.25, "currency": "USDT"}],
    }
    trade = trade_from_ccxt(raw, lambda s: s.split(":")[0], lambda: AT)
    assert trade == VenueTrade(
        trade_id="77",
        venue_order_id="1001",
        symbol="BTC/USDT",
        side=OrderSide.SELL,
        amount=Decimal("0.01"),
        price=Decimal("50000.5"),
        at=AT,
        fee=Fee(Decimal("0.25"), "USDT"),
    )
