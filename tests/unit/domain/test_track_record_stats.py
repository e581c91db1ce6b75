"""A channel's track record, the pure statistics (domain/track_record.py): hand-computed
examples (win rate, R with and without stops, linear and inverse risk, the PnL curve,
drawdown from the starting balance, slippage and latency) and properties that hold for
any trades (drawdown never negative, the curve ends at the total, a win rate in [0, 1],
nothing depends on the order trades are given in)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signalbridge.domain.pnl import Contract
from signalbridge.domain.track_record import (
    ClosedTrade,
    CurvePoint,
    max_drawdown,
    mean_median,
    pnl_curve,
    track_record_stats,
)
from signalbridge.execution.quality import summarise

D = Decimal
T0 = datetime(2026, 12, 1, 8, tzinfo=UTC)
BALANCE = D(10_000)


def trade(
    pnl: str,
    hours: int,
    *,
    long: bool = True,
    entry: str = "60000",
    exit_: str | None = None,
    amount: str = "0.05",
    stop: str | None = "58000",
    **fields: object,
) -> ClosedTrade:
    closed = T0 + timedelta(hours=hours)
    return ClosedTrade(
        long=long,
        entry=D(entry),
        exit=D(exit_) if exit_ is not None else None,
        amount=D(amount),
        stop=D(stop) if stop is not None else None,
        pnl=D(pnl),
        opened_at=closed - timedelta(minutes=30),
        closed_at=closed,
        **fields,  # type: ignore[arg-type]
    )


# --- hand-computed --------------------------------------------------------------------


#: Four trades on a 10,000 balance, each risking 100 where it has a stop:
#: a long closed at its target (0.05 BTC, 60,000 → 61,000, fees 1.5 + 1.525),
#: a short stopped out (1 ETH, 3,000 → 3,100, fees 1.5 + 1.55),
#: a long without a stop (+20), and a long closed halfway to its stop (−50).
FOUR = [
    trade("46.975", 1, exit_="61000", slippage_bps=D(10), latency_ms=D(120)),
    trade(
        "-103.05",
        2,
        long=False,
        entry="3000",
        exit_="3100",
        amount="1",
        stop="3100",
        slippage_bps=D(-4),
        latency_ms=D(80),
    ),
    trade("20", 3, entry="150", exit_="160", amount="2", stop=None, latency_ms=D(300)),
    trade("-50", 4, exit_="59000", slippage_bps=D(0)),
]


def test_win_rate_r_total_and_counts() -> None:
    stats = track_record_stats(FOUR, BALANCE)
    assert (stats.count, stats.wins, stats.losses, stats.breakeven) == (4, 2, 2, 0)
    assert stats.win_rate == D("0.5")
    # R: 46.975 / (2,000 × 0.05) and −103.05 / (100 × 1) and −50 / 100; the stopless
    # trade is left out of the average and counted
    assert [t.r_multiple for t in FOUR] == [D("0.46975"), D("-1.0305"), None, D("-0.5")]
    assert (stats.r_trades, stats.without_stop) == (3, 1)
    assert stats.average_r == D("-1.06075") / 3
    assert stats.total_pnl == D("-86.075")
    assert stats.starting_balance == BALANCE


def test_curve_and_drawdown_from_the_peak() -> None:
    stats = track_record_stats(FOUR, BALANCE)
    curve = pnl_curve(FOUR)
    assert curve == [
        CurvePoint(T0 + timedelta(hours=1), D("46.975")),
        CurvePoint(T0 + timedelta(hours=2), D("-56.075")),
        CurvePoint(T0 + timedelta(hours=3), D("-36.075")),
        CurvePoint(T0 + timedelta(hours=4), D("-86.075")),
    ]
    # equity 10,046.975 (the peak) falls to 9,913.925: 133.05, 1.3243 % of the peak
    dd = stats.drawdown
    assert dd.amount == D("133.05") and dd.peak == D("10046.975")
    assert dd.percent == D("133.05") * 100 / D("10046.975")
    assert dd.percent.quantize(D("0.0001")) == D("1.3243")
    assert (dd.peak_at, dd.trough_at) == (T0 + timedelta(hours=1), T0 + timedelta(hours=4))


def test_slippage_and_latency_mean_and_median() -> None:
    stats = track_record_stats(FOUR, BALANCE)
    assert stats.slippage_bps is not None and stats.latency_ms is not None
    # slippage of three trades (one unmeasured): 10, −4, 0 → mean 2, median 0
    assert (stats.slippage_bps.count, stats.slippage_bps.mean) == (3, D(2))
    assert stats.slippage_bps.median == 0
    # latency 120, 80, 300 → mean 166.666…, median 120
    assert stats.latency_ms.count == 3 and stats.latency_ms.median == D(120)
    assert stats.latency_ms.mean == D(500) / 3
    even = mean_median([D(1), D(10), D(2), D(3)])
    assert even is not None and (even.mean, even.median) == (D(4), D("2.5"))


def test_a_first_loss_is_a_drawdown_from_the_starting_balance() -> None:
    stats = track_record_stats([trade("-250", 1), trade("100", 2)], BALANCE)
    assert stats.drawdown.amount == D(250) and stats.drawdown.peak == BALANCE
    assert stats.drawdown.percent == D("2.5") and stats.drawdown.peak_at is None


def test_no_trades_and_only_winners() -> None:
    empty = track_record_stats([], BALANCE)
    assert (empty.count, empty.win_rate, empty.average_r) == (0, None, None)
    assert empty.total_pnl == 0 and empty.drawdown.amount == 0 and empty.drawdown.percent == 0
    assert empty.slippage_bps is None and empty.latency_ms is None and pnl_curve([]) == []
    up = track_record_stats([trade("10", 1), trade("5", 2)], BALANCE)
    assert up.win_rate == 1 and up.drawdown.amount == 0 and up.drawdown.trough_at is None


def test_breakeven_counts_but_neither_wins_nor_loses() -> None:
    stats = track_record_stats([trade("0", 1), trade("30", 2), trade("-10", 3)], BALANCE)
    assert (stats.wins, stats.losses, stats.breakeven) == (1, 1, 1)
    assert stats.win_rate == D(1) / 3


def test_trades_closed_at_one_instant_are_one_point() -> None:
    curve = pnl_curve([trade("-80", 1), trade("100", 1), trade("5", 2)])
    assert curve == [
        CurvePoint(T0 + timedelta(hours=1), D(20)),
        CurvePoint(T0 + timedelta(hours=2), D(25)),
    ]
    # one point: the −80 inside that instant is no drawdown
    assert max_drawdown(curve, BALANCE).amount == 0


def test_a_stop_on_the_winning_side_or_none_gives_no_r() -> None:
    wrong = trade("10", 1, stop="61000")  # a long's "stop" above the entry: no risk
    assert wrong.initial_risk is None and wrong.r_multiple is None
    assert trade("10", 1, stop=None).r_multiple is None
    stats = track_record_stats([wrong], BALANCE)
    assert (stats.r_trades, stats.without_stop, stats.average_r) == (0, 1, None)


def test_risk_of_lots_and_inverse_contracts() -> None:
    # one lot of EURUSD (100,000 units) from 1.08000 with a stop at 1.07900: 100 USD
    lot = trade("-100", 1, entry="1.08", amount="1", stop="1.079", contract=Contract(D(100_000)))
    assert lot.initial_risk == D(100) and lot.r_multiple == D(-1)
    # 10 BTCUSD_PERP contracts (100 USD each) long from 50,000, stop at 45,000:
    # 1,000 × (1/45,000 − 1/50,000) BTC
    inverse = trade(
        "0.001",
        1,
        entry="50000",
        amount="10",
        stop="45000",
        contract=Contract(D(100), inverse=True),
    )
    expected = D(1000) * (D(1) / D(45000) - D(1) / D(50000))
    assert inverse.initial_risk is not None
    assert abs(inverse.initial_risk - expected) < D("1e-24")


def test_the_starting_balance_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        track_record_stats([trade("1", 1)], D(0))


# --- properties -----------------------------------------------------------------------

money = st.decimals(min_value=-5000, max_value=5000, places=6, allow_nan=False)
price = st.decimals(min_value=D("0.01"), max_value=100_000, places=4, allow_nan=False)
size = st.decimals(min_value=D("0.0001"), max_value=1000, places=4, allow_nan=False)
measure = st.none() | st.decimals(min_value=-500, max_value=5000, places=3, allow_nan=False)


@st.composite
def trades(draw: st.DrawFn) -> ClosedTrade:
    entry = draw(price)
    return ClosedTrade(
        long=draw(st.booleans()),
        entry=entry,
        exit=draw(st.none() | price),
        amount=draw(size),
        stop=draw(st.none() | price),
        pnl=draw(money),
        opened_at=T0,
        closed_at=T0 + timedelta(minutes=draw(st.integers(0, 30))),  # ties happen
        slippage_bps=draw(measure),
        latency_ms=draw(measure),
    )


@given(st.lists(trades(), max_size=25), st.integers(0, 2**32))
def test_statistics_hold_whatever_the_trades(items: list[ClosedTrade], seed: int) -> None:
    stats = track_record_stats(items, BALANCE)
    curve = pnl_curve(items)
    assert stats.drawdown.amount >= 0 and stats.drawdown.percent >= 0
    assert stats.count == len(items) == stats.wins + stats.losses + stats.breakeven
    assert stats.r_trades + stats.without_stop == stats.count
    if items:
        assert curve[-1].pnl == stats.total_pnl == sum((t.pnl for t in items), D(0))
        assert stats.win_rate is not None and 0 <= stats.win_rate <= 1
        assert [p.at for p in curve] == sorted({t.closed_at for t in items})
    else:
        assert curve == [] and stats.total_pnl == 0 and stats.win_rate is None
    # the deepest fall, brute force over every (earlier peak, later point) of equity
    equity = [BALANCE] + [BALANCE + p.pnl for p in curve]
    falls = [max(equity[: j + 1]) - equity[j] for j in range(len(equity))]
    assert stats.drawdown.amount == max(falls)
    percents = [f * 100 / max(equity[: j + 1]) for j, f in enumerate(falls)]
    assert abs(stats.drawdown.percent - max(percents)) <= D("1e-20")
    # the order the trades come in changes nothing
    shuffled = list(items)
    random.Random(seed).shuffle(shuffled)
    assert track_record_stats(shuffled, BALANCE) == stats
    assert pnl_curve(shuffled) == curve


@given(st.lists(st.decimals(min_value=-(10**9), max_value=10**9, places=6), max_size=40))
def test_mean_and_median_are_the_execution_quality_summaries(values: list[Decimal]) -> None:
    ours = mean_median(values)
    theirs = summarise(values)
    if not values:
        assert ours is None and theirs is None
        return
    assert ours is not None and theirs is not None
    assert (ours.count, ours.mean, ours.median) == (theirs.count, theirs.mean, theirs.median)
    assert min(values) <= ours.median <= max(values) and min(values) <= ours.mean <= max(values)


@given(st.lists(trades(), min_size=1, max_size=15))
def test_r_has_the_sign_of_the_pnl(items: list[ClosedTrade]) -> None:
    for item in items:
        r = item.r_multiple
        if r is not None:
            assert item.initial_risk is not None and item.initial_risk > 0
            assert (r > 0) == (item.pnl > 0) and (r < 0) == (item.pnl < 0)
