"""Reading Telegram updates (untrusted JSON) as messages: channel posts, group messages,
edits, photo captions, replies, chat filters; and any JSON at all gives a message or
None, never an error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from signalbridge.channels.telegram.updates import to_inbound, update_id

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
POSTED = int((NOW - timedelta(minutes=2)).timestamp())
CHANNEL = {"id": -1001234567890, "type": "channel", "title": "Signals", "username": "SigChan"}
GROUP = {"id": -1009, "type": "supergroup", "title": "Traders"}


def read(update: Any, **kw: Any) -> Any:
    kw.setdefault("max_chars", 4096)
    return to_inbound(update, now=NOW, **kw)


def test_a_channel_post_is_keyed_by_chat_and_message_id_and_keeps_its_date() -> None:
    post = {
        "message_id": 17,
        "date": POSTED,
        "chat": CHANNEL,
        "sender_chat": CHANNEL,
        "text": "BTC long 60000",
    }
    message = read({"update_id": 5, "channel_post": post})
    assert message.external_id == "-1001234567890:17" and message.text == "BTC long 60000"
    assert message.received_at == NOW - timedelta(minutes=2)
    assert message.edit_of is None and message.reply_to is None


def test_a_group_reply_names_the_message_it_answers() -> None:
    reply = {
        "message_id": 30,
        "date": POSTED,
        "chat": GROUP,
        "from": {"id": 1},
        "text": "TP1 hit",
        "reply_to_message": {"message_id": 17, "date": POSTED, "chat": GROUP, "text": "BTC long"},
    }
    message = read({"update_id": 6, "message": reply})
    assert message.external_id == "-1009:30" and message.reply_to == "-1009:17"


def test_edits_are_new_versions_of_the_message_they_edit() -> None:
    for kind in ("edited_channel_post", "edited_message"):
        edit = {
            "message_id": 17,
            "date": POSTED,
            "edit_date": POSTED + 60,
            "chat": CHANNEL,
            "text": "BTC long 60000, SL 58000",
        }
        first = read({"update_id": 7, kind: edit})
        again = read({"update_id": 8, kind: edit})
        assert first.edit_of == "-1001234567890:17" == again.edit_of
        assert first.external_id != again.external_id  # two edits stay two versions
        assert first.received_at == NOW - timedelta(minutes=1)


def test_a_photo_caption_is_the_text_and_media_without_text_is_skipped() -> None:
    photo = {
        "message_id": 3,
        "date": POSTED,
        "chat": CHANNEL,
        "photo": [{"file_id": "x"}],
        "caption": "ETH short 3500",
    }
    assert read({"update_id": 9, "channel_post": photo}).text == "ETH short 3500"
    sticker = {"message_id": 4, "date": POSTED, "chat": CHANNEL, "sticker": {"file_id": "s"}}
    assert read({"update_id": 10, "channel_post": sticker}) is None
    assert read({"update_id": 11, "my_chat_member": {"chat": CHANNEL}}) is None


def test_the_chat_filter_takes_ids_and_usernames_and_long_text_is_cut() -> None:
    post = {"message_id": 1, "date": POSTED, "chat": CHANNEL, "text": "x" * 500}
    update = {"update_id": 12, "channel_post": post}
    assert read(update, chats={"@sigchan"}) is not None
    assert read(update, chats={"-1001234567890"}) is not None
    assert read(update, chats={"-1009"}) is None
    cut = read(update, max_chars=100)
    assert len(cut.text) == 100 and cut.text.endswith("…")


def test_a_date_in_the_future_or_missing_is_now() -> None:
    post = {"message_id": 1, "date": POSTED + 10_000, "chat": CHANNEL, "text": "hi"}
    assert read({"update_id": 1, "channel_post": post}).received_at == NOW
    del post["date"]
    assert read({"update_id": 1, "channel_post": post}).received_at == NOW


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "message",
        "channel_post",
        "edited_message",
        "edited_channel_post",
        "update_id",
        "chat",
        "text",
        "caption",
        "message_id",
        "date",
        "edit_date",
        "reply_to_message",
        "id",
        "username",
    ]
)
SHAPED = st.recursive(
    st.none() | st.integers() | st.text() | st.booleans(),
    lambda inner: st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=25,
)


WELL_FORMED = st.builds(
    lambda uid, kind, chat_id, mid, text, date, reply: {
        "update_id": uid,
        kind: {
            "message_id": mid,
            "date": date,
            "chat": {"id": chat_id, "type": "channel"},
            "text": text,
            "reply_to_message": reply,
        },
    },
    st.integers(),
    st.sampled_from(["message", "channel_post", "edited_message", "edited_channel_post"]),
    st.integers(),
    st.integers(),
    st.text(),
    st.integers() | st.none(),
    st.none() | st.dictionaries(st.just("message_id"), st.integers() | st.text()),
)


@given(st.one_of(JSON, SHAPED, WELL_FORMED))
def test_any_json_is_a_message_or_none_never_an_error(update: Any) -> None:
    message = read(update)
    if message is not None:
        assert message.text.strip() and "\x00" not in message.text
        assert message.received_at <= NOW and len(message.external_id) < 200
        assert update_id(update) is not None
