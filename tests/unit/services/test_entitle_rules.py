"""The entitlement decision table (services/entitlement_rules.py), its boundaries, and
properties over any holdings hypothesis makes up; plus the pure part of the expiry job
(services/entitlement_notices.py ``due_notices``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signalbridge.services.entitlement_notices import ENDED, EXPIRING, due_notices
from signalbridge.services.entitlement_rules import (
    GRANT,
    SUBSCRIPTION,
    Holding,
    decide,
    decide_channel,
    ended_at,
    judge,
)

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
GRACE = timedelta(days=3)
DAY = timedelta(days=1)
TICK = timedelta(microseconds=1)


def sub(status: str, end: datetime | None, **kw: object) -> Holding:
    return Holding(
        kind=SUBSCRIPTION,
        id=int(kw.pop("id", 1)),  # type: ignore[call-overload]
        user_id=7,
        plan_id=int(kw.pop("plan_id", 3)),  # type: ignore[call-overload]
        status=status,
        period_end=end,
        plan_name="Gold",
        channel_ids=frozenset({11}),
        **kw,  # type: ignore[arg-type]
    )


def grant(
    end: datetime | None,
    *,
    start: datetime = NOW - 10 * DAY,
    revoked: datetime | None = None,
    id: int = 1,
) -> Holding:
    return Holding(
        kind=GRANT,
        id=id,
        user_id=7,
        plan_id=3,
        status="granted",
        period_end=end,
        plan_name="Gold",
        channel_ids=frozenset({11}),
        starts_at=start,
        revoked_at=revoked,
    )


# --- the decision table ------------------------------------------------------------------

TABLE = [
    # (holding, entitled, code)
    (sub("active", NOW + DAY), True, "active"),
    (sub("trialing", NOW + DAY), True, "trialing"),
    (sub("paid", None), True, "paid"),
    (sub("active", None), True, "active"),  # one-time plan: no end
    (sub("active", NOW - DAY), False, "expired"),
    (sub("trialing", NOW), False, "expired"),  # at exactly the end: over
    (sub("active", NOW + TICK), True, "active"),
    (sub("past_due", NOW - DAY), True, "past_due_grace"),
    (sub("past_due", NOW - GRACE + TICK), True, "past_due_grace"),
    (sub("past_due", NOW - GRACE), False, "renewal_failed"),  # grace ends exactly now
    (sub("past_due", None), False, "past_due"),
    (sub("canceled", NOW + DAY), True, "canceled_until_period_end"),
    (sub("canceled", NOW), False, "canceled"),
    (sub("canceled", None), False, "canceled"),
    (sub("refunded", NOW + DAY), False, "refunded"),
    (sub("disputed", NOW + DAY), False, "disputed"),
    (sub("expired", NOW + DAY), False, "expired"),
    (sub("failed", NOW + DAY), False, "payment_failed"),
    (sub("pending", NOW + DAY), False, "pending"),
    (sub("weird", NOW + DAY), False, "inactive"),
    (grant(None), True, "grant"),
    (grant(NOW + DAY), True, "grant"),
    (grant(NOW), False, "grant_expired"),
    (grant(None, start=NOW + DAY), False, "grant_not_started"),
    (grant(None, start=NOW), True, "grant"),  # starts exactly now
    (grant(None, revoked=NOW), False, "grant_revoked"),
    (grant(None, revoked=NOW + DAY), True, "grant"),  # asked before the revocation
]


@pytest.mark.parametrize(("holding", "entitled", "code"), TABLE)
def test_decision_table(holding: Holding, entitled: bool, code: str) -> None:
    d = judge(holding, NOW, GRACE)
    assert (d.entitled, d.code) == (entitled, code)
    assert d.detail  # a reason people can read, always
    assert d.source is holding


def test_until_is_when_it_ends() -> None:
    assert judge(sub("active", NOW + DAY), NOW, GRACE).until == NOW + DAY
    assert judge(sub("past_due", NOW - DAY), NOW, GRACE).until == NOW - DAY + GRACE
    assert judge(grant(None), NOW, GRACE).until is None
    assert judge(sub("refunded", NOW + DAY), NOW, GRACE).until is None


def test_reasons_name_the_holding_and_the_cause() -> None:
    d = judge(sub("refunded", NOW + DAY, id=42), NOW, GRACE)
    assert "subscription 42" in d.detail and "'Gold'" in d.detail and "refunded" in d.detail
    d = judge(sub("past_due", NOW - 5 * DAY), NOW, GRACE)
    assert "renewal failed" in d.detail and "grace ended" in d.detail
    d = judge(grant(None, revoked=NOW - DAY, id=9), NOW, GRACE)
    assert "grant 9" in d.detail and "revoked" in d.detail


def test_zero_grace_ends_a_failed_renewal_at_the_period_end() -> None:
    assert not judge(sub("past_due", NOW), NOW, timedelta(0)).entitled
    assert judge(sub("past_due", NOW + TICK), NOW, timedelta(0)).entitled


def test_any_live_holding_entitles_and_the_longest_is_the_source() -> None:
    short = sub("active", NOW + DAY, id=1)
    long = sub("canceled", NOW + 5 * DAY, id=2)
    dead = sub("refunded", NOW + 9 * DAY, id=3)
    d = decide([short, dead, long], NOW, GRACE)
    assert d.entitled and d.source is long and d.until == NOW + 5 * DAY
    endless = grant(None, id=4)
    assert decide([short, endless], NOW, GRACE).source is endless


def test_nothing_held_and_the_latest_end_explains_a_refusal() -> None:
    none = decide([], NOW, GRACE)
    assert (none.entitled, none.code) == (False, "no_plan")
    old = sub("active", NOW - 30 * DAY, id=1)
    recent = sub("canceled", NOW - DAY, id=2)
    assert decide([old, recent], NOW, GRACE).source is recent


def test_channel_visibility() -> None:
    kw = {"holdings": [], "now": NOW, "grace": GRACE}
    assert decide_channel("public", role="member", is_owner=False, **kw).entitled  # type: ignore[arg-type]
    assert not decide_channel("private", role="member", is_owner=False, **kw).entitled  # type: ignore[arg-type]
    assert decide_channel("private", role="member", is_owner=True, **kw).entitled  # type: ignore[arg-type]
    assert decide_channel("plan", role="operator", is_owner=False, **kw).entitled  # type: ignore[arg-type]
    assert decide_channel("plan", role="admin", is_owner=False, **kw).entitled  # type: ignore[arg-type]
    refused = decide_channel("plan", role="member", is_owner=False, **kw)  # type: ignore[arg-type]
    assert (refused.entitled, refused.code) == (False, "no_plan")
    ok = decide_channel(
        "plan",
        role="member",
        is_owner=False,
        holdings=[sub("active", NOW + DAY)],
        now=NOW,
        grace=GRACE,
    )
    assert ok.entitled


# --- properties ----------------------------------------------------------------------------

STATUSES = st.sampled_from(
    [
        "active",
        "trialing",
        "paid",
        "past_due",
        "canceled",
        "refunded",
        "disputed",
        "expired",
        "failed",
        "pending",
        "",
        "ACTIVE",
        "canceled\x00",
    ]
)
OFFSETS = st.integers(min_value=-400 * 24 * 3600, max_value=400 * 24 * 3600).map(
    lambda s: NOW + timedelta(seconds=s)
)
MAYBE = st.none() | OFFSETS
SUBS = st.builds(
    lambda status, end, i: sub(status, end, id=i),
    STATUSES,
    MAYBE,
    st.integers(1, 10**6),
)
GRANTS = st.builds(
    lambda end, start, revoked, i: grant(end, start=start, revoked=revoked, id=i),
    MAYBE,
    OFFSETS,
    MAYBE,
    st.integers(1, 10**6),
)
HOLDINGS = st.lists(SUBS | GRANTS, max_size=8)
GRACES = st.integers(0, 30).map(lambda d: timedelta(days=d))


@given(HOLDINGS, OFFSETS, GRACES)
def test_decide_is_the_or_of_its_holdings(hs: list[Holding], now: datetime, g: timedelta) -> None:
    d = decide(hs, now, g)
    assert d.entitled == any(judge(h, now, g).entitled for h in hs)
    assert d.detail
    if d.entitled:
        assert d.source is not None and judge(d.source, now, g).entitled
        assert d.until is None or d.until > now


@given(st.one_of(SUBS, GRANTS), OFFSETS, GRACES)
def test_an_end_is_final(h: Holding, now: datetime, g: timedelta) -> None:
    """Once a holding stops entitling it never entitles again later (time only moves on);
    and it entitles right up to its ``until``."""
    d = judge(h, now, g)
    if d.entitled and d.until is not None:
        assert not judge(h, d.until, g).entitled
        assert judge(h, d.until - TICK, g).entitled or h.kind == GRANT
    if not d.entitled and h.kind == SUBSCRIPTION:
        assert not judge(h, now + timedelta(days=365), g).entitled


@given(st.one_of(SUBS, GRANTS), OFFSETS, GRACES)
def test_more_grace_never_takes_anything_away(h: Holding, now: datetime, g: timedelta) -> None:
    if judge(h, now, g).entitled:
        assert judge(h, now, g + DAY).entitled


@given(STATUSES, MAYBE, OFFSETS)
def test_unknown_statuses_never_entitle(status: str, end: datetime | None, now: datetime) -> None:
    known = {"active", "trialing", "paid", "past_due", "canceled"}
    if status not in known:
        assert not judge(sub(status, end), now, GRACE).entitled


# --- the expiry job's decisions -------------------------------------------------------------

REMIND = timedelta(days=3)


def test_a_reminder_inside_the_window_only() -> None:
    h = sub("active", NOW + 2 * DAY)
    (due,) = due_notices([h], NOW, grace=GRACE, reminder=REMIND)
    assert (due.kind, due.at, due.renews) == (EXPIRING, NOW + 2 * DAY, True)
    assert due_notices([sub("active", NOW + 4 * DAY)], NOW, grace=GRACE, reminder=REMIND) == []
    # exactly at the window's opening: reminded
    assert due_notices([sub("active", NOW + REMIND)], NOW, grace=GRACE, reminder=REMIND)
    # no reminder without an end, nor when reminders are off
    assert due_notices([sub("active", None)], NOW, grace=GRACE, reminder=REMIND) == []
    assert due_notices([h], NOW, grace=GRACE, reminder=timedelta(0)) == []


def test_a_cancelled_subscription_ends_rather_than_renews() -> None:
    (due,) = due_notices([sub("canceled", NOW + DAY)], NOW, grace=GRACE, reminder=REMIND)
    assert due.renews is False
    (due,) = due_notices(
        [sub("active", NOW + DAY, cancel_at_period_end=True)], NOW, grace=GRACE, reminder=REMIND
    )
    assert due.renews is False
    (due,) = due_notices([grant(NOW + DAY)], NOW, grace=GRACE, reminder=REMIND)
    assert due.renews is False


def test_ended_notices() -> None:
    (due,) = due_notices([sub("active", NOW - DAY)], NOW, grace=GRACE, reminder=REMIND)
    assert (due.kind, due.at) == (ENDED, NOW - DAY) and "ended" in due.why
    # a failed renewal ends when its grace does
    (due,) = due_notices([sub("past_due", NOW - 4 * DAY)], NOW, grace=GRACE, reminder=REMIND)
    assert due.at == NOW - DAY
    refunded = sub("refunded", NOW + 20 * DAY, changed_at=NOW - DAY)
    (due,) = due_notices([refunded], NOW, grace=GRACE, reminder=REMIND)
    assert due.at == NOW - DAY and "refunded" in due.why
    (due,) = due_notices([grant(None, revoked=NOW - DAY)], NOW, grace=GRACE, reminder=REMIND)
    assert due.at == NOW - DAY
    # too old to report, never paid, or still held through another holding: no notice
    assert due_notices([sub("active", NOW - 30 * DAY)], NOW, grace=GRACE, reminder=REMIND) == []
    assert due_notices([sub("pending", NOW - DAY)], NOW, grace=GRACE, reminder=REMIND) == []
    still = [sub("active", NOW - DAY, id=1), grant(None, id=2)]
    assert due_notices(still, NOW, grace=GRACE, reminder=REMIND) == []


@given(HOLDINGS, OFFSETS, GRACES)
def test_notices_match_the_judge(hs: list[Holding], now: datetime, g: timedelta) -> None:
    for due in due_notices(hs, now, grace=g, reminder=REMIND):
        entitled = judge(due.holding, now, g).entitled
        assert entitled == (due.kind == EXPIRING)
        if due.kind == ENDED:
            end = ended_at(due.holding, g)
            assert end is not None and end <= now
        else:
            assert now < due.at <= now + REMIND
