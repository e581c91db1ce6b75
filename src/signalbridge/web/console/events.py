"""Server-sent events for the pages: the review desk and the positions re-fetch on them.

- ``GET /console/events/review`` (staff): ``event: review`` when the pending items the
  viewer may decide change;
- ``GET /console/events/positions`` (staff): ``event: positions`` on any position change
  the viewer may see;
- ``GET /portal/events/positions`` (anyone logged in): ``event: positions`` only when a
  position on the viewer's OWN accounts changes; nobody else's activity is ever heard.

The streams poll the database (services/live_events.py), so they work whichever process
changed the rows; an event names what changed, never how, and the page asks its ordinary
routes for the rest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.services import live_events, web_sessions
from signalbridge.services.auth import Principal
from signalbridge.services.live_events import ReadMark, Timing
from signalbridge.web.console.auth import SignedIn, Staff, allow
from signalbridge.web.console.cookies import SESSION_COOKIE
from signalbridge.web.deps import ContainerDep

router = APIRouter(include_in_schema=False)

STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
#: Longest ``Last-Event-ID`` taken from a browser (ours are 16 characters).
MAX_EVENT_ID = 64


def timing(request: Request) -> Timing:
    """The streams' timing: the defaults, unless the app's state holds another (tests)."""
    chosen = getattr(request.app.state, "live_timing", None)
    return chosen if isinstance(chosen, Timing) else Timing()


def stream(request: Request, c: ContainerDep, read: ReadMark, event: str) -> StreamingResponse:
    cookie = request.cookies.get(SESSION_COOKIE, "")

    async def allowed() -> bool:
        async with c.sessions() as s, s.begin():
            return await web_sessions.resolve(s, cookie) is not None

    last = request.headers.get("last-event-id")
    body: AsyncIterator[str] = live_events.changes(
        c.sessions,
        read,
        event=event,
        disconnected=request.is_disconnected,
        allowed=allowed,
        last_event_id=last[:MAX_EVENT_ID] if last else None,
        timing=timing(request),
    )
    return StreamingResponse(body, media_type="text/event-stream", headers=STREAM_HEADERS)


async def _review(who: Principal, session: AsyncSession) -> live_events.Mark:
    return await live_events.review_mark(session, who)


async def _positions(who: Principal, own_only: bool, session: AsyncSession) -> live_events.Mark:
    return await live_events.positions_mark(session, who, own_only=own_only)


@router.get("/console/events/review")
async def review_events(request: Request, login: Staff, c: ContainerDep) -> StreamingResponse:
    allow(login.principal, "signals:read", "channel", "write")  # as GET /api/v1/review
    return stream(request, c, partial(_review, login.principal), "review")


@router.get("/console/events/positions")
async def staff_position_events(
    request: Request, login: Staff, c: ContainerDep
) -> StreamingResponse:
    allow(login.principal, "executions:read", "position", "read")
    return stream(request, c, partial(_positions, login.principal, False), "positions")


@router.get("/portal/events/positions")
async def own_position_events(
    request: Request, login: SignedIn, c: ContainerDep
) -> StreamingResponse:
    allow(login.principal, "executions:read", "position", "read")
    return stream(request, c, partial(_positions, login.principal, True), "positions")
