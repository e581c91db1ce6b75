from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signalbridge.integrations.vault import (
    Vault,
    VaultError,
    generate_key,
    load_or_create_key_file,
    write_key_file,
)

AAD_A = b"execution_connections:42:api_secret"
AAD_B = b"execution_connections:43:api_secret"


def test_round_trip_and_token_format() -> None:
    vault = Vault([generate_key()])
    token = vault.encrypt("s3cr3t-api-key", AAD_A)
    version, key_id, _nonce, _ct = token.split(".")
    assert version == "v1"
    assert key_id == vault.primary_key_id and len(key_id) == 8
    assert "s3cr3t" not in token
    assert vault.decrypt(token, AAD_A) == "s3cr3t-api-key"


def test_same_plaintext_encrypts_differently() -> None:
    vault = Vault([generate_key()])
    assert vault.encrypt("x", AAD_A) != vault.encrypt("x", AAD_A)


def test_token_copied_to_another_row_fails_without_plaintext() -> None:
    vault = Vault([generate_key()])
    token = vault.encrypt("user-a-secret-value", AAD_A)
    with pytest.raises(VaultError) as info:
        vault.decrypt(token, AAD_B)
    assert "user-a-secret-value" not in str(info.value)
    assert "user-a-secret-value" not in repr(info.value)


@given(position=st.integers(min_value=0, max_value=10_000), flip=st.integers(1, 255))
def test_any_tampered_byte_is_detected(position: int, flip: int) -> None:
    vault = _FIXED_VAULT
    token = vault.encrypt("tamper-me-please", AAD_A)
    head, sealed = token.rsplit(".", 1)
    raw = bytearray(sealed.encode())
    i = position % len(raw)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    original = chr(raw[i])
    replacement = alphabet[(alphabet.index(original) + flip) % len(alphabet)]
    if replacement == original:
        return
    raw[i] = ord(replacement)
    tampered = head + "." + raw.decode()
    try:
        result = vault.decrypt(tampered, AAD_A)
    except VaultError:
        return
    # The last base64 character may carry padding bits only: then the bytes are unchanged.
    assert result == "tamper-me-please"
    assert i == len(raw) - 1


_FIXED_VAULT = Vault([generate_key()])


@pytest.mark.parametrize(
    "token",
    ["", "v1", "v2.abcd.efgh.ijkl", "v1.deadbeef.!!!.???", "v1.deadbeef.AAAA.AAAA", "a.b.c.d.e"],
)
def test_malformed_tokens_raise_vault_error(token: str) -> None:
    with pytest.raises(VaultError):
        Vault([generate_key()]).decrypt(token, AAD_A)


def test_rotation_add_rotate_drop() -> None:
    old_key = generate_key()
    vault = Vault([old_key])
    rows = {
        f"row:{i}:secret".encode(): vault.encrypt(f"secret-{i}", f"row:{i}:secret".encode())
        for i in range(5)
    }
    old_id = vault.primary_key_id
    vault.add_key()
    assert vault.primary_key_id != old_id
    assert all(vault.needs_rotation(t) for t in rows.values())
    rotated = {aad: vault.rotate(t, aad) for aad, t in rows.items()}
    assert not any(vault.needs_rotation(t) for t in rotated.values())
    assert vault.rotate(next(iter(rotated.values())), next(iter(rotated))) == next(
        iter(rotated.values())
    )
    vault.remove_key(old_id)
    assert vault.key_ids == [vault.primary_key_id]
    for i, (aad, token) in enumerate(rotated.items()):
        assert vault.decrypt(token, aad) == f"secret-{i}"
    with pytest.raises(VaultError, match="no vault key"):
        vault.decrypt(rows[b"row:0:secret"], b"row:0:secret")


def test_cannot_remove_last_key_and_bad_keys_refused() -> None:
    vault = Vault([generate_key()])
    with pytest.raises(VaultError):
        vault.remove_key(vault.primary_key_id)
    with pytest.raises(VaultError):
        Vault(["not base64 at all!"])
    with pytest.raises(VaultError):
        Vault(["c2hvcnQ="])
    with pytest.raises(VaultError):
        Vault([])


def test_repr_shows_no_key_material() -> None:
    key = generate_key()
    vault = Vault([key])
    assert key not in repr(vault)
    assert key not in repr(vars(vault))  # nor in its state, as a traceback's locals show it


def test_from_settings_prefers_env_keys(tmp_path: Path) -> None:
    k1, k2 = generate_key(), generate_key()
    vault = Vault.from_settings(f"{k1}, {k2}", tmp_path / "unused.keys")
    assert len(vault.key_ids) == 2
    assert not (tmp_path / "unused.keys").exists()
    token = Vault([k2]).encrypt("from-old-key", AAD_A)
    assert vault.decrypt(token, AAD_A) == "from-old-key"


def test_key_file_created_0600_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "data" / "secret.keys"
    vault = Vault.from_settings("", path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = vault.encrypt("persisted", AAD_A)
    again = Vault.from_settings("", path)
    assert again.decrypt(token, AAD_A) == "persisted"


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret.keys"
    load_or_create_key_file(path)
    os.chmod(path, 0o644)
    with pytest.raises(VaultError, match="chmod 600"):
        Vault.from_settings("", path)


def test_write_key_file_after_rotation(tmp_path: Path) -> None:
    path = tmp_path / "secret.keys"
    vault = Vault.from_settings("", path)
    token = vault.encrypt("v", AAD_A)
    vault.add_key()
    write_key_file(path, vault.export_keys())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    reloaded = Vault.from_settings("", path)
    assert reloaded.key_ids == vault.key_ids
    assert reloaded.decrypt(token, AAD_A) == "v"
