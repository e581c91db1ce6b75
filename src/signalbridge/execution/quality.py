"""Execution quality, the pure arithmetic: slippage of a fill against the price its order
was meant to get, latencies between an order's instants, and the summary statistics of
many orders (count, mean, median, 95th percentile).

Slippage is signed so that positive is worse for us: a buy filled above its reference, a
sell filled below it. Everything is ``Decimal``; statistics are computed at a higher
precision and rounded once, so a mean or a percentile never lies outside the values it
summarises (rounding is monotonic and every input is representable).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext

BPS = Decimal(10_000)
_WIDE = 80  # digits while summing: exact for anything NUMERIC(38, 18) holds
_P95 = Decimal("0.95")
_HALF = Decimal("0.5")


def slippage_bps(side: str, reference: Decimal, average: Decimal) -> Decimal:
    """(fill − reference) / reference in basis points, positive when worse for us.

    ``side`` is the order's side (``buy`` or ``sell``); ``reference`` must be positive.
    """
    if reference <= 0:
        raise ValueError("a reference price must be positive")
    moved = average - reference if side == "buy" else reference - average
    return moved / reference * BPS


def slippage_cost(
    side: str,
    reference: Decimal,
    average: Decimal,
    filled: Decimal,
    contract_size: Decimal = Decimal(1),
    *,
    inverse: bool = False,
) -> Decimal:
    """What the slippage cost, positive when worse for us: in the quote currency for a
    linear market (price difference × filled × contract size), in the base coin for an
    inverse one, whose contracts are worth ``contract_size`` of the quote each."""
    if inverse:
        if reference <= 0 or average <= 0:
            raise ValueError("inverse prices must be positive")
        per_unit = 1 / reference - 1 / average if side == "buy" else 1 / average - 1 / reference
    else:
        per_unit = average - reference if side == "buy" else reference - average
    return per_unit * filled * contract_size


def cost_asset(symbol: str, *, inverse: bool = False) -> str:
    """The currency :func:`slippage_cost` is in: a unified symbol's quote (``BTC/USDT``,
    ``BTC/USDT:USDT``), its settle coin when inverse (``BTC/USD:BTC``); a symbol of no
    such shape (a broker's ``EURUSD``) stands for its own quote currency."""
    base, slash, rest = symbol.partition("/")
    if not slash:
        return symbol
    quote, _, settle = rest.partition(":")
    if inverse:
        return settle or base
    return quote


def latency_ms(start: datetime | None, end: datetime | None) -> Decimal | None:
    """Milliseconds from ``start`` to ``end`` (exact to the microsecond), or ``None`` when
    either instant is unknown."""
    if start is None or end is None:
        return None
    delta = end - start
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return Decimal(micros) / 1000


@dataclass(frozen=True, slots=True)
class Stats:
    """Summary of a non-empty sample."""

    count: int
    mean: Decimal
    median: Decimal
    p95: Decimal
    min: Decimal
    max: Decimal


def percentile(ordered: Sequence[Decimal], q: Decimal) -> Decimal:
    """The ``q`` quantile (0..1) of sorted values, interpolated linearly between the two
    nearest ranks (the median of an even sample is the mean of its middle two)."""
    if not ordered:
        raise ValueError("no values")
    if not 0 <= q <= 1:
        raise ValueError("q must be within 0 and 1")
    with localcontext() as ctx:
        ctx.prec = _WIDE
        position = (len(ordered) - 1) * q
        low = int(position)
        high = min(low + 1, len(ordered) - 1)
        value = ordered[low] + (ordered[high] - ordered[low]) * (position - low)
    return +value  # rounded once, to the ambient precision


def summarise(values: Iterable[Decimal]) -> Stats | None:
    """Count, mean, median, p95, min and max of ``values``; ``None`` for none."""
    ordered = sorted(values)
    if not ordered:
        return None
    with localcontext() as ctx:
        ctx.prec = _WIDE
        mean = sum(ordered, Decimal(0)) / len(ordered)
    return Stats(
        count=len(ordered),
        mean=+mean,
        median=percentile(ordered, _HALF),
        p95=percentile(ordered, _P95),
        min=ordered[0],
        max=ordered[-1],
    )
