"""The commands that run the platform: ``migrate``, ``serve``, ``worker``, ``scheduler``,
``demo`` and ``parse``.

Each imports what it needs when it runs, so ``signalbridge --help`` starts fast.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from signalbridge.commands.common import build, fail, load_settings, migrate_schema, on_database

if TYPE_CHECKING:
    from signalbridge.bootstrap import Container
    from signalbridge.services.users import FirstAdmin


def migrate() -> None:
    """Create or upgrade the database schema to the latest version (and the key file,
    when the keys come from none yet)."""
    from signalbridge.integrations.vault import Vault

    async def nothing(_: Any) -> None:
        return None

    settings = load_settings()
    on_database(nothing, settings, write=False)  # upgrades the schema, then runs nothing
    Vault.from_settings(settings.secret_keys.get_secret_value(), settings.resolved_key_file)
    typer.echo("database is up to date")


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

    settings = load_settings()
    c = build(settings)
    try:
        platform = Platform(c, worker=worker, scheduler=scheduler)
    except ValueError as exc:
        fail(str(exc))
        return
    bind_host = host or settings.host
    bind_port = port or settings.port
    base_url = f"http://{bind_host}:{bind_port}"

    created: list[FirstAdmin] = []

    async def startup() -> None:
        await migrate_schema(c)
        admin = await ensure_admin(
            c.sessions,
            settings.admin_email,
            settings.admin_password.get_secret_value() if settings.admin_password else None,
            token_days=settings.token_days,
            secrets_file=settings.data_dir / FIRST_ADMIN_FILE,
        )
        created.extend([admin] if admin is not None else [])
        await platform.start()

    async def listening() -> None:
        # Printed once the socket accepts connections, so "running" is true when read.
        typer.echo(f"SignalBridge is running at {base_url}  (API docs: {base_url}/docs)")
        # The session cookie is Secure: browsers keep it on plain http only for localhost.
        local = bind_host in ("127.0.0.1", "::1", "localhost")
        console = f"http://localhost:{bind_port}" if local else base_url
        typer.echo(f"Console and member portal: {console}/login")
        for admin in created:
            for line in first_admin_banner(admin, base_url, tty=sys.stdout.isatty()):
                typer.echo(line)
        if demo:
            await _print_demo(c, base_url)

    class _Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started:
                await listening()

    app_ = create_app(c, on_startup=startup, on_shutdown=platform.stop)
    # proxy_headers=False: uvicorn would otherwise let a peer on 127.0.0.1 name any client
    # address in X-Forwarded-For; only SIGNALBRIDGE_TRUSTED_PROXIES decides whose header
    # is believed (channels/source_allowlist.py).
    config = uvicorn.Config(
        app_,
        host=bind_host,
        port=bind_port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
    )
    _Server(config).run()


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

    info = await seed_demo(c.sessions, c.vault, c.adapter_pool, c.queue)
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


def worker() -> None:
    """Run queue tasks from the shared broker (SIGNALBRIDGE_BROKER_URL=redis://...)."""
    from signalbridge.jobs.runtime import Platform

    c = build()
    if c.queue.in_process:
        fail("a separate worker needs a shared broker: set SIGNALBRIDGE_BROKER_URL=redis://...")
    _run_forever(Platform(c, worker=True, scheduler=False))


def scheduler() -> None:
    """Run the sweeper, order sync and paper price feed (one per deployment)."""
    from signalbridge.jobs.runtime import Platform

    c = build()
    if c.queue.in_process:
        fail("a separate scheduler needs a shared broker: set SIGNALBRIDGE_BROKER_URL=redis://...")
    _run_forever(Platform(c, worker=False, scheduler=True))


def _run_forever(platform: Any) -> None:
    async def run() -> None:
        await migrate_schema(platform.container)
        await platform.start()
        try:
            await asyncio.Event().wait()
        finally:
            await platform.stop()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


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
        settings = load_settings()
        c = build(settings)
        await migrate_schema(c)
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
            info = await seed_demo(c.sessions, c.vault, c.adapter_pool, c.queue)
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
