"""Credential vault: AES-GCM with a key ring, each ciphertext bound to its database row.

Token: ``v1.<key_id>.<nonce>.<ciphertext>`` (URL-safe base64 without padding). ``key_id`` is
the first 8 hex digits of SHA-256 of the key, so decryption picks the right key after a
rotation. The caller passes associated data naming the row and column (for example
``b"execution_connections:42:api_secret"``): a token pasted into another row fails to
decrypt instead of silently handing user B user A's key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger(__name__)

TOKEN_VERSION = "v1"  # noqa: S105 - a format tag, not a secret
KEY_BYTES = 32
NONCE_BYTES = 12


class VaultError(Exception):
    """A token cannot be decrypted or a key is unusable. Never carries plaintext or keys."""


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii"))


def generate_key() -> str:
    """A new random 32-byte key as URL-safe base64 text (what the env var and key file hold)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


@dataclass(frozen=True)
class _Key:
    key_id: str
    aead: AESGCM
    text: str

    def __repr__(self) -> str:  # never show key material
        return f"_Key(key_id={self.key_id!r})"


def _parse_key(text: str) -> _Key:
    raw_text = text.strip()
    try:
        raw = base64.b64decode(raw_text + "=" * (-len(raw_text) % 4), altchars=b"-_")
    except (binascii.Error, ValueError):
        raise VaultError("a vault key is not valid base64") from None
    if len(raw) != KEY_BYTES:
        raise VaultError(f"a vault key must be {KEY_BYTES} bytes, got {len(raw)}")
    return _Key(key_id=hashlib.sha256(raw).hexdigest()[:8], aead=AESGCM(raw), text=raw_text)


class Vault:
    """Encrypts and decrypts short secrets. The first key encrypts; every key decrypts."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise VaultError("the vault needs at least one key")
        self._keys: list[_Key] = []
        for text in keys:
            self._append(_parse_key(text))

    def _append(self, key: _Key) -> None:
        if any(k.key_id == key.key_id for k in self._keys):
            return
        self._keys.append(key)

    def __repr__(self) -> str:
        return f"Vault(key_ids={self.key_ids!r})"

    @property
    def key_ids(self) -> list[str]:
        """Key ids, newest (the one that encrypts) first."""
        return [k.key_id for k in self._keys]

    def export_keys(self) -> list[str]:
        """Key texts, newest first: what :func:`write_key_file` stores after a rotation."""
        return [k.text for k in self._keys]

    @property
    def primary_key_id(self) -> str:
        return self._keys[0].key_id

    @classmethod
    def from_settings(cls, secret_keys: str, key_file: Path) -> Vault:
        """Keys from ``secret_keys`` (comma-separated, newest first) or else the key file.

        The key file is created with one new key and mode 0600 when missing; a key file that
        group or others may read is refused.
        """
        env_keys = [k.strip() for k in secret_keys.split(",") if k.strip()]
        if env_keys:
            return cls(env_keys)
        return cls(load_or_create_key_file(key_file))

    def add_key(self, key: str | None = None) -> str:
        """Make ``key`` (or a new random one) the newest key; returns the key text."""
        text = key or generate_key()
        new = _parse_key(text)
        self._keys = [new, *[k for k in self._keys if k.key_id != new.key_id]]
        return text

    def remove_key(self, key_id: str) -> None:
        """Drop a key after every token was rotated off it."""
        remaining = [k for k in self._keys if k.key_id != key_id]
        if not remaining:
            raise VaultError("cannot remove the last vault key")
        self._keys = remaining

    def encrypt(self, plaintext: str, aad: bytes) -> str:
        key = self._keys[0]
        nonce = os.urandom(NONCE_BYTES)
        sealed = key.aead.encrypt(nonce, plaintext.encode("utf-8"), aad)
        return ".".join((TOKEN_VERSION, key.key_id, _b64e(nonce), _b64e(sealed)))

    def decrypt(self, token: str, aad: bytes) -> str:
        key_id, nonce, sealed = self._split(token)
        key = next((k for k in self._keys if k.key_id == key_id), None)
        if key is None:
            raise VaultError(f"no vault key with id {key_id!r} (was it removed before rotation?)")
        try:
            plain = key.aead.decrypt(nonce, sealed, aad)
        except InvalidTag:
            raise VaultError(
                "token does not decrypt: tampered, or bound to another row (associated data)"
            ) from None
        return plain.decode("utf-8")

    def needs_rotation(self, token: str) -> bool:
        """True when the token was not encrypted with the newest key."""
        key_id, _, _ = self._split(token)
        return key_id != self._keys[0].key_id

    def rotate(self, token: str, aad: bytes) -> str:
        """Re-encrypt under the newest key (same aad); unchanged if already current."""
        if not self.needs_rotation(token):
            return token
        return self.encrypt(self.decrypt(token, aad), aad)

    @staticmethod
    def _split(token: str) -> tuple[str, bytes, bytes]:
        parts = token.split(".") if isinstance(token, str) else []
        if len(parts) != 4 or parts[0] != TOKEN_VERSION:
            raise VaultError("not a vault token (expected v1.<key_id>.<nonce>.<ciphertext>)")
        _, key_id, nonce_text, sealed_text = parts
        try:
            nonce, sealed = _b64d(nonce_text), _b64d(sealed_text)
        except (binascii.Error, ValueError):
            raise VaultError("vault token is not valid base64") from None
        if len(nonce) != NONCE_BYTES or len(sealed) < 16:
            raise VaultError("vault token is truncated")
        return key_id, nonce, sealed


def load_or_create_key_file(path: Path) -> list[str]:
    """Read keys (one per line, newest first) from ``path``, creating it (0600) if missing."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = generate_key()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first: use theirs
            return _read_key_file(path)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(key + "\n")
        log.info("created vault key file %s", path)
        return [key]
    return _read_key_file(path)


def _read_key_file(path: Path) -> list[str]:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise VaultError(
            f"key file {path} is readable by group or others (mode {mode:o}); run chmod 600"
        )
    keys = [
        line.strip()
        for line in path.read_text(encoding="ascii").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    if not keys:
        raise VaultError(f"key file {path} holds no key")
    return keys


def write_key_file(path: Path, keys: list[str]) -> None:
    """Replace the key file atomically (0600), e.g. after ``keys rotate`` added a key."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a leftover .tmp keeps its old mode through O_CREAT
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write("\n".join(keys) + "\n")
    os.replace(tmp, path)
