"""Telegram bot channels over HTTP: Telegram's webhook deliveries in, and the webhook
switched on and off by staff.

``POST /webhooks/telegram/{channel_id}`` is what Telegram calls in webhook mode. A
delivery without the channel's ``X-Telegram-Bot-Api-Secret-Token`` (missing, wrong, an
unknown or deactivated channel, another type of channel), or whose body is not a JSON
object sent as ``application/json``, answers 403 and changes nothing, as
python-telegram-bot's own webhook server does. An authentic update is read like a
polled one and handed to the one intake path within the bot's inbound limits
(``config.max_message_chars`` and ``config.rate_limit``, services/inbound_limits.py,
the budget shared with polling). It answers 200 whatever the message became (a repeat,
noise, a rejected signal, a message over ``max_message_chars``: refused, never cut, and
stored once as rejected with the reason), since any other answer makes Telegram send it
again. A delivery over the rate answers 429 with ``Retry-After`` and stores nothing:
Telegram sends it again later, so nothing is lost.

``POST /api/v1/channels/{id}/telegram/webhook`` (``{"url": "https://..."}``) sets the
webhook with a fresh secret sealed in the vault; ``DELETE`` removes it and polling
resumes. Both are channel writes (staff), audited with the secret masked; a refusal by
Telegram answers 424 with Telegram's reason and changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator

from signalbridge.bootstrap import Container
from signalbridge.channels.fetching import ChannelDeps
from signalbridge.channels.inbound_limits import MAX_READ_CHARS
from signalbridge.channels.telegram.updates import to_inbound
from signalbridge.channels.telegram_bot import TYPE
from signalbridge.integrations.errors import IntegrationError
from signalbridge.integrations.redaction import redact
from signalbridge.integrations.ssrf import url_syntax_problem
from signalbridge.integrations.vault import VaultError
from signalbridge.services.auth import Principal
from signalbridge.services.inbound_limits import Limits, OverRate
from signalbridge.services.telegram_webhooks import (
    AUTH_HEADER,
    NotATelegramChannel,
    TelegramWebhooks,
    WebhookChange,
)
from signalbridge.store.types import utcnow
from signalbridge.web.deps import ContainerDep, fetch, require
from signalbridge.web.errors import ApiError, ErrorBody
from signalbridge.web.params import Id
from signalbridge.web.raw_body import read_capped
from signalbridge.web.routes.webhooks import OVER_RATE_RESPONSE, over_rate, push_limits

FORBIDDEN = "not a delivery from Telegram for this channel"
router = APIRouter(tags=["webhooks"])
api_router = APIRouter(
    prefix="/channels",
    tags=["channels"],
    responses={
        424: {
            "model": ErrorBody,
            "description": "Telegram refused the call (its reason in the message); nothing changed",
        }
    },
)
writer = Depends(require("channels:write", "channel", "write"))


def webhooks(c: Container) -> TelegramWebhooks:
    return TelegramWebhooks(
        c.sessions, c.vault, c.registry, ChannelDeps(http=c.http, kernel=c.kernel)
    )


def _update(request: Request, body: bytes) -> dict[str, Any] | None:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != (
        "application/json"
    ):
        return None
    try:
        update = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return update if isinstance(update, dict) else None


@router.post(
    "/webhooks/telegram/{channel_id}",
    responses={
        200: {
            "description": "taken (stored, or nothing to store); a message over the bot's "
            "max_message_chars is stored as rejected with the reason"
        },
        403: {"description": "not Telegram: secret token missing or wrong, or not JSON"},
        413: {"description": "body over the size limit"},
        429: OVER_RATE_RESPONSE,
    },
)
async def receive(channel_id: str, request: Request, c: ContainerDep) -> JSONResponse:
    body = await read_capped(request, c.settings.webhook_max_body_bytes)
    found = await webhooks(c).authenticate(channel_id, request.headers.get(AUTH_HEADER))
    update = _update(request, body)
    if found is None or update is None or not found[0].is_active:
        raise ApiError(403, FORBIDDEN)
    row, config = found
    await c.kernel.record("channel", row.id, TYPE)
    message = to_inbound(
        update,
        now=utcnow(),
        max_chars=MAX_READ_CHARS,  # judged by the size limit below, never cut to it
        chats=frozenset(config.chats),
    )
    if message is None:
        return JSONResponse({"ok": True, "stored": False})
    limits = Limits(config.max_message_chars, config.rate_limit)
    try:
        result = await push_limits(c).receive(c.intake, row, message, limits=limits)
    except OverRate as exc:
        return over_rate(exc)
    return JSONResponse({"ok": True, "stored": not result.duplicate, **result.to_dict()})


class WebhookSetting(BaseModel):
    url: str = Field(
        max_length=2048,
        description="the HTTPS address Telegram posts to: this server's "
        "/webhooks/telegram/{id} as the internet reaches it (ports 443, 80, 88 or 8443)",
    )
    drop_pending_updates: bool = False

    @field_validator("url")
    @classmethod
    def _https(cls, value: str) -> str:
        problem = url_syntax_problem(value)
        if problem is not None:
            raise ValueError(problem)
        if not value.lower().startswith("https://"):
            raise ValueError("Telegram posts to HTTPS addresses only")
        return value


async def _switch(
    c: Container, row_id: int, who: Principal, setting: WebhookSetting | None
) -> dict[str, Any]:
    """Set (``setting``) or delete (None) the channel's webhook. The access check reads in
    a session of its own that is closed before Telegram is asked."""
    async with c.sessions() as session:
        row = await fetch(session, "channel", row_id, who, write=True)
    hooks = webhooks(c)
    try:
        change: WebhookChange = (
            await hooks.disable(row.id, who)
            if setting is None
            else await hooks.enable(
                row.id, setting.url, who, drop_pending_updates=setting.drop_pending_updates
            )
        )
    except NotATelegramChannel as exc:
        raise ApiError(422, str(exc), code="not_telegram") from None
    except ValueError as exc:  # a bot token of the wrong shape: its text is not repeated
        raise ApiError(422, str(exc), code="invalid_config") from None
    except VaultError:
        raise ApiError(
            422, "the channel's secrets cannot be decrypted; replace its credentials"
        ) from None
    except IntegrationError as exc:
        raise ApiError(424, redact(exc.message), code="telegram_refused") from None
    return {
        "id": row.id,
        "mode": change.config.mode,
        "webhook_url": change.info.get("url", ""),
        "pending_update_count": change.info.get("pending_update_count"),
    }


@api_router.post("/{row_id}/telegram/webhook")
async def set_webhook(
    row_id: Id, body: WebhookSetting, c: ContainerDep, who: Principal = writer
) -> dict[str, Any]:
    """Switch a telegram_bot channel to webhook mode (``setWebhook`` with a new secret)."""
    return await _switch(c, row_id, who, body)


@api_router.delete("/{row_id}/telegram/webhook")
async def delete_webhook(row_id: Id, c: ContainerDep, who: Principal = writer) -> dict[str, Any]:
    """Back to long polling (``deleteWebhook``); the secret is removed."""
    return await _switch(c, row_id, who, None)
