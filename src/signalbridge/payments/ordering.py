"""Events out of order resolve to the provider's latest state. Pure rules, no I/O.

Gateways deliver late, twice and in any order (Stripe and PayPal promise no order, a
CoinPayments IPN may overtake another). Every event is stored once by its key and its facts
(a payment, a refund) are recorded on their own; what this module decides is whether an
event moves its subject's *state* (a subscription's status, a checkout's outcome). The
rule: the provider's marker (``provider_updated_at``) orders the states, so

- an event older than the stored marker changes nothing (stale);
- newer events are applied oldest first and the newest one's state is the result;
- when the newest events share a marker and disagree, or the newest marker equals the
  stored one, their order is unknown: nothing is guessed, the caller fetches the subject
  (``PaymentGateway.fetch_state``) and stores that state with its ``as_of`` as the marker.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from signalbridge.payments.base import PaymentEvent, Subject

__all__ = ["Resolution", "by_subject", "resolve"]


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a batch of one subject's events does to its stored state.

    Every event given (duplicates by key collapsed) is in exactly one of ``apply``,
    ``stale`` and ``undecided``. ``marker`` is the stored marker after ``apply``.
    """

    apply: tuple[PaymentEvent, ...]
    stale: tuple[PaymentEvent, ...]
    undecided: tuple[PaymentEvent, ...]
    marker: datetime | None

    @property
    def needs_fetch(self) -> bool:
        """The latest state cannot be told from the events: ask the provider."""
        return bool(self.undecided)

    @property
    def latest(self) -> PaymentEvent | None:
        """The event carrying the provider's latest state; None if nothing new or undecided."""
        if self.undecided or not self.apply:
            return None
        return self.apply[-1]


def resolve(stored: datetime | None, events: Iterable[PaymentEvent]) -> Resolution:
    """Order one subject's ``events`` against its ``stored`` marker (None: no state yet).

    The result does not depend on the order of ``events``. Raises ``ValueError`` when the
    events concern more than one (gateway, subject) or ``stored`` is a naive datetime.
    """
    if stored is not None and stored.utcoffset() is None:
        raise ValueError("the stored marker must be timezone-aware (UTC)")
    unique = _unique(events)
    newer = [e for e in unique if stored is None or e.provider_updated_at > stored]
    at_stored = [e for e in unique if e.provider_updated_at == stored]
    older = [e for e in unique if stored is not None and e.provider_updated_at < stored]
    if not newer:
        # Nothing is newer than what is stored; an event at the very same marker may or
        # may not be the one that set it.
        return Resolution((), _sorted(older), _sorted(at_stored), stored)
    top = max(e.provider_updated_at for e in newer)
    at_top = [e for e in newer if e.provider_updated_at == top]
    if len({_state(e) for e in at_top}) == 1:
        return Resolution(_sorted(newer), _sorted(older + at_stored), (), top)
    below = _sorted([e for e in newer if e.provider_updated_at < top])
    marker = below[-1].provider_updated_at if below else stored
    return Resolution(below, _sorted(older + at_stored), _sorted(at_top), marker)


def by_subject(events: Iterable[PaymentEvent]) -> dict[tuple[str, Subject], list[PaymentEvent]]:
    """Events grouped by (gateway, subject), each group in the order given (for resolve)."""
    groups: dict[tuple[str, Subject], list[PaymentEvent]] = {}
    for event in events:
        groups.setdefault((event.gateway, event.subject), []).append(event)
    return groups


def _unique(events: Iterable[PaymentEvent]) -> list[PaymentEvent]:
    """One event per key, the same whatever the order; refuses a mix of subjects."""
    chosen: dict[tuple[str, str], PaymentEvent] = {}
    about: set[tuple[str, Subject]] = set()
    for event in events:
        about.add((event.gateway, event.subject))
        if len(about) > 1:
            raise ValueError("resolve() takes the events of one (gateway, subject) at a time")
        kept = chosen.get(event.key)
        if kept is None or _rank(event) < _rank(kept):
            chosen[event.key] = event
    return list(chosen.values())


def _state(event: PaymentEvent) -> tuple[object, ...]:
    """What an event says the subject's state is (two events saying the same do not clash)."""
    return (event.kind, event.status, event.provider_status, event.period_end)


def _rank(event: PaymentEvent) -> tuple[object, ...]:
    return (event.provider_updated_at, event.event_id, *(str(part) for part in _state(event)))


def _sorted(events: list[PaymentEvent]) -> tuple[PaymentEvent, ...]:
    return tuple(sorted(events, key=_rank))
