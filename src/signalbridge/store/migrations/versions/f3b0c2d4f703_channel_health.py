"""Channel health: last synced, lag, back-off and inbound refusals; push inbound limits

``connection_health`` gains the columns a polled channel's health needs beyond the
kernel's (services/channel_health.py writes them after each poll): the last poll and the
last successful one, the newest item's provider time, the lag and its basis, the poll
back-off and the inbound refusals and deferrals. ``channel_sources`` gains the inbound
limits of push deliveries, ``max_message_chars`` and ``inbound_rate_limit`` (NULL: the
defaults; web/channel_settings.py validates them).

Revision ID: f3b0c2d4f703
Revises: f2b0c2d4f702
Create Date: 2026-12-07 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import signalbridge.store.types

revision: str = "f3b0c2d4f703"
down_revision: str | None = "f2b0c2d4f702"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = ("last_poll_at", "last_poll_ok_at", "newest_item_at", "backoff_until", "last_refusal_at")
_COUNTS = ("poll_failures", "refused_count", "deferred_count")
_HEALTH = (*_WHEN, *_COUNTS, "lag_seconds", "lag_basis", "last_refusal")
_SOURCES = ("max_message_chars", "inbound_rate_limit")


def upgrade() -> None:
    # Plain ADD COLUMN on both databases (a batch rebuild of a referenced table fails on
    # SQLite; see the trust revision).
    for name in _WHEN:
        op.add_column(
            "connection_health",
            sa.Column(name, signalbridge.store.types.UTCDateTime(timezone=True), nullable=True),
        )
    for name in _COUNTS:
        op.add_column(
            "connection_health",
            sa.Column(name, sa.Integer(), nullable=False, server_default="0"),
        )
    op.add_column("connection_health", sa.Column("lag_seconds", sa.Integer(), nullable=True))
    op.add_column("connection_health", sa.Column("lag_basis", sa.String(length=16), nullable=True))
    op.add_column("connection_health", sa.Column("last_refusal", sa.Text(), nullable=True))
    op.add_column("channel_sources", sa.Column("max_message_chars", sa.Integer(), nullable=True))
    op.add_column(
        "channel_sources", sa.Column("inbound_rate_limit", sa.String(length=40), nullable=True)
    )


def _drop(table: str, column: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    else:
        op.drop_column(table, column)


def downgrade() -> None:
    for column in _SOURCES:
        _drop("channel_sources", column)
    for column in _HEALTH:
        _drop("connection_health", column)
