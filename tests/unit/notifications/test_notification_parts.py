"""Pure parts of notifications: event texts and keys, code parsing, which updates are
link attempts (a property test over untrusted updates), failure reasons, retry waits."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from signalbridge.integrations.errors import RateLimited
from signalbridge.notifications import events
from signalbridge.notifications.bot import link_request
from signalbridge.notifications.emit import failing_reason
from signalbridge.notifications.events import MAX_TEXT, EventKind, kinds_for
from signalbridge.notifications.linking import ALPHABET, split_code
from signalbridge.notifications.sender import retry_after_of

CODE = "ABCDEFGH-0123456789ABCDEF"


def test_texts_are_plain_bounded_and_keyed() -> None:
    e = events.signal_published(
        7,
        "*bold* <b>x</b>\x00\nname",
        "BTC/USDT",
        "long",
        Decimal("59900"),
        Decimal("60100.50"),
        Decimal("58000"),
        ["62000", "64000"],
    )
    assert e.kind is EventKind.SIGNAL_PUBLISHED and e.key == "signal:7:published"
    first = e.text.splitlines()[0]
    assert "\x00" not in first and first.endswith("*bold* <b>x</b>  name")
    assert "59900 - 60100.5" in e.text and "TP 62000, 64000" in e.text
    huge = events.connection_failing("exchange", 1, "n" * 9000, "breaker_open", "never", "e" * 9000)
    assert len(huge.text) <= MAX_TEXT
    closed = events.position_closed(3, "ETH/USDT", "short", Decimal("-1.50"), Decimal("0.2"))
    assert "PnL -1.5" in closed.text and closed.key == "position:3:closed"
    assert (
        events.stop_moved(3, "X", Decimal(1), Decimal(2)).key
        != events.stop_moved(3, "X", Decimal(2), Decimal(3)).key
    )


def test_members_do_not_get_staff_kinds() -> None:
    assert "signal_published" not in kinds_for("member")
    assert "signal_published" in kinds_for("operator") and "signal_published" in kinds_for("admin")


def test_codes_are_read_as_people_type_them() -> None:
    assert split_code(CODE) == ("ABCDEFGH", "0123456789ABCDEF")
    assert split_code(" abcdefgh 01234567 89abcdef ") == ("ABCDEFGH", "0123456789ABCDEF")
    assert split_code("ABCDEFGH-O12345678-9ABCDEF") == ("ABCDEFGH", "0123456789ABCDEF")
    assert split_code("ABCDEFGH-0123456789ABCDE") is None  # one short
    assert split_code("ABCDEFGH-0123456789ABCDEU") is None  # not Crockford
    assert split_code("") is None


def test_link_requests() -> None:
    def update(text: Any, chat: Any = None, key: str = "message") -> dict[str, Any]:
        default = {"id": 5, "type": "private"}
        return {"update_id": 1, key: {"chat": default if chat is None else chat, "text": text}}

    assert link_request(update(f"/start {CODE}")) is not None
    assert link_request(update(f"/link@SignalBridgeBot {CODE}")) is not None
    assert link_request(update(CODE, {"id": -1001, "title": "Desk"}, "channel_post")) is not None
    found = link_request(update(CODE, {"id": 9, "first_name": "A\x07lice"}))
    assert found is not None and found.chat_id == 9 and found.title == "Alice"
    for text in ("/help", f"/other {CODE}", "hello", "", None, 5, CODE * 20):
        assert link_request(update(text)) is None
    for chat in ({"id": True}, {"id": "5"}, {"id": 2**60}, {"id": 0}, {}, []):
        assert link_request(update(CODE, chat)) is None
    assert link_request(update(CODE, key="edited_message")) is None


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=20,
)
CODE_TEXT = st.text(alphabet=ALPHABET + " -/abcdefgh", max_size=40)


@given(
    st.one_of(
        JSON,
        st.fixed_dictionaries(
            {
                "message": st.fixed_dictionaries(
                    {"chat": st.dictionaries(st.sampled_from(["id", "title"]), JSON), "text": JSON}
                )
            }
        ),
        st.builds(
            lambda chat, text: {"message": {"chat": {"id": chat}, "text": text}},
            st.integers(),
            st.one_of(CODE_TEXT, st.builds(lambda t: "/start " + t, CODE_TEXT)),
        ),
    )
)
def test_any_update_is_ignored_or_a_well_formed_request(update: Any) -> None:
    found = link_request(update)
    if found is not None:
        assert isinstance(found.chat_id, int) and found.chat_id != 0
        assert abs(found.chat_id) < 2**53
        assert split_code(found.code) is not None
        assert found.title is None or (len(found.title) <= 200 and found.title.isprintable())


@given(st.text(max_size=60))
def test_split_code_never_raises(text: str) -> None:
    parts = split_code(text)
    if parts is not None:
        assert len(parts[0]) == 8 and len(parts[1]) == 16
        assert set(parts[0] + parts[1]) <= set(ALPHABET)


def test_failing_reasons() -> None:
    assert failing_reason(0, "AuthenticationError: x") is None
    assert failing_reason(1, "AuthenticationError: bad key") == "authentication"
    assert failing_reason(4, "TransientError: timeout") is None
    assert failing_reason(5, "TransientError: timeout") == "breaker_open"


def test_retry_after_of() -> None:
    assert retry_after_of(RateLimited("slow", retry_after=3)) == 3.0

    class PtbRetryAfter(Exception):
        retry_after = timedelta(seconds=12)

    assert retry_after_of(PtbRetryAfter()) == 12.0
    assert retry_after_of(ValueError()) is None
