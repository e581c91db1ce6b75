"""First start: make sure an admin exists, and say once how to log in.

The first admin's password and token are written to a file only its owner may read
(``<data_dir>/first-admin.txt``, mode 0600 from the moment it exists), so they need not
travel through a terminal's scrollback or a container's log collector.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.services import audit
from signalbridge.services.auth import DEFAULT_TOKEN_DAYS, create_token, create_user
from signalbridge.store import models as m

FIRST_ADMIN_FILE = "first-admin.txt"


@dataclass(frozen=True)
class FirstAdmin:
    email: str
    password: str
    token: str
    token_expires_at: datetime | None = None
    #: False when the password came from settings (then the file does not repeat it)
    password_generated: bool = True
    #: where the password and token were written, if anywhere
    file: Path | None = None


def write_private_file(path: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text``, mode 0600 from creation on.

    ``mkstemp`` creates the temporary file 0600 in the same directory, so no reader ever
    sees a partial file or a moment of looser permissions; ``os.replace`` swaps it in.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def first_admin_text(admin: FirstAdmin) -> str:
    password = (
        admin.password
        if admin.password_generated
        else "(the one set in SIGNALBRIDGE_ADMIN_PASSWORD)"
    )
    expires = admin.token_expires_at.isoformat() if admin.token_expires_at else "never"
    return (
        "# SignalBridge first admin. Only this file's owner may read it (mode 0600).\n"
        "# Keep these somewhere safe (a password manager), then delete this file.\n"
        f"email: {admin.email}\n"
        f"password: {password}\n"
        f"token: {admin.token}\n"
        f"token_expires_at: {expires}\n"
    )


async def ensure_admin(
    sessions: async_sessionmaker[AsyncSession],
    email: str,
    password: str | None,
    *,
    token_days: int = DEFAULT_TOKEN_DAYS,
    secrets_file: Path | None = None,
) -> FirstAdmin | None:
    """Create the first admin and an admin token when the database has no user yet.

    With ``secrets_file`` the password and token are written there before the transaction
    commits: if the file cannot be written, no admin is created and the next start retries.
    """
    async with sessions() as session, session.begin():
        if await session.scalar(select(func.count()).select_from(m.User)):
            return None
        plain_password = password or secrets.token_urlsafe(12)
        user = await create_user(session, email, plain_password, m.Role.ADMIN)
        row, token = await create_token(
            session, user, "first admin token", ["admin"], days=token_days
        )
        await audit.record(
            session,
            actor="system",
            actor_id=None,
            action="create",
            entity="user",
            entity_id=user.id,
            changes={"email": user.email, "role": user.role},
        )
        admin = FirstAdmin(
            user.email,
            plain_password,
            token,
            token_expires_at=row.expires_at,
            password_generated=not password,
            file=secrets_file,
        )
        if secrets_file is not None:
            write_private_file(secrets_file, first_admin_text(admin))
        return admin
