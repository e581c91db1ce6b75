"""Connection tests of channels: what ``POST /api/v1/channels/{id}/test`` answers.

A probe calls the source the way a poll does (same client, guard and caps) and says
whether the channel would work, without delivering anything: RSS/Atom and web pages
fetch and read their document (channels/http_limits.py), a Telegram user account says
who it is logged in as (channels/telegram_user.py), and a Telegram bot asks ``getMe``
and ``getWebhookInfo`` (:func:`probe_bot`). Texts that come from outside (Telegram's
``last_error_message``) are cut short, made printable and redacted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from signalbridge.channels.telegram.client import BotApi
from signalbridge.integrations.redaction import redact

MAX_OUTSIDE_TEXT = 200


@dataclass(frozen=True)
class ChannelProbe:
    """A probe's verdict: ``ok``, a sentence for the operator, and plain facts."""

    ok: bool
    message: str
    details: dict[str, Any] = field(default_factory=dict)


def outside_text(value: Any) -> str | None:
    """Text from an outside answer as it may be shown: printable, short, redacted."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = "".join(ch if ch.isprintable() else " " for ch in value[:MAX_OUTSIDE_TEXT])
    return redact(text.strip())


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _when(value: Any) -> str | None:
    stamp = _count(value)
    if not stamp:
        return None
    try:
        return datetime.fromtimestamp(stamp, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


async def probe_bot(api: BotApi, mode: str) -> ChannelProbe:
    """``getMe`` (the token works), then ``getWebhookInfo``: in webhook mode Telegram must
    have the webhook, and its last delivery error is shown with the pending updates; in
    polling mode a webhook set elsewhere would make every ``getUpdates`` a 409. Kernel
    errors (a wrong token: AuthenticationError) are raised."""
    me = await api.get_me()
    username = me.get("username")
    who = f"@{username}" if isinstance(username, str) and username else f"bot {api.bot_id}"
    info = await api.get_webhook_info()
    url = info.get("url") if isinstance(info.get("url"), str) else ""
    pending = _count(info.get("pending_update_count"))
    last_error = outside_text(info.get("last_error_message"))
    details: dict[str, Any] = {
        "bot": who,
        "mode": mode,
        "webhook_set": bool(url),
        "pending_update_count": pending,
        "last_error_message": last_error,
        "last_error_at": _when(info.get("last_error_date")),
    }
    if mode == "webhook":
        if not url:
            return ChannelProbe(
                False,
                f"authorised as {who}, but Telegram has no webhook for it: set it again "
                "(POST /api/v1/channels/{id}/telegram/webhook)",
                details,
            )
        if last_error is not None and pending:
            return ChannelProbe(
                False,
                f"authorised as {who}; Telegram cannot deliver to the webhook "
                f"({pending} update(s) pending): {last_error}",
                details,
            )
        return ChannelProbe(
            True, f"authorised as {who}; webhook set, {pending or 0} pending", details
        )
    if url:
        return ChannelProbe(
            False,
            f"authorised as {who}, but a webhook is set for this bot: polling would get 409 "
            "(delete the webhook, or switch the channel to webhook mode)",
            details,
        )
    return ChannelProbe(True, f"authorised as {who}; polling", details)
