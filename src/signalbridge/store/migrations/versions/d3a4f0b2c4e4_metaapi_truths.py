"""MetaApi: account mode and contract size (placeholder)

Revision ID: d3a4f0b2c4e4
Revises: d3a2f0b2c4e2
Create Date: 2026-12-07 04:30:00
"""

from collections.abc import Sequence

revision: str = "d3a4f0b2c4e4"
down_revision: str | None = "d3a2f0b2c4e2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
