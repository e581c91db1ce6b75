"""Notification settings in the portal: a one-time link code with the instructions (shown
on the answer, never in a URL), the chat it links, its events switched on and off, a
pause, an unlink; another user's chat is a 404."""

from __future__ import annotations

import re

from sqlalchemy import select
from tests.console_rig import PageClient, logged_in
from tests.platform_fixtures import Harness

from signalbridge.notifications.events import kinds_for
from signalbridge.notifications.linking import redeem
from signalbridge.store import models as m
from signalbridge.store.types import utcnow

_CODE = re.compile(r'<code class="link-code">([^<]+)</code>')


async def chat_row(h: Harness, row_id: int) -> m.NotificationChat | None:
    async with h.container.sessions() as s:
        return await s.get(m.NotificationChat, row_id)


async def test_link_a_chat_choose_events_and_unlink(harness: Harness) -> None:
    h = harness
    alice = await logged_in(h, "alice@example.com", "member")
    first = await alice.get("/portal/notifications")
    assert first.status_code == 200 and "No chat is linked yet" in first.text

    issued = await alice.post("/portal/notifications/link-code")
    assert issued.status_code == 200 and "location" not in issued.headers
    assert issued.headers["cache-control"] == "no-store"
    found = _CODE.search(issued.text)
    assert found is not None
    code = found.group(1)
    assert f"/start {code}" in issued.text and "shown only once" in issued.text
    assert code not in (await alice.get("/portal/notifications")).text  # shown once

    async with h.container.sessions() as s, s.begin():
        linked = await redeem(s, code, 4242, "Alice's phone", utcnow())
    chat_id = linked.chat_ref_id
    page = await alice.get("/portal/notifications")
    assert "Alice&#39;s phone" in page.text
    member_kinds = kinds_for("member")
    for kind in member_kinds:
        assert f'value="{kind}"' in page.text

    chosen = list(member_kinds[:2])
    saved = await alice.post(
        f"/portal/notifications/chats/{chat_id}",
        {"events": chosen},  # type: ignore[dict-item]
    )
    assert saved.status_code == 303 and saved.headers["location"].endswith("done=saved")
    row = await chat_row(h, chat_id)
    assert row is not None and row.events == chosen and row.is_active is False
    assert "settings are saved" in (await alice.get(saved.headers["location"])).text
    again = await alice.post(
        f"/portal/notifications/chats/{chat_id}",
        {"events": [chosen[0], "signal_published"], "is_active": "on"},  # type: ignore[dict-item]
    )
    assert again.status_code == 422 and "not available" in again.text
    row = await chat_row(h, chat_id)
    assert row is not None and row.events == chosen  # nothing changed

    bob = await logged_in(h, "bob@example.com", "member")
    assert "Alice&#39;s phone" not in (await bob.get("/portal/notifications")).text
    assert (await bob.post(f"/portal/notifications/chats/{chat_id}", {})).status_code == 404
    assert (await bob.post(f"/portal/notifications/chats/{chat_id}/unlink")).status_code == 404
    admin = await logged_in(h, "root@example.com", "admin")
    assert (await admin.post(f"/portal/notifications/chats/{chat_id}", {})).status_code == 404
    assert await chat_row(h, chat_id) is not None

    gone = await alice.post(f"/portal/notifications/chats/{chat_id}/unlink")
    assert gone.status_code == 303 and await chat_row(h, chat_id) is None
    async with h.container.sessions() as s:
        left = await s.scalar(select(m.NotificationChat.id))
    assert left is None

    anonymous = PageClient(h)
    out = await anonymous.get("/portal/notifications")
    assert out.status_code == 303 and out.headers["location"].startswith("/login")
    for client in (alice, bob, admin, anonymous):
        await client.aclose()
