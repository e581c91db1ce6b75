"""``signalbridge panic``: the panic button from the shell, when the web is not at hand.

The same action as ``POST /api/v1/connections/{id}/panic`` (services/override.py): written
once, audited (actor ``cli``), its orders named by the action id. Running it again with
the same ``--key`` answers the first outcome, or finishes an interrupted one.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from signalbridge.commands.common import build, fail, migrate_schema


def panic(
    connection: Annotated[
        int | None, typer.Option(min=1, max=2**63 - 1, help="Close everything of this connection.")
    ] = None,
    channel: Annotated[
        int | None,
        typer.Option(min=1, max=2**63 - 1, help="Close everything opened from this channel."),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(help="An idempotency key: the same key never acts twice."),
    ] = None,
) -> None:
    """Close every open position at market and cancel waiting orders, of one connection or
    one channel. Exit status 1 when the venue failed on any position (they are listed)."""
    if (connection is None) == (channel is None):
        fail("give exactly one of --connection and --channel")
    from signalbridge.services.override import (
        PANIC,
        ActionOutcome,
        Actor,
        OverrideRequest,
        Overrides,
    )
    from signalbridge.store import models as m

    async def run() -> ActionOutcome:
        c = build()
        try:
            await migrate_schema(c)
            async with c.sessions() as s:
                target = (
                    await s.get(m.ExecutionConnection, connection)
                    if connection is not None
                    else await s.get(m.ChannelSource, channel)
                )
            if target is None:
                raise ValueError("no such connection" if connection else "no such channel")
            request = OverrideRequest(
                PANIC,
                connection_id=connection,
                channel_id=channel,
                params={"owner_id": None},
                key=key,
            )
            return await Overrides(c.sessions, c.execution).submit(Actor("cli"), request)
        finally:
            await c.close()

    try:
        outcome = asyncio.run(run())
    except ValueError as exc:
        fail(str(exc))
    typer.echo(json.dumps(outcome.to_dict(), indent=2, default=str))
    if outcome.status == "failed":
        raise typer.Exit(1)
