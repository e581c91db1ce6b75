"""Legacy IPN verification: the raw form body, its ``HMAC`` header, the mode and merchant.

CoinPayments posts ``application/x-www-form-urlencoded`` to the IPN URL with the header
``HMAC: hex(HMAC-SHA512(IPN secret, raw body))``. A delivery is accepted only when the
header matches (constant-time), ``ipn_mode`` is ``hmac`` (the only mode there is) and
``merchant`` is our merchant id; the amount and currency are the flow's check
(:func:`~.convert.check_expected`). The body is read strictly: UTF-8, ``k=v`` pairs, no key
twice (two ``status`` fields must not let one reader see ``100`` and another ``0``).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl

from signalbridge.integrations.errors import CallbackRejected
from signalbridge.payments.base import header
from signalbridge.payments.signing import hmac_hex, matches_any

MAX_BODY_BYTES = 64 * 1024
"""A real IPN is well under 2 KB."""
MAX_FIELDS = 100
_HEX = frozenset("0123456789abcdefABCDEF")


def verify(
    raw_body: bytes, headers: Mapping[str, str], *, ipn_secret: str, merchant_id: str
) -> dict[str, str]:
    """The IPN's fields once it is authentic and ours; else :class:`CallbackRejected`.

    The signature is checked over the bytes as received, before any field is trusted.
    """
    given = header(headers, "HMAC")
    if not given:
        raise CallbackRejected("the HMAC header is missing", reason="signature")
    given = given.strip()
    if len(given) != 128 or not set(given) <= _HEX:
        raise CallbackRejected("the HMAC header is not a SHA-512 hex digest", reason="malformed")
    if len(raw_body) > MAX_BODY_BYTES:
        raise CallbackRejected("the IPN body is too large", reason="malformed")
    if not matches_any(hmac_hex(ipn_secret, raw_body, "sha512"), [given]):
        raise CallbackRejected("the HMAC signature does not match", reason="signature")
    fields = parse_form(raw_body)
    if fields.get("ipn_mode") != "hmac":
        raise CallbackRejected("ipn_mode is not hmac", reason="signature")
    if not matches_any(merchant_id.lower(), [fields.get("merchant", "")]):
        raise CallbackRejected("the IPN is for another merchant", reason="signature")
    return fields


def parse_form(raw_body: bytes) -> dict[str, str]:
    """A form body as ``{name: value}``; a malformed body or a repeated name is refused."""
    try:
        text = raw_body.decode("utf-8")
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise CallbackRejected("the IPN body is not a form", reason="malformed") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            raise CallbackRejected(f"the IPN repeats the field {name[:40]!r}", reason="malformed")
        fields[name] = value
    return fields
