"""A browser without a browser: an httpx client with cookies that reads CSRF tokens from
the pages it gets, for testing the console and portal over HTTP (the Playwright tests in
tests/browser/ drive a real Chromium on top of this).

Used with the platform harness (tests/platform_fixtures.py); its base URL is https so the
Secure session cookie is kept, as a real browser keeps it.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from signalbridge.services.auth import create_user
from tests.platform_fixtures import Harness

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


class PageClient:
    """One browser's cookies against the app of a harness."""

    def __init__(self, harness: Harness) -> None:
        # The harness's own app: the same routes, database, settings and services.
        app = harness.app
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="https://sb.test",
            follow_redirects=False,
        )
        self.csrf = ""

    async def aclose(self) -> None:
        await self.http.aclose()

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        response = await self.http.get(path, **kwargs)
        if "text/html" in response.headers.get("content-type", ""):
            found = _CSRF.search(response.text)
            if found:
                self.csrf = found.group(1)
        return response

    async def post(
        self, path: str, data: dict[str, str] | None = None, **kw: Any
    ) -> httpx.Response:
        """POST a form with the CSRF token of the last page seen (unless one is given)."""
        form = {"csrf_token": self.csrf, **(data or {})}
        return await self.http.post(path, data=form, **kw)

    async def login(self, email: str, password: str) -> httpx.Response:
        await self.get("/login")
        response = await self.post("/login", {"email": email, "password": password})
        assert response.status_code == 303, response.text
        await self.get(response.headers["location"])
        return response


async def make_user(
    harness: Harness, email: str, role: str, password: str = "long password 1"
) -> int:
    async with harness.container.sessions() as s, s.begin():
        user = await create_user(s, email, password, role)
        return user.id


async def logged_in(harness: Harness, email: str, role: str) -> PageClient:
    """A new user of ``role`` and a page client logged in as it."""
    await make_user(harness, email, role)
    client = PageClient(harness)
    await client.login(email, "long password 1")
    return client
