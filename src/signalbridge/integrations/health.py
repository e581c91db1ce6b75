"""Per-connection health as a plain value: the store persists it, the API shows it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from signalbridge.integrations.redaction import redact

MAX_ERROR_CHARS = 500


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def describe_error(exc: BaseException) -> str:
    """``ClassName: message``, redacted and truncated: what may be shown to an operator."""
    text = redact(f"{type(exc).__name__}: {exc}")
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 1] + "…"
    return text


@dataclass
class HealthState:
    """Mutable counters updated in place by the connection guard after every call."""

    last_synced_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error_at: datetime | None = None
    last_error: str | None = None
    error_count: int = 0
    consecutive_failures: int = 0

    def record_success(self, now: datetime) -> None:
        self.last_synced_at = now
        self.last_success_at = now
        self.consecutive_failures = 0

    def record_failure(self, exc: BaseException, now: datetime) -> None:
        self.last_synced_at = now
        self.last_error_at = now
        self.last_error = describe_error(exc)
        self.error_count += 1
        self.consecutive_failures += 1

    def copy(self) -> HealthState:
        return replace(self)

    @property
    def healthy(self) -> bool:
        return self.consecutive_failures == 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("last_synced_at", "last_success_at", "last_error_at"):
            data[name] = _iso(data[name])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> HealthState:
        if not data:
            return cls()
        return cls(
            last_synced_at=_parse(data.get("last_synced_at")),
            last_success_at=_parse(data.get("last_success_at")),
            last_error_at=_parse(data.get("last_error_at")),
            last_error=data.get("last_error"),
            error_count=int(data.get("error_count", 0)),
            consecutive_failures=int(data.get("consecutive_failures", 0)),
        )
