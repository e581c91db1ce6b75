"""The channel seam: what an inbound message must carry, and which classes poll."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from signalbridge.channels.base import InboundMessage, PollingChannel, PollResult, PushChannel
from signalbridge.channels.webhook import WebhookChannel, WebhookConfig
from signalbridge.jobs.polling import is_polling_class

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def test_a_message_is_stamped_in_utc_and_keyed() -> None:
    message = InboundMessage("m-1", "BTC long", NOW)
    assert message.content_type == "text/plain" and message.body_hash is None
    with pytest.raises(ValueError, match="timezone-aware"):
        InboundMessage("m-1", "BTC long", datetime(2026, 12, 7, 12, 0))
    with pytest.raises(ValueError, match="external_id"):
        InboundMessage("", "BTC long", NOW)


def test_a_body_hash_comes_with_its_replay_window() -> None:
    claimed = InboundMessage("m-1", "x", NOW, body_hash="ab" * 32, replay_window_seconds=300)
    assert claimed.replay_window_seconds == 300
    with pytest.raises(ValueError, match="together"):
        InboundMessage("m-1", "x", NOW, body_hash="ab" * 32)
    with pytest.raises(ValueError, match="together"):
        InboundMessage("m-1", "x", NOW, replay_window_seconds=300)


class Source:
    async def poll(self, cursor: str | None) -> PollResult:
        return PollResult((InboundMessage("1", "x", NOW),), "1")


def test_polling_classes_are_told_apart_from_push_channels() -> None:
    assert is_polling_class(Source) and isinstance(Source(), PollingChannel)
    assert not is_polling_class(WebhookChannel)
    assert not is_polling_class(Source())  # an instance is not a registered class
    hook: PushChannel = WebhookChannel(WebhookConfig())  # the webhook is a push channel
    assert hook.verify(b"{}", {}) is None
