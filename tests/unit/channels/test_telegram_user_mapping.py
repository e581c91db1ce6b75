"""Telethon's own objects (``Message``, ``PeerChannel``, ``MessageReplyHeader``,
``NewMessage.Event``, ``MessageEdited.Event``, built locally) read as messages, with the
Bot API channel's conventions; and any Telethon message at all gives a message or None,
never an error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from telethon import events
from telethon.tl import types
from tests.fakes.telethon_source import post, replace_message

from signalbridge.channels.telegram.updates import to_inbound as bot_inbound
from signalbridge.channels.telegram.user_mapping import Seen, seen, to_inbound

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
POSTED = NOW - timedelta(minutes=2)
CHANNEL = 1234567890  # Telethon's bare channel id; the Bot API writes -1001234567890


def read(item: object, *, as_edit: bool = False, max_chars: int = 4096) -> Any:
    one = seen(item)
    assert one is not None
    return to_inbound(one, as_edit=as_edit, now=NOW, max_chars=max_chars)


def test_a_channel_post_has_the_bot_api_external_id_and_keeps_its_date() -> None:
    message = read(post(CHANNEL, 17, "BTC long 60000", at=POSTED))
    assert message.external_id == "-1001234567890:17"
    assert message.text == "BTC long 60000" and message.received_at == POSTED
    assert message.edit_of is None and message.reply_to is None
    # The same post delivered to a bot: the same key.
    bot = bot_inbound(
        {
            "update_id": 1,
            "channel_post": {
                "message_id": 17,
                "date": int(POSTED.timestamp()),
                "chat": {"id": -1001234567890, "type": "channel"},
                "text": "BTC long 60000",
            },
        },
        now=NOW,
        max_chars=4096,
    )
    assert bot is not None and bot.external_id == message.external_id


def test_a_reply_names_the_message_it_answers_in_the_same_chat() -> None:
    message = read(post(CHANNEL, 30, "TP1 hit", at=POSTED, reply_to=17))
    assert message.external_id == "-1001234567890:30"
    assert message.reply_to == "-1001234567890:17"


def test_a_reply_to_another_chat_names_that_chat() -> None:
    reply = types.Message(
        id=5,
        peer_id=types.PeerChat(42),
        date=POSTED,
        message="see there",
        reply_to=types.MessageReplyHeader(
            reply_to_msg_id=9, reply_to_peer_id=types.PeerChannel(CHANNEL)
        ),
    )
    message = read(reply)
    assert message.external_id == "-42:5" and message.reply_to == "-1001234567890:9"


def test_a_photo_caption_is_the_text() -> None:
    photo = types.MessageMediaPhoto(photo=types.PhotoEmpty(id=1))
    message = read(post(CHANNEL, 18, "ETH short, chart attached", at=POSTED, media=photo))
    assert message.text == "ETH short, chart attached"


def test_media_without_a_caption_and_service_messages_are_skipped() -> None:
    photo = types.MessageMediaPhoto(photo=types.PhotoEmpty(id=1))
    assert read(post(CHANNEL, 19, "", media=photo)) is None
    service = types.MessageService(
        id=20,
        peer_id=types.PeerChannel(CHANNEL),
        date=POSTED,
        action=types.MessageActionPinMessage(),
    )
    assert seen(service) is None
    assert seen(types.MessageEmpty(id=21, peer_id=types.PeerChannel(CHANNEL))) is None
    assert seen("not a message") is None


def test_an_edit_is_a_version_of_the_message_it_edits() -> None:
    edited_at = NOW - timedelta(seconds=30)
    edited = replace_message(
        post(CHANNEL, 17, "BTC long", at=POSTED), "BTC long SL 58000", edited_at
    )
    message = read(edited, as_edit=True)
    version = int(edited_at.timestamp())
    assert message.external_id == f"-1001234567890:17/e{version}"
    assert message.edit_of == "-1001234567890:17"
    assert message.text == "BTC long SL 58000" and message.received_at == edited_at
    # Read as new (the edit happened before we first saw it): the post's own key and date.
    fresh = read(edited)
    assert fresh.external_id == "-1001234567890:17" and fresh.received_at == POSTED
    # A message never edited has no edit version.
    assert read(post(CHANNEL, 1, "x", at=POSTED), as_edit=True) is None


def test_events_built_locally_carry_their_message_and_kind() -> None:
    new = seen(events.NewMessage.Event(post(CHANNEL, 40, "new", at=POSTED)))
    edit = seen(
        events.MessageEdited.Event(
            replace_message(post(CHANNEL, 40, "new", at=POSTED), "newer", NOW)
        )
    )
    assert isinstance(new, Seen) and not new.edited_event and new.id == 40
    assert (
        isinstance(edit, Seen) and edit.edited_event and edit.edit_version == int(NOW.timestamp())
    )
    assert new.chat_id == edit.chat_id == -1001234567890


def test_a_date_from_the_future_is_now_and_long_text_is_cut() -> None:
    message = read(post(CHANNEL, 3, "x" * 500, at=NOW + timedelta(hours=1)), max_chars=100)
    assert message.received_at == NOW
    assert len(message.text) == 100 and message.text.endswith("…")


def test_nul_characters_are_removed() -> None:
    assert read(post(CHANNEL, 4, "BTC\x00 long")).text == "BTC long"


peers = st.one_of(
    st.builds(types.PeerChannel, st.integers(min_value=1, max_value=2**40)),
    st.builds(types.PeerChat, st.integers(min_value=1, max_value=2**40)),
    st.builds(types.PeerUser, st.integers(min_value=1, max_value=2**40)),
)
dates = st.one_of(
    st.none(),
    st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
)


@given(
    msg_id=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    peer=peers,
    text=st.one_of(st.none(), st.text(max_size=300)),
    date=dates,
    edit_date=dates,
    reply=st.one_of(st.none(), st.integers(min_value=-(2**31), max_value=2**31)),
    as_edit=st.booleans(),
)
def test_any_telethon_message_reads_as_a_message_or_none(
    msg_id: int,
    peer: object,
    text: str | None,
    date: datetime | None,
    edit_date: datetime | None,
    reply: int | None,
    as_edit: bool,
) -> None:
    message = types.Message(
        id=msg_id,
        peer_id=peer,
        date=date,
        message=text,
        edit_date=edit_date,
        reply_to=types.MessageReplyHeader(reply_to_msg_id=reply) if reply is not None else None,
    )
    one = seen(message)
    if one is None:
        assert msg_id <= 0
        return
    out = to_inbound(one, as_edit=as_edit, now=NOW, max_chars=200)
    if out is None:
        return
    assert out.external_id.startswith(f"{one.chat_id}:{msg_id}")
    assert "\x00" not in out.text and len(out.text) <= 200 and out.text.strip()
    assert out.received_at <= NOW and out.received_at.utcoffset() is not None
    assert (out.edit_of is not None) == as_edit
