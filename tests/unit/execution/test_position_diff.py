"""The position sync's diff (pure): what the venue no longer holds is taken from our
positions newest first and adds up exactly; a venue position on a key we do not hold is
foreign; skipped keys are judged neither way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from signalbridge.domain.signals import Side
from signalbridge.execution.position_diff import Held, confirmed, diff_positions
from signalbridge.venues.base import VenuePosition

D = Decimal
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def held(pid: int, amount: str, symbol: str = "BTC/USDT", side: str = "long") -> Held:
    return Held(pid, pid, symbol, side, D(amount), T0 + timedelta(minutes=pid))


def venue(amount: str, symbol: str = "BTC/USDT", side: Side = Side.LONG) -> VenuePosition:
    return VenuePosition(symbol, side, D(amount), D(50000), None, D(0))


def test_closed_reduced_foreign_and_excess() -> None:
    ours = [held(1, "0.3"), held(2, "0.2"), held(3, "1", "ETH/USDT"), held(4, "2", "SOL/USDT")]
    diff = diff_positions(
        ours,
        [venue("0.25"), venue("3", "SOL/USDT"), venue("5", "XRP/USDT", Side.SHORT)],
    )
    # 0.25 of 0.5 gone on BTC: the newest (0.2) closed, then 0.05 of the older one
    assert [(o.held.position_id, o.gone, o.closed) for o in diff.outside] == [
        (2, D("0.2"), True),
        (1, D("0.05"), False),
        (3, D("1"), True),  # ETH: nothing on the venue
    ]
    assert [(p.symbol, p.side) for p in diff.foreign] == [("XRP/USDT", Side.SHORT)]
    assert diff.excess == [(("SOL/USDT", "long"), D("2"), D("3"))]


def test_skipped_keys_are_judged_neither_way() -> None:
    diff = diff_positions(
        [held(1, "1")],
        [venue("1", "ETH/USDT")],
        skip={("BTC/USDT", "long"), ("ETH/USDT", "long")},
    )
    assert diff.empty and diff.foreign == []


amounts = st.decimals(min_value=D("0.001"), max_value=D(1000), places=3)


@given(
    st.lists(amounts, min_size=1, max_size=6),
    st.decimals(min_value=0, max_value=6000, places=3),
)
def test_what_is_gone_adds_up_and_never_exceeds_a_position(
    ours: list[Decimal], there: Decimal
) -> None:
    positions = [held(i + 1, str(a)) for i, a in enumerate(ours)]
    diff = diff_positions(positions, [venue(str(there))] if there else [])
    total = sum(ours, D(0))
    gone = sum((o.gone for o in diff.outside), D(0))
    assert gone == max(total - there, D(0))
    assert all(0 < o.gone <= o.held.amount for o in diff.outside)
    assert diff.foreign == []
    assert bool(diff.excess) == (there > total)
    # newest first: every position closed wholly is newer than any only reduced
    partial = [o.held.position_id for o in diff.outside if not o.closed]
    whole = [o.held.position_id for o in diff.outside if o.closed]
    assert len(partial) <= 1 and all(w > p for w in whole for p in partial)


def test_only_what_a_second_read_agrees_on_is_closed_outside() -> None:
    ours = [held(1, "2"), held(2, "1", symbol="ETH/USDT")]
    first = diff_positions(ours, [], set()).outside  # a read that listed nothing
    glitch = diff_positions(ours, [venue("2"), venue("1", symbol="ETH/USDT")], set()).outside
    assert {o.held.position_id for o in first} == {1, 2}
    assert confirmed(first, glitch) == []
    partly = diff_positions(ours, [venue("0.5"), venue("1", symbol="ETH/USDT")], set()).outside
    [kept] = confirmed(first, partly)
    assert kept.held.position_id == 1 and kept.gone == Decimal("1.5") and not kept.closed
    assert confirmed(first, first) == first
