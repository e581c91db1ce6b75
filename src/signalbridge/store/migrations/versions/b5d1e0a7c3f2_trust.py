"""Trust: owners on every row, webhook replay window, token bookkeeping

Revision ID: b5d1e0a7c3f2
Revises: 7f3a9c2d1e44
Create Date: 2026-12-07 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import signalbridge.store.types

revision: str = "b5d1e0a7c3f2"
down_revision: str | None = "7f3a9c2d1e44"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # --- ownership ---
    # Rows made before owners existed (the CLI, the demo) go to the first admin: the
    # lowest-id admin, else the lowest-id user.
    bind = op.get_bind()
    owner = bind.scalar(sa.text("SELECT min(id) FROM users WHERE role = 'admin'"))
    if owner is None:
        owner = bind.scalar(sa.text("SELECT min(id) FROM users"))
    orphans = bind.scalar(
        sa.text("SELECT count(*) FROM execution_connections WHERE owner_id IS NULL")
    )
    if orphans and owner is None:
        raise RuntimeError(
            "execution connections exist but no user does, so nobody can own them: "
            "start from an empty data directory, or add an admin to the users table first"
        )
    if owner is not None:
        for update in (
            "UPDATE execution_connections SET owner_id = :owner WHERE owner_id IS NULL",
            "UPDATE channel_sources SET owner_id = :owner WHERE owner_id IS NULL",
        ):
            bind.execute(sa.text(update), {"owner": owner})
    _ownership_owner_required(True)
    op.create_index(
        op.f("ix_execution_connections_owner_id"), "execution_connections", ["owner_id"]
    )
    with op.batch_alter_table("channel_sources") as batch:
        batch.add_column(
            sa.Column("visibility", sa.String(length=16), nullable=False, server_default="private")
        )
    # --- end ownership ---
    # --- replay ---
    # One claim per (channel, body hash): the webhook replay window (services/replay.py).
    op.create_table(
        "delivery_bodies",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "channel_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("body_hash", sa.String(length=64), nullable=False),
        sa.Column("seen_at", signalbridge.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channel_sources.id"],
            name=op.f("fk_delivery_bodies_channel_id_channel_sources"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_delivery_bodies_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_bodies")),
        sa.UniqueConstraint(
            "channel_id", "body_hash", name=op.f("uq_delivery_bodies_channel_id_body_hash")
        ),
    )
    # --- end replay ---
    # --- tokens ---
    # --- end tokens ---
    pass


def downgrade() -> None:
    # --- tokens ---
    # --- end tokens ---
    # --- replay ---
    op.drop_table("delivery_bodies")
    # --- end replay ---
    # --- ownership ---
    if op.get_bind().dialect.name == "sqlite":
        # Natively: a batch rebuild of channel_sources fails while rows point at it.
        op.execute("ALTER TABLE channel_sources DROP COLUMN visibility")
    else:
        op.drop_column("channel_sources", "visibility")
    op.drop_index(op.f("ix_execution_connections_owner_id"), "execution_connections")
    _ownership_owner_required(False)
    # --- end ownership ---
    pass


# --- ownership helpers ---
_OWNERSHIP_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ownership_owner_required(required: bool) -> None:
    """Make ``execution_connections.owner_id`` NOT NULL (or nullable again).

    PostgreSQL alters the column. SQLite has to rebuild the table, and the usual rebuild
    (copy to a new table, drop the old one, rename; what batch mode does) fails once
    follows, executions, orders or positions point at it: foreign keys stay on inside the
    migration's transaction. So the rows go to a scratch table, the table is dropped and
    created again under its own name, and the rows come back; the references that are
    broken in between are checked, deferred, when the transaction commits.
    """
    if op.get_bind().dialect.name != "sqlite":
        with op.batch_alter_table("execution_connections") as batch:
            batch.alter_column("owner_id", existing_type=_OWNERSHIP_ID, nullable=not required)
        return
    op.execute("PRAGMA defer_foreign_keys = ON")
    op.execute("CREATE TABLE _ownership_rebuild AS SELECT * FROM execution_connections")
    op.drop_table("execution_connections")
    op.create_table(
        "execution_connections",
        sa.Column("owner_id", _OWNERSHIP_ID, nullable=not required),
        sa.Column("id", _OWNERSHIP_ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("secrets_enc", sa.Text(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", signalbridge.store.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", signalbridge.store.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_execution_connections_owner_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_execution_connections")),
    )
    op.execute(
        "INSERT INTO execution_connections (owner_id, id, name, type, config, secrets_enc, "
        "is_active, created_at, updated_at) SELECT owner_id, id, name, type, config, "
        "secrets_enc, is_active, created_at, updated_at FROM _ownership_rebuild"
    )
    op.drop_table("_ownership_rebuild")


# --- end ownership helpers ---
