"""Position-management rules: examples and hypothesis properties (a stop never loosens,
closes never exceed the position, the parts add up to the position, a level acts once)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from signalbridge.domain.management import (
    ActionKind,
    ManagementSettings,
    PositionView,
    Precision,
    after,
    evaluate,
    management_settings,
    stopped,
    triggers,
    unrealised_pnl,
)
from signalbridge.domain.signals import Side

D = Decimal
BTC = Precision(amount_step=D("0.001"), price_tick=D("0.01"), min_amount=D("0.001"))


def view(side: Side = Side.LONG, **fields: object) -> PositionView:
    long = side is Side.LONG
    values: dict[str, object] = {
        "side": side,
        "opened": D("1"),
        "amount": D("1"),
        "entry": D("100"),
        "stop_loss": D("90") if long else D("110"),
        "take_profits": (D("110"), D("120"), D("130")) if long else (D("90"), D("80"), D("70")),
        "tp_done": 0,
        "closing": False,
        "precision": BTC,
        "settings": ManagementSettings(),
        **fields,
    }
    return PositionView(**values)  # type: ignore[arg-type]


def test_settings_are_validated() -> None:
    assert management_settings({}) == ManagementSettings()
    parsed = management_settings(
        {"tp_split": ["50", 30, "20"], "trailing": {"percent": "1.5"}, "close_on_opposite": True}
    )
    assert parsed.tp_split == (D(50), D(30), D(20)) and parsed.trailing is not None
    bads: tuple[dict[str, object], ...] = (
        {"tp_split": ["80", "30"]},
        {"tp_split": ["0"]},
        {"trailing": {"distance": "5", "percent": "1"}},
        {"trailing": {}},
        {"break_even_after_tp": 0},
        {"unknown": 1},
    )
    for bad in bads:
        with pytest.raises(ValidationError):
            management_settings(bad)


def test_stop_loss_closes_all_and_only_once() -> None:
    v = view()
    actions = evaluate(v, D("89"))
    assert [(a.kind, a.leg, a.amount) for a in actions] == [(ActionKind.CLOSE, "sl", D(1))]
    assert evaluate(after(v, actions), D("80")) == []


def test_even_split_rounds_down_and_the_last_target_takes_the_rest() -> None:
    v = view()
    first = evaluate(v, D("110"))
    assert [(a.leg, a.amount) for a in first] == [("t1", D("0.333"))]
    v = after(v, first)
    assert evaluate(v, D("110")) == []  # the same level never acts twice
    rest = evaluate(v, D("135"))
    assert [(a.leg, a.amount) for a in rest] == [("t2", D("0.333")), ("t3", D("0.334"))]


def test_given_split_break_even_and_short_side() -> None:
    settings_ = ManagementSettings(tp_split=(D(50), D(30), D(20)), break_even_after_tp=1)
    v = view(Side.SHORT, settings=settings_)
    actions = evaluate(v, D("90"))
    assert [(a.kind, a.amount, a.level) for a in actions] == [
        (ActionKind.TAKE_PROFIT, D("0.5"), D("90")),
        (ActionKind.MOVE_SL, D(0), D("100")),
    ]
    assert actions[1].reason == "break_even"
    assert after(v, actions).stop_loss == D("100")


def test_trailing_distance_and_percent_only_tighten() -> None:
    trail = ManagementSettings.model_validate({"trailing": {"distance": "5"}})
    v = view(settings=trail)
    moved = evaluate(v, D("104"))
    assert [(a.kind, a.level, a.reason) for a in moved] == [(ActionKind.MOVE_SL, D(99), "trailing")]
    v = after(v, moved)
    assert evaluate(v, D("103")) == []  # a lower price does not move it back
    pct = ManagementSettings.model_validate({"trailing": {"percent": "10", "after_tp": 1}})
    short = view(Side.SHORT, settings=pct, stop_loss=None)
    assert evaluate(short, D("95")) == []  # not active before TP1
    hit = evaluate(short, D("90"))
    assert hit[-1].kind is ActionKind.MOVE_SL and hit[-1].level == D("99")


def test_unrealised_pnl_uses_the_contract_size() -> None:
    cfd = Precision(D("0.01"), D("0.00001"), D("0.01"), D("100000"))
    v = view(amount=D("0.5"), entry=D("1.08"), precision=cfd)
    assert unrealised_pnl(v, D("1.081")) == D("50.000")


# --- properties ---------------------------------------------------------------------------

prices = st.decimals(min_value=D("1"), max_value=D("1000"), places=2)
amounts = st.integers(min_value=1, max_value=100_000).map(lambda n: D(n) * D("0.001"))


@st.composite
def positions(draw: st.DrawFn) -> PositionView:
    side = draw(st.sampled_from([Side.LONG, Side.SHORT]))
    long = side is Side.LONG
    entry = draw(st.decimals(min_value=D("100"), max_value=D("500"), places=2))
    gaps = draw(st.lists(st.integers(1, 50), min_size=0, max_size=5))
    tps, level = [], entry
    for gap in gaps:
        level = level + gap if long else level - gap
        tps.append(level)
    stop = draw(st.none() | st.integers(1, 50).map(lambda g: entry - g if long else entry + g))
    split = draw(
        st.none()
        | st.lists(st.integers(1, 40), min_size=1, max_size=5).map(
            lambda xs: tuple(D(x) for x in xs) if sum(xs) <= 100 else None
        )
    )
    trailing: dict[str, str] | None = draw(
        st.none()
        | st.builds(dict, distance=st.integers(1, 30).map(str))
        | st.builds(dict, percent=st.integers(1, 20).map(str))
    )
    management = ManagementSettings.model_validate(
        {
            "tp_split": split,
            "trailing": trailing,
            "break_even_after_tp": draw(st.none() | st.integers(1, 3)),
        }
    )
    opened = draw(amounts)
    return PositionView(
        side=side,
        opened=opened,
        amount=opened,
        entry=entry,
        stop_loss=stop,
        take_profits=tuple(tps),
        tp_done=0,
        closing=False,
        precision=BTC,
        settings=management,
    )


def _tighter_or_equal(long: bool, new: Decimal | None, old: Decimal | None) -> bool:
    if old is None:
        return True
    assert new is not None
    return new >= old if long else new <= old


@settings(max_examples=300, deadline=None)
@given(positions(), st.lists(prices, min_size=1, max_size=30))
def test_a_price_path_never_loosens_never_overcloses_never_repeats(
    v: PositionView, path: list[Decimal]
) -> None:
    closed = D(0)
    legs: list[str] = []
    for price in path:
        actions = evaluate(v, price)
        for action in actions:
            if action.kind is ActionKind.MOVE_SL:
                assert _tighter_or_equal(v.long, action.level, v.stop_loss)
                assert action.level is not None and not stopped(v.long, price, action.level)
            else:
                assert action.amount >= 0
                closed += action.amount
                if action.amount > 0:
                    assert action.leg is not None
                    legs.append(action.leg)
        previous = v.stop_loss
        v = after(v, actions)
        assert _tighter_or_equal(v.long, v.stop_loss, previous)
        assert closed <= v.opened and v.amount == v.opened - closed
        assert v.amount >= 0
    assert len(legs) == len(set(legs))  # each level acted upon once


@settings(max_examples=300, deadline=None)
@given(positions())
def test_reaching_every_target_closes_exactly_the_position(v: PositionView) -> None:
    if not v.take_profits:
        return
    far = v.take_profits[-1]
    parts = [a.amount for a in evaluate(v, far) if a.kind is ActionKind.TAKE_PROFIT]
    assert len(parts) == len(v.take_profits)
    assert sum(parts, D(0)) == v.opened
    assert all(p == p.quantize(D("0.001")) for p in parts)  # on the amount step


@settings(max_examples=300, deadline=None)
@given(positions(), prices)
def test_the_trigger_levels_never_miss_an_action(v: PositionView, price: Decimal) -> None:
    """The index only looks at positions whose levels the price reached: a superset."""
    adverse, favourable = triggers(v)
    reached = (adverse is not None and stopped(v.long, price, adverse)) or (
        favourable is not None and (price >= favourable if v.long else price <= favourable)
    )
    if evaluate(v, price):
        assert reached
