"""The browser harness works: Chromium reaches the real server on localhost, screenshots
are written, the accessibility check catches a missing label, and nothing leaves the
machine."""

from __future__ import annotations

import json

import pytest
from playwright.async_api import Browser, Error, Page
from tests.browser.browser_harness import SCREENSHOTS, assert_accessible, screenshot


async def test_chromium_opens_the_running_server(page: Page, base_url: str) -> None:
    assert base_url.startswith("http://localhost:")
    response = await page.goto("/healthz")
    assert response is not None and response.status == 200
    assert json.loads(await page.inner_text("body")) == {"status": "ok"}
    shot = await screenshot(page, "smoke-healthz")
    assert shot == SCREENSHOTS / "smoke-healthz.png"
    assert shot.read_bytes().startswith(b"\x89PNG")


async def test_assert_accessible_names_the_rule_and_the_element(page: Page) -> None:
    good = """<!doctype html><html lang="en"><head><title>Sign in</title></head>
        <body><main><h1>Sign in</h1><form>
        <label for="email">Email</label><input id="email" type="email">
        <button type="submit">Sign in</button></form></main></body></html>"""
    await page.set_content(good)
    await assert_accessible(page)
    await page.set_content(good.replace('<label for="email">Email</label>', ""))
    with pytest.raises(AssertionError, match=r"label \(critical\).*#email"):
        await assert_accessible(page)


async def test_nothing_leaves_the_machine(browser: Browser) -> None:
    context = await browser.new_context()
    try:
        outside = await context.new_page()
        with pytest.raises(Error, match="ERR_PROXY_CONNECTION_FAILED"):
            await outside.goto("http://192.0.2.1/", timeout=10_000)
    finally:
        await context.close()
