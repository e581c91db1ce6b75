"""The browser tests' harness: the real platform in a subprocess, Debian's Chromium, and
the checks every console page gets (screenshots, axe accessibility rules).

The fixtures that use it live in ``tests/browser/conftest.py``. Chromium is the distro's
``/usr/bin/chromium`` (``.ci/run`` installs it); Playwright never downloads a browser.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from playwright.async_api import Page

from signalbridge.integrations.vault import generate_key
from signalbridge.services.users import FIRST_ADMIN_FILE

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "artifacts" / "screenshots"
AXE_JS = Path(__file__).resolve().parent / "vendor" / "axe.min.js"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
#: Hosts a page may load from; anything else is a test failure (no test leaves loopback)
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
#: URL schemes that never touch the network
LOCAL_SCHEMES = frozenset({"data", "blob", "about", "chrome-error"})

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "browser test admin password"

#: The axe rules the console is held to: form labels, names of controls, landmarks and
#: headings, the document's language and title, and valid ARIA (WCAG 2 A/AA rules plus
#: axe's best-practice rules for landmarks and headings).
A11Y_RULES: tuple[str, ...] = (
    # labels and accessible names
    "label",
    "label-title-only",
    "form-field-multiple-labels",
    "button-name",
    "input-button-name",
    "link-name",
    "select-name",
    "image-alt",
    "input-image-alt",
    "frame-title",
    # landmarks and headings
    "landmark-one-main",
    "landmark-no-duplicate-main",
    "landmark-main-is-top-level",
    "landmark-banner-is-top-level",
    "landmark-contentinfo-is-top-level",
    "landmark-no-duplicate-banner",
    "landmark-no-duplicate-contentinfo",
    "landmark-unique",
    "region",
    "page-has-heading-one",
    "empty-heading",
    "bypass",
    # the document
    "html-has-lang",
    "html-lang-valid",
    "valid-lang",
    "document-title",
    "duplicate-id-aria",
    "list",
    "listitem",
    # ARIA validity
    "aria-allowed-attr",
    "aria-allowed-role",
    "aria-command-name",
    "aria-hidden-body",
    "aria-hidden-focus",
    "aria-input-field-name",
    "aria-prohibited-attr",
    "aria-required-attr",
    "aria-required-children",
    "aria-required-parent",
    "aria-roles",
    "aria-toggle-field-name",
    "aria-valid-attr",
    "aria-valid-attr-value",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ConsoleServer:
    """``signalbridge serve`` on a fresh SQLite data directory and a free port.

    The first admin gets a known password (``SIGNALBRIDGE_ADMIN_PASSWORD``); its API token
    is read from the 0600 file ``serve`` writes. ``base_url`` names ``localhost``, not
    127.0.0.1: Chromium keeps Secure cookies on http://localhost only.
    """

    def __init__(self, data_dir: Path, env: Mapping[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.extra_env = dict(env or {})
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "serve.log"
        self.admin_email = ADMIN_EMAIL
        self.admin_password = ADMIN_PASSWORD

    @property
    def base_url(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def admin_token(self) -> str:
        """The first admin's API token, for seeding data through the REST API."""
        for line in (self.data_dir / FIRST_ADMIN_FILE).read_text().splitlines():
            if line.startswith("token: "):
                return line.removeprefix("token: ").strip()
        raise AssertionError(f"no token in {self.data_dir / FIRST_ADMIN_FILE}")

    def env(self) -> dict[str, str]:
        # nothing of the developer's own SIGNALBRIDGE_* settings leaks in
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("SIGNALBRIDGE_")}
        return {
            **inherited,
            "SIGNALBRIDGE_DATA_DIR": str(self.data_dir),
            "SIGNALBRIDGE_SECRET_KEYS": generate_key(),
            "SIGNALBRIDGE_ADMIN_EMAIL": self.admin_email,
            "SIGNALBRIDGE_ADMIN_PASSWORD": self.admin_password,
            "SIGNALBRIDGE_LOG_JSON": "false",
            "SIGNALBRIDGE_LOG_LEVEL": "WARNING",
            # the local fake servers (payment gateways) the flows pay on
            "SIGNALBRIDGE_ALLOWED_HOSTS": '["127.0.0.1"]',
            **self.extra_env,
        }

    def start(self, attempts: int = 3, timeout: float = 60.0) -> None:
        """Start and wait for ``/healthz``; a port taken meanwhile is retried on another."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = self.env()
        for _ in range(attempts):
            self.port = free_port()
            # output goes to a file: a pipe nobody reads would fill up and block the server
            with self.log.open("ab") as out:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "signalbridge.cli", "serve", "--port", str(self.port)],
                    env=env,
                    cwd=self.data_dir,  # no stray ./.env is read
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            if self.wait_healthy(timeout):
                return
        raise AssertionError(f"signalbridge serve did not start:\n{self.log.read_text()}")

    def wait_healthy(self, timeout: float) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.port}/healthz"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if httpx.get(url, timeout=2.0).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@contextmanager
def running_console(data_dir: Path, **env: str) -> Iterator[ConsoleServer]:
    """A server of a test's own (settings as ``SIGNALBRIDGE_*`` variables in ``env``)."""
    server = ConsoleServer(data_dir, env)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def off_loopback(url: str) -> bool:
    """Whether loading ``url`` would leave the machine."""
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return False
    return (parts.hostname or "") not in LOOPBACK_HOSTS


def artifact_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "page"


async def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save the page as ``artifacts/screenshots/<name>.png`` (gitignored) and return it."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{artifact_name(name)}.png"
    await page.screenshot(path=str(path), full_page=full_page)
    return path


async def axe_violations(
    page: Page, rules: tuple[str, ...] = A11Y_RULES, context: str | None = None
) -> list[dict[str, Any]]:
    """Run axe-core's ``rules`` on the page (or the ``context`` selector); its violations.

    axe is evaluated through the DevTools protocol, which a page's Content-Security-Policy
    does not block, so pages are tested with their real CSP.
    """
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.evaluate(AXE_JS.read_text())
    options = {"runOnly": {"type": "rule", "values": list(rules)}, "resultTypes": ["violations"]}
    result: list[dict[str, Any]] = await page.evaluate(
        """async ([context, options]) => {
            const results = await window.axe.run(context || document, options);
            return results.violations.map(v => ({
                id: v.id,
                impact: v.impact,
                help: v.help,
                targets: v.nodes.map(n => n.target.join(" ")),
            }));
        }""",
        [context, options],
    )
    return result


async def assert_accessible(
    page: Page, rules: tuple[str, ...] = A11Y_RULES, context: str | None = None
) -> None:
    """Fail with every violated rule's id and the elements it names."""
    violations = await axe_violations(page, rules, context)
    if violations:
        lines = [
            f"{v['id']} ({v['impact']}): {v['help']} -> {', '.join(v['targets'])}"
            for v in violations
        ]
        raise AssertionError(
            f"{len(violations)} accessibility violation(s) on {page.url}:\n" + "\n".join(lines)
        )
