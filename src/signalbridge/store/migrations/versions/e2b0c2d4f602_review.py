"""Review desk: channel settings read by the intake and the review desk

``channel_sources.parse_text`` (free text read at all), ``dialect`` (the one machine
dialect read; NULL: any) and ``max_signal_age_seconds`` (how old an item in review may be
when approved; NULL: no channel limit). See web/channel_settings.py and services/review.py.

Revision ID: e2b0c2d4f602
Revises: e1b0c2d4f601
Create Date: 2026-12-07 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e2b0c2d4f602"
down_revision: str | None = "e1b0c2d4f601"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("max_signal_age_seconds", "dialect", "parse_text")


def upgrade() -> None:
    # Plain ADD COLUMN on both databases: a batch rebuild of a table that other rows
    # point at fails on SQLite (see the trust revision).
    op.add_column(
        "channel_sources",
        sa.Column("parse_text", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.add_column("channel_sources", sa.Column("dialect", sa.String(length=16), nullable=True))
    op.add_column(
        "channel_sources", sa.Column("max_signal_age_seconds", sa.Integer(), nullable=True)
    )


def downgrade() -> None:
    for column in _COLUMNS:
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f"ALTER TABLE channel_sources DROP COLUMN {column}")
        else:
            op.drop_column("channel_sources", column)
