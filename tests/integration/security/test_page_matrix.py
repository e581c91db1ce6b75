"""The authorization matrix of the pages: every console and portal route the app serves,
for a stranger, a member who owns nothing there, and an admin.

Routes are read from the app itself, so a new page is covered the day it is added: a page
that is not public must send a stranger to the login, a staff page must refuse a member
(even with a valid CSRF token), and a member must get the same 404 for another member's
row as for a missing one, on reads and on every action, which must change nothing.
"""

from __future__ import annotations

import re

from fastapi.routing import APIRoute
from sqlalchemy import select
from tests.console_rig import PageClient, logged_in, make_user
from tests.platform_fixtures import SIGNAL, Harness, eventually

from signalbridge.services.auth import create_token
from signalbridge.services.login import ROLE_SCOPES
from signalbridge.store import models as m
from signalbridge.web.console.app import PAGE_MODULES, is_page

#: Pages anyone may open (the track record decides by the channel's own setting).
PUBLIC_GET = {"/", "/login", "/signup", "/reset", "/reset/{token}", "/track/{channel_id}"}
#: Forms a stranger may post (they carry the browser's CSRF cookie instead of a session).
PUBLIC_POST = {"/login", "/signup", "/reset", "/reset/{token}"}
#: Streams are checked for who may open them, not read to the end.
STREAMS = re.compile(r"/events/")


def served() -> list[tuple[str, str]]:
    out = []
    for module in PAGE_MODULES:
        for route in module.router.routes:
            assert isinstance(route, APIRoute) and is_page(route.path), route
            for method in sorted(route.methods - {"HEAD"}):
                out.append((method, route.path))
    return sorted(set(out))


def fill(path: str, ids: dict[str, int]) -> str:
    """``path`` with its parameters filled: the owner's row where the path names one."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        before = path[: match.start()].rstrip("/").rsplit("/", 1)[-1]
        if name == "action":
            return {"connections": "deactivate", "follows": "pause"}.get(before, "x")
        if name == "kinds":
            return "signals"
        if name == "token":
            return "not-a-token"
        return str(ids.get(before, ids.get(name, 1)))

    return re.sub(r"\{(\w+)\}", value, path)


async def owner_rows(h: Harness) -> tuple[dict[str, int], int]:
    """Member A with a paper account, a follow, a position and a linked chat."""
    a_id = await make_user(h, "a@example.com", "member")
    async with h.container.sessions() as s, s.begin():
        user = await s.get(m.User, a_id)
        assert user is not None
        _, token = await create_token(s, user, "t", list(ROLE_SCOPES["member"]))
        chat = m.NotificationChat(user_id=a_id, chat_id=4242, events=[])
        s.add(chat)
        await s.flush()
        chat_id = chat.id
    auth = {"Authorization": f"Bearer {token}"}
    channel_id, secret = await h.webhook_channel("public", visibility="public")
    made = await h.client.post(
        "/api/v1/connections",
        headers=auth,
        json={"name": "a-paper", "type": "paper", "config": {"futures": True}},
    )
    assert made.status_code == 201, made.text
    connection_id = made.json()["id"]
    follow = await h.client.post(
        "/api/v1/follows",
        headers=auth,
        json={
            "channel_id": channel_id,
            "connection_id": connection_id,
            "sizing": {"mode": "fixed_quote", "value": "100"},
        },
    )
    assert follow.status_code == 201, follow.text
    sent = await h.post_signal(
        channel_id, secret, {**SIGNAL, "order_type": "market", "entry": None}
    )
    assert sent.status_code in (200, 202), sent.text

    async def has_position() -> bool:
        async with h.container.sessions() as s:
            return (await s.scalar(select(m.Position.id))) is not None

    await eventually(has_position)
    async with h.container.sessions() as s:
        position_id = await s.scalar(select(m.Position.id))
    assert position_id is not None
    ids = {
        "connections": connection_id,
        "follows": follow.json()["id"],
        "positions": position_id,
        "chats": chat_id,
    }
    return ids, a_id


async def test_every_page_admits_only_whom_it_should(harness: Harness) -> None:
    h = harness
    ids, _ = await owner_rows(h)
    routes = served()
    assert len(routes) > 60  # the console and the portal are mounted
    stranger = PageClient(h)
    other = await logged_in(h, "b@example.com", "member")
    admin = await logged_in(h, "root@example.com", "admin")
    await other.get("/portal")  # B's session CSRF token, valid for B's posts
    problems: list[str] = []
    for method, path in routes:
        url = fill(path, ids)
        if method == "GET":
            if path not in PUBLIC_GET:
                r = await stranger.http.get(url)
                if r.status_code != 303 or not r.headers["location"].startswith("/login"):
                    problems.append(f"stranger GET {url}: {r.status_code}")
            if path.startswith("/console"):
                r = await other.http.get(url)
                if r.status_code != 403:
                    problems.append(f"member GET {url}: {r.status_code}")
            elif path.startswith("/portal/") and "{" in path and not STREAMS.search(path):
                r = await other.http.get(url)
                if r.status_code != 404:
                    problems.append(f"other member GET {url}: {r.status_code}")
            if "{" not in path and not STREAMS.search(path) and path not in PUBLIC_GET:
                r = await admin.http.get(url)
                if r.status_code != 200:
                    problems.append(f"admin GET {url}: {r.status_code}")
        else:
            if path not in PUBLIC_POST:
                r = await stranger.http.post(url, data={"csrf_token": "x" * 43})
                if r.status_code not in (303, 403) or (
                    r.status_code == 303 and not r.headers["location"].startswith("/login")
                ):
                    problems.append(f"stranger POST {url}: {r.status_code}")
            if path.startswith("/console"):
                r = await other.post(url)
                if r.status_code != 403:
                    problems.append(f"member POST {url}: {r.status_code}")
            elif path.startswith("/portal/") and "{" in path:
                r = await other.post(url)
                if r.status_code != 404:
                    problems.append(f"other member POST {url}: {r.status_code}")
    assert not problems, "\n".join(problems)
    # none of the refused actions touched member A's rows
    async with h.container.sessions() as s:
        connection = await s.get(m.ExecutionConnection, ids["connections"])
        follow = await s.get(m.Follow, ids["follows"])
        chat = await s.get(m.NotificationChat, ids["chats"])
    assert connection is not None and connection.is_active
    assert follow is not None and follow.paused_at is None and follow.is_active
    assert chat is not None and chat.is_active
    for client in (stranger, other, admin):
        await client.aclose()
