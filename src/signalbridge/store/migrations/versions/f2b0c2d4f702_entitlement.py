"""Entitlement: grants, reminders, plan-only channels

Revision ID: f2b0c2d4f702
Revises: f1b0c2d4f701
Create Date: 2026-12-07 10:00:00

A channel's ``visibility`` column is a plain string: the new value ``plan`` needs no
schema change. Grants are their own table (not subscription rows) so a gateway's
reconciliation never meets them; notices record what the expiry job issued, once each.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import signalbridge.store.types

revision: str = "f2b0c2d4f702"
down_revision: str | None = "f1b0c2d4f701"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _when(name: str, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, signalbridge.store.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "plan_grants",
        sa.Column("id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("plan_id", _ID, nullable=False),
        _when("starts_at", False),
        _when("ends_at", True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("granted_by", sa.String(length=320), nullable=False),
        _when("revoked_at", True),
        sa.Column("revoked_by", sa.String(length=320), nullable=True),
        _when("created_at", False),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name=op.f("fk_plan_grants_plan_id_plans")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_plan_grants_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_grants")),
    )
    op.create_index(op.f("ix_plan_grants_user_id"), "plan_grants", ["user_id"], unique=False)
    op.create_table(
        "entitlement_notices",
        sa.Column("id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("period", sa.String(length=40), nullable=False),
        _when("created_at", False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_entitlement_notices_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entitlement_notices")),
        sa.UniqueConstraint(
            "source",
            "source_id",
            "kind",
            "period",
            name=op.f("uq_entitlement_notices_source_source_id_kind_period"),
        ),
    )
    op.create_index(
        op.f("ix_entitlement_notices_user_id"), "entitlement_notices", ["user_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_entitlement_notices_user_id"), table_name="entitlement_notices")
    op.drop_table("entitlement_notices")
    op.drop_index(op.f("ix_plan_grants_user_id"), table_name="plan_grants")
    op.drop_table("plan_grants")
