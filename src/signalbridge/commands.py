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
    from signalbridge.services.users import ensure_admin
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
        )
        await platform.start()
        typer.echo(f"SignalBridge is running at {base_url}  (API docs: {base_url}/docs)")
        if admin is not None:
            typer.echo(f"First admin created: {admin.email} / password {admin.password}")
            typer.echo(f"Admin API token (shown once): {admin.token}")
            typer.echo(
                f"  try: curl -H 'Authorization: Bearer {admin.token}' {base_url}/api/v1/signals"
            )
        if demo:
            await _print_demo(c, base_url)

    app_ = create_app(c, on_startup=startup, on_shutdown=platform.stop)
    uvicorn.run(app_, host=bind_host, port=bind_port, log_level="warning", access_log=False)


async def _print_demo(c: Container, base_url: str) -> None:
    from signalbridge.services.demo import curl_example, seed_demo

    info = await seed_demo(c)
    typer.echo(
        f"Demo: channel {info.channel_id} -> paper connection {info.connection_id}; "
        f"sample signals {list(info.signal_ids)} queued."
    )
    typer.echo(f"  see them become positions: GET {base_url}/api/v1/positions (admin token)")
    typer.echo("  send your own signed signal:")
    typer.echo("  " + curl_example(base_url, info.channel_id, info.webhook_secret, info.price))


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
    from signalbridge.store import models as m

    async def run() -> None:
        c = _container()
        await _migrate(c)
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
    from signalbridge.parsing.jsonl import run

    raise typer.Exit(run(sys.stdin, sys.stdout, template))


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
) -> None:
    """Create an API token for a user; it is printed once and stored only as a hash."""
    from sqlalchemy import select

    from signalbridge.services import audit
    from signalbridge.services.auth import create_token
    from signalbridge.store import models as m

    async def run() -> str:
        c = _container()
        try:
            await _migrate(c)
            async with c.sessions() as s, s.begin():
                user = await s.scalar(select(m.User).where(m.User.email == email.strip().lower()))
                if user is None:
                    raise ValueError(f"no user with email {email}")
                row, plain = await create_token(s, user, name, scope or ["signals:read"])
                await audit.record(
                    s,
                    actor="cli",
                    actor_id=None,
                    action="create",
                    entity="token",
                    entity_id=row.id,
                    changes={"user": user.email, "name": name, "scopes": row.scopes},
                )
                return plain
        finally:
            await c.engine.dispose()

    try:
        token = asyncio.run(run())
    except ValueError as exc:
        _fail(str(exc))
        return
    typer.echo(token)


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
