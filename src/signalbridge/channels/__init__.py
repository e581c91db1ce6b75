"""Channel adapters: where providers post signals (webhooks, Telegram, RSS, web pages)."""
