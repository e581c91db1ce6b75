"""Triggers we rest on a venue are on its tick, rounded in the position's favour: a
break-even stop at an averaged entry, or a provider's level, is never refused for its
precision (issue 11, part 8)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st
from tests.unit.execution.test_management_rules import BTC, view

from signalbridge.domain.legs import STOP_ROLE
from signalbridge.domain.management import ActionKind, ManagementSettings, after, evaluate
from signalbridge.domain.signals import Side
from signalbridge.execution.protection import trigger_on_tick, wanted

D = Decimal
RESTING = replace(BTC, resting_stops=True, resting_targets=True)


def test_a_break_even_stop_at_an_averaged_entry_rests_on_the_tick() -> None:
    entry = D("100.123456789012")  # two fills at different prices average off the tick
    rules = ManagementSettings(break_even_after_tp=1)
    long = replace(view(entry=entry, settings=rules), precision=RESTING)
    actions = evaluate(long, D(110))  # the first target is reached: the stop moves up
    [move] = [a for a in actions if a.kind is ActionKind.MOVE_SL]
    assert move.level == entry  # the rule keeps the exact entry ...
    assert wanted(after(long, actions))[STOP_ROLE].trigger == D("100.13")  # ... the venue
    short = replace(view(Side.SHORT, entry=entry, stop_loss=entry), precision=RESTING)
    assert wanted(short)[STOP_ROLE].trigger == D("100.12")  # below for a short


def test_targets_rest_on_the_tick_never_on_the_wrong_side_of_their_level() -> None:
    long = replace(view(take_profits=(D("110.005"), D("120"))), precision=RESTING)
    assert wanted(long)[1].trigger == D("110.01")
    short = replace(view(Side.SHORT, take_profits=(D("89.995"),)), precision=RESTING)
    assert wanted(short)[1].trigger == D("89.99")


@given(
    level=st.decimals(min_value=D("0.000001"), max_value=D(10**6), places=12),
    tick=st.sampled_from([D("0.00001"), D("0.01"), D("0.5"), D(1), D(5)]),
    side=st.sampled_from([Side.LONG, Side.SHORT]),
)
def test_triggers_are_on_the_tick_and_in_the_positions_favour(
    level: Decimal, tick: Decimal, side: Side
) -> None:
    v = replace(view(side), precision=replace(RESTING, price_tick=tick))
    trigger = trigger_on_tick(v, level)
    assert trigger % tick == 0 and trigger > 0
    if side is Side.LONG:
        assert level <= trigger < level + tick
    else:
        assert trigger <= level or trigger == tick
        assert trigger > level - tick
