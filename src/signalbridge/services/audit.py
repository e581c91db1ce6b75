"""The audit log: who changed what, when; secrets masked before anything is written."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.integrations.redaction import mask
from signalbridge.services.auth import Principal
from signalbridge.store.models import AuditEntry

SECRET_WORDS = ("secret", "password", "token", "key", "passphrase", "signature")


def masked(values: Mapping[str, Any], secret_fields: Iterable[str] = ()) -> dict[str, Any]:
    """Copy of ``values`` with secret fields (named, or named like a secret) masked.

    Nested mappings are masked the same way; a secret's ``[old, new]`` pair becomes
    ``["****", "****"]``; values JSON cannot hold (decimals, datetimes) become text.
    """
    secret_set = set(secret_fields)
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in secret_set or any(w in key.lower() for w in SECRET_WORDS):
            if isinstance(value, list):
                out[key] = ["****" if v is not None else None for v in value]
            else:
                out[key] = mask(str(value)) if value is not None else None
        elif isinstance(value, Mapping):
            out[key] = masked(value, secret_set)
        elif isinstance(value, str | int | bool | list | None):
            out[key] = value
        else:
            out[key] = str(value)
    return out


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """Fields that changed, as ``{field: [old, new]}``."""
    keys = set(before) | set(after)
    return {k: [before.get(k), after.get(k)] for k in sorted(keys) if before.get(k) != after.get(k)}


async def record(
    session: AsyncSession,
    *,
    actor: str,
    actor_id: int | None,
    action: str,
    entity: str,
    entity_id: int | str,
    changes: Mapping[str, Any],
    secret_fields: Iterable[str] = (),
) -> None:
    """Write one audit row in the caller's transaction, so it commits with the change."""
    session.add(
        AuditEntry(
            actor=actor,
            actor_id=actor_id,
            action=action,
            entity=entity,
            entity_id=str(entity_id),
            changes=masked(changes, secret_fields),
        )
    )


async def record_by(
    session: AsyncSession,
    who: Principal,
    action: str,
    entity: str,
    entity_id: int | str,
    changes: Mapping[str, Any],
    secret_fields: Iterable[str] = (),
) -> None:
    """:func:`record` for a change made by an authenticated API caller."""
    await record(
        session,
        actor=who.label,
        actor_id=who.user_id,
        action=action,
        entity=entity,
        entity_id=entity_id,
        changes=changes,
        secret_fields=secret_fields,
    )
