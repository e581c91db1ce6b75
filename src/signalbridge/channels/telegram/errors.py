"""Bot API refusals translated, at the client's boundary, into the kernel's error tree.

Telegram answers every failure as ``{"ok": false, "error_code": N, "description": "...",
"parameters": {"retry_after": s, "migrate_to_chat_id": id}}`` (integrations.md section 4).
Callers choose by class, never by Telegram's wording:

- 401 (and the 404 Telegram gives a token it does not know) → :class:`AuthenticationError`;
- 409 (a webhook is set, or another ``getUpdates`` runs) → :class:`BotConflict`: neither
  retried nor counted by the breaker, since repeating the call cannot end the conflict;
- 429 → :class:`RateLimited` with ``retry_after`` from ``parameters.retry_after``;
- 400 → :class:`BadRequest` (:class:`ChatMigrated` keeps ``migrate_to_chat_id``);
- 403 (the bot was blocked, kicked, or may not write there) → :class:`ChatForbidden`;
- 5xx and unreadable answers → :class:`TransientError`.

Descriptions come from outside: they are cut short and redacted before they reach an
error text.
"""

from __future__ import annotations

from typing import Any

from signalbridge.integrations.errors import (
    AuthenticationError,
    IntegrationError,
    InvalidRequest,
    RateLimited,
    TransientError,
)
from signalbridge.integrations.redaction import redact

MAX_DESCRIPTION = 200
#: Longest wait we take from ``retry_after``; Telegram's are seconds to minutes.
MAX_RETRY_AFTER = 3600.0


class BotConflict(IntegrationError):
    """409: a webhook is set, or another poller calls ``getUpdates`` with this token."""


class BadRequest(InvalidRequest):
    """400: the request is wrong (empty text, unknown chat, bad parameter)."""


class ChatMigrated(BadRequest):
    """400 with ``migrate_to_chat_id``: the group became a supergroup with a new id."""

    def __init__(
        self, message: str, *, migrate_to_chat_id: int, connection_id: str | None = None
    ) -> None:
        super().__init__(message, connection_id=connection_id)
        self.migrate_to_chat_id = migrate_to_chat_id


class ChatForbidden(InvalidRequest):
    """403: the bot may not act in that chat (blocked by the user, removed, no rights)."""


def _description(payload: Any) -> str:
    raw = payload.get("description") if isinstance(payload, dict) else None
    text = raw if isinstance(raw, str) else ""
    text = "".join(ch if ch.isprintable() else " " for ch in text[:MAX_DESCRIPTION])
    return redact(text) or "no description"


def _parameters(payload: Any) -> dict[str, Any]:
    raw = payload.get("parameters") if isinstance(payload, dict) else None
    return raw if isinstance(raw, dict) else {}


def _retry_after(parameters: dict[str, Any]) -> float | None:
    value = parameters.get("retry_after")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return min(max(float(value), 0.0), MAX_RETRY_AFTER)


def _chat_id(parameters: dict[str, Any]) -> int | None:
    value = parameters.get("migrate_to_chat_id")
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if abs(value) < 2**63 else None


def error_from_answer(method: str, status: int, payload: Any) -> IntegrationError:
    """The kernel error for a refused call: HTTP ``status`` and the decoded body (any JSON,
    or None when the body was not JSON). Never raises."""
    code = payload.get("error_code") if isinstance(payload, dict) else None
    code = code if isinstance(code, int) and not isinstance(code, bool) else status
    what = f"Telegram {method}: {code} {_description(payload)}"
    parameters = _parameters(payload)
    if code in (401, 404):
        return AuthenticationError(f"{what} (the bot token is wrong or revoked)")
    if code == 409:
        return BotConflict(what)
    if code == 429:
        return RateLimited(what, retry_after=_retry_after(parameters))
    if code == 403:
        return ChatForbidden(what)
    if code == 400:
        migrated = _chat_id(parameters)
        if migrated is not None:
            return ChatMigrated(what, migrate_to_chat_id=migrated)
        return BadRequest(what)
    if code >= 500 or status >= 500 or payload is None:
        return TransientError(what)
    return InvalidRequest(what)
