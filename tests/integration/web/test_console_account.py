"""Browser accounts over HTTP: log in and out, sign up (open, approval, closed), CSRF on
every form, the throttle, password reset links made by staff."""

from __future__ import annotations

from sqlalchemy import select
from tests.console_rig import PageClient, make_user
from tests.platform_fixtures import Harness, make_settings, running_harness

from signalbridge.services import signup
from signalbridge.services.auth import Principal
from signalbridge.store import models as m


async def test_login_logout_and_session_cookie(harness: Harness) -> None:
    await make_user(harness, "op@example.com", "operator")
    page = PageClient(harness)
    response = await page.get("/console")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/console"
    await page.get("/login")
    bad = await page.post("/login", {"email": "op@example.com", "password": "wrong password!"})
    assert bad.status_code == 401
    assert "not valid" in bad.text and "wrong password!" not in bad.text
    ok = await page.post(
        "/login", {"email": "op@example.com", "password": "long password 1", "next": "/console"}
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/console"
    cookie = ok.headers["set-cookie"]
    assert "sb_session=" in cookie
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=lax" in cookie
    # only a hash of the cookie is stored
    value = cookie.split("sb_session=", 1)[1].split(";", 1)[0]
    async with harness.container.sessions() as s:
        hashes = list((await s.scalars(select(m.WebSession.token_hash))).all())
    assert hashes and value not in hashes
    home = await page.get("/login")
    assert home.status_code == 303  # logged in: the login page sends you home
    stale = await page.post("/logout")  # the token of the anonymous login form
    assert stale.status_code == 403
    await page.get("/console")
    out = await page.post("/logout")
    assert out.status_code == 303
    again = await page.get("/console")
    assert again.status_code == 303 and again.headers["location"].startswith("/login")
    await page.aclose()


async def test_forms_refuse_a_missing_or_foreign_csrf_token(harness: Harness) -> None:
    await make_user(harness, "m@example.com", "member")
    page = PageClient(harness)
    await page.get("/login")
    no_token = await page.http.post(
        "/login", data={"email": "m@example.com", "password": "long password 1"}
    )
    assert no_token.status_code == 403
    await page.login("m@example.com", "long password 1")
    forged = await page.http.post("/logout", data={"csrf_token": "x" * 43})
    assert forged.status_code == 403
    assert (await page.get("/portal")).status_code != 303  # still logged in
    await page.aclose()


async def test_open_signup_logs_the_new_member_in(harness: Harness) -> None:
    page = PageClient(harness)
    await page.get("/signup")
    short = await page.post(
        "/signup",
        {"email": "new@example.com", "password": "short", "password_again": "short"},
    )
    assert short.status_code == 422 and "at least 10" in short.text
    made = await page.post(
        "/signup",
        {
            "email": "new@example.com",
            "password": "a long enough one",
            "password_again": "a long enough one",
        },
    )
    assert made.status_code == 303 and made.headers["location"] == "/portal"
    twice = PageClient(harness)
    await twice.get("/signup")
    taken = await twice.post(
        "/signup",
        {
            "email": "new@example.com",
            "password": "a long enough one",
            "password_again": "a long enough one",
        },
    )
    assert taken.status_code == 422
    async with harness.container.sessions() as s:
        user = await s.scalar(select(m.User).where(m.User.email == "new@example.com"))
    assert user is not None and user.role == "member" and user.is_active
    await page.aclose()
    await twice.aclose()


async def test_signup_with_approval_waits_for_staff(tmp_path, database_url) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path, database_url, signup="approval")
    async with running_harness(settings) as h:
        page = PageClient(h)
        await page.get("/signup")
        answer = await page.post(
            "/signup",
            {
                "email": "wait@example.com",
                "password": "a long enough one",
                "password_again": "a long enough one",
            },
        )
        assert answer.status_code == 200 and "approves it" in answer.text
        await page.get("/login")
        refused = await page.post(
            "/login", {"email": "wait@example.com", "password": "a long enough one"}
        )
        assert refused.status_code == 401
        async with h.container.sessions() as s, s.begin():
            user = await s.scalar(select(m.User).where(m.User.email == "wait@example.com"))
            assert user is not None and user.signup_pending
            staff = Principal(
                user_id=1, email="admin@example.com", role="admin", scopes=frozenset({"admin"})
            )
            await signup.approve(s, user, staff)
        await page.login("wait@example.com", "a long enough one")
        await page.aclose()


async def test_closed_signup_refuses(tmp_path, database_url) -> None:  # type: ignore[no-untyped-def]
    async with running_harness(make_settings(tmp_path, database_url, signup="closed")) as h:
        page = PageClient(h)
        shown = await page.get("/signup")
        assert "closed" in shown.text
        refused = await page.post(
            "/signup", {"email": "x@example.com", "password": "a" * 12, "password_again": "a" * 12}
        )
        assert refused.status_code == 403
        await page.aclose()


async def test_reset_link_from_staff_works_once_and_ends_sessions(harness: Harness) -> None:
    uid = await make_user(harness, "forgot@example.com", "member")
    browser = PageClient(harness)
    await browser.login("forgot@example.com", "long password 1")
    anon = PageClient(harness)
    await anon.get("/reset")
    asked = await anon.post("/reset", {"email": "forgot@example.com"})
    unknown = await anon.post("/reset", {"email": "nobody@example.com"})
    assert asked.status_code == unknown.status_code == 200
    assert asked.text == unknown.text  # the same answer whether the email exists or not
    async with harness.container.sessions() as s, s.begin():
        user = await s.get(m.User, uid)
        assert user is not None
        staff = Principal(
            user_id=1, email="admin@example.com", role="admin", scopes=frozenset({"admin"})
        )
        token = await signup.issue_reset(s, user, staff)
    await anon.get(f"/reset/{token}")
    done = await anon.post(
        f"/reset/{token}", {"password": "a new long pass", "password_again": "a new long pass"}
    )
    assert done.status_code == 200 and "password is changed" in done.text
    reused = await anon.post(
        f"/reset/{token}", {"password": "another long one", "password_again": "another long one"}
    )
    assert reused.status_code == 422
    # the old browser session died with the reset
    assert (await browser.get("/portal")).status_code == 303
    await browser.login("forgot@example.com", "a new long pass")
    await browser.aclose()
    await anon.aclose()


async def test_login_is_throttled(harness: Harness) -> None:
    await make_user(harness, "t@example.com", "member")
    page = PageClient(harness)
    await page.get("/login")
    statuses = []
    for _ in range(7):
        r = await page.post("/login", {"email": "t@example.com", "password": "wrong wrong wrong"})
        statuses.append(r.status_code)
    assert statuses[:5] == [401] * 5 and statuses[-1] == 429
    await page.aclose()
