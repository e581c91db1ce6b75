"""API tokens through HTTP: expiry, listing, creation within the caller's scopes, revocation,
ownership (another user's token is a 404), and the coarse last-used bookkeeping."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from tests.platform_fixtures import Harness

from signalbridge.services.auth import TokenUsage, create_token
from signalbridge.store import models as m
from signalbridge.store.types import utcnow

PASSWORD = "a long enough password"


async def member(h: Harness, email: str, role: str = "member") -> tuple[int, str]:
    """A user made by the admin, logged in through the API: (user id, token)."""
    user = await h.ok("POST", "/users", json={"email": email, "password": PASSWORD, "role": role})
    login = await h.client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return int(user["id"]), str(login.json()["token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def call(h: Harness, token: str, method: str, path: str, **kwargs: Any) -> Any:
    return await h.client.request(method, "/api/v1" + path, headers=bearer(token), **kwargs)


def close_to(value: str, expected: datetime, slack: timedelta = timedelta(minutes=2)) -> bool:
    return abs(datetime.fromisoformat(value) - expected) < slack


async def test_every_token_expires_by_default(harness: Harness) -> None:
    h = harness
    days = h.container.settings.token_days
    assert days == 90
    mine = (await h.ok("GET", "/tokens"))["items"]
    assert len(mine) == 1 and mine[0]["name"] == "first admin token" and mine[0]["current"]
    assert close_to(mine[0]["expires_at"], utcnow() + timedelta(days=days))
    made = await h.ok("POST", "/tokens", json={"name": "ci", "scopes": ["signals:read"]})
    assert made["token"].startswith("sbt_") and made["prefix"] == made["token"][:8]
    assert close_to(made["expires_at"], utcnow() + timedelta(days=days))
    _, login_token = await member(h, "m@example.com")
    own = (await call(h, login_token, "GET", "/tokens")).json()["items"]
    assert close_to(own[0]["expires_at"], utcnow() + timedelta(days=days))
    # the listing never shows a token's secret or hash
    text = str(await h.ok("GET", "/tokens"))
    assert made["token"] not in text and "token_hash" not in text


async def test_expired_and_revoked_tokens_are_refused(harness: Harness) -> None:
    h = harness
    async with h.container.sessions() as s, s.begin():
        admin = await s.scalar(select(m.User).where(m.User.email == "admin@example.com"))
        assert admin is not None
        _, expired = await create_token(
            s, admin, "old", ["signals:read"], utcnow() - timedelta(seconds=1)
        )
    refused = await call(h, expired, "GET", "/signals")
    assert refused.status_code == 401
    made = await h.ok("POST", "/tokens", json={"name": "soon revoked", "days": 3})
    assert close_to(made["expires_at"], utcnow() + timedelta(days=3))
    assert (await call(h, made["token"], "GET", "/signals")).status_code == 200
    assert (await h.api("DELETE", f"/tokens/{made['id']}")).status_code == 204
    after = await call(h, made["token"], "GET", "/signals")
    assert after.status_code == 401 and after.json() == refused.json()
    listed = {t["id"]: t for t in (await h.ok("GET", "/tokens"))["items"]}
    assert listed[made["id"]]["revoked_at"] is not None and not listed[made["id"]]["active"]
    # revoking again is harmless and keeps the first time
    first = listed[made["id"]]["revoked_at"]
    assert (await h.api("DELETE", f"/tokens/{made['id']}")).status_code == 204
    again = {t["id"]: t for t in (await h.ok("GET", "/tokens"))["items"]}
    assert again[made["id"]]["revoked_at"] == first
    audit = (await h.ok("GET", "/audit"))["items"]
    assert [a["action"] for a in audit if a["entity"] == "token"].count("revoke") == 1


async def test_a_token_can_revoke_itself(harness: Harness) -> None:
    h = harness
    _, token = await member(h, "m@example.com")
    own = (await call(h, token, "GET", "/tokens")).json()["items"]
    assert (await call(h, token, "DELETE", f"/tokens/{own[0]['id']}")).status_code == 204
    assert (await call(h, token, "GET", "/tokens")).status_code == 401


async def test_another_users_token_answers_like_a_missing_one(harness: Harness) -> None:
    h = harness
    a_id, a_token = await member(h, "a@example.com")
    b_id, b_token = await member(h, "b@example.com")
    b_tokens = (await call(h, b_token, "GET", "/tokens")).json()["items"]
    a_tokens = (await call(h, a_token, "GET", "/tokens")).json()["items"]
    assert [t["user_id"] for t in a_tokens] == [a_id]
    b_token_id = b_tokens[0]["id"]
    missing_id = b_token_id + 1000
    theirs = await call(h, a_token, "DELETE", f"/tokens/{b_token_id}")
    missing = await call(h, a_token, "DELETE", f"/tokens/{missing_id}")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["error"]["message"].replace(str(b_token_id), "N") == missing.json()[
        "error"
    ]["message"].replace(str(missing_id), "N")
    assert (await call(h, b_token, "GET", "/signals")).status_code == 200  # still valid
    # listing someone else's tokens: a 404 like a user that does not exist
    other = await call(h, a_token, "GET", "/tokens", params={"user_id": b_id})
    nobody = await call(h, a_token, "GET", "/tokens", params={"user_id": b_id + 1000})
    assert other.status_code == nobody.status_code == 404
    assert other.json()["error"]["message"].replace(str(b_id), "N") == nobody.json()["error"][
        "message"
    ].replace(str(b_id + 1000), "N")
    # an operator is no admin here either
    _, op_token = await member(h, "op@example.com", role="operator")
    assert (await call(h, op_token, "DELETE", f"/tokens/{b_token_id}")).status_code == 404
    # the admin sees and revokes anyone's
    seen = await h.ok("GET", "/tokens", params={"user_id": b_id})
    assert [t["id"] for t in seen["items"]] == [b_token_id]
    assert (await h.api("GET", "/tokens", params={"user_id": b_id + 1000})).status_code == 404
    assert (await h.api("DELETE", f"/tokens/{b_token_id}")).status_code == 204
    assert (await call(h, b_token, "GET", "/signals")).status_code == 401


async def test_new_tokens_are_never_wider_nor_longer_lived_than_the_caller(
    harness: Harness,
) -> None:
    h = harness
    _, token = await member(h, "m@example.com")
    mine = (await call(h, token, "GET", "/tokens")).json()["items"][0]
    narrow = await call(
        h, token, "POST", "/tokens", json={"name": "ro", "scopes": ["signals:read"]}
    )
    assert narrow.status_code == 201, narrow.text
    assert narrow.json()["scopes"] == ["signals:read"]
    for scopes in (["admin"], ["users:write", "admin"], ["channels:write"]):
        wider = await call(
            h, narrow.json()["token"], "POST", "/tokens", json={"name": "x", "scopes": scopes}
        )
        assert wider.status_code == 403, scopes
    as_member = await call(h, token, "POST", "/tokens", json={"name": "x", "scopes": ["admin"]})
    assert as_member.status_code == 403
    unknown = await call(h, token, "POST", "/tokens", json={"name": "x", "scopes": ["root"]})
    assert unknown.status_code == 422
    same = await call(h, token, "POST", "/tokens", json={"name": "copy"})
    assert same.status_code == 201 and same.json()["scopes"] == mine["scopes"]
    # a child never outlives its parent: asking for ten years gets the parent's expiry
    long = await call(h, token, "POST", "/tokens", json={"name": "long", "days": 3650})
    assert long.status_code == 201
    assert long.json()["expires_at"] == mine["expires_at"]
    for bad in ({"name": "", "days": 1}, {"name": "x", "days": 0}, {"name": "x", "scopes": []}):
        assert (await call(h, token, "POST", "/tokens", json=bad)).status_code == 422, bad
    # the admin may hand out the admin scope
    admin_made = await h.ok("POST", "/tokens", json={"name": "root", "scopes": ["admin"]})
    assert admin_made["scopes"] == ["admin"]
    created = [a for a in (await h.ok("GET", "/audit"))["items"] if a["entity"] == "token"]
    assert all(admin_made["token"] not in str(a) for a in created)


@pytest.mark.parametrize("bad", ["0", "-1", str(2**63), str(2**64), "x"])
async def test_token_ids_out_of_range_are_refused(harness: Harness, bad: str) -> None:
    response = await harness.api("DELETE", f"/tokens/{bad}")
    assert response.status_code == 422
    listing = await harness.api("GET", "/tokens", params={"user_id": bad})
    assert listing.status_code == 422


async def test_anonymous_callers_get_401(harness: Harness) -> None:
    c = harness.client
    for method, path in (("GET", "/tokens"), ("POST", "/tokens"), ("DELETE", "/tokens/1")):
        response = await c.request(method, "/api/v1" + path, json={"name": "x"})
        assert response.status_code == 401, (method, path)


class FakeClock:
    """Wall-clock time that a test moves by hand."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def test_last_used_is_written_at_most_once_a_minute(harness: Harness) -> None:
    h = harness
    clock = FakeClock()
    usage = TokenUsage(h.container.sessions, clock=clock)
    h.container.token_usage = usage
    made = await h.ok("POST", "/tokens", json={"name": "counted", "scopes": ["signals:read"]})
    await usage.drain()  # the admin token's own use
    writes_before = usage.writes

    async def last_used() -> datetime | None:
        await usage.drain()
        async with h.container.sessions() as s:
            value: datetime | None = await s.scalar(
                select(m.ApiToken.last_used_at).where(m.ApiToken.id == made["id"])
            )
            return value

    assert await last_used() is None
    start = clock.now
    for _ in range(5):
        assert (await call(h, made["token"], "GET", "/signals")).status_code == 200
    assert await last_used() == start
    assert usage.writes == writes_before + 1
    for _ in range(3):
        clock.advance(19)  # 57 s after the first write
        assert (await call(h, made["token"], "GET", "/signals")).status_code == 200
    assert await last_used() == start and usage.writes == writes_before + 1
    clock.advance(4)  # 61 s
    for _ in range(3):
        assert (await call(h, made["token"], "GET", "/signals")).status_code == 200
    assert await last_used() == clock.now
    assert usage.writes == writes_before + 2
    listed = {t["id"]: t for t in (await h.ok("GET", "/tokens"))["items"]}
    assert datetime.fromisoformat(listed[made["id"]]["last_used_at"]) == clock.now


async def test_last_used_write_is_skipped_when_another_process_wrote_recently(
    harness: Harness,
) -> None:
    """Two processes (two TokenUsage objects): the stored value keeps them at once a minute."""
    h = harness
    clock = FakeClock()
    first = TokenUsage(h.container.sessions, clock=clock)
    second = TokenUsage(h.container.sessions, clock=clock)
    made = await h.ok("POST", "/tokens", json={"name": "shared", "scopes": ["signals:read"]})
    assert first.note(made["id"], None) and second.note(made["id"], None)
    await first.flush()
    await second.flush()  # read the old value before the first wrote: its UPDATE matches nothing
    assert first.writes == 1 and second.writes == 0
    async with h.container.sessions() as s, s.begin():
        await s.execute(update(m.ApiToken).values(last_used_at=None))
    assert not first.note(made["id"], None)  # this process wrote less than a minute ago


async def test_a_demoted_admins_tokens_lose_the_admin_scope(harness: Harness) -> None:
    h = harness
    second, token = await member(h, "second@example.com", role="admin")
    plan = {"name": "admins only", "prices": {"USD": "1"}}
    assert (await call(h, token, "POST", "/plans", json=plan)).status_code == 201
    await h.ok("PATCH", f"/users/{second}", json={"role": "member"})
    plan["name"] = "not any more"
    assert (await call(h, token, "POST", "/plans", json=plan)).status_code == 403
    others = await call(h, token, "GET", "/tokens", params={"user_id": 1})
    assert others.status_code == 404


async def test_a_new_password_revokes_the_tokens_made_with_the_old_one(harness: Harness) -> None:
    h = harness
    uid, first = await member(h, "pw@example.com")
    login = await h.client.post(
        "/api/v1/auth/login", json={"email": "pw@example.com", "password": PASSWORD}
    )
    second = str(login.json()["token"])
    # the user changes its own password with the second token: that one stays, the first goes
    changed = await call(h, second, "PATCH", f"/users/{uid}", json={"password": "another password"})
    assert changed.status_code == 200, changed.text
    assert (await call(h, first, "GET", "/tokens")).status_code == 401
    assert (await call(h, second, "GET", "/tokens")).status_code == 200
    # an admin resetting it leaves the user no token at all
    await h.ok("PATCH", f"/users/{uid}", json={"password": "a third password"})
    assert (await call(h, second, "GET", "/tokens")).status_code == 401
    audit = await h.ok("GET", "/audit", params={"entity": "user"})
    revoked = [row["changes"].get("logins_revoked") for row in audit["items"]]
    assert 1 in revoked and "another password" not in str(audit)
