"""A channel's track record: every signal as posted and as a reference account executed it.

**The reference account.** A channel's record is kept by a paper connection that follows
every signal of the channel with fixed risk: 1 % of a nominal 10,000 (:data:`RISK_AMOUNT`,
100 of the market's margin asset) lost at the signal's stop. It is owned by one system
user (:data:`REFERENCE_EMAIL`: role member, inactive, a password hash nothing verifies
against), so nobody can log in as it and a member never sees its rows (they are not its
own); ``track_record_accounts`` names the connection and follow of each channel.

The follow sizes with ``risk_percent`` on a paper balance of :data:`VENUE_BALANCE`, so
the percentage of it is the fixed amount and the balance never limits what the
reference can open (margin, earlier losses); a headroom of one part per million keeps
the budget at or just above :data:`RISK_AMOUNT` while up to 10⁶ of the balance is held
or lost, so the amount is what ``RISK_AMOUNT / |entry - stop|`` rounds down to. Signals
without a stop cannot be sized by risk: they are recorded as skipped. The follow's age
limit is the longest the planner allows, so a signal approved from review still trades.

**The figures** (:func:`track_record`) come from the reference connection's own rows:
realised PnL as the recorder wrote it and open PnL marked as ``services/pnl.py`` marks
it (:func:`~signalbridge.services.pnl.position_pnl`), entry slippage and latency as
``services/execution_quality.py`` measures each order
(:func:`~signalbridge.services.execution_quality.figures_of`), and the statistics of
``domain/track_record.py``. The stop a trade opened with is the first stop rested on the
venue for it (``s1``), else the signal's stop.

**The chart**: :func:`price_markers` (where the signals were posted and the reference
filled), :func:`candles` (bars from the reference connection's venue through the
adapters' optional ``fetch_candles``: ccxt's OHLCV, the paper venue's own feed) and
:func:`recorded_prices` (what the platform itself recorded: the reference's fills and its
last mark), for when the venue has no bars.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any, Final, Literal

from sqlalchemy import Select, and_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.domain.legs import STOP_ROLE, is_entry_leg, resting_leg
from signalbridge.domain.market import Candle
from signalbridge.domain.pnl import Contract, average_entry
from signalbridge.domain.track_record import (
    ClosedTrade,
    CurvePoint,
    TrackRecordStats,
    pnl_curve,
    track_record_stats,
)
from signalbridge.execution.funding import pnl_asset_of
from signalbridge.execution.planner import MAX_SIGNAL_AGE_SECONDS, risk_settings, sizing_config
from signalbridge.execution.pool import AdapterPool
from signalbridge.execution.quality import latency_ms
from signalbridge.integrations.errors import IntegrationError
from signalbridge.services import access, audit
from signalbridge.services.auth import Principal
from signalbridge.services.execution_quality import ORDER_COLUMNS, OrderQuality, figures_of
from signalbridge.services.pnl import position_pnl
from signalbridge.store import models as m
from signalbridge.store.db import insert_ignore
from signalbridge.venues.candles import SupportsCandles
from signalbridge.venues.paper.registration import PaperConfig

__all__ = [
    "REFERENCE_EMAIL",
    "RISK_AMOUNT",
    "STARTING_BALANCE",
    "AssetRecord",
    "ChannelInfo",
    "ExecutedTrade",
    "PostedSignal",
    "PriceMarker",
    "PricePoint",
    "ReferenceAccount",
    "ReferenceUserTaken",
    "SignalRow",
    "TrackRecord",
    "candles",
    "ensure_track_record_account",
    "ensure_track_record_accounts",
    "price_markers",
    "readable_channel",
    "recorded_prices",
    "reference_account",
    "reference_connections",
    "set_track_record",
    "track_record",
]

#: The system user that owns every reference account; ``.invalid`` is never delivered.
REFERENCE_EMAIL: Final = "track-record@signalbridge.invalid"
#: Not an argon2 hash: no password verifies against it.
NO_PASSWORD: Final = "!"  # noqa: S105 - a marker that no password matches, not a secret
#: The nominal balance the record is drawn against, and the share of it risked per signal.
STARTING_BALANCE: Final = Decimal(10_000)
RISK_PERCENT: Final = Decimal(1)
RISK_AMOUNT: Final = STARTING_BALANCE * RISK_PERCENT / 100
#: What the paper venue holds for the reference (USDT and USD): never the limit.
VENUE_BALANCE: Final = Decimal(10) ** 12
#: The sizing budget's headroom over RISK_AMOUNT (see the module).
HEADROOM: Final = Decimal("1.000001")
#: The venue every reference account trades on (the execution-quality views' name).
REFERENCE_VENUE: Final = "paper"
#: The currency the record is counted in when it has no trade yet.
DEFAULT_ASSET: Final = "USDT"
#: Feed and listing keys copied from the platform's first paper account: connections
#: share one paper exchange per process, built by whichever is used first.
SHARED_PAPER_KEYS: Final = ("feed", "markets")

RowStatus = Literal[
    "review",  # waiting in the review desk
    "rejected",  # refused by a reviewer or the pipeline
    "waiting",  # accepted, not dispatched yet
    "not_followed",  # dispatched while the channel had no reference account, or it was off
    "pending",  # the reference's execution is not planned yet
    "placed",  # orders rest on the venue, nothing filled
    "skipped",  # the reference did not trade it (the reason says why)
    "failed",
    "open",
    "closed",
    "ended",  # the execution ended without a position (entries cancelled)
]
MarkerKind = Literal["signal", "entry", "exit"]


# --- what the record shows ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    id: int
    name: str
    type: str
    visibility: str
    #: the track record is open to anyone (``channel_sources.track_record_public``)
    public: bool


@dataclass(frozen=True, slots=True)
class ReferenceAccount:
    """The paper connection and follow keeping a channel's record."""

    channel_id: int
    connection_id: int
    follow_id: int
    #: the follow takes new signals (False: disabled, open positions still managed)
    enabled: bool
    since: datetime
    starting_balance: Decimal = STARTING_BALANCE
    risk_percent: Decimal = RISK_PERCENT


@dataclass(frozen=True, slots=True)
class PostedSignal:
    """A signal as the channel posted it and the parser read it."""

    signal_id: int
    message_id: int
    text: str
    symbol: str
    side: str
    order_type: str
    entry_low: Decimal | None
    entry_high: Decimal | None
    stop_loss: Decimal | None
    take_profits: tuple[Decimal, ...]
    leverage: int | None
    confidence: Decimal
    status: str
    parsed_by: str | None
    received_at: datetime


@dataclass(frozen=True, slots=True)
class ExecutedTrade:
    """The signal as the reference account executed it (money in ``pnl_asset``)."""

    execution_id: int
    status: str
    reason: str | None
    position_id: int | None = None
    pnl_asset: str | None = None
    #: what the entries filled
    amount: Decimal | None = None
    entry_price: Decimal | None = None
    entry_at: datetime | None = None
    #: the stop the position opened with (the R's risk)
    stop_at_open: Decimal | None = None
    exit_price: Decimal | None = None
    exit_at: datetime | None = None
    close_reason: str | None = None
    realised_pnl: Decimal | None = None
    #: open PnL at the last mark (None: closed, or open and not marked yet)
    unrealised_pnl: Decimal | None = None
    r_multiple: Decimal | None = None
    #: entry slippage, fill-weighted over the entry orders, positive when worse
    slippage_bps: Decimal | None = None
    #: signal received → first entry fill
    latency_ms: Decimal | None = None


@dataclass(frozen=True, slots=True)
class SignalRow:
    status: RowStatus
    posted: PostedSignal
    executed: ExecutedTrade | None


@dataclass(frozen=True, slots=True)
class AssetRecord:
    """The statistics and PnL curve of the closed trades counted in one asset."""

    asset: str
    stats: TrackRecordStats
    curve: tuple[CurvePoint, ...]


@dataclass(frozen=True, slots=True)
class TrackRecord:
    """A channel's record: ``stats`` and ``curve`` are those of ``asset`` (the asset most
    closed trades count PnL in; ``by_asset`` holds every asset's); ``rows`` are the
    channel's signals, newest first, one page of them."""

    channel: ChannelInfo
    account: ReferenceAccount | None
    asset: str
    stats: TrackRecordStats
    curve: tuple[CurvePoint, ...]
    by_asset: Mapping[str, AssetRecord]
    rows: tuple[SignalRow, ...]
    open_positions: int


@dataclass(frozen=True, slots=True)
class PriceMarker:
    """A point for the price chart: a signal posted (at its entry level, ``None`` for a
    market order) or a fill of the reference account."""

    symbol: str
    kind: MarkerKind
    at: datetime
    price: Decimal | None
    side: str
    signal_id: int
    leg: str | None = None
    amount: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PricePoint:
    """A price the platform recorded: a reference fill, or its last mark."""

    at: datetime
    price: Decimal
    source: Literal["fill", "mark"]


# --- the reference account --------------------------------------------------------------


def reference_sizing() -> dict[str, Any]:
    """The follow's sizing: RISK_AMOUNT (with its headroom) as a percentage of VENUE_BALANCE,
    at 1x whatever the signal says (leverage moves only the margin, never the PnL)."""
    value = RISK_AMOUNT * HEADROOM * 100 / VENUE_BALANCE
    return {
        "mode": "risk_percent",
        "value": format(value.normalize(), "f"),
        "leverage": 1,
        "use_signal_leverage": False,
    }


def reference_risk() -> dict[str, Any]:
    """The follow's guards: any age the planner allows (items approved from review)."""
    return {"max_signal_age_seconds": MAX_SIGNAL_AGE_SECONDS}


def reference_config(shared: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The paper connection's config: futures (shorts trade), the large balance, its own
    paper account (an id nobody can guess), and the feed and listing of ``shared``."""
    balance = format(VENUE_BALANCE, "f")
    config: dict[str, Any] = {
        "account_id": f"track-record-{secrets.token_hex(12)}",
        "futures": True,
        "balances": {"USDT": balance, "USD": balance},
    }
    for key in SHARED_PAPER_KEYS:
        if shared and shared.get(key) is not None:
            config[key] = shared[key]
    PaperConfig.model_validate(config)  # what the connection form would refuse
    return config


def _checked_follow_settings() -> tuple[dict[str, Any], dict[str, Any]]:
    """The follow's sizing and risk, validated by the execution layer's own schemas."""
    sizing, risk = reference_sizing(), reference_risk()
    sizing_config(sizing)
    risk_settings(risk)
    return sizing, risk


def reference_connections() -> Select[tuple[int]]:
    """SQL: the ids of every reference connection (for views that must leave them out)."""
    return select(m.TrackRecordAccount.connection_id)


class ReferenceUserTaken(Exception):
    """:data:`REFERENCE_EMAIL` belongs to a user that is not the system user (one with a
    password): its accounts would be someone's to log in to, so none is made."""

    def __init__(self) -> None:
        self.message = (
            f"the track record's system user {REFERENCE_EMAIL} is a user with a password; "
            "rename that user first"
        )
        super().__init__(self.message)


async def system_user_id(session: AsyncSession) -> int:
    """The owner of every reference account, created on first need (idempotent).

    Raises :class:`ReferenceUserTaken` when the email was taken by a real user first.
    """
    query = select(m.User.id, m.User.password_hash).where(m.User.email == REFERENCE_EMAIL)
    found = (await session.execute(query)).first()
    if found is None:
        await insert_ignore(
            session,
            m.User,
            {
                "email": REFERENCE_EMAIL,
                "password_hash": NO_PASSWORD,
                "role": m.Role.MEMBER,
                "is_active": False,
                "signup_pending": False,
            },
            ("email",),
        )
        found = (await session.execute(query)).first()
    assert found is not None  # inserted above, or by a concurrent first need
    user_id, password_hash = found
    if password_hash != NO_PASSWORD:
        raise ReferenceUserTaken()
    return int(user_id)


async def reference_account(session: AsyncSession, channel_id: int) -> ReferenceAccount | None:
    """The channel's reference account, if it has one."""
    row = (
        await session.execute(
            select(m.TrackRecordAccount, m.Follow.is_active)
            .join(m.Follow, m.Follow.id == m.TrackRecordAccount.follow_id)
            .where(m.TrackRecordAccount.channel_id == channel_id)
        )
    ).first()
    if row is None:
        return None
    account, active = row
    return ReferenceAccount(
        channel_id=account.channel_id,
        connection_id=account.connection_id,
        follow_id=account.follow_id,
        enabled=bool(active),
        since=account.created_at,
    )


async def ensure_track_record_account(
    session: AsyncSession,
    channel_id: int,
    *,
    actor: str = "system",
    actor_id: int | None = None,
) -> ReferenceAccount:
    """The channel's reference account, created (connection, follow, row, audit) when it
    has none; one per channel whoever else creates it at the same time (the second
    writer's rows are rolled back with its savepoint). Raises LookupError for a channel
    that does not exist, :class:`ReferenceUserTaken` when the system user's email is a
    real user's."""
    found = await reference_account(session, channel_id)
    if found is not None:
        return found
    channel = await session.get(m.ChannelSource, channel_id)
    if channel is None:
        raise LookupError(f"channel {channel_id} not found")
    owner = await system_user_id(session)
    shared = await session.scalar(  # the platform's first paper account, if any
        select(m.ExecutionConnection.config)
        .where(m.ExecutionConnection.type == REFERENCE_VENUE)
        .order_by(m.ExecutionConnection.id)
        .limit(1)
    )
    try:
        async with session.begin_nested():
            connection = m.ExecutionConnection(
                name=f"Track record: {channel.name}"[:200],
                type=REFERENCE_VENUE,
                config=reference_config(shared),
                owner_id=owner,
                is_active=True,
            )
            session.add(connection)
            await session.flush()
            sizing, risk = _checked_follow_settings()
            follow = m.Follow(
                connection_id=connection.id,
                channel_id=channel_id,
                is_active=True,
                sizing=sizing,
                risk=risk,
                management={},
            )
            session.add(follow)
            await session.flush()
            session.add(
                m.TrackRecordAccount(
                    channel_id=channel_id, connection_id=connection.id, follow_id=follow.id
                )
            )
            await session.flush()
    except IntegrityError:  # another writer made it first: theirs stands
        made = await reference_account(session, channel_id)
        if made is None:
            raise
        return made
    for entity, row_id, changes in (
        ("connection", connection.id, {"name": connection.name, "type": REFERENCE_VENUE}),
        ("follow", follow.id, {"connection_id": connection.id, "channel_id": channel_id}),
        ("channel", channel_id, {"track_record": [None, connection.id]}),
    ):
        await audit.record(
            session,
            actor=actor,
            actor_id=actor_id,
            action="create" if entity != "channel" else "update",
            entity=entity,
            entity_id=row_id,
            changes=changes,
        )
    made = await reference_account(session, channel_id)
    assert made is not None  # written above, in this transaction
    return made


async def set_track_record(
    session: AsyncSession,
    channel_id: int,
    enabled: bool,
    *,
    actor: str = "system",
    actor_id: int | None = None,
) -> ReferenceAccount | None:
    """Turn a channel's record on (its account made on first need) or off (its follow
    takes no new signal; positions already open are still managed to their exits).
    Returns the account (``None``: off and never made). LookupError: no such channel."""
    account: ReferenceAccount | None
    if enabled:
        account = await ensure_track_record_account(
            session, channel_id, actor=actor, actor_id=actor_id
        )
    else:
        if await session.get(m.ChannelSource, channel_id) is None:
            raise LookupError(f"channel {channel_id} not found")
        account = await reference_account(session, channel_id)
    if account is None or account.enabled == enabled:
        return account
    follow = await session.get_one(m.Follow, account.follow_id)
    follow.is_active = enabled
    await audit.record(
        session,
        actor=actor,
        actor_id=actor_id,
        action="update",
        entity="follow",
        entity_id=follow.id,
        changes={"is_active": [not enabled, enabled], "track_record": channel_id},
    )
    await session.flush()
    return await reference_account(session, channel_id)


async def ensure_track_record_accounts(
    session: AsyncSession, *, actor: str = "system", actor_id: int | None = None
) -> list[int]:
    """A sweep: give every channel without a reference account one; the channels done."""
    missing = await session.scalars(
        select(m.ChannelSource.id)
        .where(m.ChannelSource.id.not_in(select(m.TrackRecordAccount.channel_id)))
        .order_by(m.ChannelSource.id)
    )
    done = []
    for channel_id in missing.all():
        await ensure_track_record_account(session, channel_id, actor=actor, actor_id=actor_id)
        done.append(channel_id)
    return done


# --- who may read a record --------------------------------------------------------------


async def readable_channel(
    session: AsyncSession, channel_id: int, who: Principal | None
) -> m.ChannelSource | None:
    """The channel if ``who`` may read its record: whoever may read the channel
    (services/access.py), and anyone (``None``: not logged in) when the record is public.
    ``None`` otherwise, for a missing channel alike."""
    if who is not None:
        try:
            row: m.ChannelSource = await access.find(session, "channel", channel_id, who)
            return row
        except access.NotFound:
            pass
    channel = await session.get(m.ChannelSource, channel_id)
    return channel if channel is not None and channel.track_record_public else None


# --- reading the record -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Fill:
    """What one order filled: at its average price (else its limit), at its fill time
    (else when the row last changed: a partial fill has no fill time of its own)."""

    leg: str
    side: str
    amount: Decimal
    price: Decimal
    at: datetime

    @property
    def entry(self) -> bool:
        return is_entry_leg(self.leg)


@dataclass
class _Execution:
    """One reference execution with everything its row and its trade need."""

    row: m.Execution
    signal: m.Signal
    position: m.Position | None = None
    contract_size: Decimal | None = None
    mark: tuple[Decimal, datetime] | None = None
    orders: list[OrderQuality] = field(default_factory=list)
    fills: list[_Fill] = field(default_factory=list)
    stops: dict[int, Decimal] = field(default_factory=dict)  # resting generation → level

    @property
    def opened(self) -> Decimal:
        return sum((f.amount for f in self.fills if f.entry), Decimal(0))

    def stop_at_open(self) -> Decimal | None:
        """The first stop rested for the position, else the signal's (the position's own
        may have moved since: break-even, trailing, a provider's update)."""
        if self.stops:
            return self.stops[min(self.stops)]
        return self.signal.stop_loss

    def exit_price(self) -> Decimal | None:
        exits = [(f.amount, f.price) for f in self.fills if not f.entry]
        inverse = self.position is not None and self.position.inverse
        price = average_entry(exits, inverse)
        return price if price > 0 else None

    def entry_at(self) -> datetime | None:
        times = [f.at for f in self.fills if f.entry]
        if self.position is not None:
            times.append(self.position.opened_at)
        return min(times) if times else None

    def slippage_bps(self) -> Decimal | None:
        measured = [
            (o.filled, o.slippage_bps)
            for o in self.orders
            if is_entry_leg(o.leg) and o.slippage_bps is not None and o.filled > 0
        ]
        total = sum((f for f, _ in measured), Decimal(0))
        if total <= 0:
            return None
        return sum((f * bps for f, bps in measured), Decimal(0)) / total

    def latency_ms(self) -> Decimal | None:
        return latency_ms(self.signal.received_at, self.entry_at())

    def contract(self) -> Contract:
        inverse = self.position is not None and self.position.inverse
        return Contract(self.contract_size or Decimal(1), inverse)

    def closed_trade(self) -> ClosedTrade | None:
        position = self.position
        if position is None or position.status != m.PositionStatus.CLOSED:
            return None
        return ClosedTrade(
            long=position.side == "long",
            entry=position.entry_price,
            exit=self.exit_price(),
            amount=self.opened,
            stop=self.stop_at_open(),
            pnl=position.realized_pnl,
            opened_at=self.entry_at() or position.opened_at,
            closed_at=position.closed_at or position.updated_at,
            contract=self.contract(),
            slippage_bps=self.slippage_bps(),
            latency_ms=self.latency_ms(),
        )

    def executed(self) -> ExecutedTrade:
        row, position = self.row, self.position
        if position is None:
            return ExecutedTrade(execution_id=row.id, status=row.status, reason=row.reason)
        trade = self.closed_trade()
        pnl = position_pnl(position, self.contract_size, self.mark)
        is_open = position.status == m.PositionStatus.OPEN
        return ExecutedTrade(
            execution_id=row.id,
            status=row.status,
            reason=row.reason,
            position_id=position.id,
            pnl_asset=pnl.asset,
            amount=self.opened,
            entry_price=position.entry_price,
            entry_at=self.entry_at(),
            stop_at_open=self.stop_at_open(),
            exit_price=self.exit_price(),
            exit_at=position.closed_at,
            close_reason=position.close_reason,
            realised_pnl=position.realized_pnl,
            unrealised_pnl=pnl.unrealised if is_open else None,
            r_multiple=trade.r_multiple if trade is not None else None,
            slippage_bps=self.slippage_bps(),
            latency_ms=self.latency_ms(),
        )

    def status(self) -> RowStatus:
        if self.position is not None:
            return "open" if self.position.status == m.PositionStatus.OPEN else "closed"
        status = self.row.status
        if status in m.ExecutionStatus.NOT_STARTED:
            return "pending"
        if status == m.ExecutionStatus.OPEN:
            return "placed"
        if status == m.ExecutionStatus.SKIPPED:
            return "skipped"
        if status == m.ExecutionStatus.FAILED:
            return "failed"
        return "ended"


async def _executions(session: AsyncSession, connection_id: int) -> dict[int, _Execution]:
    """The reference connection's executions by signal id, with their positions, marks,
    orders and fills: two queries."""
    query = (
        select(
            m.Execution,
            m.Signal,
            m.Position,
            m.MarkPrice.price,
            m.MarkPrice.at,
        )
        .join(m.Signal, m.Signal.id == m.Execution.signal_id)
        .outerjoin(m.Position, m.Position.execution_id == m.Execution.id)
        .outerjoin(
            m.MarkPrice,
            and_(
                m.MarkPrice.connection_id == m.Execution.connection_id,
                m.MarkPrice.symbol == m.Signal.symbol,
            ),
        )
        .where(m.Execution.connection_id == connection_id)
    )
    found: dict[int, _Execution] = {}
    by_id: dict[int, _Execution] = {}
    for execution, signal, position, price, at in (await session.execute(query)).all():
        item = _Execution(
            execution,
            signal,
            position,
            execution.contract_size,
            None if price is None or at is None else (price, at),
        )
        found[signal.id] = by_id[execution.id] = item
    if not by_id:
        return found
    await _attach_orders(session, connection_id, by_id)
    return found


async def _attach_orders(
    session: AsyncSession, connection_id: int, by_id: dict[int, _Execution]
) -> None:
    """Each execution's sent orders measured as the execution-quality views measure them,
    its fills and its resting stops' levels."""
    rows = (
        await session.execute(
            select(
                *ORDER_COLUMNS,
                m.Order.price,
                m.Order.stop_price,
                m.Order.updated_at,
            )
            .join(m.Execution, m.Execution.id == m.Order.execution_id)
            .join(m.Signal, m.Signal.id == m.Execution.signal_id)
            .where(m.Order.connection_id == connection_id)
            .order_by(m.Order.id)
        )
    ).all()
    for row in rows:
        item = by_id.get(row.execution_id)
        if item is None:
            continue
        resting = resting_leg(row.leg)
        if resting is not None and resting[0] == STOP_ROLE and row.stop_price is not None:
            item.stops.setdefault(resting[1], row.stop_price)
        if row.filled > 0:
            price = row.average_price or row.price
            if price is not None:
                at = row.filled_at or row.updated_at
                item.fills.append(_Fill(row.leg, row.side, row.filled, price, at))
        if row.sent_at is not None:
            position = item.position
            item.orders.append(
                figures_of(
                    row,
                    REFERENCE_VENUE,
                    inverse=position is not None and position.inverse,
                    pnl_asset=position.pnl_asset if position is not None else None,
                )
            )


def _posted(signal: m.Signal, text: str) -> PostedSignal:
    return PostedSignal(
        signal_id=signal.id,
        message_id=signal.message_id,
        text=text,
        symbol=signal.symbol,
        side=signal.side,
        order_type=signal.order_type,
        entry_low=signal.entry_low,
        entry_high=signal.entry_high,
        stop_loss=signal.stop_loss,
        take_profits=tuple(Decimal(str(tp)) for tp in signal.take_profits or ()),
        leverage=signal.leverage,
        confidence=signal.confidence,
        status=signal.status,
        parsed_by=signal.parsed_by,
        received_at=signal.received_at,
    )


def _row_status(signal: m.Signal, item: _Execution | None) -> RowStatus:
    if item is not None:
        return item.status()
    if signal.status == m.SignalStatus.REVIEW:
        return "review"
    if signal.status == m.SignalStatus.REJECTED:
        return "rejected"
    if signal.status == m.SignalStatus.ACCEPTED:
        return "waiting"
    return "not_followed"


def _by_asset(items: Iterable[_Execution]) -> dict[str, AssetRecord]:
    """Closed trades' statistics and curve per asset their PnL is counted in."""
    trades: dict[str, list[ClosedTrade]] = {}
    for item in items:
        trade = item.closed_trade()
        if trade is not None and item.position is not None:
            trades.setdefault(pnl_asset_of(item.position), []).append(trade)
    return {
        asset: AssetRecord(
            asset,
            track_record_stats(trades[asset], STARTING_BALANCE),
            tuple(pnl_curve(trades[asset])),
        )
        for asset in sorted(trades)
    }


def _empty(asset: str) -> AssetRecord:
    stats = track_record_stats((), STARTING_BALANCE)
    return AssetRecord(asset, stats, ())


async def track_record(
    session: AsyncSession,
    channel_id: int,
    *,
    limit: int = 100,
    before_id: int | None = None,
) -> TrackRecord:
    """The channel's record: statistics over every closed trade of its reference account,
    and its signals newest first (``limit`` of them, older than ``before_id`` if given).

    The caller checks who may read it (:func:`readable_channel`). LookupError: no such
    channel.
    """
    channel = await session.get(m.ChannelSource, channel_id)
    if channel is None:
        raise LookupError(f"channel {channel_id} not found")
    account = await reference_account(session, channel_id)
    page = select(m.Signal, m.Message.text).join(m.Message, m.Message.id == m.Signal.message_id)
    page = page.where(m.Signal.channel_id == channel_id)
    if before_id is not None:
        page = page.where(m.Signal.id < before_id)
    signals = (await session.execute(page.order_by(m.Signal.id.desc()).limit(limit))).all()
    executions = await _executions(session, account.connection_id) if account else {}
    by_asset = _by_asset(executions.values())
    ranked = sorted(by_asset, key=lambda a: (-by_asset[a].stats.count, a))
    asset = ranked[0] if ranked else DEFAULT_ASSET
    primary = by_asset.get(asset) or _empty(asset)
    rows = []
    for signal, text in signals:
        item = executions.get(signal.id)
        executed = item.executed() if item is not None else None
        rows.append(SignalRow(_row_status(signal, item), _posted(signal, text), executed))
    return TrackRecord(
        channel=ChannelInfo(
            channel.id, channel.name, channel.type, channel.visibility, channel.track_record_public
        ),
        account=account,
        asset=asset,
        stats=primary.stats,
        curve=primary.curve,
        by_asset=by_asset,
        rows=tuple(rows),
        open_positions=sum(
            1
            for x in executions.values()
            if x.position is not None and x.position.status == m.PositionStatus.OPEN
        ),
    )


# --- the chart --------------------------------------------------------------------------


async def price_markers(
    session: AsyncSession, channel_id: int, symbol: str | None = None
) -> dict[str, list[PriceMarker]]:
    """Per symbol, oldest first: where each signal was posted (its entry level) and where
    the reference account's orders filled (entries and exits), with times and prices."""
    signals = select(m.Signal).where(m.Signal.channel_id == channel_id)
    if symbol is not None:
        signals = signals.where(m.Signal.symbol == symbol)
    out: dict[str, list[PriceMarker]] = {}
    for signal in (await session.scalars(signals.order_by(m.Signal.id))).all():
        long = signal.side == "long"
        level = signal.entry_high if long else signal.entry_low
        side = "buy" if long else "sell"
        out.setdefault(signal.symbol, []).append(
            PriceMarker(signal.symbol, "signal", signal.received_at, level, side, signal.id)
        )
    account = await reference_account(session, channel_id)
    if account is not None:
        for item in (await _executions(session, account.connection_id)).values():
            if symbol is not None and item.signal.symbol != symbol:
                continue
            for fill in item.fills:
                out.setdefault(item.signal.symbol, []).append(
                    PriceMarker(
                        item.signal.symbol,
                        "entry" if fill.entry else "exit",
                        fill.at,
                        fill.price,
                        fill.side,
                        item.signal.id,
                        fill.leg,
                        fill.amount,
                    )
                )
    for markers in out.values():
        markers.sort(key=lambda x: (x.at, x.signal_id, x.kind != "signal"))
    return out


async def candles(
    pool: AdapterPool,
    connection_id: int,
    symbol: str,
    timeframe: str = "1h",
    limit: int = 200,
) -> list[Candle]:
    """Recent bars of ``symbol`` from the reference connection's venue, oldest first,
    through the adapters' optional ``fetch_candles`` (behind the connection's guard, as
    the AI analyst reads them); empty when the venue has none or cannot answer.

    The paper venue builds its bars from the prices its feed applied in this process
    (bounded, in memory): a process that does not tick the feed has no history to show.
    Open no database session around this call (the pool opens its own).
    """
    try:
        live = await pool.get(connection_id)
    except IntegrationError:
        return []
    adapter = live.adapter
    if not isinstance(adapter, SupportsCandles):
        return []
    try:
        return await live.read(partial(adapter.fetch_candles, symbol, timeframe, limit))
    except IntegrationError:
        return []


async def recorded_prices(session: AsyncSession, channel_id: int, symbol: str) -> list[PricePoint]:
    """``symbol``'s prices as the platform recorded them for the channel's reference
    account, oldest first: each fill (time, average price) and the last mark the position
    monitor wrote. A line to draw when the venue gives no bars."""
    account = await reference_account(session, channel_id)
    if account is None:
        return []
    points = [
        PricePoint(fill.at, fill.price, "fill")
        for item in (await _executions(session, account.connection_id)).values()
        if item.signal.symbol == symbol
        for fill in item.fills
    ]
    mark = await session.get(m.MarkPrice, (account.connection_id, symbol))
    if mark is not None:
        points.append(PricePoint(mark.at, mark.price, "mark"))
    points.sort(key=lambda p: (p.at, p.source))
    return points
