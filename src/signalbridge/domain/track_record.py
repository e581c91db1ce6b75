"""A channel's track record, the pure arithmetic: from closed trades to the figures a
follower judges a channel by (services/track_record.py reads the trades from the store).

- **Win rate**: winning trades (realised PnL above 0, fees included) over all closed
  trades; a trade closed at exactly 0 is neither a win nor a loss, and still counts.
- **R**: realised PnL over the initial risk, what the trade stood to lose at the stop it
  opened with: ``|entry - stop| × amount`` (times the contract size; an inverse contract
  as :mod:`signalbridge.domain.pnl` values it). A trade without a stop (or with one on
  the winning side) has no R: it is left out of the average and counted.
- **PnL curve**: cumulative realised PnL at each close; trades closed at the same instant
  are one point, so the curve (and the drawdown read from it) does not depend on the
  order the trades are given in.
- **Maximum drawdown**: the deepest fall of equity (``starting balance + cumulative PnL``)
  from a peak before it, in money and in percent of that peak's equity (the starting
  balance counts as the first peak, so a first losing trade is a drawdown).
- **Slippage and latency**: mean and median of the trades' own figures (basis points,
  milliseconds), as ``execution/quality.py`` summarises them (the median of an even
  sample is the mean of its middle two).

Every trade of one call is counted in one asset (the service groups them by asset first).
Sums are taken at a wide precision, so they are exact for anything the store holds and
the result never depends on the order of the input.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext

from signalbridge.domain.pnl import LINEAR, Contract, price_pnl

ZERO = Decimal(0)
HUNDRED = Decimal(100)
_WIDE = 80  # digits while summing: exact for anything NUMERIC(38, 18) holds


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """One closed position: average entry and exit (``None``: closed outside, no exit
    fill known), what the entries opened, the stop it opened with (``None``: none),
    realised PnL net of fees (and funding), when it opened and closed, and its entry
    slippage (bps) and latency (signal received → first fill, ms) where known."""

    long: bool
    entry: Decimal
    exit: Decimal | None
    amount: Decimal
    stop: Decimal | None
    pnl: Decimal
    opened_at: datetime
    closed_at: datetime
    contract: Contract = LINEAR
    slippage_bps: Decimal | None = None
    latency_ms: Decimal | None = None

    @property
    def initial_risk(self) -> Decimal | None:
        """What the trade stood to lose at its opening stop; ``None`` without a stop on
        the losing side of the entry."""
        if self.stop is None or self.amount <= 0:
            return None
        risk = -price_pnl(self.long, self.entry, self.stop, self.amount, self.contract)
        return risk if risk > 0 else None

    @property
    def r_multiple(self) -> Decimal | None:
        """Realised PnL in units of the initial risk (``None`` where there is no risk)."""
        risk = self.initial_risk
        return None if risk is None else self.pnl / risk


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """Cumulative realised PnL once every trade closed at ``at`` (or before) is counted."""

    at: datetime
    pnl: Decimal


@dataclass(frozen=True, slots=True)
class Drawdown:
    """The deepest fall of equity from an earlier peak.

    ``amount`` is in money (0 when equity never fell), ``percent`` the deepest fall in
    percent of the peak's equity (the two may come from different falls), ``peak`` the
    equity the deepest fall in money started from, ``peak_at``/``trough_at`` when (``None``
    for the starting balance, or when there was no fall).
    """

    amount: Decimal
    percent: Decimal
    peak: Decimal
    peak_at: datetime | None = None
    trough_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Summary:
    """Mean and median of a non-empty sample."""

    count: int
    mean: Decimal
    median: Decimal


@dataclass(frozen=True, slots=True)
class TrackRecordStats:
    """The figures of a set of closed trades counted in one asset."""

    count: int
    wins: int
    losses: int
    breakeven: int
    #: wins / count, ``None`` without trades
    win_rate: Decimal | None
    #: mean R of the trades with an initial risk, ``None`` when none has one
    average_r: Decimal | None
    #: trades whose R is known (the average's sample)
    r_trades: int
    #: trades without a stop (on the losing side): left out of the average R
    without_stop: int
    total_pnl: Decimal
    starting_balance: Decimal
    drawdown: Drawdown
    slippage_bps: Summary | None
    latency_ms: Summary | None


def _chronological(trades: Iterable[ClosedTrade]) -> list[ClosedTrade]:
    return sorted(trades, key=lambda t: (t.closed_at, t.opened_at))


def _wide_sum(values: Iterable[Decimal]) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = _WIDE
        return sum(values, ZERO)


def pnl_curve(trades: Iterable[ClosedTrade]) -> list[CurvePoint]:
    """Cumulative realised PnL at each distinct close time, oldest first; its last point
    is the total PnL (no point without trades)."""
    by_time: dict[datetime, list[Decimal]] = {}
    for trade in trades:
        by_time.setdefault(trade.closed_at, []).append(trade.pnl)
    points: list[CurvePoint] = []
    running = ZERO
    with localcontext() as ctx:
        ctx.prec = _WIDE
        for at in sorted(by_time):
            running = running + sum(by_time[at], ZERO)
            points.append(CurvePoint(at, running))
    return points


def max_drawdown(curve: Sequence[CurvePoint], starting_balance: Decimal) -> Drawdown:
    """The deepest fall of ``starting_balance`` + the curve's PnL from an earlier peak.

    ``starting_balance`` must be positive: every peak's equity is then positive, so the
    percentage is defined.
    """
    if starting_balance <= 0:
        raise ValueError("the starting balance must be positive")
    peak, peak_at = starting_balance, None
    worst, worst_peak, worst_percent = ZERO, starting_balance, ZERO
    worst_peak_at: datetime | None = None
    trough_at: datetime | None = None
    with localcontext() as ctx:
        ctx.prec = _WIDE  # exact differences of stored amounts
        for point in curve:
            equity = starting_balance + point.pnl
            if equity > peak:
                peak, peak_at = equity, point.at
                continue
            fall = peak - equity
            if fall > worst:
                worst, worst_peak, worst_peak_at, trough_at = fall, peak, peak_at, point.at
            worst_percent = max(worst_percent, fall * HUNDRED / peak)
    return Drawdown(worst, +worst_percent, worst_peak, worst_peak_at, trough_at)


def mean_median(values: Iterable[Decimal]) -> Summary | None:
    """Count, mean and median of ``values`` (``None`` for none), each rounded once to the
    ambient precision, so neither lies outside the values it summarises."""
    ordered = sorted(values)
    if not ordered:
        return None
    middle = len(ordered) // 2
    with localcontext() as ctx:
        ctx.prec = _WIDE
        mean = sum(ordered, ZERO) / len(ordered)
        if len(ordered) % 2:
            median = ordered[middle]
        else:
            median = (ordered[middle - 1] + ordered[middle]) / 2
    return Summary(len(ordered), +mean, +median)


def track_record_stats(
    trades: Iterable[ClosedTrade], starting_balance: Decimal
) -> TrackRecordStats:
    """Every figure of :class:`TrackRecordStats` for ``trades`` (one asset) and the
    balance the PnL curve starts from."""
    ordered = _chronological(trades)
    count = len(ordered)
    wins = sum(1 for t in ordered if t.pnl > 0)
    losses = sum(1 for t in ordered if t.pnl < 0)
    r_values = [r for r in (t.r_multiple for t in ordered) if r is not None]
    average_r = None
    if r_values:
        with localcontext() as ctx:
            ctx.prec = _WIDE
            average_r = sum(r_values, ZERO) / len(r_values)
        average_r = +average_r
    curve = pnl_curve(ordered)
    return TrackRecordStats(
        count=count,
        wins=wins,
        losses=losses,
        breakeven=count - wins - losses,
        win_rate=Decimal(wins) / Decimal(count) if count else None,
        average_r=average_r,
        r_trades=len(r_values),
        without_stop=count - len(r_values),
        total_pnl=_wide_sum(t.pnl for t in ordered),
        starting_balance=starting_balance,
        drawdown=max_drawdown(curve, starting_balance),
        slippage_bps=mean_median(t.slippage_bps for t in ordered if t.slippage_bps is not None),
        latency_ms=mean_median(t.latency_ms for t in ordered if t.latency_ms is not None),
    )
