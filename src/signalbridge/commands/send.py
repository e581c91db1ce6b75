"""``signalbridge send``: sign a body and post it to a running server's webhook channel."""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from signalbridge.commands.common import build, fail, load_settings

if TYPE_CHECKING:
    from signalbridge.settings import Settings


def send(
    channel_id: Annotated[int, typer.Argument(help="The webhook channel's id.")],
    body: Annotated[
        str, typer.Argument(help="What to send: the text itself, - for stdin, or @FILE.")
    ],
    url: Annotated[
        str | None,
        typer.Option(help="The running server (default: http://HOST:PORT from the settings)."),
    ] = None,
    secret: Annotated[
        str | None,
        typer.Option(
            envvar="SIGNALBRIDGE_CHANNEL_SECRET",
            help="The channel's secret (default: read from the database through the vault).",
        ),
    ] = None,
    secret_field: Annotated[
        str | None,
        typer.Option(
            help="With --secret, for a body_secret channel: put the secret into this JSON "
            "field instead of signing."
        ),
    ] = None,
    curl: Annotated[
        bool,
        typer.Option(
            "--curl", help="Print the equivalent signed curl command instead of sending it."
        ),
    ] = False,
) -> None:
    """Send BODY to a webhook channel, signed with the current time and a fresh delivery id.

    Prints the server's answer (exit code 1 unless it is 2xx). With --curl it prints the
    same request as a curl command instead; its signature is refused once it is older
    than the tolerance (300 s by default). A body_secret channel gets its secret put into
    the JSON body instead of a signature.
    """
    from signalbridge.services import webhook_send as ws

    settings = load_settings()
    try:
        payload = ws.read_body(body, sys.stdin.buffer)
    except OSError as exc:
        fail(f"cannot read the body: {exc}")
        return
    if secret is not None:
        sender = ws.SenderCredentials(
            secret, "body_secret" if secret_field else "hmac", secret_field or "secret"
        )
    else:
        sender = _channel_sender(settings, channel_id)
    base_url = url or ws.local_base_url(settings.host, settings.port)
    try:
        prepared = ws.prepare(base_url, channel_id, payload, sender)
        command = ws.curl_command(prepared) if curl else ""
    except (ValueError, UnicodeDecodeError) as exc:
        fail(str(exc))
        return
    if curl:
        typer.echo(command)
        return
    import httpx

    try:
        answer = httpx.post(
            prepared.url, content=prepared.body, headers=prepared.headers, timeout=30
        )
    except httpx.HTTPError as exc:
        fail(f"cannot reach {prepared.url}: {exc}")
        return
    typer.echo(f"{answer.status_code} {answer.reason_phrase}")
    typer.echo(answer.text)
    if not answer.is_success:
        raise typer.Exit(1)


def _channel_sender(settings: Settings, channel_id: int) -> Any:
    """The channel's secret and auth mode from this data directory's database."""
    from signalbridge.services.webhook_send import channel_sender

    db = settings.data_dir / "signalbridge.db"
    if not settings.database_url and not db.exists():
        fail(f"no database at {db}: pass --secret, or set SIGNALBRIDGE_DATA_DIR")

    async def run() -> Any:
        c = build(settings)
        try:
            return await channel_sender(c.sessions, c.vault, channel_id)
        finally:
            await c.engine.dispose()

    try:
        return asyncio.run(run())
    except LookupError as exc:
        fail(f"{exc.args[0]} in the database; pass --secret to send anyway")
    except Exception as exc:  # a database or key problem: say what, never the secret
        fail(f"cannot read channel {channel_id}'s secret: {type(exc).__name__}")
    return None
