"""Password login through HTTP: a token on success, one generic 401 otherwise, 429 once an
account or an address has used its budget, and no password in the audit log, ever."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from limits.aio.storage import RedisStorage
from sqlalchemy import select
from tests.platform_fixtures import Harness, make_settings, running_harness

from signalbridge.services.login import ROLE_SCOPES, LoginThrottle, LoginThrottled
from signalbridge.store import models as m

PASSWORD = "CANARYpassw0rd-Zq81xT"
LOGIN = "/api/v1/auth/login"


async def add_user(h: Harness, email: str, role: str = "member", password: str = PASSWORD) -> int:
    user = await h.ok("POST", "/users", json={"email": email, "password": password, "role": role})
    return int(user["id"])


def client_from(h: Harness, address: str) -> httpx.AsyncClient:
    """A client whose requests come from ``address`` (same platform, same container)."""
    transport = httpx.ASGITransport(app=h.app, raise_app_exceptions=False, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://sb.test")


async def test_login_gives_a_token_with_the_roles_scopes(harness: Harness) -> None:
    h = harness
    for email, role in (("m@example.com", "member"), ("o@example.com", "operator")):
        user_id = await add_user(h, email, role)
        response = await h.client.post(LOGIN, json={"email": email.upper(), "password": PASSWORD})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["user"] == {"id": user_id, "email": email, "role": role}
        assert body["scopes"] == sorted(ROLE_SCOPES[role]) and body["expires_at"]
        me = await h.client.get(
            "/api/v1/tokens", headers={"Authorization": f"Bearer {body['token']}"}
        )
        assert me.status_code == 200 and me.json()["items"][0]["id"] == body["id"]
    admin = await h.client.post(
        LOGIN, json={"email": "admin@example.com", "password": "correct horse battery"}
    )
    assert admin.status_code == 200 and admin.json()["scopes"] == ["admin"]


async def test_every_failure_is_the_same_401(harness: Harness) -> None:
    h = harness
    await add_user(h, "m@example.com")
    gone = await add_user(h, "gone@example.com")
    await h.ok("PATCH", f"/users/{gone}", json={"is_active": False})
    answers = [
        await h.client.post(LOGIN, json=body)
        for body in (
            {"email": "m@example.com", "password": "wrong password"},
            {"email": "nobody@example.com", "password": PASSWORD},
            {"email": "gone@example.com", "password": PASSWORD},  # right password, inactive
        )
    ]
    assert {r.status_code for r in answers} == {401}
    assert len({r.text for r in answers}) == 1
    assert "password" in answers[0].json()["error"]["message"]  # "email or password"
    assert (await h.client.post(LOGIN, json={"email": "m@example.com"})).status_code == 422
    audit = (await h.ok("GET", "/audit"))["items"]
    failed = [a for a in audit if a["action"] == "login_failed"]
    assert sorted(a["changes"]["reason"] for a in failed) == [
        "inactive_user",
        "unknown_user",
        "wrong_password",
    ]
    assert all(a["changes"]["address"] == "127.0.0.1" for a in failed)


async def test_failures_per_account_are_limited(harness: Harness) -> None:
    h = harness
    await add_user(h, "m@example.com")
    await add_user(h, "other@example.com")
    for _ in range(5):
        wrong = await h.client.post(LOGIN, json={"email": "m@example.com", "password": "nope-nope"})
        assert wrong.status_code == 401
    limited = await h.client.post(LOGIN, json={"email": "M@example.com", "password": PASSWORD})
    assert limited.status_code == 429  # even the right password: guessing learns nothing
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.json()["error"]["code"] == "rate_limited"
    # another account from the same address still logs in
    other = await h.client.post(LOGIN, json={"email": "other@example.com", "password": PASSWORD})
    assert other.status_code == 200
    # ... and the same account from another address is limited too (per account)
    async with client_from(h, "10.1.2.3") as elsewhere:
        moved = await elsewhere.post(LOGIN, json={"email": "m@example.com", "password": PASSWORD})
    assert moved.status_code == 429


async def test_a_success_clears_the_accounts_failures(harness: Harness) -> None:
    h = harness
    await add_user(h, "m@example.com")
    for _ in range(4):
        await h.client.post(LOGIN, json={"email": "m@example.com", "password": "nope-nope"})
    ok = await h.client.post(LOGIN, json={"email": "m@example.com", "password": PASSWORD})
    assert ok.status_code == 200
    for _ in range(4):
        again = await h.client.post(LOGIN, json={"email": "m@example.com", "password": "nope"})
        assert again.status_code == 401


async def test_failures_per_address_are_limited(harness: Harness) -> None:
    h = harness
    await add_user(h, "m@example.com")
    async with client_from(h, "198.51.100.7") as attacker, client_from(h, "203.0.113.9") as user:
        for n in range(20):
            guess = {"email": f"victim{n}@example.com", "password": "guess-guess"}
            assert (await attacker.post(LOGIN, json=guess)).status_code == 401
        blocked = await attacker.post(LOGIN, json={"email": "m@example.com", "password": PASSWORD})
        assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) >= 1
        fine = await user.post(LOGIN, json={"email": "m@example.com", "password": PASSWORD})
        assert fine.status_code == 200


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield str(key)
            yield from _keys(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _keys(inner)


async def test_no_password_reaches_the_audit_log(harness: Harness) -> None:
    h = harness
    new_password = "CANARYnewpass-88Hq2w"
    user_id = await add_user(h, "m@example.com")
    await h.ok("PATCH", f"/users/{user_id}", json={"password": new_password, "role": "operator"})
    await h.client.post(LOGIN, json={"email": "m@example.com", "password": PASSWORD})  # old: 401
    await h.client.post(LOGIN, json={"email": "m@example.com", "password": new_password})
    await h.client.post(LOGIN, json={"email": "nobody@example.com", "password": PASSWORD})
    async with h.container.sessions() as s:
        rows = (await s.scalars(select(m.AuditEntry))).all()
    texts = [json.dumps(r.changes) for r in rows]
    assert {r.action for r in rows} >= {"create", "update", "login", "login_failed"}
    for text, row in zip(texts, rows, strict=True):
        for secret in (PASSWORD, new_password, PASSWORD[-4:], new_password[-4:]):
            assert secret not in text, (row.action, text)
        assert not [k for k in _keys(row.changes) if "password" in k.lower()], text
    update = next(r for r in rows if r.action == "update" and r.entity == "user")
    assert update.changes == {
        "role": ["member", "operator"],
        "credentials_changed": ["password"],
        "logins_revoked": 0,  # the user had no token yet
    }
    # and through the API, as an admin reads it
    assert PASSWORD not in str(await h.ok("GET", "/audit"))


@pytest.mark.parametrize("limit", ["2/minute"])
async def test_budgets_live_in_redis_when_configured(limit: str) -> None:
    """Two processes (two throttles) on one Redis share one budget."""
    import redis.asyncio

    try:
        probe = redis.asyncio.Redis.from_url("redis://127.0.0.1:6379/0")
        await probe.ping()
        await probe.aclose()
    except OSError:
        pytest.skip("Redis is not reachable")
    prefix = f"sbtest-{uuid.uuid4().hex[:8]}"

    def throttle() -> LoginThrottle:
        storage = RedisStorage(
            "async+redis://127.0.0.1:6379/0", implementation="redispy", key_prefix=prefix
        )
        return LoginThrottle(storage, per_account=limit, per_address="100/minute")

    one, two = throttle(), throttle()
    await one.attempt("m@example.com", "192.0.2.1")
    await two.attempt("m@example.com", "192.0.2.2")
    with pytest.raises(LoginThrottled) as caught:
        await one.attempt("M@example.com ", "192.0.2.3")
    assert 1 <= caught.value.retry_after <= 60
    await two.succeeded("m@example.com")
    await one.attempt("m@example.com", "192.0.2.1")


async def test_limits_are_settings(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, login_limit_per_account="2/minute")
    async with running_harness(settings) as h:
        await add_user(h, "m@example.com")
        answers = [
            (
                await h.client.post(LOGIN, json={"email": "m@example.com", "password": "x"})
            ).status_code
            for _ in range(3)
        ]
        assert answers == [401, 401, 429]
