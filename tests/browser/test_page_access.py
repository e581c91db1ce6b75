"""The authorization matrix, a few cells of it in a real browser: member A opening member
B's account, follow or position gets the 404 page a missing row gets (and never sees B's
rows in its lists), a staff page is the 403 page, and logged out every page leads to the
login form, which brings A back where it was going. The whole matrix over HTTP lives in
tests/integration/security/."""

from __future__ import annotations

from urllib.parse import quote

from playwright.async_api import expect
from tests.browser.browser_harness import ConsoleServer, assert_accessible
from tests.browser.flows import (
    PASSWORD,
    Member,
    NewPage,
    Site,
    fill_login_form,
    goto,
    new_member,
    open_as,
    save_screenshot,
    world,
)
from tests.platform_fixtures import SIGNAL


async def _member_b(site: Site) -> Member:
    """Another member with an account, a follow and a position of its own."""
    channel = await site.webhook_channel("b-only")
    member = await new_member(site, channel, "member-b")
    signal_id = int((await site.post_signal(channel, SIGNAL))["signal_id"])
    member.position_id = int((await site.position_of(signal_id, member.connection_id))["id"])
    return member


async def test_a_member_cannot_open_another_members_pages(
    new_page: NewPage, console_server: ConsoleServer
) -> None:
    site = Site.of(console_server)
    a = (await world(site)).member
    b = await _member_b(site)
    page = await open_as(new_page, a.session, with_axe=True)

    for path in (
        f"/portal/connections/{b.connection_id}",
        f"/portal/follows/{b.follow_id}",
        f"/portal/positions/{b.position_id}",
    ):
        await goto(page, path, 404)
        await expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    await assert_accessible(page)
    await save_screenshot(page, "error-404")

    for path in ("/console", "/console/members", f"/console/positions/{b.position_id}"):
        await goto(page, path, 403)
        await expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    await assert_accessible(page)
    await save_screenshot(page, "error-403")

    # A's own lists name A's rows only
    await goto(page, "/portal/positions")
    rows = page.locator("#positions-rows")
    await expect(rows.get_by_role("link", name=f"#{a.position_id}", exact=True)).to_have_count(1)
    await expect(rows.get_by_role("link", name=f"#{b.position_id}", exact=True)).to_have_count(0)
    await goto(page, "/portal/connections")
    main = page.get_by_role("main")
    await expect(main.locator(f'a[href="/portal/connections/{b.connection_id}"]')).to_have_count(0)
    await expect(main.locator(f'a[href="/portal/connections/{a.connection_id}"]')).to_have_count(1)


async def test_logged_out_pages_lead_to_the_login_form(
    new_page: NewPage, console_server: ConsoleServer, base_url: str
) -> None:
    site = Site.of(console_server)
    a = (await world(site)).member
    page = await open_as(new_page, None)
    for path in ("/console", "/portal/follows"):
        await goto(page, path)  # 303 to the form, then the form itself
        assert page.url == f"{base_url}/login?next={quote(path, safe='')}" or page.url == (
            f"{base_url}/login?next={path}"
        ), page.url
        await expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    target = f"/portal/positions/{a.position_id}"
    await goto(page, target)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    await fill_login_form(page, a.session.email, PASSWORD)
    assert page.url == base_url + target, page.url  # back where it was going
    await expect(page.get_by_role("heading", level=1)).to_contain_text(f"Position #{a.position_id}")
