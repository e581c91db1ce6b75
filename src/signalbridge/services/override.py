"""Manual override: a hand on the wheel, exactly once, like the engine's own orders.

An action (close a position or a share of it, cancel an order, move a stop, pause or
resume a follow, panic: close everything of a connection or a channel) is first written
as a ``manual_actions`` row, unique by its idempotency key, with its audit row in the same
transaction; only the request that inserted the row carries it out
(:mod:`override_work`), and every order it causes has a client order id derived from the
action id. So:

- a duplicate request (same ``Idempotency-Key``, or the same action on the same target in
  the same state when no key is given) finds the first row and answers its outcome,
  sending nothing;
- a crash after the intents are written is finished by the sweeper's re-run of their
  executions (orders ``pending``/``sending`` are sent or looked up, never doubled);
- a crash before that leaves the action ``pending``: a duplicate request after the settle
  window, or :meth:`Overrides.resume_stale`, carries it out again, which writes the same
  client order ids, so nothing is sent twice.

The key a caller gives is scoped to the caller, so one user's key never reveals another
user's action; reusing a key for a different action is refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.execution.engine import ExecutionEngine
from signalbridge.integrations.errors import ConnectionDisabled, IntegrationError
from signalbridge.services import audit
from signalbridge.services.override_work import MAX_ACTION_ID, OverrideDesk, Refused
from signalbridge.store import models as m
from signalbridge.store.db import insert_ignore_many
from signalbridge.store.types import utcnow

CLOSE = "close"
CANCEL = "cancel"
MOVE_STOP = "move_stop"
PAUSE = "pause"
RESUME = "resume"
PANIC = "panic"
SIGNAL = "signal"
KINDS = (CLOSE, CANCEL, MOVE_STOP, PAUSE, RESUME, PANIC, SIGNAL)
MAX_KEY = 200  # characters of a caller's Idempotency-Key
#: The task that carries out again an action a crash left pending (jobs/sweeper.py).
RESUME_ACTION = "signalbridge.resume_manual_action"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks: a user (``user_id``) or the command line (``None``)."""

    name: str
    user_id: int | None = None


@dataclass(frozen=True, slots=True)
class OverrideRequest:
    """One action on one target. ``key`` is the caller's Idempotency-Key, if any."""

    kind: str
    position_id: int | None = None
    order_id: int | None = None
    follow_id: int | None = None
    connection_id: int | None = None
    channel_id: int | None = None
    share: Decimal | None = None
    params: dict[str, Any] | None = None
    key: str | None = None

    def fingerprint(self) -> str:
        """What the action is, for telling a reused key from a true duplicate."""
        described = {
            "kind": self.kind,
            "targets": [
                self.position_id,
                self.order_id,
                self.follow_id,
                self.connection_id,
                self.channel_id,
            ],
            "share": None if self.share is None else str(self.share),
            "params": self.params or {},
        }
        text = json.dumps(described, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """An action's state as a caller sees it; ``duplicate`` when this request found it."""

    action_id: int
    kind: str
    status: str
    result: dict[str, Any] | None
    duplicate: bool = False

    @property
    def refused(self) -> bool:
        return self.status == m.ManualActionStatus.FAILED and bool(
            (self.result or {}).get("refused")
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "action_id": self.action_id,
            "kind": self.kind,
            "status": self.status,
            "duplicate": self.duplicate,
            "result": self.result,
        }


class KeyReused(Exception):
    """An Idempotency-Key already names a different action of this caller."""


class Overrides:
    """Writes, audits and carries out manual actions, each exactly once."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        engine: ExecutionEngine,
        *,
        now: Callable[[], datetime] = utcnow,
        stale_after: timedelta | None = None,
    ) -> None:
        self._sessions = sessions
        self._now = now
        self.desk = OverrideDesk(sessions, engine, now=now)
        #: How long a ``pending`` action may run before a duplicate carries it out again.
        self.stale_after = stale_after if stale_after is not None else engine.settle

    async def submit(self, actor: Actor, request: OverrideRequest) -> ActionOutcome:
        """Write the action once and carry it out; a duplicate answers the first outcome."""
        if request.kind not in KINDS:
            raise ValueError(f"unknown manual action {request.kind!r}")
        async with self._sessions() as session, session.begin():
            key = await self._key(session, actor, request)
            fingerprint = request.fingerprint()
            inserted = await insert_ignore_many(
                session,
                m.ManualAction,
                [
                    {
                        "kind": request.kind,
                        "position_id": request.position_id,
                        "order_id": request.order_id,
                        "follow_id": request.follow_id,
                        "connection_id": request.connection_id,
                        "channel_id": request.channel_id,
                        "share": request.share,
                        "params": {**(request.params or {}), "fingerprint": fingerprint},
                        "idempotency_key": key,
                        "status": m.ManualActionStatus.PENDING,
                        "requested_by": actor.user_id,
                        "created_at": self._now(),
                    }
                ],
                ("idempotency_key",),
            )
            if inserted:
                action_id = int(inserted[0])
                await self._audit(session, actor, action_id, request)
            else:
                row = await session.scalar(
                    select(m.ManualAction).where(m.ManualAction.idempotency_key == key)
                )
                assert row is not None  # the conflicting row is committed: we waited for it
                if row.params.get("fingerprint") != fingerprint:
                    raise KeyReused("this Idempotency-Key was used for a different action")
                action_id = row.id
        if not inserted:
            return await self._duplicate(action_id)
        return await self.run(action_id)

    async def _duplicate(self, action_id: int) -> ActionOutcome:
        """The first action's outcome; one interrupted long ago is carried out again."""
        found = await self.get(action_id)
        assert found is not None
        outcome, created = found
        if outcome.status == m.ManualActionStatus.PENDING and (
            self._now() - created >= self.stale_after
        ):
            outcome = await self.run(action_id)
        return ActionOutcome(
            outcome.action_id, outcome.kind, outcome.status, outcome.result, duplicate=True
        )

    async def get(self, action_id: int) -> tuple[ActionOutcome, datetime] | None:
        async with self._sessions() as session:
            row = await session.get(m.ManualAction, action_id)
            if row is None:
                return None
            return ActionOutcome(row.id, row.kind, row.status, row.result), row.created_at

    async def run(self, action_id: int) -> ActionOutcome:
        """Carry out one written action and record its result. Idempotent: orders are
        named by the action id, so a second run sends nothing the first one sent."""
        async with self._sessions() as session:
            row = await session.get_one(m.ManualAction, action_id)
            if row.status in m.ManualActionStatus.FINAL:
                return ActionOutcome(row.id, row.kind, row.status, row.result)
            kind, params = row.kind, dict(row.params)
            targets = (row.position_id, row.order_id, row.follow_id)
            connection_id, channel_id, share = row.connection_id, row.channel_id, row.share
        position_id, order_id, follow_id = targets
        reason = f"manual {kind} (action {action_id})"
        status = m.ManualActionStatus.DONE
        try:
            if action_id > MAX_ACTION_ID:
                raise Refused("too many manual actions: legs have no room for this id")
            if kind == CLOSE and position_id is not None:
                result = await self.desk.close(action_id, position_id, share, reason)
            elif kind == CANCEL and order_id is not None:
                result = await self.desk.cancel(action_id, order_id, reason)
            elif kind == MOVE_STOP and position_id is not None:
                level = Decimal(params["stop_loss"])
                result = await self.desk.move_stop(action_id, position_id, level, reason)
            elif kind in (PAUSE, RESUME) and follow_id is not None:
                result = await self._pause(follow_id, paused=kind == PAUSE)
            elif kind == PANIC:
                report = await self.desk.panic(
                    action_id,
                    connection_id=connection_id,
                    channel_id=channel_id,
                    owner_id=params.get("owner_id"),
                    reason=reason,
                )
                result = report.as_result()
                if report.errors:
                    status = m.ManualActionStatus.FAILED
            else:
                result = dict(params.get("result") or {})
        except (Refused, ConnectionDisabled) as exc:  # nothing sent: the caller can fix it
            status, result = m.ManualActionStatus.FAILED, {"refused": True, "error": exc.message}
        except IntegrationError as exc:
            status, result = m.ManualActionStatus.FAILED, {"error": exc.message}
        return await self._finish(action_id, kind, status, result)

    async def _finish(
        self, action_id: int, kind: str, status: str, result: dict[str, Any]
    ) -> ActionOutcome:
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(m.ManualAction)
                .where(
                    m.ManualAction.id == action_id,
                    m.ManualAction.status == m.ManualActionStatus.PENDING,
                )
                .values(status=status, result=result, finished_at=self._now())
            )
            row = await session.get_one(m.ManualAction, action_id)
            return ActionOutcome(row.id, kind, row.status, row.result)

    async def _pause(self, follow_id: int, *, paused: bool) -> dict[str, Any]:
        """Pause (no new entries) or resume a follow; open positions are managed either way."""
        async with self._sessions() as session, session.begin():
            follow = await session.get(m.Follow, follow_id)
            if follow is None:
                raise Refused(f"follow {follow_id} not found")
            if paused and follow.paused_at is None:
                follow.paused_at = self._now()
            elif not paused:
                follow.paused_at = None
            at = follow.paused_at
        return {"paused": at is not None, "paused_at": None if at is None else at.isoformat()}

    async def resume_stale(self, limit: int = 100) -> int:
        """Carry out again actions left ``pending`` by a crash; returns how many. Safe to
        call from a sweeper: a run writes the same client order ids as the first."""
        async with self._sessions() as session:
            ids = await stale_actions(session, self._now() - self.stale_after, limit)
        for action_id in ids:
            await self.run(action_id)
        return len(ids)

    async def record_signal(
        self, actor: Actor, channel_id: int, message_id: int, result: dict[str, Any]
    ) -> ActionOutcome:
        """Record the author of a manual signal (stored through the intake): one action
        per message, so a duplicate delivery records nothing new."""
        request = OverrideRequest(
            SIGNAL, channel_id=channel_id, params={"message_id": message_id, "result": result}
        )
        async with self._sessions() as session, session.begin():
            inserted = await insert_ignore_many(
                session,
                m.ManualAction,
                [
                    {
                        "kind": SIGNAL,
                        "channel_id": channel_id,
                        "params": request.params,
                        "idempotency_key": f"signal:message:{message_id}",
                        "status": m.ManualActionStatus.DONE,
                        "requested_by": actor.user_id,
                        "created_at": self._now(),
                        "finished_at": self._now(),
                        "result": result,
                    }
                ],
                ("idempotency_key",),
            )
            if inserted:
                await self._audit(session, actor, int(inserted[0]), request)
                return ActionOutcome(int(inserted[0]), SIGNAL, m.ManualActionStatus.DONE, result)
            row = await session.scalar(
                select(m.ManualAction).where(
                    m.ManualAction.idempotency_key == f"signal:message:{message_id}"
                )
            )
            assert row is not None
            return ActionOutcome(row.id, SIGNAL, row.status, row.result, duplicate=True)

    # --- keys and audit -----------------------------------------------------------------

    async def _key(self, session: AsyncSession, actor: Actor, request: OverrideRequest) -> str:
        state = None if request.key else await _state(session, request)
        return idempotency_key(actor, request, state)

    async def _audit(
        self, session: AsyncSession, actor: Actor, action_id: int, request: OverrideRequest
    ) -> None:
        entity, entity_id = _target(request)
        changes: dict[str, Any] = {"manual_action": action_id, **(request.params or {})}
        if request.share is not None:
            changes["share"] = str(request.share)
        changes.pop("owner_id", None)
        changes.pop("result", None)
        await audit.record(
            session,
            actor=actor.name,
            actor_id=actor.user_id,
            action=request.kind,
            entity=entity,
            entity_id=entity_id,
            changes=changes,
        )


def idempotency_key(actor: Actor, request: OverrideRequest, state: str | None) -> str:
    """The stored key of an action: the caller's key (scoped to the caller), or one derived
    from the action, its target and the target's ``state``: a double click is one action,
    a later press on a changed target (a share closed, the stop moved, a follow resumed) a
    new one. At most 300 characters (the column)."""
    who = f"u{actor.user_id}" if actor.user_id is not None else f"a:{actor.name[:40]}"
    if request.key:
        return f"key:{who}:{request.key[:MAX_KEY]}"
    digest = hashlib.sha256(f"{state}".encode()).hexdigest()[:32]
    return f"auto:{who}:{request.fingerprint()}:{digest}"


def _target(request: OverrideRequest) -> tuple[str, int]:
    for entity, value in (
        ("position", request.position_id),
        ("order", request.order_id),
        ("follow", request.follow_id),
        ("connection", request.connection_id),
        ("channel", request.channel_id),
    ):
        if value is not None:
            return entity, value
    return "manual_action", 0


async def _state(session: AsyncSession, request: OverrideRequest) -> str:
    """The target's state as a derived key sees it (see :meth:`Overrides._key`)."""
    if request.kind == CLOSE and request.position_id is not None:
        position = await session.get(m.Position, request.position_id)
        return "none" if position is None else f"{position.status}:{position.amount}"
    if request.kind == MOVE_STOP and request.position_id is not None:
        position = await session.get(m.Position, request.position_id)
        return "none" if position is None else f"from:{position.stop_loss}"
    if request.kind in (PAUSE, RESUME) and request.follow_id is not None:
        follow = await session.get(m.Follow, request.follow_id)
        paused = None if follow is None else follow.paused_at
        return f"paused:{None if paused is None else paused.isoformat()}"
    # A panic (or a cancel) again after the last one finished is a new press.
    last = await session.scalar(
        select(func.max(m.ManualAction.id)).where(
            m.ManualAction.kind == request.kind,
            m.ManualAction.connection_id.is_(None)
            if request.connection_id is None
            else m.ManualAction.connection_id == request.connection_id,
            m.ManualAction.channel_id.is_(None)
            if request.channel_id is None
            else m.ManualAction.channel_id == request.channel_id,
            m.ManualAction.status != m.ManualActionStatus.PENDING,
        )
    )
    return f"after:{last or 0}"


async def stale_actions(session: AsyncSession, cutoff: datetime, limit: int) -> list[int]:
    """Manual actions still ``pending`` since before ``cutoff``: a crash left them (the
    sweeper queues them again, jobs/sweeper.py)."""
    ids = await session.scalars(
        select(m.ManualAction.id)
        .where(
            m.ManualAction.status == m.ManualActionStatus.PENDING,
            m.ManualAction.created_at <= cutoff,
        )
        .order_by(m.ManualAction.id)
        .limit(limit)
    )
    return list(ids.all())
