"""The one definition of "now": timezone-aware UTC, never naive."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, aware, in UTC (the default clock wherever a clock can be injected)."""
    return datetime.now(UTC)
