"""What rests on the venue (pure): the stop for the whole remaining amount, the next target
for its share, nothing on venues or follows without resting exits; legs name each order."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.execution.test_management_rules import BTC, positions, prices, view

from signalbridge.domain.legs import STOP_ROLE as STOP
from signalbridge.domain.legs import (
    is_entry_leg,
    is_full_close,
    resting_leg,
    stop_leg,
    target_index,
    target_leg,
)
from signalbridge.domain.management import (
    ActionKind,
    ManagementSettings,
    PositionView,
    after,
    evaluate,
    triggers,
)
from signalbridge.domain.signals import Side
from signalbridge.execution.exits import resting_roles
from signalbridge.execution.protection import trigger_on_tick, wanted
from signalbridge.venues.base import VenueOrderType

D = Decimal
RESTING = replace(BTC, resting_stops=True, resting_targets=True)


def resting_view(**fields: object) -> PositionView:
    return replace(view(**fields), precision=RESTING)  # type: ignore[arg-type]


def test_legs_name_every_order_of_an_execution() -> None:
    assert [stop_leg(1), stop_leg(12), target_leg(2, 3)] == ["s1", "s12", "t2g3"]
    assert resting_leg("s4") == (STOP, 4) and resting_leg("t2g3") == (2, 3)
    for leg in ("sl", "t1", "e0", "opp", "c7", "p7", "s", "tg1", "t1g"):
        assert resting_leg(leg) is None, leg
    assert target_index("t3") == 3 and target_index("t3g2") == 3 and target_index("sl") is None
    assert is_full_close("sl") and is_full_close("opp") and is_full_close("c12")
    assert not any(is_full_close(leg) for leg in ("s1", "t1", "p3", "t1g1", "e0"))
    assert not any(is_entry_leg(leg) for leg in ("s1", "t1g1"))


def test_the_stop_and_the_next_target_rest() -> None:
    v = resting_view()
    guards = wanted(v)
    assert set(guards) == {STOP, 1}
    stop, target = guards[STOP], guards[1]
    assert (stop.type, stop.trigger, stop.amount) == (VenueOrderType.STOP_MARKET, D(90), D(1))
    assert (target.type, target.trigger) == (VenueOrderType.TAKE_PROFIT_MARKET, D(110))
    assert target.amount == D("0.333")
    last = wanted(replace(v, tp_done=2, amount=D("0.334")))
    assert last[3].amount == D("0.334") and last[STOP].amount == D("0.334")


def test_nothing_rests_without_the_venue_or_the_follow() -> None:
    assert wanted(view()) == {}  # the venue cannot keep reduce-only triggers (spot)
    no = resting_view(settings=ManagementSettings(native_exits=False))
    assert wanted(no) == {}
    assert wanted(resting_view(closing=True)) == {}
    assert wanted(resting_view(stop_loss=None, take_profits=())) == {}


def test_a_short_rests_the_same_roles() -> None:
    guards = wanted(resting_view(side=Side.SHORT))
    assert guards[STOP].trigger == D(110) and guards[1].trigger == D(90)


def test_a_filled_target_makes_break_even_due_at_any_price() -> None:
    v = view(settings=ManagementSettings(break_even_after_tp=1))
    filled = replace(v, tp_done=1, amount=D("0.667"))  # TP1 filled on the venue
    adverse, favourable = triggers(filled)
    assert adverse == D(90) and favourable == D(0)  # due at any price
    actions = evaluate(filled, D("105"))
    assert [a.kind for a in actions] == [ActionKind.MOVE_SL] and actions[0].level == D(100)
    moved = after(filled, actions)
    assert triggers(moved) == (D(100), D(120))  # and not again


def test_market_exits_name_the_resting_orders_they_take_over() -> None:
    v = view()
    assert resting_roles(evaluate(v, D(80))) is None  # the stop closes everything
    assert resting_roles(evaluate(v, D(125))) == {1, 2}
    assert resting_roles(evaluate(v, D(100))) == set()


@settings(max_examples=300, deadline=None)
@given(positions(), st.lists(prices, min_size=1, max_size=20))
def test_what_rests_never_exceeds_the_position(v: PositionView, path: list[Decimal]) -> None:
    v = replace(v, precision=RESTING)
    for price in path:
        guards = wanted(v)
        assert len(guards) <= 2
        if STOP in guards:
            assert v.stop_loss is not None and guards[STOP].amount == v.amount
            assert guards[STOP].trigger == trigger_on_tick(v, v.stop_loss)
        targets = [g for role, g in guards.items() if role != STOP]
        for target in targets:
            assert target.role == v.tp_done + 1
            assert 0 < target.amount <= v.amount
            assert target.trigger == trigger_on_tick(v, v.take_profits[v.tp_done])
        v = after(v, evaluate(v, price))
        if v.closing or v.amount <= 0:
            assert wanted(v) == {}
            break
