"""Administration from the shell: ``users``, ``tokens`` and ``keys``.

Each command works on the database directly (upgrading its schema first) and writes an
audit record as the actor ``cli``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, Any

import typer

from signalbridge.commands.common import build, load_settings, migrate_schema, on_database

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


def users_create(
    email: str,
    role: Annotated[str, typer.Option(help="admin, operator or member.")] = "member",
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="SIGNALBRIDGE_NEW_USER_PASSWORD",
        ),
    ] = "",
) -> None:
    """Create a user (the password is prompted for, or read from SIGNALBRIDGE_NEW_USER_PASSWORD)."""
    from signalbridge.services import audit
    from signalbridge.services.auth import create_user

    async def work(s: AsyncSession) -> int:
        user = await create_user(s, email, password, role)
        await audit.record(
            s,
            actor="cli",
            actor_id=None,
            action="create",
            entity="user",
            entity_id=user.id,
            changes={"email": user.email, "role": role},
        )
        return user.id

    user_id = on_database(work)
    typer.echo(f"user {user_id} created: {email} ({role})")


def users_approve(email: str) -> None:
    """Let in a member who signed up and waits for approval (settings: signup = approval)."""
    from signalbridge.services import signup

    async def work(s: AsyncSession) -> None:
        await signup.approve(s, await _user(s, email), None)

    on_database(work)  # a SignupError (not pending) is a ValueError: printed, exit 2
    typer.echo(f"{email} approved: the account can log in")


def users_reset_link(
    email: str,
    base_url: Annotated[
        str, typer.Option(help="The platform's address as members reach it.")
    ] = "http://localhost:8000",
) -> None:
    """Print a single-use password reset link for a user, valid for 30 minutes.

    The platform sends no email: hand the link to the user yourself.
    """
    from signalbridge.services import signup

    async def work(s: AsyncSession) -> str:
        return await signup.issue_reset(s, await _user(s, email), None)

    token = on_database(work)
    typer.echo(f"{base_url.rstrip('/')}/reset/{token}")


async def _user(s: AsyncSession, email: str) -> Any:
    from sqlalchemy import select

    from signalbridge.services.login import normalize_email
    from signalbridge.store.models import User

    user = await s.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        raise ValueError(f"no user has the email {email}")
    return user


def tokens_create(
    email: str,
    name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
    scope: Annotated[list[str] | None, typer.Option(help="A scope; repeat for several.")] = None,
    days: Annotated[
        int | None,
        typer.Option(min=1, max=3650, help="Days until it expires (default: token_days)."),
    ] = None,
) -> None:
    """Create an API token for a user; it is printed once and stored only as a hash."""
    from sqlalchemy import select

    from signalbridge.services import audit
    from signalbridge.services.auth import create_token
    from signalbridge.store import models as m

    settings = load_settings()

    async def work(s: AsyncSession) -> str:
        user = await s.scalar(select(m.User).where(m.User.email == email.strip().lower()))
        if user is None:
            raise ValueError(f"no user with email {email}")
        row, plain = await create_token(
            s, user, name, scope or ["signals:read"], days=days or settings.token_days
        )
        await audit.record(
            s,
            actor="cli",
            actor_id=None,
            action="create",
            entity="token",
            entity_id=row.id,
            changes={
                "user": user.email,
                "name": name,
                "scopes": row.scopes,
                "expires_at": row.expires_at,
            },
        )
        typer.echo(f"token {row.id} expires {row.expires_at:%Y-%m-%d %H:%M} UTC", err=True)
        return plain

    token = on_database(work, settings)
    typer.echo(token)


def tokens_list(
    email: Annotated[str | None, typer.Option(help="Only this user's tokens.")] = None,
) -> None:
    """List tokens (never their secret): id, user, prefix, name, scopes, dates, state."""
    from sqlalchemy import select

    from signalbridge.services.tokens import is_active, list_tokens
    from signalbridge.store import models as m

    def when(value: Any) -> str:
        return f"{value:%Y-%m-%d %H:%M}" if value is not None else "-"

    async def work(s: AsyncSession) -> list[str]:
        query = select(m.User).order_by(m.User.id)
        if email is not None:
            query = query.where(m.User.email == email.strip().lower())
        users = (await s.scalars(query)).all()
        if email is not None and not users:
            raise ValueError(f"no user with email {email}")
        lines = []
        for user in users:
            for t in await list_tokens(s, user.id):
                state = (
                    "active"
                    if is_active(t)
                    else ("revoked" if t.revoked_at is not None else "expired")
                )
                lines.append(
                    f"{t.id:>5}  {user.email:<28} {t.prefix:<9} {t.name[:24]:<24} "
                    f"{when(t.created_at):<16}  {when(t.last_used_at):<16}  "
                    f"{when(t.expires_at):<16}  {state:<7}  {','.join(t.scopes)}"
                )
        return lines

    lines = on_database(work, write=False)
    typer.echo(
        f"{'id':>5}  {'user':<28} {'prefix':<9} {'name':<24} {'created (UTC)':<16}  "
        f"{'last used':<16}  {'expires':<16}  {'state':<7}  scopes"
    )
    for line in lines:
        typer.echo(line)


def tokens_revoke(token_id: Annotated[int, typer.Argument(min=1, max=2**63 - 1)]) -> None:
    """Revoke a token at once; it stays listed as revoked."""
    from signalbridge.services import audit
    from signalbridge.services.tokens import find_token, revoke

    async def work(s: AsyncSession) -> bool:
        row = await find_token(s, token_id, owner_id=None)
        if row is None:
            raise ValueError(f"no token with id {token_id}")
        if not revoke(row):
            return False
        await audit.record(
            s,
            actor="cli",
            actor_id=None,
            action="revoke",
            entity="token",
            entity_id=row.id,
            changes={"name": row.name, "user_id": row.user_id},
        )
        return True

    revoked = on_database(work)
    typer.echo(f"token {token_id} revoked" if revoked else f"token {token_id} was revoked already")


def keys_rotate(
    drop_old: Annotated[
        bool,
        typer.Option(
            "--drop-old/--keep-old", help="Remove the old keys once every row is rotated."
        ),
    ] = False,
) -> None:
    """Re-encrypt every stored secret under a new key (then the old key can be removed)."""
    from signalbridge.integrations.vault import write_key_file
    from signalbridge.services.keys import rotate_all

    settings = load_settings()

    async def run() -> Any:
        c = build(settings)
        try:
            await migrate_schema(c)
            report = await rotate_all(c.sessions, c.vault, drop_old=drop_old)
            return report, c.vault.export_keys()
        finally:
            await c.engine.dispose()

    report, keys = asyncio.run(run())
    if settings.secret_keys.get_secret_value():
        typer.echo("keys come from SIGNALBRIDGE_SECRET_KEYS: set it to this value (newest first):")
        typer.echo(",".join(keys))
    else:
        write_key_file(settings.resolved_key_file, keys)
    typer.echo(
        f"rotated {report.rows_rotated} secrets to key {report.new_key_id}"
        + (f"; removed keys {', '.join(report.removed_key_ids)}" if report.removed_key_ids else "")
    )
