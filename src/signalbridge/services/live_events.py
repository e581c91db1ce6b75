"""Live updates for the console: notice that rows a viewer sees changed, by polling.

The web and the worker may run as separate processes with no broker between them that a
page could listen to, so a stream asks the database instead: every ``interval`` it reads
a cheap *mark* of the rows the viewer may see (a count and the newest id or update time,
through the same owner filters as every list) and says ``event: <name>`` when the mark
moved. The event carries no data beyond its name: the page fetches what changed through
its ordinary, filtered routes.

Each event has an ``id`` (a short hash of the mark), and the stream opens with the
current one, so a browser that reconnects (a stream lives at most ``lifetime``) sends it
back as ``Last-Event-ID`` and hears at once of any change it missed in between. A comment
line every ``heartbeat`` keeps proxies from closing an idle stream and reveals a gone
client; ``allowed`` is asked again as often, so a logged-out session stops hearing.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.services import access, review
from signalbridge.services.auth import Principal
from signalbridge.store import models as m

Mark = tuple[Any, ...]
ReadMark = Callable[[AsyncSession], Awaitable[Mark]]
Check = Callable[[], Awaitable[bool]]


@dataclass(frozen=True)
class Timing:
    """How often a stream polls, how often it proves it is alive, how long it lives."""

    interval: float = 1.0
    heartbeat: float = 15.0
    lifetime: float = 600.0
    #: what the browser waits before reconnecting, in milliseconds (the SSE ``retry``)
    retry_ms: int = 3000


async def review_mark(session: AsyncSession, who: Principal) -> Mark:
    """The pending review items the caller may decide: count, newest id and id sum per
    kind (ids only grow, so an item leaving and another arriving still moves the mark)."""
    parts: list[Any] = []
    for model in (m.Signal, m.SignalUpdate):
        row = (
            await session.execute(
                select(func.count(), func.max(model.id), func.sum(model.id)).where(
                    model.status == review.PENDING,
                    model.channel_id.in_(review.reviewable_channels(who)),
                )
            )
        ).one()
        parts.extend(row)
    return tuple(parts)


async def positions_mark(session: AsyncSession, who: Principal, *, own_only: bool) -> Mark:
    """The positions the caller sees (``own_only``: only those on its own accounts, even
    for staff): count, newest id and latest change."""
    marks: Any = select(func.count(), func.max(m.Position.id), func.max(m.Position.updated_at))
    query = access.visible(marks, "position", who)
    if own_only:
        query = query.where(m.Position.connection_id.in_(access.owned_connections(who.user_id)))
    return tuple((await session.execute(query)).one())


def mark_id(mark: Mark) -> str:
    """The event id of a mark: a short hash, saying nothing of the rows themselves."""
    return hashlib.sha256(repr(mark).encode()).hexdigest()[:16]


def frame(event: str, event_id: str) -> str:
    return f"id: {event_id}\nevent: {event}\ndata: changed\n\n"


async def changes(
    sessions: async_sessionmaker[AsyncSession],
    read: ReadMark,
    *,
    event: str,
    disconnected: Check,
    allowed: Check,
    last_event_id: str | None = None,
    timing: Timing = Timing(),
    clock: Callable[[], float] = time.monotonic,
) -> AsyncIterator[str]:
    """The text of an event stream: ``event`` each time the mark ``read`` moves.

    Each poll opens a short session of its own (a stream holds no connection while it
    sleeps). Ends when the client is gone, ``allowed`` says no, or ``lifetime`` passed.
    """

    async def current() -> Mark:
        async with sessions() as session:
            return await read(session)

    mark = await current()
    started = last_sent = clock()
    yield f"retry: {timing.retry_ms}\nid: {mark_id(mark)}\n\n"
    if last_event_id is not None and last_event_id != mark_id(mark):
        yield frame(event, mark_id(mark))  # changed while the browser was reconnecting
    last_check = started
    while clock() - started < timing.lifetime:
        await asyncio.sleep(timing.interval)
        if await disconnected():
            return
        now = clock()
        if now - last_check >= timing.heartbeat:
            last_check = now
            if not await allowed():
                return
        seen = await current()
        if seen != mark:
            mark = seen
            last_sent = clock()
            yield frame(event, mark_id(mark))
        elif clock() - last_sent >= timing.heartbeat:
            last_sent = clock()
            yield ": keep-alive\n\n"
