"""Notifications out: events written to an outbox with the change they report, drained by
a sender to the users' linked Telegram chats under Telegram's rate limits.

``events`` (kinds and texts, pure), ``outbox`` (``notify``: recipients and rows, inside the
caller's transaction), ``linking`` (one-time codes that link a chat to a user), ``bot``
(the bot update that carries a code), ``sender`` (claim, send, mark; the ``Sender``
protocol), ``emit`` (the small calls the services and the engine make), ``runner`` (the
bot's scheduler job: link codes in, outbox out).
"""
