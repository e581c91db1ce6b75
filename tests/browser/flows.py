"""Shared steps of the browser tests: data made through the REST API with the admin's
token, a user's session made through the pages over plain HTTP (sign-up or the login
form), a browser page opened as that user, and the check every page gets (status,
accessibility, screenshot).

Logins from the tests all come from 127.0.0.1 and share the login throttle's budget per
address (20 a minute), so a session is made once per user and server (:func:`staff_session`
caches it) and members come from the sign-up form, which the throttle does not count.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from playwright.async_api import Error, Page, Response
from tests.browser.browser_harness import AXE_JS, ConsoleServer, assert_accessible, screenshot
from tests.platform_fixtures import SIGNAL

from signalbridge.channels.webhook import signed_headers

SESSION_COOKIE = "sb_session"
ANON_CSRF_COOKIE = "sb_csrf"
PASSWORD = "browser member password 1"
#: A PineConnector command: read exactly, at 0.95, so it waits below a 0.99 threshold.
PINE = b"LIC123456,buy,BTCUSDT,sl=58000,tp=62000"
#: A paper account whose prices stand still (BTC/USDT at 60000): ``SIGNAL``'s limit
#: entry (59900-60100) fills at once.
STILL_FEED = json.dumps({"feed": {"seed": 3, "volatility": "0"}})

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
NewPage = Callable[[], Awaitable[Page]]


def unique(prefix: str) -> str:
    """A name no other test on the shared server uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def unique_email(prefix: str) -> str:
    return f"{unique(prefix)}@example.com"


def _cookie(response: httpx.Response, name: str) -> str | None:
    """A cookie the response sets (read by hand: the jar keeps no Secure cookie on http)."""
    for header in response.headers.get_list("set-cookie"):
        key, _, rest = header.partition("=")
        if key.strip() == name:
            return rest.split(";", 1)[0]
    return None


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 15.0, what: str = "condition"
) -> None:
    """Poll ``check`` until it is true; fail naming ``what`` after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not met within {timeout} s")
        await asyncio.sleep(0.1)


# --- the REST API, as the admin --------------------------------------------------------------


@dataclass(frozen=True)
class Channel:
    id: int
    secret: str
    name: str


@dataclass
class Site:
    """A running server as the tests drive it without a browser."""

    base_url: str
    admin_token: str
    admin_email: str
    admin_password: str

    @classmethod
    def of(cls, server: ConsoleServer) -> Site:
        return cls(server.base_url, server.admin_token, server.admin_email, server.admin_password)

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=20.0, trust_env=False)

    async def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.admin_token}", **kwargs.pop("headers", {})}
        async with self.http() as client:
            return await client.request(method, "/api/v1" + path, headers=headers, **kwargs)

    async def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.api(method, path, **kwargs)
        assert response.status_code < 300, f"{method} {path}: {response.text}"
        return response.json() if response.content else None

    async def webhook_channel(self, prefix: str = "channel", **settings: Any) -> Channel:
        name = unique(prefix)
        body = await self.ok(
            "POST",
            "/channels",
            json={"name": name, "type": "webhook", "visibility": "public", **settings},
        )
        return Channel(int(body["id"]), body["generated_secrets"]["secret"], name)

    async def paper_connection(self, prefix: str = "paper") -> int:
        """A paper account of the admin's own."""
        config = {"futures": True, **json.loads(STILL_FEED)}
        body = await self.ok(
            "POST",
            "/connections",
            json={"name": unique(prefix), "type": "paper", "config": config},
        )
        return int(body["id"])

    async def follow(self, channel_id: int, connection_id: int) -> int:
        body = await self.ok(
            "POST",
            "/follows",
            json={
                "channel_id": channel_id,
                "connection_id": connection_id,
                "sizing": {"mode": "fixed_quote", "value": "100"},
            },
        )
        return int(body["id"])

    async def user(self, email: str, role: str, password: str = PASSWORD) -> int:
        body = await self.ok(
            "POST", "/users", json={"email": email, "password": password, "role": role}
        )
        return int(body["id"])

    async def post_signal(
        self, channel: Channel, payload: dict[str, Any] | bytes
    ) -> dict[str, Any]:
        """POST to the channel's webhook as a signing sender; the intake's answer."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {**signed_headers(channel.secret, body), "Content-Type": "application/json"}
        async with self.http() as client:
            response = await client.post(
                f"/webhooks/channels/{channel.id}", content=body, headers=headers
            )
        assert response.status_code in (200, 201, 202), response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def positions(self, **query: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = (await self.ok("GET", "/positions", params=query))["items"]
        return items

    async def position_of(self, signal_id: int, connection_id: int) -> dict[str, Any]:
        """The position ``signal_id`` opened on ``connection_id``, once it is there."""
        found: list[dict[str, Any]] = []

        async def opened() -> bool:
            found[:] = await self.positions(signal_id=signal_id, connection_id=connection_id)
            return bool(found)

        await eventually(opened, what=f"a position of signal {signal_id} on {connection_id}")
        return found[0]


# --- one user's session, through the pages over plain HTTP -----------------------------------


@dataclass
class FormSession:
    """A logged-in browser's cookie, used over plain HTTP to fill in pages quickly."""

    base_url: str
    email: str
    cookie: str
    csrf: str = ""

    def _cookies(self) -> dict[str, str]:
        return {"Cookie": f"{SESSION_COOKIE}={self.cookie}"}

    async def get(self, path: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.base_url, trust_env=False) as client:
            response = await client.get(path, headers=self._cookies(), timeout=20.0)
        found = _CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    async def post(self, path: str, data: dict[str, str]) -> httpx.Response:
        if not self.csrf:
            await self.get("/portal")
        async with httpx.AsyncClient(base_url=self.base_url, trust_env=False) as client:
            return await client.post(
                path,
                data={"csrf_token": self.csrf, **data},
                headers=self._cookies(),
                timeout=30.0,
            )

    async def add_paper_account(self, prefix: str = "paper") -> int:
        """A paper account through the portal's form (tested on save); its id."""
        response = await self.post(
            "/portal/connections/new",
            {"type": "paper", "name": unique(prefix), "futures": "on", "advanced": STILL_FEED},
        )
        assert response.status_code == 303, response.text
        found = re.search(r"/portal/connections/(\d+)", response.headers["location"])
        assert found, response.headers["location"]
        return int(found.group(1))

    async def follow(self, channel_id: int, connection_id: int) -> None:
        response = await self.post(
            "/portal/follows",
            {
                "channel_id": str(channel_id),
                "connection_id": str(connection_id),
                "sizing.mode": "fixed_quote",
                "sizing.value": "100",
                "is_active": "on",
            },
        )
        assert response.status_code == 303, response.text


async def _anonymous_form(base_url: str, path: str, data: dict[str, str]) -> httpx.Response:
    """GET a public form (for its CSRF cookie and token), then POST it."""
    async with httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=20.0) as client:
        shown = await client.get(path)
        token = _CSRF.search(shown.text)
        anon = _cookie(shown, ANON_CSRF_COOKIE)
        assert token and anon, f"{path} has no CSRF token"
        return await client.post(
            path,
            data={"csrf_token": token.group(1), **data},
            headers={"Cookie": f"{ANON_CSRF_COOKIE}={anon}"},
        )


async def sign_up(site: Site, email: str, password: str = PASSWORD) -> FormSession:
    """A new member through the sign-up form (open sign-up), logged in."""
    response = await _anonymous_form(
        site.base_url,
        "/signup",
        {"email": email, "password": password, "password_again": password},
    )
    assert response.status_code == 303, response.text
    cookie = _cookie(response, SESSION_COOKIE)
    assert cookie, "sign-up set no session"
    return FormSession(site.base_url, email, cookie)


async def log_in(site: Site, email: str, password: str = PASSWORD) -> FormSession:
    """A session through the login form (one attempt of the throttle's budget)."""
    response = await _anonymous_form(
        site.base_url, "/login", {"email": email, "password": password, "next": "/"}
    )
    assert response.status_code == 303, response.text
    cookie = _cookie(response, SESSION_COOKIE)
    assert cookie, "login set no session"
    return FormSession(site.base_url, email, cookie)


_SESSIONS: dict[tuple[str, str], FormSession] = {}


async def staff_session(site: Site, email: str | None = None) -> FormSession:
    """The admin's (or a staff user's) session on this server, made once per process."""
    key = (site.base_url, email or site.admin_email)
    if key not in _SESSIONS:
        password = site.admin_password if email is None else PASSWORD
        _SESSIONS[key] = await log_in(site, key[1], password)
    return _SESSIONS[key]


# --- the browser -----------------------------------------------------------------------------


async def open_as(
    new_page: NewPage, session: FormSession | None, *, with_axe: bool = False
) -> Page:
    """A page in a fresh context carrying ``session``'s cookie (None: anonymous).

    ``with_axe`` loads axe-core into every document as it starts (through the DevTools
    protocol, so the page's CSP does not apply), which saves sending the 650 kB script
    with each accessibility check of a test that checks many pages."""
    page = await new_page()
    if with_axe:
        await page.context.add_init_script(path=str(AXE_JS))
    if session is not None:
        await page.context.add_cookies(
            [
                {
                    "name": SESSION_COOKIE,
                    "value": session.cookie,
                    "domain": "localhost",
                    "path": "/",
                    "httpOnly": True,
                    "secure": True,
                    "sameSite": "Lax",
                }
            ]
        )
    return page


async def fill_login_form(page: Page, email: str, password: str) -> None:
    """Log in through the form as a person does (labels, the button)."""
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(re.compile(r"/(console|portal)"))


async def goto(page: Page, path: str, status: int = 200) -> Response:
    response = await page.goto(path, wait_until="load")
    assert response is not None, path
    assert response.status == status, f"{path}: {response.status}"
    return response


async def save_screenshot(page: Page, name: str) -> None:
    """``screenshot``, tried again once: a busy machine's Chromium now and then answers
    "Unable to capture screenshot" to a full-page capture."""
    try:
        await screenshot(page, name)
    except Error as exc:
        if "Unable to capture screenshot" not in str(exc):
            raise
        await asyncio.sleep(0.5)
        await screenshot(page, name)


async def check_page(
    page: Page, path: str, name: str, *, status: int = 200, charts: tuple[str, ...] = ()
) -> None:
    """Open ``path``: it answers ``status``, each of ``charts`` present on it is drawn, it
    is saved as ``artifacts/screenshots/<name>.png`` (before the accessibility check, so a
    failing page is still there to look at) and it passes the accessibility rules."""
    await goto(page, path, status)
    drawn = [selector for selector in charts if await page.locator(selector).count()]
    for selector in drawn:
        await page.locator(f"{selector} canvas").first.wait_for(state="attached")
    await save_screenshot(page, name)
    for selector in drawn:
        width, height = await chart_size(page, selector)
        assert width > 0 and height > 0, f"{selector} drew an empty canvas"
    await assert_accessible(page)


async def chart_size(page: Page, chart_selector: str) -> tuple[float, float]:
    """The size of the canvas lightweight-charts drew inside ``chart_selector``."""
    canvas = page.locator(f"{chart_selector} canvas").first
    await canvas.wait_for(state="attached")
    box = await canvas.bounding_box()
    assert box is not None, f"no canvas in {chart_selector}"
    return box["width"], box["height"]


# --- a world of data, made once per server ---------------------------------------------------


@dataclass
class Member:
    session: FormSession
    connection_id: int
    follow_id: int
    position_id: int


@dataclass
class World:
    """Something on every page: a followed channel with a signal and its positions (the
    admin's and a member's), a pending review item, a plan, a public track record."""

    channel: Channel
    review_channel: Channel
    signal_id: int
    pending_signal_id: int
    execution_id: int
    admin_connection_id: int
    admin_position_id: int
    member: Member
    member_user_id: int
    plan_id: int


_WORLDS: dict[str, World] = {}


async def _billing_and_ai(site: Site, member_user_id: int, plan_id: int) -> None:
    """Rows for the AI and billing pages: an AI endpoint, a gateway, a grant (none of
    them is ever called: nothing leaves the machine)."""
    await site.ok(
        "POST",
        "/ai-configs",
        json={
            "name": unique("local-llm"),
            "type": "openai_compatible",
            "config": {"model": "llama3.1-8b", "base_url": "http://127.0.0.1:9/v1"},
        },
    )
    await site.ok(
        "POST",
        "/payment-gateways",
        json={
            "name": "Stripe (house)",
            "type": "stripe",
            "config": {"api_key": "sk_test_house0123456789", "webhook_secret": "whsec_house0123"},
        },
    )
    await site.ok(
        "POST",
        "/grants",
        json={"user_id": member_user_id, "plan_id": plan_id, "days": 30, "note": "launch gift"},
    )


async def follow_id_of(site: Site, channel_id: int, connection_id: int) -> int:
    items = (await site.ok("GET", "/follows", params={"channel_id": channel_id}))["items"]
    ids = [int(f["id"]) for f in items if f["connection_id"] == connection_id]
    assert ids, f"no follow of channel {channel_id} by connection {connection_id}"
    return ids[0]


async def new_member(site: Site, channel: Channel, prefix: str = "member") -> Member:
    """A member (signed up) with a paper account following ``channel``; no position yet."""
    session = await sign_up(site, unique_email(prefix))
    connection_id = await session.add_paper_account(prefix)
    await session.follow(channel.id, connection_id)
    follow_id = await follow_id_of(site, channel.id, connection_id)
    return Member(session, connection_id, follow_id, 0)


async def world(site: Site) -> World:
    """The shared data of this server (made by the first test that asks)."""
    if site.base_url in _WORLDS:
        return _WORLDS[site.base_url]
    channel = await site.webhook_channel("signals", track_record_public=True)
    await site.ok("POST", f"/channels/{channel.id}/track-record/enable")
    admin_connection = await site.paper_connection("house")
    await site.follow(channel.id, admin_connection)
    member = await new_member(site, channel)
    review_channel = await site.webhook_channel("desk")
    await site.ok("PATCH", f"/channels/{review_channel.id}", json={"min_confidence": "0.99"})
    plan = await site.ok(
        "POST",
        "/plans",
        json={
            "name": unique("Premium"),
            "prices": {"USD": "29.00"},
            "interval": "month",
            "channel_ids": [channel.id],
        },
    )
    signal_id = int((await site.post_signal(channel, SIGNAL))["signal_id"])
    pending = await site.post_signal(review_channel, PINE)
    assert pending["status"] == "review", pending
    admin_position = await site.position_of(signal_id, admin_connection)
    member.position_id = int((await site.position_of(signal_id, member.connection_id))["id"])
    users = (await site.ok("GET", "/users"))["items"]
    member_user_id = next(int(u["id"]) for u in users if u["email"] == member.session.email)
    await _billing_and_ai(site, member_user_id, int(plan["id"]))
    made = World(
        channel=channel,
        review_channel=review_channel,
        signal_id=signal_id,
        pending_signal_id=int(pending["signal_id"]),
        execution_id=int(admin_position["execution_id"]),
        admin_connection_id=admin_connection,
        admin_position_id=int(admin_position["id"]),
        member=member,
        member_user_id=member_user_id,
        plan_id=int(plan["id"]),
    )
    _WORLDS[site.base_url] = made
    return made
