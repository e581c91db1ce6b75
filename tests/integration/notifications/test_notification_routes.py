"""End to end through HTTP: a member asks for a link code, the bot links its chat, the
member chooses events; a signal on a followed channel fills on the member's paper
account and the notices land in the outbox for the right chats only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from tests.platform_fixtures import SIGNAL, Harness, eventually, make_settings, running_harness

from signalbridge.integrations.ratelimit import RateLimiter
from signalbridge.notifications.bot import LinkHandler
from signalbridge.notifications.sender import TelegramLimits
from signalbridge.services.auth import SCOPES, create_token, create_user
from signalbridge.store import models as m


class Replies:
    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []

    async def send_message(self, chat_id: int, text: str) -> dict[str, Any]:
        self.sent.append((chat_id, text))
        return {"message_id": len(self.sent)}


async def member(h: Harness, email: str) -> dict[str, str]:
    async with h.container.sessions() as s, s.begin():
        user = await create_user(s, email, "a long enough password", m.Role.MEMBER)
        _, token = await create_token(s, user, "t", [x for x in SCOPES if x != "admin"])
    return {"Authorization": f"Bearer {token}"}


async def link(h: Harness, handler: LinkHandler, auth: dict[str, str], chat_id: int) -> int:
    r = await h.client.post("/api/v1/notifications/link-code", headers=auth)
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    update = {"update_id": chat_id, "message": {"chat": {"id": chat_id}, "text": f"/link {code}"}}
    assert await handler.handle_update(update) is True
    chats = (await h.client.get("/api/v1/notifications/chats", headers=auth)).json()["items"]
    return int(next(c["id"] for c in chats if c["chat_id"] == chat_id))


async def test_settings_linking_and_notices_end_to_end(tmp_path: Path, database_url: str) -> None:
    async with running_harness(make_settings(tmp_path, database_url)) as h:
        replies = Replies()
        handler = LinkHandler(h.container.sessions, replies, TelegramLimits(RateLimiter()))
        alice, bob = await member(h, "alice@example.com"), await member(h, "bob@example.com")
        chat_a = await link(h, handler, alice, 5001)
        chat_b = await link(h, handler, bob, 5002)
        chat_admin = await link(h, handler, h.auth, 5003)

        # settings: alice wants fills and closes only; a staff-only kind is refused
        url = f"/api/v1/notifications/chats/{chat_a}"
        r = await h.client.patch(url, headers=alice, json={"events": ["signal_published"]})
        assert r.status_code == 422, r.text
        r = await h.client.patch(url, headers=alice, json={"events": ["no_such_kind"]})
        assert r.status_code == 422
        r = await h.client.patch(
            url, headers=alice, json={"events": ["position_closed", "order_filled"]}
        )
        assert r.status_code == 200, r.text
        assert r.json()["events"] == ["order_filled", "position_closed"]
        # bob cannot see or change alice's chat: the answer a missing id gets
        theirs = await h.client.patch(url, headers=bob, json={"is_active": False})
        missing = await h.client.patch(
            "/api/v1/notifications/chats/999999", headers=bob, json={"is_active": False}
        )
        assert theirs.status_code == missing.status_code == 404
        assert theirs.json()["error"]["message"].replace(str(chat_a), "<id>") == missing.json()[
            "error"
        ]["message"].replace("999999", "<id>")
        listed = (await h.client.get("/api/v1/notifications/chats", headers=bob)).json()
        assert [c["id"] for c in listed["items"]] == [chat_b]

        # a public channel alice follows with a paper account; the admin owns the channel
        channel = await h.ok(
            "POST", "/channels", json={"name": "Calls", "type": "webhook", "visibility": "public"}
        )
        body = {
            "name": "paper",
            "type": "paper",
            "config": {"futures": True, "feed": {"seed": 3, "volatility": "0"}},
        }
        r = await h.client.post("/api/v1/connections", headers=alice, json=body)
        assert r.status_code == 201, r.text
        follow = {
            "channel_id": channel["id"],
            "connection_id": r.json()["id"],
            "sizing": {"mode": "fixed_quote", "value": "100"},
        }
        r = await h.client.post("/api/v1/follows", headers=alice, json=follow)
        assert r.status_code == 201, r.text
        secret = channel["generated_secrets"]["secret"]
        posted = await h.post_signal(channel["id"], secret, SIGNAL)
        assert posted.status_code == 202, posted.text

        async def filled() -> bool:
            async with h.container.sessions() as s:
                kinds = (await s.scalars(select(m.NotificationOutbox.kind))).all()
                return "order_filled" in kinds

        await eventually(filled, timeout=30)
        async with h.container.sessions() as s:
            rows = (await s.scalars(select(m.NotificationOutbox))).all()
        seen = {(r.chat_ref_id, r.kind) for r in rows}
        assert (chat_admin, "signal_published") in seen  # the channel's owner, staff
        assert (chat_a, "order_filled") in seen
        assert all(ref != chat_b for ref, _ in seen)  # bob follows nothing: told nothing
        assert all(kind != "signal_published" for ref, kind in seen if ref == chat_a)

        # unlinking drops the chat and its unsent notices
        r = await h.client.delete(url, headers=alice)
        assert r.status_code == 204
        assert (await h.client.get(url, headers=alice)).status_code == 404
        async with h.container.sessions() as s:
            left = (await s.scalars(select(m.NotificationOutbox.chat_ref_id))).all()
        assert chat_a not in left
