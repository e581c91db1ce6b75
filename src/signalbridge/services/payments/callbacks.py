"""Gateway callbacks: verified over the raw body, each event stored once and applied in
the same transaction.

``(gateway type, provider event id)`` is the idempotency key (``payment_events``' unique
constraint). The claim on it (an ``INSERT … ON CONFLICT DO NOTHING``) and the work it
causes commit together, so 50 concurrent duplicates give one effect (reliability row 1):
the losers find the key taken (PostgreSQL makes them wait for the winner's commit; SQLite
runs writers one at a time). When applying fails, the claim rolls back with the work and
the answer is a 5xx, so the provider delivers again and the redelivery applies once
(row 2); the failure itself is written afterwards on its own (status ``failed``, the
error, the attempts) for the operator, and a ``failed`` row is applied again, never
skipped.

What a delivery is answered (the route maps :class:`Answer` to HTTP):

- 400 and nothing written: ``CallbackRejected`` (bad or missing signature, stale
  timestamp, unreadable body);
- 200: every event is stored and applied (or was already: a duplicate, a stale state,
  an event about nothing of ours);
- 500: applying an event failed and was rolled back (the provider redelivers);
- 503: the gateway could not verify the delivery now (a verification call to the provider
  failed); 404: no such gateway connection.

A deactivated connection still receives: its old payments may yet be refunded or
disputed, and its subscriptions renewed or cancelled.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.integrations.errors import (
    CallbackRejected,
    IntegrationError,
    InvalidRequest,
)
from signalbridge.integrations.redaction import redact
from signalbridge.payments.base import PaymentEvent, Subject, SubjectState
from signalbridge.services.payments.apply import Effect, NeedsState, apply_event
from signalbridge.services.payments.errors import PaymentFlowError
from signalbridge.services.payments.gateways import GatewayDirectory, LiveGateway
from signalbridge.store import models as m
from signalbridge.store.db import insert_ignore, transaction

log = logging.getLogger(__name__)

RECEIVED, FAILED, DUPLICATE = "received", "failed", "duplicate"
#: Rounds of "ask the provider, apply again" one event may take (a fact and a state).
MAX_FETCHES = 3
MAX_ERROR = 1000
#: A hook run after an event's work, inside its transaction (tests inject failures here).
AfterApply = Callable[[AsyncSession, PaymentEvent], Awaitable[None]]


@dataclass(frozen=True)
class Answer:
    """What the webhook route answers: an HTTP status and a small JSON body (with a
    ``message`` when the status is an error)."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """One event's fate: ``applied``, ``stale``, ``ignored``, ``duplicate`` or ``failed``."""

    event_id: str
    outcome: str
    note: str | None = None


class Callbacks:
    """Receives deliveries and provider event lists; stores and applies each event once."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        directory: GatewayDirectory,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        after_apply: AfterApply | None = None,
    ) -> None:
        self._sessions = sessions
        self._directory = directory
        self._clock = clock
        self.after_apply = after_apply

    async def receive(
        self, connection_id: int, raw_body: bytes, headers: Mapping[str, str]
    ) -> Answer:
        """One webhook delivery to gateway connection ``connection_id``."""
        try:
            live = await self._directory.get(connection_id, active=False)
        except PaymentFlowError as exc:
            return Answer(exc.status, {"message": exc.message})
        try:
            events = await live.gateway.verify_and_parse(raw_body, headers, self._clock())
        except CallbackRejected as exc:
            return Answer(400, {"message": exc.message, "reason": exc.reason})
        except IntegrationError as exc:
            log.warning("payment gateway %s could not verify a delivery: %s", live.connection_id,
                        redact(exc.message))  # fmt: skip
            return Answer(503, {"message": "the delivery could not be verified now; retry"})
        outcomes = [await self.store_and_apply(live, event) for event in events]
        body: dict[str, Any] = {
            "received": len(outcomes),
            "events": [{"id": o.event_id, "outcome": o.outcome} for o in outcomes],
        }
        if any(o.outcome == FAILED for o in outcomes):
            return Answer(500, {**body, "message": "applying an event failed; deliver it again"})
        return Answer(200, body)

    async def store_and_apply(self, live: LiveGateway, event: PaymentEvent) -> Outcome:
        """Claim ``event``'s key and apply it in one transaction; a failure rolls both back."""
        if event.gateway != live.type:
            return await self._failed(live, event, f"event of {event.gateway!r} on {live.type!r}")
        fetched: dict[Subject, SubjectState | None] = {}
        for _ in range(MAX_FETCHES + 1):
            try:
                async with transaction(self._sessions) as session:
                    claim = await self._claim(session, live, event)
                    if claim is None:
                        return Outcome(event.event_id, DUPLICATE)
                    effect = await apply_event(session, event, live, fetched)
                    self._settle(claim, effect)
                    if self.after_apply is not None:
                        await self.after_apply(session, event)
                return Outcome(event.event_id, effect.outcome, effect.note)
            except NeedsState as need:
                if need.subject in fetched:
                    return await self._failed(live, event, "the fetched state did not settle it")
                try:
                    fetched[need.subject] = await fetch_state_of(live, need.subject)
                except InvalidRequest as exc:
                    if isinstance(exc, CallbackRejected):
                        return await self._failed(live, event, _describe(exc))
                    fetched[need.subject] = None  # the provider knows no such object
                except Exception as exc:
                    return await self._failed(live, event, _describe(exc))
            except Exception as exc:
                return await self._failed(live, event, _describe(exc))
        return await self._failed(live, event, "too many provider lookups")

    async def _claim(
        self, session: AsyncSession, live: LiveGateway, event: PaymentEvent
    ) -> m.PaymentEvent | None:
        """The event's row, newly taken or a failed one to retry; None if already done."""
        new_id = await insert_ignore(
            session,
            m.PaymentEvent,
            {
                "gateway": event.gateway,
                "event_id": event.event_id,
                "type": event.kind.value,
                "payload": _payload(event.payload),
                "status": RECEIVED,
                "received_at": self._clock(),
                "connection_id": live.connection_id,
                "attempts": 0,
            },
            ("gateway", "event_id"),
        )
        if new_id is not None:
            row: m.PaymentEvent | None = await session.get(m.PaymentEvent, new_id)
            return row
        existing: m.PaymentEvent | None = await session.scalar(
            select(m.PaymentEvent)
            .where(
                m.PaymentEvent.gateway == event.gateway, m.PaymentEvent.event_id == event.event_id
            )
            .with_for_update()
        )
        if existing is not None and existing.status == FAILED:
            return existing
        return None

    def _settle(self, row: m.PaymentEvent, effect: Effect) -> None:
        row.status = effect.outcome
        row.processed_at = self._clock()
        row.attempts = (row.attempts or 0) + 1
        row.error = None if effect.outcome == "applied" else (effect.note or "")[:MAX_ERROR]

    async def _failed(self, live: LiveGateway, event: PaymentEvent, error: str) -> Outcome:
        """Record why applying failed, after the rollback, without touching a done row."""
        text = redact(error)[:MAX_ERROR]
        log.warning("payment event %s/%s failed: %s", event.gateway, event.event_id, text)
        try:
            async with transaction(self._sessions) as session:
                new_id = await insert_ignore(
                    session,
                    m.PaymentEvent,
                    {
                        "gateway": event.gateway,
                        "event_id": event.event_id,
                        "type": event.kind.value,
                        "payload": _payload(event.payload),
                        "status": FAILED,
                        "received_at": self._clock(),
                        "connection_id": live.connection_id,
                        "attempts": 1,
                        "error": text,
                    },
                    ("gateway", "event_id"),
                )
                if new_id is None:
                    await session.execute(
                        update(m.PaymentEvent)
                        .where(
                            m.PaymentEvent.gateway == event.gateway,
                            m.PaymentEvent.event_id == event.event_id,
                            m.PaymentEvent.status == FAILED,
                        )
                        .values(attempts=m.PaymentEvent.attempts + 1, error=text)
                    )
        except Exception:
            log.exception("could not record the failure of payment event %s", event.event_id)
        return Outcome(event.event_id, FAILED, text)


async def fetch_state_of(live: LiveGateway, subject: Subject) -> SubjectState:
    """The provider's state of ``subject``, through the connection's guard."""
    return await live.read(lambda: live.gateway.fetch_state(subject))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, IntegrationError):
        return f"{type(exc).__name__}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def _payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The provider's body as plain JSON (decimals and times as text) for the audit trail."""
    try:
        plain = json.loads(json.dumps(dict(payload), default=str))
    except (TypeError, ValueError):
        return {}
    return plain if isinstance(plain, dict) else {}
