"""Entitlement end to end, as people do it: the admin sells a plan-only channel through
the API, an operator grants it from the shell (``signalbridge subscriptions grant``), the
member follows over HTTP and their paper account copies the next signal; the grant is
revoked from the shell and the member's next signal is skipped with the reason."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select
from tests.platform_fixtures import SIGNAL, Harness, eventually

from signalbridge.store import models as m

CLI = [sys.executable, "-m", "signalbridge.cli"]
PASSWORD = "member password 1"


async def cli(
    args: list[str], data_dir: Path, database_url: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SIGNALBRIDGE_DATA_DIR": str(data_dir),
        "SIGNALBRIDGE_DATABASE_URL": database_url,
        "SIGNALBRIDGE_LOG_JSON": "false",
        "SIGNALBRIDGE_LOG_LEVEL": "WARNING",
    }
    env.pop("SIGNALBRIDGE_SECRET_KEYS", None)
    return await asyncio.to_thread(
        subprocess.run,
        [*CLI, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_grant_follow_copy_revoke_skip(
    harness: Harness, tmp_path: Path, database_url: str
) -> None:
    h = harness
    cli_dir = tmp_path / "cli"

    # the admin: a plan-only channel, a plan selling it, a member
    channel = await h.ok(
        "POST", "/channels", json={"name": "premium", "type": "webhook", "visibility": "plan"}
    )
    channel_id, secret = channel["id"], channel["generated_secrets"]["secret"]
    plan = await h.ok(
        "POST",
        "/plans",
        json={"name": "Gold", "prices": {"USD": "10"}, "channel_ids": [channel_id]},
    )
    await h.ok("POST", "/users", json={"email": "m@example.com", "password": PASSWORD})
    login = await h.client.post(
        "/api/v1/auth/login", json={"email": "m@example.com", "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    auth = {"Authorization": f"Bearer {login.json()['token']}"}

    async def api(method: str, path: str, **kw: Any) -> Any:
        return await h.client.request(method, "/api/v1" + path, headers=auth, **kw)

    cfg = {"futures": True, "feed": {"seed": 3, "volatility": "0"}, "account_id": "m"}
    r = await api("POST", "/connections", json={"name": "mine", "type": "paper", "config": cfg})
    assert r.status_code == 201, r.text
    connection_id = r.json()["id"]
    follow = {
        "channel_id": channel_id,
        "connection_id": connection_id,
        "sizing": {"mode": "fixed_quote", "value": "100"},
    }
    refused = await api("POST", "/follows", json=follow)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_entitled"

    # the shell: honest help, a refused grant without a duration, then the grant
    helped = await cli(["subscriptions", "grant", "--help"], cli_dir, database_url)
    assert helped.returncode == 0 and "--days" in helped.stdout and "--forever" in helped.stdout
    bad = await cli(["subscriptions", "grant", "m@example.com", "Gold"], cli_dir, database_url)
    assert bad.returncode == 2 and "--days" in bad.stderr
    granted = await cli(
        ["subscriptions", "grant", "m@example.com", "Gold", "--days", "30", "--note", "trial"],
        cli_dir,
        database_url,
    )
    assert granted.returncode == 0, granted.stderr
    assert granted.stdout.startswith("grant ") and f"plan {plan['id']}" in granted.stdout
    grant_id = int(granted.stdout.split()[1].rstrip(":"))
    listed = await cli(["subscriptions", "list", "--user", "m@example.com"], cli_dir, database_url)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith("grant"))
    assert "m@example.com" in row and "Gold" in row and "active" in row and "yes" in row

    # the member follows and copies the next signal
    r = await api("POST", "/follows", json=follow)
    assert r.status_code == 201, r.text
    first = (await h.post_signal(channel_id, secret, SIGNAL)).json()["signal_id"]

    async def copied() -> bool:
        items = (await api("GET", f"/positions?signal_id={first}")).json()["items"]
        return len(items) == 1

    await eventually(copied)

    # revoked from the shell: the next signal is skipped with the reason, no order
    revoked = await cli(["subscriptions", "revoke", str(grant_id)], cli_dir, database_url)
    assert revoked.returncode == 0 and f"grant {grant_id} revoked" in revoked.stdout
    twice = await cli(["subscriptions", "revoke", str(grant_id)], cli_dir, database_url)
    assert twice.returncode == 2 and "revoked already" in twice.stderr
    r = await h.post_signal(channel_id, secret, {**SIGNAL, "stop_loss": "57000"})
    assert r.status_code == 202, r.text
    second = r.json()["signal_id"]
    executions = (await api("GET", f"/executions?signal_id={second}")).json()["items"]
    assert [(x["status"], x["connection_id"]) for x in executions] == [("skipped", connection_id)]
    reason = executions[0]["reason"]
    assert reason.startswith(f"not entitled to channel {channel_id}: grant {grant_id}")
    assert "revoked" in reason
    orders = (await api("GET", f"/orders?execution_id={executions[0]['id']}")).json()["items"]
    assert orders == []
    # the first position is still open
    position = (await api("GET", f"/positions?signal_id={first}")).json()["items"][0]
    assert position["status"] == "open"

    # both changes are in the audit log, as the shell's
    async with h.container.sessions() as s:
        audit = (await s.scalars(select(m.AuditEntry).where(m.AuditEntry.entity == "grant"))).all()
    assert sorted((a.action, a.actor) for a in audit) == [("create", "cli"), ("revoke", "cli")]
