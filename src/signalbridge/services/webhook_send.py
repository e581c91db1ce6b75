"""Send to a webhook channel as its sender would (``signalbridge send``, the demo banner).

A signature holds for the tolerance only (300 s by default), so a signed ``curl`` printed
once goes stale: the command signs with the current time and a fresh delivery id each
time it runs, or prints the equivalent ``curl``. A ``body_secret`` channel gets its secret
put into the JSON body instead of a signature, exactly as TradingView would send it.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.channels.webhook import put_body_secret, signed_headers
from signalbridge.integrations.sealing import unseal
from signalbridge.integrations.vault import Vault
from signalbridge.store import models as m


@dataclass(frozen=True)
class SenderCredentials:
    """What a sender of one channel knows: the secret and how the channel checks it."""

    secret: str
    auth: str = "hmac"
    secret_field: str = "secret"  # noqa: S105 - the name of a JSON field


@dataclass(frozen=True)
class PreparedDelivery:
    url: str
    headers: dict[str, str]
    body: bytes


def read_body(argument: str, stdin: IO[bytes]) -> bytes:
    """BODY as given: ``-`` reads stdin, ``@FILE`` reads the file, anything else is the text."""
    if argument == "-":
        return stdin.read()
    if argument.startswith("@"):
        return Path(argument[1:]).expanduser().read_bytes()
    return argument.encode("utf-8")


def content_type(body: bytes) -> str:
    try:
        json.loads(body)
    except ValueError:
        return "text/plain; charset=utf-8"
    return "application/json"


def local_base_url(host: str, port: int) -> str:
    """The server's URL from its bind settings (a wildcard bind is reached on loopback)."""
    try:
        wildcard = not host or ipaddress.ip_address(host).is_unspecified
    except ValueError:
        wildcard = False
    return f"http://{'127.0.0.1' if wildcard else host}:{port}"


def webhook_url(base_url: str, channel_id: int) -> str:
    return f"{base_url.rstrip('/')}/webhooks/channels/{channel_id}"


def prepare(
    base_url: str,
    channel_id: int,
    body: bytes,
    sender: SenderCredentials,
    *,
    timestamp: int | None = None,
    delivery: str | None = None,
) -> PreparedDelivery:
    """The request to send now: signed headers, or the secret put into the body.

    Raises ValueError when a body_secret channel is given a body that is not a JSON object.
    """
    headers = {"Content-Type": content_type(body)}
    if sender.auth == "body_secret":
        body = put_body_secret(body, sender.secret_field, sender.secret)
    else:
        headers.update(signed_headers(sender.secret, body, timestamp=timestamp, delivery=delivery))
    return PreparedDelivery(webhook_url(base_url, channel_id), headers, body)


def curl_command(prepared: PreparedDelivery) -> str:
    """The same request as a shell command (``--data-binary``: the bytes exactly as signed)."""
    parts = ["curl", "-sS", "-X", "POST", shlex.quote(prepared.url)]
    for name, value in prepared.headers.items():
        parts += ["-H", shlex.quote(f"{name}: {value}")]
    parts += ["--data-binary", shlex.quote(prepared.body.decode("utf-8"))]
    return " ".join(parts)


async def channel_sender(
    sessions: async_sessionmaker[AsyncSession], vault: Vault, channel_id: int
) -> SenderCredentials:
    """The channel's secret from the database (through the vault) and its auth mode.

    Raises LookupError when there is no webhook channel with that id.
    """
    if not 1 <= channel_id < 2**63:
        raise LookupError(f"no webhook channel {channel_id}")
    async with sessions() as session:
        row = await session.get(m.ChannelSource, channel_id)
    if row is None or row.type != "webhook":
        raise LookupError(f"no webhook channel {channel_id}")
    secret = unseal(vault, "channel_sources", row.id, row.secrets_enc)["secret"]
    return SenderCredentials(
        secret=secret,
        auth=str(row.config.get("auth", "hmac")),
        secret_field=str(row.config.get("secret_field", "secret")),
    )
