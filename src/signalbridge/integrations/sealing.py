"""Sealing a row's secrets with the vault, bound to that row.

The associated data names the table, the row id and the column, so a ciphertext pasted
into another row (or another table) does not decrypt. It lives beside the vault, in the
kernel, so adapters' owners (the pool, services, web) all unseal the same way without one
layer importing another.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from signalbridge.integrations.vault import Vault, VaultError

#: Tables whose ``secrets_enc`` column holds vault tokens (``keys rotate`` walks these).
SEALED_TABLES = ("channel_sources", "execution_connections", "ai_configs", "payment_gateways")


def aad_for(table: str, row_id: int) -> bytes:
    return f"{table}:{row_id}:secrets_enc".encode()


def seal(vault: Vault, table: str, row_id: int, secrets: Mapping[str, str]) -> str | None:
    if not secrets:
        return None
    return vault.encrypt(json.dumps(dict(secrets), sort_keys=True), aad_for(table, row_id))


def unseal(vault: Vault, table: str, row_id: int, token: str | None) -> dict[str, str]:
    if not token:
        return {}
    data = json.loads(vault.decrypt(token, aad_for(table, row_id)))
    if not isinstance(data, dict):
        raise VaultError("sealed secrets are not a mapping")
    return {str(k): str(v) for k, v in data.items()}
