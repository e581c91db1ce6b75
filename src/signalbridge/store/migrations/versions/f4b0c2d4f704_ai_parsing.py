"""AI parsing: calls, cache, usage and channel AI settings

``ai_parses`` holds one AI reading per message (services/ai_parsing.py): model, prompt
version, tokens, cost, latency, the raw answer, the comparison with the rules and the
outcome; its ``day`` column feeds the daily budgets and ``GET /ai-usage``. ``ai_cache``
keeps readings by the hash of the normalised text (services/ai_cache.py).
``channel_sources`` gains the AI settings (web/channel_settings.py): ``ai_assist``,
``ai_may_act_alone``, ``ai_max_price_distance_percent`` (NULL: 5 %) and ``ai_analysis``;
``signals`` and ``signal_updates`` gain ``parsed_by`` ("rules", "ai", ...; NULL before).

Revision ID: f4b0c2d4f704
Revises: f3b0c2d4f703
Create Date: 2026-12-07 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import signalbridge.store.types

revision: str = "f4b0c2d4f704"
down_revision: str | None = "f3b0c2d4f703"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_FLAGS = ("ai_assist", "ai_may_act_alone", "ai_analysis")


def _when(name: str) -> sa.Column[object]:
    return sa.Column(name, signalbridge.store.types.UTCDateTime(timezone=True), nullable=False)


def _money(name: str, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, signalbridge.store.types.ExactDecimal(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "ai_parses",
        sa.Column("id", _ID, nullable=False),
        sa.Column("message_id", _ID, nullable=False),
        sa.Column("channel_id", _ID, nullable=False),
        sa.Column("config_id", _ID, nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("prompt_version", sa.String(length=40), nullable=True),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("agreement", sa.String(length=16), nullable=True),
        sa.Column("parse", sa.JSON(), nullable=True),
        _money("confidence", True),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        _money("cost", False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=True),
        sa.Column("attempts", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=True),
        sa.Column("day", sa.String(length=10), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_ai_parses_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channel_sources.id"],
            name=op.f("fk_ai_parses_channel_id_channel_sources"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["config_id"],
            ["ai_configs.id"],
            name=op.f("fk_ai_parses_config_id_ai_configs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_parses")),
        sa.UniqueConstraint("message_id", name=op.f("uq_ai_parses_message_id")),
    )
    op.create_index(op.f("ix_ai_parses_outcome"), "ai_parses", ["outcome"], unique=False)
    op.create_index("ix_ai_parses_day_config_id", "ai_parses", ["day", "config_id"], unique=False)
    op.create_index("ix_ai_parses_day_channel_id", "ai_parses", ["day", "channel_id"], unique=False)
    op.create_table(
        "ai_cache",
        sa.Column("id", _ID, nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("prompt_version", sa.String(length=40), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=False),
        sa.Column("config_id", sa.Integer(), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("hits", sa.Integer(), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_cache")),
        sa.UniqueConstraint(
            "text_hash", "prompt_version", name=op.f("uq_ai_cache_text_hash_prompt_version")
        ),
    )
    # Plain ADD COLUMN on both databases (a batch rebuild of a referenced table fails on
    # SQLite; see the trust revision).
    for flag in _FLAGS:
        op.add_column(
            "channel_sources",
            sa.Column(flag, sa.Boolean(), nullable=False, server_default=sa.false()),
        )
    op.add_column("channel_sources", _money("ai_max_price_distance_percent", True))
    op.add_column("signals", sa.Column("parsed_by", sa.String(length=16), nullable=True))
    op.add_column("signal_updates", sa.Column("parsed_by", sa.String(length=16), nullable=True))


def _drop(table: str, column: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    else:
        op.drop_column(table, column)


def downgrade() -> None:
    _drop("signal_updates", "parsed_by")
    _drop("signals", "parsed_by")
    for column in (*_FLAGS, "ai_max_price_distance_percent"):
        _drop("channel_sources", column)
    op.drop_table("ai_cache")
    op.drop_index("ix_ai_parses_day_channel_id", table_name="ai_parses")
    op.drop_index("ix_ai_parses_day_config_id", table_name="ai_parses")
    op.drop_index(op.f("ix_ai_parses_outcome"), table_name="ai_parses")
    op.drop_table("ai_parses")
