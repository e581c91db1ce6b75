"""Events in any order resolve to the provider's latest state; older events change nothing.

Properties over any batch of one subscription's events and any stored marker: the batch is
partitioned; the result does not depend on delivery order; nothing at or below the stored
marker is applied; delivering one event at a time ends where the whole batch ends.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signalbridge.payments import (
    PaymentEvent,
    PaymentEventKind,
    Subject,
    SubjectKind,
    SubjectStatus,
    by_subject,
    resolve,
)

BASE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SUB = Subject(SubjectKind.SUBSCRIPTION, "sub_1")
STATES = [
    (PaymentEventKind.SUBSCRIPTION_UPDATED, SubjectStatus.TRIALING),
    (PaymentEventKind.SUBSCRIPTION_UPDATED, SubjectStatus.ACTIVE),
    (PaymentEventKind.SUBSCRIPTION_UPDATED, SubjectStatus.PAST_DUE),
    (PaymentEventKind.SUBSCRIPTION_CANCELED, SubjectStatus.CANCELED),
]


def ev(event_id: str, second: int, state: int = 1, subject: Subject = SUB) -> PaymentEvent:
    kind, status = STATES[state]
    at = BASE + timedelta(seconds=second)
    return PaymentEvent("stripe", event_id, kind, subject, at, at, status=status)


def at(second: int) -> datetime:
    return BASE + timedelta(seconds=second)


events_st = st.lists(
    st.builds(
        ev,
        st.sampled_from([f"evt_{i}" for i in range(12)]),
        st.integers(0, 15),
        st.integers(0, len(STATES) - 1),
    ),
    max_size=12,
)
stored_st = st.one_of(st.none(), st.integers(0, 15).map(at))


@st.composite
def distinct_markers(draw: st.DrawFn) -> list[PaymentEvent]:
    seconds = draw(st.lists(st.integers(1, 60), unique=True, max_size=10))
    states = draw(st.lists(st.integers(0, len(STATES) - 1), min_size=len(seconds)))
    return [ev(f"evt_{s}", s, state) for s, state in zip(seconds, states, strict=False)]


@given(events_st, stored_st)
def test_every_event_lands_in_exactly_one_bucket(
    events: list[PaymentEvent], stored: datetime | None
) -> None:
    got = resolve(stored, events)
    keys = [e.key for e in got.apply + got.stale + got.undecided]
    assert len(keys) == len(set(keys))
    assert set(keys) == {e.key for e in events}


@given(events_st, stored_st, st.randoms())
def test_the_order_of_delivery_does_not_matter(
    events: list[PaymentEvent], stored: datetime | None, rnd: random.Random
) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert resolve(stored, shuffled) == resolve(stored, events)


@given(events_st, stored_st)
def test_nothing_at_or_before_the_stored_marker_is_applied(
    events: list[PaymentEvent], stored: datetime | None
) -> None:
    got = resolve(stored, events)
    markers = [e.provider_updated_at for e in got.apply]
    assert markers == sorted(markers)
    if stored is not None:
        assert all(m > stored for m in markers)
        assert all(e.provider_updated_at <= stored for e in got.stale)
        assert got.marker is not None and got.marker >= stored
    if got.apply and not got.needs_fetch:
        assert got.marker == markers[-1]
        assert got.latest == got.apply[-1]


@given(events_st, stored_st)
def test_a_fetch_is_asked_only_when_the_newest_state_is_unknown(
    events: list[PaymentEvent], stored: datetime | None
) -> None:
    got = resolve(stored, events)
    if not got.needs_fetch:
        return
    top = {e.provider_updated_at for e in got.undecided}
    assert len(top) == 1  # the undecided share one marker, the newest seen
    (marker,) = top
    assert all(e.provider_updated_at < marker for e in got.apply)
    states = {(e.kind, e.status) for e in got.undecided}
    assert marker == stored or len(states) > 1
    assert got.latest is None


@given(distinct_markers(), st.randoms())
def test_one_at_a_time_in_any_order_ends_at_the_newest_state(
    events: list[PaymentEvent], rnd: random.Random
) -> None:
    arrival = list(events)
    rnd.shuffle(arrival)
    stored: datetime | None = None
    state: PaymentEvent | None = None
    for event in arrival:
        step = resolve(stored, [event])
        assert not step.needs_fetch
        if step.latest is not None:
            state, stored = step.latest, step.marker
    newest = max(events, key=lambda e: e.provider_updated_at, default=None)
    assert state == newest
    assert resolve(None, events).latest == newest


def test_an_event_older_than_the_stored_marker_changes_nothing() -> None:
    got = resolve(at(10), [ev("evt_old", 5, state=3)])
    assert got.apply == ()
    assert [e.event_id for e in got.stale] == ["evt_old"]
    assert got.marker == at(10)
    assert got.latest is None and not got.needs_fetch


def test_a_cancellation_delivered_before_the_update_it_follows_wins() -> None:
    canceled, updated = ev("evt_cancel", 9, state=3), ev("evt_update", 4, state=1)
    first = resolve(None, [canceled])
    assert first.latest == canceled
    second = resolve(first.marker, [updated])
    assert second.apply == () and second.stale == (updated,)


def test_clashing_events_at_the_newest_marker_ask_for_a_fetch() -> None:
    got = resolve(at(0), [ev("evt_a", 3, 1), ev("evt_b", 7, 2), ev("evt_c", 7, 3)])
    assert [e.event_id for e in got.apply] == ["evt_a"]
    assert {e.event_id for e in got.undecided} == {"evt_b", "evt_c"}
    assert got.needs_fetch and got.marker == at(3)


def test_agreeing_events_at_one_marker_need_no_fetch() -> None:
    got = resolve(None, [ev("evt_a", 7, 1), ev("evt_b", 7, 1)])
    assert not got.needs_fetch
    assert got.latest is not None and got.latest.status is SubjectStatus.ACTIVE


def test_a_new_event_at_exactly_the_stored_marker_asks_for_a_fetch() -> None:
    got = resolve(at(7), [ev("evt_b", 7, 3)])
    assert got.needs_fetch and got.apply == () and got.marker == at(7)


def test_one_subject_at_a_time() -> None:
    other = Subject(SubjectKind.SUBSCRIPTION, "sub_2")
    mixed = [ev("evt_a", 1), ev("evt_b", 2, subject=other)]
    with pytest.raises(ValueError, match="one \\(gateway, subject\\)"):
        resolve(None, mixed)
    groups = by_subject(mixed)
    assert [len(g) for g in groups.values()] == [1, 1]
    assert {key[1] for key in groups} == {SUB, other}


def test_a_naive_stored_marker_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        resolve(datetime(2026, 3, 1), [ev("evt_a", 1)])
