"""Whether a call's levels vouch for how it was read, so that its confidence may rise.

A doubt about *how* a field was read (a side from a weak word or none at all, an entry
without its label, a zone of several entries, an id or a ratio left over) matters less
when every level was read by its label and they agree with each other: a stop on the
losing side and every target on the winning side can only belong to that side. The
rules (:mod:`signalbridge.parsing.rules`) lift those doubts only then; a doubt about
*what* the message is (two instruments, two sides, a second call, a language the tables
do not read, a stray price among the levels) is never lifted.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Final

from signalbridge.domain.signals import Side, Signal
from signalbridge.parsing.fields import Reading, one_side
from signalbridge.parsing.text import contains_any


def levels_agree(signal: Signal) -> bool:
    """A stop and targets, each on its own side of the entry (or of each other without an
    entry): the geometry names the side, whatever word did or did not."""
    sl, tps = signal.stop_loss, signal.take_profits
    if sl is None or not tps:
        return False
    if signal.side is Side.LONG:
        return sl < min(tps) and (signal.entry is None or sl < signal.entry.low)
    return sl > max(tps) and (signal.entry is None or sl > signal.entry.high)


def price_like(values: list[Decimal], signal: Signal) -> int:
    """How many left-over numbers could be a price of this trade: those inside the band
    the levels span, widened by twice that span on each side (a target whose label was
    missed lies a little beyond the others). An id, a date, a lot size, a "3/10" risk or
    a pip count falls outside it; a second stop or entry falls inside."""
    levels = [*signal.take_profits]
    if signal.stop_loss is not None:
        levels.append(signal.stop_loss)
    if signal.entry is not None:
        levels += (signal.entry.low, signal.entry.high)
    if not levels:
        return len(values)
    low, high = min(levels), max(levels)
    span = (high - low) * 2
    zone = signal.entry
    if zone is not None and zone.low < zone.high:
        # inside the entry zone ("OTE: 0.466" in 0.44 - 0.481) it changes nothing
        values = [v for v in values if not zone.low <= v <= zone.high]
    return sum(1 for v in values if low - span <= v <= high + span)


def beyond_stop(values: list[Decimal], signal: Signal) -> bool:
    """A left-over price past the stop ("close above 0.313 or 0.33"): a second stop, and
    no telling which one is meant. (One between the entry and the stop is a DCA level or
    a support remark; one past the targets a target more: neither moves the stop.)"""
    sl = signal.stop_loss
    if sl is None or not values:
        return False
    # past the stop at all: comparisons only (most left-overs are not), before the span's
    # arithmetic
    if signal.side is Side.LONG:
        if not any(v < sl for v in values):
            return False
    elif not any(v > sl for v in values):
        return False
    levels = [sl, *signal.take_profits]
    if signal.entry is not None:
        levels += (signal.entry.low, signal.entry.high)
    span = (max(levels) - min(levels)) * 2
    if signal.side is Side.LONG:
        return any(sl - span <= v < sl for v in values)
    return any(sl < v <= sl + span for v in values)


def corroborated(signal: Signal, r: Reading, n_strong: int) -> bool:
    """Every level by its label, one instrument, one side (a word of the other side may
    only label a price: "Buy: 27" in a short), nothing left over that could be a price,
    and levels that agree: the reading explains the whole message."""
    return (
        r.labels >= 2
        and n_strong <= 1
        and one_side(r)
        and not r.multi
        and not r.extra_stops
        and not r.tp_overflow
        and not r.unread
        and levels_agree(signal)
        and (not r.stray_values or price_like(r.stray_values, signal) == 0)
    )


# Wording that makes a complete call a possibility rather than an instruction ("possible
# long", "could buy", "if it breaks 65000"). A remark elsewhere in the message ("potential
# for quick profits"), "looking for 3600 first" (targets), "buy above 4342" (an entry)
# and a stop on a close ("stop if a 4h candle closes above 10") do not count.
SPECULATIVE: Final = re.compile(
    r"\b(?:possible|possibly|potential|could|might|maybe|perhaps)\s+(?:\w+\s+){0,2}"
    r"(?:long|short|buy|sell|entry|setup|trade)\b|"
    r"\bif\b[^\n.]{0,30}\b(?:breaks?|holds?|reclaims?|loses?|confirms?)\b"
)
# a cheap gate: every SPECULATIVE match holds one of these
ANY_SPECULATIVE: Final = contains_any(
    ("possib", "potential", "could", "might", "maybe", "perhaps", "if ")
)
