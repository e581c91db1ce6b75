"""Inbound webhook channel: a provider (TradingView, a bot, a script) POSTs signals to us.

Each channel has its own secret, and one of two ways (``auth``) to prove a delivery
comes from whoever holds it:

``hmac`` (the default): the sender signs the time, its delivery id and the raw body::

    X-SignalBridge-Timestamp: 1767225600     (unix seconds)
    X-SignalBridge-Delivery:  5f0c9a0e-...   (the sender's id for this delivery)
    X-SignalBridge-Signature: sha256=<hex HMAC-SHA256(secret, signed)>
    where signed = f"{timestamp}.{delivery}.".encode() + body

A captured delivery cannot be given a new timestamp or a new delivery id without the
secret; the platform refuses timestamps outside a tolerance and keeps the delivery id as
the message's idempotency key. The timestamp is ASCII digits and the delivery id has no
dot, so the signed text splits one way only (nobody can move bytes between the id and
the body and keep the signature).

``body_secret``, for senders that cannot compute an HMAC (TradingView alerts): the JSON
object body carries the secret in a top-level field (``secret_field``). The field is cut
out of the body text before the body is parsed or stored. Such a delivery has no
timestamp, so its only replay protection is the body-hash window; send it over HTTPS.
A ``pineconnector`` channel also finds it in a PineConnector command
(channels/dialect_secrets.py), and ``allowed_sources`` may confine any channel to some
addresses (channels/source_allowlist.py; the route checks it).

:meth:`WebhookChannel.verify` does the same work whatever the mode and the outcome (one
HMAC, one scan for a body secret, two constant-time comparisons), so a caller without
the secret cannot tell modes, channels or failure reasons apart by timing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from signalbridge.channels.dialect_secrets import find_pine_secret
from signalbridge.channels.source_allowlist import SourceAllowList, check_entries
from signalbridge.integrations.registry import AdapterRegistry

SIGNATURE_HEADER = "X-SignalBridge-Signature"
TIMESTAMP_HEADER = "X-SignalBridge-Timestamp"
DELIVERY_HEADER = "X-SignalBridge-Delivery"

MAX_DELIVERY_ID = 128
#: Printable ASCII without space and ".": ids such as UUIDs, ``evt_1AbC``, ``burst-7``.
_DELIVERY_ID = re.compile(rf"[!-\-/-~]{{1,{MAX_DELIVERY_ID}}}", re.ASCII)
_TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)
_WHITESPACE = " \t\n\r"


def _no_number(_: str) -> None:
    return None


# Values are decoded only to find where they end: numbers are not converted at all (so no
# literal is too long to read), and none of them can pass for a string.
_VALUE_DECODER = json.JSONDecoder(
    parse_float=_no_number, parse_int=_no_number, parse_constant=_no_number
)


class WebhookConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret: str = Field(
        default_factory=lambda: secrets.token_urlsafe(32),
        min_length=16,
        max_length=256,
        description="HMAC key (or body secret) for deliveries; generated (and shown once) "
        "when not given",
    )
    parse_text: bool = Field(default=True, description="read non-JSON bodies with the rule parser")
    auth: Literal["hmac", "body_secret"] = Field(
        default="hmac",
        description="hmac: X-SignalBridge-Timestamp/-Delivery/-Signature headers; "
        "body_secret: the JSON body carries the secret in `secret_field` (TradingView)",
    )
    secret_field: str = Field(
        default="secret",
        min_length=1,
        max_length=64,
        description="top-level JSON field that holds the secret in body_secret mode",
    )
    tolerance_seconds: int | None = Field(
        default=None,
        ge=1,
        le=86_400,
        description="how far a signed timestamp may be from the server's clock, and how "
        "long a body counts as a duplicate; empty means the server's setting",
    )
    allowed_sources: list[str] = Field(
        default_factory=list,
        description="IPs, CIDR networks or 'tradingview' (the server's tradingview_sources) "
        "that may deliver; empty: any address (channels/source_allowlist.py)",
    )

    @field_validator("allowed_sources")
    @classmethod
    def _sources(cls, value: list[str]) -> list[str]:
        return check_entries(value)


@dataclass(frozen=True)
class Delivery:
    """An authenticated delivery."""

    #: What is parsed and stored: the raw body, or in body_secret mode the body without
    #: its secret field.
    body: bytes
    #: The signed delivery id and timestamp (hmac mode), exactly as sent; None otherwise.
    delivery_id: str | None = None
    timestamp: str | None = None


def signature(secret: str, timestamp: str, delivery: str, body: bytes) -> str:
    """The ``X-SignalBridge-Signature`` value: ``sha256=<hex>`` over ``timestamp.delivery.body``."""
    signed = f"{timestamp}.{delivery}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signed_headers(
    secret: str, body: bytes, *, timestamp: int | None = None, delivery: str | None = None
) -> dict[str, str]:
    """The three headers a sender adds: now (or ``timestamp``) and a fresh (or given) id."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    delivery_id = delivery if delivery is not None else str(uuid.uuid4())
    return {
        TIMESTAMP_HEADER: stamp,
        DELIVERY_HEADER: delivery_id,
        SIGNATURE_HEADER: signature(secret, stamp, delivery_id, body),
    }


def header_problems(timestamp: str, delivery: str) -> list[str]:
    """What is wrong with signed headers' shape (an authentic sender's mistakes)."""
    problems = []
    if not _TIMESTAMP.fullmatch(timestamp):
        problems.append(f"{TIMESTAMP_HEADER} must be the signing time in unix seconds")
    if not _DELIVERY_ID.fullmatch(delivery):
        problems.append(
            f"{DELIVERY_HEADER} is required: 1-{MAX_DELIVERY_ID} printable ASCII "
            "characters without spaces or dots (a UUID is fine)"
        )
    return problems


@dataclass(frozen=True)
class _Member:
    key: str
    value: Any
    start: int  # the key's opening quote
    end: int  # just past the value


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WHITESPACE:
        i += 1
    return i


def _members(text: str) -> list[_Member] | None:
    """The top-level members of a JSON object text with their spans; None if not one."""
    i = _skip(text, 0)
    if not text.startswith("{", i):
        return None
    i = _skip(text, i + 1)
    members: list[_Member] = []
    if text.startswith("}", i):
        i += 1
    else:
        while True:
            if not text.startswith('"', i):
                return None
            start = i
            key, i = _VALUE_DECODER.raw_decode(text, i)  # a string: it starts with a quote
            i = _skip(text, i)
            if not text.startswith(":", i):
                return None
            value, i = _VALUE_DECODER.raw_decode(text, _skip(text, i + 1))
            members.append(_Member(key, value, start, i))
            i = _skip(text, i)
            if text.startswith(",", i):
                i = _skip(text, i + 1)
            elif text.startswith("}", i):
                i += 1
                break
            else:
                return None
    return members if _skip(text, i) == len(text) else None


def find_body_secret(body: bytes, field: str) -> tuple[str, bytes] | None:
    """The string in the top-level ``field`` of a JSON object body, and the body without it.

    The member is cut out of the text itself, so every other byte (numbers as the sender
    wrote them) is parsed and stored exactly as sent. None when the body is not a JSON
    object or does not hold the field exactly once, as a string.
    """
    try:
        text = body.decode("utf-8")
        members = _members(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if members is None:
        return None
    hits = [n for n, member in enumerate(members) if member.key == field]
    if len(hits) != 1 or not isinstance(members[hits[0]].value, str):
        return None
    n = hits[0]
    if n + 1 < len(members):  # the member, its comma and the space up to the next one
        cut = (members[n].start, members[n + 1].start)
    elif n > 0:  # the last member: from the end of the one before it
        cut = (members[n - 1].end, members[n].end)
    else:
        cut = (members[n].start, members[n].end)
    stripped = text[: cut[0]] + text[cut[1] :]
    return members[n].value, stripped.encode("utf-8")


def put_body_secret(body: bytes, field: str, secret: str) -> bytes:
    """``body`` (a JSON object) with ``field: secret`` added first, as a body_secret sender does.

    Raises ValueError when the body is not a JSON object or already has the field.
    """
    text = body.decode("utf-8")
    members = _members(text)
    if members is None:
        raise ValueError("a body_secret channel takes a JSON object body")
    if any(member.key == field for member in members):
        raise ValueError(f"the body already has a {field!r} field")
    opening = text.index("{") + 1
    member = json.dumps(field) + ":" + json.dumps(secret) + ("," if members else "")
    return (text[:opening] + member + text[opening:]).encode("utf-8")


class WebhookChannel:
    """Authenticates deliveries for one webhook channel."""

    type = "webhook"

    def __init__(self, config: WebhookConfig, dialect: str | None = None) -> None:
        self._secret = config.secret.encode()
        #: The channel's dialect setting: ``pineconnector`` also reads the secret where
        #: PineConnector puts it (channels/dialect_secrets.py).
        self.dialect = dialect
        self.sources = SourceAllowList.parse(config.allowed_sources)
        self._key = config.secret
        self.parse_text = config.parse_text
        self.auth = config.auth
        self.secret_field = config.secret_field
        self.tolerance_seconds = config.tolerance_seconds

    def __repr__(self) -> str:
        return f"WebhookChannel(auth={self.auth}, secret=****)"

    def verify(self, body: bytes, headers: Mapping[str, str]) -> Delivery | None:
        """The authenticated delivery, or None; the same work on every path (see the module)."""
        stamp = headers.get(TIMESTAMP_HEADER.lower(), "")
        delivery = headers.get(DELIVERY_HEADER.lower(), "")
        given = headers.get(SIGNATURE_HEADER.lower(), "")
        expected = signature(self._key, stamp, delivery, body)
        found = find_body_secret(body, self.secret_field)
        pine = find_pine_secret(body)  # scanned whatever the dialect: the same work
        if found is None and self.dialect == "pineconnector":
            found = pine
        signed = hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())
        carried = hmac.compare_digest(
            found[0].encode("utf-8", "replace") if found else b"", self._secret
        )
        if self.auth == "hmac":
            return Delivery(body, delivery, stamp) if signed else None
        return Delivery(found[1]) if carried and found else None

    def tolerance(self, default: int) -> int:
        return self.tolerance_seconds or default

    def stale(self, delivery: Delivery, now: float, default_tolerance: int) -> str | None:
        """Why an authentic, well-formed hmac delivery is too old (or too new); else None."""
        if delivery.timestamp is None:
            return None
        tolerance = self.tolerance(default_tolerance)
        skew = int(now) - int(delivery.timestamp)
        if abs(skew) <= tolerance:
            return None
        where = "old" if skew > 0 else "in the future"
        return (
            f"the delivery's timestamp is {abs(skew)} s {where}; deliveries more than "
            f"{tolerance} s from the server's clock are refused: sign it again with the "
            "current time"
        )


def register(registry: AdapterRegistry) -> None:
    """Make ``webhook`` a channel type (bootstrap calls this)."""
    registry.register(
        "channel",
        "webhook",
        WebhookChannel,
        WebhookConfig,
        secret_fields=("secret",),
        description="signed HTTP POST deliveries (TradingView alerts, bots, scripts)",
    )
