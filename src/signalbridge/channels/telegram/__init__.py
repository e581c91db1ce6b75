"""Telegram's Bot API: a small client (client.py), its errors (errors.py) and the reading
of updates as messages (updates.py). The channel itself is channels/telegram_bot.py.

Other modules send through :meth:`client.BotApi.send_message` (see client.py for the
stable signature).
"""
