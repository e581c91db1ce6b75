"""What every command needs: the settings, a built container, a failure exit, the schema.

Each helper imports the platform only when a command runs, so ``signalbridge --help``
starts fast.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, NoReturn, TypeVar

import typer

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from signalbridge.bootstrap import Container
    from signalbridge.settings import Settings

T = TypeVar("T")


def load_settings() -> Settings:
    from signalbridge.settings import Settings

    return Settings()


def build(settings: Settings | None = None) -> Container:
    """The container for these settings (read from the environment if none), logging set up."""
    from signalbridge.bootstrap import build_container
    from signalbridge.integrations.logging import configure_logging

    s = settings or load_settings()
    configure_logging(s.log_level, json=s.log_json)
    return build_container(s)


def fail(message: str) -> NoReturn:
    """Print ``message`` as an error and exit with status 2."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


async def migrate_schema(container: Container) -> None:
    from signalbridge.store.migrate import upgrade

    await upgrade(container.engine)


def on_database(
    work: Callable[[AsyncSession], Awaitable[T]],
    settings: Settings | None = None,
    *,
    write: bool = True,
) -> T:
    """Run ``work`` in one session on the upgraded schema, then close the engine (the
    database only: what needs the platform builds it with :func:`build`).

    A writing command's work is one transaction. A ``ValueError`` it raises is the
    command's failure: its message is printed and the exit status is 2.
    """

    async def run() -> T:
        # The database alone, not the platform: no adapters, kernel or queue are built or
        # imported, so an administrative command starts in about a second.
        from signalbridge.integrations.logging import configure_logging
        from signalbridge.services import entitlement
        from signalbridge.store.db import make_engine, make_sessionmaker
        from signalbridge.store.migrate import upgrade

        s = settings or load_settings()
        configure_logging(s.log_level, json=s.log_json)
        s.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # as bootstrap does
        engine = make_engine(s.resolved_database_url)
        try:
            await upgrade(engine)
            sessions = make_sessionmaker(engine)
            entitlement.configure(sessions, grace_days=s.payments_grace_days)
            async with sessions() as session:
                if not write:
                    return await work(session)
                async with session.begin():
                    return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except ValueError as exc:
        fail(str(exc))
