"""Mutable records of one paper account, loaded from a store, changed by the venue, saved back.

The venue only mutates an :class:`AccountState` and marks what changed; the store writes
the marked rows in one transaction, so the in-memory and SQL stores behave the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from signalbridge.venues.base import (
    Fee,
    OrderSide,
    OrderStatus,
    PositionSide,
    TimeInForce,
    VenueOrder,
    VenueOrderType,
)

ZERO = Decimal(0)


@dataclass(slots=True)
class PaperBalance:
    asset: str
    free: Decimal = ZERO
    used: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.free + self.used


@dataclass(slots=True)
class PaperOrder:
    """An order and what it has reserved (quote for buys and margin, base for spot sells)."""

    id: str
    account_id: str
    client_order_id: str | None
    symbol: str
    side: OrderSide
    type: VenueOrderType
    status: OrderStatus
    amount: Decimal
    filled: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    reduce_only: bool
    leverage: int
    time_in_force: TimeInForce
    average_price: Decimal | None
    fee: Decimal
    fee_asset: str
    reserved: Decimal
    reserved_asset: str
    triggered: bool
    created_at: datetime
    updated_at: datetime
    reason: str | None = None

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.filled

    @property
    def is_open(self) -> bool:
        return not self.status.is_final

    def to_venue_order(self) -> VenueOrder:
        raw: dict[str, Any] = {
            "venue": "paper",
            "id": self.id,
            "status": self.status.value,
            "triggered": self.triggered,
            "leverage": self.leverage,
            "time_in_force": self.time_in_force.value,
        }
        if self.reason:
            raw["reason"] = self.reason
        return VenueOrder(
            client_order_id=self.client_order_id,
            venue_order_id=self.id,
            symbol=self.symbol,
            side=self.side,
            type=self.type,
            status=self.status,
            amount=self.amount,
            filled=self.filled,
            average_price=self.average_price,
            fee=Fee(self.fee, self.fee_asset) if self.filled > 0 else None,
            created_at=self.created_at,
            updated_at=self.updated_at,
            price=self.price,
            stop_price=self.stop_price,
            reduce_only=self.reduce_only,
            raw=raw,
        )

    def copy(self) -> PaperOrder:
        return replace(self)


@dataclass(slots=True)
class PaperPosition:
    """A linear position: ``margin`` is the isolated margin locked for it."""

    symbol: str
    side: PositionSide
    amount: Decimal
    entry_price: Decimal
    leverage: int
    margin: Decimal
    realised_pnl: Decimal = ZERO


@dataclass(slots=True)
class PaperFill:
    order_id: str
    account_id: str
    symbol: str
    side: OrderSide
    amount: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str
    maker: bool
    realised_pnl: Decimal
    at: datetime


@dataclass(slots=True)
class AccountState:
    """The slice of one account a venue operation needs, plus what it changed."""

    account_id: str
    settings: dict[str, Any]
    balances: dict[str, PaperBalance]
    positions: dict[str, PaperPosition]
    orders: dict[str, PaperOrder]
    fills: list[PaperFill] = field(default_factory=list)
    changed_balances: set[str] = field(default_factory=set)
    changed_positions: set[str] = field(default_factory=set)
    changed_orders: set[str] = field(default_factory=set)
    new_orders: set[str] = field(default_factory=set)
    settings_changed: bool = False

    def copy(self) -> AccountState:
        """An independent copy, so a failed operation can be dropped without undo logic."""
        return AccountState(
            account_id=self.account_id,
            settings=dict(self.settings),
            balances={a: replace(b) for a, b in self.balances.items()},
            positions={s: replace(p) for s, p in self.positions.items()},
            orders={i: o.copy() for i, o in self.orders.items()},
            fills=list(self.fills),
            changed_balances=set(self.changed_balances),
            changed_positions=set(self.changed_positions),
            changed_orders=set(self.changed_orders),
            new_orders=set(self.new_orders),
            settings_changed=self.settings_changed,
        )

    def balance(self, asset: str) -> PaperBalance:
        if asset not in self.balances:
            self.balances[asset] = PaperBalance(asset)
        self.changed_balances.add(asset)
        return self.balances[asset]

    def touch_order(self, order: PaperOrder) -> None:
        self.orders[order.id] = order
        self.changed_orders.add(order.id)

    def leverage_for(self, symbol: str) -> int:
        levels = self.settings.get("leverage") or {}
        return int(levels.get(symbol, 1))
