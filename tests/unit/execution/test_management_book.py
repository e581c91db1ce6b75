"""Position accounting from fills (pure): amount, average entry, fees and realised PnL."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from signalbridge.domain.legs import is_entry_leg
from signalbridge.execution.recorder import Fill, book, unrealised_pnl

D = Decimal


def test_legs() -> None:
    assert is_entry_leg("e0") and is_entry_leg("e12")
    assert not any(is_entry_leg(leg) for leg in ("t1", "sl", "opp", "c7", "p7", "e", "ex"))


def test_long_two_entries_two_exits() -> None:
    fills = [
        Fill("e0", D("1"), D("100"), D("0.05")),
        Fill("e1", D("1"), D("90"), D("0.045")),
        Fill("t1", D("0.5"), D("110"), D("0.0275")),
        Fill("sl", D("1.5"), D("94"), D("0.0705")),
    ]
    result = book(fills, long=True)
    assert result is not None
    assert result.entry_price == D("95") and result.opened == D(2) and result.amount == 0
    assert result.fees == D("0.193") and result.tp_hits == 1 and result.closed
    assert result.realized_pnl == D("7.5") - D("1.5") - D("0.193")


def test_short_with_contract_size_and_nothing_filled() -> None:
    assert book([Fill("e0", D(0), D("1.08"), D(0))], long=False) is None
    fills = [Fill("e0", D("0.1"), D("1.08"), D("5")), Fill("p9", D("0.05"), D("1.07"), D("2"))]
    result = book(fills, long=False, contract_size=D(100000))
    assert result is not None and result.amount == D("0.05") and not result.closed
    assert result.realized_pnl == D("50") - D("7")
    assert unrealised_pnl("short", D("1.08"), D("0.05"), D("1.09"), D(100000)) == D("-50")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(1, 1000), min_size=1, max_size=4),
    st.lists(st.integers(1, 1000), min_size=0, max_size=4),
    st.integers(50, 150),
    st.integers(50, 150),
)
def test_a_round_trip_is_its_price_difference_minus_fees(
    entries: list[int], exit_parts: list[int], buy: int, sell: int
) -> None:
    opened = D(sum(entries))
    fills = [Fill(f"e{i}", D(a), D(buy), D("0.01")) for i, a in enumerate(entries)]
    closed = D(0)
    for k, part in enumerate(exit_parts, start=1):
        amount = min(D(part), opened - closed)
        if amount > 0:
            fills.append(Fill(f"t{k}", amount, D(sell), D("0.01")))
            closed += amount
    result = book(fills, long=True)
    assert result is not None and result.amount == opened - closed >= 0
    assert result.realized_pnl == (D(sell) - D(buy)) * closed - D("0.01") * len(fills)
