"""Binance futures: position mode, leverage and margin type recorded per symbol

Revision ID: d3a1f0b2c4e1
Revises: c8e4f1a9d2b6
Create Date: 2026-12-07 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import signalbridge.store.types

revision: str = "d3a1f0b2c4e1"
down_revision: str | None = "c8e4f1a9d2b6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # What a futures connection set for a symbol before trading it (execution/symbol_settings).
    op.create_table(
        "venue_symbol_settings",
        sa.Column("id", _ID, nullable=False),
        sa.Column("connection_id", _ID, nullable=False),
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("position_mode", sa.String(length=16), nullable=False),
        sa.Column("leverage", sa.Integer(), nullable=False),
        sa.Column("margin_type", sa.String(length=16), nullable=True),
        sa.Column("set_at", signalbridge.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["execution_connections.id"],
            name=op.f("fk_venue_symbol_settings_connection_id_execution_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_venue_symbol_settings")),
        sa.UniqueConstraint(
            "connection_id", "symbol", name=op.f("uq_venue_symbol_settings_connection_id_symbol")
        ),
    )


def downgrade() -> None:
    op.drop_table("venue_symbol_settings")
