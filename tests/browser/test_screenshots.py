"""Every main page, with data on it, in the real browser: it answers 200, passes the
accessibility rules (labels, names, landmarks, headings, ARIA; tests/browser/
browser_harness.py A11Y_RULES) and is saved as ``artifacts/screenshots/<area>-<page>.png``
(full page, 1280x800) for the README and for a person to look at.

One test per group of pages, each page in turn in one browser context (a context per page
costs more than the page); a page's failure is noted and the others still run, so the
test names every failing page at once. The data (a channel with a signal, the positions
it opened for the admin and a member, a pending review item, a plan, a public track
record) is made once per server (tests/browser/flows.py ``world``).
"""

from __future__ import annotations

import pytest
from playwright.async_api import Error, Page
from tests.browser.browser_harness import ConsoleServer
from tests.browser.flows import (
    FormSession,
    NewPage,
    Site,
    World,
    check_page,
    open_as,
    staff_session,
    world,
)

Pages = tuple[tuple[str, str], ...]

#: (screenshot name, path; ``{w.<field>}`` is filled from the world), per group
CONSOLE_PAGES: dict[str, Pages] = {
    "signals": (
        ("console-dashboard", "/console"),
        ("console-channels", "/console/channels"),
        ("console-channel-detail", "/console/channels/{w.channel.id}"),
        ("console-channel-new", "/console/channels/new"),
        ("console-review", "/console/review"),
        ("console-review-item", "/console/review/signals/{w.pending_signal_id}"),
        ("console-signals", "/console/signals"),
        ("console-signal-detail", "/console/signals/{w.signal_id}"),
    ),
    "trading": (
        ("console-executions", "/console/executions"),
        ("console-execution-detail", "/console/executions/{w.execution_id}"),
        ("console-orders", "/console/orders"),
        ("console-positions", "/console/positions"),
        ("console-position-detail", "/console/positions/{w.admin_position_id}"),
        ("console-execution-logs", "/console/execution-logs"),
        ("console-connections", "/console/connections"),
        ("console-connection-detail", "/console/connections/{w.admin_connection_id}"),
    ),
    "admin": (
        ("console-ai", "/console/ai"),
        ("console-billing", "/console/billing"),
        ("console-billing-gateways", "/console/billing/gateways"),
        ("console-billing-payments", "/console/billing/payments"),
        ("console-billing-subscriptions", "/console/billing/subscriptions"),
        ("console-billing-grants", "/console/billing/grants"),
        ("console-members", "/console/members"),
        ("console-member-detail", "/console/members/{w.member_user_id}"),
        ("console-audit", "/console/audit"),
    ),
}
PORTAL_PAGES: Pages = (
    ("portal-overview", "/portal"),
    ("portal-plans", "/portal/plans"),
    ("portal-accounts", "/portal/connections"),
    ("portal-account-new", "/portal/connections/new?type=paper"),
    ("portal-account-detail", "/portal/connections/{w.member.connection_id}"),
    ("portal-follows", "/portal/follows"),
    ("portal-follow-detail", "/portal/follows/{w.member.follow_id}"),
    ("portal-positions", "/portal/positions"),
    ("portal-position-detail", "/portal/positions/{w.member.position_id}"),
    ("portal-notifications", "/portal/notifications"),
)
PUBLIC_PAGES: Pages = (
    ("public-login", "/login"),
    ("public-signup", "/signup"),
    ("public-reset", "/reset"),
    ("public-track-record", "/track/{w.channel.id}"),
)
#: Pages with lightweight-charts charts: each must be drawn (a canvas of some size).
CHARTS = {
    "portal-position-detail": ("#position-chart",),
    "public-track-record": ("#curve-chart", "#price-chart"),
}


async def _check_all(page: Page, pages: Pages, w: World) -> None:
    """Check every page; fail once, naming each page that failed and why."""
    problems: list[str] = []
    for name, template in pages:
        path = template.format(w=w)
        try:
            await check_page(page, path, name, charts=CHARTS.get(name, ()))
        except (AssertionError, Error) as exc:
            problems.append(f"{name} ({path}): {exc}")
    assert not problems, f"{len(problems)} page(s) failed:\n" + "\n\n".join(problems)


async def _visit(new_page: NewPage, server: ConsoleServer, pages: Pages, who: str) -> None:
    """Open ``pages`` as ``who`` (admin, member or anonymous), each checked in turn."""
    site = Site.of(server)
    w = await world(site)
    session: FormSession | None = None
    if who == "admin":
        session = await staff_session(site)
    elif who == "member":
        session = w.member.session
    page = await open_as(new_page, session, with_axe=True)
    await _check_all(page, pages, w)


@pytest.mark.parametrize("group", list(CONSOLE_PAGES))
async def test_console_pages(group: str, new_page: NewPage, console_server: ConsoleServer) -> None:
    await _visit(new_page, console_server, CONSOLE_PAGES[group], "admin")


async def test_portal_pages(new_page: NewPage, console_server: ConsoleServer) -> None:
    await _visit(new_page, console_server, PORTAL_PAGES, "member")


async def test_public_pages(new_page: NewPage, console_server: ConsoleServer) -> None:
    await _visit(new_page, console_server, PUBLIC_PAGES, "anonymous")
