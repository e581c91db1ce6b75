"""Market analyses of published signals and the follows' analyst gate

signal_analyses: one row per signal (the AI market analyst's answer or its failure), read by
the follows' ``analyst_gate`` (a follow risk setting: no column) and shown with the signal.

Revision ID: f5b0c2d4f705
Revises: f4b0c2d4f704
Create Date: 2026-12-07 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import signalbridge.store.types

revision: str = "f5b0c2d4f705"
down_revision: str | None = "f4b0c2d4f704"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "signal_analyses",
        sa.Column("id", _ID, nullable=False),
        sa.Column("signal_id", _ID, nullable=False),
        sa.Column("config_id", _ID, nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("prompt_version", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trend", sa.String(length=16), nullable=True),
        sa.Column("risk", sa.String(length=16), nullable=True),
        sa.Column("recommendation", sa.String(length=16), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("adjustments", sa.JSON(), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cost", signalbridge.store.types.ExactDecimal(length=64), nullable=False),
        sa.Column("latency_ms", signalbridge.store.types.ExactDecimal(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("raw", sa.Text(), nullable=True),
        sa.Column(
            "created_at", signalbridge.store.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["signal_id"], ["signals.id"], name=op.f("fk_signal_analyses_signal_id_signals")
        ),
        sa.ForeignKeyConstraint(
            ["config_id"],
            ["ai_configs.id"],
            name=op.f("fk_signal_analyses_config_id_ai_configs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signal_analyses")),
        sa.UniqueConstraint("signal_id", name=op.f("uq_signal_analyses_signal_id")),
    )


def downgrade() -> None:
    op.drop_table("signal_analyses")
