"""The migrations build exactly the schema the models describe, on both databases, and a
database at the previous revision upgrades in place."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from signalbridge.store.db import make_engine
from signalbridge.store.migrate import upgrade
from signalbridge.store.models import Base


def _differences(connection: Any) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": False})
    return list(compare_metadata(context, Base.metadata))


async def test_migrations_match_the_models(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    try:
        await upgrade(engine, "2cb4e3903c9d")  # the first release's schema
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO users (email, password_hash, role, is_active, created_at, "
                     "updated_at) VALUES ('a@b.c', 'x', 'admin', true, "
                     "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")
            )  # fmt: skip
        await upgrade(engine)  # in place, with data
        async with engine.begin() as conn:
            assert await conn.run_sync(_differences) == []
            count = await conn.scalar(text("SELECT count(*) FROM users"))
        assert count == 1
    finally:
        await engine.dispose()
