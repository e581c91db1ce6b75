"""Execution quality arithmetic (execution/quality.py) and its grouping per channel and
venue (services/execution_quality.py), against hand-computed figures, with properties of
the summary statistics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signalbridge.execution.quality import (
    cost_asset,
    latency_ms,
    percentile,
    slippage_bps,
    slippage_cost,
    summarise,
)
from signalbridge.services.execution_quality import figures_of, group, venue_of

D = Decimal
T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
NANO = D("1e-18")


def test_slippage_is_positive_when_worse_for_us() -> None:
    assert slippage_bps("buy", D(100), D(101)) == D(100)  # bought 1 % higher
    assert slippage_bps("buy", D(100), D("99.5")) == D(-50)  # bought cheaper: a gain
    assert slippage_bps("sell", D(100), D(99)) == D(100)  # sold 1 % lower
    assert slippage_bps("sell", D(2000), D("2001")) == D(-5)
    assert slippage_bps("buy", D(60000), D(60060)) == D(10)
    with pytest.raises(ValueError):
        slippage_bps("buy", D(0), D(1))


def test_slippage_cost_in_quote_and_for_inverse_contracts() -> None:
    assert slippage_cost("buy", D(100), D(101), D(2)) == D(2)
    assert slippage_cost("sell", D(100), D("99.5"), D(3), D(10)) == D(15)  # 0.5 × 3 × 10
    assert slippage_cost("sell", D(100), D(101), D(1)) == D(-1)
    # inverse: 10 contracts of 100 USD, bought at 50500 instead of 50000, cost in BTC:
    # 1000 × (1/50000 − 1/50500) = 1000 × 500 / (50000 × 50500)
    cost = slippage_cost("buy", D(50000), D(50500), D(10), D(100), inverse=True)
    assert cost.quantize(NANO) == (D(1000) * 500 / (D(50000) * D(50500))).quantize(NANO)
    assert cost > 0
    assert slippage_cost("sell", D(50000), D(49500), D(10), D(100), inverse=True) > 0


def test_cost_asset_and_venue_names() -> None:
    assert cost_asset("BTC/USDT") == "USDT"
    assert cost_asset("BTC/USDT:USDT") == "USDT"
    assert cost_asset("BTC/USD:BTC", inverse=True) == "BTC"
    assert cost_asset("EURUSD") == "EURUSD"
    assert venue_of("ccxt", {"exchange": "bybit"}) == "ccxt:bybit"
    assert venue_of("ccxt", {}) == "ccxt:binance"  # the config's default
    assert venue_of("metaapi", {"account_id": "x"}) == "metaapi"
    assert venue_of("paper", {}) == "paper"


def test_latency_is_exact_milliseconds() -> None:
    assert latency_ms(T0, T0 + timedelta(seconds=1, microseconds=2500)) == D("1002.5")
    assert latency_ms(T0, T0 + timedelta(days=1)) == D(86_400_000)
    assert latency_ms(None, T0) is None and latency_ms(T0, None) is None


def test_summary_statistics_by_hand() -> None:
    stats = summarise([D(4), D(1), D(3), D(2)])
    assert stats is not None
    assert (stats.count, stats.mean, stats.median, stats.min, stats.max) == (
        4, D("2.5"), D("2.5"), D(1), D(4))  # fmt: skip
    assert stats.p95 == D("3.85")  # rank 3 × 0.95 = 2.85: 3 + 0.85 × (4 − 3)
    single = summarise([D(7)])
    assert single is not None and single.median == single.p95 == single.mean == D(7)
    assert summarise([]) is None
    assert percentile([D(1), D(2), D(3)], D(1)) == D(3)
    assert percentile([D(1), D(2), D(3)], D(0)) == D(1)
    with pytest.raises(ValueError):
        percentile([], D("0.5"))


def order_row(**fields: Any) -> SimpleNamespace:
    """An order as the service's query returns it (one row of its columns)."""
    values: dict[str, Any] = {
        "id": 1,
        "connection_id": 1,
        "execution_id": 1,
        "signal_id": 1,
        "channel_id": 7,
        "leg": "e0",
        "symbol": "BTC/USDT",
        "side": "buy",
        "status": "filled",
        "filled": D(1),
        "average_price": D(100),
        "reference_price": D(100),
        "contract_size": None,
        "received_at": T0,
        "sent_at": T0 + timedelta(milliseconds=200),
        "acked_at": T0 + timedelta(milliseconds=250),
        "filled_at": T0 + timedelta(milliseconds=300),
        **fields,
    }
    return SimpleNamespace(**values)


def test_grouping_per_venue_and_channel_by_hand() -> None:
    rows = [
        # binance: a buy 20 bps up (cost 0.2 × 2), a sell 10 bps down (cost 0.1 × 1)
        (order_row(id=1, average_price=D("100.2"), filled=D(2)), "ccxt:binance"),
        (order_row(id=2, leg="sl", side="sell", average_price=D("99.9"), channel_id=8),
         "ccxt:binance"),
        # paper: a buy filled 30 bps better (a limit), then one still open (no fill)
        (order_row(id=3, average_price=D("99.7")), "paper"),
        (order_row(id=4, status="open", filled=D(0), average_price=None, filled_at=None), "paper"),
    ]  # fmt: skip
    figures = [figures_of(r, v, inverse=False, pnl_asset=None) for r, v in rows]
    assert [f.slippage_bps for f in figures] == [D(20), D(10), D(-30), None]
    venues = group(figures, "venue")
    binance = venues["ccxt:binance"].body()
    assert binance["orders"] == 2
    assert binance["slippage_bps"] == {
        "count": 2, "mean": D(15), "median": D(15), "p95": D("19.50"), "min": D(10), "max": D(20)
    }  # fmt: skip
    assert binance["slippage_cost"] == {"USDT": D("0.5")}
    latency = binance["latency_ms"]
    assert latency["signal_to_sent"]["count"] == 1  # the exit is not measured from the signal
    assert latency["signal_to_sent"]["mean"] == D(200)
    assert latency["sent_to_acked"]["median"] == D(50)
    assert latency["sent_to_filled"]["max"] == D(100)
    paper = venues["paper"].body()
    assert paper["orders"] == 2 and paper["slippage_bps"]["count"] == 1
    assert paper["slippage_bps"]["mean"] == D(-30) and paper["slippage_cost"] == {"USDT": D("-0.3")}
    assert paper["latency_ms"]["sent_to_filled"]["count"] == 1  # the open one has no fill
    channels = group(figures, "channel")
    assert {k: b.orders for k, b in channels.items()} == {7: 3, 8: 1}


def test_an_inverse_order_costs_its_coin() -> None:
    row = order_row(symbol="BTC/USD:BTC", reference_price=D(50000), average_price=D(50500),
                    filled=D(10), contract_size=D(100))  # fmt: skip
    figures = figures_of(row, "ccxt:binancecoinm", inverse=True, pnl_asset="BTC")
    assert figures.cost_asset == "BTC" and figures.slippage_bps == D(100)
    assert figures.slippage_cost is not None
    assert figures.slippage_cost.quantize(NANO) == D("0.000198019801980198")


def test_an_absurd_reference_still_answers() -> None:
    """A figure too large for its places is shown whole, never an error."""
    row = order_row(reference_price=D("1e-18"), average_price=D("1e20"))
    body = figures_of(row, "paper", inverse=False, pnl_asset=None).body()
    assert body["slippage_bps"] > D("1e40")


prices = st.decimals(min_value=D("0.00000001"), max_value=D("1e12"), places=8)
samples = st.lists(
    st.decimals(min_value=D("-1e9"), max_value=D("1e9"), places=6), min_size=1, max_size=60
)


@given(samples)
def test_statistics_lie_within_the_sample(values: list[Decimal]) -> None:
    stats = summarise(values)
    assert stats is not None
    assert stats.count == len(values)
    assert stats.min == min(values) and stats.max == max(values)
    assert stats.min <= stats.mean <= stats.max
    assert stats.min <= stats.median <= stats.p95 <= stats.max
    assert summarise(list(reversed(values))) == stats  # order does not matter


@given(prices, prices)
def test_a_buy_and_a_sell_at_the_same_prices_mirror_each_other(
    reference: Decimal, average: Decimal
) -> None:
    buy, sell = slippage_bps("buy", reference, average), slippage_bps("sell", reference, average)
    assert buy == -sell
    assert (buy > 0) == (average > reference)
    assert (slippage_cost("buy", reference, average, D(1)) > 0) == (average > reference)
