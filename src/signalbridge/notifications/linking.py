"""One-time codes that link a Telegram chat to a user.

The user asks the API for a code (:func:`issue_code`) and sends it to the bot; the bot
update carrying it (:mod:`signalbridge.notifications.bot`) calls :func:`redeem`, which
links the chat it came from to the code's user.

A code is ``SELECTOR-VERIFIER`` (8 + 16 characters of Crockford base32, 120 random bits).
The selector finds the row; only SHA-256 of the verifier is stored and it is compared with
:func:`hmac.compare_digest`, so neither the database nor the time a comparison takes gives
the code away. A code is single use (one conditional UPDATE claims it), expires after
``CODE_TTL`` and replaces any unused code of the same user. Codes are never logged: every
failure answers the same :class:`LinkRefused`, whatever the reason.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.notifications.events import kinds_for
from signalbridge.store import models as m
from signalbridge.store.db import insert_ignore

CODE_TTL = timedelta(minutes=10)
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
SELECTOR_LEN = 8
VERIFIER_LEN = 16
#: Letters people mistype for digits, read as Crockford does.
_READ_AS = str.maketrans({"I": "1", "L": "1", "O": "0"})
_DUMMY_HASH = hashlib.sha256(b"no such code").hexdigest()


class LinkRefused(Exception):
    """The code is unknown, wrong, expired or used: one answer for all four."""

    def __init__(self) -> None:
        super().__init__("that code is not valid: ask the app for a new one")


@dataclass(frozen=True)
class IssuedCode:
    code: str
    expires_at: datetime


@dataclass(frozen=True)
class Linked:
    chat_ref_id: int
    user_id: int
    chat_id: int
    created: bool


def _random(n: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(n))


def _hash(verifier: str) -> str:
    return hashlib.sha256(verifier.encode("ascii")).hexdigest()


def split_code(text: str) -> tuple[str, str] | None:
    """``(selector, verifier)`` of a code as a person may type it (any case, spaces or
    dashes anywhere), or None when it cannot be a code."""
    flat = "".join(ch for ch in text.upper() if ch not in " -\t").translate(_READ_AS)
    if len(flat) != SELECTOR_LEN + VERIFIER_LEN or any(ch not in ALPHABET for ch in flat):
        return None
    return flat[:SELECTOR_LEN], flat[SELECTOR_LEN:]


async def issue_code(session: AsyncSession, user_id: int, now: datetime) -> IssuedCode:
    """A fresh code for ``user_id``; its earlier unused codes stop working."""
    await session.execute(
        delete(m.NotificationLinkCode).where(
            m.NotificationLinkCode.user_id == user_id, m.NotificationLinkCode.used_at.is_(None)
        )
    )
    selector, verifier = _random(SELECTOR_LEN), _random(VERIFIER_LEN)
    expires_at = now + CODE_TTL
    session.add(
        m.NotificationLinkCode(
            user_id=user_id,
            selector=selector,
            verifier_hash=_hash(verifier),
            created_at=now,
            expires_at=expires_at,
        )
    )
    await session.flush()
    return IssuedCode(f"{selector}-{verifier}", expires_at)


async def redeem(
    session: AsyncSession, code: str, chat_id: int, title: str | None, now: datetime
) -> Linked:
    """Link ``chat_id`` to the code's user, using the code up; raises :class:`LinkRefused`.

    Linking a chat the user linked before reactivates it and keeps its settings.
    """
    parts = split_code(code)
    selector, verifier = parts if parts is not None else ("", "")
    row = None
    if parts is not None:
        row = await session.scalar(
            select(m.NotificationLinkCode).where(m.NotificationLinkCode.selector == selector)
        )
    stored = row.verifier_hash if row is not None else _DUMMY_HASH
    matches = hmac.compare_digest(_hash(verifier), stored)
    if row is None or not matches or row.used_at is not None or row.expires_at <= now:
        raise LinkRefused()
    claimed = await session.execute(
        update(m.NotificationLinkCode)
        .where(
            m.NotificationLinkCode.id == row.id,
            m.NotificationLinkCode.used_at.is_(None),
            m.NotificationLinkCode.expires_at > now,
        )
        .values(used_at=now)
        .returning(m.NotificationLinkCode.id)
        .execution_options(synchronize_session=False)
    )
    if claimed.first() is None:  # another redemption of the same code won
        raise LinkRefused()
    user_id = row.user_id
    role = await session.scalar(select(m.User.role).where(m.User.id == user_id))
    clean_title = None if title is None else title[:200]
    new_id = await insert_ignore(
        session,
        m.NotificationChat,
        {
            "user_id": user_id,
            "chat_id": chat_id,
            "title": clean_title,
            "events": list(kinds_for(role or m.Role.MEMBER)),
            "is_active": True,
            "created_at": now,
            "updated_at": now,
        },
        conflict=("user_id", "chat_id"),
    )
    if new_id is not None:
        return Linked(new_id, user_id, chat_id, True)
    existing = await session.scalar(
        select(m.NotificationChat.id).where(
            m.NotificationChat.user_id == user_id, m.NotificationChat.chat_id == chat_id
        )
    )
    assert existing is not None
    await session.execute(
        update(m.NotificationChat)
        .where(m.NotificationChat.id == existing)
        .values(is_active=True, title=clean_title, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return Linked(existing, user_id, chat_id, False)
