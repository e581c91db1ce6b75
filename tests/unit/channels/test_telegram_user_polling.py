"""The telegram_user channel against a fake account (Telethon's own objects): the cursor
per chat, catch-up after a restart with nothing lost or repeated, edits as versions,
FloodWait honoured on a fake clock (and never spun on), "needs login", the health probe
and the config; and a property: however posts and polls interleave, each post is read
exactly once."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from tests.fakes.telethon_source import BASE, Clock, FakeAccount, post

from signalbridge.channels.base import PollingChannel
from signalbridge.channels.telegram.user_cursor import ChatMark, load_marks
from signalbridge.channels.telegram.user_source import NeedsLogin
from signalbridge.channels.telegram_user import TelegramUserChannel, TelegramUserConfig
from signalbridge.integrations.errors import AuthenticationError, RateLimited

SIGNALS = 1500  # PeerChannel id of @signals
OTHER = 2600
HASH = "0123456789abcdef0123456789abcdef"


def config(**extra: object) -> TelegramUserConfig:
    values: dict[str, object] = {
        "api_id": 12345,
        "api_hash": HASH,
        "session": "1SESSION-canary",
        "chats": ["@Signals", str(-1000000000000 - OTHER)],
        **extra,
    }
    return TelegramUserConfig.model_validate(values)


def channel(account: FakeAccount, clock: Clock, **extra: object) -> TelegramUserChannel:
    return TelegramUserChannel(config(**extra), channel_id=7, source=account, clock=clock)


def sid(msg_id: int) -> str:
    return f"-1000000001500:{msg_id}"


@pytest.fixture
def account() -> FakeAccount:
    fake = FakeAccount()
    for i in (1, 2, 3):
        fake.add("@signals", post(SIGNALS, i, f"old {i}", at=BASE + timedelta(minutes=i)))
    return fake


def test_it_is_a_polling_channel() -> None:
    assert issubclass(TelegramUserChannel, PollingChannel)


async def test_first_poll_starts_at_the_newest_message_then_reads_what_follows(
    account: FakeAccount,
) -> None:
    clock = Clock()
    ch = channel(account, clock)
    first = await ch.poll(None)
    assert first.messages == ()  # history before the channel existed is not signals
    assert load_marks(first.next_cursor)["@signals"].last_id == 3
    account.add("@signals", post(SIGNALS, 4, "BTC long 60000", at=clock.now))
    account.add("@signals", post(SIGNALS, 5, "TP1 hit", at=clock.now, reply_to=4))
    second = await ch.poll(first.next_cursor)
    assert [m.external_id for m in second.messages] == [sid(4), sid(5)]
    assert second.messages[1].reply_to == sid(4)
    assert load_marks(second.next_cursor)["@signals"] == ChatMark(5, 0)  # nothing edited yet
    again = await ch.poll(second.next_cursor)
    assert again.messages == () and again.next_cursor == second.next_cursor


async def test_backfill_reads_the_newest_messages_of_a_new_chat(account: FakeAccount) -> None:
    result = await channel(account, Clock(), backfill=2).poll(None)
    assert [m.external_id for m in result.messages] == [sid(2), sid(3)]


async def test_edits_made_before_the_first_poll_are_not_versions(account: FakeAccount) -> None:
    clock = Clock()
    account.edit("@signals", 2, "old 2, edited long ago", BASE + timedelta(minutes=9))
    ch = channel(account, clock)
    first = await ch.poll(None)
    assert load_marks(first.next_cursor)["@signals"].edit == int(
        (BASE + timedelta(minutes=9)).timestamp()
    )
    assert (await ch.poll(first.next_cursor)).messages == ()


async def test_a_restart_catches_up_with_min_id_losing_and_repeating_nothing(
    account: FakeAccount,
) -> None:
    clock = Clock()
    cursor = (await channel(account, clock).poll(None)).next_cursor
    for i in range(4, 9):  # posted while SignalBridge was down
        account.add("@signals", post(SIGNALS, i, f"signal {i}", at=clock.now))
    fresh = channel(account, clock)  # a new process: only the saved cursor remains
    result = await fresh.poll(cursor)
    assert [m.external_id for m in result.messages] == [sid(i) for i in range(4, 9)]
    assert ("@signals", 3, 100) in account.reads  # iter_messages(min_id=3)
    # The poll was not saved (a crash before the commit): the same cursor reads the same.
    redo = await channel(account, clock).poll(cursor)
    assert redo.messages == result.messages


async def test_a_long_backlog_is_read_in_batches_without_skipping(account: FakeAccount) -> None:
    clock = Clock()
    ch = channel(account, clock, batch_size=10, edit_window=5)
    cursor = (await ch.poll(None)).next_cursor
    for i in range(4, 40):
        account.add("@signals", post(SIGNALS, i, f"s{i}", at=clock.now))
    seen: list[str] = []
    for _ in range(5):
        result = await ch.poll(cursor)
        seen += [m.external_id for m in result.messages]
        cursor = result.next_cursor
    assert seen == [sid(i) for i in range(4, 40)]


async def test_an_edit_is_a_new_version_once_and_each_later_edit_another(
    account: FakeAccount,
) -> None:
    clock = Clock()
    ch = channel(account, clock)
    cursor = (await ch.poll(None)).next_cursor
    account.add("@signals", post(SIGNALS, 4, "BTC long SL 58000", at=clock.now))
    cursor = (await ch.poll(cursor)).next_cursor
    clock.advance(60)
    account.edit("@signals", 4, "BTC long SL 59000", clock.now)
    result = await ch.poll(cursor)
    (edit,) = result.messages
    assert edit.edit_of == sid(4) and edit.text == "BTC long SL 59000"
    assert edit.external_id == f"{sid(4)}/e{int(clock.now.timestamp())}"
    assert (await ch.poll(result.next_cursor)).messages == ()
    clock.advance(60)
    account.edit("@signals", 4, "BTC long SL 59500", clock.now)
    (second,) = (await ch.poll(result.next_cursor)).messages
    assert second.edit_of == sid(4) and second.external_id != edit.external_id


async def test_a_live_edit_event_of_an_older_message_is_read(account: FakeAccount) -> None:
    clock = Clock()
    ch = channel(account, clock, edit_window=1)
    cursor = (await ch.poll(None)).next_cursor
    clock.advance(30)
    account.edit("@signals", 1, "old 1, now SL 10", clock.now, push=True)  # outside the window
    (edit,) = (await ch.poll(cursor)).messages
    assert edit.edit_of == sid(1) and edit.text == "old 1, now SL 10"


async def test_chats_have_their_own_marks(account: FakeAccount) -> None:
    clock = Clock()
    ch = channel(account, clock)
    cursor = (await ch.poll(None)).next_cursor
    account.add("-1000000002600", post(OTHER, 1, "ETH short", at=clock.now))
    result = await ch.poll(cursor)
    assert [m.external_id for m in result.messages] == ["-1000000002600:1"]
    marks = load_marks(result.next_cursor)
    assert marks["@signals"].last_id == 3 and marks["-1000000002600"].last_id == 1


async def test_flood_wait_is_raised_shown_and_waited_out_without_calling_telegram(
    account: FakeAccount,
) -> None:
    clock = Clock()
    ch = channel(account, clock)
    cursor = (await ch.poll(None)).next_cursor
    account.flood_seconds = 120
    with pytest.raises(RateLimited) as caught:
        await ch.poll(cursor)
    assert caught.value.retry_after == 120 and "FloodWait" in str(caught.value)
    reads = len(account.reads)
    account.flood_seconds = None
    account.add("@signals", post(SIGNALS, 4, "after the wait", at=clock.now))
    for _ in range(3):  # polls inside the wait never reach Telegram
        clock.advance(30)
        with pytest.raises(RateLimited, match="next try in"):
            await ch.poll(cursor)
    assert len(account.reads) == reads
    clock.advance(31)
    result = await ch.poll(cursor)
    assert [m.external_id for m in result.messages] == [sid(4)]


async def test_a_revoked_or_missing_session_needs_login(account: FakeAccount) -> None:
    account.revoked = True
    with pytest.raises(NeedsLogin, match="needs login") as caught:
        await channel(account, Clock()).poll(None)
    assert isinstance(caught.value, AuthenticationError)
    assert await channel(account, Clock()).probe() == "needs login"


async def test_the_probe_names_the_account(account: FakeAccount) -> None:
    assert await channel(account, Clock()).probe() == "authorised as @copier"


async def test_the_real_source_without_a_session_needs_login_before_any_network() -> None:
    ch = TelegramUserChannel.from_config(config(session=None), channel_id=7, deps=None)
    assert await ch.probe() == "needs login"
    with pytest.raises(NeedsLogin):
        await ch.poll(None)
    assert "SESSION" not in repr(ch) and "SESSION" not in repr(ch.source)


def test_config_checks_chats_and_the_api_hash_and_hides_secrets() -> None:
    with pytest.raises(ValidationError):
        config(chats=["https://t.me/x"])
    with pytest.raises(ValidationError):
        config(chats=[])
    with pytest.raises(ValidationError):
        config(api_hash="not-a-hash")
    cfg = config()
    assert cfg.chats == ["@signals", "-1000000002600"]
    assert HASH not in repr(cfg) and "canary" not in repr(cfg)


def test_a_damaged_cursor_starts_afresh() -> None:
    assert load_marks("not json") == {}
    assert load_marks(json.dumps({"chats": {"@x": {"id": -1, "edit": 0}, "@y": "z"}})) == {}


@given(
    plan=st.lists(st.one_of(st.just("poll"), st.integers(min_value=1, max_value=4)), max_size=25),
    batch=st.integers(min_value=1, max_value=5),
)
async def test_every_post_is_read_exactly_once_however_polls_interleave(
    plan: list[object], batch: int
) -> None:
    account = FakeAccount()
    clock = Clock()
    ch = channel(account, clock, batch_size=batch, edit_window=2)
    cursor = (await ch.poll(None)).next_cursor
    next_id, read = 1, []
    for step in plan:
        if step == "poll":
            result = await ch.poll(cursor)
            read += [m.external_id for m in result.messages]
            cursor = result.next_cursor
            continue
        assert isinstance(step, int)
        for _ in range(step):
            account.add("@signals", post(SIGNALS, next_id, f"p{next_id}", at=clock.now))
            next_id += 1
    # Then poll until nothing is left: at one post a poll (batch 1), up to 100 posts
    # waiting take 100 polls; a few more prove nothing repeats after the last.
    for _ in range(next_id + 3):
        result = await ch.poll(cursor)
        read += [m.external_id for m in result.messages]
        cursor = result.next_cursor
    assert read == [sid(i) for i in range(1, next_id)]
