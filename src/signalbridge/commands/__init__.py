"""The ``signalbridge`` commands: run the platform and administer it from the shell.

Reached through :func:`signalbridge.cli.main`. This module only assembles the command
line; the commands live by job in :mod:`~signalbridge.commands.run`,
:mod:`~signalbridge.commands.send` and :mod:`~signalbridge.commands.admin`, and import
what they need when they run, so ``signalbridge --help`` starts fast.
"""

from __future__ import annotations

import typer

from signalbridge.commands import (
    admin,
    override,
    payments,
    run,
    send,
    subscriptions,
    telegram,
    track_record,
)

app = typer.Typer(
    help="SignalBridge: a self-hosted trading-signal hub.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
tokens_app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage the credential vault's keys.", no_args_is_help=True)
telegram_app = typer.Typer(help="Telegram user channels' accounts.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(keys_app, name="keys")
app.add_typer(telegram_app, name="telegram")
subscriptions_app = typer.Typer(
    help="Plan grants: give a member a plan's channels, revoke, list.", no_args_is_help=True
)
app.add_typer(subscriptions_app, name="subscriptions")
payments_app = typer.Typer(
    help="Payments: reconcile what the gateways' webhooks missed.", no_args_is_help=True
)
app.add_typer(payments_app, name="payments")
track_record_app = typer.Typer(
    help="Channels' track records: the reference paper account.", no_args_is_help=True
)
app.add_typer(track_record_app, name="track-record")

# In this order in ``signalbridge --help``.
app.command()(run.migrate)
app.command()(run.serve)
app.command()(run.worker)
app.command()(run.scheduler)
app.command()(run.demo)
app.command()(run.parse)
app.command()(send.send)
app.command()(override.panic)
users_app.command("create")(admin.users_create)
users_app.command("approve")(admin.users_approve)
users_app.command("reset-link")(admin.users_reset_link)
tokens_app.command("create")(admin.tokens_create)
tokens_app.command("list")(admin.tokens_list)
tokens_app.command("revoke")(admin.tokens_revoke)
keys_app.command("rotate")(admin.keys_rotate)
telegram_app.command("login")(telegram.login)
telegram_app.command("status")(telegram.status)
subscriptions_app.command("grant")(subscriptions.grant)
subscriptions_app.command("revoke")(subscriptions.revoke)
subscriptions_app.command("list")(subscriptions.list_)
payments_app.command("reconcile")(payments.reconcile)
track_record_app.command("enable")(track_record.enable)
track_record_app.command("disable")(track_record.disable)
