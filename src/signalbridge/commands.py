"""The ``signalbridge`` commands: run the platform and administer it from the shell.

Reached through :func:`signalbridge.cli.main`. Commands import what they need when they
run, so ``signalbridge --help`` starts fast.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from signalbridge.bootstrap import Container
    from signalbridge.services.users import FirstAdmin
    from signalbridge.settings import Settings

app = typer.Typer(
    help="SignalBridge: a self-hosted trading-signal hub.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
tokens_app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage the credential vault's keys.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(keys_app, name="keys")


def _settings() -> Settings:
    from signalbridge.settings import Settings

    return Settings()


def _container(settings: Settings | None = None) -> Container:
    from signalbridge.bootstrap import build_container
    from signalbridge.integrations.logging import configure_logging

    s = settings or _settings()
    configure_logging(s.log_level, json=s.log_json)
    return build_container(s)


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


async def _migrate(container: Container) -> None:
    from signalbridge.store.migrate import upgrade

    await upgrade(container.engine)


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema to the latest version."""

    async def run() -> None:
        c = _container()
        try:
            await _migrate(c)
        finally:
            await c.engine.dispose()

    asyncio.run(run())
    typer.echo("database is up to date")


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default from settings).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
    worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="Run queue tasks in this process.")
    ] = True,
    scheduler: Annotated[
        bool,
        typer.Option("--scheduler/--no-scheduler", help="Run the sweeper and order sync here."),
    ] = True,
    demo: Annotated[
        bool, typer.Option(help="Seed the demo channel, paper account and sample signals.")
    ] = False,
) -> None:
    """Run the web server (and, by default, a worker and the scheduler) in one process.

    On first start this creates the database, the key file and a first admin, and prints
    how to log in.
    """
    import uvicorn

    from signalbridge.jobs.runtime import Platform
    from signalbridge.services.users import FIRST_ADMIN_FILE, ensure_admin
    from signalbridge.web.app import create_app

    settings = _settings()
    c = _container(settings)
    try:
        platform = Platform(c, worker=worker, scheduler=scheduler)
    except ValueError as exc:
        _fail(str(exc))
        return
    bind_host = host or settings.host
    bind_port = port or settings.port
    base_url = f"http://{bind_host}:{bind_port}"

    async def startup() -> None:
        await _migrate(c)
        admin = await ensure_admin(
            c.sessions,
            settings.admin_email,
            settings.admin_password.get_secret_value() if settings.admin_password else None,
            token_days=settings.token_days,
            secrets_file=settings.data_dir / FIRST_ADMIN_FILE,
        )
        await platform.start()
        typer.echo(f"SignalBridge is running at {base_url}  (API docs: {base_url}/docs)")
        if admin is not None:
            for line in first_admin_banner(admin, base_url, tty=sys.stdout.isatty()):
                typer.echo(line)
        if demo:
            await _print_demo(c, base_url)

    app_ = create_app(c, on_startup=startup, on_shutdown=platform.stop)
    uvicorn.run(app_, host=bind_host, port=bind_port, log_level="warning", access_log=False)


def first_admin_banner(admin: FirstAdmin, base_url: str, *, tty: bool) -> list[str]:
    """What ``serve`` prints about the first admin: the secrets only to a terminal.

    Output that is not a terminal usually ends in a log collector or a file, where a
    password and an admin token must not go; the 0600 file holds them instead.
    """
    where = f" in {admin.file} (readable only by you)" if admin.file else ""
    what = "password and API token" if admin.password_generated else "API token"
    lines = [f"First admin created: {admin.email}; {what} saved{where}."]
    if tty:
        lines += [
            f"  password: {admin.password if admin.password_generated else '(from settings)'}",
            f"  API token: {admin.token}",
            f"  try: curl -H 'Authorization: Bearer {admin.token}' {base_url}/api/v1/signals",
        ]
    elif admin.file is not None:
        lines += [
            "  (not printed here: this output is not a terminal)",
            "  try: curl -H \"Authorization: Bearer $(sed -n 's/^token: //p' "
            f"'{admin.file}')\" {base_url}/api/v1/signals",
        ]
    return lines


async def _print_demo(c: Container, base_url: str) -> None:
    from signalbridge.services.demo import curl_example, seed_demo, send_example

    info = await seed_demo(c)
    typer.echo(
        f"Demo: channel {info.channel_id} -> paper connection {info.connection_id}; "
        f"sample signals {list(info.signal_ids)} queued."
    )
    typer.echo(f"  see them become positions: GET {base_url}/api/v1/positions (admin token)")
    typer.echo("  send your own signal, signed with the current time:")
    default_url = f"http://{c.settings.host}:{c.settings.port}"
    url = None if base_url == default_url else base_url
    typer.echo("    " + send_example(info.channel_id, info.price, url))
    tolerance = c.settings.webhook_tolerance_seconds
    typer.echo(
        f"  or with curl (signed now, refused after {tolerance} s; "
        "add --curl to the command above for a fresh one):"
    )
    typer.echo("    " + curl_example(base_url, info.channel_id, info.webhook_secret, info.price))
    typer.echo(f"  (the same body again within {tolerance} s is answered as a duplicate)")


@app.command()
def worker() -> None:
    """Run queue tasks from the shared broker (SIGNALBRIDGE_BROKER_URL=redis://...)."""
    from signalbridge.jobs.runtime import Platform

    c = _container()
    if c.queue.in_process:
        _fail("a separate worker needs a shared broker: set SIGNALBRIDGE_BROKER_URL=redis://...")
    _run_forever(Platform(c, worker=True, scheduler=False))


@app.command()
def scheduler() -> None:
    """Run the sweeper, order sync and paper price feed (one per deployment)."""
    from signalbridge.jobs.runtime import Platform

    c = _container()
    if c.queue.in_process:
        _fail("a separate scheduler needs a shared broker: set SIGNALBRIDGE_BROKER_URL=redis://...")
    _run_forever(Platform(c, worker=False, scheduler=True))


def _run_forever(platform: Any) -> None:
    async def run() -> None:
        await _migrate(platform.container)
        await platform.start()
        try:
            await asyncio.Event().wait()
        finally:
            await platform.stop()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


@app.command()
def demo(
    wait: Annotated[float, typer.Option(help="Seconds to wait for the positions.")] = 15.0,
) -> None:
    """Seed demo data and run sample signals through the whole pipeline, in this process."""
    from sqlalchemy import select

    from signalbridge.jobs.runtime import Platform
    from signalbridge.services.demo import seed_demo
    from signalbridge.services.users import FIRST_ADMIN_FILE, ensure_admin
    from signalbridge.store import models as m

    async def run() -> None:
        settings = _settings()
        c = _container(settings)
        await _migrate(c)
        # The demo's rows belong to the first admin: on a fresh data directory, make it.
        admin = await ensure_admin(
            c.sessions,
            settings.admin_email,
            settings.admin_password.get_secret_value() if settings.admin_password else None,
            token_days=settings.token_days,
            secrets_file=settings.data_dir / FIRST_ADMIN_FILE,
        )
        if admin is not None:
            base_url = f"http://{settings.host}:{settings.port}"
            for line in first_admin_banner(admin, base_url, tty=sys.stdout.isatty()):
                typer.echo(line)
        platform = Platform(c, worker=True, scheduler=True)
        await platform.start()
        try:
            info = await seed_demo(c)
            typer.echo(f"demo channel {info.channel_id}, paper connection {info.connection_id}")
            deadline = asyncio.get_running_loop().time() + wait
            positions: list[m.Position] = []
            while asyncio.get_running_loop().time() < deadline:
                async with c.sessions() as s:
                    positions = list(
                        (
                            await s.scalars(
                                select(m.Position).where(m.Position.signal_id.in_(info.signal_ids))
                            )
                        ).all()
                    )
                if len(positions) == len(info.signal_ids):
                    break
                await asyncio.sleep(0.2)
            async with c.sessions() as s:
                for signal_id in info.signal_ids:
                    sig = await s.get_one(m.Signal, signal_id)
                    typer.echo(
                        f"signal {sig.id}: {sig.side} {sig.symbol} {sig.order_type} -> {sig.status}"
                    )
            for p in positions:
                typer.echo(f"  position {p.id}: {p.side} {p.amount} {p.symbol} @ {p.entry_price}")
            if len(positions) < len(info.signal_ids):
                typer.echo(
                    "  (limit entries wait for the price to reach them; `serve` keeps them running)"
                )
        finally:
            await platform.stop()

    asyncio.run(run())


@app.command()
def parse(
    template: Annotated[
        Path | None, typer.Option(help="A channel template (JSON or TOML).")
    ] = None,
) -> None:
    """Read JSON Lines ({"text": ...}) on stdin, write one parse result per line on stdout."""
    from signalbridge.parsing import select_build

    select_build()
    from signalbridge.parsing.jsonl import run

    raise typer.Exit(run(sys.stdin, sys.stdout, template))


@app.command()
def send(
    channel_id: Annotated[int, typer.Argument(help="The webhook channel's id.")],
    body: Annotated[
        str, typer.Argument(help="What to send: the text itself, - for stdin, or @FILE.")
    ],
    url: Annotated[
        str | None,
        typer.Option(help="The running server (default: http://HOST:PORT from the settings)."),
    ] = None,
    secret: Annotated[
        str | None,
        typer.Option(
            envvar="SIGNALBRIDGE_CHANNEL_SECRET",
            help="The channel's secret (default: read from the database through the vault).",
        ),
    ] = None,
    secret_field: Annotated[
        str | None,
        typer.Option(
            help="With --secret, for a body_secret channel: put the secret into this JSON "
            "field instead of signing."
        ),
    ] = None,
    curl: Annotated[
        bool,
        typer.Option(
            "--curl", help="Print the equivalent signed curl command instead of sending it."
        ),
    ] = False,
) -> None:
    """Send BODY to a webhook channel, signed with the current time and a fresh delivery id.

    Prints the server's answer (exit code 1 unless it is 2xx). With --curl it prints the
    same request as a curl command instead; its signature is refused once it is older
    than the tolerance (300 s by default). A body_secret channel gets its secret put into
    the JSON body instead of a signature.
    """
    from signalbridge.services import webhook_send as ws

    settings = _settings()
    try:
        payload = ws.read_body(body, sys.stdin.buffer)
    except OSError as exc:
        _fail(f"cannot read the body: {exc}")
        return
    if secret is not None:
        sender = ws.SenderCredentials(
            secret, "body_secret" if secret_field else "hmac", secret_field or "secret"
        )
    else:
        sender = _channel_sender(settings, channel_id)
    base_url = url or ws.local_base_url(settings.host, settings.port)
    try:
        prepared = ws.prepare(base_url, channel_id, payload, sender)
        command = ws.curl_command(prepared) if curl else ""
    except (ValueError, UnicodeDecodeError) as exc:
        _fail(str(exc))
        return
    if curl:
        typer.echo(command)
        return
    import httpx

    try:
        answer = httpx.post(
            prepared.url, content=prepared.body, headers=prepared.headers, timeout=30
        )
    except httpx.HTTPError as exc:
        _fail(f"cannot reach {prepared.url}: {exc}")
        return
    typer.echo(f"{answer.status_code} {answer.reason_phrase}")
    typer.echo(answer.text)
    if not answer.is_success:
        raise typer.Exit(1)


def _channel_sender(settings: Settings, channel_id: int) -> Any:
    """The channel's secret and auth mode from this data directory's database."""
    from signalbridge.services.webhook_send import channel_sender

    db = settings.data_dir / "signalbridge.db"
    if not settings.database_url and not db.exists():
        _fail(f"no database at {db}: pass --secret, or set SIGNALBRIDGE_DATA_DIR")

    async def run() -> Any:
        c = _container(settings)
        try:
            return await channel_sender(c.sessions, c.vault, channel_id)
        finally:
            await c.engine.dispose()

    try:
        return asyncio.run(run())
    except LookupError as exc:
        _fail(f"{exc.args[0]} in the database; pass --secret to send anyway")
    except Exception as exc:  # a database or key problem: say what, never the secret
        _fail(f"cannot read channel {channel_id}'s secret: {type(exc).__name__}")
    return None


@users_app.command("create")
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

    async def run() -> int:
        c = _container()
        try:
            await _migrate(c)
            async with c.sessions() as s, s.begin():
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
        finally:
            await c.engine.dispose()

    try:
        user_id = asyncio.run(run())
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(f"user {user_id} created: {email} ({role})")


@tokens_app.command("create")
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

    settings = _settings()

    async def run() -> str:
        c = _container(settings)
        try:
            await _migrate(c)
            async with c.sessions() as s, s.begin():
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
        finally:
            await c.engine.dispose()

    try:
        token = asyncio.run(run())
    except ValueError as exc:
        _fail(str(exc))
        return
    typer.echo(token)


@tokens_app.command("list")
def tokens_list(
    email: Annotated[str | None, typer.Option(help="Only this user's tokens.")] = None,
) -> None:
    """List tokens (never their secret): id, user, prefix, name, scopes, dates, state."""
    from sqlalchemy import select

    from signalbridge.services.tokens import is_active, list_tokens
    from signalbridge.store import models as m

    def when(value: Any) -> str:
        return f"{value:%Y-%m-%d %H:%M}" if value is not None else "-"

    async def run() -> list[str]:
        c = _container()
        try:
            await _migrate(c)
            async with c.sessions() as s:
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
        finally:
            await c.engine.dispose()

    try:
        lines = asyncio.run(run())
    except ValueError as exc:
        _fail(str(exc))
        return
    typer.echo(
        f"{'id':>5}  {'user':<28} {'prefix':<9} {'name':<24} {'created (UTC)':<16}  "
        f"{'last used':<16}  {'expires':<16}  {'state':<7}  scopes"
    )
    for line in lines:
        typer.echo(line)


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[int, typer.Argument(min=1, max=2**63 - 1)]) -> None:
    """Revoke a token at once; it stays listed as revoked."""
    from signalbridge.services import audit
    from signalbridge.services.tokens import find_token, revoke

    async def run() -> bool:
        c = _container()
        try:
            await _migrate(c)
            async with c.sessions() as s, s.begin():
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
        finally:
            await c.engine.dispose()

    try:
        revoked = asyncio.run(run())
    except ValueError as exc:
        _fail(str(exc))
        return
    typer.echo(f"token {token_id} revoked" if revoked else f"token {token_id} was revoked already")


@keys_app.command("rotate")
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

    settings = _settings()

    async def run() -> Any:
        c = _container(settings)
        try:
            await _migrate(c)
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
