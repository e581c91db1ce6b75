"""Demo data: a webhook channel, a paper account following it, and sample signals.

Prices of the sample signals are taken from the paper venue's own feed, so they fill and
a newcomer sees a signal become a position within seconds. Everything the demo makes
belongs to the first admin (the lowest-id admin), like every row the CLI makes.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.execution.pool import AdapterPool
from signalbridge.integrations.queue import DISPATCH_SIGNAL, TaskQueue
from signalbridge.integrations.sealing import seal, unseal
from signalbridge.integrations.vault import Vault
from signalbridge.services import access, audit
from signalbridge.services.ingest import ingest, interpret_canonical
from signalbridge.services.webhook_send import SenderCredentials, curl_command, prepare
from signalbridge.store import models as m
from signalbridge.store.types import utcnow

DEMO_CHANNEL = "Demo webhook channel"
DEMO_CONNECTION = "Demo paper account"


@dataclass(frozen=True)
class DemoInfo:
    channel_id: int
    connection_id: int
    follow_id: int
    webhook_secret: str
    signal_ids: tuple[int, ...]
    price: Decimal


class NoAdminYet(ValueError):
    """The demo's rows need an owner, the first admin, and there is no admin yet."""


async def _get_or_create(
    session: AsyncSession, vault: Vault
) -> tuple[m.ChannelSource, m.ExecutionConnection, m.Follow, str]:
    owner = await access.first_admin_id(session)
    if owner is None:
        raise NoAdminYet(
            "the demo needs an admin to own its channel and account: start `signalbridge "
            "serve` once, or run `signalbridge users create EMAIL --role admin`"
        )
    channel = await session.scalar(
        select(m.ChannelSource).where(m.ChannelSource.name == DEMO_CHANNEL)
    )
    if channel is None:
        import secrets as pysecrets

        secret = pysecrets.token_urlsafe(24)
        channel = m.ChannelSource(
            name=DEMO_CHANNEL,
            type="webhook",
            config={"parse_text": True},
            min_confidence=Decimal("0.9"),
            owner_id=owner,
            visibility=m.ChannelVisibility.PRIVATE,
        )
        session.add(channel)
        await session.flush()
        channel.secrets_enc = seal(vault, "channel_sources", channel.id, {"secret": secret})
        await audit.record(
            session,
            actor="demo",
            actor_id=owner,
            action="create",
            entity="channel",
            entity_id=channel.id,
            changes={"name": DEMO_CHANNEL, "type": "webhook"},
        )
    secret = unseal(vault, "channel_sources", channel.id, channel.secrets_enc)["secret"]
    connection = await session.scalar(
        select(m.ExecutionConnection).where(m.ExecutionConnection.name == DEMO_CONNECTION)
    )
    if connection is None:
        connection = m.ExecutionConnection(
            name=DEMO_CONNECTION,
            owner_id=owner,
            type="paper",
            config={
                "account_id": "demo",
                "futures": True,
                "balances": {"USDT": "10000"},
                "feed": {"type": "random_walk", "seed": 7},
            },
        )
        session.add(connection)
        await session.flush()
        await audit.record(
            session,
            actor="demo",
            actor_id=owner,
            action="create",
            entity="connection",
            entity_id=connection.id,
            changes={"name": DEMO_CONNECTION, "type": "paper"},
        )
    follow = await session.scalar(
        select(m.Follow).where(
            m.Follow.channel_id == channel.id, m.Follow.connection_id == connection.id
        )
    )
    if follow is None:
        follow = m.Follow(
            channel_id=channel.id,
            connection_id=connection.id,
            sizing={"mode": "fixed_quote", "value": "200", "max_leverage": 10},
            risk={"max_signal_age_seconds": 600, "max_deviation_percent": "5"},
        )
        session.add(follow)
        await session.flush()
        await audit.record(
            session,
            actor="demo",
            actor_id=owner,
            action="create",
            entity="follow",
            entity_id=follow.id,
            changes={"channel_id": channel.id, "connection_id": connection.id},
        )
    return channel, connection, follow, secret


def _around(price: Decimal) -> Callable[[str], str]:
    p = price.quantize(Decimal(1))
    return lambda factor: str((p * Decimal(factor)).quantize(Decimal(1)))


def sample_long(btc: Decimal) -> dict[str, object]:
    """A market long on BTC/USDT around ``btc``."""
    at = _around(btc)
    return {
        "kind": "signal",
        "symbol": "BTC/USDT",
        "side": "long",
        "order_type": "market",
        "stop_loss": at("0.97"),
        "take_profits": [at("1.02"), at("1.04")],
        "leverage": 5,
    }


def sample_signals(btc: Decimal, eth: Decimal) -> list[dict[str, object]]:
    """A market long on BTC/USDT and a limit short on ETH/USDT around their prices.

    Two symbols, because a futures account nets one symbol's positions: a long and a
    short of the same symbol would be one smaller position on the venue.
    """
    at = _around(eth)
    short = {
        "kind": "signal",
        "symbol": "ETH/USDT",
        "side": "short",
        "order_type": "limit",
        "entry": {"low": at("0.999"), "high": at("1.001")},
        "stop_loss": at("1.03"),
        "take_profits": [at("0.98")],
        "leverage": 3,
    }
    return [sample_long(btc), short]


async def seed_demo(
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    pool: AdapterPool,
    queue: TaskQueue,
) -> DemoInfo:
    """Create the demo objects (once) and ingest fresh sample signals; queue their dispatch.

    Takes the parts it uses, not the runtime: services never import the composition root.
    Raises :class:`NoAdminYet` when no admin exists to own them (see
    ``services.users.ensure_admin``).
    """
    async with sessions() as session, session.begin():
        channel, connection, follow, secret = await _get_or_create(session, vault)
    live = await pool.get(connection.id)
    tickers = await live.read(lambda: live.adapter.fetch_tickers(["BTC/USDT", "ETH/USDT"]))
    signal_ids: list[int] = []
    stamp = utcnow().isoformat()
    price = tickers["BTC/USDT"].last
    for i, body in enumerate(sample_signals(price, tickers["ETH/USDT"].last)):
        text = json.dumps(body)
        async with sessions() as session, session.begin():
            result = await ingest(
                session,
                channel=channel,
                external_id=f"demo-{stamp}-{i}",
                text=text,
                content_type="application/json",
                received_at=utcnow(),
                interpretation=interpret_canonical(text),
            )
        if result.signal_id is not None:
            signal_ids.append(result.signal_id)
            await queue.enqueue(DISPATCH_SIGNAL, result.signal_id)
    return DemoInfo(channel.id, connection.id, follow.id, secret, tuple(signal_ids), price)


def curl_example(base_url: str, channel_id: int, secret: str, price: Decimal) -> str:
    """A ready-to-paste delivery of a market long priced around ``price``, signed now (it
    is refused once older than the webhook tolerance)."""
    body = json.dumps(sample_long(price), separators=(",", ":")).encode()
    sender = SenderCredentials(secret)
    return curl_command(prepare(base_url, channel_id, body, sender))


def send_example(channel_id: int, price: Decimal, url: str | None = None) -> str:
    """The ``signalbridge send`` command that signs the same long afresh each time it runs."""
    body = json.dumps(sample_long(price), separators=(",", ":"))
    where = f" --url {shlex.quote(url)}" if url else ""
    return f"signalbridge send {channel_id} {shlex.quote(body)}{where}"
