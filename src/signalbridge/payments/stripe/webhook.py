"""Stripe-Signature checks over the raw body, then the event parsed.

Stripe signs ``f"{t}.{raw body}"`` with HMAC-SHA256 keyed by the endpoint's ``whsec_…``
secret (its UTF-8 bytes, no decoding) and sends ``Stripe-Signature: t=…,v1=…[,v1=…]``;
while a secret is rolled, one ``v1`` per live secret. A delivery is accepted when some
``v1`` matches some configured secret: every pair is compared in constant time
(:func:`~signalbridge.payments.signing.matches_any`), so timing does not tell which. ``v0``
(legacy test signatures) and unknown schemes are ignored, as the library does.

Freshness is two-sided here (the library only refuses old timestamps): a timestamp more
than the tolerance *ahead* of now is refused too, or a delivery signed for the future
would stay replayable that long. The event id is inside the signed body, so a replay of
an accepted delivery is the same event, stored once by ``(gateway, event id)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from signalbridge.domain.bounds import JsonOutOfBounds, load_json
from signalbridge.integrations.errors import CallbackRejected
from signalbridge.payments.base import PaymentEvent, header
from signalbridge.payments.signing import (
    check_fresh,
    hmac_hex,
    matches_any,
    parse_items,
    timestamp_of,
)
from signalbridge.payments.stripe.convert import FeeRule, event_of

__all__ = ["HEADER", "MAX_BODY_BYTES", "parse_event", "sign", "verify"]

HEADER = "Stripe-Signature"
#: Stripe's events are a few KB; anything this large is not one.
MAX_BODY_BYTES = 512 * 1024


def verify(
    raw_body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    now: datetime,
    tolerance: timedelta,
) -> datetime:
    """Check ``raw_body``'s ``Stripe-Signature``; return the signed time.

    Raises :class:`CallbackRejected`: ``signature`` for a missing header, no ``v1`` or no
    match; ``malformed`` for an unreadable header; ``stale`` outside ``tolerance``.
    """
    if not secrets:
        raise CallbackRejected("no webhook secret is configured", reason="signature")
    if len(raw_body) > MAX_BODY_BYTES:
        raise CallbackRejected("the body is too large for a Stripe event", reason="malformed")
    items = parse_items(header(headers, HEADER), HEADER)
    stamps = items.get("t", ())
    if len(stamps) != 1:
        raise CallbackRejected(f"the {HEADER} header needs exactly one t", reason="malformed")
    signatures = items.get("v1", ())
    if not signatures:
        raise CallbackRejected(f"the {HEADER} header has no v1 signature", reason="signature")
    signed_at = timestamp_of(stamps[0], HEADER)
    message = stamps[0].encode("ascii") + b"." + raw_body
    matched = False
    for secret in secrets:
        matched = matches_any(hmac_hex(secret, message), signatures) or matched
    if not matched:
        raise CallbackRejected("no v1 signature matches a webhook secret", reason="signature")
    check_fresh(signed_at, now, tolerance)
    return signed_at


def parse_event(raw_body: bytes, fees: FeeRule) -> list[PaymentEvent]:
    """The events of an authentic delivery: one, or none for a type we do not act on."""
    try:
        body = load_json(raw_body, storable_strings=True)
        if not isinstance(body, dict):
            raise ValueError("the body is not a JSON object")
        event = event_of(body, fees)
    except (JsonOutOfBounds, ValueError, TypeError, KeyError, ArithmeticError) as exc:
        raise CallbackRejected(
            f"the Stripe event cannot be read: {_first_line(exc)}", reason="malformed"
        ) from None
    return [] if event is None else [event]


def sign(payload: bytes, secret: str, timestamp: int, *extra_secrets: str) -> str:
    """A ``Stripe-Signature`` value as Stripe builds it (one ``v1`` per secret)."""
    stamp = str(timestamp)
    message = stamp.encode("ascii") + b"." + payload
    v1 = ",".join(f"v1={hmac_hex(s, message)}" for s in (secret, *extra_secrets))
    return f"t={stamp},{v1}"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).splitlines()
    return lines[0][:200] if lines else type(exc).__name__
