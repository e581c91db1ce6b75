"""Manual override actions and paused follows

``manual_actions`` holds every manual override (close, cancel, move stop, pause, resume,
panic, manual signal), written before anything is sent and unique by its idempotency key:
a duplicate request finds the first action and answers its outcome. ``follows`` gains
``paused_at``: a paused follow opens no new entries (services/dispatch.py).

Revision ID: f6b0c2d4f706
Revises: f5b0c2d4f705
Create Date: 2026-12-07 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import signalbridge.store.types

revision: str = "f6b0c2d4f706"
down_revision: str | None = "f5b0c2d4f705"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = signalbridge.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "manual_actions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("position_id", _ID, nullable=True),
        sa.Column("order_id", _ID, nullable=True),
        sa.Column("follow_id", _ID, nullable=True),
        sa.Column("connection_id", _ID, nullable=True),
        sa.Column("channel_id", _ID, nullable=True),
        sa.Column("share", signalbridge.store.types.ExactDecimal(length=64), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", _ID, nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("finished_at", _WHEN, nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["users.id"],
            name=op.f("fk_manual_actions_requested_by_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_manual_actions")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_manual_actions_idempotency_key")),
    )
    op.create_index(
        op.f("ix_manual_actions_connection_id"), "manual_actions", ["connection_id"], unique=False
    )
    op.create_index(op.f("ix_manual_actions_status"), "manual_actions", ["status"], unique=False)
    # Plain ADD COLUMN on both databases (a batch rebuild of a referenced table fails on
    # SQLite; see the trust revision).
    op.add_column("follows", sa.Column("paused_at", _WHEN, nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE follows DROP COLUMN paused_at")
    else:
        op.drop_column("follows", "paused_at")
    op.drop_index(op.f("ix_manual_actions_status"), table_name="manual_actions")
    op.drop_index(op.f("ix_manual_actions_connection_id"), table_name="manual_actions")
    op.drop_table("manual_actions")
