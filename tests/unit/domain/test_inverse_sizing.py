"""Sizing on an inverse (coin-margined) market: amounts in contracts of a fixed USD value,
balances, margin and risk in the base coin. Every figure below is worked out by hand."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from signalbridge.domain.market import Market, MarketKind
from signalbridge.domain.signals import Side
from signalbridge.domain.sizing import Sized, SizingConfig, SizingMode, SizingSkip, size_order
from signalbridge.execution.planner import pnl_asset_of

BTCUSD = Market(
    symbol="BTC/USD",
    venue_symbol="BTC/USD:BTC",
    base="BTC",
    quote="USD",
    kind=MarketKind.LINEAR,
    price_tick=D("0.1"),
    amount_step=D(1),
    min_amount=D(1),
    contract_size=D(100),
    max_leverage=125,
    inverse=True,
)


def sized(config: SizingConfig, balance: str, entry: str, stop: str | None, side: Side) -> Sized:
    result = size_order(
        config, BTCUSD, D(balance), D(entry), None if stop is None else D(stop), side
    )
    assert isinstance(result, Sized), result
    return result


def test_the_market_counts_in_coins() -> None:
    assert BTCUSD.margin_asset == "BTC" and pnl_asset_of(BTCUSD) == "BTC"
    assert BTCUSD.notional(D(25), D(50000)) == 2500  # USD face value, whatever the price
    assert BTCUSD.value(D(25), D(50000)) == D("0.05")  # 2500 USD / 50000 = 0.05 BTC
    assert BTCUSD.amount_for(D("0.05"), D(50000)) == 25


def test_fixed_margin_in_the_coin() -> None:
    # 0.01 BTC × 5 = 0.05 BTC of exposure = 2500 USD = 25 contracts of 100 USD
    config = SizingConfig(mode=SizingMode.FIXED_QUOTE, value=D("0.01"), leverage=5)
    out = sized(config, "1", "50000", None, Side.LONG)
    assert (out.amount, out.leverage, out.notional, out.margin) == (25, 5, D("0.05"), D("0.01"))


def test_fixed_contracts() -> None:
    config = SizingConfig(mode=SizingMode.FIXED_BASE, value=D(7))
    assert sized(config, "1", "50000", None, Side.SHORT).amount == 7


def test_percent_of_the_coin_balance_rounds_down_to_whole_contracts() -> None:
    # 10 % of 0.5 BTC = 0.05 BTC × 2 = 0.1 BTC at 43000 = 4300 USD = 43 contracts
    config = SizingConfig(mode=SizingMode.PERCENT_BALANCE, value=D(10), leverage=2)
    assert sized(config, "0.5", "43000", None, Side.LONG).amount == 43
    # at 43210.7: 0.1 BTC = 4321.07 USD → 43 whole contracts
    assert sized(config, "0.5", "43210.7", None, Side.LONG).amount == 43


def test_risk_in_the_coin() -> None:
    # A long at 50000, stop 40000: one contract loses 100 × (1/40000 − 1/50000)
    # = 0.0005 BTC. 1 % of 1 BTC = 0.01 BTC → 20 contracts, risking exactly 0.01 BTC.
    config = SizingConfig(mode=SizingMode.RISK_PERCENT, value=D(1), leverage=10)
    long = sized(config, "1", "50000", "40000", Side.LONG)
    assert (long.amount, long.risk) == (20, D("0.01"))
    # A short at 40000, stop 50000: the same 0.0005 BTC per contract.
    short = sized(config, "1", "40000", "50000", Side.SHORT)
    assert (short.amount, short.risk) == (20, D("0.01"))


def test_the_coin_balance_caps_the_size() -> None:
    # 0.002 BTC free, less the 0.2 % fee reserve = 0.001996 BTC × 1 at 50000 = 99.8 USD:
    # not one whole 100 USD contract.
    config = SizingConfig(mode=SizingMode.FIXED_QUOTE, value=D(1), leverage=1)
    out = size_order(config, BTCUSD, D("0.002"), D(50000), None, Side.LONG)
    assert isinstance(out, SizingSkip) and "below the minimum 1" in out.detail


@given(
    margin=st.decimals(min_value=D("0.0001"), max_value=D(10), places=8),
    price=st.decimals(min_value=D(100), max_value=D(500000), places=1),
    leverage=st.integers(min_value=1, max_value=125),
)
def test_never_more_than_the_margin_buys(margin: D, price: D, leverage: int) -> None:
    config = SizingConfig(mode=SizingMode.FIXED_QUOTE, value=margin, leverage=leverage)
    out = size_order(config, BTCUSD, D(1000), price, None, Side.LONG)
    if isinstance(out, SizingSkip):
        assert margin * leverage * price < 100 * 1
        return
    assert out.amount == out.amount.to_integral_value()
    assert out.amount * 100 <= margin * leverage * price  # never above the exposure wanted
    assert (out.amount + 1) * 100 > margin * leverage * price  # and whole contracts only
