"""Telegram's webhook mode for a ``telegram_bot`` channel: switching it on and off, and
telling Telegram's deliveries from anyone else's.

Switching on generates a ``secret_token`` (32 random bytes, URL-safe: Telegram allows
``[A-Za-z0-9_-]``), calls ``setWebhook`` with it, and only when Telegram accepted it
seals it with the channel's other secrets and sets ``mode: "webhook"``: a refusal changes
nothing. Telegram sends the token back in ``X-Telegram-Bot-Api-Secret-Token`` on every
delivery; :meth:`TelegramWebhooks.authenticate` compares it in constant time, against a
process-random dummy when the channel does not exist, is of another type, has no webhook
secret or cannot be decrypted, and the route answers all of those with the same 403.
Switching off calls ``deleteWebhook`` and removes the secret: polling resumes.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.channels.fetching import ChannelDeps
from signalbridge.channels.telegram_bot import TYPE, TelegramBotConfig, bot_api
from signalbridge.integrations.registry import AdapterRegistry
from signalbridge.integrations.sealing import seal, unseal
from signalbridge.integrations.vault import Vault, VaultError
from signalbridge.services import audit
from signalbridge.services.auth import Principal
from signalbridge.store import models as m

AUTH_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_ID = 2**63 - 1
SECRET_FIELDS = ("bot_token", "webhook_secret")
_DUMMY = secrets.token_urlsafe(32).encode()


class NotATelegramChannel(ValueError):
    """The channel is of another type: it has no Telegram webhook."""


@dataclass(frozen=True)
class WebhookChange:
    """What switching the webhook changed, for the audit trail (secrets masked there)."""

    config: TelegramBotConfig
    changes: dict[str, Any]
    info: dict[str, Any]


def new_secret_token() -> str:
    """A ``secret_token`` Telegram accepts (1-256 of ``[A-Za-z0-9_-]``): 43 characters."""
    return secrets.token_urlsafe(32)


def parse_id(raw: str) -> int | None:
    """A channel id from a path, or None when it cannot be one (no database read then)."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        return None
    value = int(raw)
    return value if 1 <= value <= MAX_ID else None


class TelegramWebhooks:
    """Webhook mode of telegram_bot channels; one per request is cheap (no I/O here)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        vault: Vault,
        registry: AdapterRegistry,
        deps: ChannelDeps,
    ) -> None:
        self._sessions = sessions
        self._vault = vault
        self._registry = registry
        self._deps = deps

    def config(self, row: m.ChannelSource) -> TelegramBotConfig:
        """The channel's config with its secrets; :class:`NotATelegramChannel` otherwise."""
        if row.type != TYPE:
            raise NotATelegramChannel(f"channel {row.id} is a {row.type} channel, not {TYPE}")
        current = unseal(self._vault, "channel_sources", row.id, row.secrets_enc)
        return _typed(self._registry.validate_config("channel", TYPE, {**row.config, **current}))

    async def authenticate(
        self, raw_id: str, header: str | None
    ) -> tuple[m.ChannelSource, TelegramBotConfig] | None:
        """The channel and its config when ``header`` is its webhook secret, else None."""
        channel_id = parse_id(raw_id)
        row: m.ChannelSource | None = None
        if channel_id is not None:
            async with self._sessions() as session:
                row = await session.get(m.ChannelSource, channel_id)
        config: TelegramBotConfig | None = None
        if row is not None and row.type == TYPE:
            try:
                config = self.config(row)
            except (VaultError, ValueError):
                config = None
        secret = config.webhook_secret if config is not None else None
        expected = secret.get_secret_value().encode() if secret is not None else _DUMMY
        given = (header or "").encode("utf-8", "surrogateescape")
        matches = hmac.compare_digest(expected, given)
        if not matches or secret is None or row is None or config is None:
            return None
        return row, config

    async def enable(
        self, channel_id: int, url: str, who: Principal, *, drop_pending_updates: bool = False
    ) -> WebhookChange:
        """``setWebhook(url, secret_token)``, then the secret sealed and audited in one
        transaction. Kernel errors from Telegram change nothing. No transaction is open
        while Telegram is asked (the kernel records health in sessions of its own)."""
        config = await self._load(channel_id)
        token = new_secret_token()
        api = bot_api(config, channel_id, self._deps)
        await api.set_webhook(url, secret_token=token, drop_pending_updates=drop_pending_updates)
        info = await api.get_webhook_info()
        changes = {
            "mode": [config.mode, "webhook"],
            "webhook_url": url,
            "webhook_secret": [_plain(config), token],
        }
        changed = await self._save(channel_id, config, who, changes, mode="webhook", secret=token)
        return WebhookChange(changed, changes, info)

    async def disable(self, channel_id: int, who: Principal) -> WebhookChange:
        """``deleteWebhook``, then the secret removed and polling back on (audited)."""
        config = await self._load(channel_id)
        api = bot_api(config, channel_id, self._deps)
        await api.delete_webhook()
        info = await api.get_webhook_info()
        changes = {"mode": [config.mode, "polling"], "webhook_secret": [_plain(config), None]}
        changed = await self._save(channel_id, config, who, changes, mode="polling", secret=None)
        return WebhookChange(changed, changes, info)

    async def _load(self, channel_id: int) -> TelegramBotConfig:
        async with self._sessions() as session:
            return self.config(await _row(session, channel_id))

    async def _save(
        self,
        channel_id: int,
        config: TelegramBotConfig,
        who: Principal,
        changes: dict[str, Any],
        *,
        mode: str,
        secret: str | None,
    ) -> TelegramBotConfig:
        async with self._sessions() as session, session.begin():
            row = await _row(session, channel_id)
            changed = self._store(row, config, mode=mode, secret=secret)
            await audit.record_by(
                session,
                who,
                action="update",
                entity="channel",
                entity_id=channel_id,
                changes=changes,
                secret_fields=SECRET_FIELDS,
            )
        return changed

    def _store(
        self, row: m.ChannelSource, config: TelegramBotConfig, *, mode: str, secret: str | None
    ) -> TelegramBotConfig:
        values = config.model_dump(mode="python")
        values.update(
            bot_token=config.bot_token.get_secret_value(), webhook_secret=secret, mode=mode
        )
        public, sealed = self._registry.split_config("channel", TYPE, values)
        row.config = public
        row.secrets_enc = seal(self._vault, "channel_sources", row.id, sealed)
        return _typed(self._registry.validate_config("channel", TYPE, values))


async def _row(session: AsyncSession, channel_id: int) -> m.ChannelSource:
    row = await session.get(m.ChannelSource, channel_id)
    if row is None:  # deleted while Telegram was asked
        raise NotATelegramChannel(f"channel {channel_id} no longer exists")
    return row


def _plain(config: TelegramBotConfig) -> str | None:
    secret = config.webhook_secret
    return secret.get_secret_value() if secret is not None else None


def _typed(model: object) -> TelegramBotConfig:
    if not isinstance(model, TelegramBotConfig):
        raise TypeError(f"{TYPE} is registered with another config schema")
    return model
