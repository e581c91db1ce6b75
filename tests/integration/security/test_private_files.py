"""Files that hold secrets are the owner's alone: the database, the key file, the first
admin's file (0600), the data directory we create (0700); and /metrics behind a token."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from tests.platform_fixtures import make_settings, running_harness

from signalbridge.bootstrap import build_container
from signalbridge.integrations.vault import load_or_create_key_file, write_key_file
from signalbridge.services.auth import authenticate
from signalbridge.services.users import FIRST_ADMIN_FILE, ensure_admin, write_private_file
from signalbridge.settings import Settings
from signalbridge.store.db import make_engine
from signalbridge.store.migrate import upgrade


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The most permissive umask a user may have: modes must not depend on it."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


async def test_database_files_are_0600_and_a_new_data_dir_0700(
    tmp_path: Path, loose_umask: None
) -> None:
    data_dir = tmp_path / "fresh" / "data"
    container = build_container(Settings(data_dir=data_dir, secret_keys=SecretStr("")))
    try:
        await upgrade(container.engine)
        async with container.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE scratch (x INTEGER)"))
            await conn.execute(text("INSERT INTO scratch VALUES (1)"))
        db = data_dir / "signalbridge.db"
        files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
        assert all(f.exists() for f in files)  # WAL mode: all three while connected
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
        assert mode(data_dir) == 0o700
        assert mode(data_dir / "secret.keys") == 0o600
    finally:
        await container.engine.dispose()


async def test_an_existing_loose_database_is_tightened(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (x INTEGER)"))
    await engine.dispose()
    db.chmod(0o644)
    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    await engine.dispose()
    assert mode(db) == 0o600


def test_key_files_are_0600_even_over_a_leftover_temp_file(
    tmp_path: Path, loose_umask: None
) -> None:
    key_file = tmp_path / "keys" / "secret.keys"
    keys = load_or_create_key_file(key_file)
    assert mode(key_file) == 0o600 and mode(key_file.parent) == 0o700
    leftover = key_file.with_name(key_file.name + ".tmp")
    leftover.write_text("junk")
    leftover.chmod(0o644)
    write_key_file(key_file, ["new-key", *keys])
    assert mode(key_file) == 0o600
    assert key_file.read_text().split() == ["new-key", *keys]


def test_private_files_are_written_whole_and_0600(tmp_path: Path, loose_umask: None) -> None:
    target = tmp_path / "secret.txt"
    target.write_text("old")
    target.chmod(0o644)
    write_private_file(target, "new contents\n")
    assert target.read_text() == "new contents\n" and mode(target) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.txt"]  # no temp file left


async def test_first_admin_file(tmp_path: Path, database_url: str, loose_umask: None) -> None:
    container = build_container(make_settings(tmp_path, database_url, token_days=30))
    try:
        await upgrade(container.engine)
        path = tmp_path / FIRST_ADMIN_FILE
        admin = await ensure_admin(
            container.sessions, "root@example.com", None, token_days=30, secrets_file=path
        )
        assert admin is not None and admin.file == path
        assert mode(path) == 0o600
        lines = dict(line.split(": ", 1) for line in path.read_text().splitlines() if ": " in line)
        assert lines["email"] == "root@example.com"
        assert lines["password"] == admin.password and len(admin.password) >= 16
        assert lines["token"] == admin.token
        async with container.sessions() as s:
            who = await authenticate(s, lines["token"])
        assert who.email == "root@example.com" and "admin" in who.scopes
        assert admin.token_expires_at is not None
        assert lines["token_expires_at"] == admin.token_expires_at.isoformat()
        # a second start finds the admin and leaves the file alone
        again = await ensure_admin(container.sessions, "x@example.com", None, secrets_file=path)
        assert again is None and lines["token"] in path.read_text()
    finally:
        await container.engine.dispose()


async def test_first_admin_file_does_not_repeat_a_configured_password(tmp_path: Path) -> None:
    container = build_container(make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/x.db"))
    try:
        await upgrade(container.engine)
        path = tmp_path / FIRST_ADMIN_FILE
        admin = await ensure_admin(
            container.sessions, "root@example.com", "operator-chosen-pw", secrets_file=path
        )
        assert admin is not None and not admin.password_generated
        content = path.read_text()
        assert "operator-chosen-pw" not in content and admin.token in content
    finally:
        await container.engine.dispose()


async def test_metrics_open_without_the_setting(tmp_path: Path, database_url: str) -> None:
    async with running_harness(make_settings(tmp_path, database_url)) as h:
        assert (await h.client.get("/metrics")).status_code == 200


async def test_metrics_require_the_token_when_set(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'signalbridge.db'}"
    secret = "CANARYmetrics-token-8Jd2"
    async with running_harness(make_settings(tmp_path, url, metrics_token=secret)) as h:
        c = h.client
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": f"Basic {secret}"},
            {"Authorization": f"Bearer {secret}x"},
            {"Authorization": f"Bearer {secret[:-1]}"},
            h.auth,  # an API token is not the metrics token
        ):
            refused = await c.get("/metrics", headers=headers)
            assert refused.status_code == 401, headers
            assert secret not in refused.text and "WWW-Authenticate" in refused.headers
        ok = await c.get("/metrics", headers={"Authorization": f"Bearer {secret}"})
        assert ok.status_code == 200 and "signalbridge" in ok.text
        # the other health routes stay open for probes
        assert (await c.get("/healthz")).status_code == 200
        assert (await c.get("/readyz")).status_code == 200


def test_tokens_days_setting_bounds() -> None:
    assert Settings(token_days=1).token_days == 1
    for bad in (0, 3651):
        with pytest.raises(ValueError):
            Settings(token_days=bad)
