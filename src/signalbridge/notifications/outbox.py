"""``notify``: turn events into outbox rows inside the caller's transaction.

The rows commit or roll back with the change they report, so a notice exists exactly
when its change does. Recipients are resolved here, once: the chats their owners linked,
active, with the event's kind switched on. An event goes only to the users the caller
names (the owner of the connection, position or channel it is about); staff-only kinds
(a signal published) reach a named user only if that user is an admin or operator.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.notifications.events import STAFF_KINDS, Event
from signalbridge.store import models as m
from signalbridge.store.db import insert_ignore_many
from signalbridge.store.types import utcnow

_STAFF = (m.Role.ADMIN, m.Role.OPERATOR)


async def _chats(session: AsyncSession, user_ids: Iterable[int]) -> list[Any]:
    wanted = sorted(set(user_ids))
    if not wanted:
        return []
    rows = await session.execute(
        select(
            m.NotificationChat.id,
            m.NotificationChat.user_id,
            m.NotificationChat.chat_id,
            m.NotificationChat.events,
            m.User.role,
        )
        .join(m.User, m.User.id == m.NotificationChat.user_id)
        .where(
            m.NotificationChat.user_id.in_(wanted),
            m.NotificationChat.is_active.is_(True),
            m.User.is_active.is_(True),
        )
        .order_by(m.NotificationChat.id)
    )
    return list(rows.all())


async def notify_many(session: AsyncSession, events: Sequence[tuple[Event, int]]) -> int:
    """Write one outbox row per (event, chat of its user that wants it); returns how many
    rows are new (an event already written for a chat is skipped by its key)."""
    if not events:
        return 0
    chats = await _chats(session, (user for _, user in events))
    if not chats:
        return 0
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for event, user_id in events:
        for chat_ref, owner, chat_id, kinds, role in chats:
            if owner != user_id or event.kind.value not in (kinds or ()):
                continue
            if event.kind.value in STAFF_KINDS and role not in _STAFF:
                continue
            rows.append(
                {
                    "user_id": owner,
                    "chat_ref_id": chat_ref,
                    "chat_id": chat_id,
                    "kind": event.kind.value,
                    "dedupe_key": event.key,
                    "text": event.text,
                    "status": m.NotificationStatus.PENDING,
                    "attempts": 0,
                    "created_at": now,
                }
            )
    if not rows:
        return 0
    await _drop_replaced(session, events, [r["chat_ref_id"] for r in rows])
    # One key per (chat, event) even when the caller repeats an event in one call.
    unique = list({(r["chat_ref_id"], r["dedupe_key"]): r for r in rows}.values())
    made = await insert_ignore_many(
        session, m.NotificationOutbox, unique, ("chat_ref_id", "dedupe_key")
    )
    return len(made)


async def _drop_replaced(
    session: AsyncSession, events: Sequence[tuple[Event, int]], chat_refs: list[int]
) -> None:
    """Delete unsent notices the new events make pointless (see ``Event.replaces``), so
    a trailing stop queues one notice per position, not one per step."""
    t = m.NotificationOutbox
    for prefix in sorted({e.replaces for e, _ in events if e.replaces}):
        await session.execute(
            delete(t).where(
                t.chat_ref_id.in_(sorted(set(chat_refs))),
                t.status == m.NotificationStatus.PENDING,
                t.dedupe_key.startswith(prefix, autoescape=True),
            )
        )


async def notify(session: AsyncSession, event: Event, user_id: int | None) -> int:
    """:func:`notify_many` for one event about one user's row (None: nobody to tell)."""
    if user_id is None:
        return 0
    return await notify_many(session, [(event, user_id)])
