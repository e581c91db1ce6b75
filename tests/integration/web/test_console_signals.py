"""The signal pages over HTTP: the list (channel and status filters, newest first, paged
by ``before_id``) and one signal with its raw message (escaped), parse, confidence, stage
timings, executions and AI analysis; staff only."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select
from tests.console_rig import PageClient, logged_in
from tests.platform_fixtures import Harness, eventually

from signalbridge.store import models as m
from signalbridge.store.types import utcnow

RAW = "<script>alert('x')</script>\nBTC long 60000 SL 58000"


async def seed(h: Harness, channel_id: int, n: int, status: str = "accepted") -> list[int]:
    """``n`` signals on a channel, with a message each and known stage times."""
    ids = []
    start = utcnow() - timedelta(minutes=5)
    async with h.container.sessions() as s, s.begin():
        for i in range(n):
            message = m.Message(
                channel_id=channel_id, external_id=f"{status}-{channel_id}-{i}", text=RAW
            )
            s.add(message)
            await s.flush()
            signal = m.Signal(
                message_id=message.id,
                channel_id=channel_id,
                symbol="BTC/USDT",
                side="long",
                order_type="limit",
                entry_low=Decimal("60000"),
                entry_high=Decimal("60000"),
                stop_loss=Decimal("58000"),
                take_profits=["62000"],
                confidence=Decimal("0.75"),
                status=status,
                received_at=start,
                parsed_at=start + timedelta(milliseconds=250),
                dispatched_at=start + timedelta(milliseconds=1250),
                parsed_by="rules",
            )
            s.add(signal)
            await s.flush()
            ids.append(signal.id)
    return ids


def listed(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<a href="/console/signals/(\d+)">', html)]


async def test_signal_pages_are_for_staff(harness: Harness) -> None:
    channel_id, _ = await harness.webhook_channel("guarded", visibility="public")
    [signal_id] = await seed(harness, channel_id, 1)
    anon = PageClient(harness)
    for path in ("/console/signals", f"/console/signals/{signal_id}"):
        away = await anon.get(path)
        assert away.status_code == 303 and away.headers["location"].startswith("/login?next=")
    member = await logged_in(harness, "member@example.com", "member")
    for path in ("/console/signals", f"/console/signals/{signal_id}"):
        assert (await member.get(path)).status_code == 403
    await anon.aclose()
    await member.aclose()


async def test_list_filters_and_pages(harness: Harness) -> None:
    h = harness
    one, _ = await h.webhook_channel("one")
    two, _ = await h.webhook_channel("two")
    first = await seed(h, one, 52)
    review = await seed(h, two, 2, status="review")
    staff = await logged_in(h, "op@example.com", "operator")
    page = await staff.get("/console/signals")
    assert page.status_code == 200
    shown = listed(page.text)
    assert shown == sorted(first + review, reverse=True)[:50]  # newest first, 50 a page
    older = re.search(r'href="(/console/signals\?before_id=\d+)" rel="next"', page.text)
    assert older, "no link to older signals"
    rest = await staff.get(older.group(1))
    assert listed(rest.text) == sorted(first)[:4][::-1]
    assert 'rel="next"' not in rest.text
    by_channel = await staff.get(f"/console/signals?channel_id={two}&status=")
    assert listed(by_channel.text) == review[::-1]
    by_status = await staff.get("/console/signals?status=review")
    assert listed(by_status.text) == review[::-1]
    assert 'value="review" selected' in by_status.text
    nothing = await staff.get(f"/console/signals?channel_id={one}&status=review")
    assert listed(nothing.text) == [] and "No signals." in nothing.text
    bad = await staff.get("/console/signals?channel_id=abc")
    assert bad.status_code == 422 and "channel_id" in bad.text
    await staff.aclose()


async def test_one_signal_in_full(harness: Harness) -> None:
    h = harness
    channel_id, _ = await h.webhook_channel("full")
    [signal_id] = await seed(h, channel_id, 1)
    async with h.container.sessions() as s, s.begin():
        s.add(
            m.SignalAnalysis(
                signal_id=signal_id,
                prompt_version="v1",
                status="done",
                trend="up",
                risk="low",
                recommendation="take",
                reasons=["momentum <strong>"],
                cost=Decimal("0.0012"),
                model="fake-model",
                raw='{"trend": "up"}',
            )
        )
    staff = await logged_in(h, "admin2@example.com", "admin")
    page = await staff.get(f"/console/signals/{signal_id}")
    assert page.status_code == 200, page.text
    html = page.text
    assert html.count("<h1>") == 1
    # the raw message, escaped and pre-wrapped
    assert "<script>alert" not in html
    assert '<pre class="raw">&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;\nBTC long' in html
    # the parse and its confidence
    for field in ("BTC/USDT", "58000", "62000", "0.75", "rules"):
        assert field in html
    # stage timings with the time after receipt
    assert '<th scope="row">parsed</th>' in html and ">250<" in html and ">1250<" in html
    assert "not yet" in html  # no order sent
    # the AI analysis, with what it cost (staff)
    assert "take" in html and "fake-model" in html and "0.0012" in html
    assert "momentum &lt;strong&gt;" in html
    assert (await staff.get("/console/signals/999999")).status_code == 404
    assert (await staff.get("/console/signals/0")).status_code == 422
    await staff.aclose()


async def test_a_signal_links_its_executions(harness: Harness) -> None:
    h = harness
    channel_id, secret = await h.webhook_channel("traded")
    connection_id = await h.paper_connection("traded-paper")
    await h.follow(channel_id, connection_id, management={"native_exits": False})
    body = {
        "kind": "signal",
        "symbol": "BTC/USDT",
        "side": "long",
        "order_type": "market",
        "stop_loss": "58000",
        "take_profits": ["65000"],
    }
    answer = await h.post_signal(channel_id, secret, body)
    assert answer.status_code == 202, answer.text
    signal_id = answer.json()["signal_id"]
    staff = await logged_in(h, "op@example.com", "operator")

    async def executed() -> bool:  # the position open: nothing left under way
        async with h.container.sessions() as s:
            found = await s.scalar(select(m.Position.id).where(m.Position.signal_id == signal_id))
        return found is not None

    await eventually(executed)
    page = await staff.get(f"/console/signals/{signal_id}")
    assert page.status_code == 200
    assert re.search(r'<a href="/console/executions/\d+">', page.text)
    assert "traded-paper" in page.text
    assert "&#34;symbol&#34;: &#34;BTC/USDT&#34;" in page.text  # the webhook's JSON, as posted
    await staff.aclose()
