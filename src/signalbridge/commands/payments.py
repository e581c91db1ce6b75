"""``signalbridge payments reconcile``: what the gateways' webhooks missed, read back.

Run it after the web endpoint was down for longer than a provider retries (Stripe three
days, PayPal 25 tries over three days, CoinPayments 10 tries), or on a schedule.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from signalbridge.commands.common import build, fail, migrate_schema

_AGO = re.compile(r"([1-9][0-9]{0,4})([mhd])", re.ASCII)
_UNIT = {"m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str, now: datetime) -> datetime:
    """``3d``, ``12h``, ``30m`` before ``now``, or an ISO 8601 time (UTC when no offset)."""
    ago = _AGO.fullmatch(text.strip())
    if ago:
        return now - timedelta(**{_UNIT[ago.group(2)]: int(ago.group(1))})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--since {text!r} is neither a duration (3d, 12h, 30m) nor an ISO 8601 time"
        ) from None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if when > now:
        raise ValueError("--since is in the future")
    return when


def reconcile(
    gateway: Annotated[
        int | None,
        typer.Option(min=1, help="Only this payment gateway connection (its id); default: all."),
    ] = None,
    since: Annotated[
        str,
        typer.Option(
            help="How far back: a duration (3d, 12h, 30m) or an ISO 8601 time. Gateways "
            "with an event list (Stripe) are read from then; for the others, pending "
            "checkouts created since then and every live subscription are asked for "
            "their state."
        ),
    ] = "3d",
) -> None:
    """Apply the payment events and states the webhooks missed; each is applied once.

    Events already delivered are recognised by their provider id and change nothing, so
    running it again, or while webhooks arrive, is safe. Exit status 1 when a gateway
    could not be read or an event could not be applied (they are listed).
    """
    from signalbridge.services.payments import reconcile as flow
    from signalbridge.services.payments.errors import PaymentFlowError

    try:
        start = parse_since(since, datetime.now(UTC))
    except ValueError as exc:
        fail(str(exc))

    async def run() -> list[flow.GatewayReport]:
        c = build()
        try:
            await migrate_schema(c)
            return await flow.run(
                c.sessions,
                c.payments.directory,
                c.payments.callbacks,
                since=start,
                connection_id=gateway,
            )
        finally:
            await c.close()

    try:
        reports = asyncio.run(run())
    except PaymentFlowError as exc:
        fail(exc.message)
    if not reports:
        typer.echo("no payment gateway connections")
    for report in reports:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(report.outcomes.items())) or "nothing"
        typer.echo(f"gateway {report.connection_id} ({report.type}, {report.method}): {counts}")
        for error in report.errors:
            typer.secho(f"  error: {error}", fg=typer.colors.RED, err=True)
    if any(not r.ok for r in reports):
        raise typer.Exit(1)
