"""Fees as the venue reports them, net amounts for spot exits

orders.fees: every fee of an order's fills, per asset (amount and asset as reported);
executions.amount_step: the market's amount step, recorded when an exit is written, so a
remainder below one step (spot fee dust) closes the position.

Revision ID: d3a2f0b2c4e2
Revises: d3a1f0b2c4e1
Create Date: 2026-12-07 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import signalbridge.store.types

revision: str = "d3a2f0b2c4e2"
down_revision: str | None = "d3a1f0b2c4e1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("fees", sa.JSON(), nullable=True))
    with op.batch_alter_table("executions") as batch:
        batch.add_column(
            sa.Column(
                "amount_step", signalbridge.store.types.ExactDecimal(length=64), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("amount_step")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("fees")
