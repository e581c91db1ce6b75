"""A member's whole way in a real browser (issue 19's first test): sign up, choose a plan
and pay on the (fake, loopback) Stripe's hosted page, connect a paper account, follow the
plan's channel, receive a signal, and watch the position appear live on
/portal/positions and draw its chart.

The platform reaches the fake Stripe on 127.0.0.1 only when the operator allows loopback
(``SIGNALBRIDGE_ALLOWED_HOSTS``); when the shared server does not, the test runs a server
of its own that does.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect
from tests.browser.browser_harness import ConsoleServer, running_console
from tests.browser.flows import (
    PASSWORD,
    STILL_FEED,
    Channel,
    NewPage,
    Site,
    chart_size,
    eventually,
    unique,
    unique_email,
)
from tests.fakes.stripe import FakeStripe, WebhookEndpoint
from tests.platform_fixtures import SIGNAL

LOOPBACK = '["127.0.0.1"]'


@pytest.fixture
def gateway_server(console_server: ConsoleServer, tmp_path: Path) -> Iterator[ConsoleServer]:
    """A server that may reach the fake gateway on loopback."""
    if "127.0.0.1" in console_server.env().get("SIGNALBRIDGE_ALLOWED_HOSTS", ""):
        yield console_server
        return
    with running_console(tmp_path / "console", SIGNALBRIDGE_ALLOWED_HOSTS=LOOPBACK) as server:
        yield server


async def _sell_a_plan(
    site: Site, fake: FakeStripe, endpoint: WebhookEndpoint
) -> tuple[Channel, str]:
    """The admin's side: a Stripe gateway on the fake, a plan-only channel, its plan."""
    gateway = await site.ok(
        "POST",
        "/payment-gateways",
        json={
            "name": "Stripe",
            "type": "stripe",
            "config": {
                "api_key": fake.api_key,
                "webhook_secret": endpoint.secret,
                "base_url": fake.base_url,
            },
        },
    )
    endpoint.url = f"{site.base_url}/webhooks/payments/{gateway['id']}"
    channel = await site.webhook_channel("premium", visibility="plan")
    plan_name = unique("Premium")
    await site.ok(
        "POST",
        "/plans",
        json={
            "name": plan_name,
            "prices": {"USD": "29.00"},
            "interval": "month",
            "channel_ids": [channel.id],
        },
    )
    return channel, plan_name


async def _sign_up(page: Page, base: str, email: str) -> None:
    await page.goto(f"{base}/signup")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password (at least 10 characters)").fill(PASSWORD)
    await page.get_by_label("Password again").fill(PASSWORD)
    await page.get_by_role("button", name="Sign up").click()
    await page.wait_for_url(f"{base}/portal")
    await expect(page.get_by_text(email).first).to_be_visible()


async def _pay(
    page: Page, base: str, plan_name: str, fake: FakeStripe, endpoint: WebhookEndpoint
) -> None:
    await page.goto(f"{base}/portal/plans")
    offer = page.get_by_role("article", name=plan_name)
    await offer.get_by_role("button", name="Pay with Stripe (USD)", exact=True).click()
    # off to the gateway's hosted page (the fake's, on loopback)
    await page.wait_for_url(re.compile(re.escape(fake.base_url) + r"/c/pay/cs_"))
    await expect(page.get_by_role("heading", name="Pay 2900 usd")).to_be_visible()
    paid = await page.request.post(page.url)  # the member pays on the hosted page
    assert paid.ok, await paid.text()
    delivered = await asyncio.to_thread(fake.deliver, endpoint)  # Stripe's signed webhooks
    assert delivered and all(status == 200 for _, status in delivered), delivered
    # back to the platform, as Stripe redirects to the success URL
    await page.goto(f"{base}/portal/plans/return?checkout=success")

    async def is_paid() -> bool:
        if await page.get_by_text("is paid. Your plan is active.").count():
            return True
        await page.reload()
        return False

    await eventually(is_paid, what="the payment shown as paid")
    await expect(page.get_by_text(plan_name).first).to_be_visible()


async def _connect_paper_account(page: Page, base: str) -> str:
    name = unique("my-paper")
    await page.goto(f"{base}/portal/connections")
    await page.goto(f"{base}/portal/connections/new?type=paper")
    await page.get_by_label("Name", exact=True).fill(name)
    await page.get_by_label("Futures (linear perpetuals) rather than spot").check()
    await page.get_by_text("Advanced settings").click()
    await page.get_by_label("More configuration as a JSON object").fill(STILL_FEED)
    await page.get_by_role("button", name="Test and save").click()
    await page.wait_for_url(re.compile(r"/portal/connections/\d+\?done=saved"))
    await expect(page.get_by_role("status")).to_contain_text("the connection test passed")
    return name


async def _follow(page: Page, base: str, channel: Channel, account: str) -> None:
    await page.goto(f"{base}/portal/follows")
    await page.get_by_label("Channel", exact=True).select_option(label=f"{channel.name} (plan)")
    await page.get_by_label("Account", exact=True).select_option(label=f"{account} (paper)")
    await page.get_by_label("Sizing mode").select_option("fixed_quote")
    await page.get_by_label("Amount or percentage").fill("100")
    await expect(page.get_by_label("Auto-execute", exact=False)).to_be_checked()
    await page.get_by_role("button", name="Follow", exact=True).click()
    await page.wait_for_url(re.compile(r"/portal/follows\?done=created"))
    table = page.get_by_role("table", name="Your follows, newest first")
    await expect(table.get_by_role("row").filter(has_text=channel.name)).to_be_visible()


async def test_member_signs_up_pays_follows_and_sees_the_position(
    new_page: NewPage, gateway_server: ConsoleServer
) -> None:
    site = Site.of(gateway_server)
    base = site.base_url
    with FakeStripe() as fake:
        endpoint = fake.add_endpoint()
        channel, plan_name = await _sell_a_plan(site, fake, endpoint)
        page = await new_page()
        await _sign_up(page, base, unique_email("journey"))
        await _pay(page, base, plan_name, fake, endpoint)
    account = await _connect_paper_account(page, base)
    await _follow(page, base, channel, account)

    # the positions page listens (SSE) while the provider posts a signal
    await page.goto(f"{base}/portal/positions")
    rows = page.locator("#positions-rows")
    await expect(rows).to_contain_text("No positions.")
    signal_id = int((await site.post_signal(channel, SIGNAL))["signal_id"])
    row = rows.get_by_role("row").filter(has_text=channel.name)
    await expect(row).to_be_visible(timeout=20_000)  # live: the page was not reloaded
    await expect(row).to_contain_text("BTC/USDT")
    await expect(row).to_contain_text(account)
    mine = [p for p in await site.positions(signal_id=signal_id) if p["status"] == "open"]
    link = row.get_by_role("link")
    assert await link.inner_text() in {f"#{p['id']}" for p in mine}

    await link.click()
    await page.wait_for_url(re.compile(r"/portal/positions/\d+$"))
    await expect(page.get_by_role("heading", level=1)).to_contain_text("long BTC/USDT")
    width, height = await chart_size(page, "#position-chart")
    assert width > 100 and height > 100, (width, height)
