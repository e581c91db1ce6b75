"""The review desk: parses below their channel's confidence wait here for a human.

A signal or provider update read with less confidence than its channel's
``min_confidence`` is stored with status ``review`` (services/ingest.py) and goes no
further. A reviewer (whoever may change the channel: services/access.py) lists the
pending items, reads one with its message, then

- approves it: it runs through the same path as any other item (a signal's executions
  are written and queued once, an update is queued to be applied), unless it is older
  than its channel's ``max_signal_age_seconds``: then it is refused with the reason and
  closed, never executed;
- edits it: the corrected contract is read exactly like a webhook body (canonical JSON,
  services/interpret.py); a bad one changes nothing;
- rejects it.

Every decision is one conditional UPDATE from ``review`` (``WHERE status = 'review'``):
two reviewers racing each other change the item once, and the loser is told it is no
longer pending. Each step is audited in the transaction that makes it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final, Literal, cast

from sqlalchemy import CursorResult, Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.domain.signals import Parsed, Signal, SignalUpdate, fmt_decimal
from signalbridge.notifications import emit as notify
from signalbridge.services import access, ai_usage, audit
from signalbridge.services.auth import Principal
from signalbridge.services.dispatch import open_executions
from signalbridge.services.ingest import IngestResult
from signalbridge.services.interpret import interpret
from signalbridge.store import models as m
from signalbridge.store.types import utcnow

Kind = Literal["signal", "update"]
KINDS: Final[tuple[Kind, ...]] = ("signal", "update")
PENDING: Final = "review"  # the same word in both tables
_MODELS: Final[dict[Kind, type[m.Signal] | type[m.SignalUpdate]]] = {
    "signal": m.Signal,
    "update": m.SignalUpdate,
}
#: Where an approved item goes: a signal to dispatch, an update to be applied.
_APPROVED: Final[dict[Kind, str]] = {"signal": m.SignalStatus.ACCEPTED, "update": "received"}
_REJECTED: Final = "rejected"
MAX_REASON = 500
HandOn = Callable[[IngestResult], Awaitable[None]]


class ReviewError(Exception):
    """A refusal whose ``message`` is safe to show."""

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ItemNotFound(ReviewError):
    """Missing, or on a channel the caller may not review: the two are never told apart."""

    def __init__(self, kind: Kind, item_id: int) -> None:
        super().__init__(f"no {kind} {item_id} in review")


class NotPending(ReviewError):
    """Decided already (by someone else, or a moment ago)."""

    def __init__(self, kind: Kind, item_id: int, status: str) -> None:
        super().__init__(
            f"{kind} {item_id} is no longer in review (it is {status})", {"status": status}
        )


class Stale(ReviewError):
    """Older than its channel lets an item be executed: closed, never executed."""


class InvalidEdit(ReviewError):
    """The edited contract is not a valid item of this kind; nothing changed."""


@dataclass(frozen=True)
class Decision:
    kind: Kind
    item_id: int
    status: str
    execution_ids: tuple[int, ...] = field(default=())


def reviewable_channels(who: Principal) -> Select[Any]:
    """Channels whose items the caller may decide: those it may change."""
    return access.writable(select(m.ChannelSource.id), "channel", who)


def contract(kind: Kind, row: m.Signal | m.SignalUpdate) -> dict[str, Any]:
    """The item as canonical JSON: the shape an edit sends back, corrected."""
    if kind == "update":
        assert isinstance(row, m.SignalUpdate)
        body: dict[str, Any] = {"kind": "update", "action": row.action}
        if row.symbol is not None:
            body["symbol"] = row.symbol
        if row.value is not None:
            body["value"] = fmt_decimal(row.value)
        return body
    assert isinstance(row, m.Signal)
    body = {"kind": "signal", "symbol": row.symbol, "side": row.side}
    body["order_type"] = row.order_type
    if row.entry_low is not None and row.entry_high is not None:
        body["entry"] = {"low": fmt_decimal(row.entry_low), "high": fmt_decimal(row.entry_high)}
    if row.stop_loss is not None:
        body["stop_loss"] = fmt_decimal(row.stop_loss)
    body["take_profits"] = [fmt_decimal(Decimal(tp)) for tp in row.take_profits]
    if row.leverage is not None:
        body["leverage"] = row.leverage
    return body


def summary(kind: Kind, row: m.Signal | m.SignalUpdate, received_at: datetime) -> dict[str, Any]:
    return {
        "kind": kind,
        "id": row.id,
        "channel_id": row.channel_id,
        "message_id": row.message_id,
        "status": row.status,
        "confidence": fmt_decimal(row.confidence),
        "received_at": received_at.isoformat(),
        "parse": contract(kind, row),
    }


async def pending(
    session: AsyncSession,
    who: Principal,
    *,
    kind: Kind | None = None,
    channel_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The items waiting for the caller, oldest message first."""
    found: list[tuple[int, dict[str, Any]]] = []
    for each in (kind,) if kind is not None else KINDS:
        model = _MODELS[each]
        query = (
            select(model, m.Message.received_at)
            .join(m.Message, m.Message.id == model.message_id)
            .where(model.status == PENDING, model.channel_id.in_(reviewable_channels(who)))
            .order_by(model.message_id)
            .limit(limit)
        )
        if channel_id is not None:
            query = query.where(model.channel_id == channel_id)
        for found_row, received_at in (await session.execute(query)).all():
            row = cast(m.Signal | m.SignalUpdate, found_row)
            found.append((row.message_id, summary(each, row, received_at)))
    found.sort(key=lambda pair: pair[0])
    return [item for _, item in found[:limit]]


async def _load(
    session: AsyncSession, who: Principal, kind: Kind, item_id: int
) -> tuple[m.Signal | m.SignalUpdate, m.Message, m.ChannelSource]:
    model = _MODELS[kind]
    query = (
        select(model, m.Message, m.ChannelSource)
        .join(m.Message, m.Message.id == model.message_id)
        .join(m.ChannelSource, m.ChannelSource.id == model.channel_id)
        .where(model.id == item_id, model.channel_id.in_(reviewable_channels(who)))
    )
    row = (await session.execute(query)).one_or_none()
    if row is None:
        raise ItemNotFound(kind, item_id)
    return cast(m.Signal | m.SignalUpdate, row[0]), row[1], row[2]


async def show(session: AsyncSession, who: Principal, kind: Kind, item_id: int) -> dict[str, Any]:
    """One item with its message text, the parser's reasons and its review history."""
    row, message, channel = await _load(session, who, kind, item_id)
    body = summary(kind, row, message.received_at)
    history = await session.scalars(
        select(m.AuditEntry)
        .where(m.AuditEntry.entity == kind, m.AuditEntry.entity_id == str(item_id))
        .order_by(m.AuditEntry.id)
    )
    body.update(
        text=message.text,
        content_type=message.content_type,
        reasons=list(row.reasons) if isinstance(row, m.Signal) else [],
        channel={
            "id": channel.id,
            "name": channel.name,
            "min_confidence": fmt_decimal(channel.min_confidence),
            "max_signal_age_seconds": channel.max_signal_age_seconds,
        },
        history=[
            {"at": e.at.isoformat(), "actor": e.actor, "action": e.action, "changes": e.changes}
            for e in history
        ],
        # the AI's reading beside the rules' (services/ai_parsing.py), when it was asked
        parsed_by=row.parsed_by,
        ai_parses=await ai_usage.parses_of(session, message.id),
    )
    return body


async def _move(
    session: AsyncSession, kind: Kind, item_id: int, status: str, **values: Any
) -> bool:
    """The one conditional UPDATE out of review; True when this call made it."""
    model = _MODELS[kind]
    result = await session.execute(
        update(model)
        .where(model.id == item_id, model.status == PENDING)
        .values(status=status, **values)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount == 1


async def _settle_message(
    session: AsyncSession, message_id: int, status: str, error: str | None = None
) -> None:
    await session.execute(
        update(m.Message)
        .where(m.Message.id == message_id, m.Message.status == m.MessageStatus.REVIEW)
        .values(status=status, error=error)
        .execution_options(synchronize_session=False)
    )


def stale_reason(
    kind: Kind, item_id: int, channel: m.ChannelSource, received_at: datetime, now: datetime
) -> str | None:
    """Why an item is too old to execute now (its channel's limit), else None."""
    limit = channel.max_signal_age_seconds
    if limit is None:
        return None
    age = now - received_at
    if age <= timedelta(seconds=limit):
        return None
    return (
        f"{kind} {item_id} was received {int(age.total_seconds())} s ago, past channel "
        f"{channel.id}'s maximum signal age of {limit} s: it is not executed and is closed "
        "as rejected"
    )


async def approve(
    sessions: async_sessionmaker[AsyncSession],
    who: Principal,
    kind: Kind,
    item_id: int,
    hand_on: HandOn,
    *,
    now: Callable[[], datetime] = utcnow,
) -> Decision:
    """Send a pending item on its way (exactly once), or refuse it when stale."""
    stale: str | None = None
    async with sessions() as session, session.begin():
        row, message, channel = await _load(session, who, kind, item_id)
        if row.status != PENDING:
            raise NotPending(kind, item_id, row.status)
        stale = stale_reason(kind, item_id, channel, message.received_at, now())
        target = _REJECTED if stale is not None else _APPROVED[kind]
        if not await _move(session, kind, item_id, target):
            raise NotPending(kind, item_id, await _status(session, kind, item_id))
        await session.refresh(row)
        execution_ids: tuple[int, ...] = ()
        if stale is not None:
            if isinstance(row, m.Signal):
                row.reasons = [*row.reasons, stale]
            await _settle_message(session, message.id, m.MessageStatus.REJECTED, stale)
        else:
            await _settle_message(session, message.id, m.MessageStatus.PARSED)
            if isinstance(row, m.Signal):
                execution_ids = tuple(await open_executions(session, row))
                # published now, as the intake publishes a signal sure enough on arrival
                await notify.signal_published(session, row, channel)
        await audit.record_by(
            session,
            who,
            "expire" if stale else "approve",
            kind,
            item_id,
            {
                "status": [PENDING, row.status],
                "channel_id": channel.id,
                **({"reason": stale} if stale else {"executions": len(execution_ids)}),
            },
        )
        decision = Decision(kind, item_id, row.status, execution_ids)
    if stale is not None:
        raise Stale(stale, {"status": decision.status})
    # After the commit, as the intake does: the queue only wakes workers up, and the
    # sweeper finds the executions again if this task is lost.
    await hand_on(
        IngestResult(
            message.id,
            m.MessageStatus.PARSED,
            False,
            signal_id=item_id if kind == "signal" else None,
            update_id=item_id if kind == "update" else None,
            execution_ids=execution_ids,
        )
    )
    return decision


async def reject(
    sessions: async_sessionmaker[AsyncSession],
    who: Principal,
    kind: Kind,
    item_id: int,
    reason: str | None = None,
) -> Decision:
    """Close a pending item unexecuted, with the reviewer's reason."""
    why = f"rejected in review: {reason.strip()[:MAX_REASON]}" if reason else "rejected in review"
    async with sessions() as session, session.begin():
        row, message, channel = await _load(session, who, kind, item_id)
        if row.status != PENDING or not await _move(session, kind, item_id, _REJECTED):
            raise NotPending(kind, item_id, await _status(session, kind, item_id))
        await session.refresh(row)
        if isinstance(row, m.Signal):
            row.reasons = [*row.reasons, why]
        await _settle_message(session, message.id, m.MessageStatus.REJECTED, why)
        await audit.record_by(
            session,
            who,
            "reject",
            kind,
            item_id,
            {"status": [PENDING, _REJECTED], "channel_id": channel.id, "reason": why},
        )
        return Decision(kind, item_id, _REJECTED)


def read_edit(kind: Kind, body: str) -> Signal | SignalUpdate:
    """The corrected contract, read exactly like a webhook body (canonical JSON only).

    Raises :class:`InvalidEdit` with every problem; pure, so it runs before any
    transaction and a bad body changes nothing.
    """
    meaning = interpret(body, parse_text=False)
    parsed: Parsed | None = meaning.parsed
    if parsed is None:
        raise InvalidEdit("the edited item is not valid", list(meaning.problems))
    wanted = Signal if kind == "signal" else SignalUpdate
    if not isinstance(parsed, wanted):
        problem = (
            f'this item is a {kind}: send a contract with "kind": "{kind}" '
            "(reject the item if its message means something else)"
        )
        raise InvalidEdit("the edited item is not valid", [problem])
    return parsed


def stored_values(parsed: Signal | SignalUpdate) -> dict[str, Any]:
    """The item's columns for ``parsed`` (as the intake writes them)."""
    if isinstance(parsed, SignalUpdate):
        return {"symbol": parsed.symbol, "action": parsed.action.value, "value": parsed.value}
    return {
        "symbol": parsed.symbol,
        "side": parsed.side.value,
        "order_type": parsed.order_type.value,
        "entry_low": parsed.entry.low if parsed.entry else None,
        "entry_high": parsed.entry.high if parsed.entry else None,
        "stop_loss": parsed.stop_loss,
        "take_profits": [str(tp) for tp in parsed.take_profits],
        "leverage": parsed.leverage,
    }


async def edit(
    sessions: async_sessionmaker[AsyncSession],
    who: Principal,
    kind: Kind,
    item_id: int,
    body: str,
) -> dict[str, Any]:
    """Correct a pending item; it stays pending until approved. Returns the new detail."""
    parsed = read_edit(kind, body)  # before the transaction: a bad body changes nothing
    async with sessions() as session, session.begin():
        row, _, channel = await _load(session, who, kind, item_id)
        if row.status != PENDING:
            raise NotPending(kind, item_id, row.status)
        before = contract(kind, row)
        # Conditional like every step, so an edit never lands on an item just decided.
        if not await _move(session, kind, item_id, PENDING, **stored_values(parsed)):
            raise NotPending(kind, item_id, await _status(session, kind, item_id))
        await session.refresh(row)
        after = contract(kind, row)
        await audit.record_by(
            session,
            who,
            "edit",
            kind,
            item_id,
            {"channel_id": channel.id, **audit.diff(before, after)},
        )
        return await show(session, who, kind, item_id)


async def _status(session: AsyncSession, kind: Kind, item_id: int) -> str:
    model = _MODELS[kind]
    found = await session.scalar(
        select(model.status).where(model.id == item_id).execution_options(populate_existing=True)
    )
    return str(found)
