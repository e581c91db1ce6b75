"""The pure rules of edits: the delivery key, the difference, the decision, and what an
edited stop or target does to one position; hypothesis feeds them untrusted shapes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signalbridge.domain.management import (
    ActionKind,
    ManagementSettings,
    PositionView,
    Precision,
)
from signalbridge.domain.signals import Side
from signalbridge.services.edit_apply import edit_actions
from signalbridge.services.edits import decide_edit, edit_key, signal_changes

D = Decimal
BEFORE: dict[str, Any] = {
    "symbol": "BTC/USDT",
    "side": "long",
    "order_type": "limit",
    "entry_low": D(59900),
    "entry_high": D(60100),
    "stop_loss": D(58000),
    "take_profits": ["62000", "64000"],
    "leverage": 10,
}


def view(
    stop: Decimal | None = D(58000),
    tps: tuple[Decimal, ...] = (D(62000), D(64000)),
    tp_done: int = 0,
    side: Side = Side.LONG,
    closing: bool = False,
) -> PositionView:
    return PositionView(
        side=side,
        opened=D(1),
        amount=D(1),
        entry=D(60000),
        stop_loss=stop,
        take_profits=tps,
        tp_done=tp_done,
        closing=closing,
        precision=Precision(D("0.001"), D("0.1")),
        settings=ManagementSettings(),
    )


def test_an_edit_keeps_its_own_id_or_takes_the_texts_hash() -> None:
    assert edit_key("p1~abc", "p1", "x") == "p1~abc"
    in_place = edit_key("p1", "p1", "SL 58500")
    assert in_place.startswith("p1~") and in_place == edit_key("p1", "p1", "SL 58500")
    assert in_place != edit_key("p1", "p1", "SL 58600")


@given(st.text(min_size=1, max_size=400), st.text(max_size=2000))
def test_an_edit_key_always_fits_the_column(external_id: str, text: str) -> None:
    assert 0 < len(edit_key(external_id, external_id, text)) <= 200
    assert len(edit_key(external_id, "other", text)) <= 200


def test_the_difference_names_only_what_changed_as_exact_text() -> None:
    after = {**BEFORE, "stop_loss": D("58500.0"), "take_profits": ["62000", "65000"]}
    assert signal_changes(BEFORE, after) == {
        "stop_loss": ["58000", "58500.0"],
        "take_profits": [["62000", "64000"], ["62000", "65000"]],
    }
    assert signal_changes(BEFORE, {**BEFORE, "entry_low": D("59900.00")}) == {}
    gone = signal_changes(BEFORE, None)
    assert set(gone) == set(BEFORE) and all(new is None for _, new in gone.values())


@pytest.mark.parametrize(
    ("status", "executed", "changes", "is_signal", "on_edit", "below", "outcome"),
    [
        ("dispatched", False, {"stop_loss": [1, 2]}, True, "review", False, "replanned"),
        ("dispatched", False, {"stop_loss": [1, 2]}, False, "apply", False, "withdrawn"),
        ("dispatched", False, {}, True, "apply", False, "unchanged"),
        ("rejected", False, {"stop_loss": [1, 2]}, True, "apply", False, "recorded"),
        ("dispatched", True, {"stop_loss": [1, 2]}, True, "apply", False, "apply"),
        ("dispatched", True, {"stop_loss": [1, 2]}, True, "apply", True, "review"),
        ("dispatched", True, {"take_profits": [[1], [2]]}, True, "ignore", False, "ignored"),
        ("dispatched", True, {"stop_loss": [1, 2]}, True, "review", False, "review"),
        ("dispatched", True, {"entry_low": [1, 2]}, True, "apply", False, "recorded"),
        ("dispatched", True, {"stop_loss": [1, None]}, False, "apply", False, "recorded"),
    ],
)
def test_what_an_edit_does_to_its_signal(
    status: str, executed: bool, changes: dict[str, Any], is_signal: bool, on_edit: str,
    below: bool, outcome: str,
) -> None:  # fmt: skip
    decision = decide_edit(
        signal_status=status,
        executed=executed,
        changes=changes,
        is_signal=is_signal,
        on_edit=on_edit,
        below_threshold=below,
    )
    assert decision.outcome == outcome
    assert (decision.reason is None) == (outcome in ("replanned", "unchanged", "apply"))


def test_an_edited_stop_and_target_become_position_changes() -> None:
    changes = {
        "stop_loss": ["58000", "58500"],
        "take_profits": [["62000", "64000"], ["62000", "65000", "66000"]],
    }
    actions = edit_actions(changes, view(), 7)
    assert [(a.kind, a.level, a.tp_index) for a in actions] == [
        (ActionKind.MOVE_SL, D(58500), 0),
        (ActionKind.MODIFY_TP, D(65000), 2),
        (ActionKind.MODIFY_TP, D(66000), 3),
    ]
    assert all(a.leg is None for a in actions)  # no order is sent for a level


def test_a_stop_managed_since_is_never_loosened_and_a_reached_target_never_moved() -> None:
    at_entry = view(stop=D(60000), tp_done=1)
    looser = {"stop_loss": ["58000", "58500"], "take_profits": [["62000"], ["61000"]]}
    assert edit_actions(looser, at_entry, 1) == []
    tighter = edit_actions({"stop_loss": ["58000", "60500"]}, at_entry, 1)
    assert [(a.kind, a.level) for a in tighter] == [(ActionKind.MOVE_SL, D(60500))]
    short = view(stop=D(61000), side=Side.SHORT, tps=(D(59000),))
    assert edit_actions({"stop_loss": ["62000", "61500"]}, short, 1) == []
    assert edit_actions({"stop_loss": ["58000", "58500"]}, view(closing=True), 1) == []


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@given(st.dictionaries(st.sampled_from(["stop_loss", "take_profits", "x"]), _json))
def test_any_stored_difference_gives_only_valid_levels(changes: dict[str, Any]) -> None:
    for action in edit_actions(changes, view(), 3):
        assert action.level is not None and action.level.is_finite() and action.level > 0
        assert action.kind in (ActionKind.MOVE_SL, ActionKind.MODIFY_TP)
