"""The first login of a Telegram user account: phone, then the code, then the 2FA password.

Telegram's order (integrations.md section 4): ``send_code_request(phone)``, then
``sign_in(phone, code)``; an account with two-step verification answers that with
``SessionPasswordNeededError`` and wants ``sign_in(password=...)``. A wrong code or
password may be typed again (three tries each). What comes out is the session as a
``StringSession`` string, registered with the redaction layer at once: the caller seals
it in the vault and never prints it.

Only the few client methods named in :class:`LoginClient` are called, so the flow is
tested with a fake of exactly that interface; ``TelegramClient`` is the real one.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from telethon.errors import (
    FloodWaitError,
    PasswordHashInvalidError,
    PhoneCodeExpiredError,
    PhoneCodeInvalidError,
    PhoneNumberInvalidError,
    SessionPasswordNeededError,
)

from signalbridge.integrations.redaction import register_secret

#: Tries for a code and for a password before the login gives up.
TRIES = 3
_PHONE = re.compile(r"\+?[0-9]{5,16}")

#: ``ask(prompt, secret)``: the operator's answer; ``secret`` answers must not echo.
Ask = Callable[[str, bool], Awaitable[str]]


class LoginFailed(Exception):
    """The login did not complete; the text is safe to show (it holds no secret)."""


class _Saves(Protocol):
    def save(self) -> str: ...


class LoginClient(Protocol):
    """The part of Telethon's ``TelegramClient`` the login calls."""

    @property
    def session(self) -> _Saves: ...

    async def connect(self) -> None: ...

    async def is_user_authorized(self) -> bool: ...

    async def send_code_request(self, phone: str) -> Any: ...

    async def sign_in(
        self, phone: str | None = None, code: str | None = None, *, password: str | None = None
    ) -> Any: ...

    async def get_me(self) -> Any: ...


@dataclass(frozen=True)
class LoggedIn:
    """The session string (a secret: seal it, never show it) and the account it is."""

    session: str
    user: Any

    def __repr__(self) -> str:
        return f"LoggedIn(session=****, user_id={getattr(self.user, 'id', None)})"


def normalise_phone(raw: str) -> str:
    """``+<digits>`` without spaces, dashes or brackets; ValueError when it is not one."""
    phone = re.sub(r"[\s().-]", "", raw)
    if not _PHONE.fullmatch(phone):
        raise ValueError("a phone number in international format, such as +44 7700 900123")
    return phone if phone.startswith("+") else f"+{phone}"


async def _password(client: LoginClient, ask: Ask) -> None:
    for attempt in range(1, TRIES + 1):
        password = await ask("Two-step verification password", True)
        try:
            await client.sign_in(password=password)
            return
        except PasswordHashInvalidError:
            if attempt == TRIES:
                raise LoginFailed(f"the password was wrong {TRIES} times") from None


async def _code(client: LoginClient, ask: Ask, phone: str) -> None:
    for attempt in range(1, TRIES + 1):
        code = (await ask("Login code (sent by Telegram)", True)).strip()
        try:
            await client.sign_in(phone=phone, code=code)
            return
        except SessionPasswordNeededError:
            await _password(client, ask)
            return
        except PhoneCodeInvalidError:
            if attempt == TRIES:
                raise LoginFailed(f"the code was wrong {TRIES} times") from None
        except PhoneCodeExpiredError:
            raise LoginFailed("the code expired: run the login again") from None


async def login(client: LoginClient, ask: Ask) -> LoggedIn:
    """Log ``client`` in (asking only what Telegram needs) and return its session."""
    try:
        await client.connect()
        if not await client.is_user_authorized():
            phone = normalise_phone(await ask("Phone number (international, +...)", False))
            await client.send_code_request(phone)
            await _code(client, ask, phone)
        user = await client.get_me()
    except FloodWaitError as exc:
        raise LoginFailed(f"Telegram asks to wait {exc.seconds} s before trying again") from None
    except PhoneNumberInvalidError:
        raise LoginFailed("Telegram does not know that phone number") from None
    except ValueError as exc:
        raise LoginFailed(str(exc)) from None
    session = client.session.save()
    if user is None or not session:
        raise LoginFailed("Telegram did not confirm the login")
    register_secret(session)
    return LoggedIn(session, user)
