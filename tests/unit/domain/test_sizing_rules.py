"""Sizing: every mode, caps, rounding, skips, and properties that must hold for any input."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import ValidationError

from signalbridge.domain.market import Market, MarketKind
from signalbridge.domain.signals import Side
from signalbridge.domain.sizing import (
    Sized,
    SizingConfig,
    SizingMode,
    SizingSkip,
    SkipReason,
    size_order,
)

BTC = Market(
    symbol="BTC/USDT",
    venue_symbol="BTC/USDT:USDT",
    base="BTC",
    quote="USDT",
    kind=MarketKind.LINEAR,
    price_tick=D("0.1"),
    amount_step=D("0.001"),
    min_amount=D("0.001"),
    min_notional=D(5),
    max_leverage=50,
)
BTC_SPOT = Market(
    symbol="BTC/USDT",
    venue_symbol="BTC/USDT",
    base="BTC",
    quote="USDT",
    kind=MarketKind.SPOT,
    price_tick=D("0.01"),
    amount_step=D("0.00001"),
    min_amount=D("0.00001"),
    min_notional=D(5),
)
EURUSD = Market(
    symbol="EURUSD",
    venue_symbol="EURUSDm",
    base="EUR",
    quote="USD",
    kind=MarketKind.LINEAR,
    price_tick=D("0.00001"),
    amount_step=D("0.01"),
    min_amount=D("0.01"),
    contract_size=D(100000),
    max_leverage=500,
    tick_value=D(1),
)


def cfg(mode: str, value: str, **kw: object) -> SizingConfig:
    return SizingConfig(mode=SizingMode(mode), value=D(value), **kw)  # type: ignore[arg-type]


def sized(result: Sized | SizingSkip) -> Sized:
    assert isinstance(result, Sized), result
    return result


def test_fixed_quote_spot() -> None:
    r = sized(size_order(cfg("fixed_quote", "100"), BTC_SPOT, D(1000), D(60000), None, Side.LONG))
    assert r.amount == D("0.00166")  # 100 / 60000 = 0.0016666… rounded DOWN
    assert r.leverage == 1 and r.notional == D("99.6") and r.risk is None


def test_fixed_quote_is_margin_times_leverage_on_futures() -> None:
    config = cfg("fixed_quote", "100", leverage=10)
    r = sized(size_order(config, BTC, D(1000), D(50000), D(49000), Side.LONG))
    assert r.amount == D("0.02") and r.leverage == 10 and r.margin == D(100)
    assert r.risk == D(20)


def test_leverage_caps_signal_then_config_then_market() -> None:
    r = sized(
        size_order(
            cfg("fixed_base", "0.01", max_leverage=20),
            BTC,
            D(10000),
            D(50000),
            None,
            Side.LONG,
            signal_leverage=75,
        )
    )
    assert r.leverage == 20
    r = sized(
        size_order(
            cfg("fixed_base", "0.01"), BTC, D(10000), D(50000), None, Side.LONG, signal_leverage=75
        )
    )
    assert r.leverage == 50
    no_signal = cfg("fixed_base", "0.01", leverage=3, use_signal_leverage=False)
    r = sized(size_order(no_signal, BTC, D(10000), D(50000), None, Side.LONG, signal_leverage=75))
    assert r.leverage == 3


def test_percent_of_balance() -> None:
    r = sized(
        size_order(
            cfg("percent_balance", "10", leverage=5), BTC, D(2000), D(40000), None, Side.SHORT
        )
    )
    assert r.amount == D("0.025") and r.margin == D(200)


def test_risk_percent_crypto() -> None:
    # risk 1 % of 10,000 = 100 USDT; stop distance 500 → 0.2 BTC
    r = sized(
        size_order(
            cfg("risk_percent", "1", leverage=20), BTC, D(10000), D(50000), D(49500), Side.LONG
        )
    )
    assert r.amount == D("0.2") and r.risk == D(100)


def test_risk_percent_metatrader_uses_tick_value() -> None:
    # 2 % of 5,000 = 100 USD; 20 pips = 200 ticks × 1 USD per lot → 0.5 lots
    r = sized(
        size_order(
            cfg("risk_percent", "2", leverage=100),
            EURUSD,
            D(5000),
            D("1.08000"),
            D("1.07800"),
            Side.LONG,
        )
    )
    assert r.amount == D("0.5") and r.risk == D(100)


def test_caps_max_notional_and_max_position() -> None:
    config = cfg("fixed_base", "1", leverage=10, max_notional=D(10000), max_position=D("0.5"))
    r = sized(size_order(config, BTC, D(100000), D(50000), None, Side.LONG))
    assert r.amount == D("0.2") and "max_notional" in r.capped_by
    r = sized(
        size_order(config, BTC, D(100000), D(50000), None, Side.LONG, current_position=D("0.45"))
    )
    assert r.amount == D("0.05") and "max_position" in r.capped_by
    skip = size_order(config, BTC, D(100000), D(50000), None, Side.LONG, current_position=D("0.5"))
    assert isinstance(skip, SizingSkip) and skip.reason is SkipReason.MAX_POSITION_REACHED


def test_balance_caps_what_can_be_carried() -> None:
    r = sized(size_order(cfg("fixed_base", "1"), BTC_SPOT, D(1000), D(50000), None, Side.LONG))
    assert r.amount * r.price <= D(1000) and "balance" in r.capped_by


@pytest.mark.parametrize(
    ("config", "balance", "stop", "reason"),
    [
        (cfg("fixed_quote", "3"), D(1000), None, SkipReason.BELOW_MIN_AMOUNT),
        (cfg("fixed_base", "0.0005"), D(1000), None, SkipReason.BELOW_MIN_AMOUNT),
        (cfg("risk_percent", "1"), D(1000), None, SkipReason.NO_STOP),
        (cfg("risk_percent", "1"), D(0), D(49000), SkipReason.NO_BALANCE),
        (cfg("percent_balance", "1"), D(0), None, SkipReason.NO_BALANCE),
        (cfg("fixed_base", "0.01"), D(1000), D(51000), SkipReason.INVALID_PRICES),
    ],
)
def test_skips_carry_a_reason(
    config: SizingConfig, balance: D, stop: D | None, reason: SkipReason
) -> None:
    result = size_order(config, BTC, balance, D(50000), stop, Side.LONG)
    assert isinstance(result, SizingSkip) and result.reason is reason and result.detail


def test_below_min_notional_on_a_fine_step_market() -> None:
    result = size_order(cfg("fixed_quote", "4"), BTC_SPOT, D(1000), D(50000), None, Side.LONG)
    assert isinstance(result, SizingSkip) and result.reason is SkipReason.BELOW_MIN_NOTIONAL
    assert "below the minimum 5" in result.detail


def test_config_validation_and_json_round_trip() -> None:
    with pytest.raises(ValidationError):
        cfg("percent_balance", "150")
    with pytest.raises(ValidationError):
        cfg("fixed_quote", "-1")
    with pytest.raises(ValidationError):
        SizingConfig.model_validate({"mode": "fixed_quote", "value": "1", "bogus": 1})
    config = cfg("risk_percent", "1.5", leverage=10, max_notional=D("2500.5"))
    assert SizingConfig.model_validate_json(config.model_dump_json()) == config


# --- properties ----------------------------------------------------------------------------

steps = st.sampled_from([D("1"), D("0.1"), D("0.01"), D("0.001"), D("0.00001")])
ticks = st.sampled_from([D("1"), D("0.1"), D("0.01"), D("0.00001")])
money = st.decimals(min_value=D("0.01"), max_value=D(10**7), places=2)


@st.composite
def markets(draw: st.DrawFn) -> Market:
    step = draw(steps)
    contract = draw(st.sampled_from([D(1), D(100), D(100000)]))
    tick = draw(ticks)
    return Market(
        symbol="X/Y",
        venue_symbol="XY",
        base="X",
        quote="Y",
        kind=draw(st.sampled_from(list(MarketKind))),
        price_tick=tick,
        amount_step=step,
        min_amount=step * draw(st.integers(1, 10)),
        min_notional=draw(st.sampled_from([D(0), D(1), D(5), D(100)])),
        max_amount=draw(st.none() | st.sampled_from([D(1), D(1000)])),
        contract_size=contract,
        max_leverage=draw(st.none() | st.integers(1, 125)),
        tick_value=draw(st.none() | st.just(tick * contract)),
    )


@given(
    market=markets(),
    balance=money,
    entry=st.decimals(min_value=D("0.01"), max_value=D(100000), places=2),
    distance_pct=st.decimals(min_value=D("0.05"), max_value=D(50), places=2),
    risk_pct=st.decimals(min_value=D("0.01"), max_value=D(100), places=2),
    leverage=st.integers(1, 200),
    side=st.sampled_from(list(Side)),
)
def test_risk_never_exceeds_the_configured_percent(
    market: Market,
    balance: D,
    entry: D,
    distance_pct: D,
    risk_pct: D,
    leverage: int,
    side: Side,
) -> None:
    offset = entry * distance_pct / 100
    stop = entry - offset if side is Side.LONG else entry + offset
    assume(stop > 0)
    config = SizingConfig(mode=SizingMode.RISK_PERCENT, value=risk_pct, leverage=leverage)
    result = size_order(config, market, balance, entry, stop, side)
    if isinstance(result, Sized):
        assert result.risk is not None
        assert result.risk <= balance * risk_pct / 100


@given(
    market=markets(),
    balance=money,
    entry=st.decimals(min_value=D("0.01"), max_value=D(100000), places=3),
    mode=st.sampled_from(list(SizingMode)),
    value=st.decimals(min_value=D("0.001"), max_value=D(100), places=3),
    max_notional=st.none() | money,
    max_position=st.none() | st.decimals(min_value=D("0.001"), max_value=D(1000), places=3),
    held=st.decimals(min_value=D(0), max_value=D(100), places=3),
)
def test_rounding_never_breaks_the_venue_limits(
    market: Market,
    balance: D,
    entry: D,
    mode: SizingMode,
    value: D,
    max_notional: D | None,
    max_position: D | None,
    held: D,
) -> None:
    config = SizingConfig(
        mode=mode, value=value, leverage=10, max_notional=max_notional, max_position=max_position
    )
    stop = entry * D("0.9")
    result = size_order(config, market, balance, entry, stop, Side.LONG, current_position=held)
    if isinstance(result, SizingSkip):
        assert result.detail
        return
    assert result.amount > 0
    assert result.amount % market.amount_step == 0
    assert result.price % market.price_tick == 0
    assert result.amount >= market.min_amount
    assert result.notional >= market.min_notional
    assert market.precision_problem(result.amount, result.price) is None
    if market.max_amount is not None:
        assert result.amount <= market.max_amount
    if max_notional is not None:
        assert result.notional <= max_notional
    if max_position is not None:
        assert held + result.amount <= max_position
    assert result.margin <= balance
