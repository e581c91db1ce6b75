"""A user's notification settings: link codes, linked chats and the events each receives.

Everyone manages only their own chats; an admin may also read and change another user's
(the console's support view). Another user's chat answers 404 like a missing one. A link
code is shown once, in the answer that made it, and is never logged or audited.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.notifications.events import kinds_for
from signalbridge.notifications.linking import issue_code
from signalbridge.services import audit
from signalbridge.services.auth import Principal
from signalbridge.store import models as m
from signalbridge.store.types import utcnow
from signalbridge.web.deps import SessionDep, principal
from signalbridge.web.errors import ApiError
from signalbridge.web.params import Id

Caller = Annotated[Principal, Depends(principal)]

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid bearer token"},
    404: {"description": "no such chat (another user's answers the same)"},
}
router = APIRouter(prefix="/notifications", tags=["notifications"], responses=_ERRORS)


class ChatUpdate(BaseModel):
    events: list[str] | None = Field(
        default=None, max_length=16, description="event kinds this chat receives"
    )
    is_active: bool | None = None


def chat_view(row: m.NotificationChat, role: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "user_id": row.user_id,
        "chat_id": row.chat_id,
        "title": row.title,
        "events": list(row.events or ()),
        "available_events": list(kinds_for(role)),
        "is_active": row.is_active,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


async def _find(session: AsyncSession, row_id: int, who: Principal) -> m.NotificationChat:
    query = select(m.NotificationChat).where(m.NotificationChat.id == row_id)
    if who.role != m.Role.ADMIN:
        query = query.where(m.NotificationChat.user_id == who.user_id)
    row: m.NotificationChat | None = await session.scalar(query)
    if row is None:
        raise ApiError(404, f"notification chat {row_id} not found")
    return row


async def _role_of(session: AsyncSession, user_id: int) -> str:
    role = await session.scalar(select(m.User.role).where(m.User.id == user_id))
    return role or m.Role.MEMBER


@router.post("/link-code", status_code=201)
async def new_link_code(session: SessionDep, who: Caller) -> dict[str, Any]:
    """A one-time code (10 minutes) to send to the notification bot from the chat to
    link; it replaces any unused code of yours."""
    issued = await issue_code(session, who.user_id, utcnow())
    return {
        "code": issued.code,
        "expires_at": issued.expires_at.isoformat(),
        "send_to_bot": f"/start {issued.code}",
    }


@router.get("/chats")
async def list_chats(session: SessionDep, who: Caller) -> dict[str, Any]:
    """Your linked chats and the events each receives."""
    rows = await session.scalars(
        select(m.NotificationChat)
        .where(m.NotificationChat.user_id == who.user_id)
        .order_by(m.NotificationChat.id)
    )
    return {"items": [chat_view(row, who.role) for row in rows.all()]}


@router.get("/chats/{row_id}")
async def get_chat(row_id: Id, session: SessionDep, who: Caller) -> dict[str, Any]:
    row = await _find(session, row_id, who)
    return chat_view(row, await _role_of(session, row.user_id))


@router.patch("/chats/{row_id}", responses={422: {"description": "an unknown event kind"}})
async def update_chat(
    row_id: Id, body: ChatUpdate, session: SessionDep, who: Caller
) -> dict[str, Any]:
    """Choose the events a chat receives, or pause it (``is_active``)."""
    row = await _find(session, row_id, who)
    role = await _role_of(session, row.user_id)
    before = {"events": list(row.events or ()), "is_active": row.is_active}
    if body.events is not None:
        allowed = kinds_for(role)
        refused = sorted(set(body.events) - set(allowed))
        if refused:
            raise ApiError(
                422, f"event kinds {refused} are not available; choose from {list(allowed)}"
            )
        row.events = [k for k in allowed if k in set(body.events)]
    if body.is_active is not None:
        row.is_active = body.is_active
    row.updated_at = utcnow()
    after = {"events": list(row.events), "is_active": row.is_active}
    if before != after:
        await audit.record_by(
            session,
            who,
            action="update",
            entity="notification_chat",
            entity_id=row.id,
            changes=audit.diff(before, after),
        )
    return chat_view(row, role)


@router.delete("/chats/{row_id}", status_code=204)
async def unlink_chat(row_id: Id, session: SessionDep, who: Caller) -> None:
    """Unlink a chat: it receives nothing more, and its unsent notices are dropped."""
    row = await _find(session, row_id, who)
    await session.execute(
        delete(m.NotificationOutbox).where(m.NotificationOutbox.chat_ref_id == row.id)
    )
    await audit.record_by(
        session,
        who,
        action="delete",
        entity="notification_chat",
        entity_id=row.id,
        changes={"user_id": row.user_id, "chat_id": row.chat_id},
    )
    await session.delete(row)
