"""Fixtures of the browser tests: one real ``signalbridge serve`` and one headless Chromium
per pytest process (each xdist worker has its own), and a fresh context and page per test.

Every test in this folder is marked ``browser`` and runs on the session's event loop
(``asyncio(loop_scope="session")``), the loop the browser lives on; both marks are added
here, so a test only writes ``async def test_x(page: Page) -> None``. The async API is
used because Playwright's sync API leaves its loop marked as running between calls,
which would break the asyncio tests that a worker runs after a browser test.

A page must not load anything from off the machine (a CDN script is a bug): the browser
sends every non-loopback request to a closed proxy, and the test fails naming the URL.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Error, Page, async_playwright
from tests.browser.browser_harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ConsoleServer,
    free_port,
    off_loopback,
    screenshot,
)

HERE = Path(__file__).resolve().parent
REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE not in item.path.parents:
            continue
        item.add_marker(pytest.mark.browser)
        if inspect.iscoroutinefunction(getattr(item, "function", None)):
            item.add_marker(pytest.mark.asyncio(loop_scope="session"), append=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # the page fixture reads the test's outcome to keep a screenshot of a failure
    report = yield
    item.stash.setdefault(REPORTS, {})[report.when] = report
    return report


@pytest.fixture(scope="session")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    """The platform this process's browser tests share; its admin is ``admin_email``."""
    server = ConsoleServer(tmp_path_factory.mktemp("console"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def base_url(console_server: ConsoleServer) -> str:
    """``http://localhost:<port>`` of the shared server."""
    return console_server.base_url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Debian's headless Chromium; missing, it fails the test (``.ci/run`` installs it)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's Chromium (apt-get install -y chromium); "
            ".ci/run does so before `make test`",
            pytrace=False,
        )
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=list(CHROMIUM_ARGS),
            # nothing but loopback goes out directly; the rest meets a closed port
            proxy={
                "server": f"http://127.0.0.1:{free_port()}",
                "bypass": "localhost,127.0.0.1,[::1]",
            },
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest_asyncio.fixture(loop_scope="session")
async def new_page(
    browser: Browser, base_url: str, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[[], Awaitable[Page]]]:
    """Opens pages, each in a fresh context of its own (no shared cookies: one per user).

    Relative URLs resolve against ``base_url``. After the test: a failure leaves
    ``artifacts/screenshots/failed-<test>[-n].png``; a request off the machine or an
    uncaught JavaScript error on any of the pages fails the test.
    """
    contexts: list[BrowserContext] = []
    outside: list[str] = []
    errors: list[str] = []

    async def open_page() -> Page:
        context = await browser.new_context(
            base_url=base_url,
            locale="en-US",
            timezone_id="UTC",
            viewport={"width": 1280, "height": 800},
        )
        contexts.append(context)
        context.set_default_timeout(10_000)
        context.on("request", lambda r: outside.append(r.url) if off_loopback(r.url) else None)
        opened = await context.new_page()
        opened.on("pageerror", lambda exc: errors.append(f"{opened.url}: {exc}"))
        return opened

    try:
        yield open_page
    finally:
        call = request.node.stash.get(REPORTS, {}).get("call")
        failed = call is not None and call.failed
        for n, context in enumerate(contexts):
            name = f"failed-{request.node.path.stem}-{request.node.name}" + (f"-{n}" if n else "")
            for opened in context.pages if failed else ():
                try:
                    await screenshot(opened, name)
                except Error:
                    pass  # a crashed page has nothing to show
            await context.close()
    assert not outside, f"a page tried to load from off the machine: {outside}"
    assert not errors, f"uncaught JavaScript errors: {errors}"


@pytest_asyncio.fixture(loop_scope="session")
async def page(new_page: Callable[[], Awaitable[Page]]) -> Page:
    """A page in a fresh context (see ``new_page``): ``await page.goto("/login")``."""
    return await new_page()
