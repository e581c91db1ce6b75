"""The telegram_user channel through the real registry, vault, polling runner and
databases (SQLite and PostgreSQL), with a fake account in place of the MTProto link
(which cannot be tested offline): posts and edits stored once, the per-chat cursor saved
with them so a restart catches up losing and repeating nothing, FloodWait and "needs
login" in the channel's health; and `signalbridge telegram login` / `status` as real
subprocesses: the session sealed in the vault, never in the config, the output or a log.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests.fakes.telethon_source import CODE, PASSWORD, SESSION, Clock, FakeAccount, post
from tests.polling_rig import PollingRig, migrated

from signalbridge.channels.telegram.user_cursor import load_marks
from signalbridge.channels.telegram_user import TelegramUserChannel, TelegramUserConfig
from signalbridge.integrations.sealing import unseal
from signalbridge.settings import Settings
from signalbridge.store import models as m

HASH = "0123456789abcdef0123456789abcdef"
SIGNALS = 1500
KEY = "-1000000001500"
SIGNAL_TEXT = "BTC/USDT LONG\nEntry 59900-60100\nSL 58000\nTP1 62000\nTP2 64000\nLeverage 10x"


@dataclass(kw_only=True)
class Rig(PollingRig):
    account: FakeAccount
    configs: list[TelegramUserConfig]

    async def channel(self, **config: Any) -> m.ChannelSource:
        values = {"api_id": 12345, "api_hash": HASH, "chats": ["@signals"], **config}
        return await self.add_channel("telegram_user", values, name="tg user")

    async def rows(self, channel: m.ChannelSource) -> list[m.Message]:
        return await self.messages(channel)

    async def cursor(self, channel: m.ChannelSource) -> str | None:
        return await self.cursor_text(channel)


@pytest.fixture
async def rig(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Rig]:
    account = FakeAccount()
    configs: list[TelegramUserConfig] = []

    def source(config: TelegramUserConfig) -> FakeAccount:
        configs.append(config)  # what the runner unsealed for the real source
        return account

    monkeypatch.setattr(TelegramUserChannel, "source_factory", staticmethod(source))
    async with migrated(tmp_path, database_url) as (settings, container, owner):
        yield Rig(
            settings=settings,
            container=container,
            owner_id=owner,
            clock=Clock(),  # the Telethon fake's clock: its posts' dates follow it
            account=account,
            configs=configs,
        )


async def test_posts_and_edits_are_stored_once_and_a_restart_catches_up(rig: Rig) -> None:
    acct, clock = rig.account, rig.clock
    acct.add("@signals", post(SIGNALS, 1, "before the channel existed"))
    channel = await rig.channel(session=SESSION)
    assert await rig.runner().poll_channel(channel) == 0  # the start mark only
    assert rig.configs[0].session is not None
    assert rig.configs[0].session.get_secret_value() == SESSION  # unsealed from the vault
    assert SESSION not in str(channel.config) and HASH not in str(channel.config)

    acct.add("@signals", post(SIGNALS, 2, SIGNAL_TEXT, at=clock.now))
    acct.add("@signals", post(SIGNALS, 3, "TP1 hit", at=clock.now, reply_to=2))
    assert await rig.runner().poll_channel(channel) == 2
    assert load_marks(await rig.cursor(channel))["@signals"].last_id == 3

    # Posted and edited while no runner ran; a new runner (new adapter) catches up.
    acct.add("@signals", post(SIGNALS, 4, "ETH short", at=clock.now))
    clock.advance(60)
    acct.edit("@signals", 2, SIGNAL_TEXT.replace("SL 58000", "SL 58500"), clock.now)
    assert await rig.runner("restarted").poll_channel(channel) == 2
    assert await rig.runner("restarted").poll_channel(channel) == 0
    stored = await rig.rows(channel)
    ids = [row.external_id for row in stored]
    assert ids[:2] == [f"{KEY}:2", f"{KEY}:3"]  # the first poll's, in order
    assert sorted(ids) == sorted(
        [f"{KEY}:2", f"{KEY}:3", f"{KEY}:4", f"{KEY}:2/e{int(clock.now.timestamp())}"]
    )
    edit = next(row for row in stored if "/e" in row.external_id)
    assert "SL 58500" in edit.text


async def test_flood_wait_shows_in_health_and_keeps_the_cursor(rig: Rig) -> None:
    channel = await rig.channel(session=SESSION)
    await rig.runner().poll_channel(channel)
    before = await rig.cursor(channel)
    rig.account.add("@signals", post(SIGNALS, 1, SIGNAL_TEXT, at=rig.clock.now))
    rig.account.flood_seconds = 90
    runner = rig.runner()
    with pytest.raises(Exception, match="FloodWait"):
        await runner.poll_channel(channel)
    health = await rig.health(channel)
    assert health is not None and health.last_error is not None
    assert "FloodWait" in health.last_error and await rig.cursor(channel) == before
    rig.account.flood_seconds = None
    rig.clock.advance(30)
    with pytest.raises(Exception, match="next try in"):  # the same adapter waits it out
        await runner.poll_channel(channel)
    rig.clock.advance(61)
    assert await runner.poll_channel(channel) == 1


async def test_a_channel_without_a_session_needs_login_in_health(rig: Rig) -> None:
    rig.account.revoked = True
    channel = await rig.channel()
    with pytest.raises(Exception, match="needs login"):
        await rig.runner().poll_channel(channel)
    health = await rig.health(channel)
    assert health is not None and "needs login" in (health.last_error or "")


SCRIPT = textwrap.dedent(
    """
    import sys
    from tests.fakes.telethon_source import FakeAccount, FakeLoginClient
    from signalbridge.channels.telegram_user import TelegramUserChannel
    from signalbridge.commands import telegram

    telegram.client_factory = lambda config: FakeLoginClient()
    TelegramUserChannel.source_factory = staticmethod(
        lambda config: FakeAccount(revoked=config.session is None)
    )
    from signalbridge.cli import main
    main(sys.argv[1:])
    """
)


def cli(settings: Settings, args: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SIGNALBRIDGE_DATA_DIR": str(settings.data_dir),
        "SIGNALBRIDGE_DATABASE_URL": settings.database_url,
        "SIGNALBRIDGE_SECRET_KEYS": settings.secret_keys.get_secret_value(),
        "SIGNALBRIDGE_LOG_LEVEL": "DEBUG",
        "SIGNALBRIDGE_LOG_JSON": "true",
    }
    env.pop("SIGNALBRIDGE_REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, *args],
        input=stdin,
        env=env,
        cwd=Path(__file__).resolve().parents[3],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_cli_login_seals_the_session_and_never_shows_it(rig: Rig) -> None:
    channel = await rig.channel()
    args = ["telegram", "status", "--channel", str(channel.id)]
    before = await asyncio.to_thread(cli, rig.settings, args)
    assert before.returncode == 0 and "needs login" in before.stdout

    login = ["telegram", "login", "--channel", str(channel.id)]
    answers = f"+44 7700 900123\n{CODE}\n{PASSWORD}\n"
    done = await asyncio.to_thread(cli, rig.settings, login, answers)
    assert done.returncode == 0, done.stderr
    assert "authorised as @copier" in done.stdout
    for secret in (SESSION, CODE, PASSWORD, HASH):
        assert secret not in done.stdout and secret not in done.stderr  # output and logs

    async with rig.container.sessions() as s:
        row = await s.get_one(m.ChannelSource, channel.id)
        audit = await s.scalar(select(m.AuditEntry).where(m.AuditEntry.action == "telegram_login"))
    secrets = unseal(rig.container.vault, "channel_sources", row.id, row.secrets_enc)
    assert secrets == {"api_hash": HASH, "session": SESSION}
    assert SESSION not in str(row.config) and SESSION not in (row.secrets_enc or "")
    assert audit is not None and audit.changes == {"account": "@copier"}

    after = await asyncio.to_thread(cli, rig.settings, args)
    assert after.returncode == 0 and "authorised as @copier" in after.stdout


async def test_cli_login_refuses_another_channel_type(rig: Rig) -> None:
    async with rig.container.sessions() as s, s.begin():
        row = m.ChannelSource(name="hook", type="webhook", config={}, owner_id=rig.owner_id)
        s.add(row)
    result = await asyncio.to_thread(
        cli, rig.settings, ["telegram", "login", "--channel", str(row.id)], "+447700900123\n"
    )
    assert result.returncode == 2 and "no telegram_user channel" in result.stderr
