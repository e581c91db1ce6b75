"""Payments: plans, gateways, payments, events, subscriptions

Revision ID: f1b0c2d4f701
Revises: e3b0c2d4f603
Create Date: 2026-12-07 10:00:00

Plans get a price per currency, an interval count and trial days; payments are written
``pending`` before the checkout exists (``external_id`` becomes nullable, the unique
(gateway, external_id) still holds) and carry their plan, connection, checkout, fee and
times; payment events record failed attempts; subscriptions their connection, customer,
trial and cancellation.

SQLite: ``payments`` is rebuilt (a column becomes nullable and foreign keys are added;
no table points at it, so the copy-and-rename is safe); the other tables only gain
columns with a plain ``ALTER TABLE ... ADD COLUMN``, so tables that others point at are
never rebuilt (dropping them fails with foreign keys on while rows point at them).
"""

from collections.abc import Sequence
from typing import Literal

import sqlalchemy as sa
from alembic import op

import signalbridge.store.types

revision: str = "f1b0c2d4f701"
down_revision: str | None = "e3b0c2d4f603"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _when(name: str) -> sa.Column[object]:
    return sa.Column(name, signalbridge.store.types.UTCDateTime(timezone=True), nullable=True)


def _recreate() -> Literal["always", "auto"]:
    return "always" if op.get_bind().dialect.name == "sqlite" else "auto"


def upgrade() -> None:
    # Plain ALTER TABLE ... ADD COLUMN (never a batch: SQLite would rebuild the table, and
    # dropping a table that rows point at fails with foreign keys on).
    op.add_column("plans", sa.Column("prices", sa.JSON(), nullable=False, server_default="{}"))
    op.add_column(
        "plans", sa.Column("interval_count", sa.Integer(), nullable=False, server_default="1")
    )
    op.add_column(
        "plans", sa.Column("trial_days", sa.Integer(), nullable=False, server_default="0")
    )

    with op.batch_alter_table("payments", recreate=_recreate()) as batch:
        batch.alter_column("external_id", existing_type=sa.String(length=200), nullable=True)
        batch.add_column(sa.Column("plan_id", _ID, nullable=True))
        batch.add_column(sa.Column("connection_id", _ID, nullable=True))
        batch.add_column(sa.Column("checkout_id", sa.String(length=200), nullable=True))
        batch.add_column(
            sa.Column("fee", signalbridge.store.types.ExactDecimal(length=64), nullable=True)
        )
        batch.add_column(sa.Column("reason", sa.Text(), nullable=True))
        batch.add_column(_when("paid_at"))
        batch.add_column(_when("refunded_at"))
        batch.add_column(_when("provider_updated_at"))
        batch.create_foreign_key(op.f("fk_payments_plan_id_plans"), "plans", ["plan_id"], ["id"])
        batch.create_foreign_key(
            op.f("fk_payments_connection_id_payment_gateways"),
            "payment_gateways",
            ["connection_id"],
            ["id"],
        )
        batch.create_index(op.f("ix_payments_checkout_id"), ["checkout_id"], unique=False)

    op.add_column("payment_events", sa.Column("connection_id", _ID, nullable=True))
    op.add_column("payment_events", sa.Column("error", sa.Text(), nullable=True))
    op.add_column(
        "payment_events",
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    )

    op.add_column("subscriptions", sa.Column("connection_id", _ID, nullable=True))
    op.add_column("subscriptions", sa.Column("customer_id", sa.String(length=200), nullable=True))
    op.add_column("subscriptions", _when("trial_end"))
    op.add_column(
        "subscriptions",
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("subscriptions", _when("canceled_at"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # Natively: a batch rebuild of subscriptions or plans fails while rows point at them.
        for table, column in (
            ("subscriptions", "canceled_at"),
            ("subscriptions", "cancel_at_period_end"),
            ("subscriptions", "trial_end"),
            ("subscriptions", "customer_id"),
            ("subscriptions", "connection_id"),
            ("plans", "trial_days"),
            ("plans", "interval_count"),
            ("plans", "prices"),
        ):
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    else:
        for column in (
            "canceled_at",
            "cancel_at_period_end",
            "trial_end",
            "customer_id",
            "connection_id",
        ):
            op.drop_column("subscriptions", column)
        for column in ("trial_days", "interval_count", "prices"):
            op.drop_column("plans", column)
    for column in ("attempts", "error", "connection_id"):
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f"ALTER TABLE payment_events DROP COLUMN {column}")
        else:
            op.drop_column("payment_events", column)
    with op.batch_alter_table("payments", recreate=_recreate()) as batch:
        batch.drop_index(op.f("ix_payments_checkout_id"))
        batch.drop_constraint(op.f("fk_payments_connection_id_payment_gateways"), "foreignkey")
        batch.drop_constraint(op.f("fk_payments_plan_id_plans"), "foreignkey")
        for column in (
            "provider_updated_at",
            "refunded_at",
            "paid_at",
            "reason",
            "fee",
            "checkout_id",
            "connection_id",
            "plan_id",
        ):
            batch.drop_column(column)
        batch.alter_column("external_id", existing_type=sa.String(length=200), nullable=False)
