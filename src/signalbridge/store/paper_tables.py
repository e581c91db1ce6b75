"""Tables of the paper venue (``paper_*``), on the project's declarative base.

They belong to the store: the venue speaks only its ``PaperStateStore`` protocol, which
:class:`signalbridge.store.paper_book.SqlPaperStore` implements on these tables.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from signalbridge.store.base import Base


class PaperAccountRow(Base):
    __tablename__ = "paper_accounts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    settings: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class PaperBalanceRow(Base):
    __tablename__ = "paper_balances"

    account_id: Mapped[str] = mapped_column(
        ForeignKey("paper_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    asset: Mapped[str] = mapped_column(String(16), primary_key=True)
    free: Mapped[Decimal]
    used: Mapped[Decimal]


class PaperOrderRow(Base):
    __tablename__ = "paper_orders"
    __table_args__ = (
        UniqueConstraint("account_id", "client_order_id"),
        Index("ix_paper_orders_open_symbol", "symbol", "is_open", "account_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        ForeignKey("paper_accounts.id", ondelete="CASCADE"), index=True
    )
    client_order_id: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(40))
    side: Mapped[str] = mapped_column(String(8))
    type: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(24))
    is_open: Mapped[bool]
    amount: Mapped[Decimal]
    filled: Mapped[Decimal]
    price: Mapped[Decimal | None]
    stop_price: Mapped[Decimal | None]
    reduce_only: Mapped[bool]
    leverage: Mapped[int]
    time_in_force: Mapped[str] = mapped_column(String(8))
    average_price: Mapped[Decimal | None]
    fee: Mapped[Decimal]
    fee_asset: Mapped[str] = mapped_column(String(16))
    reserved: Mapped[Decimal]
    reserved_asset: Mapped[str] = mapped_column(String(16))
    triggered: Mapped[bool]
    reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PaperPositionRow(Base):
    __tablename__ = "paper_positions"

    account_id: Mapped[str] = mapped_column(
        ForeignKey("paper_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    symbol: Mapped[str] = mapped_column(String(40), primary_key=True)
    side: Mapped[str] = mapped_column(String(8))
    amount: Mapped[Decimal]
    entry_price: Mapped[Decimal]
    leverage: Mapped[int]
    margin: Mapped[Decimal]
    realised_pnl: Mapped[Decimal]


class PaperFillRow(Base):
    __tablename__ = "paper_fills"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(
        ForeignKey("paper_orders.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[str] = mapped_column(String(64), index=True)
    symbol: Mapped[str] = mapped_column(String(40))
    side: Mapped[str] = mapped_column(String(8))
    amount: Mapped[Decimal]
    price: Mapped[Decimal]
    fee: Mapped[Decimal]
    fee_asset: Mapped[str] = mapped_column(String(16))
    maker: Mapped[bool]
    realised_pnl: Mapped[Decimal]
    at: Mapped[datetime]


PAPER_TABLES = [
    PaperAccountRow.__table__,
    PaperBalanceRow.__table__,
    PaperOrderRow.__table__,
    PaperPositionRow.__table__,
    PaperFillRow.__table__,
]
