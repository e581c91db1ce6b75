"""Key rotation: re-encrypt every sealed secret under a new key, then drop the old ones."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.integrations.sealing import SEALED_TABLES, aad_for
from signalbridge.integrations.vault import Vault


@dataclass(frozen=True)
class RotationReport:
    new_key_id: str
    rows_rotated: int
    removed_key_ids: tuple[str, ...]


async def rotate_all(
    sessions: async_sessionmaker[AsyncSession], vault: Vault, *, drop_old: bool
) -> RotationReport:
    """Add a key, rotate every row in one transaction, then (optionally) forget old keys.

    The caller persists ``vault.export_keys()`` afterwards; until then the old keys still
    decrypt everything, so a crash in between loses nothing.
    """
    old_ids = vault.key_ids
    vault.add_key()
    rotated = 0
    async with sessions() as session, session.begin():
        for table in SEALED_TABLES:
            rows = (
                await session.execute(
                    text(f"SELECT id, secrets_enc FROM {table} WHERE secrets_enc IS NOT NULL")  # noqa: S608 - fixed table names
                )
            ).all()
            for row_id, token in rows:
                new = vault.rotate(token, aad_for(table, row_id))
                if new != token:
                    await session.execute(
                        text(f"UPDATE {table} SET secrets_enc = :t WHERE id = :i"),  # noqa: S608
                        {"t": new, "i": row_id},
                    )
                    rotated += 1
    removed: tuple[str, ...] = ()
    if drop_old:
        for key_id in old_ids:
            vault.remove_key(key_id)
        removed = tuple(old_ids)
    return RotationReport(vault.primary_key_id, rotated, removed)
