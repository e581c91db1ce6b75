"""Tables for the whole domain, with the natural-key unique constraints of DESIGN.md.

Every arrow of the pipeline is a row here; the queue only wakes workers up. Status columns
hold plain strings from the ``*Status`` classes below so both databases read them alike.
Secrets live only in ``secrets_enc`` columns, encrypted by the vault and bound to their row.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from signalbridge.store.base import Base
from signalbridge.store.types import UTCDateTime, utcnow

ID = BigInteger().with_variant(Integer(), "sqlite")


class Role:
    ADMIN = "admin"
    OPERATOR = "operator"
    MEMBER = "member"
    ALL = (ADMIN, OPERATOR, MEMBER)


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class User(Timestamps, Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16), default=Role.MEMBER)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Signed up through the portal and waiting for an operator's approval (inactive till then)
    signup_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class WebSession(Base):
    """A browser's login (web/console): only a SHA-256 of the cookie's value is stored.

    Server-side, so logging out or deactivating a user ends it at once; the CSRF token
    every form of the session carries lives beside it.
    """

    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)


class PasswordReset(Base):
    """A single-use password reset; only a SHA-256 of the link's token is stored."""

    __tablename__ = "password_resets"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ApiToken(Base):
    """Bearer tokens; only a SHA-256 of the token is stored (tokens are 256-bit random)."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ConnectionMixin(Timestamps):
    """Shared columns of every configured outside connection (channel, exchange, gateway, AI)."""

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(40))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secrets_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class ChannelVisibility:
    """Who may follow a channel besides its owner and the staff (admins, operators)."""

    PUBLIC = "public"  # every member
    PLAN = "plan"  # members entitled through a plan (services/entitlement.py)
    PRIVATE = "private"  # nobody else
    ALL = (PUBLIC, PLAN, PRIVATE)


class ChannelSource(ConnectionMixin, Base):
    __tablename__ = "channel_sources"
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    visibility: Mapped[str] = mapped_column(
        String(16), default=ChannelVisibility.PRIVATE, server_default=ChannelVisibility.PRIVATE
    )
    parse_template: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # Parses below this confidence go to review, never to execution.
    min_confidence: Mapped[Decimal] = mapped_column(default=Decimal("0.9"))
    # What an edit of an executed signal's SL/TP does (services/edits.py): OnEdit.
    on_edit: Mapped[str] = mapped_column(String(8), default="review", server_default="review")
    # Channel settings (web/channel_settings.py): free text read at all; the one machine
    # dialect read (None: any); how old an item in review may be when approved (None: no
    # channel limit, the follows' own limits still apply).
    parse_text: Mapped[bool] = mapped_column(Boolean, default=True)
    dialect: Mapped[str | None] = mapped_column(String(16), nullable=True)
    max_signal_age_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Inbound limits of push deliveries (web/channel_settings.py; None: the defaults in
    # channels/inbound_limits.py); polled kinds keep theirs in their config.
    max_message_chars: Mapped[int | None] = mapped_column(Integer, nullable=True)
    inbound_rate_limit: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # AI settings (web/channel_settings.py; services/ai_parsing.py): ask the AI below the
    # threshold; let an AI-only reading act without a human; how far from the market an
    # AI-read entry may lie (None: 5 %); analyse published signals (services/ai_analysis.py).
    ai_assist: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    ai_may_act_alone: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    ai_max_price_distance_percent: Mapped[Decimal | None] = mapped_column(nullable=True)
    ai_analysis: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The channel's track record page (services/track_record.py) is open to anyone.
    track_record_public: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )


class MessageStatus:
    RECEIVED = "received"
    PARSED = "parsed"
    NOISE = "noise"
    REVIEW = "review"
    REJECTED = "rejected"
    EDIT = "edit"  # a new version of ``original_id`` (services/edits.py)
    ORPHAN_EDIT = "orphan_edit"  # an edit of a message never stored: not traded
    FINAL = (PARSED, NOISE, REVIEW, REJECTED, EDIT, ORPHAN_EDIT)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("channel_id", "external_id"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel_sources.id"))
    external_id: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(100), default="text/plain")
    status: Mapped[str] = mapped_column(String(16), default=MessageStatus.RECEIVED, index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: An edit delivery's original message (services/edits.py); NULL for an original.
    original_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id"), nullable=True, index=True
    )
    #: When the channel reported the message deleted; a delete closes nothing by itself.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DeliveryBody(Base):
    """A webhook body's claim on its channel for the replay window (services/replay.py):
    the same body again inside the window is a duplicate of ``message_id``."""

    __tablename__ = "delivery_bodies"
    __table_args__ = (UniqueConstraint("channel_id", "body_hash"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel_sources.id", ondelete="CASCADE"))
    body_hash: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), nullable=True
    )


class ChannelCursor(Base):
    """A polled channel's place in its source, and who may poll it now (jobs/polling.py).

    A runner takes the lease with one conditional UPDATE (free, expired or its own), and
    saves the cursor in the transaction that stores the messages it read.
    """

    __tablename__ = "channel_cursors"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channel_sources.id", ondelete="CASCADE"), unique=True
    )
    cursor: Mapped[str | None] = mapped_column(Text, nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MessageEdit(Base):
    """Earlier versions of an edited message: the text is never overwritten without a trace."""

    __tablename__ = "message_edits"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    previous_text: Mapped[str] = mapped_column(Text)
    edited_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SignalStatus:
    ACCEPTED = "accepted"  # waiting to be dispatched
    REVIEW = "review"  # below the channel's confidence threshold
    DISPATCHED = "dispatched"
    REJECTED = "rejected"
    FINAL = (REVIEW, DISPATCHED, REJECTED)


class Signal(Base):
    __tablename__ = "signals"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), unique=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel_sources.id"), index=True)
    symbol: Mapped[str] = mapped_column(String(40))
    side: Mapped[str] = mapped_column(String(8))
    order_type: Mapped[str] = mapped_column(String(8))
    entry_low: Mapped[Decimal | None] = mapped_column(nullable=True)
    entry_high: Mapped[Decimal | None] = mapped_column(nullable=True)
    stop_loss: Mapped[Decimal | None] = mapped_column(nullable=True)
    take_profits: Mapped[list[Any]] = mapped_column(JSON, default=list)  # decimal strings
    leverage: Mapped[int | None] = mapped_column(Integer, nullable=True)
    confidence: Mapped[Decimal] = mapped_column(default=Decimal(1))
    status: Mapped[str] = mapped_column(String(16), default=SignalStatus.ACCEPTED, index=True)
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # One timestamp per stage, so latency is visible end to end.
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    parsed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: Who read it: "rules", "ai", "canonical", "review" (an edit); None before AI parsing.
    parsed_by: Mapped[str | None] = mapped_column(String(16), nullable=True)
    order_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    order_acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    filled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SignalUpdate(Base):
    __tablename__ = "signal_updates"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), unique=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel_sources.id"), index=True)
    signal_id: Mapped[int | None] = mapped_column(ForeignKey("signals.id"), nullable=True)
    symbol: Mapped[str | None] = mapped_column(String(40), nullable=True)
    action: Mapped[str] = mapped_column(String(24))
    value: Mapped[Decimal | None] = mapped_column(nullable=True)
    confidence: Mapped[Decimal] = mapped_column(default=Decimal(1))
    status: Mapped[str] = mapped_column(String(16), default="received")
    #: As ``Signal.parsed_by``: "ai" when only the AI read it.
    parsed_by: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class OnEdit:
    """A channel's choice for an edit of SL/TP after its signal was executed."""

    APPLY = "apply"  # move the positions' stop and targets
    IGNORE = "ignore"  # record the difference only
    REVIEW = "review"  # an operator decides (the review desk)
    ALL = (APPLY, IGNORE, REVIEW)


class SignalEdit(Base):
    """What one edit of a post did to its signal, with the difference, whatever the policy.

    ``outcome``: replanned, withdrawn, created (a post that was no signal), unchanged,
    recorded (nothing an edit may change), ignored, review, apply (then applied or
    nothing_open once the update task ran).
    """

    __tablename__ = "signal_edits"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    signal_id: Mapped[int] = mapped_column(ForeignKey("signals.id"), index=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), unique=True)
    update_id: Mapped[int | None] = mapped_column(ForeignKey("signal_updates.id"), nullable=True)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AIConfig(ConnectionMixin, Base):
    __tablename__ = "ai_configs"
    priority: Mapped[int] = mapped_column(Integer, default=0)


class AIParseOutcome:
    """What one AI parse of a message came to (services/ai_parsing.py)."""

    PENDING = "pending"  # claimed by a worker; the sweeper re-queues it when stuck
    AGREE = "agree"  # the AI read the rules' contract: confidence raised
    DISAGREE = "disagree"  # a different contract: the item stays in review, both shown
    AI_ONLY = "ai_only"  # the rules had nothing; the AI's reading waits in review
    FAILED = "failed"  # every configuration failed (or none): the rules' answer stands
    BUDGET = "budget"  # a daily budget was spent: no call
    CACHED = "cached"  # the same normalised text was answered before: no call
    NOISE = "noise"  # the AI read noise where the rules had nothing either
    FINAL = (AGREE, DISAGREE, AI_ONLY, FAILED, BUDGET, CACHED, NOISE)


class AIParse(Base):
    """One AI reading of one message: the call's model, prompt version, tokens, cost,
    latency and raw answer, what it was compared with and what came of it. One row per
    message (the task's idempotency key); ``day`` (UTC, ``YYYY-MM-DD``) feeds the budgets."""

    __tablename__ = "ai_parses"
    __table_args__ = (
        Index("ix_ai_parses_day_config_id", "day", "config_id"),
        Index("ix_ai_parses_day_channel_id", "day", "channel_id"),
    )
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), unique=True
    )
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel_sources.id", ondelete="CASCADE"))
    config_id: Mapped[int | None] = mapped_column(
        ForeignKey("ai_configs.id", ondelete="SET NULL"), nullable=True
    )
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    prompt_version: Mapped[str | None] = mapped_column(String(40), nullable=True)
    text_hash: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16), default=AIParseOutcome.PENDING, index=True)
    #: agree / disagree / ai_only / noise whenever an answer (fresh or cached) was compared
    agreement: Mapped[str | None] = mapped_column(String(16), nullable=True)
    #: The AI's contract (canonical JSON) and confidence, when it read one.
    parse: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    confidence: Mapped[Decimal | None] = mapped_column(nullable=True)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[Decimal] = mapped_column(default=Decimal(0))
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    raw: Mapped[str | None] = mapped_column(Text, nullable=True)  # capped
    attempts: Mapped[list[Any]] = mapped_column(JSON, default=list)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: What the hybrid step did with the item: approved, review, or None.
    action: Mapped[str | None] = mapped_column(String(16), nullable=True)
    day: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AICacheEntry(Base):
    """An AI reading kept by the hash of the normalised message text and the prompt
    version (services/ai_cache.py): the same text again costs no call."""

    __tablename__ = "ai_cache"
    __table_args__ = (UniqueConstraint("text_hash", "prompt_version"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    text_hash: Mapped[str] = mapped_column(String(64))
    prompt_version: Mapped[str] = mapped_column(String(40))
    answer: Mapped[dict[str, Any]] = mapped_column(JSON)
    config_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AnalysisStatus:
    PENDING = "pending"  # claimed by the analysis task: one AI call per signal
    OK = "ok"
    FAILED = "failed"  # every configuration failed, timed out, or no candles: the gate's "missing"
    ALL = (PENDING, OK, FAILED)


class SignalAnalysis(Base):
    """The market analyst's view of one published signal (services/ai_analysis.py), once.

    ``reasons`` and ``adjustments`` hold what the model said after strict validation
    (decimal strings); ``raw`` is the answer as received, capped, for staff only.
    """

    __tablename__ = "signal_analyses"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    signal_id: Mapped[int] = mapped_column(ForeignKey("signals.id"), unique=True)
    config_id: Mapped[int | None] = mapped_column(
        ForeignKey("ai_configs.id", ondelete="SET NULL"), nullable=True
    )
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    prompt_version: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16))
    trend: Mapped[str | None] = mapped_column(String(16), nullable=True)
    risk: Mapped[str | None] = mapped_column(String(16), nullable=True)
    recommendation: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    adjustments: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[Decimal] = mapped_column(default=Decimal(0))
    latency_ms: Mapped[Decimal | None] = mapped_column(nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    raw: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ExecutionConnection(ConnectionMixin, Base):
    """A trading account. Its owner owns everything done on it: the follows, executions,
    orders, positions and execution logs reach their owner through ``connection_id``."""

    __tablename__ = "execution_connections"
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)


class VenueSymbolSettings(Base):
    """What a futures connection last set for a symbol before trading it (Binance: the
    account's position mode, the leverage and the margin type; None: left as it was)."""

    __tablename__ = "venue_symbol_settings"
    __table_args__ = (UniqueConstraint("connection_id", "symbol"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("execution_connections.id", ondelete="CASCADE")
    )
    symbol: Mapped[str] = mapped_column(String(64))
    position_mode: Mapped[str] = mapped_column(String(16))
    leverage: Mapped[int] = mapped_column(Integer)
    margin_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    set_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Follow(Timestamps, Base):
    """Which connection copies which channel, with its sizing and risk limits."""

    __tablename__ = "follows"
    __table_args__ = (UniqueConstraint("connection_id", "channel_id"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("execution_connections.id"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel_sources.id"), index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Sizing and management settings, validated by the execution layer's schema.
    sizing: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    risk: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    management: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Set while paused by hand (services/override.py): no new entries are opened, the
    #: positions already open are still managed.
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class TrackRecordAccount(Base):
    """The reference paper account that follows every signal of a channel with fixed risk:
    its positions are the channel's track record (services/track_record.py)."""

    __tablename__ = "track_record_accounts"
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channel_sources.id", ondelete="CASCADE"), primary_key=True
    )
    connection_id: Mapped[int] = mapped_column(ForeignKey("execution_connections.id"))
    follow_id: Mapped[int] = mapped_column(ForeignKey("follows.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ExecutionStatus:
    PENDING = "pending"
    PLACING = "placing"
    OPEN = "open"  # orders placed, waiting for fills or managing a position
    CLOSED = "closed"
    SKIPPED = "skipped"
    FAILED = "failed"
    FINAL = (CLOSED, SKIPPED, FAILED)
    NOT_STARTED = (PENDING, PLACING)


class Execution(Timestamps, Base):
    __tablename__ = "executions"
    __table_args__ = (UniqueConstraint("signal_id", "connection_id"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    signal_id: Mapped[int] = mapped_column(ForeignKey("signals.id"), index=True)
    follow_id: Mapped[int] = mapped_column(ForeignKey("follows.id"))
    connection_id: Mapped[int] = mapped_column(ForeignKey("execution_connections.id"))
    status: Mapped[str] = mapped_column(String(16), default=ExecutionStatus.PENDING, index=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Base units per amount unit of the market it trades (100,000 for a forex lot), set
    #: when planned; values the position's PnL. NULL means 1 (crypto).
    contract_size: Mapped[Decimal | None] = mapped_column(nullable=True)
    #: Set when planned on an inverse (coin-margined) market: the base coin its position
    #: counts PnL and fees in (``positions.inverse`` / ``pnl_asset``). NULL: the quote.
    pnl_asset: Mapped[str | None] = mapped_column(String(20), nullable=True)
    #: The market's amount step, recorded when an exit is written: what a full exit leaves
    #: below one step (spot fee dust) cannot be sold, so the position is closed with it.
    amount_step: Mapped[Decimal | None] = mapped_column(nullable=True)


class OrderStatus:
    PENDING = "pending"  # intent written, not sent
    SENDING = "sending"  # sent (or about to be); outcome unknown until recorded
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    FINAL = (FILLED, CANCELED, REJECTED, EXPIRED)
    UNSETTLED = (PENDING, SENDING)


class Order(Timestamps, Base):
    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("connection_id", "client_order_id"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    execution_id: Mapped[int] = mapped_column(ForeignKey("executions.id"), index=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("execution_connections.id"))
    client_order_id: Mapped[str] = mapped_column(String(64))
    venue_order_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    leg: Mapped[str] = mapped_column(String(16))
    symbol: Mapped[str] = mapped_column(String(40))
    side: Mapped[str] = mapped_column(String(8))
    type: Mapped[str] = mapped_column(String(20))
    amount: Mapped[Decimal]
    price: Mapped[Decimal | None] = mapped_column(nullable=True)
    stop_price: Mapped[Decimal | None] = mapped_column(nullable=True)
    reduce_only: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default=OrderStatus.PENDING, index=True)
    filled: Mapped[Decimal] = mapped_column(default=Decimal(0))
    average_price: Mapped[Decimal | None] = mapped_column(nullable=True)
    fee: Mapped[Decimal] = mapped_column(default=Decimal(0))
    fee_asset: Mapped[str | None] = mapped_column(String(20), nullable=True)
    #: Every fee of its fills as the venue reported it, per asset: ``[{"asset", "amount"}]``
    #: (a Binance spot BUY pays in the coin bought, or in BNB; ``fee`` is the first).
    fees: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    filled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: The price the order was meant to get when it was planned (the signal's entry, or the
    #: market price then for a market order): slippage is the fill against it.
    reference_price: Mapped[Decimal | None] = mapped_column(nullable=True)


class PositionStatus:
    OPEN = "open"
    CLOSED = "closed"


class Position(Timestamps, Base):
    __tablename__ = "positions"
    __table_args__ = (
        UniqueConstraint("execution_id"),
        Index("ix_positions_open_symbol", "status", "connection_id", "symbol"),
    )
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    execution_id: Mapped[int] = mapped_column(ForeignKey("executions.id"))
    signal_id: Mapped[int] = mapped_column(ForeignKey("signals.id"), index=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("execution_connections.id"))
    symbol: Mapped[str] = mapped_column(String(40))
    side: Mapped[str] = mapped_column(String(8))
    amount: Mapped[Decimal]
    entry_price: Mapped[Decimal]
    stop_loss: Mapped[Decimal | None] = mapped_column(nullable=True)
    take_profits: Mapped[list[Any]] = mapped_column(JSON, default=list)
    tp_hits: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(8), default=PositionStatus.OPEN)
    realized_pnl: Mapped[Decimal] = mapped_column(default=Decimal(0))
    fees: Mapped[Decimal] = mapped_column(default=Decimal(0))
    #: Funding paid (negative) or received (positive) while open, where the venue reports
    #: it; realised PnL includes it (execution/pnl.py).
    funding: Mapped[Decimal] = mapped_column(default=Decimal(0), server_default="0")
    #: An inverse (coin-margined) contract: PnL is in the base coin, ``pnl_asset``.
    inverse: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: The asset PnL and fees are counted in; None: the market's quote currency.
    pnl_asset: Mapped[str | None] = mapped_column(String(20), nullable=True)
    #: Why it closed: ``exit`` (by SignalBridge's orders) or ``closed_outside`` (found
    #: closed on the venue by the position sync: by hand or a liquidation); None while open.
    close_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ForeignPosition(Base):
    """A position the venue holds that SignalBridge did not open (position sync): reported,
    never touched. ``gone_at`` is set when the venue no longer shows it."""

    __tablename__ = "foreign_positions"
    __table_args__ = (UniqueConstraint("connection_id", "symbol", "side"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("execution_connections.id", ondelete="CASCADE")
    )
    symbol: Mapped[str] = mapped_column(String(40))
    side: Mapped[str] = mapped_column(String(8))
    amount: Mapped[Decimal]
    entry_price: Mapped[Decimal | None] = mapped_column(nullable=True)
    unrealised_pnl: Mapped[Decimal | None] = mapped_column(nullable=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    gone_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class MarkPrice(Base):
    """The last price the monitor saw for a symbol on a connection: unrealised PnL is
    marked to it when read (one upsert per symbol per tick, not one per position)."""

    __tablename__ = "mark_prices"
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("execution_connections.id", ondelete="CASCADE"), primary_key=True
    )
    symbol: Mapped[str] = mapped_column(String(40), primary_key=True)
    price: Mapped[Decimal]
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ExecutionLog(Base):
    """Every action of the engine: what, why, request summary, venue answer, latency."""

    __tablename__ = "execution_logs"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    execution_id: Mapped[int | None] = mapped_column(ForeignKey("executions.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    action: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    request: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    latency_ms: Mapped[Decimal | None] = mapped_column(nullable=True)


class Plan(Timestamps, Base):
    __tablename__ = "plans"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    price: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(10), default="USD")
    interval: Mapped[str] = mapped_column(String(10), default="month")
    channel_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    gateway_prices: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Payments (services/payments/plans.py): the price per currency as exact decimal
    # strings ({"USD": "19.00"}; ``price``/``currency`` stay the first one), every
    # ``interval_count`` intervals (BillingInterval values), with a free trial.
    prices: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    interval_count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    trial_days: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class PaymentGateway(ConnectionMixin, Base):
    __tablename__ = "payment_gateways"


class Subscription(Timestamps, Base):
    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("gateway", "external_id"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    gateway: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The provider's own last-modified marker, so out-of-order events never move state back.
    provider_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Payments: the gateway connection (no foreign key: history outlives a connection),
    # the provider's customer (for its billing portal), trial and cancellation.
    connection_id: Mapped[int | None] = mapped_column(ID, nullable=True)
    customer_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    trial_end: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancel_at_period_end: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Payment(Timestamps, Base):
    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("gateway", "external_id"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscriptions.id"), nullable=True
    )
    gateway: Mapped[str] = mapped_column(String(20))
    # The provider's payment id (invoice, capture, transaction); empty until it exists:
    # the row is written ``pending`` before the member is sent to the gateway.
    external_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20))
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"), nullable=True)
    connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("payment_gateways.id"), nullable=True
    )
    checkout_id: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    fee: Mapped[Decimal | None] = mapped_column(nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The provider's marker for the checkout or payment (payments/ordering.py).
    provider_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class PaymentEvent(Base):
    __tablename__ = "payment_events"
    __table_args__ = (UniqueConstraint("gateway", "event_id"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    gateway: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="received")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Payments (services/payments/callbacks.py): the connection it came through, and why
    # applying it failed (the applied row rolls back with the work; this is written after).
    connection_id: Mapped[int | None] = mapped_column(ID, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class PlanGrant(Base):
    """An operator's or admin's gift of a plan to a member (services/entitlement_grants.py):
    entitles like a paid subscription from ``starts_at`` until ``ends_at`` (NULL: no end)
    or until revoked. Rows are never deleted, so the history stays readable."""

    __tablename__ = "plan_grants"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    granted_by: Mapped[str] = mapped_column(String(320))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(320), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class EntitlementNotice(Base):
    """A reminder or end notice the entitlement job issued (services/entitlement_notices.py):
    ``(source, source_id, kind, period)`` is its natural key, so each is issued once per
    period whether or not the member has a chat to receive it."""

    __tablename__ = "entitlement_notices"
    __table_args__ = (UniqueConstraint("source", "source_id", "kind", "period"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(16))  # subscription | grant
    source_id: Mapped[int] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(String(16))  # expiring | ended
    period: Mapped[str] = mapped_column(String(40))  # the period end it is about, ISO
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ConnectionHealth(Base):
    """Health and breaker state of one connection of any kind (channel, exchange, gateway, ai)."""

    __tablename__ = "connection_health"
    __table_args__ = (UniqueConstraint("kind", "connection_id"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    connection_id: Mapped[int] = mapped_column(ID)
    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    breaker_state: Mapped[str] = mapped_column(String(12), default="closed")
    # Polled channels only (services/channel_health.py, written after each poll): the last
    # poll and the last successful one, the newest item's own (provider) time, the lag as
    # of that poll and what it was measured from, the poll back-off, inbound refusals.
    last_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_poll_ok_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    newest_item_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    lag_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    lag_basis: Mapped[str | None] = mapped_column(String(16), nullable=True)
    poll_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    backoff_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    refused_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    deferred_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_refusal_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_refusal: Mapped[str | None] = mapped_column(Text, nullable=True)


class HealthEvent(Base):
    """A change of a connection's health (services/health.py): it started failing, its
    breaker's threshold was reached, it recovered. Only changes are kept, so the history
    stays short however often a connection is used."""

    __tablename__ = "health_events"
    __table_args__ = (Index("ix_health_events_kind_connection", "kind", "connection_id", "id"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    connection_id: Mapped[int] = mapped_column(ID)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    event: Mapped[str] = mapped_column(String(16))
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class NotificationChat(Timestamps, Base):
    """A Telegram chat linked to a user (notifications/linking.py) and the event kinds it
    receives (notifications/events.py): a user's notices go only to its own chats."""

    __tablename__ = "notification_chats"
    __table_args__ = (UniqueConstraint("user_id", "chat_id"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    title: Mapped[str | None] = mapped_column(String(200), nullable=True)
    events: Mapped[list[Any]] = mapped_column(JSON, default=list)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class NotificationLinkCode(Base):
    """A one-time code that links the chat it is sent from to ``user_id``. Only a SHA-256
    of its secret part is kept; ``selector`` finds the row, so the secret part is compared
    in constant time and never looked up by value."""

    __tablename__ = "notification_link_codes"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    selector: Mapped[str] = mapped_column(String(16), unique=True)
    verifier_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class NotificationBotState(Base):
    """The notification bot's ``getUpdates`` offset (the link codes users send it), and
    which runner may read it now: one reader per bot, or Telegram answers 409."""

    __tablename__ = "notification_bot_state"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    bot_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    update_offset: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class NotificationStatus:
    PENDING = "pending"  # waiting (from ``not_before``, after a 429 or an error)
    SENDING = "sending"  # claimed by a sender until ``lease_until``
    SENT = "sent"
    FAILED = "failed"  # refused for good (chat gone, bot blocked) or out of attempts


class NotificationOutbox(Base):
    """One notice for one chat, written in the transaction of the change it reports.
    ``(chat_ref_id, dedupe_key)`` is the event's natural key: reporting it twice writes
    nothing the second time. notifications/sender.py drains it."""

    __tablename__ = "notification_outbox"
    __table_args__ = (UniqueConstraint("chat_ref_id", "dedupe_key"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    chat_ref_id: Mapped[int] = mapped_column(
        ForeignKey("notification_chats.id", ondelete="CASCADE")
    )
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    dedupe_key: Mapped[str] = mapped_column(String(160))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default=NotificationStatus.PENDING, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ID, nullable=True)
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(16))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(40))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ManualActionStatus:
    PENDING = "pending"  # written, being carried out (or interrupted: resumed later)
    DONE = "done"
    FAILED = "failed"
    FINAL = (DONE, FAILED)


class ManualAction(Base):
    """One manual override (close, cancel, move stop, pause, panic, manual signal), written
    before anything is sent; its id names every order it causes (services/override.py)."""

    __tablename__ = "manual_actions"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    position_id: Mapped[int | None] = mapped_column(ID, nullable=True)
    order_id: Mapped[int | None] = mapped_column(ID, nullable=True)
    follow_id: Mapped[int | None] = mapped_column(ID, nullable=True)
    connection_id: Mapped[int | None] = mapped_column(ID, nullable=True, index=True)
    channel_id: Mapped[int | None] = mapped_column(ID, nullable=True)
    share: Mapped[Decimal | None] = mapped_column(nullable=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    idempotency_key: Mapped[str] = mapped_column(String(300), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=ManualActionStatus.PENDING, index=True)
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
