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
    """Run ``work`` in one session on the upgraded schema, then close the engine.

    A writing command's work is one transaction. A ``ValueError`` it raises is the
    command's failure: its message is printed and the exit status is 2.
    """

    async def run() -> T:
        c = build(settings)
        try:
            await migrate_schema(c)
            async with c.sessions() as s:
                if not write:
                    return await work(s)
                async with s.begin():
                    return await work(s)
        finally:
            await c.engine.dispose()

    try:
        return asyncio.run(run())
    except ValueError as exc:
        fail(str(exc))
