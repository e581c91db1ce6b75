"""Follows in the portal: created and changed through the API's handlers, validated by the
execution layer's schemas with the problem beside its field and nothing typed lost;
auto-execute, pause and resume; another member's follow is a 404 and never listed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from tests.console_rig import PageClient, logged_in
from tests.platform_fixtures import Harness

from signalbridge.store import models as m

PAPER = '{"feed": {"seed": 3, "volatility": "0"}}'


async def paper_account(page: PageClient, name: str) -> int:
    made = await page.post(
        "/portal/connections/new", {"type": "paper", "name": name, "advanced": PAPER}
    )
    assert made.status_code == 303, made.text
    return int(made.headers["location"].split("?", 1)[0].rsplit("/", 1)[1])


async def channel(h: Harness, name: str, visibility: str = "public") -> int:
    body = await h.ok(
        "POST", "/channels", json={"name": name, "type": "webhook", "visibility": visibility}
    )
    return int(body["id"])


def settings(**changes: str) -> dict[str, str]:
    """The settings form as a browser posts it with its defaults, changed by ``changes``
    (keys with ``__`` for dots: ``sizing__value``)."""
    form = {
        "sizing.mode": "fixed_quote",
        "sizing.value": "100",
        "sizing.use_signal_leverage": "on",
        "sizing.fee_reserve_percent": "0.2",
        "risk.max_signal_age_seconds": "300",
        "risk.max_deviation_percent": "2",
        "risk.entry_orders": "1",
        "risk.analyst_gate": "off",
        "risk.analyst_wait_seconds": "20",
        "risk.analyst_on_missing": "execute",
        "management.native_exits": "on",
        "management.on_manual_cancel": "replace",
        "is_active": "on",
    }
    for key, value in changes.items():
        form[key.replace("__", ".")] = value
    return form


async def follow_row(h: Harness, follow_id: int) -> m.Follow:
    async with h.container.sessions() as s:
        row = await s.get(m.Follow, follow_id)
    assert row is not None
    return row


async def test_create_edit_pause_and_resume_a_follow(harness: Harness) -> None:
    h = harness
    signals = await channel(h, "Signals Pro")
    alice = await logged_in(h, "alice@example.com", "member")
    account = await paper_account(alice, "Alice paper")
    page = await alice.get("/portal/follows")
    assert page.status_code == 200 and "Signals Pro" in page.text
    assert 'value="risk_percent"' in page.text  # the modes come from the sizing schema

    base: dict[str, Any] = {"channel_id": str(signals), "connection_id": str(account)}
    bad = await alice.post(
        "/portal/follows",
        {
            **base,
            **settings(
                sizing__mode="percent_balance", sizing__value="150",
                risk__max_signal_age_seconds="120", management__tp_split="50, 30, 20",
            ),
        },
    )  # fmt: skip
    assert bad.status_code == 422
    assert "not valid" in bad.text and "cannot exceed 100" in bad.text
    # nothing typed is lost
    assert 'value="150"' in bad.text and 'value="120"' in bad.text
    assert 'value="50, 30, 20"' in bad.text
    assert '<option value="percent_balance" selected>' in bad.text
    zero = await alice.post("/portal/follows", {**base, **settings(sizing__value="0")})
    assert zero.status_code == 422
    assert 'id="f-sizing-value-error"' in zero.text and 'aria-invalid="true"' in zero.text

    made = await alice.post(
        "/portal/follows",
        {**base, **settings(sizing__value="50", management__tp_split="50, 30, 20")},
    )
    assert made.status_code == 303 and made.headers["location"] == "/portal/follows?done=created"
    listing = await alice.get(made.headers["location"])
    assert "The follow is saved" in listing.text and "Alice paper" in listing.text
    async with h.container.sessions() as s:
        follow = await s.scalar(select(m.Follow).where(m.Follow.connection_id == account))
    assert follow is not None
    follow_id = int(follow.id)
    row = await follow_row(h, follow_id)
    assert row.sizing["value"] == "50" and row.management["tp_split"] == ["50", "30", "20"]
    twice = await alice.post("/portal/follows", {**base, **settings()})
    assert twice.status_code == 409 and "already follows" in twice.text

    edit = await alice.get(f"/portal/follows/{follow_id}")
    assert edit.status_code == 200 and 'value="50"' in edit.text
    trailing = await alice.post(
        f"/portal/follows/{follow_id}", settings(management__trailing__after_tp="1")
    )
    assert trailing.status_code == 422 and "exactly one of distance or percent" in trailing.text
    assert 'value="1"' in trailing.text
    changed = settings(management__trailing__percent="1.5", sizing__value="75")
    del changed["is_active"]  # auto-execute off
    saved = await alice.post(f"/portal/follows/{follow_id}", changed)
    assert saved.status_code == 303
    row = await follow_row(h, follow_id)
    assert row.is_active is False and row.sizing["value"] == "75"
    assert row.management["trailing"] == {"percent": "1.5"}
    shown = await alice.get(saved.headers["location"])
    assert "settings are saved" in shown.text and "Auto-execute: <strong>off" in shown.text

    paused = await alice.post(f"/portal/follows/{follow_id}/pause")
    assert paused.status_code == 303 and (await follow_row(h, follow_id)).paused_at is not None
    assert "Paused" in (await alice.get(paused.headers["location"])).text
    resumed = await alice.post(f"/portal/follows/{follow_id}/resume")
    assert resumed.status_code == 303 and (await follow_row(h, follow_id)).paused_at is None
    await alice.aclose()


async def test_another_members_follow_and_account_answer_like_missing_ones(
    harness: Harness,
) -> None:
    h = harness
    signals = await channel(h, "Signals Pro")
    premium = await channel(h, "Premium room", "plan")
    secret = await channel(h, "Staff only", "private")
    alice = await logged_in(h, "alice@example.com", "member")
    account = await paper_account(alice, "Alice paper")
    made = await alice.post(
        "/portal/follows",
        {"channel_id": str(signals), "connection_id": str(account), **settings()},
    )
    assert made.status_code == 303
    listing = (await alice.get("/portal/follows")).text
    assert "Staff only" not in listing and "Premium room" not in listing
    not_entitled = await alice.post(
        "/portal/follows",
        {"channel_id": str(premium), "connection_id": str(account), **settings()},
    )
    assert not_entitled.status_code in (403, 422), not_entitled.text
    async with h.container.sessions() as s:
        follow = await s.scalar(select(m.Follow).where(m.Follow.connection_id == account))
    assert follow is not None
    follow_id = int(follow.id)

    bob = await logged_in(h, "bob@example.com", "member")
    bob_account = await paper_account(bob, "Bob paper")
    assert "Alice paper" not in (await bob.get("/portal/follows")).text
    theirs = await bob.get(f"/portal/follows/{follow_id}")
    missing = await bob.get("/portal/follows/999999")
    assert theirs.status_code == missing.status_code == 404
    assert (await bob.post(f"/portal/follows/{follow_id}", settings())).status_code == 404
    assert (await bob.post(f"/portal/follows/{follow_id}/pause")).status_code == 404
    assert (await bob.post(f"/portal/follows/{follow_id}/delete")).status_code == 404
    assert (await follow_row(h, follow_id)).paused_at is None
    # bob cannot attach alice's account, nor follow a private channel
    stolen = await bob.post(
        "/portal/follows",
        {"channel_id": str(signals), "connection_id": str(account), **settings()},
    )
    assert stolen.status_code == 422 and "does not exist" in stolen.text
    hidden = await bob.post(
        "/portal/follows",
        {"channel_id": str(secret), "connection_id": str(bob_account), **settings()},
    )
    assert hidden.status_code == 422 and "does not exist" in hidden.text

    anonymous = PageClient(h)
    out = await anonymous.get("/portal/follows")
    assert out.status_code == 303 and out.headers["location"] == "/login?next=/portal/follows"
    await anonymous.aclose()

    deleted = await alice.post(f"/portal/follows/{follow_id}/delete")
    assert deleted.status_code == 303
    assert (await alice.get(f"/portal/follows/{follow_id}")).status_code == 404
    await alice.aclose()
    await bob.aclose()
