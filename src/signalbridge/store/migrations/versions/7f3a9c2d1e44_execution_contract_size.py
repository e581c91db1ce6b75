"""executions.contract_size: the market's contract size, recorded when planned

Revision ID: 7f3a9c2d1e44
Revises: 2cb4e3903c9d
Create Date: 2026-11-29 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import signalbridge.store.types

revision: str = "7f3a9c2d1e44"
down_revision: str | None = "2cb4e3903c9d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.add_column(
            sa.Column(
                "contract_size", signalbridge.store.types.ExactDecimal(length=64), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("contract_size")
