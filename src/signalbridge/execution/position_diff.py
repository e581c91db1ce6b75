"""What a venue's positions say about ours (pure): closed or reduced outside, foreign, more.

Positions are compared per (symbol, side), the way a net-position venue keeps them (one per
symbol and side; a hedging MetaTrader account is summed the same way). Where the venue holds
less than our open positions on a key, the difference was closed outside SignalBridge; it
is taken from our positions newest first (a hand close names no position of ours, and the
newest is the one a trader most often takes back), so every position keeps a whole amount
and the parts add up to the difference exactly. A venue position on a key where we hold
nothing is foreign: reported, never touched. Keys in ``skip`` (an order of ours still
unsettled there, a change inside the settle window) are not judged this time, neither
as ours nor as foreign.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from signalbridge.venues.base import VenuePosition

ZERO = Decimal(0)
Key = tuple[str, str]  # (symbol, side)


@dataclass(frozen=True, slots=True)
class Held:
    """One open position of ours as the diff needs it."""

    position_id: int
    execution_id: int
    symbol: str
    side: str
    amount: Decimal
    opened_at: datetime

    @property
    def key(self) -> Key:
        return (self.symbol, self.side)


@dataclass(frozen=True, slots=True)
class Outside:
    """``gone`` of ``held`` is no longer on the venue; ``closed``: all of it."""

    held: Held
    gone: Decimal
    venue_amount: Decimal  # what the venue still holds on the key

    @property
    def closed(self) -> bool:
        return self.gone >= self.held.amount


@dataclass
class PositionDiff:
    outside: list[Outside] = field(default_factory=list)
    foreign: list[VenuePosition] = field(default_factory=list)
    #: Keys where the venue holds more than we do: (key, ours, the venue's).
    excess: list[tuple[Key, Decimal, Decimal]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.outside or self.excess)


def diff_positions(
    ours: Sequence[Held], venue: Sequence[VenuePosition], skip: Collection[Key] = ()
) -> PositionDiff:
    """Compare our open positions with the venue's; see the module docstring."""
    diff = PositionDiff()
    held: dict[Key, list[Held]] = {}
    for position in ours:
        if position.amount > 0:
            held.setdefault(position.key, []).append(position)
    on_venue: dict[Key, Decimal] = {}
    for vp in venue:
        key = (vp.symbol, vp.side.value)
        on_venue[key] = on_venue.get(key, ZERO) + vp.amount
        if key not in held and key not in skip and vp.amount > 0:
            diff.foreign.append(vp)
    for key, positions in held.items():
        if key in skip:
            continue
        total = sum((p.amount for p in positions), ZERO)
        there = on_venue.get(key, ZERO)
        if there > total:
            diff.excess.append((key, total, there))
            continue
        short = total - there
        for position in sorted(positions, key=lambda p: (p.opened_at, p.position_id), reverse=True):
            if short <= 0:
                break
            gone = min(short, position.amount)
            diff.outside.append(Outside(position, gone, there))
            short -= gone
    return diff


def confirmed(first: Sequence[Outside], second: Sequence[Outside]) -> list[Outside]:
    """What two reads of the venue agree was closed outside: a position's stop is cancelled
    on the strength of it, so one odd answer (a venue listing no positions for a moment)
    must not be enough. The smaller amount gone counts when both saw some."""
    again = {o.held.position_id: o for o in second}
    out: list[Outside] = []
    for o in first:
        other = again.get(o.held.position_id)
        if other is not None:
            out.append(o if o.gone <= other.gone else other)
    return out
