"""Health of every polled channel: last synced, last error, lag, back-off, inbound refusals.

The polling runner (jobs/polling.py) calls :meth:`ChannelHealthBook.record` after each
poll, and asks :meth:`ChannelHealthBook.due` before one. The book writes the channel's
columns of ``connection_health``, beside the kernel's (``error_count``,
``consecutive_failures``, its own ``last_error``), from the same poll outcome:

- ``last_poll_at``: the last poll, whatever came of it; ``last_poll_ok_at``: the last
  successful one, which the health API calls *last synced*;
- ``last_error`` (redacted, shortened) and ``last_error_at``: the last failed poll's
  error, written here too so it is the poll's own (the kernel persists at most every 30 s);
- ``newest_item_at``: the newest item's own time, as the source dates it (an RSS
  ``pubDate``, a Telegram message's ``date``), kept across polls that bring nothing;
- ``lag_seconds`` and ``lag_basis``: how far behind the channel is. ``provider_time``:
  now − the newest item's own time, where the source dates its items; ``last_synced``:
  now − the last successful poll, where it does not (a web page). The API recomputes it
  at read time (:func:`view`), so it grows while a source is stuck;
- ``poll_failures`` and ``backoff_until``: consecutive failed polls, and the back-off
  they earned: none after the first failure, then 30 s, 60 s, ... up to 30 minutes, or
  the wait the source asked for (429 ``retry_after``, FloodWait) when that is longer;
- ``refused_count``, ``last_refusal`` and ``deferred_count``: messages refused by the
  size limit (services/inbound_limits.py records push refusals too) and polls the inbound
  rate cut short (the rest waited at the source).

:func:`refusal_meaning` is what the runner interprets a refused message as: a rejected
message with the reason as its error, stored once like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.channels.base import InboundMessage
from signalbridge.channels.inbound_limits import PollReport, refusal_reason
from signalbridge.integrations.health import describe_error
from signalbridge.services.ingest import Interpretation
from signalbridge.store import models as m
from signalbridge.store.db import insert_ignore
from signalbridge.store.types import utcnow

KIND = "channel"
#: Back-off after the second consecutive failed poll, doubled after each further one.
BASE_BACKOFF = 30.0
MAX_BACKOFF = 1800.0
#: The longest wait a source's own answer may impose on the poller.
MAX_SOURCE_WAIT = 86_400.0
PROVIDER_TIME = "provider_time"
LAST_SYNCED = "last_synced"
MAX_REFUSAL = 500


def backoff_seconds(failures: int) -> float:
    """The wait after ``failures`` consecutive failed polls: 0 after one (a blip is polled
    again at the next tick), then 30 s doubling up to 30 minutes."""
    if failures <= 1:
        return 0.0
    return min(BASE_BACKOFF * 2.0 ** (failures - 2), MAX_BACKOFF)


def refusal_meaning(message: InboundMessage) -> Interpretation | None:
    """A refused message's meaning (rejected, with the reason), or None for a plain one."""
    reason = refusal_reason(message)
    return None if reason is None else Interpretation(None, Decimal(0), (reason,))


def lag(
    now: datetime, newest_item_at: datetime | None, last_synced_at: datetime | None
) -> tuple[int | None, str | None]:
    """Seconds behind and what they are measured from (see the module)."""
    if newest_item_at is not None:
        return max(0, int((now - newest_item_at).total_seconds())), PROVIDER_TIME
    if last_synced_at is not None:
        return max(0, int((now - last_synced_at).total_seconds())), LAST_SYNCED
    return None, None


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _source_wait(error: Exception | None, report: PollReport | None, now: datetime) -> datetime:
    """Until when the source asked us to wait (its hold, or a ``retry_after``)."""
    until = now
    if report is not None and report.hold_until is not None:
        until = max(until, report.hold_until)
    retry_after = getattr(error, "retry_after", None)
    if isinstance(retry_after, int | float) and retry_after > 0:
        until = max(until, now + timedelta(seconds=min(float(retry_after), MAX_SOURCE_WAIT)))
    return until


@dataclass
class ChannelHealthBook:
    """Reads and writes the polled-channel columns of ``connection_health``."""

    sessions: async_sessionmaker[AsyncSession]
    clock: Callable[[], datetime] = utcnow

    async def due(self, channel_id: int) -> bool:
        """Whether the channel may be polled now (False while it is backing off)."""
        async with self.sessions() as session:
            until = await session.scalar(
                select(m.ConnectionHealth.backoff_until).where(
                    m.ConnectionHealth.kind == KIND, m.ConnectionHealth.connection_id == channel_id
                )
            )
        return until is None or until <= self.clock()

    async def record(
        self,
        channel_id: int,
        *,
        report: PollReport | None = None,
        error: Exception | None = None,
    ) -> None:
        """One poll's outcome: ``report`` is what the adapter saw (None: it says nothing),
        ``error`` why the poll failed (None: it succeeded)."""
        now = self.clock()
        async with self.sessions() as session, session.begin():
            row = await _row(session, channel_id)
            row.last_poll_at = now
            if error is None and report is not None and not report.contacted:
                # not due yet (or the host's politeness budget spent): no sync, no failure
                row.lag_seconds, row.lag_basis = lag(now, row.newest_item_at, row.last_poll_ok_at)
                return
            if error is None:
                row.last_poll_ok_at = now
                row.poll_failures = 0
                wait = _source_wait(None, report, now)
                row.backoff_until = wait if wait > now else None
            else:
                row.poll_failures = (row.poll_failures or 0) + 1
                row.last_error = describe_error(error)  # redacted and shortened
                row.last_error_at = now
                earned = now + timedelta(seconds=backoff_seconds(row.poll_failures))
                until = max(earned, _source_wait(error, report, now))
                row.backoff_until = until if until > now else None
            if report is not None and error is None:
                row.newest_item_at = _later(row.newest_item_at, report.newest_at)
                if report.refused:
                    row.refused_count = (row.refused_count or 0) + len(report.refused)
                    row.last_refusal = report.refused[-1][:MAX_REFUSAL]
                    row.last_refusal_at = now
                if report.deferred:
                    row.deferred_count = (row.deferred_count or 0) + 1
            row.lag_seconds, row.lag_basis = lag(now, row.newest_item_at, row.last_poll_ok_at)

    async def refused(self, channel_id: int, reason: str) -> None:
        """A push delivery refused by an inbound limit (services/inbound_limits.py)."""
        now = self.clock()
        async with self.sessions() as session, session.begin():
            row = await _row(session, channel_id)
            row.refused_count = (row.refused_count or 0) + 1
            row.last_refusal = reason[:MAX_REFUSAL]
            row.last_refusal_at = now


async def _row(session: AsyncSession, channel_id: int) -> m.ConnectionHealth:
    """The channel's health row, locked for this transaction (created when missing)."""
    await insert_ignore(
        session,
        m.ConnectionHealth,
        {"kind": KIND, "connection_id": channel_id},
        conflict=("kind", "connection_id"),
    )
    row = await session.scalar(
        select(m.ConnectionHealth)
        .where(m.ConnectionHealth.kind == KIND, m.ConnectionHealth.connection_id == channel_id)
        .with_for_update()
    )
    if row is None:  # the insert above (or a concurrent one) made it
        raise RuntimeError(f"channel {channel_id}: no health row after creating it")
    return row


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def view(
    row: m.ConnectionHealth | None,
    *,
    now: datetime,
    channel_type: str,
    polled: bool = True,
    breaker: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A channel's health as the API shows it, lag recomputed at ``now``.

    For a polled channel *last synced* is its last successful poll (a connection test is
    none); for a push channel (``polled`` False) its last authentic delivery.
    """
    if row is None:
        return {
            "channel_type": channel_type,
            "state": "never_polled" if polled else "no_deliveries",
            "last_synced_at": None,
            "last_polled_at": None,
            "last_error": None,
            "last_error_at": None,
            "lag_seconds": None,
            "lag_basis": None,
            "newest_item_at": None,
            "error_count": 0,
            "consecutive_failures": 0,
            "backing_off": False,
            "backoff_until": None,
            "refused_count": 0,
            "last_refusal": None,
            "last_refusal_at": None,
            "deferred_count": 0,
            "breaker": breaker,
        }
    synced = row.last_poll_ok_at if polled else row.last_success_at
    seconds, basis = lag(now, row.newest_item_at, synced)
    backing_off = row.backoff_until is not None and row.backoff_until > now
    failing = (row.poll_failures or 0) > 0 or (row.consecutive_failures or 0) > 0
    if polled and row.last_poll_at is None:
        state = "never_polled"
    elif not polled and row.last_success_at is None and row.last_error_at is None:
        state = "no_deliveries"
    elif backing_off:
        state = "backing_off"
    elif failing:
        state = "failing"
    else:
        state = "ok"
    return {
        "channel_type": channel_type,
        "state": state,
        "last_synced_at": _iso(synced),
        "last_polled_at": _iso(row.last_poll_at),
        "last_error": row.last_error,
        "last_error_at": _iso(row.last_error_at),
        "lag_seconds": seconds,
        "lag_basis": basis,
        "newest_item_at": _iso(row.newest_item_at),
        "error_count": row.error_count or 0,
        "consecutive_failures": max(row.poll_failures or 0, row.consecutive_failures or 0),
        "backing_off": backing_off,
        "backoff_until": _iso(row.backoff_until) if backing_off else None,
        "refused_count": row.refused_count or 0,
        "last_refusal": row.last_refusal,
        "last_refusal_at": _iso(row.last_refusal_at),
        "deferred_count": row.deferred_count or 0,
        "breaker": breaker,
    }


async def channel_health(
    session: AsyncSession,
    channel: m.ChannelSource,
    *,
    polled: bool = True,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The health view of one channel (without its breaker, which lives in the kernel)."""
    row = await session.scalar(
        select(m.ConnectionHealth).where(
            m.ConnectionHealth.kind == KIND, m.ConnectionHealth.connection_id == channel.id
        )
    )
    return view(row, now=now or utcnow(), channel_type=channel.type, polled=polled)
