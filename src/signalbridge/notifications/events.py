"""What a notice says, and which kinds exist: pure, no I/O.

Texts are plain (no ``parse_mode``), so a channel's name or a symbol can never inject
Markdown or HTML into a message, and are cut to Telegram's 4,096 characters. Every event
carries its natural key (``key``): the outbox stores one row per (chat, key), so the same
fill or close reported twice is sent once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

#: Telegram's limit on a message's text.
MAX_TEXT = 4096


class EventKind(StrEnum):
    SIGNAL_PUBLISHED = "signal_published"
    ORDER_FILLED = "order_filled"
    STOP_MOVED = "stop_moved"
    POSITION_CLOSED = "position_closed"
    CONNECTION_FAILING = "connection_failing"
    #: A plan's period ends (or renews) soon: services/entitlement_notices.py, once a period.
    SUBSCRIPTION_EXPIRING = "subscription_expiring"
    #: A plan no longer entitles its member (expiry, refund, dispute, revoked grant…): once.
    SUBSCRIPTION_ENDED = "subscription_ended"


ALL_KINDS: tuple[str, ...] = tuple(k.value for k in EventKind)
#: What a newly linked chat receives until its owner changes it: everything.
DEFAULT_KINDS: tuple[str, ...] = ALL_KINDS
#: Kinds only staff receive, and only about the channels they own.
STAFF_KINDS = frozenset({EventKind.SIGNAL_PUBLISHED.value})
_STAFF_ROLES = frozenset({"admin", "operator"})


def kinds_for(role: str) -> tuple[str, ...]:
    """The kinds a user of ``role`` may switch on (and gets on a newly linked chat)."""
    if role in _STAFF_ROLES:
        return DEFAULT_KINDS
    return tuple(k for k in DEFAULT_KINDS if k not in STAFF_KINDS)


@dataclass(frozen=True)
class Event:
    kind: EventKind
    key: str
    text: str
    #: A key prefix: this event makes still-unsent notices with keys under it pointless
    #: (a trailing stop's newest level replaces the levels before it in the queue).
    replaces: str | None = None

    def __post_init__(self) -> None:
        if len(self.text) > MAX_TEXT:
            object.__setattr__(self, "text", self.text[: MAX_TEXT - 1] + "…")


def _num(value: Decimal | None) -> str:
    return "-" if value is None else format(value.normalize(), "f")


def _clean(text: str, limit: int = 200) -> str:
    """One line of untrusted text (a channel's name): no control characters, bounded."""
    flat = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    return flat[:limit]


def signal_published(
    signal_id: int,
    channel_name: str,
    symbol: str,
    side: str,
    entry_low: Decimal | None,
    entry_high: Decimal | None,
    stop_loss: Decimal | None,
    take_profits: Sequence[object],
) -> Event:
    if entry_low is None and entry_high is None:
        entry = "market"
    elif entry_low == entry_high or entry_high is None:
        entry = _num(entry_low)
    else:
        entry = f"{_num(entry_low)} - {_num(entry_high)}"
    targets = ", ".join(_clean(str(tp), 40) for tp in take_profits) or "-"
    text = (
        f"Signal #{signal_id} published on {_clean(channel_name)}\n"
        f"{_clean(symbol, 40)} {side.upper()} entry {entry}\n"
        f"SL {_num(stop_loss)} | TP {targets}"
    )
    return Event(EventKind.SIGNAL_PUBLISHED, f"signal:{signal_id}:published", text)


def order_filled(
    order_id: int,
    symbol: str,
    side: str,
    amount: Decimal,
    price: Decimal | None,
    leg: str,
) -> Event:
    text = (
        f"Order #{order_id} filled: {side.upper()} {_num(amount)} {_clean(symbol, 40)}"
        f" at {_num(price)} (leg {_clean(leg, 16)})"
    )
    return Event(EventKind.ORDER_FILLED, f"order:{order_id}:filled", text)


def stop_moved(position_id: int, symbol: str, old: Decimal | None, new: Decimal | None) -> Event:
    text = (
        f"Position #{position_id} {_clean(symbol, 40)}: stop moved from {_num(old)} to {_num(new)}"
    )
    prefix = f"position:{position_id}:sl:"
    return Event(EventKind.STOP_MOVED, prefix + _num(new), text, replaces=prefix)


def position_closed(
    position_id: int, symbol: str, side: str, realized_pnl: Decimal, fees: Decimal
) -> Event:
    text = (
        f"Position #{position_id} {_clean(symbol, 40)} {side.upper()} closed:"
        f" PnL {_num(realized_pnl)} (fees {_num(fees)} included)"
    )
    return Event(EventKind.POSITION_CLOSED, f"position:{position_id}:closed", text)


def connection_failing(
    kind: str, connection_id: int, name: str, reason: str, since: str, error: str | None
) -> Event:
    """``reason``: ``authentication`` or ``breaker_open``; ``since`` names the failure
    streak (its start), so one streak is reported once per reason."""
    what = (
        "its credentials were refused"
        if reason == "authentication"
        else "it keeps failing; calls are paused (circuit breaker open)"
    )
    text = f"Connection {_clean(name)} ({kind} #{connection_id}): {what}."
    if error:
        text += f"\nLast error: {_clean(error, 300)}"
    return Event(
        EventKind.CONNECTION_FAILING,
        f"connection:{kind}:{connection_id}:{reason}:{since}"[:160],
        text,
    )


def _when(value: datetime) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def subscription_expiring(
    source: str, source_id: int, plan_name: str, ends_at: datetime, *, renews: bool
) -> Event:
    """A reminder before ``ends_at``; ``renews``: the provider will try to charge again.
    One per (subscription or grant, period end)."""
    what = "grant of plan" if source == "grant" else "subscription to"
    if renews:
        text = f"Your {what} {_clean(plan_name)} renews on {_when(ends_at)}."
    else:
        text = (
            f"Your {what} {_clean(plan_name)} ends on {_when(ends_at)}: copying of its "
            "channels stops then."
        )
    key = f"{source}:{source_id}:expiring:{ends_at.astimezone(UTC).isoformat()}"
    return Event(EventKind.SUBSCRIPTION_EXPIRING, key[:160], text)


def subscription_ended(
    source: str, source_id: int, plan_name: str, ended_at: datetime, why: str
) -> Event:
    """The end of a subscription's or grant's entitlement, once per end."""
    what = "grant of plan" if source == "grant" else "subscription to"
    text = (
        f"Your {what} {_clean(plan_name)} has ended ({_clean(why, 300)}). New signals of "
        "its channels are no longer copied; open positions keep their stop loss and targets."
    )
    key = f"{source}:{source_id}:ended:{ended_at.astimezone(UTC).isoformat()}"
    return Event(EventKind.SUBSCRIPTION_ENDED, key[:160], text)
