"""Tokens and the first admin as an operator meets them: real `signalbridge` subprocesses.

`tokens create --days`, `tokens list [--email]`, `tokens revoke ID` on SQLite and
PostgreSQL; and `serve` on first start, whose banner names the 0600 file holding the
first admin's secrets and prints the secrets themselves only to a terminal.
"""

from __future__ import annotations

import asyncio
import os
import pty
import select
import signal
import socket
import stat
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select as sql_select

from signalbridge.bootstrap import build_container
from signalbridge.services.auth import AuthError, authenticate
from signalbridge.services.users import FIRST_ADMIN_FILE
from signalbridge.settings import Settings
from signalbridge.store import models as m
from signalbridge.store.types import utcnow

CLI = [sys.executable, "-m", "signalbridge.cli"]


def cli_env(data_dir: Path, database_url: str | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "SIGNALBRIDGE_DATA_DIR": str(data_dir),
        "SIGNALBRIDGE_LOG_JSON": "false",
        "SIGNALBRIDGE_LOG_LEVEL": "WARNING",
    }
    for name in (
        "SIGNALBRIDGE_SECRET_KEYS",
        "SIGNALBRIDGE_ADMIN_PASSWORD",
        "SIGNALBRIDGE_REDIS_URL",
    ):
        env.pop(name, None)
    if database_url:
        env["SIGNALBRIDGE_DATABASE_URL"] = database_url
    return env


def run(args: list[str], env: dict[str, str], **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        env={**env, **extra},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_tokens_create_list_revoke(tmp_path: Path) -> None:
    # The commands are the same on both databases (the API tests run on both); each CLI
    # start costs seconds, so this runs once, on the embedded default.
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'signalbridge.db'}"
    env = cli_env(tmp_path, database_url)
    assert run(["migrate"], env).returncode == 0
    for email in ("a@example.com", "b@example.com"):
        made = run(["users", "create", email], env, SIGNALBRIDGE_NEW_USER_PASSWORD="long enough!")
        assert made.returncode == 0, made.stderr
    week = run(["tokens", "create", "a@example.com", "--name", "week", "--days", "7"], env)
    assert week.returncode == 0, week.stderr
    week_token = week.stdout.strip()
    assert week_token.startswith("sbt_") and "expires" in week.stderr
    default = run(["tokens", "create", "b@example.com", "--name", "default"], env)
    assert default.returncode == 0, default.stderr
    assert run(["tokens", "create", "a@example.com", "--days", "0"], env).returncode == 2

    listed = run(["tokens", "list"], env)
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split()[:4] == ["id", "user", "prefix", "name"]
    assert len(rows) == 2 and all("active" in r for r in rows)
    assert week_token[:8] in listed.stdout and week_token not in listed.stdout
    only_a = run(["tokens", "list", "--email", "A@example.com"], env)
    assert [r.split()[1] for r in only_a.stdout.splitlines()[1:]] == ["a@example.com"]
    assert run(["tokens", "list", "--email", "z@example.com"], env).returncode == 2

    settings = Settings(data_dir=tmp_path, database_url=database_url)

    async def expiries() -> dict[str, datetime | None]:
        c = build_container(settings)
        try:
            async with c.sessions() as s:
                rows = (await s.scalars(sql_select(m.ApiToken))).all()
                return {r.name: r.expires_at for r in rows}
        finally:
            await c.engine.dispose()

    found = asyncio.run(expiries())
    now = utcnow()
    for name, days in (("week", 7), ("default", 90)):
        expires = found[name]
        assert expires is not None
        assert abs(expires - (now + timedelta(days=days))) < timedelta(minutes=5), name

    week_id = int(next(r for r in rows if "week" in r).split()[0])
    revoked = run(["tokens", "revoke", str(week_id)], env)
    assert revoked.returncode == 0 and f"token {week_id} revoked" in revoked.stdout
    again = run(["tokens", "revoke", str(week_id)], env)
    assert again.returncode == 0 and "revoked already" in again.stdout
    missing = run(["tokens", "revoke", str(week_id + 100)], env)
    assert missing.returncode == 2 and "no token" in missing.stderr
    assert run(["tokens", "revoke", str(2**63)], env).returncode == 2
    after = run(["tokens", "list", "--email", "a@example.com"], env).stdout
    assert "revoked" in after

    async def can_authenticate(token: str) -> bool:
        c = build_container(settings)
        try:
            async with c.sessions() as s:
                await authenticate(s, token)
            return True
        except AuthError:
            return False
        finally:
            await c.engine.dispose()

    assert asyncio.run(can_authenticate(week_token)) is False
    assert asyncio.run(can_authenticate(default.stdout.strip())) is True

    async def audited() -> list[str]:
        c = build_container(settings)
        try:
            async with c.sessions() as s:
                rows = (await s.scalars(sql_select(m.AuditEntry).order_by(m.AuditEntry.id))).all()
                return [f"{r.entity}:{r.action}" for r in rows]
        finally:
            await c.engine.dispose()

    assert asyncio.run(audited())[-3:] == ["token:create", "token:create", "token:revoke"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def read_until(fd: int, marker: bytes, timeout: float = 60.0) -> bytes:
    """Read ``fd`` until ``marker`` and the line holding it are in; fail after ``timeout``."""
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the pty closed: the process ended
            break
        if not chunk:
            break
        out += chunk
        at = out.find(marker)
        if at >= 0 and b"\n" in out[at:]:
            return out
    raise AssertionError(f"{marker!r} not seen; output so far: {out.decode(errors='replace')}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def first_admin_file(data_dir: Path) -> dict[str, str]:
    path = data_dir / FIRST_ADMIN_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    return dict(line.split(": ", 1) for line in path.read_text().splitlines() if ": " in line)


def test_serve_banner_hides_secrets_when_not_a_terminal(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)],
        env=cli_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        out = read_until(proc.stdout.fileno(), b"try: curl").decode()
    finally:
        stop(proc)
    secrets = first_admin_file(data_dir)
    assert str(data_dir / FIRST_ADMIN_FILE) in out
    assert secrets["password"] not in out and secrets["token"] not in out
    assert "sbt_" not in out and "not a terminal" in out
    # what serve created on first start is private
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    for name in ("signalbridge.db", "secret.keys"):
        assert stat.S_IMODE((data_dir / name).stat().st_mode) == 0o600, name


def test_serve_banner_shows_secrets_on_a_terminal(tmp_path: Path) -> None:
    port = free_port()
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)],
        env=cli_env(tmp_path),
        stdout=slave,
        stderr=subprocess.DEVNULL,
    )
    os.close(slave)
    try:
        out = read_until(master, b"try: curl").decode()
    finally:
        stop(proc)
        os.close(master)
    secrets = first_admin_file(tmp_path)
    assert str(tmp_path / FIRST_ADMIN_FILE) in out
    assert f"password: {secrets['password']}" in out
    assert f"API token: {secrets['token']}" in out
