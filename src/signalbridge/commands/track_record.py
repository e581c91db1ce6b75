"""``signalbridge track-record``: switch channels' reference accounts on and off.

A channel's track record is kept by a paper account that follows every new signal of the
channel with fixed risk (services/track_record.py). ``enable`` makes it on first need
(``--all``: for every channel that has none) and lets it follow; ``disable`` stops it
taking new signals, its open positions still managed to their exits. Each change is
audited as the actor ``cli``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from signalbridge.commands.common import fail, on_database

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

ChannelIds = Annotated[
    list[int] | None, typer.Argument(min=1, max=2**63 - 1, help="Channel ids.", show_default=False)
]


def enable(
    channel_ids: ChannelIds = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every channel that has no reference account yet.")
    ] = False,
) -> None:
    """Give channels their reference paper account and let it follow every new signal."""
    from signalbridge.services import track_record as records

    if not channel_ids and not every:
        fail("name channel ids, or --all")

    async def work(s: AsyncSession) -> list[str]:
        lines = []
        if every:
            try:
                made = await records.ensure_track_record_accounts(s, actor="cli")
            except records.ReferenceUserTaken as exc:
                raise ValueError(exc.message) from None
            lines.append(f"reference accounts made for channels {made or 'none'}")
        for channel_id in channel_ids or ():
            try:
                account = await records.set_track_record(s, channel_id, True, actor="cli")
            except (LookupError, records.ReferenceUserTaken) as exc:
                raise ValueError(str(exc)) from None
            assert account is not None  # enabling always has one
            lines.append(
                f"channel {channel_id}: track record on (connection {account.connection_id}, "
                f"follow {account.follow_id})"
            )
        return lines

    for line in on_database(work):
        typer.echo(line)


def disable(
    channel_id: Annotated[int, typer.Argument(min=1, max=2**63 - 1, help="A channel id.")],
) -> None:
    """Stop a channel's reference account taking new signals (its record stays)."""
    from signalbridge.services import track_record as records

    async def work(s: AsyncSession) -> str:
        try:
            account = await records.set_track_record(s, channel_id, False, actor="cli")
        except LookupError as exc:
            raise ValueError(str(exc)) from None
        if account is None:
            return f"channel {channel_id} has no track record"
        return f"channel {channel_id}: track record off (connection {account.connection_id})"

    typer.echo(on_database(work))
