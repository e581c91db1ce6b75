"""Inbound limits and poll health, pure parts: a message over the size cap is refused (not
cut) and the refusal says why; rates are validated; a user-account channel over its
rate leaves the rest in Telegram with each chat's mark before it (a property: whatever
the budgets, every post and the latest version of every edit arrive, nothing else);
the poll back-off schedule, the lag and its basis, and the health view."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from tests.fakes.telethon_source import BASE, Clock, FakeAccount, post

from signalbridge.channels.base import InboundMessage
from signalbridge.channels.inbound_limits import (
    NOTICE,
    PollReport,
    check_rate,
    limit_size,
    refusal_reason,
    report_of,
)
from signalbridge.channels.telegram.user_cursor import ChatMark, Step, load_marks, settle
from signalbridge.channels.telegram_user import TelegramUserChannel, TelegramUserConfig
from signalbridge.services.channel_health import (
    LAST_SYNCED,
    MAX_BACKOFF,
    PROVIDER_TIME,
    backoff_seconds,
    lag,
    refusal_meaning,
    view,
)
from signalbridge.services.interpret import interpret
from signalbridge.store import models as m

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
SIGNALS = 1500
HASH = "0123456789abcdef0123456789abcdef"


def message(text: str, **kw: object) -> InboundMessage:
    return InboundMessage(external_id="c:1", text=text, received_at=NOW, **kw)  # type: ignore[arg-type]


# --- size ---------------------------------------------------------------------------


def test_a_message_within_the_cap_is_untouched() -> None:
    one = message("x" * 100)
    assert limit_size(one, 100) is one
    assert refusal_reason(one) is None and refusal_meaning(one) is None


def test_a_message_over_the_cap_is_refused_with_its_size_and_the_cap() -> None:
    long = message("BTC/USDT LONG entry 60000 SL 58000 " + "TP 62000 " * 50, reply_to="c:0")
    refused = limit_size(long, 100)
    assert refused.external_id == long.external_id  # stored once, like any message
    assert refused.text == NOTICE and "62000" not in refused.text  # nothing of it is kept
    assert refused.reply_to is None and refused.received_at == NOW
    reason = refusal_reason(refused)
    assert reason == (
        f"refused: the message has {len(long.text)} characters, over this channel's "
        "max_message_chars (100); it was not read"
    )
    meaning = refusal_meaning(refused)
    assert meaning is not None and meaning.parsed is None and meaning.problems == (reason,)
    assert meaning.confidence == Decimal(0)


def test_an_oversize_edit_is_refused_as_a_message_of_its_own() -> None:
    edit = message("y" * 500, edit_of="c:0")
    refused = limit_size(edit, 100)
    assert refused.edit_of is None  # the post it edits keeps its text and its signal


def test_the_notice_itself_parses_as_nothing_tradable() -> None:
    meaning = interpret(NOTICE, parse_text=True)
    assert meaning.parsed is None or type(meaning.parsed).__name__ == "Noise"


def test_a_content_type_that_only_looks_refused_is_not_a_refusal() -> None:
    for content_type in (
        "text/plain; refused=too-long",
        "text/plain; refused=too-long; chars=5; max=x",
        "text/plain; refused=too-long; chars=5; max=4; extra",
    ):
        assert refusal_reason(message("a", content_type=content_type)) is None


@given(st.text(max_size=300), st.integers(min_value=1, max_value=300))
def test_any_text_is_kept_whole_or_refused_never_cut(text: str, cap: int) -> None:
    one = InboundMessage(external_id="k", text=text, received_at=NOW)
    out = limit_size(one, cap)
    if len(text) <= cap:
        assert out is one
    else:
        assert out.text == NOTICE and refusal_reason(out) is not None


# --- rates ----------------------------------------------------------------------------


@pytest.mark.parametrize("rate", ["60/minute", "100 per hour", "2/second", "1/day"])
def test_rates_the_limits_package_reads_are_taken(rate: str) -> None:
    assert check_rate(rate) == rate


@pytest.mark.parametrize(
    "rate",
    ["fast", "", "0/minute", "x" * 41, "60/fortnight", "2000000/second", "1/100 years"],
)
def test_other_rates_are_refused_clearly(rate: str) -> None:
    with pytest.raises(ValueError, match="rate_limit"):
        check_rate(rate)


def test_the_user_channel_config_validates_its_rate() -> None:
    base = {"api_id": 1, "api_hash": HASH, "chats": ["@signals"]}
    assert TelegramUserConfig.model_validate(base).rate_limit == "120/minute"
    with pytest.raises(ValidationError, match="rate_limit"):
        TelegramUserConfig.model_validate({**base, "rate_limit": "lots"})


# --- the user channel over its rate ----------------------------------------------------


@dataclass
class Budget:
    """An inbound budget that has room for ``left`` more messages."""

    left: int

    async def room(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return True


def user_channel(
    account: FakeAccount, clock: Clock, budget: Budget, **extra: object
) -> TelegramUserChannel:
    config = TelegramUserConfig.model_validate(
        {"api_id": 1, "api_hash": HASH, "chats": ["@signals"], **extra}
    )
    return TelegramUserChannel(
        config,
        channel_id=7,
        source=account,
        clock=clock,
        budget=budget,  # type: ignore[arg-type]
    )


def sid(msg_id: int) -> str:
    return f"-1000000001500:{msg_id}"


async def test_over_the_rate_the_rest_waits_in_telegram_with_the_mark_before_it() -> None:
    account, clock, budget = FakeAccount(), Clock(), Budget(0)
    account.add("@signals", post(SIGNALS, 1, "old", at=BASE))
    ch = user_channel(account, clock, budget)
    first = await ch.poll(None)
    for i in range(2, 7):
        account.add("@signals", post(SIGNALS, i, f"post {i}", at=clock.now))
    budget.left = 2
    second = await ch.poll(first.next_cursor)
    assert [m.external_id for m in second.messages] == [sid(2), sid(3)]
    assert load_marks(second.next_cursor)["@signals"] == ChatMark(3, 0)
    assert ch.last_report is not None and ch.last_report.deferred == 3
    spent = await ch.poll(second.next_cursor)  # nothing taken: the mark does not move
    assert spent.messages == () and spent.next_cursor == second.next_cursor
    budget.left = 10
    third = await ch.poll(spent.next_cursor)
    assert [m.external_id for m in third.messages] == [sid(4), sid(5), sid(6)]
    assert ch.last_report is not None and ch.last_report.deferred == 0


async def test_a_user_channel_message_over_the_cap_is_refused_and_the_rest_read() -> None:
    account, clock = FakeAccount(), Clock()
    account.add("@signals", post(SIGNALS, 1, "old", at=BASE))
    ch = user_channel(account, clock, Budget(100), max_message_chars=100)
    first = await ch.poll(None)
    account.add("@signals", post(SIGNALS, 2, "z" * 5000, at=clock.now))
    account.add("@signals", post(SIGNALS, 3, "BTC long", at=clock.now))
    got = await ch.poll(first.next_cursor)
    assert [m.external_id for m in got.messages] == [sid(2), sid(3)]
    assert refusal_reason(got.messages[0]) is not None and got.messages[1].text == "BTC long"
    assert ch.last_report is not None and len(ch.last_report.refused) == 1
    assert ch.last_report.newest_at == clock.now  # Telegram's own date of the newest post


ops = st.lists(
    st.one_of(
        st.tuples(st.just("post"), st.integers(min_value=0, max_value=0)),
        st.tuples(st.just("edit"), st.integers(min_value=1, max_value=12)),
        st.tuples(st.just("poll"), st.integers(min_value=0, max_value=3)),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
async def test_whatever_the_budgets_every_post_and_latest_edit_arrive_once(
    steps: list[tuple[str, int]],
) -> None:
    account, clock, budget = FakeAccount(), Clock(), Budget(0)
    ch = user_channel(account, clock, budget)
    cursor = (await ch.poll(None)).next_cursor
    delivered: list[str] = []
    posted: list[int] = []
    latest_edit: dict[int, int] = {}
    for op, value in steps:
        clock.advance(1)
        if op == "post" and len(posted) < 12:
            posted.append(len(posted) + 1)
            account.add("@signals", post(SIGNALS, posted[-1], f"post {posted[-1]}", at=clock.now))
        elif op == "edit" and value in posted:
            account.edit("@signals", value, f"edit {value} at {clock.now}", clock.now)
            latest_edit[value] = int(clock.now.timestamp())
        elif op == "poll":
            budget.left = value
            result = await ch.poll(cursor)
            delivered.extend(m.external_id for m in result.messages)
            cursor = result.next_cursor
    for _ in range(30):  # then enough budget until nothing is left
        budget.left = 5
        result = await ch.poll(cursor)
        delivered.extend(m.external_id for m in result.messages)
        cursor = result.next_cursor
    for number in posted:
        assert sid(number) in delivered
    for number, version in latest_edit.items():
        assert f"{sid(number)}/e{version}" in delivered or sid(number) in delivered
    assert all(d.split("/")[0] in {sid(n) for n in posted} for d in delivered)
    news = [d for d in delivered if "/" not in d]
    assert len(news) == len(set(news))  # a new post is never delivered twice


def test_settle_keeps_a_waiting_edit_newer_than_the_mark() -> None:
    mark = ChatMark(10, 100)
    taken = [Step(None, 3, 300, False)]
    left = [Step(None, 5, 200, False), Step(None, 11, 0, True)]
    assert settle(mark, taken, left) == ChatMark(10, 199)
    assert settle(None, [], left) is None
    with pytest.raises(ValueError):
        settle(mark, taken, [])


# --- health ---------------------------------------------------------------------------


def test_the_back_off_grows_from_the_second_failure_to_a_cap() -> None:
    waits = [backoff_seconds(n) for n in range(0, 12)]
    assert waits[:4] == [0.0, 0.0, 30.0, 60.0]
    assert waits == sorted(waits) and waits[-1] == MAX_BACKOFF


def test_lag_is_from_the_newest_item_when_dated_else_from_the_last_sync() -> None:
    assert lag(NOW, NOW - timedelta(minutes=5), NOW - timedelta(seconds=2)) == (300, PROVIDER_TIME)
    assert lag(NOW, None, NOW - timedelta(seconds=42)) == (42, LAST_SYNCED)
    assert lag(NOW, None, None) == (None, None)
    assert lag(NOW, NOW + timedelta(seconds=5), None) == (0, PROVIDER_TIME)  # clock skew


def test_a_report_counts_refusals_and_keeps_the_newest_date() -> None:
    older = InboundMessage(external_id="a", text="x", received_at=NOW - timedelta(hours=1))
    newer = InboundMessage(external_id="b", text="y" * 200, received_at=NOW)
    report = report_of([limit_size(newer, 100), older], deferred=1)
    assert report.newest_at == NOW and len(report.refused) == 1 and report.deferred == 1
    empty = PollReport()
    empty.saw(None)
    assert empty.newest_at is None


def test_the_health_view_computes_lag_now_and_says_its_state() -> None:
    assert view(None, now=NOW, channel_type="rss")["state"] == "never_polled"
    row = m.ConnectionHealth(
        kind="channel",
        connection_id=1,
        last_poll_at=NOW - timedelta(seconds=10),
        last_poll_ok_at=NOW - timedelta(seconds=70),
        newest_item_at=None,
        poll_failures=2,
        backoff_until=NOW + timedelta(seconds=20),
        error_count=5,
        consecutive_failures=2,
        last_error="TransientError: the source answered 503",
        refused_count=1,
        deferred_count=0,
    )
    shown = view(row, now=NOW, channel_type="webpage")
    assert shown["state"] == "backing_off" and shown["backing_off"] is True
    assert shown["lag_seconds"] == 70 and shown["lag_basis"] == LAST_SYNCED
    assert shown["last_synced_at"] == (NOW - timedelta(seconds=70)).isoformat()
    assert shown["consecutive_failures"] == 2 and shown["error_count"] == 5
    later = view(row, now=NOW + timedelta(minutes=1), channel_type="webpage")
    assert later["state"] == "failing" and later["backoff_until"] is None
    assert later["lag_seconds"] == 130  # it grows while the source is stuck


@given(st.text(max_size=60))
def test_any_rate_text_is_taken_or_refused_with_a_value_error(text: str) -> None:
    try:
        assert check_rate(text) == text
    except ValueError as exc:
        assert "rate_limit" in str(exc)
