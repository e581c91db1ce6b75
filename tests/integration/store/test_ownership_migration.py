"""The trust migration gives every trading account an owner: accounts made before owners
existed (the CLI, the demo) go to the first admin, on a database full of rows that point
at them; and it goes back down again."""

from __future__ import annotations

from typing import Any

from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from signalbridge.store.db import make_engine
from signalbridge.store.migrate import alembic_config, upgrade

BEFORE = "7f3a9c2d1e44"  # the revision before owners were required

SEED = [
    # a member first: the first admin is the lowest-id *admin*, not the lowest-id user
    "INSERT INTO users (id, email, password_hash, role, is_active, created_at, updated_at) "
    "VALUES (1, 'member@x.y', '-', 'member', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    "INSERT INTO users (id, email, password_hash, role, is_active, created_at, updated_at) "
    "VALUES (2, 'first@x.y', '-', 'admin', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    "INSERT INTO users (id, email, password_hash, role, is_active, created_at, updated_at) "
    "VALUES (3, 'second@x.y', '-', 'admin', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    "INSERT INTO channel_sources (id, owner_id, name, type, config, is_active, "
    "min_confidence, created_at, updated_at) VALUES (1, NULL, 'demo', 'webhook', '{}', true, "
    "'0.9', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    "INSERT INTO execution_connections (id, owner_id, name, type, config, is_active, "
    "created_at, updated_at) VALUES (1, NULL, 'cli', 'paper', '{}', true, "
    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    "INSERT INTO execution_connections (id, owner_id, name, type, config, is_active, "
    "created_at, updated_at) VALUES (2, 1, 'mine', 'paper', '{}', true, "
    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    # rows pointing at the connections, so a table rebuild must keep the references whole
    "INSERT INTO follows (id, connection_id, channel_id, is_active, sizing, risk, management, "
    "created_at, updated_at) VALUES (1, 1, 1, true, '{}', '{}', '{}', CURRENT_TIMESTAMP, "
    "CURRENT_TIMESTAMP)",
    "INSERT INTO follows (id, connection_id, channel_id, is_active, sizing, risk, management, "
    "created_at, updated_at) VALUES (2, 2, 1, true, '{}', '{}', '{}', CURRENT_TIMESTAMP, "
    "CURRENT_TIMESTAMP)",
]


async def _downgrade(engine: AsyncEngine, revision: str) -> None:
    def run(connection: Any) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


async def _rows(engine: AsyncEngine, sql: str) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(text(sql))).all()]


async def test_orphan_accounts_go_to_the_first_admin_and_references_survive(
    empty_database_url: str,
) -> None:
    engine = make_engine(empty_database_url)
    try:
        await upgrade(engine, BEFORE)
        async with engine.begin() as conn:
            for statement in SEED:
                await conn.execute(text(statement))
        await upgrade(engine)

        owners = await _rows(engine, "SELECT id, owner_id FROM execution_connections ORDER BY id")
        assert owners == [(1, 2), (2, 1)]  # the orphan to the first admin; the owned one kept
        channels = await _rows(engine, "SELECT owner_id, visibility FROM channel_sources")
        assert channels == [(2, "private")]
        follows = await _rows(engine, "SELECT id, connection_id FROM follows ORDER BY id")
        assert follows == [(1, 1), (2, 2)]
        if engine.dialect.name == "sqlite":
            assert await _rows(engine, "PRAGMA foreign_key_check") == []

        async with engine.connect() as conn:
            refused = False
            try:
                async with conn.begin():
                    await conn.execute(
                        text(
                            "INSERT INTO execution_connections (name, type, config, is_active, "
                            "created_at, updated_at) VALUES ('x', 'paper', '{}', true, "
                            "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                        )
                    )
            except Exception as exc:  # IntegrityError, wrapped differently per driver
                refused = "null" in str(exc).lower()
            assert refused, "an account without an owner must be refused"

        await _downgrade(engine, BEFORE)
        follows = await _rows(engine, "SELECT id, connection_id FROM follows ORDER BY id")
        assert follows == [(1, 1), (2, 2)]
        await upgrade(engine)
        assert await _rows(engine, "SELECT count(*) FROM execution_connections") == [(2,)]
    finally:
        await engine.dispose()
