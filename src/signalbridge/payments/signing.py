"""Checks every HMAC-signed callback needs: signature header items, digests, freshness.

Stripe signs ``"{t}.{body}"`` with HMAC-SHA256 and sends ``t=…,v1=…[,v1=…]``; CoinPayments
signs the raw IPN body with HMAC-SHA512 in an ``HMAC`` header. A gateway module composes
these; each failure is a :class:`~signalbridge.integrations.errors.CallbackRejected` whose
message names what was wrong and never the secret or the expected value.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Literal

from signalbridge.integrations.errors import CallbackRejected

__all__ = ["check_fresh", "hmac_hex", "matches_any", "parse_items", "timestamp_of"]

MAX_HEADER_LENGTH = 4096
"""Longest signature header read at all."""


def hmac_hex(
    secret: str | bytes, message: bytes, digest: Literal["sha256", "sha512"] = "sha256"
) -> str:
    """Lower-case hex HMAC of ``message``; a text secret is used as its UTF-8 bytes."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(key, message, getattr(hashlib, digest)).hexdigest()


def matches_any(expected: str, candidates: Iterable[str]) -> bool:
    """Whether any candidate equals ``expected``, compared in constant time, all of them.

    Several candidates arrive during a secret rotation (Stripe sends one ``v1`` per secret);
    every one is compared so the time taken does not tell which matched.
    """
    wanted = expected.encode("ascii")
    found = False
    for candidate in candidates:
        given = candidate.strip().lower().encode("ascii", "replace")
        found = hmac.compare_digest(given, wanted) or found
    return found


def parse_items(header: str | None, name: str) -> dict[str, tuple[str, ...]]:
    """A ``k=v,k=v`` signature header as ``{key: (values, in order)}``.

    Raises ``CallbackRejected(reason="signature")`` when the header is missing and
    ``"malformed"`` when it is too long or an item has no ``=``.
    """
    if not header:
        raise CallbackRejected(f"the {name} header is missing", reason="signature")
    if len(header) > MAX_HEADER_LENGTH:
        raise CallbackRejected(f"the {name} header is too long", reason="malformed")
    items: dict[str, list[str]] = {}
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep or not key:
            raise CallbackRejected(f"the {name} header is not k=v items", reason="malformed")
        items.setdefault(key, []).append(value)
    return {key: tuple(values) for key, values in items.items()}


def timestamp_of(text: str, name: str) -> datetime:
    """A Unix-seconds timestamp from a signature header as a UTC datetime."""
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise CallbackRejected(f"the {name} timestamp is not Unix seconds", reason="malformed")
    return datetime.fromtimestamp(int(text), UTC)


def check_fresh(signed_at: datetime, now: datetime, tolerance: timedelta) -> None:
    """Refuse a delivery signed more than ``tolerance`` before (or after) ``now``.

    Both directions count: a timestamp far in the future would otherwise stay fresh for as
    long as its signer liked, and a replay later would pass.
    """
    if now.utcoffset() is None or signed_at.utcoffset() is None:
        raise ValueError("check_fresh needs timezone-aware datetimes")
    skew = now - signed_at
    if abs(skew) > tolerance:
        where = "old" if skew > timedelta(0) else "in the future"
        raise CallbackRejected(
            f"the delivery's timestamp is {int(abs(skew).total_seconds())} s {where}; "
            f"at most {int(tolerance.total_seconds())} s are accepted",
            reason="stale",
        )
