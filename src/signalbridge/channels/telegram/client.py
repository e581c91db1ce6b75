"""A small Telegram Bot API client over the kernel's HTTP client factory.

python-telegram-bot, aiogram and Telethon are not installable in this build, and the Bot
API is plain HTTPS + JSON, so this client is ~one method: ``call(method, params)`` POSTs
JSON to ``<api_url>/bot<token>/<method>`` through a client from the one
:class:`~signalbridge.integrations.http.HttpClientFactory` (SSRF guard, size and time caps,
metrics, redacted debug logs) and the connection's
:class:`~signalbridge.integrations.guard.ConnectionGuard` (retries, breaker, health), and
answers ``result`` or raises the kernel error of :mod:`.errors`.

The token is part of the URL path. It is registered with the redaction layer when the
client is built, so every log line and error text the kernel writes shows ``****`` in its
place, and no error this module raises names the URL at all.

Stable API for other modules (notifications send through it)::

    api = BotApi(token, http=factory, guard=kernel.guard("notify", 0, "telegram"))
    message = await api.send_message(chat_id, text)   # -> the sent Message (dict)

``send_message(chat_id: int | str, text: str, *, parse_mode: str | None = None,
disable_notification: bool = False, reply_to_message_id: int | None = None) -> dict``
raises :class:`~signalbridge.integrations.errors.RateLimited` (``retry_after``),
:class:`.errors.ChatMigrated` (``migrate_to_chat_id``), :class:`.errors.ChatForbidden`,
:class:`.errors.BadRequest`, ``AuthenticationError``, or ``TransientError`` /
``AmbiguousOutcome`` when the request may have been sent but no answer came: it is then
not retried here, since Telegram has no idempotency key and a retry could post twice.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from signalbridge.channels.telegram.errors import error_from_answer
from signalbridge.integrations.errors import TransientError
from signalbridge.integrations.guard import ConnectionGuard
from signalbridge.integrations.http import HttpClientFactory, fetch
from signalbridge.integrations.redaction import register_secret

DEFAULT_API_URL = "https://api.telegram.org"
#: ``<bot id>:<secret>`` as @BotFather hands it out; anything else never reaches a URL.
BOT_KEY_SHAPE = r"[0-9]{1,20}:[A-Za-z0-9_-]{20,100}"
_TOKEN = re.compile(BOT_KEY_SHAPE)
_METHOD = re.compile(r"[A-Za-z]{1,64}")
#: Bot API answers are small (100 updates of 4096 characters at most).
MAX_ANSWER_BYTES = 4 * 1024 * 1024
#: Seconds a call may take beyond a long poll's own ``timeout``.
SLACK_SECONDS = 10.0
MAX_TEXT = 4096
UPDATE_TYPES = ("message", "edited_message", "channel_post", "edited_channel_post")


class BotApi:
    """One bot's Bot API; see the module for the stable ``send_message`` contract."""

    def __init__(
        self,
        token: str,
        *,
        http: HttpClientFactory,
        guard: ConnectionGuard,
        api_url: str = DEFAULT_API_URL,
        request_timeout: float = 15.0,
    ) -> None:
        if not _TOKEN.fullmatch(token):
            raise ValueError("a bot token looks like 123456:ABC-DEF... (from @BotFather)")
        register_secret(token)  # scrubbed from every log line and error text from now on
        self._token = token
        self._http = http
        self._guard = guard
        self._base = api_url.rstrip("/")
        self._timeout = request_timeout

    def __repr__(self) -> str:
        return f"BotApi(bot_id={self.bot_id}, api_url={self._base!r})"

    @property
    def bot_id(self) -> int:
        """The numeric part of the token: public (it is the bot's user id)."""
        return int(self._token.split(":", 1)[0])

    async def call(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        idempotent: bool = True,
        wait: float = 0.0,
    ) -> Any:
        """``result`` of one Bot API method; kernel errors otherwise.

        ``wait`` is how long Telegram may hold the request (``getUpdates``' ``timeout``);
        the client's own deadline is that plus a margin. Writes (``idempotent=False``)
        are retried only where Telegram said it did nothing (429).
        """
        if not _METHOD.fullmatch(method):
            raise ValueError("a Bot API method name is letters only")
        body = {k: v for k, v in (params or {}).items() if v is not None}
        return await self._guard.call(lambda: self._once(method, body, wait), idempotent=idempotent)

    async def _once(self, method: str, body: dict[str, Any], wait: float) -> Any:
        deadline = self._timeout + wait + (SLACK_SECONDS if wait else 0.0)
        cfg = self._http.config.with_(
            total_timeout=deadline,
            read_timeout=deadline,
            max_response_bytes=MAX_ANSWER_BYTES,
            follow_redirects=False,
        )
        async with self._http.create(
            f"telegram:{self.bot_id}", user_url=True, config=cfg
        ) as client:
            response = await fetch(
                client,
                "POST",
                f"{self._base}/bot{self._token}/{method}",
                max_bytes=MAX_ANSWER_BYTES,
                deadline=deadline,
                json=body,
            )
        try:
            payload: Any = json.loads(response.content)
        except ValueError:
            payload = None
        status = response.status_code
        if status == 200 and isinstance(payload, dict) and payload.get("ok") is True:
            if "result" not in payload:
                raise TransientError(f"Telegram {method}: an answer without a result")
            return payload["result"]
        if status == 200:
            raise TransientError(f"Telegram {method}: an unreadable answer")
        raise error_from_answer(method, status, payload)

    async def get_me(self) -> dict[str, Any]:
        """The bot's own User object (the connection test)."""
        return _object(await self.call("getMe"), "getMe")

    async def get_updates(
        self,
        offset: int | None,
        *,
        limit: int = 100,
        long_poll: int = 0,
        allowed_updates: Sequence[str] = UPDATE_TYPES,
    ) -> list[dict[str, Any]]:
        """Updates from ``offset`` on (which confirms every earlier one), oldest first;
        ``long_poll`` seconds of long polling (Telegram's ``timeout``; 0: answer at once)."""
        result = await self.call(
            "getUpdates",
            {
                "offset": offset,
                "limit": limit,
                "timeout": long_poll,
                "allowed_updates": list(allowed_updates),
            },
            wait=float(long_poll),
        )
        if not isinstance(result, list):
            raise TransientError("Telegram getUpdates: the result is not a list")
        return [u for u in result if isinstance(u, dict)]

    async def set_webhook(
        self,
        url: str,
        *,
        secret_token: str,
        allowed_updates: Sequence[str] = UPDATE_TYPES,
        drop_pending_updates: bool = False,
        max_connections: int | None = None,
    ) -> bool:
        """Ask Telegram to POST updates to ``url`` with ``secret_token`` in the
        ``X-Telegram-Bot-Api-Secret-Token`` header."""
        result = await self.call(
            "setWebhook",
            {
                "url": url,
                "secret_token": secret_token,
                "allowed_updates": list(allowed_updates),
                "drop_pending_updates": drop_pending_updates or None,
                "max_connections": max_connections,
            },
        )
        return result is True

    async def delete_webhook(self, *, drop_pending_updates: bool = False) -> bool:
        """Back to ``getUpdates``; pending updates are kept unless dropped."""
        result = await self.call(
            "deleteWebhook", {"drop_pending_updates": drop_pending_updates or None}
        )
        return result is True

    async def get_webhook_info(self) -> dict[str, Any]:
        """The webhook Telegram has for this bot (``url`` "" when none)."""
        return _object(await self.call("getWebhookInfo"), "getWebhookInfo")

    async def send_message(
        self,
        chat_id: int | str,
        text: str,
        *,
        parse_mode: str | None = None,
        disable_notification: bool = False,
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """Post ``text`` (1-4096 characters) to ``chat_id``; the sent Message. Not retried
        after an unknown outcome (see the module)."""
        if not 1 <= len(text) <= MAX_TEXT:
            raise ValueError(f"a Telegram message is 1-{MAX_TEXT} characters")
        params: dict[str, Any] = {
            "chat_id": chat_id,
            "text": text,
            "parse_mode": parse_mode,
            "disable_notification": disable_notification or None,
        }
        if reply_to_message_id is not None:
            params["reply_parameters"] = {"message_id": reply_to_message_id}
        return _object(await self.call("sendMessage", params, idempotent=False), "sendMessage")


def _object(result: Any, method: str) -> dict[str, Any]:
    if not isinstance(result, dict):
        raise TransientError(f"Telegram {method}: the result is not an object")
    return result
