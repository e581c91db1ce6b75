"""Alembic environment: runs on the connection handed over by :func:`store.migrate.upgrade`."""

from __future__ import annotations

from alembic import context

from signalbridge.store.schema import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `signalbridge migrate`")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
