"""Where paper accounts live: the store interface and its in-memory implementation.

A venue operation is a synchronous function of one account's state: ``store.run(account,
op)`` loads the slice of the account the operation needs, applies ``op`` to a copy, and
saves what changed in one transaction when ``op`` returns, or nothing at all when it
raises. Keeping operations synchronous lets the SQL store run many of them in one
database transaction (group commit) without changing their meaning.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from signalbridge.integrations.errors import InvalidRequest
from signalbridge.venues.paper.state import (
    AccountState,
    PaperBalance,
    PaperFill,
    PaperOrder,
    PaperPosition,
)

T = TypeVar("T")
Operation = Callable[[AccountState], T]


class UnknownAccount(LookupError):
    """The paper account was never created (a configuration error, not a venue answer)."""


class PaperStateStore(Protocol):
    async def ensure_account(
        self, account_id: str, settings: Mapping[str, Any], balances: Mapping[str, Decimal]
    ) -> None:
        """Create the account with its starting balances once; later calls update settings."""
        ...

    async def run(
        self,
        account_id: str,
        operation: Operation[T],
        *,
        open_orders_symbol: str | None = None,
        client_order_id: str | None = None,
    ) -> T:
        """Apply ``operation`` atomically to the account's balances, positions, the open
        orders of ``open_orders_symbol`` and the order with ``client_order_id``."""
        ...

    async def get_settings(self, account_id: str) -> dict[str, Any]: ...

    async def get_order(self, account_id: str, client_order_id: str) -> PaperOrder | None: ...

    async def list_open_orders(self, account_id: str, symbol: str | None) -> list[PaperOrder]: ...

    async def get_balances(self, account_id: str) -> dict[str, PaperBalance]: ...

    async def get_positions(self, account_id: str) -> dict[str, PaperPosition]: ...

    async def accounts_with_open_orders(self, symbol: str) -> list[str]: ...

    async def accounts_with_open_orders_on(self, symbols: list[str]) -> dict[str, list[str]]:
        """:meth:`accounts_with_open_orders` for several symbols in one query."""
        ...


class MemoryPaperStore:
    """Process-local store for unit tests and benchmarks; same semantics as the SQL store."""

    def __init__(self) -> None:
        self._settings: dict[str, dict[str, Any]] = {}
        self._balances: dict[str, dict[str, PaperBalance]] = {}
        self._positions: dict[str, dict[str, PaperPosition]] = {}
        self._orders: dict[str, PaperOrder] = {}
        self._by_client: dict[tuple[str, str], str] = {}
        self._open: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        self.fills: list[PaperFill] = []

    async def ensure_account(
        self, account_id: str, settings: Mapping[str, Any], balances: Mapping[str, Decimal]
    ) -> None:
        if account_id in self._settings:
            self._settings[account_id].update(settings)
            return
        self._settings[account_id] = dict(settings)
        self._balances[account_id] = {a: PaperBalance(a, Decimal(v)) for a, v in balances.items()}
        self._positions[account_id] = {}

    def _check(self, account_id: str) -> None:
        if account_id not in self._settings:
            raise UnknownAccount(account_id)

    async def run(
        self,
        account_id: str,
        operation: Operation[T],
        *,
        open_orders_symbol: str | None = None,
        client_order_id: str | None = None,
    ) -> T:
        # No await between load and save: the event loop cannot interleave another
        # operation on the same account, so no lock is needed.
        self._check(account_id)
        orders: dict[str, PaperOrder] = {}
        if open_orders_symbol is not None and open_orders_symbol in self._open:
            for order_id in self._open[open_orders_symbol].get(account_id, ()):
                orders[order_id] = self._orders[order_id].copy()
        if client_order_id is not None:
            found = self._by_client.get((account_id, client_order_id))
            if found is not None:
                orders[found] = self._orders[found].copy()
        state = AccountState(
            account_id=account_id,
            settings=dict(self._settings[account_id]),
            balances={a: replace(b) for a, b in self._balances[account_id].items()},
            positions={s: replace(p) for s, p in self._positions[account_id].items()},
            orders=orders,
        )
        result = operation(state)
        self._save(state)
        return result

    def _save(self, state: AccountState) -> None:
        account = state.account_id
        for order_id in state.new_orders:
            order = state.orders[order_id]
            key = (account, order.client_order_id or order.id)
            if key in self._by_client:
                raise InvalidRequest("duplicate client order id")
        for order_id in state.new_orders:
            order = state.orders[order_id]
            self._by_client[(account, order.client_order_id or order.id)] = order_id
        for order_id in state.changed_orders:
            order = state.orders[order_id]
            self._orders[order_id] = order
            bucket = self._open[order.symbol][account]
            if order.is_open:
                bucket.add(order_id)
            else:
                bucket.discard(order_id)
                if not bucket:
                    del self._open[order.symbol][account]
        for asset in state.changed_balances:
            self._balances[account][asset] = state.balances[asset]
        for symbol in state.changed_positions:
            if symbol in state.positions:
                self._positions[account][symbol] = state.positions[symbol]
            else:
                self._positions[account].pop(symbol, None)
        if state.settings_changed:
            self._settings[account] = dict(state.settings)
        self.fills.extend(state.fills)

    async def get_settings(self, account_id: str) -> dict[str, Any]:
        self._check(account_id)
        return dict(self._settings[account_id])

    async def get_order(self, account_id: str, client_order_id: str) -> PaperOrder | None:
        found = self._by_client.get((account_id, client_order_id))
        return None if found is None else self._orders[found].copy()

    async def list_open_orders(self, account_id: str, symbol: str | None) -> list[PaperOrder]:
        symbols = [symbol] if symbol is not None else list(self._open)
        found = [
            self._orders[order_id].copy()
            for s in symbols
            for order_id in self._open[s].get(account_id, ())
        ]
        return sorted(found, key=lambda o: (o.created_at, o.id))

    async def get_balances(self, account_id: str) -> dict[str, PaperBalance]:
        self._check(account_id)
        return {a: replace(b) for a, b in self._balances[account_id].items()}

    async def get_positions(self, account_id: str) -> dict[str, PaperPosition]:
        self._check(account_id)
        return {s: replace(p) for s, p in self._positions[account_id].items()}

    async def accounts_with_open_orders(self, symbol: str) -> list[str]:
        return sorted(self._open[symbol]) if symbol in self._open else []

    async def accounts_with_open_orders_on(self, symbols: list[str]) -> dict[str, list[str]]:
        return {s: sorted(self._open[s]) for s in symbols if self._open.get(s)}
