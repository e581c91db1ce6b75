"""Channel cursors: a polled channel's place in its source and its polling lease

Revision ID: c8e4f1a9d2b6
Revises: b5d1e0a7c3f2
Create Date: 2026-12-07 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import signalbridge.store.types

revision: str = "c8e4f1a9d2b6"
down_revision: str | None = "b5d1e0a7c3f2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # One row per polled channel: its cursor and who holds its lease (jobs/polling.py).
    op.create_table(
        "channel_cursors",
        sa.Column("id", _ID, nullable=False),
        sa.Column("channel_id", _ID, nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column(
            "lease_until", signalbridge.store.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "updated_at", signalbridge.store.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channel_sources.id"],
            name=op.f("fk_channel_cursors_channel_id_channel_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_cursors")),
        sa.UniqueConstraint("channel_id", name=op.f("uq_channel_cursors_channel_id")),
    )


def downgrade() -> None:
    op.drop_table("channel_cursors")
