"""What a page answers when it cannot: an HTML error page, or a redirect to the login.

Handlers raise :class:`PageError` (or the API's ``ApiError`` from a shared service, which
is rendered the same way on page paths) and :class:`LoginRequired`; the app renders them.
"""

from __future__ import annotations

from urllib.parse import quote


class PageError(Exception):
    """A page cannot be shown or a form cannot be done; ``message`` is safe to show."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class LoginRequired(Exception):
    """No live browser session: go to the login page, then come back to ``next_path``."""

    def __init__(self, next_path: str) -> None:
        super().__init__("login required")
        self.next_path = next_path

    @property
    def location(self) -> str:
        return "/login?next=" + quote(self.next_path, safe="/")


def safe_next(value: str | None) -> str:
    """Where to go after logging in: only a path on this site (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value
