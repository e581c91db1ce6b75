"""The portal's overview and positions: a member's paper account copies a signal of a
channel it follows; the overview shows the account, the open position and its PnL and the
signal; the positions pages list, filter and chart it (readable without JavaScript); a
second member sees none of it and gets 404 on its id."""

from __future__ import annotations

import html
import json
import re

from sqlalchemy import func, select
from tests.console_rig import PageClient, logged_in
from tests.platform_fixtures import SIGNAL, Harness, eventually

from signalbridge.store import models as m

_DATA = re.compile(r'<script type="application/json" id="position-data">(.*?)</script>', re.DOTALL)


async def member_with_position(h: Harness, email: str, channel_id: int) -> tuple[PageClient, int]:
    """A member whose paper account follows the channel (set up through the portal)."""
    page = await logged_in(h, email, "member")
    config = {"account_id": email.split("@")[0], "feed": {"seed": 3, "volatility": "0"}}
    made = await page.post(
        "/portal/connections/new",
        {
            "type": "paper",
            "name": f"{email} paper",
            "futures": "on",
            "advanced": json.dumps(config),
        },
    )
    assert made.status_code == 303, made.text
    account = int(made.headers["location"].split("?", 1)[0].rsplit("/", 1)[1])
    follow = await page.post(
        "/portal/follows",
        {
            "channel_id": str(channel_id),
            "connection_id": str(account),
            "sizing.mode": "fixed_quote",
            "sizing.value": "100",
            "sizing.use_signal_leverage": "on",
            "management.native_exits": "on",
            "is_active": "on",
        },
    )
    assert follow.status_code == 303, follow.text
    return page, account


async def positions_of(h: Harness, account: int) -> list[int]:
    async with h.container.sessions() as s:
        rows = await s.scalars(select(m.Position.id).where(m.Position.connection_id == account))
        return list(rows.all())


async def test_overview_positions_and_chart(harness: Harness) -> None:
    h = harness
    channel_id, secret = await h.webhook_channel("Alpha calls", visibility="public")
    alice, alice_account = await member_with_position(h, "alice@example.com", channel_id)
    bob, bob_account = await member_with_position(h, "bob@example.com", channel_id)
    empty = await alice.get("/portal")
    assert empty.status_code == 200 and "No active plan" in empty.text

    sent = await h.post_signal(channel_id, secret, SIGNAL)
    assert sent.status_code == 202, sent.text

    async def both_open() -> bool:
        return bool(await positions_of(h, alice_account)) and bool(
            await positions_of(h, bob_account)
        )

    await eventually(both_open)
    (position_id,) = await positions_of(h, alice_account)
    (bob_position,) = await positions_of(h, bob_account)

    overview = await alice.get("/portal")
    assert overview.status_code == 200
    text = overview.text
    assert "alice@example.com paper" in text and "bob@example.com paper" not in text
    assert "<strong>1</strong> open" in text and "BTC/USDT" in text and "Alpha calls" in text
    assert "<strong>1</strong> account:" in text

    listing = await alice.get("/portal/positions")
    assert listing.status_code == 200
    assert f'href="/portal/positions/{position_id}"' in listing.text
    assert f'href="/portal/positions/{bob_position}"' not in listing.text
    assert (
        'hx-ext="sse"' in listing.text and 'sse-connect="/portal/events/positions"' in listing.text
    )
    assert 'hx-trigger="sse:positions"' in listing.text
    assert "Per follow" in listing.text and "Alpha calls → alice@example.com paper" in listing.text
    closed = await alice.get("/portal/positions?status=closed")
    assert f'href="/portal/positions/{position_id}"' not in closed.text
    by_symbol = await alice.get("/portal/positions?symbol=eth/usdt")
    assert f'href="/portal/positions/{position_id}"' not in by_symbol.text
    by_account = await alice.get(f"/portal/positions?connection_id={alice_account}&status=open")
    assert f'href="/portal/positions/{position_id}"' in by_account.text
    rows = await alice.get(f"/portal/positions/rows?connection_id={alice_account}")
    assert rows.status_code == 200 and rows.text.lstrip().startswith('<tbody id="positions-rows"')
    assert f"connection_id={alice_account}" in rows.text
    assert f'href="/portal/positions/{position_id}"' in rows.text
    assert f'href="/portal/positions/{bob_position}"' not in rows.text

    detail = await alice.get(f"/portal/positions/{position_id}")
    assert detail.status_code == 200
    assert '<div class="chart" id="position-chart"' in detail.text
    assert "/static/js/portal.js" in detail.text
    found = _DATA.search(detail.text)
    assert found is not None
    data = json.loads(html.unescape(found.group(1)))
    assert data["symbol"] == "BTC/USDT" and data["side"] == "long"
    assert data["stop_loss"] == "58000" and data["take_profits"] == ["62000", "64000"]
    assert data["fills"] and data["fills"][0]["leg"].startswith("e")
    # the same data without JavaScript: a table of levels and fills
    assert "Stop loss" in detail.text and "Target 2" in detail.text and "filled" in detail.text

    theirs = await bob.get(f"/portal/positions/{position_id}")
    missing = await bob.get("/portal/positions/999999")
    assert theirs.status_code == missing.status_code == 404
    assert "alice@example.com paper" not in (await bob.get("/portal/positions")).text
    bob_rows = await bob.get(f"/portal/positions/rows?connection_id={alice_account}")
    assert f'href="/portal/positions/{position_id}"' not in bob_rows.text

    anonymous = PageClient(h)
    for path in (
        "/portal",
        "/portal/positions",
        "/portal/positions/rows",
        f"/portal/positions/{position_id}",
    ):
        answer = await anonymous.get(path)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    await anonymous.aclose()
    async with h.container.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(m.Position)) == 2
    await alice.aclose()
    await bob.aclose()


async def test_staff_portal_shows_only_their_own(harness: Harness) -> None:
    h = harness
    channel_id, secret = await h.webhook_channel("Alpha calls", visibility="public")
    alice, alice_account = await member_with_position(h, "alice@example.com", channel_id)
    assert (await h.post_signal(channel_id, secret, SIGNAL)).status_code == 202

    async def opened() -> bool:
        return bool(await positions_of(h, alice_account))

    await eventually(opened)
    (position_id,) = await positions_of(h, alice_account)
    operator = await logged_in(h, "op@example.com", "operator")
    mine = await operator.get("/portal")
    assert mine.status_code == 200 and "alice@example.com paper" not in mine.text
    assert f'/portal/positions/{position_id}"' not in (await operator.get("/portal/positions")).text
    assert (await operator.get(f"/portal/positions/{position_id}")).status_code == 404
    await alice.aclose()
    await operator.aclose()
