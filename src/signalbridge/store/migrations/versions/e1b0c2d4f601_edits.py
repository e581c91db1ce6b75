"""Edits and replies: message versions and edit policy

An edit delivery links to its original message (``messages.original_id``), a delete is
recorded (``messages.deleted_at``), each channel says what an edit of an executed
signal's SL/TP does (``channel_sources.on_edit``), and what every edit did to its signal
is kept with the difference (``signal_edits``). See services/edits.py.

Revision ID: e1b0c2d4f601
Revises: d3a4f0b2c4e4
Create Date: 2026-12-07 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import signalbridge.store.types

revision: str = "e1b0c2d4f601"
down_revision: str | None = "d3a4f0b2c4e4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = signalbridge.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    # Plain ADD COLUMN on both databases: a batch rebuild of a table that other rows
    # point at fails on SQLite (see the trust revision).
    op.add_column(
        "channel_sources",
        sa.Column("on_edit", sa.String(length=8), nullable=False, server_default="review"),
    )
    fk = "fk_messages_original_id_messages"
    if op.get_bind().dialect.name == "sqlite":  # Alembic cannot ALTER a constraint there
        op.execute(
            f"ALTER TABLE messages ADD COLUMN original_id INTEGER CONSTRAINT {fk} "
            "REFERENCES messages (id)"
        )
    else:
        op.add_column("messages", sa.Column("original_id", _ID, nullable=True))
        op.create_foreign_key(op.f(fk), "messages", "messages", ["original_id"], ["id"])
    op.add_column("messages", sa.Column("deleted_at", _WHEN, nullable=True))
    op.create_index(op.f("ix_messages_original_id"), "messages", ["original_id"])
    op.create_table(
        "signal_edits",
        sa.Column("id", _ID, nullable=False),
        sa.Column("signal_id", _ID, nullable=False),
        sa.Column("message_id", _ID, nullable=False),
        sa.Column("update_id", _ID, nullable=True),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("applied_at", _WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["signal_id"], ["signals.id"], name=op.f("fk_signal_edits_signal_id_signals")
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_signal_edits_message_id_messages")
        ),
        sa.ForeignKeyConstraint(
            ["update_id"],
            ["signal_updates.id"],
            name=op.f("fk_signal_edits_update_id_signal_updates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signal_edits")),
        sa.UniqueConstraint("message_id", name=op.f("uq_signal_edits_message_id")),
    )
    op.create_index(op.f("ix_signal_edits_signal_id"), "signal_edits", ["signal_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_signal_edits_signal_id"), "signal_edits")
    op.drop_table("signal_edits")
    op.drop_index(op.f("ix_messages_original_id"), "messages")
    if op.get_bind().dialect.name == "sqlite":
        # Natively: a batch rebuild of messages fails while rows point at it.
        for column in ("deleted_at", "original_id"):
            op.execute(f"ALTER TABLE messages DROP COLUMN {column}")
        op.execute("ALTER TABLE channel_sources DROP COLUMN on_edit")
    else:
        op.drop_column("messages", "deleted_at")
        op.drop_column("messages", "original_id")
        op.drop_column("channel_sources", "on_edit")
