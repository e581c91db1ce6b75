"""Position sync, live PnL and execution quality

``positions`` gains ``funding`` (paid or received while open), ``inverse`` and
``pnl_asset`` (coin-margined contracts count PnL in the base coin) and ``close_reason``
(``exit``, ``closed_outside``). ``foreign_positions`` lists what a venue
holds that SignalBridge did not open: reported, never touched. ``mark_prices`` keeps the
monitor's last price per connection and symbol, to mark unrealised PnL on read.
``orders.reference_price`` is the price an order was planned at: its slippage is measured
against it.

Revision ID: f7b0c2d4f707
Revises: f6b0c2d4f706
Create Date: 2026-12-07 16:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import signalbridge.store.types

revision: str = "f7b0c2d4f707"
down_revision: str | None = "f6b0c2d4f706"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = signalbridge.store.types.UTCDateTime(timezone=True)
_DEC = signalbridge.store.types.ExactDecimal(length=64)


def upgrade() -> None:
    op.create_table(
        "foreign_positions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("connection_id", _ID, nullable=False),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("amount", _DEC, nullable=False),
        sa.Column("entry_price", _DEC, nullable=True),
        sa.Column("unrealised_pnl", _DEC, nullable=True),
        sa.Column("first_seen_at", _WHEN, nullable=False),
        sa.Column("last_seen_at", _WHEN, nullable=False),
        sa.Column("gone_at", _WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["execution_connections.id"],
            name=op.f("fk_foreign_positions_connection_id_execution_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_foreign_positions")),
        sa.UniqueConstraint(
            "connection_id",
            "symbol",
            "side",
            name=op.f("uq_foreign_positions_connection_id_symbol_side"),
        ),
    )
    op.create_table(
        "mark_prices",
        sa.Column("connection_id", _ID, nullable=False),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("price", _DEC, nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["execution_connections.id"],
            name=op.f("fk_mark_prices_connection_id_execution_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connection_id", "symbol", name=op.f("pk_mark_prices")),
    )
    # Plain ADD COLUMN on both databases (a batch rebuild of a referenced table fails on
    # SQLite; see the trust revision).
    op.add_column("positions", sa.Column("funding", _DEC, nullable=False, server_default="0"))
    op.add_column(
        "positions",
        sa.Column("inverse", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("positions", sa.Column("pnl_asset", sa.String(length=20), nullable=True))
    op.add_column("positions", sa.Column("close_reason", sa.String(length=40), nullable=True))
    op.add_column("orders", sa.Column("reference_price", _DEC, nullable=True))
    op.add_column("executions", sa.Column("pnl_asset", sa.String(length=20), nullable=True))


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, column in (
        ("executions", "pnl_asset"),
        ("orders", "reference_price"),
        ("positions", "close_reason"),
        ("positions", "pnl_asset"),
        ("positions", "inverse"),
        ("positions", "funding"),
    ):
        if sqlite:
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        else:
            op.drop_column(table, column)
    op.drop_table("mark_prices")
    op.drop_table("foreign_positions")
