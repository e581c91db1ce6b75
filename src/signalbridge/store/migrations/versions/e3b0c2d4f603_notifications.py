"""Notifications: outbox, linked chats, preferences

Revision ID: e3b0c2d4f603
Revises: e2b0c2d4f602
Create Date: 2026-12-07 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import signalbridge.store.types

revision: str = "e3b0c2d4f603"
down_revision: str | None = "e2b0c2d4f602"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _when(name: str, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, signalbridge.store.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    # A user's linked Telegram chats and the event kinds each receives.
    op.create_table(
        "notification_chats",
        sa.Column("id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        _when("created_at", False),
        _when("updated_at", False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notification_chats_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_chats")),
        sa.UniqueConstraint(
            "user_id", "chat_id", name=op.f("uq_notification_chats_user_id_chat_id")
        ),
    )
    op.create_index(
        op.f("ix_notification_chats_user_id"), "notification_chats", ["user_id"], unique=False
    )
    # One-time link codes: a selector to find the row, a hash of the secret part.
    op.create_table(
        "notification_link_codes",
        sa.Column("id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("selector", sa.String(length=16), nullable=False),
        sa.Column("verifier_hash", sa.String(length=64), nullable=False),
        _when("created_at", False),
        _when("expires_at", False),
        _when("used_at", True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notification_link_codes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_link_codes")),
        sa.UniqueConstraint("selector", name=op.f("uq_notification_link_codes_selector")),
    )
    op.create_index(
        op.f("ix_notification_link_codes_user_id"),
        "notification_link_codes",
        ["user_id"],
        unique=False,
    )
    # The notification bot's getUpdates offset and its reader's lease.
    op.create_table(
        "notification_bot_state",
        sa.Column("id", _ID, nullable=False),
        sa.Column("bot_id", sa.BigInteger(), nullable=False),
        sa.Column("update_offset", sa.BigInteger(), nullable=True),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        _when("lease_until", True),
        _when("updated_at", False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_bot_state")),
        sa.UniqueConstraint("bot_id", name=op.f("uq_notification_bot_state_bot_id")),
    )
    # The outbox: one notice per chat, keyed by (chat, event key).
    op.create_table(
        "notification_outbox",
        sa.Column("id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("chat_ref_id", _ID, nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("dedupe_key", sa.String(length=160), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _when("not_before", True),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        _when("lease_until", True),
        sa.Column("error", sa.Text(), nullable=True),
        _when("created_at", False),
        _when("sent_at", True),
        sa.ForeignKeyConstraint(
            ["chat_ref_id"],
            ["notification_chats.id"],
            name=op.f("fk_notification_outbox_chat_ref_id_notification_chats"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notification_outbox_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_outbox")),
        sa.UniqueConstraint(
            "chat_ref_id",
            "dedupe_key",
            name=op.f("uq_notification_outbox_chat_ref_id_dedupe_key"),
        ),
    )
    op.create_index(
        op.f("ix_notification_outbox_chat_id"), "notification_outbox", ["chat_id"], unique=False
    )
    op.create_index(
        op.f("ix_notification_outbox_status"), "notification_outbox", ["status"], unique=False
    )
    op.create_index(
        op.f("ix_notification_outbox_user_id"), "notification_outbox", ["user_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_notification_outbox_user_id"), table_name="notification_outbox")
    op.drop_index(op.f("ix_notification_outbox_status"), table_name="notification_outbox")
    op.drop_index(op.f("ix_notification_outbox_chat_id"), table_name="notification_outbox")
    op.drop_table("notification_outbox")
    op.drop_table("notification_bot_state")
    op.drop_index(op.f("ix_notification_link_codes_user_id"), table_name="notification_link_codes")
    op.drop_table("notification_link_codes")
    op.drop_index(op.f("ix_notification_chats_user_id"), table_name="notification_chats")
    op.drop_table("notification_chats")
