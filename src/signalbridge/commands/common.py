"""What every command needs: the settings, a built container, a failure exit, the schema.

Each helper imports the platform only when a command runs, so ``signalbridge --help``
starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from signalbridge.bootstrap import Container
    from signalbridge.settings import Settings


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


def fail(message: str) -> None:
    """Print ``message`` as an error and exit with status 2."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


async def migrate_schema(container: Container) -> None:
    from signalbridge.store.migrate import upgrade

    await upgrade(container.engine)
