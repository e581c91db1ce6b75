"""Our client order ids ↔ MetaApi ``clientId`` values.

MetaApi keeps ``clientId`` in the MT order comment, so ``comment`` + ``clientId`` may hold at
most 26 characters, alphanumeric, in the form ``<strategy>_<position>_<order>``. Our ids look
like ``sb-42-e0``; when each part is alphanumeric and the whole fits, the dashes become
underscores (``sb_42_e0``) and the mapping reverses exactly. Anything else (underscores
inside a part, too long) becomes a stable hash ``H_<21 base32 chars>_x``: still
deterministic, so a lookup by our id always finds the order, but it cannot be reversed from
the venue side alone.
"""

from __future__ import annotations

import base64
import hashlib
import re

MAX_CLIENT_ID_LEN = 26
HASH_MARKER = "H"
#: fullmatch, not ``^...$``: ``$`` also matches before a trailing newline.
_ALNUM = re.compile(r"[A-Za-z0-9]+")


def to_venue_client_id(client_order_id: str) -> str:
    """The ``clientId`` we send for ``client_order_id`` (same input, same output)."""
    if not client_order_id:
        raise ValueError("client order id must not be empty")
    parts = client_order_id.split("-")
    if (
        len(parts) == 3
        and parts[0] != HASH_MARKER
        and all(_ALNUM.fullmatch(p) for p in parts)
        and len(client_order_id) <= MAX_CLIENT_ID_LEN
    ):
        return "_".join(parts)
    digest = hashlib.blake2b(client_order_id.encode(), digest_size=15).digest()
    text = base64.b32encode(digest).decode().rstrip("=").lower()
    return f"{HASH_MARKER}_{text[:21]}_x"


def from_venue_client_id(client_id: str | None) -> str | None:
    """Our id for a venue ``clientId`` when it is the reversible form, else ``None``."""
    if not client_id:
        return None
    parts = client_id.split("_")
    if len(parts) != 3 or parts[0] == HASH_MARKER or not all(_ALNUM.fullmatch(p) for p in parts):
        return None
    return "-".join(parts)
