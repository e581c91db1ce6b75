"""The console's members pages over HTTP: who may open them, approving a pending sign-up
(the member can then log in), reset requests and single-use reset links made by staff,
and the admins' role, activation and revocation of a user's logins."""

from __future__ import annotations

import re

from sqlalchemy import select
from tests.console_rig import PageClient, logged_in, make_user
from tests.platform_fixtures import Harness, make_settings, running_harness

from signalbridge.store import models as m

PASSWORD = "long password 1"


async def audit_rows(h: Harness, entity: str, entity_id: int | None = None) -> list[m.AuditEntry]:
    query = select(m.AuditEntry).where(m.AuditEntry.entity == entity)
    if entity_id is not None:
        query = query.where(m.AuditEntry.entity_id == str(entity_id))
    async with h.container.sessions() as s:
        return list((await s.scalars(query.order_by(m.AuditEntry.id))).all())


async def user_id(h: Harness, email: str) -> int:
    async with h.container.sessions() as s:
        found = await s.scalar(select(m.User.id).where(m.User.email == email))
    assert found is not None
    return found


async def test_who_may_open_the_members_pages(harness: Harness) -> None:
    h = harness
    member_id = await make_user(h, "alice@example.com", "member")
    anon = PageClient(h)
    for path in ("/console/members", f"/console/members/{member_id}"):
        gone = await anon.get(path)
        assert gone.status_code == 303 and gone.headers["location"].startswith("/login")
    member = await logged_in(h, "bob@example.com", "member")
    assert (await member.get("/console/members")).status_code == 403
    assert (await member.get(f"/console/members/{member_id}")).status_code == 403
    for action in ("approve", "reset-link", "deactivate", "role", "revoke"):
        refused = await member.post(f"/console/members/{member_id}/{action}", {"role": "admin"})
        assert refused.status_code == 403, action
    operator = await logged_in(h, "op@example.com", "operator")
    listed = await operator.get("/console/members")
    assert listed.status_code == 200 and "alice@example.com" in listed.text
    assert "bob@example.com" in listed.text
    # a login is in the audit log: the list shows it
    row = next(r for r in listed.text.split("<tr>") if "bob@example.com" in r)
    assert "never" not in row
    detail = await operator.get(f"/console/members/{member_id}")
    assert detail.status_code == 200 and "Make a password reset link" in detail.text
    assert "Change the role" not in detail.text and "API tokens" not in detail.text
    assert (await operator.get("/console/members/999999")).status_code == 404
    admin = await logged_in(h, "boss@example.com", "admin")
    page = await admin.get(f"/console/members/{member_id}")
    assert "Change the role" in page.text and "API tokens" in page.text
    filtered = await admin.get("/console/members?role=operator")
    assert "op@example.com" in filtered.text and "alice@example.com" not in filtered.text
    searched = await admin.get("/console/members?q=ALI")
    assert "alice@example.com" in searched.text and "bob@example.com" not in searched.text
    for client in (anon, member, operator, admin):
        await client.aclose()


async def test_an_operator_approves_a_sign_up_and_the_member_logs_in(
    tmp_path,
    database_url,  # type: ignore[no-untyped-def]
) -> None:
    settings = make_settings(tmp_path, database_url, signup="approval")
    async with running_harness(settings) as h:
        newcomer = PageClient(h)
        await newcomer.get("/signup")
        answer = await newcomer.post(
            "/signup",
            {"email": "wait@example.com", "password": PASSWORD, "password_again": PASSWORD},
        )
        assert answer.status_code == 200
        await newcomer.get("/login")
        early = await newcomer.post("/login", {"email": "wait@example.com", "password": PASSWORD})
        assert early.status_code == 401
        waiting = await user_id(h, "wait@example.com")

        operator = await logged_in(h, "op@example.com", "operator")
        listed = await operator.get("/console/members")
        assert "Sign-ups waiting for approval" in listed.text
        assert f"/console/members/{waiting}/approve" in listed.text
        forged = await operator.http.post(
            f"/console/members/{waiting}/approve", data={"back": "list"}
        )
        assert forged.status_code == 403
        approved = await operator.post(f"/console/members/{waiting}/approve", {"back": "list"})
        assert approved.status_code == 303
        assert approved.headers["location"] == "/console/members?done=approved"
        after = await operator.get(approved.headers["location"])
        assert "can log in now" in after.text and "Sign-ups waiting" not in after.text
        again = await operator.post(f"/console/members/{waiting}/approve")
        assert again.status_code == 409 and "not waiting" in again.text

        await newcomer.login("wait@example.com", PASSWORD)
        assert (await newcomer.get("/portal")).status_code == 200
        audit = await audit_rows(h, "user", waiting)
        approval = next(e for e in audit if e.action == "approve_signup")
        assert approval.actor == "op@example.com"
        await newcomer.aclose()
        await operator.aclose()


async def test_a_reset_link_from_staff_is_shown_once_and_works_once(harness: Harness) -> None:
    h = harness
    member_id = await make_user(h, "forgot@example.com", "member")
    anon = PageClient(h)
    await anon.get("/reset")
    await anon.post("/reset", {"email": "forgot@example.com"})
    operator = await logged_in(h, "op@example.com", "operator")
    listed = await operator.get("/console/members")
    request_row = next(r for r in listed.text.split("<tr>") if "forgot@example.com" in r)
    assert "open" in request_row and "Make a link for forgot@example.com" in request_row
    made = await operator.post(f"/console/members/{member_id}/reset-link")
    assert made.status_code == 200
    assert made.headers["cache-control"] == "no-store"
    links = re.findall(r'value="(https://sb\.test/reset/[^"]+)"', made.text)
    assert len(links) == 1 and "30 minutes" in made.text and "works once" in made.text
    token = links[0].rsplit("/", 1)[1]
    # the link is in no later page, and its plain token is nowhere in the database
    for page in (f"/console/members/{member_id}", "/console/members"):
        assert token not in (await operator.get(page)).text
    async with h.container.sessions() as s:
        hashes = list((await s.scalars(select(m.PasswordReset.token_hash))).all())
    assert hashes and token not in hashes
    handled = await operator.get("/console/members")
    request_row = next(r for r in handled.text.split("<tr>") if "forgot@example.com" in r)
    assert "a link was issued since" in request_row

    await anon.get(f"/reset/{token}")
    new = "a brand new pass"
    done = await anon.post(f"/reset/{token}", {"password": new, "password_again": new})
    assert done.status_code == 200 and "password is changed" in done.text
    reused = await anon.post(
        f"/reset/{token}", {"password": new + "!", "password_again": new + "!"}
    )
    assert reused.status_code == 422
    await anon.login("forgot@example.com", new)

    # an operator makes links for members only; an admin for staff too
    admin = await logged_in(h, "boss@example.com", "admin")
    boss = await user_id(h, "boss@example.com")
    op_id = await user_id(h, "op@example.com")
    assert "Make a password reset link" not in (await operator.get(f"/console/members/{boss}")).text
    assert (await operator.post(f"/console/members/{boss}/reset-link")).status_code == 403
    for_op = await admin.post(f"/console/members/{op_id}/reset-link")
    assert for_op.status_code == 200 and "/reset/" in for_op.text
    for client in (anon, operator, admin):
        await client.aclose()


async def test_admins_change_roles_activation_and_revoke_logins(harness: Harness) -> None:
    h = harness
    member_id = await make_user(h, "alice@example.com", "member")
    alice = PageClient(h)
    await alice.login("alice@example.com", PASSWORD)
    api_login = await h.client.post(
        "/api/v1/auth/login", json={"email": "alice@example.com", "password": PASSWORD}
    )
    token = api_login.json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await h.client.get("/api/v1/tokens", headers=bearer)).status_code == 200

    operator = await logged_in(h, "op@example.com", "operator")
    for action in ("deactivate", "role", "revoke"):
        refused = await operator.post(f"/console/members/{member_id}/{action}", {"role": "admin"})
        assert refused.status_code == 403, action

    admin = await logged_in(h, "boss@example.com", "admin")
    boss = await user_id(h, "boss@example.com")
    own = await admin.get(f"/console/members/{boss}")
    assert "changed by another admin" in own.text
    assert (
        await admin.post(f"/console/members/{boss}/role", {"role": "member"})
    ).status_code == 403

    await admin.get(f"/console/members/{member_id}")
    bad_role = await admin.post(f"/console/members/{member_id}/role", {"role": "king"})
    assert bad_role.status_code == 422 and "role must be one of" in bad_role.text
    promoted = await admin.post(f"/console/members/{member_id}/role", {"role": "operator"})
    assert promoted.status_code == 303
    async with h.container.sessions() as s:
        row = await s.get(m.User, member_id)
        assert row is not None and row.role == "operator"

    revoked = await admin.post(f"/console/members/{member_id}/revoke")
    assert revoked.headers["location"] == f"/console/members/{member_id}?done=revoked"
    assert (await h.client.get("/api/v1/tokens", headers=bearer)).status_code == 401
    assert (await alice.get("/console")).status_code == 303  # the browser session is gone
    await alice.login("alice@example.com", PASSWORD)

    off = await admin.post(f"/console/members/{member_id}/deactivate")
    assert off.status_code == 303
    assert (await alice.get("/console")).status_code == 303
    await alice.get("/login")
    refused = await alice.post("/login", {"email": "alice@example.com", "password": PASSWORD})
    assert refused.status_code == 401
    on = await admin.post(f"/console/members/{member_id}/activate")
    assert on.status_code == 303
    await alice.login("alice@example.com", PASSWORD)
    audit = await audit_rows(h, "user", member_id)
    changes = [e.changes for e in audit if e.actor == "boss@example.com"]
    assert changes == [
        {"role": ["member", "operator"]},
        {"logins_revoked": 1, "browser_sessions_ended": 1},
        {"is_active": [True, False]},
        {"is_active": [False, True]},
    ]
    for client in (alice, operator, admin):
        await client.aclose()
