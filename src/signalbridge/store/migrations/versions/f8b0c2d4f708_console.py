"""Console and member portal

``web_sessions`` holds browser logins (a SHA-256 of the cookie, its CSRF token, expiry);
``password_resets`` single-use reset links (SHA-256 only). ``users.signup_pending`` marks a
portal sign-up waiting for an operator. ``channel_sources.track_record_public`` opens a
channel's track record page to anyone; ``track_record_accounts`` names the reference paper
account and follow whose positions are that record. ``health_events`` keeps each change of
a connection's health (failing, breaker threshold, recovered) for its history.

Revision ID: f8b0c2d4f708
Revises: f7b0c2d4f707
Create Date: 2026-12-07 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import signalbridge.store.types

revision: str = "f8b0c2d4f708"
down_revision: str | None = "f7b0c2d4f707"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = signalbridge.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    # Plain ADD COLUMN (SQLite has it for a column with a constant default): a batch
    # copy of ``users`` would have to drop a table every other one refers to.
    op.add_column(
        "users",
        sa.Column("signup_pending", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column(
        "channel_sources",
        sa.Column("track_record_public", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("last_seen_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_web_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_sessions_token_hash")),
    )
    op.create_index(op.f("ix_web_sessions_user_id"), "web_sessions", ["user_id"])
    op.create_table(
        "password_resets",
        sa.Column("id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.Column("used_at", _WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_password_resets_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_resets")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_password_resets_token_hash")),
    )
    op.create_index(op.f("ix_password_resets_user_id"), "password_resets", ["user_id"])
    op.create_table(
        "track_record_accounts",
        sa.Column("channel_id", _ID, nullable=False),
        sa.Column("connection_id", _ID, nullable=False),
        sa.Column("follow_id", _ID, nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channel_sources.id"],
            name=op.f("fk_track_record_accounts_channel_id_channel_sources"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["execution_connections.id"],
            name=op.f("fk_track_record_accounts_connection_id_execution_connections"),
        ),
        sa.ForeignKeyConstraint(
            ["follow_id"], ["follows.id"], name=op.f("fk_track_record_accounts_follow_id_follows")
        ),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_track_record_accounts")),
    )

    op.create_table(
        "health_events",
        sa.Column("id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("connection_id", _ID, nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_health_events")),
    )
    op.create_index(
        "ix_health_events_kind_connection", "health_events", ["kind", "connection_id", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_health_events_kind_connection", table_name="health_events")
    op.drop_table("health_events")
    op.drop_table("track_record_accounts")
    op.drop_index(op.f("ix_password_resets_user_id"), table_name="password_resets")
    op.drop_table("password_resets")
    op.drop_index(op.f("ix_web_sessions_user_id"), table_name="web_sessions")
    op.drop_table("web_sessions")
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, column in (("channel_sources", "track_record_public"), ("users", "signup_pending")):
        if sqlite:  # a batch copy would drop tables others refer to
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        else:
            op.drop_column(table, column)
