"""The first login against a fake of the one Telethon interface it calls
(``connect``, ``is_user_authorized``, ``send_code_request``, ``sign_in``, ``get_me``,
``session.save``), raising Telethon's own errors: phone -> code -> 2FA password, wrong
codes and passwords typed again, limits, and the session registered for redaction."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
import structlog
import typer
from tests.fakes.telethon_source import CODE, PASSWORD, SESSION, FakeAccount, Saves
from tests.fakes.telethon_source import FakeLoginClient as FakeClient

from signalbridge.channels.telegram.user_login import LoginFailed, login, normalise_phone
from signalbridge.channels.telegram_user import TelegramUserChannel, TelegramUserConfig
from signalbridge.commands.telegram import ask
from signalbridge.integrations import redaction
from signalbridge.integrations.errors import RateLimited
from signalbridge.integrations.logging import configure_logging


class Answers:
    """The operator at the terminal: answers in order, and which prompts were secret."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, bool]] = []

    async def __call__(self, prompt: str, secret: bool) -> str:
        self.asked.append((prompt, secret))
        return self.answers.pop(0)


@pytest.fixture(autouse=True)
def clean_redaction() -> Iterator[None]:
    yield
    redaction.secrets.clear()


async def test_phone_then_code_then_password_gives_the_session() -> None:
    client = FakeClient()
    ask = Answers("+44 7700 900123", CODE, PASSWORD)
    done = await login(client, ask)
    assert done.session == SESSION and done.user.username == "copier"
    assert [secret for _, secret in ask.asked] == [False, True, True]  # code, password hidden
    assert ("send_code_request", "+447700900123") in client.calls
    assert SESSION not in repr(done)
    assert SESSION not in redaction.redact(f"oops {SESSION}")  # scrubbed from logs from now on


async def test_an_account_without_two_step_verification_is_not_asked_a_password() -> None:
    ask = Answers("447700900123", CODE)
    done = await login(FakeClient(password=None), ask)
    assert done.session == SESSION and len(ask.asked) == 2


async def test_a_wrong_code_and_a_wrong_password_may_be_typed_again() -> None:
    ask = Answers("+447700900123", "11111", CODE, "wrong", PASSWORD)
    assert (await login(FakeClient(), ask)).session == SESSION


async def test_three_wrong_codes_or_passwords_end_the_login() -> None:
    with pytest.raises(LoginFailed, match="code was wrong 3 times"):
        await login(FakeClient(), Answers("+447700900123", "1", "2", "3"))
    with pytest.raises(LoginFailed, match="password was wrong 3 times") as caught:
        await login(FakeClient(), Answers("+447700900123", CODE, "a", "b", "c"))
    assert "a" not in str(caught.value).split()  # no password in the text


async def test_an_expired_code_a_bad_phone_and_flood_wait_are_plain_failures() -> None:
    with pytest.raises(LoginFailed, match="expired"):
        await login(FakeClient(), Answers("+447700900123", "expired"))
    with pytest.raises(LoginFailed, match="international format"):
        await login(FakeClient(), Answers("call me"))
    with pytest.raises(LoginFailed, match="wait 300 s"):
        await login(FakeClient(flood=300), Answers("+447700900123"))


async def test_an_authorised_session_is_not_asked_anything() -> None:
    client = FakeClient(authorised=True, session=Saves(SESSION))
    ask = Answers()
    assert (await login(client, ask)).session == SESSION and ask.asked == []


def test_phone_numbers_are_normalised() -> None:
    assert normalise_phone(" +1 (555) 010-9999 ") == "+15550109999"
    with pytest.raises(ValueError):
        normalise_phone("+12")


async def test_the_session_never_reaches_a_log(caplog: pytest.LogCaptureFixture) -> None:
    stream = io.StringIO()
    handler = configure_logging("DEBUG", json=True, stream=stream)
    caplog.set_level(logging.DEBUG)
    try:
        done = await login(FakeClient(), Answers("+447700900123", CODE, PASSWORD))
        account = FakeAccount(flood_seconds=30)
        channel = TelegramUserChannel(
            TelegramUserConfig.model_validate(
                {"api_id": 1, "api_hash": "ab" * 16, "session": done.session, "chats": ["@x1234"]}
            ),
            channel_id=3,
            source=account,
        )
        with pytest.raises(RateLimited):
            await channel.poll(None)  # logs the flood wait
        log = structlog.get_logger("test")
        log.warning("something mentioned it", detail=f"session={done.session}")
        logging.getLogger("telethon").debug("raw %s", done.session)
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(logging.WARNING)
        structlog.reset_defaults()
    written = stream.getvalue()
    assert "flood wait" in written and "something mentioned it" in written
    assert SESSION not in written and CODE not in written and PASSWORD not in written
    assert all(SESSION not in r.getMessage() for r in caplog.records)


async def test_the_cli_reads_the_code_and_password_without_echo(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[tuple[str, bool]] = []

    def prompt(text: str, *, hide_input: bool = False) -> str:
        asked.append((text, hide_input))
        return "answer"

    monkeypatch.setattr(typer, "prompt", prompt)
    assert await ask("Login code", True) == "answer"
    assert await ask("Phone", False) == "answer"
    assert asked == [("Login code", True), ("Phone", False)]
