"""The CLI as a user runs it: real subprocesses on a fresh data directory."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from signalbridge.bootstrap import build_container
from signalbridge.integrations.sealing import seal, unseal
from signalbridge.settings import Settings
from signalbridge.store import models as m

CLI = [sys.executable, "-m", "signalbridge.cli"]


def run(args: list[str], data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "SIGNALBRIDGE_DATA_DIR": str(data_dir),
        "SIGNALBRIDGE_LOG_JSON": "false",
        "SIGNALBRIDGE_LOG_LEVEL": "WARNING",
        **env,
    }
    full_env.pop("SIGNALBRIDGE_SECRET_KEYS", None)
    return subprocess.run(
        [*CLI, *args], env=full_env, capture_output=True, text=True, timeout=120, check=False
    )


def test_help_lists_every_command(tmp_path: Path) -> None:
    out = run(["--help"], tmp_path)
    assert out.returncode == 0
    for command in (
        "serve",
        "worker",
        "scheduler",
        "migrate",
        "users",
        "tokens",
        "keys",
        "demo",
        "parse",
    ):
        assert command in out.stdout


def test_migrate_users_and_tokens(tmp_path: Path) -> None:
    assert run(["migrate"], tmp_path).returncode == 0
    assert (tmp_path / "signalbridge.db").exists()
    key_file = tmp_path / "secret.keys"
    assert key_file.exists() and (key_file.stat().st_mode & 0o777) == 0o600
    made = run(
        ["users", "create", "ops@example.com", "--role", "operator"],
        tmp_path,
        SIGNALBRIDGE_NEW_USER_PASSWORD="a long enough password",
    )
    assert made.returncode == 0, made.stderr
    assert "operator" in made.stdout
    token = run(
        [
            "tokens",
            "create",
            "ops@example.com",
            "--scope",
            "signals:read",
            "--scope",
            "executions:read",
        ],
        tmp_path,
    )
    assert token.returncode == 0, token.stderr
    assert token.stdout.strip().startswith("sbt_")
    again = run(
        ["users", "create", "ops@example.com"],
        tmp_path,
        SIGNALBRIDGE_NEW_USER_PASSWORD="a long enough password",
    )
    assert again.returncode == 2 and "exists already" in again.stderr
    bad_scope = run(["tokens", "create", "ops@example.com", "--scope", "everything"], tmp_path)
    assert bad_scope.returncode == 2 and "unknown scopes" in bad_scope.stderr

    async def audited() -> list[str]:
        c = build_container(Settings(data_dir=tmp_path))
        async with c.sessions() as s:
            rows = (await s.scalars(select(m.AuditEntry))).all()
            # the token's plain text is never stored, only its hash
            hashes = (await s.scalars(select(m.ApiToken.token_hash))).all()
        await c.engine.dispose()
        assert token.stdout.strip() not in hashes
        return [f"{r.entity}:{r.action}:{r.actor}" for r in rows]

    assert asyncio.run(audited()) == ["user:create:cli", "token:create:cli"]


def test_keys_rotate_then_old_key_removed(tmp_path: Path) -> None:
    assert run(["migrate"], tmp_path).returncode == 0
    secret = "rotation-canary-secret-value"

    async def plant() -> int:
        c = build_container(Settings(data_dir=tmp_path))
        async with c.sessions() as s, s.begin():
            owner = m.User(email="owner@example.com", password_hash="-", role=m.Role.ADMIN)
            s.add(owner)
            await s.flush()
            row = m.ExecutionConnection(name="x", type="paper", config={}, owner_id=owner.id)
            s.add(row)
            await s.flush()
            row.secrets_enc = seal(c.vault, "execution_connections", row.id, {"api_key": secret})
            row_id = row.id
        await c.engine.dispose()
        return row_id

    row_id = asyncio.run(plant())
    old_keys = (tmp_path / "secret.keys").read_text().split()
    out = run(["keys", "rotate", "--drop-old"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "rotated 1 secrets" in out.stdout
    new_keys = (tmp_path / "secret.keys").read_text().split()
    assert len(new_keys) == 1 and new_keys[0] not in old_keys
    assert (tmp_path / "secret.keys").stat().st_mode & 0o777 == 0o600

    async def read_back() -> dict[str, str]:
        c = build_container(Settings(data_dir=tmp_path))
        async with c.sessions() as s:
            token = await s.scalar(select(m.ExecutionConnection.secrets_enc))
        await c.engine.dispose()
        assert token is not None
        return unseal(c.vault, "execution_connections", row_id, token)

    assert asyncio.run(read_back()) == {"api_key": secret}
