"""Manual actions read back (``GET /api/v1/manual-actions``): a member sees the actions it
requested and those on its own connections, never another member's (another's id answers
like a missing one); an operator sees all; the caller's Idempotency-Key is never echoed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from tests.platform_fixtures import Harness, make_settings, running_harness

from signalbridge.services.auth import SCOPES, create_token
from signalbridge.store import models as m

pytestmark = pytest.mark.asyncio(loop_scope="module")
SECRET_KEY = "client-key-visible-to-nobody-7f3a"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def harness(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Harness]:
    tmp = tmp_path_factory.mktemp("manual_actions")
    url = f"sqlite+aiosqlite:///{tmp / 'manual_actions.db'}"
    async with running_harness(make_settings(tmp, url)) as h:
        yield h


async def _user(h: Harness, email: str, role: str) -> dict[str, str]:
    async with h.container.sessions() as s, s.begin():
        user = m.User(email=email, password_hash="-", role=role)  # no argon2: fast
        s.add(user)
        await s.flush()
        _, token = await create_token(s, user, "t", [x for x in SCOPES if x != "admin"])
    return {"Authorization": f"Bearer {token}"}


async def test_members_see_their_own_actions_and_operators_all(harness: Harness) -> None:
    h = harness
    a = await _user(h, "ma-a@example.com", m.Role.MEMBER)
    b = await _user(h, "ma-b@example.com", m.Role.MEMBER)
    ops = await _user(h, "ma-ops@example.com", m.Role.OPERATOR)

    async def call(auth: dict[str, str], method: str, path: str, **kw: Any) -> httpx.Response:
        return await h.client.request(method, "/api/v1" + path, headers=auth, **kw)

    async def ids(auth: dict[str, str], query: str = "") -> list[int]:
        response = await call(auth, "GET", "/manual-actions" + query)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    async def connection(auth: dict[str, str], name: str) -> int:
        config = {"futures": True, "feed": {"seed": 3, "volatility": "0"}, "account_id": name}
        body = {"name": name, "type": "paper", "config": config}
        made = await call(auth, "POST", "/connections", json=body)
        assert made.status_code == 201, made.text
        return int(made.json()["id"])

    async def panic(auth: dict[str, str], path: str, **headers: str) -> int:
        done = await call({**auth, **headers}, "POST", path)
        assert done.status_code == 200, done.text
        return int(done.json()["action_id"])

    conn_a, conn_b = await connection(a, "ma-a"), await connection(b, "ma-b")
    channel_id, _ = await h.webhook_channel("ma-public", visibility="public")
    a_own = await panic(a, f"/connections/{conn_a}/panic", **{"Idempotency-Key": SECRET_KEY})
    a_channel = await panic(a, f"/channels/{channel_id}/panic")  # no connection: requested
    b_own = await panic(b, f"/connections/{conn_b}/panic")
    admin_on_a = await panic(h.auth, f"/connections/{conn_a}/panic")  # done to A's account

    assert await ids(a) == [admin_on_a, a_channel, a_own]  # newest first
    assert await ids(b) == [b_own]
    everyone = await ids(ops)
    assert {a_own, a_channel, b_own, admin_on_a} <= set(everyone)
    assert everyone == sorted(everyone, reverse=True)

    # filters and paging
    assert await ids(a, f"?connection_id={conn_a}") == [admin_on_a, a_own]
    assert await ids(a, f"?channel_id={channel_id}") == [a_channel]
    assert await ids(a, "?kind=panic&status=done&limit=1") == [admin_on_a]
    assert await ids(a, f"?before_id={admin_on_a}&limit=1") == [a_channel]
    assert await ids(b, f"?connection_id={conn_a}") == []
    assert await ids(a, "?status=pending") == []

    # one row: another member's answers exactly like a missing id
    hidden = await call(b, "GET", f"/manual-actions/{a_own}")
    missing = await call(b, "GET", f"/manual-actions/{2**62}")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"]["code"] == missing.json()["error"]["code"]
    assert hidden.text.replace(str(a_own), "#") == missing.text.replace(str(2**62), "#")
    for auth in (a, ops, h.auth):
        seen = await call(auth, "GET", f"/manual-actions/{a_own}")
        assert seen.status_code == 200, seen.text
        body = seen.json()
        assert body["kind"] == "panic" and body["connection_id"] == conn_a
        assert body["keyed"] is True and "idempotency_key" not in body
        assert "fingerprint" not in body["params"]
        assert SECRET_KEY not in seen.text
    listed = await call(a, "GET", "/manual-actions")
    assert SECRET_KEY not in listed.text
    assert (await call(a, "GET", f"/manual-actions/{a_channel}")).json()["keyed"] is False
