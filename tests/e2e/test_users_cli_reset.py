"""``signalbridge users reset-link`` and ``users approve`` as an operator runs them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select
from tests.e2e.test_cli import run

from signalbridge.services.auth import token_hash
from signalbridge.settings import Settings
from signalbridge.store import models as m
from signalbridge.store.db import make_engine, make_sessionmaker


async def _reset_rows(data_dir: Path) -> list[m.PasswordReset]:
    engine = make_engine(Settings(data_dir=data_dir).resolved_database_url)
    try:
        async with make_sessionmaker(engine)() as s:
            return list((await s.scalars(select(m.PasswordReset))).all())
    finally:
        await engine.dispose()


def test_reset_link_is_single_use_and_the_newest_wins(tmp_path: Path) -> None:
    made = run(
        ["users", "create", "m@example.com"],
        tmp_path,
        SIGNALBRIDGE_NEW_USER_PASSWORD="a long password",
    )
    assert made.returncode == 0, made.stderr
    first = run(
        ["users", "reset-link", "m@example.com", "--base-url", "https://sb.example/"], tmp_path
    )
    second = run(["users", "reset-link", "m@example.com"], tmp_path)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    link1, link2 = first.stdout.strip(), second.stdout.strip()
    assert link1.startswith("https://sb.example/reset/")
    assert link2.startswith("http://localhost:8000/reset/")
    rows = asyncio.run(_reset_rows(tmp_path))
    by_hash = {r.token_hash: r for r in rows}
    one, two = (by_hash[token_hash(link.rsplit("/", 1)[1])] for link in (link1, link2))
    assert one.used_at is not None  # the older link died when the newer was made
    assert two.used_at is None and two.expires_at > two.created_at
    assert link1.rsplit("/", 1)[1] not in str([r.token_hash for r in rows])  # hash only


def test_approve_and_unknown_email_fail_clearly(tmp_path: Path) -> None:
    run(["users", "create", "a@example.com"], tmp_path, SIGNALBRIDGE_NEW_USER_PASSWORD="x" * 12)
    not_pending = run(["users", "approve", "a@example.com"], tmp_path)
    assert not_pending.returncode == 2
    assert "not waiting for approval" in not_pending.stderr
    nobody = run(["users", "reset-link", "nobody@example.com"], tmp_path)
    assert nobody.returncode == 2 and "no user has the email" in nobody.stderr
