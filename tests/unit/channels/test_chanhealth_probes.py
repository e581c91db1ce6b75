"""The Telegram bot probe's verdicts from getMe and getWebhookInfo answers (Telegram's own
shapes, including the delivery error fields the loopback fake does not produce), and
how a user-account channel's text answer becomes a verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from signalbridge.channels.probing import outside_text, probe_bot
from signalbridge.integrations.redaction import register_secret
from signalbridge.services.channel_probe import verdict


@dataclass
class Api:
    """What probe_bot calls of a BotApi, answering as Telegram does."""

    webhook: dict[str, Any] = field(default_factory=lambda: {"url": "", "pending_update_count": 0})
    me: dict[str, Any] = field(
        default_factory=lambda: {"id": 42, "is_bot": True, "first_name": "S", "username": "sig_bot"}
    )
    bot_id: int = 42

    async def get_me(self) -> dict[str, Any]:
        return self.me

    async def get_webhook_info(self) -> dict[str, Any]:
        return self.webhook


async def test_a_polling_bot_without_a_webhook_is_fine() -> None:
    verdict = await probe_bot(Api(), "polling")  # type: ignore[arg-type]
    assert verdict.ok and verdict.message == "authorised as @sig_bot; polling"
    assert verdict.details["webhook_set"] is False


async def test_a_webhook_telegram_cannot_reach_fails_with_its_reason_and_pending_count() -> None:
    api = Api(
        webhook={
            "url": "https://hooks.example.com/webhooks/telegram/1",
            "has_custom_certificate": False,
            "pending_update_count": 7,
            "last_error_date": 1796630000,
            "last_error_message": "Wrong response from the webhook: 502 Bad Gateway\x07",
        }
    )
    verdict = await probe_bot(api, "webhook")  # type: ignore[arg-type]
    assert not verdict.ok
    assert "7 update(s) pending" in verdict.message and "502 Bad Gateway" in verdict.message
    assert "\x07" not in verdict.message
    assert verdict.details["last_error_at"].startswith("2026-")


async def test_an_old_error_with_nothing_pending_does_not_fail_the_webhook() -> None:
    api = Api(
        webhook={
            "url": "https://hooks.example.com/x",
            "pending_update_count": 0,
            "last_error_message": "Connection timed out",
        }
    )
    verdict = await probe_bot(api, "webhook")  # type: ignore[arg-type]
    assert verdict.ok and verdict.details["last_error_message"] == "Connection timed out"


async def test_a_bot_without_a_username_is_named_by_its_id() -> None:
    api = Api(me={"id": 42, "is_bot": True, "first_name": "S"})
    verdict = await probe_bot(api, "polling")  # type: ignore[arg-type]
    assert verdict.message.startswith("authorised as bot 42")


def test_outside_text_is_short_printable_and_redacted() -> None:
    register_secret("canary-secret-value-123")
    assert outside_text("x" * 500) == "x" * 200
    assert outside_text("leaked canary-secret-value-123 here") == "leaked **** here"
    assert outside_text(None) is None and outside_text("   ") is None


def test_the_user_channel_answers_are_verdicts() -> None:
    assert verdict("authorised as @copier").ok is True
    assert verdict("needs login").ok is False
