"""Pure rules of manual override, property-tested: the idempotency key a request gets
(a caller's own key is scoped to the caller and bounded; a derived one is deterministic
and changes with the target and its state) and the legs a manual close writes (whole or
part, within the client order id's limits)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signalbridge.domain.legs import is_entry_leg, is_full_close, resting_leg, role_of_leg
from signalbridge.services.override import (
    CLOSE,
    KINDS,
    Actor,
    OverrideRequest,
    idempotency_key,
)
from signalbridge.services.override_work import MAX_ACTION_ID, close_leg
from signalbridge.venues.base import client_order_id, parse_client_order_id

IDS = st.integers(min_value=1, max_value=2**63 - 1)
KEYS = st.text(min_size=1, max_size=400)
REQUESTS = st.builds(
    OverrideRequest,
    kind=st.sampled_from(KINDS),
    position_id=st.none() | IDS,
    order_id=st.none() | IDS,
    share=st.none() | st.decimals(min_value=Decimal("0.000001"), max_value=1, places=6),
)


@settings(max_examples=40)
@given(request=REQUESTS, key=KEYS, a=IDS, b=IDS)
def test_a_callers_key_is_its_own_and_bounded(
    request: OverrideRequest, key: str, a: int, b: int
) -> None:
    keyed = OverrideRequest(request.kind, position_id=request.position_id, key=key)
    mine = idempotency_key(Actor("a", a), keyed, None)
    assert len(mine) <= 300
    assert mine == idempotency_key(Actor("renamed", a), keyed, None)  # the user, not the name
    if a != b:
        assert mine != idempotency_key(Actor("b", b), keyed, None)


@settings(max_examples=40)
@given(request=REQUESTS, state=st.text(max_size=200), other=st.text(max_size=200), user=IDS)
def test_a_derived_key_follows_the_action_and_the_targets_state(
    request: OverrideRequest, state: str, other: str, user: int
) -> None:
    who = Actor("u", user)
    key = idempotency_key(who, request, state)
    assert len(key) <= 300 and key == idempotency_key(who, request, state)
    assert (key == idempotency_key(who, request, other)) == (state == other)
    moved = OverrideRequest(request.kind, position_id=(request.position_id or 0) + 1)
    assert idempotency_key(who, moved, state) != key


@settings(max_examples=40)
@given(action_id=st.integers(min_value=1, max_value=MAX_ACTION_ID), execution=IDS)
def test_manual_close_legs_fit_a_client_order_id(action_id: int, execution: int) -> None:
    whole, part = close_leg(action_id, True), close_leg(action_id, False)
    assert is_full_close(whole) and not is_full_close(part)
    for leg in (whole, part):
        assert not is_entry_leg(leg) and resting_leg(leg) is None and role_of_leg(leg) == "exit"
        coid = client_order_id(execution, leg, max_len=36)
        assert len(coid) <= 36
        parsed = parse_client_order_id(coid)
        assert parsed is not None and parsed[1] == leg


@pytest.mark.parametrize("action_id", [0, -1, MAX_ACTION_ID + 1])
def test_an_action_id_without_room_in_a_leg_is_refused(action_id: int) -> None:
    with pytest.raises(ValueError, match="does not fit"):
        close_leg(action_id, True)


def test_a_close_requests_fingerprint_names_its_share() -> None:
    half = OverrideRequest(CLOSE, position_id=1, share=Decimal("0.5"))
    assert half.fingerprint() != OverrideRequest(CLOSE, position_id=1).fingerprint()
    assert (
        half.fingerprint()
        == OverrideRequest(CLOSE, position_id=1, share=Decimal("0.5")).fingerprint()
    )
