"""Server-sent events over real HTTP (uvicorn on loopback): the review stream speaks when
the pending set changes, the positions streams when positions change, a member's only for
its OWN positions; refusals as the pages answer; heartbeat, lifetime and Last-Event-ID."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

import httpx
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession
from tests.console_rig import PageClient, logged_in
from tests.platform_fixtures import Harness, eventually

from signalbridge.services import live_events
from signalbridge.services.auth import create_token
from signalbridge.services.live_events import Timing
from signalbridge.services.login import ROLE_SCOPES
from signalbridge.store import models as m
from signalbridge.web.app import create_app

PINE = b"LIC123456,buy,BTCUSDT,sl=58000,tp=62000"
MARKET = {
    "kind": "signal",
    "symbol": "BTC/USDT",
    "side": "long",
    "order_type": "market",
    "stop_loss": "58000",
    "take_profits": ["62000"],
}
FAST = Timing(interval=0.2, heartbeat=1.0, lifetime=60.0, retry_ms=500)


@asynccontextmanager
async def served(h: Harness, timing: Timing = FAST) -> AsyncIterator[str]:
    """The app on a free loopback port, as ``signalbridge serve`` runs it."""
    app = create_app(h.container)
    app.state.live_timing = timing
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.01)
        assert server.started, "uvicorn did not start"
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


class Listener:
    """One browser's event stream, read in the background, line by line."""

    def __init__(self, base: str, path: str, cookie: str, last_event_id: str | None = None):
        headers = {"Cookie": f"sb_session={cookie}", "Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self.client = httpx.AsyncClient(base_url=base, headers=headers, timeout=30)
        self.path = path
        self.lines: list[str] = []
        self.response: httpx.Response | None = None
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        async with self.client.stream("GET", self.path) as response:
            self.response = response
            async for line in response.aiter_lines():
                self.lines.append(line)

    def count(self, event: str) -> int:
        return self.lines.count(f"event: {event}")

    def ids(self) -> list[str]:
        return [line[4:] for line in self.lines if line.startswith("id: ")]

    async def __aenter__(self) -> Listener:
        self.task = asyncio.create_task(self._run())

        async def connected() -> bool:
            return any(line.startswith("id: ") for line in self.lines)

        await eventually(connected, timeout=10)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await self.task
        await self.client.aclose()


def cookie_of(page: PageClient) -> str:
    value = page.http.cookies.get("sb_session")
    assert value
    return value


async def member_api(h: Harness, page_email: str) -> dict[str, str]:
    """An API token for a member already made by ``logged_in``."""
    from sqlalchemy import select

    async with h.container.sessions() as s, s.begin():
        user = await s.scalar(select(m.User).where(m.User.email == page_email))
        assert user is not None
        _, token = await create_token(s, user, "events test", list(ROLE_SCOPES["member"]))
    return {"Authorization": f"Bearer {token}"}


async def member_follows(h: Harness, auth: dict[str, str], channel_id: int) -> int:
    """The member's own paper account, following ``channel_id``; the connection id."""
    config = {"futures": True, "feed": {"seed": 3, "volatility": "0"}}
    made = await h.client.post(
        "/api/v1/connections",
        json={"name": "mine", "type": "paper", "config": config},
        headers=auth,
    )
    assert made.status_code == 201, made.text
    connection_id = int(made.json()["id"])
    follow = await h.client.post(
        "/api/v1/follows",
        json={
            "channel_id": channel_id,
            "connection_id": connection_id,
            "sizing": {"mode": "fixed_quote", "value": "100"},
        },
        headers=auth,
    )
    assert follow.status_code == 201, follow.text
    return connection_id


async def test_streams_refuse_like_the_pages(harness: Harness) -> None:
    h = harness
    anon = PageClient(h)
    for path in ("/console/events/review", "/console/events/positions", "/portal/events/positions"):
        response = await anon.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
    member = await logged_in(h, "member@example.com", "member")
    for path in ("/console/events/review", "/console/events/positions"):
        assert (await member.get(path)).status_code == 403
    await anon.aclose()
    await member.aclose()


async def test_the_review_stream_speaks_when_the_pending_set_changes(harness: Harness) -> None:
    h = harness
    channel_id, secret = await h.webhook_channel("desk")
    await h.ok("PATCH", f"/channels/{channel_id}", json={"min_confidence": "0.99"})
    staff = await logged_in(h, "op@example.com", "operator")
    async with served(h) as base, Listener(base, "/console/events/review", cookie_of(staff)) as ear:
        assert ear.response is not None
        assert ear.response.headers["content-type"].startswith("text/event-stream")
        assert ear.response.headers["cache-control"] == "no-store"
        assert ear.response.headers["x-accel-buffering"] == "no"
        await asyncio.sleep(0.6)
        assert ear.count("review") == 0  # nothing changed yet
        delivered = await h.post_signal(channel_id, secret, PINE)
        signal_id = delivered.json()["signal_id"]

        async def heard(n: int) -> bool:
            return ear.count("review") >= n

        await eventually(lambda: heard(1), timeout=5)
        await h.ok("POST", f"/review/signals/{signal_id}/reject")
        await eventually(lambda: heard(2), timeout=5)  # leaving the set is a change too
        # idle: only the heartbeat comment
        await eventually(lambda: _has(ear, ": keep-alive"), timeout=5)
        assert ear.count("review") == 2
    await staff.aclose()


async def _has(ear: Listener, line: str) -> bool:
    return line in ear.lines


async def test_a_member_hears_only_of_its_own_positions(harness: Harness) -> None:
    h = harness
    mine, mine_secret = await h.webhook_channel("mine", visibility="public")
    theirs, theirs_secret = await h.webhook_channel("theirs", visibility="public")
    alice = await logged_in(h, "alice@example.com", "member")
    bob = await logged_in(h, "bob@example.com", "member")
    await member_follows(h, await member_api(h, "alice@example.com"), mine)
    await member_follows(h, await member_api(h, "bob@example.com"), theirs)
    staff = await logged_in(h, "op@example.com", "operator")
    async with (
        served(h) as base,
        Listener(base, "/portal/events/positions", cookie_of(alice)) as alice_ear,
        Listener(base, "/portal/events/positions", cookie_of(bob)) as bob_ear,
        Listener(base, "/console/events/positions", cookie_of(staff)) as staff_ear,
    ):
        delivered = await h.post_signal(theirs, theirs_secret, MARKET)
        assert delivered.status_code == 202, delivered.text

        async def bob_heard() -> bool:
            return bob_ear.count("positions") >= 1 and staff_ear.count("positions") >= 1

        await eventually(bob_heard, timeout=10)
        await asyncio.sleep(1.5)  # several polls later, still nothing for Alice
        assert alice_ear.count("positions") == 0
        delivered = await h.post_signal(mine, mine_secret, MARKET)
        assert delivered.status_code == 202, delivered.text

        async def alice_heard() -> bool:
            return alice_ear.count("positions") >= 1

        await eventually(alice_heard, timeout=10)
    for page in (alice, bob, staff):
        await page.aclose()


async def test_a_reconnect_hears_what_it_missed_and_a_stream_ends(harness: Harness) -> None:
    h = harness
    channel_id, secret = await h.webhook_channel("desk")
    await h.ok("PATCH", f"/channels/{channel_id}", json={"min_confidence": "0.99"})
    staff = await logged_in(h, "op@example.com", "operator")
    short = Timing(interval=0.2, heartbeat=1.0, lifetime=1.0, retry_ms=500)
    async with served(h, short) as base:
        async with Listener(base, "/console/events/review", cookie_of(staff)) as first:
            assert first.task is not None
            await asyncio.wait_for(first.task, 10)  # the server ends it after its lifetime
            assert first.lines[0] == "retry: 500"
            seen = first.ids()[-1]
        await h.post_signal(channel_id, secret, PINE)  # while "the browser" was away
        async with Listener(base, "/console/events/review", cookie_of(staff), seen) as back:

            async def told() -> bool:
                return back.count("review") == 1

            await eventually(told, timeout=5)
        async with Listener(base, "/console/events/review", cookie_of(staff)) as fresh:
            await asyncio.sleep(0.5)
            assert fresh.count("review") == 0  # a first connection is told nothing old
    await staff.aclose()


async def test_a_logged_out_session_stops_hearing(harness: Harness) -> None:
    h = harness
    staff = await logged_in(h, "op@example.com", "operator")
    async with served(h) as base:
        async with Listener(base, "/console/events/review", cookie_of(staff)) as ear:
            assert (await staff.post("/logout")).status_code == 303
            assert ear.task is not None
            await asyncio.wait_for(ear.task, 10)  # ended at the next check (heartbeat)


async def test_the_stream_generator_on_its_own() -> None:
    """Heartbeats while nothing moves, one event per move, the end at its lifetime."""
    marks = iter([(0,), (0,), (1,), (1,), (1,), (1,), (2,)])
    now = [0.0]

    @asynccontextmanager
    async def sessions() -> AsyncIterator[Any]:
        yield None

    async def read(_: AsyncSession) -> live_events.Mark:
        now[0] += 0.5
        return next(marks, (2,))

    async def no() -> bool:
        return False

    async def yes() -> bool:
        return True

    timing = Timing(interval=0, heartbeat=1.0, lifetime=3.0)
    frames = [
        f
        async for f in live_events.changes(
            sessions,  # type: ignore[arg-type]
            read,
            event="review",
            disconnected=no,
            allowed=yes,
            timing=timing,
            clock=lambda: now[0],
        )
    ]
    assert frames[0].startswith("retry: 3000\nid: ")
    events = [f for f in frames if "event: review" in f]
    assert len(events) == 2
    assert ": keep-alive\n\n" in frames
    assert len({live_events.mark_id((1,)), live_events.mark_id((2,))}) == 2
