"""Who may copy a channel, decided from rows already read: pure, no I/O.

The queries live in :mod:`signalbridge.services.entitlement`; this module only judges.
A member is entitled to a plan's channels by any one *holding* of the plan:

- a subscription ``active``, ``trialing`` (or ``paid``) whose period has not ended
  (``period_end`` NULL: a one-time plan, no end);
- a ``past_due`` one (its renewal failed) until ``period_end + grace``;
- a ``canceled`` one until its period end (cancelled at period end);
- an operator's grant from its start until its end (NULL: none) or its revocation.

A refund, a dispute, an expiry or any other state ends it at once. Periods are half-open:
at exactly the end the holding no longer entitles. Times are timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

from signalbridge.payments.base import SubjectStatus

HoldingKind = Literal["subscription", "grant"]
SUBSCRIPTION: Final[HoldingKind] = "subscription"
GRANT: Final[HoldingKind] = "grant"

#: Statuses that entitle while the period runs.
RUNNING = frozenset({SubjectStatus.ACTIVE, SubjectStatus.TRIALING, SubjectStatus.PAID})
_STAFF = frozenset({"admin", "operator"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Holding:
    """One subscription or grant of one plan, as the judge needs it."""

    kind: HoldingKind
    id: int
    user_id: int
    plan_id: int
    #: a subscription's status (SubjectStatus values); a grant's is ``granted``
    status: str
    #: paid-through time (a grant: its end); None: no end
    period_end: datetime | None
    plan_name: str = ""
    channel_ids: frozenset[int] = field(default_factory=frozenset)
    #: a grant's start (a subscription entitles from its row's creation)
    starts_at: datetime | None = None
    #: a grant's revocation
    revoked_at: datetime | None = None
    #: when the row last changed (a refund's or dispute's time)
    changed_at: datetime | None = None
    #: a running subscription the member cancelled: it ends, rather than renews, at
    #: ``period_end`` (it entitles until then all the same)
    cancel_at_period_end: bool = False

    @property
    def label(self) -> str:
        name = f" to plan {self.plan_name!r}" if self.plan_name else f" to plan {self.plan_id}"
        return f"{self.kind} {self.id}{name}"


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer and its reason: ``code`` for machines, ``detail`` for people."""

    entitled: bool
    code: str
    detail: str
    #: when it ends if nothing changes (None: no end, or not entitled)
    until: datetime | None = None
    source: Holding | None = None


def _at(when: datetime) -> str:
    return f"{when.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def judge(h: Holding, now: datetime, grace: timedelta) -> Decision:
    """Does this one holding entitle at ``now``, and why (not)?"""
    if h.kind == GRANT:
        return _judge_grant(h, now)
    status = h.status
    end = h.period_end
    if status in RUNNING:
        if end is None or now < end:
            return Decision(True, status, f"{h.label} is {status}", end, h)
        return Decision(False, "expired", f"{h.label} ended at {_at(end)}", None, h)
    if status == SubjectStatus.PAST_DUE:
        if end is None:
            return Decision(False, "past_due", f"{h.label}: payment past due", None, h)
        if now < end + grace:
            detail = f"{h.label}: payment past due, grace until {_at(end + grace)}"
            return Decision(True, "past_due_grace", detail, end + grace, h)
        detail = f"{h.label}: renewal failed, grace ended at {_at(end + grace)}"
        return Decision(False, "renewal_failed", detail, None, h)
    if status == SubjectStatus.CANCELED:
        if end is not None and now < end:
            detail = f"{h.label} is canceled, paid until {_at(end)}"
            return Decision(True, "canceled_until_period_end", detail, end, h)
        return Decision(False, "canceled", f"{h.label} was canceled", None, h)
    if status == SubjectStatus.REFUNDED:
        return Decision(False, "refunded", f"{h.label} was refunded", None, h)
    if status == SubjectStatus.DISPUTED:
        return Decision(False, "disputed", f"{h.label}: its payment is disputed", None, h)
    if status == SubjectStatus.EXPIRED:
        return Decision(False, "expired", f"{h.label} expired", None, h)
    if status == SubjectStatus.FAILED:
        return Decision(False, "payment_failed", f"{h.label}: its payment failed", None, h)
    if status == SubjectStatus.PENDING:
        return Decision(False, "pending", f"{h.label}: its payment is pending", None, h)
    return Decision(False, "inactive", f"{h.label} is {status[:40]}", None, h)


def _judge_grant(h: Holding, now: datetime) -> Decision:
    if h.revoked_at is not None and h.revoked_at <= now:
        return Decision(False, "grant_revoked", f"{h.label} was revoked", None, h)
    if h.starts_at is not None and now < h.starts_at:
        return Decision(False, "grant_not_started", f"{h.label} starts {_at(h.starts_at)}", None, h)
    if h.period_end is not None and now >= h.period_end:
        return Decision(False, "grant_expired", f"{h.label} ended at {_at(h.period_end)}", None, h)
    return Decision(True, "grant", f"{h.label} (granted)", h.period_end, h)


def ended_at(h: Holding, grace: timedelta) -> datetime | None:
    """When a holding stopped (or will stop) entitling, if it has an end: the time its
    end notice is about. None: it never ends by itself (no period end, not ended)."""
    if h.kind == GRANT:
        if h.revoked_at is not None:
            return h.revoked_at if h.period_end is None else min(h.revoked_at, h.period_end)
        return h.period_end
    if h.status in (SubjectStatus.REFUNDED, SubjectStatus.DISPUTED):
        return h.changed_at
    if h.status == SubjectStatus.PAST_DUE:
        return None if h.period_end is None else h.period_end + grace
    return h.period_end


def _latest(h: Holding) -> tuple[datetime, bool, int]:
    when = h.revoked_at or h.period_end or h.changed_at or _EPOCH
    return (when, h.kind == SUBSCRIPTION, h.id)


def decide(holdings: Iterable[Holding], now: datetime, grace: timedelta) -> Decision:
    """Entitled if any holding entitles (the one lasting longest is the source); else the
    reason of the holding that ended last, or "none includes this channel"."""
    found = list(holdings)
    verdicts = [judge(h, now, grace) for h in found]
    yes = [d for d in verdicts if d.entitled]
    if yes:
        far = datetime.max.replace(tzinfo=UTC)
        return max(yes, key=lambda d: (d.until or far, d.code == "grant"))
    if not found:
        return Decision(False, "no_plan", "no subscription or grant includes this channel")
    last = max(zip(found, verdicts, strict=True), key=lambda pair: _latest(pair[0]))
    return last[1]


def decide_channel(
    visibility: str,
    *,
    role: str,
    is_owner: bool,
    holdings: Iterable[Holding],
    now: datetime,
    grace: timedelta,
) -> Decision:
    """May a user with ``role`` (owner of the channel or not) copy a channel of this
    visibility (``public``, ``plan`` or ``private``)?"""
    if is_owner:
        return Decision(True, "owner", "the channel is yours")
    if role in _STAFF:
        return Decision(True, "staff", f"{role}s may follow any channel")
    if visibility == "public":
        return Decision(True, "public", "the channel is public")
    if visibility == "plan":
        return decide(holdings, now, grace)
    return Decision(False, "private", "the channel is private")
