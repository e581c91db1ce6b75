"""SQL store for paper accounts: state survives a process kill.

Operations that arrive together are applied in ONE database transaction (group commit):
the state of every account in the batch is read with a handful of ``IN`` queries, each
operation runs on its own copy (a failing one changes nothing), and every change is
written with bulk statements before a single commit. An operation's caller is answered
only after that commit, so whatever it was told is durable. On PostgreSQL the batch's
account rows are locked (``FOR UPDATE``, in id order) against other processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.domain.clock import utcnow
from signalbridge.integrations.errors import AmbiguousOutcome, InvalidRequest, TransientError
from signalbridge.store.paper_rows import (
    order_from_row,
    order_values,
    position_from_row,
    position_values,
)
from signalbridge.store.paper_tables import (
    PaperAccountRow,
    PaperBalanceRow,
    PaperFillRow,
    PaperOrderRow,
    PaperPositionRow,
)
from signalbridge.venues.paper.state import (
    AccountState,
    PaperBalance,
    PaperOrder,
    PaperPosition,
)
from signalbridge.venues.paper.store import Operation, T, UnknownAccount

MAX_BATCH = 500
ZERO = Decimal(0)


@dataclass(slots=True)
class _Job:
    account_id: str
    operation: Callable[[AccountState], Any]
    open_orders_symbol: str | None
    client_order_id: str | None
    future: asyncio.Future[Any]
    create: tuple[dict[str, Any], dict[str, Decimal]] | None = None
    result: Any = None
    error: BaseException | None = None


@dataclass(slots=True)
class _Loaded:
    state: AccountState
    known_assets: set[str] = field(default_factory=set)
    known_positions: set[str] = field(default_factory=set)


class SqlPaperStore:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = session_factory
        self._pending: list[_Job] = []
        self._worker: asyncio.Task[None] | None = None
        self._balance_waiters: dict[str, list[asyncio.Future[dict[str, PaperBalance]]]] = {}
        self._balance_reader: asyncio.Task[None] | None = None

    async def ensure_account(
        self, account_id: str, settings: Mapping[str, Any], balances: Mapping[str, Decimal]
    ) -> None:
        """Goes through the batch too, so 1,000 new accounts cost one transaction."""
        new = dict(settings)

        def merge(state: AccountState) -> None:
            if any(state.settings.get(k) != v for k, v in new.items()):
                state.settings.update(new)
                state.settings_changed = True

        await self.run(account_id, merge, create=(new, dict(balances)))

    # --- operations (group commit) ---------------------------------------------------------

    async def run(
        self,
        account_id: str,
        operation: Operation[T],
        *,
        open_orders_symbol: str | None = None,
        client_order_id: str | None = None,
        create: tuple[dict[str, Any], dict[str, Decimal]] | None = None,
    ) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append(
            _Job(account_id, operation, open_orders_symbol, client_order_id, future, create)
        )
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            await asyncio.sleep(0)  # let every coroutine ready to submit join this batch
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            await self._run_batch(batch)

    async def _run_batch(self, batch: list[_Job]) -> None:
        try:
            await self._apply(batch)
        except IntegrityError:
            if len(batch) > 1:  # another process raced us: settle each job on its own
                for job in batch:
                    job.error = job.result = None
                    await self._run_batch([job])
                return
            batch[0].error = InvalidRequest("duplicate client order id")
        except SQLAlchemyError as exc:
            for job in batch:
                if job.error is None:
                    job.error = _database_error(exc)
        except BaseException as exc:  # never leave a caller waiting forever
            for job in batch:
                job.error = exc
        for job in batch:
            if job.future.done():
                continue
            if job.error is not None:
                job.future.set_exception(job.error)
            else:
                job.future.set_result(job.result)

    async def _apply(self, batch: list[_Job]) -> None:
        async with self._sessions() as session, session.begin():
            loaded = await self._load(session, batch)
            await self._create_missing(session, batch, loaded)
            for job in batch:
                item = loaded.get(job.account_id)
                if item is None:
                    job.error = UnknownAccount(job.account_id)
                    continue
                attempt = item.state.copy()
                try:
                    job.result = job.operation(attempt)
                except Exception as exc:  # the operation's own refusal: it changes nothing
                    job.error = exc
                    continue
                item.state = attempt
            await self._write(session, loaded)

    @staticmethod
    async def _create_missing(
        session: AsyncSession, batch: list[_Job], loaded: dict[str, _Loaded]
    ) -> None:
        """Insert accounts a batch asks to create (balances only at creation)."""
        accounts: list[dict[str, Any]] = []
        balances: list[dict[str, Any]] = []
        now = utcnow()
        for job in batch:
            if job.create is None or job.account_id in loaded:
                continue
            settings, amounts = job.create
            item = _Loaded(AccountState(job.account_id, dict(settings), {}, {}, {}))
            for asset, amount in amounts.items():
                item.state.balances[asset] = PaperBalance(asset, Decimal(amount))
                item.known_assets.add(asset)
                balances.append(
                    {"account_id": job.account_id, "asset": asset, "free": amount, "used": ZERO}
                )
            accounts.append({"id": job.account_id, "settings": dict(settings), "created_at": now})
            loaded[job.account_id] = item
        if accounts:
            await session.execute(insert(PaperAccountRow), accounts)
            await session.execute(insert(PaperBalanceRow), balances)

    async def _load(self, session: AsyncSession, batch: list[_Job]) -> dict[str, _Loaded]:
        # Plain column rows, not ORM objects: a batch may load thousands of rows, and the
        # state is copied into AccountState anyway.
        ids = sorted({job.account_id for job in batch})
        accounts: Any = PaperAccountRow.__table__
        query = select(accounts.c.id, accounts.c.settings).where(accounts.c.id.in_(ids))
        if session.get_bind().dialect.name == "postgresql":
            query = query.order_by(accounts.c.id).with_for_update()
        loaded = {
            row.id: _Loaded(AccountState(row.id, dict(row.settings), {}, {}, {}))
            for row in (await session.execute(query))
        }
        balances: Any = PaperBalanceRow.__table__
        for balance in await session.execute(
            select(balances).where(balances.c.account_id.in_(ids))
        ):
            item = loaded[balance.account_id]
            item.state.balances[balance.asset] = PaperBalance(
                balance.asset, balance.free, balance.used
            )
            item.known_assets.add(balance.asset)
        positions: Any = PaperPositionRow.__table__
        for held in await session.execute(select(positions).where(positions.c.account_id.in_(ids))):
            item = loaded[held.account_id]
            item.state.positions[held.symbol] = position_from_row(held)
            item.known_positions.add(held.symbol)
        orders: Any = PaperOrderRow.__table__
        symbols = {j.open_orders_symbol for j in batch if j.open_orders_symbol is not None}
        wanted_open = {(j.account_id, j.open_orders_symbol) for j in batch}
        if symbols:
            for row in await session.execute(
                select(orders).where(
                    orders.c.account_id.in_(ids),
                    orders.c.symbol.in_(sorted(symbols)),
                    orders.c.is_open.is_(True),
                )
            ):
                if (row.account_id, row.symbol) in wanted_open and row.account_id in loaded:
                    loaded[row.account_id].state.orders[row.id] = order_from_row(row)
        pairs = sorted({(j.account_id, j.client_order_id) for j in batch if j.client_order_id})
        if pairs:
            for row in await session.execute(
                select(orders).where(
                    tuple_(orders.c.account_id, orders.c.client_order_id).in_(pairs)
                )
            ):
                if row.account_id in loaded:
                    loaded[row.account_id].state.orders[row.id] = order_from_row(row)
        return loaded

    async def _write(self, session: AsyncSession, loaded: Mapping[str, _Loaded]) -> None:
        new_orders: list[dict[str, Any]] = []
        changed_orders: list[dict[str, Any]] = []
        balance_updates: list[dict[str, Any]] = []
        balance_inserts: list[dict[str, Any]] = []
        position_updates: list[dict[str, Any]] = []
        position_inserts: list[dict[str, Any]] = []
        position_deletes: list[tuple[str, str]] = []
        fills: list[dict[str, Any]] = []
        account_updates: list[dict[str, Any]] = []
        for item in loaded.values():
            state = item.state
            account = state.account_id
            for order_id in state.changed_orders:
                values = {"id": order_id, **order_values(state.orders[order_id])}
                if order_id in state.new_orders:
                    new_orders.append({"account_id": account, **values})
                else:
                    changed_orders.append(values)
            for asset in state.changed_balances:
                b = state.balances[asset]
                row = {"account_id": account, "asset": asset, "free": b.free, "used": b.used}
                (balance_updates if asset in item.known_assets else balance_inserts).append(row)
            for symbol in state.changed_positions:
                p = state.positions.get(symbol)
                if p is None:
                    if symbol in item.known_positions:
                        position_deletes.append((account, symbol))
                    continue
                values = {"account_id": account, **position_values(p)}
                target = position_updates if symbol in item.known_positions else position_inserts
                target.append(values)
            if state.settings_changed:
                account_updates.append({"id": account, "settings": dict(state.settings)})
            fills.extend(
                {
                    "order_id": f.order_id,
                    "account_id": f.account_id,
                    "symbol": f.symbol,
                    "side": f.side.value,
                    "amount": f.amount,
                    "price": f.price,
                    "fee": f.fee,
                    "fee_asset": f.fee_asset,
                    "maker": f.maker,
                    "realised_pnl": f.realised_pnl,
                    "at": f.at,
                }
                for f in state.fills
            )
        # Core statements (executemany), not the ORM's bulk paths: nothing here needs
        # objects, and a batch may carry hundreds of rows.
        accounts: Any = PaperAccountRow.__table__
        orders: Any = PaperOrderRow.__table__
        balances: Any = PaperBalanceRow.__table__
        positions: Any = PaperPositionRow.__table__
        if account_updates:
            await session.execute(
                update(accounts).where(accounts.c.id == bindparam("k_id")),
                [{"k_id": row["id"], "settings": row["settings"]} for row in account_updates],
            )
        if new_orders:
            await session.execute(insert(orders), new_orders)
        if changed_orders:
            await session.execute(
                update(orders).where(orders.c.id == bindparam("k_id")),
                [{"k_id": row.pop("id"), **row} for row in changed_orders],
            )
        if balance_inserts:
            await session.execute(insert(balances), balance_inserts)
        if balance_updates:
            await session.execute(
                update(balances).where(
                    balances.c.account_id == bindparam("k_account"),
                    balances.c.asset == bindparam("k_asset"),
                ),
                [
                    {"k_account": b["account_id"], "k_asset": b["asset"], **_without(b)}
                    for b in balance_updates
                ],
            )
        if position_deletes:
            await session.execute(
                delete(positions).where(
                    tuple_(positions.c.account_id, positions.c.symbol).in_(position_deletes)
                )
            )
        if position_inserts:
            await session.execute(insert(positions), position_inserts)
        if position_updates:
            await session.execute(
                update(positions).where(
                    positions.c.account_id == bindparam("k_account"),
                    positions.c.symbol == bindparam("k_symbol"),
                ),
                [
                    {"k_account": p["account_id"], "k_symbol": p["symbol"], **_without(p, "symbol")}
                    for p in position_updates
                ],
            )
        if fills:
            fill_table: Any = PaperFillRow.__table__
            await session.execute(insert(fill_table), fills)

    # --- reads -----------------------------------------------------------------------------

    async def get_settings(self, account_id: str) -> dict[str, Any]:
        async with self._sessions() as session:
            row = await session.get(PaperAccountRow, account_id)
            if row is None:
                raise UnknownAccount(account_id)
            return dict(row.settings)

    async def get_order(self, account_id: str, client_order_id: str) -> PaperOrder | None:
        async with self._sessions() as session:
            row = (
                await session.scalars(
                    select(PaperOrderRow).where(
                        PaperOrderRow.account_id == account_id,
                        PaperOrderRow.client_order_id == client_order_id,
                    )
                )
            ).one_or_none()
            return None if row is None else order_from_row(row)

    async def list_open_orders(self, account_id: str, symbol: str | None) -> list[PaperOrder]:
        query = select(PaperOrderRow).where(
            PaperOrderRow.account_id == account_id, PaperOrderRow.is_open.is_(True)
        )
        if symbol is not None:
            query = query.where(PaperOrderRow.symbol == symbol)
        async with self._sessions() as session:
            rows = await session.scalars(query.order_by(PaperOrderRow.created_at, PaperOrderRow.id))
            return [order_from_row(r) for r in rows]

    async def get_balances(self, account_id: str) -> dict[str, PaperBalance]:
        """Balances of one account; reads asked for together share one query (fan-out).

        A read is never served from a query that started before it was asked for, so it
        sees every write its caller has already been answered for.
        """
        future: asyncio.Future[dict[str, PaperBalance]] = asyncio.get_running_loop().create_future()
        self._balance_waiters.setdefault(account_id, []).append(future)
        if self._balance_reader is None or self._balance_reader.done():
            self._balance_reader = asyncio.create_task(self._read_balances())
        return await future

    async def _read_balances(self) -> None:
        while self._balance_waiters:
            await asyncio.sleep(0)  # let every caller ready to ask join this query
            waiters, self._balance_waiters = self._balance_waiters, {}
            ids = sorted(waiters)
            found: dict[str, dict[str, PaperBalance]] = {a: {} for a in ids}
            try:
                table: Any = PaperBalanceRow.__table__
                async with self._sessions() as session:
                    for start in range(0, len(ids), MAX_BATCH):
                        rows = await session.execute(
                            select(table).where(
                                table.c.account_id.in_(ids[start : start + MAX_BATCH])
                            )
                        )
                        for r in rows:
                            found[r.account_id][r.asset] = PaperBalance(r.asset, r.free, r.used)
            except BaseException as exc:  # never leave a caller waiting forever
                error = _database_error(exc) if isinstance(exc, SQLAlchemyError) else exc
                for futures in waiters.values():
                    for f in futures:
                        if not f.done():
                            f.set_exception(error)
                if not isinstance(exc, Exception):
                    raise
                continue
            for account_id, futures in waiters.items():
                for f in futures:
                    if not f.done():
                        f.set_result({a: replace(b) for a, b in found[account_id].items()})

    async def get_positions(self, account_id: str) -> dict[str, PaperPosition]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(PaperPositionRow).where(PaperPositionRow.account_id == account_id)
            )
            return {r.symbol: position_from_row(r) for r in rows}

    async def accounts_with_open_orders_on(self, symbols: list[str]) -> dict[str, list[str]]:
        """Accounts with open orders per symbol, for many symbols in one query."""
        if not symbols:
            return {}
        async with self._sessions() as session:
            rows = await session.execute(
                select(PaperOrderRow.symbol, PaperOrderRow.account_id)
                .where(
                    PaperOrderRow.symbol.in_(sorted(set(symbols))), PaperOrderRow.is_open.is_(True)
                )
                .distinct()
                .order_by(PaperOrderRow.symbol, PaperOrderRow.account_id)
            )
            found: dict[str, list[str]] = {}
            for symbol, account_id in rows.all():
                found.setdefault(symbol, []).append(account_id)
            return found

    async def accounts_with_open_orders(self, symbol: str) -> list[str]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(PaperOrderRow.account_id)
                .where(PaperOrderRow.symbol == symbol, PaperOrderRow.is_open.is_(True))
                .distinct()
                .order_by(PaperOrderRow.account_id)
            )
            return list(rows)


def _without(row: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    """A row's values minus its key columns (they go in the WHERE clause)."""
    drop = {"account_id", "asset", *keys}
    return {k: v for k, v in row.items() if k not in drop}


def _database_error(exc: SQLAlchemyError) -> Exception:
    """A failed commit may or may not have landed; anything earlier changed nothing."""
    if getattr(exc, "connection_invalidated", False):
        return AmbiguousOutcome("paper store connection lost during a write")
    return TransientError(f"paper store unavailable: {type(exc).__name__}")
