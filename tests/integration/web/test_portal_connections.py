"""Trading accounts in the browser: a member adds accounts through the API's own path (a
paper one; a Binance key on the fake exchange, refused while it can withdraw), sees them
masked, tests and switches them; another member never sees them; staff read them all in
the console, and only an admin changes a member's account. No page ever shows a key."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.console_rig import PageClient, logged_in
from tests.fakes.binance import FakeBinance
from tests.fakes.loopback import LOOPBACK_HOSTS
from tests.platform_fixtures import Harness, make_settings, running_harness

from signalbridge.store import models as m

PAPER_FEED = json.dumps({"feed": {"seed": 3, "volatility": "0"}})


@pytest.fixture
async def loopback(tmp_path: Path, database_url: str) -> AsyncIterator[Harness]:
    """The platform with loopback on the operator's allow-list (the fake exchange's)."""
    settings = make_settings(tmp_path, database_url, allowed_hosts=list(LOOPBACK_HOSTS))
    async with running_harness(settings) as h:
        yield h


@pytest.fixture
def binance() -> Iterator[FakeBinance]:
    with FakeBinance() as fake:
        yield fake


async def count_connections(h: Harness, owner_email: str) -> int:
    async with h.container.sessions() as s:
        found = await s.scalar(
            select(func.count())
            .select_from(m.ExecutionConnection)
            .join(m.User, m.User.id == m.ExecutionConnection.owner_id)
            .where(m.User.email == owner_email)
        )
    return int(found or 0)


class Seen:
    """Every page a test fetched, to prove no secret was ever rendered."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, text: str) -> str:
        self.texts.append(text)
        return text

    def contains(self, needle: str) -> bool:
        return any(needle in t for t in self.texts)


async def test_add_paper_and_binance_accounts_withdraw_key_refused(
    loopback: Harness, binance: FakeBinance
) -> None:
    h = loopback
    seen = Seen()
    alice = await logged_in(h, "alice@example.com", "member")
    chooser = await alice.get("/portal/connections/new")
    assert chooser.status_code == 200 and "Paper account" in seen(chooser.text)
    form = await alice.get("/portal/connections/new?type=ccxt")
    assert form.status_code == 200
    assert 'type="password"' in seen(form.text) and 'name="api_key"' in form.text

    # a paper account: tested on save, then its page
    made = await alice.post(
        "/portal/connections/new",
        {"type": "paper", "name": "Practice", "futures": "on", "advanced": PAPER_FEED},
    )
    assert made.status_code == 303, made.text
    paper_path = made.headers["location"].split("?", 1)[0]
    assert made.headers["location"].endswith("?done=saved")
    page = await alice.get(made.headers["location"])
    assert page.status_code == 200 and "connection test passed" in seen(page.text)

    # a Binance key that can withdraw: refused with the API's reason, nothing kept
    binance.withdrawals_enabled = True
    key_form = {
        "type": "ccxt",
        "name": "Binance main",
        "exchange": "binance",
        "market_type": "spot",
        "margin_type": "isolated",
        "api_key": binance.api_key,
        "secret": binance.secret,
        "advanced": json.dumps({"urls": binance.ccxt_urls()}),
    }
    refused = await alice.post("/portal/connections/new", key_form)
    assert refused.status_code == 422
    assert "withdraw" in seen(refused.text) and "Not saved" in refused.text
    assert 'value="Binance main"' in refused.text  # what was typed is kept (but no key)
    assert await count_connections(h, "alice@example.com") == 1

    # the same key once withdrawals are off: saved, shown masked
    binance.withdrawals_enabled = False
    saved = await alice.post("/portal/connections/new", key_form)
    assert saved.status_code == 303, saved.text
    detail = await alice.get(saved.headers["location"])
    assert detail.status_code == 200
    assert "****" + binance.api_key[-4:] in seen(detail.text)
    listing = await alice.get("/portal/connections")
    assert "Binance main" in seen(listing.text) and "Practice" in listing.text
    binance_path = saved.headers["location"].split("?", 1)[0]

    # test, deactivate, activate, reset the breaker
    tested = await alice.post(binance_path + "/test")
    assert tested.status_code == 200 and "passed" in seen(tested.text)
    off = await alice.post(binance_path + "/deactivate")
    assert off.status_code == 303 and off.headers["location"].endswith("done=deactivated")
    assert "deactivated" in seen((await alice.get(off.headers["location"])).text)
    on = await alice.post(binance_path + "/activate")
    assert on.status_code == 303
    reset = await alice.post(binance_path + "/breaker-reset")
    assert reset.status_code == 303
    history = await alice.get(binance_path)
    assert "breaker" in seen(history.text) and "is_active" in history.text
    seen((await alice.get(paper_path)).text)
    seen((await alice.get("/portal")).text)

    assert not seen.contains(binance.api_key) and not seen.contains(binance.secret)
    await alice.aclose()


async def test_bad_config_is_refused_beside_the_form_without_the_secret(harness: Harness) -> None:
    alice = await logged_in(harness, "alice@example.com", "member")
    token = "metaapi-token-that-must-never-show-0123456789"
    refused = await alice.post(
        "/portal/connections/new",
        {"type": "metaapi", "name": "MT5", "account_id": "", "token": token, "region": "NO SUCH"},
    )
    assert refused.status_code == 422
    assert "region" in refused.text and token not in refused.text
    assert 'value="MT5"' in refused.text
    junk = await alice.post(
        "/portal/connections/new",
        {"type": "paper", "name": "x", "advanced": "{not json"},
    )
    assert junk.status_code == 422 and "JSON object" in junk.text
    unknown = await alice.post("/portal/connections/new", {"type": "kraken-direct", "name": "x"})
    assert unknown.status_code == 422 and "unknown exchange type" in unknown.text
    assert await count_connections(harness, "alice@example.com") == 0
    await alice.aclose()


async def test_members_see_only_their_own_and_staff_read_all(harness: Harness) -> None:
    h = harness
    alice = await logged_in(h, "alice@example.com", "member")
    made = await alice.post(
        "/portal/connections/new", {"type": "paper", "name": "Alice paper", "advanced": PAPER_FEED}
    )
    assert made.status_code == 303
    path = made.headers["location"].split("?", 1)[0]
    row_id = path.rsplit("/", 1)[1]

    anonymous = PageClient(h)
    for page in ("/portal/connections", "/portal/connections/new", path, "/console/connections",
                 f"/console/connections/{row_id}"):  # fmt: skip
        out = await anonymous.get(page)
        assert out.status_code == 303 and out.headers["location"].startswith("/login"), page
    await anonymous.aclose()

    bob = await logged_in(h, "bob@example.com", "member")
    theirs = await bob.get(path)
    missing = await bob.get("/portal/connections/999999")
    assert theirs.status_code == missing.status_code == 404
    assert "Alice paper" not in (await bob.get("/portal/connections")).text
    assert (await bob.post(path + "/deactivate")).status_code == 404
    assert (await bob.post(path + "/test")).status_code == 404
    assert (await bob.get("/console/connections")).status_code == 403
    assert (await bob.get(f"/console/connections/{row_id}")).status_code == 403

    operator = await logged_in(h, "op@example.com", "operator")
    listed = await operator.get("/console/connections")
    assert listed.status_code == 200 and "Alice paper" in listed.text
    assert "alice@example.com" in listed.text
    seen_by_op = await operator.get(f"/console/connections/{row_id}")
    assert seen_by_op.status_code == 200 and "Read-only" in seen_by_op.text
    assert (await operator.post(f"/console/connections/{row_id}/deactivate")).status_code == 403
    # the operator's own portal holds only its own accounts
    assert "Alice paper" not in (await operator.get("/portal/connections")).text
    assert (await operator.get(path)).status_code == 404

    admin = await logged_in(h, "root@example.com", "admin")
    off = await admin.post(f"/console/connections/{row_id}/deactivate")
    assert off.status_code == 303
    assert off.headers["location"] == f"/console/connections/{row_id}?done=deactivated"
    filtered = await admin.get("/console/connections?active=no")
    assert "Alice paper" in filtered.text
    assert "Alice paper" not in (await admin.get("/console/connections?active=yes")).text
    for client in (alice, bob, operator, admin):
        await client.aclose()
