"""An operator at the review desk in a real browser: logs in through the form, sees a
signal the parser was unsure of arrive live (server-sent events, no reload), approves it,
and the item leaves the desk while the signal goes on to its follower's account."""

from __future__ import annotations

import re

from playwright.async_api import expect
from tests.browser.browser_harness import ConsoleServer
from tests.browser.flows import (
    PASSWORD,
    PINE,
    NewPage,
    Site,
    eventually,
    fill_login_form,
    open_as,
    unique_email,
)


async def test_operator_approves_a_pending_signal(
    new_page: NewPage, console_server: ConsoleServer
) -> None:
    site = Site.of(console_server)
    desk = await site.webhook_channel("desk")
    await site.ok("PATCH", f"/channels/{desk.id}", json={"min_confidence": "0.99"})
    connection_id = await site.paper_connection("desk-follower")
    await site.follow(desk.id, connection_id)
    operator = unique_email("operator")
    await site.user(operator, "operator")

    page = await open_as(new_page, None)
    await page.goto(f"/login?next=/console/review%3Fchannel_id%3D{desk.id}")
    await fill_login_form(page, operator, PASSWORD)
    await page.wait_for_url(re.compile(r"/console/review\?channel_id="))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Review desk")
    items = page.get_by_role("region", name="Pending items")
    await expect(items.get_by_role("status")).to_have_text("Nothing waits for review.")

    # a PineConnector line is read at 0.95, below the channel's 0.99: it waits for review
    answer = await site.post_signal(desk, PINE)
    assert answer["status"] == "review", answer
    signal_id = int(answer["signal_id"])
    item = items.get_by_role("article", name=f"Signal {signal_id}")
    await expect(item).to_be_visible(timeout=15_000)  # live: the desk was not reloaded
    await expect(item).to_contain_text(PINE.decode())  # the raw message beside the parse
    await expect(item).to_contain_text("58000")

    await item.get_by_role("button", name="Approve").click()
    await page.wait_for_url(re.compile(r"/console/review\?done=approved"))
    await expect(page.get_by_role("status").first).to_contain_text(
        f"Signal {signal_id} approved. Executions opened: 1."
    )
    await expect(page.get_by_role("article", name=f"Signal {signal_id}")).to_have_count(0)
    signal = await site.ok("GET", f"/signals/{signal_id}")
    assert signal["status"] == "dispatched", signal

    async def executed() -> bool:
        return bool(await site.positions(signal_id=signal_id, connection_id=connection_id))

    await eventually(executed, what="the approved signal's position")
    await page.goto(f"/console/signals/{signal_id}")
    await expect(page.get_by_role("main")).to_contain_text("dispatched")
