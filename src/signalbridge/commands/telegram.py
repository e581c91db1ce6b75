"""``signalbridge telegram login|status --channel ID``: a Telegram user channel's account.

``login`` asks the phone number, then the code Telegram sends, then the two-step
verification password if the account has one; the code and the password are read
without echo. The session it yields is sealed in the vault as the channel's ``session``
secret, in one transaction with an audit record, and is never printed or logged.
``status`` is the health probe: "authorised as @name" or "needs login".

The channel (type ``telegram_user``, with ``api_id`` and ``api_hash``) is created first,
through the API, like any channel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from signalbridge.commands.common import build, fail, load_settings, migrate_schema

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from signalbridge.bootstrap import Container
    from signalbridge.channels.telegram.user_login import LoginClient
    from signalbridge.channels.telegram_user import TelegramUserConfig

ChannelOption = Annotated[
    int, typer.Option("--channel", min=1, max=2**63 - 1, help="The telegram_user channel's id.")
]


def telethon_client(config: TelegramUserConfig) -> LoginClient:
    """A Telethon client on a fresh, empty ``StringSession`` (replaced in tests)."""
    from telethon import TelegramClient
    from telethon.sessions import StringSession

    client: LoginClient = TelegramClient(
        StringSession(), config.api_id, config.api_hash.get_secret_value()
    )
    return client


#: Builds the login's client from the channel's config.
client_factory: Callable[[TelegramUserConfig], LoginClient] = telethon_client


async def ask(prompt: str, secret: bool) -> str:
    """The operator's answer, off the event loop (Telethon's connection keeps running);
    a ``secret`` one is read like a password, without echo."""
    answer: Any = await asyncio.to_thread(typer.prompt, prompt, hide_input=secret)
    return str(answer)


async def load_channel(s: AsyncSession, c: Container, channel_id: int) -> TelegramUserConfig:
    """The channel's validated config, secrets unsealed; ValueError when it is not one."""
    from signalbridge.channels.telegram_user import TYPE, TelegramUserConfig
    from signalbridge.integrations.sealing import unseal
    from signalbridge.store import models as m

    row = await s.get(m.ChannelSource, channel_id)
    if row is None or row.type != TYPE:
        raise ValueError(f"no {TYPE} channel with id {channel_id}")
    secrets = unseal(c.vault, "channel_sources", row.id, row.secrets_enc)
    config = c.registry.validate_config("channel", TYPE, {**row.config, **secrets})
    assert isinstance(config, TelegramUserConfig)
    return config


async def save_session(
    s: AsyncSession, c: Container, channel_id: int, session: str, who: str
) -> None:
    """Seal ``session`` beside the channel's other secrets and audit the login (the
    account's name only), in the caller's transaction."""
    from signalbridge.integrations.sealing import seal, unseal
    from signalbridge.services import audit
    from signalbridge.store import models as m

    row = await s.get_one(m.ChannelSource, channel_id, with_for_update=True)
    secrets = {**unseal(c.vault, "channel_sources", row.id, row.secrets_enc), "session": session}
    row.secrets_enc = seal(c.vault, "channel_sources", row.id, secrets)
    await audit.record(
        s,
        actor="cli",
        actor_id=None,
        action="telegram_login",
        entity="channel",
        entity_id=row.id,
        changes={"account": who},
    )


def login(channel: ChannelOption) -> None:
    """Log a telegram_user channel's account in (phone, code, 2FA password) and seal its
    session in the vault."""
    from signalbridge.channels.telegram.user_login import LoginFailed
    from signalbridge.channels.telegram.user_login import login as sign_in
    from signalbridge.channels.telegram_user import describe

    settings = load_settings()

    async def run() -> str:
        c = build(settings)
        try:
            await migrate_schema(c)
            async with c.sessions() as s:
                config = await load_channel(s, c, channel)
            client = client_factory(config)
            try:
                done = await sign_in(client, ask)
            finally:
                await _disconnect(client)
            who = describe(done.user)
            async with c.sessions() as s, s.begin():
                await save_session(s, c, channel, done.session, who)
            return who
        finally:
            await c.engine.dispose()

    try:
        who = asyncio.run(run())
    except (ValueError, LoginFailed) as exc:
        fail(str(exc))
    typer.echo(f"channel {channel}: authorised as {who}; the session is sealed in the vault")


def status(channel: ChannelOption) -> None:
    """Whether a telegram_user channel's session works: "authorised as @name" or "needs
    login"."""
    from signalbridge.channels.telegram_user import TelegramUserChannel

    settings = load_settings()

    async def run() -> str:
        c = build(settings)
        try:
            await migrate_schema(c)
            async with c.sessions() as s:
                config = await load_channel(s, c, channel)
            adapter = TelegramUserChannel.from_config(config, channel_id=channel, deps=None)
            try:
                return await adapter.probe()
            finally:
                await _disconnect(adapter.source)
        finally:
            await c.engine.dispose()

    try:
        answer = asyncio.run(run())
    except ValueError as exc:
        fail(str(exc))
    typer.echo(f"channel {channel}: {answer}")


async def _disconnect(client: object) -> None:
    """Close what has a ``disconnect``/``close`` (Telethon's client, the source)."""
    for name in ("disconnect", "close"):
        method = getattr(client, name, None)
        if callable(method):
            result = method()
            if asyncio.iscoroutine(result):
                await result
            return
