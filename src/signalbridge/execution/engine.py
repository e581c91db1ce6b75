"""Turning an execution into orders on the venue, exactly once.

Every order's intent is written (``pending``, with a deterministic client order id) before
it is sent. Sending first moves the row to ``sending`` in its own transaction, so whatever
happens next (timeout, reset, SIGKILL) the row says an order *may* exist. Such an order is
looked up by its client order id before anything else is done; it is sent again (with the
same id) only when the venue still does not know it after a settle window.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import structlog
from pydantic import ValidationError
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.domain.market import Market
from signalbridge.domain.signals import EntryZone, OrderType, Side, Signal
from signalbridge.execution.base import (
    Balance,
    OrderRequest,
    OrderSide,
    Ticker,
    VenueOrder,
    VenueOrderType,
    client_order_id,
)
from signalbridge.execution.management import management_settings
from signalbridge.execution.planner import (
    OrderIntent,
    Plan,
    Skip,
    Wait,
    netting_guard,
    plan_entry,
    risk_settings,
    sizing_config,
    staleness,
)
from signalbridge.execution.pool import AdapterPool, Connected
from signalbridge.execution.recorder import (
    get_rows,
    insert_logs,
    log_row,
    log_values,
    mark_stage,
    mark_stages,
    record_order,
    record_orders,
    venue_summary,
)
from signalbridge.integrations.errors import (
    CircuitOpen,
    ConnectionDisabled,
    IntegrationError,
    InvalidRequest,
    OrderNotFound,
    RateLimited,
    SymbolNotListed,
)
from signalbridge.store import models as m
from signalbridge.store.db import insert_ignore, insert_ignore_many
from signalbridge.store.types import utcnow

log = structlog.get_logger("signalbridge.engine")


def signal_from_row(row: m.Signal) -> Signal:
    entry = None
    if row.entry_low is not None and row.entry_high is not None:
        entry = EntryZone(row.entry_low, row.entry_high)
    return Signal(
        symbol=row.symbol,
        side=Side(row.side),
        order_type=OrderType(row.order_type),
        entry=entry,
        stop_loss=row.stop_loss,
        take_profits=tuple(Decimal(tp) for tp in row.take_profits),
        leverage=row.leverage,
    )


class EngineHooks(Protocol):
    """Observation points around the one irreversible step (the POST of an order).

    Production runs with :class:`NoHooks`; crash tests inject hooks that SIGKILL the process
    at a named point, so the kill points need no test-only branches in the engine.
    """

    async def before_post(self, order_id: int) -> None:
        """The intent is committed as ``sending``; the request is not sent yet."""

    async def after_answer(self, order_id: int, venue_order: VenueOrder) -> None:
        """The venue answered; what it said is not committed yet."""


class NoHooks:
    async def before_post(self, order_id: int) -> None:
        return None

    async def after_answer(self, order_id: int, venue_order: VenueOrder) -> None:
        return None


class ExecutionEngine:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        pool: AdapterPool,
        *,
        settle_seconds: float = 30.0,
        now: Callable[[], datetime] = utcnow,
        hooks: EngineHooks | None = None,
        concurrency: int = 64,
    ) -> None:
        self._sessions = sessions
        self._pool = pool
        self._settle = timedelta(seconds=settle_seconds)
        self._now = now
        self.hooks: EngineHooks = hooks if hooks is not None else NoHooks()
        self.concurrency = concurrency

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self._sessions

    @property
    def pool(self) -> AdapterPool:
        return self._pool

    def now(self) -> datetime:
        return self._now()

    async def run_many(self, execution_ids: Sequence[int]) -> None:
        """Run many executions (a signal's fan-out) with batched database work.

        Pending executions are planned together, their intents written as ``sending`` in one
        commit before any POST, and the orders sent concurrently (bounded); answers are
        recorded in one commit. Executions that were already planned take the single path.
        """
        done = await BatchPlacer(self).run(list(execution_ids))
        rest = [e for e in execution_ids if e not in done]
        sem = asyncio.Semaphore(self.concurrency)

        async def one(execution_id: int) -> None:
            async with sem:
                await self.run(execution_id)

        await asyncio.gather(*(one(e) for e in rest))

    async def run(self, execution_id: int) -> None:
        """Plan (once) and place every unsettled order of one execution. Idempotent."""
        await self._plan(execution_id)
        async with self._sessions() as session:
            order_ids = (
                await session.scalars(
                    select(m.Order.id)
                    .where(
                        m.Order.execution_id == execution_id,
                        m.Order.status.in_(m.OrderStatus.UNSETTLED),
                    )
                    .order_by(m.Order.id)
                )
            ).all()
        for order_id in order_ids:
            await self.place(order_id)

    # --- planning -----------------------------------------------------------------------

    async def _plan(self, execution_id: int) -> None:
        async with self._sessions() as session:
            execution = await session.get(m.Execution, execution_id)
            if execution is None or execution.status != m.ExecutionStatus.PENDING:
                return
            signal_row = await session.get_one(m.Signal, execution.signal_id)
            follow = await session.get_one(m.Follow, execution.follow_id)
        try:
            live = await self._pool.get(execution.connection_id)
        except ConnectionDisabled as exc:
            await self._finish(execution_id, m.ExecutionStatus.SKIPPED, exc.message)
            return
        opposite = False
        if live.adapter.capabilities.nets_positions:  # the only venues where it matters
            key = (execution.connection_id, signal_row.symbol, signal_row.side)
            async with self._sessions() as session:
                opposite = bool(await opposite_open(session, [key]))
        signal = signal_from_row(signal_row)
        try:
            outcome = await self._decide(
                live, signal, signal_row.received_at, follow, opposite=opposite
            )
        except (SymbolNotListed, InvalidRequest) as exc:
            await self._finish(execution_id, m.ExecutionStatus.SKIPPED, exc.message)
            return
        except (CircuitOpen, RateLimited, IntegrationError) as exc:
            # Nothing was sent: the execution stays pending and the sweeper retries it.
            await self._log(execution_id, "plan_deferred", reason=exc.message)
            return
        if isinstance(outcome, str):
            await self._finish(execution_id, m.ExecutionStatus.SKIPPED, outcome)
            return
        if isinstance(outcome, Wait):
            await self._log(execution_id, "plan_deferred", reason=outcome.reason)
            return
        await self._write_plan(execution_id, signal_row, live, outcome)

    async def _decide(
        self,
        live: Connected,
        signal: Signal,
        received_at: datetime,
        follow: m.Follow,
        *,
        opposite: bool = False,
    ) -> Plan | str | Wait:
        """The plan, a skip reason, or Wait. ``opposite``: one of our positions on this
        connection and symbol is open the other way."""
        adapter = live.adapter

        async def look() -> tuple[Market, Ticker, dict[str, Balance]] | str:
            markets = await adapter.load_markets()
            market = markets.get(signal.symbol)
            if market is None:
                return f"{signal.symbol} is not listed on connection {live.connection_id}"
            ticker = (await adapter.fetch_tickers([signal.symbol])).get(signal.symbol)
            if ticker is None:
                return f"no price for {signal.symbol} on connection {live.connection_id}"
            return market, ticker, await adapter.fetch_balance()

        # The three reads go through the guard as one idempotent call of weight 3: the
        # same rate-limit budget as three calls, a third of the guard's own overhead (it
        # dominates on an in-process venue fanned out to a thousand accounts).
        looked = await live.read(look, weight=3)
        if isinstance(looked, str):
            return looked
        market, ticker, balances = looked
        risk = risk_settings(follow.risk)
        if opposite:
            # Stale signals are skipped even while they wait; the size is decided after.
            stale = staleness(signal, received_at, ticker, risk, self._now())
            if stale is not None:
                return stale
            guard = netting_guard(
                signal, market, adapter.capabilities.nets_positions, _closes_on_opposite(follow)
            )
            if isinstance(guard, Skip):
                return guard.reason
            if guard is not None:
                return guard
        balance = balances.get(market.quote)
        if balance is None and len(balances) == 1:
            balance = next(iter(balances.values()))
        plan = plan_entry(
            signal,
            received_at=received_at,
            market=market,
            ticker=ticker,
            balance=balance.free if balance is not None else Decimal(0),
            sizing=sizing_config(follow.sizing),
            risk=risk,
            now=self._now(),
        )
        if not isinstance(plan, Plan):
            return plan.reason
        if adapter.capabilities.leverage and plan.leverage > 1:
            await live.read(lambda: adapter.set_leverage(signal.symbol, plan.leverage))
        return plan

    async def _write_plan(
        self, execution_id: int, signal_row: m.Signal, live: Connected, plan: Plan
    ) -> None:
        max_len = live.adapter.capabilities.max_client_order_id_len
        async with self._sessions() as session, session.begin():
            claimed = await session.execute(
                update(m.Execution)
                .where(
                    m.Execution.id == execution_id,
                    m.Execution.status == m.ExecutionStatus.PENDING,
                )
                .values(
                    status=m.ExecutionStatus.PLACING,
                    updated_at=self._now(),
                    contract_size=_contract_size(plan),
                )
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return  # another worker planned it
            for intent in plan.orders:
                await insert_ignore(
                    session,
                    m.Order,
                    {
                        "execution_id": execution_id,
                        "connection_id": live.connection_id,
                        "client_order_id": client_order_id(
                            execution_id, intent.leg, max_len=max_len
                        ),
                        "leg": intent.leg,
                        "symbol": signal_row.symbol,
                        "side": intent.side.value,
                        "type": intent.type.value,
                        "amount": intent.amount,
                        "price": intent.price,
                        "stop_price": intent.stop_price,
                        "reduce_only": intent.reduce_only,
                        "status": m.OrderStatus.PENDING,
                    },
                    conflict=("connection_id", "client_order_id"),
                )
            session.add(log_row(execution_id, "planned", request=_plan_summary(plan)))

    # --- placing ------------------------------------------------------------------------

    async def place(self, order_id: int) -> None:
        """Send one order if it was never sent; otherwise reconcile it with the venue."""
        now = self._now()
        async with self._sessions() as session, session.begin():
            # The claim is one conditional UPDATE: of two racing workers only one wins, on
            # SQLite and PostgreSQL alike, so only one of them ever POSTs.
            claimed = (
                await session.execute(
                    update(m.Order)
                    .where(m.Order.id == order_id, m.Order.status == m.OrderStatus.PENDING)
                    .values(status=m.OrderStatus.SENDING, updated_at=now)
                )
            ).rowcount == 1  # type: ignore[attr-defined]
            order = await session.get_one(m.Order, order_id)
            execution = await session.get_one(m.Execution, order.execution_id)
            resend = claimed and order.sent_at is not None
            if claimed:
                order.sent_at = now
                await mark_stage(session, execution.signal_id, "order_sent_at", now)
            snapshot = _Snapshot.of(order, execution.signal_id)
        if not claimed:
            if snapshot.status == m.OrderStatus.SENDING:
                await self.reconcile(order_id)
            return
        try:
            live = await self._pool.get(snapshot.connection_id)
        except IntegrationError as exc:
            await self._unsend(snapshot, exc.message)
            return
        await self.post(live, snapshot, resend=resend)

    async def post(self, live: Connected, snapshot: _Snapshot, *, resend: bool) -> None:
        """POST one claimed (``sending``) order and record the outcome."""
        order_id = snapshot.order_id
        await self.hooks.before_post(order_id)
        started = time.perf_counter()
        try:
            venue_order = await live.write(lambda: live.adapter.create_order(snapshot.request()))
        except BaseException as exc:
            await self.post_failed(snapshot, exc, started, resend=resend)
            return
        await self.hooks.after_answer(order_id, venue_order)
        async with self._sessions() as session, session.begin():
            await self._record_placed(session, snapshot, venue_order, started)
            await self._settle_execution(session, snapshot.execution_id)

    async def _record_placed(
        self, session: AsyncSession, snapshot: _Snapshot, venue_order: VenueOrder, started: float
    ) -> None:
        await self._record_many(session, [(snapshot, venue_order, started)])

    async def _record_many(
        self, session: AsyncSession, answers: Sequence[tuple[_Snapshot, VenueOrder, float]]
    ) -> None:
        """Record venue answers with a fixed number of statements, however many there are."""
        orders = await get_rows(session, m.Order, [s.order_id for s, _, _ in answers])
        with session.no_autoflush:
            await record_orders(
                session,
                [(orders[s.order_id], vo, s.signal_id) for s, vo, _ in answers],
                self._now(),
            )
        await insert_logs(
            session,
            [
                log_values(
                    snapshot.execution_id,
                    "order_placed",
                    order_id=snapshot.order_id,
                    request=snapshot.summary(),
                    response=venue_summary(venue_order),
                    latency_ms=_ms(started),
                )
                for snapshot, venue_order, started in answers
            ],
        )

    async def post_failed(
        self, snapshot: _Snapshot, exc: BaseException, started: float, *, resend: bool
    ) -> None:
        """What a failed POST means: refused before the venue, rejected, or unknown."""
        if not isinstance(exc, IntegrationError):
            raise exc
        if isinstance(exc, RateLimited | CircuitOpen | ConnectionDisabled):
            await self._unsend(snapshot, exc.message)  # refused before reaching the venue
            return
        if isinstance(exc, InvalidRequest) and not resend:
            await self._reject(snapshot, exc.message, started)
            return
        # Unknown outcome, or a refusal of a second attempt (e.g. "duplicate client order
        # id": the first attempt may exist after all): ask the venue before anything else.
        await self._log(
            snapshot.execution_id,
            "order_outcome_unknown",
            order_id=snapshot.order_id,
            reason=exc.message,
            latency_ms=_ms(started),
        )
        found = await self.reconcile(snapshot.order_id, force=True)
        if not found and isinstance(exc, InvalidRequest):
            await self._reject(snapshot, exc.message, started)

    async def reconcile(self, order_id: int, *, force: bool = False) -> bool:
        """Ask the venue for an order whose outcome we do not know, by client order id.

        Returns whether the venue knows the order. "Not found" inside the settle window
        changes nothing (the venue may simply not show it yet); only after the window is a
        ``sending`` order put back to ``pending`` (to be sent again with the same id). A
        network error is never taken for "not found".
        """
        async with self._sessions() as session:
            order = await session.get_one(m.Order, order_id)
            execution = await session.get_one(m.Execution, order.execution_id)
            snapshot = _Snapshot.of(order, execution.signal_id)
        if snapshot.status not in (m.OrderStatus.SENDING, *_TRACKED):
            return snapshot.status not in m.OrderStatus.UNSETTLED
        try:
            live = await self._pool.get(snapshot.connection_id)
            venue_order = await live.read(
                lambda: live.adapter.fetch_order(snapshot.symbol, snapshot.client_order_id)
            )
        except OrderNotFound:
            sent_at = snapshot.sent_at or self._now()
            if snapshot.status == m.OrderStatus.SENDING and (self._now() - sent_at >= self._settle):
                await self._unsend(
                    snapshot, "venue does not know the order after the settle window"
                )
            elif not force:
                await self._log(snapshot.execution_id, "order_not_found_yet", order_id=order_id)
            return False
        except IntegrationError as exc:
            # A network error is not "not found": keep tracking, try again later.
            await self._log(
                snapshot.execution_id, "lookup_failed", order_id=order_id, reason=exc.message
            )
            return False
        await self.apply_venue_order(order_id, venue_order)
        return True

    async def apply_venue_order(
        self, order_id: int, venue_order: VenueOrder, *, reason: str | None = None
    ) -> tuple[str, str]:
        """Record the venue's view of one of our orders; ``(status before, status after)``.

        A change is written to the execution log (``order_reconciled``, with ``reason``).
        """
        async with self._sessions() as session, session.begin():
            order = await session.get_one(m.Order, order_id)
            execution = await session.get_one(m.Execution, order.execution_id)
            before, filled_before = order.status, order.filled
            await record_order(session, order, venue_order, execution.signal_id, self._now())
            if before != order.status or filled_before != order.filled:
                session.add(
                    log_row(
                        order.execution_id,
                        "order_reconciled",
                        order_id=order_id,
                        reason=reason or f"venue says {venue_order.status.value}; was {before}",
                        response=venue_summary(venue_order),
                    )
                )
            await self._settle_execution(session, order.execution_id)
            return before, order.status

    # --- helpers ------------------------------------------------------------------------

    async def _unsend(self, snapshot: _Snapshot, reason: str) -> None:
        """Back to pending: the order certainly does not exist, so it may be sent later."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(m.Order)
                .where(m.Order.id == snapshot.order_id, m.Order.status == m.OrderStatus.SENDING)
                .values(status=m.OrderStatus.PENDING, updated_at=self._now())
            )
            session.add(
                log_row(
                    snapshot.execution_id,
                    "order_deferred",
                    order_id=snapshot.order_id,
                    reason=reason,
                )
            )

    async def _reject(self, snapshot: _Snapshot, reason: str, started: float) -> None:
        async with self._sessions() as session, session.begin():
            order = await session.get_one(m.Order, snapshot.order_id)
            order.status = m.OrderStatus.REJECTED
            order.error = reason[:2000]
            session.add(
                log_row(
                    snapshot.execution_id,
                    "order_rejected",
                    order_id=order.id,
                    reason=reason,
                    request=snapshot.summary(),
                    latency_ms=_ms(started),
                )
            )
            await self._settle_execution(session, snapshot.execution_id)

    async def _settle_execution(self, session: AsyncSession, execution_id: int) -> None:
        """Derive the execution's status from its orders."""
        await self._settle_executions(session, [execution_id])

    async def _settle_executions(self, session: AsyncSession, execution_ids: Sequence[int]) -> None:
        """:meth:`_settle_execution` for many executions: two queries per chunk."""
        await session.flush()
        ids = list(dict.fromkeys(execution_ids))
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            executions = await get_rows(session, m.Execution, chunk)
            statuses: dict[int, list[str]] = {e: [] for e in chunk}
            rows = await session.execute(
                select(m.Order.execution_id, m.Order.status).where(m.Order.execution_id.in_(chunk))
            )
            for execution_id, status in rows.all():
                statuses[execution_id].append(status)
            for execution_id in chunk:
                execution = executions[execution_id]
                if execution.status in m.ExecutionStatus.FINAL:
                    continue
                found = statuses[execution_id]
                if found and all(s == m.OrderStatus.REJECTED for s in found):
                    execution.status = m.ExecutionStatus.FAILED
                    execution.reason = "every order was rejected"
                elif found and not any(s in m.OrderStatus.UNSETTLED for s in found):
                    execution.status = m.ExecutionStatus.OPEN

    async def _finish(self, execution_id: int, status: str, reason: str) -> None:
        async with self._sessions() as session, session.begin():
            done = await session.execute(
                update(m.Execution)
                .where(
                    m.Execution.id == execution_id, m.Execution.status == m.ExecutionStatus.PENDING
                )
                .values(status=status, reason=reason[:2000], updated_at=self._now())
            )
            if done.rowcount == 1:  # type: ignore[attr-defined]
                session.add(log_row(execution_id, status, reason=reason))

    async def _log(self, execution_id: int, action: str, **fields: object) -> None:
        async with self._sessions() as session, session.begin():
            session.add(log_row(execution_id, action, **fields))


_TRACKED = (m.OrderStatus.OPEN, m.OrderStatus.PARTIALLY_FILLED)
_CHUNK = 500  # ids per IN list, well below both databases' bind-parameter limits


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """What placement needs of an order row, read inside a transaction and used outside."""

    order_id: int
    execution_id: int
    connection_id: int
    signal_id: int
    client_order_id: str
    symbol: str
    side: str
    type: str
    status: str
    amount: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    reduce_only: bool
    sent_at: datetime | None

    @classmethod
    def of(cls, order: m.Order, signal_id: int) -> _Snapshot:
        return cls(
            order_id=order.id,
            execution_id=order.execution_id,
            connection_id=order.connection_id,
            signal_id=signal_id,
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            type=order.type,
            status=order.status,
            amount=order.amount,
            price=order.price,
            stop_price=order.stop_price,
            reduce_only=order.reduce_only,
            sent_at=order.sent_at,
        )

    def request(self) -> OrderRequest:
        return OrderRequest(
            client_order_id=self.client_order_id,
            symbol=self.symbol,
            side=OrderSide(self.side),
            type=VenueOrderType(self.type),
            amount=self.amount,
            price=self.price,
            stop_price=self.stop_price,
            reduce_only=self.reduce_only,
        )

    def summary(self) -> dict[str, object]:
        return {
            "client_order_id": self.client_order_id,
            "symbol": self.symbol,
            "side": self.side,
            "type": self.type,
            "amount": str(self.amount),
            "price": None if self.price is None else str(self.price),
        }


@dataclass
class _Planned:
    execution_id: int
    signal_row: m.Signal
    live: Connected
    plan: Plan


class BatchPlacer:
    """The fan-out path of :meth:`ExecutionEngine.run_many`.

    Per execution the single path needs about five commits; here a whole batch shares one
    planning commit (claims + ``sending`` intents + log rows) and one recording commit, and
    the POSTs in between run concurrently. The exactly-once rule is unchanged: every intent
    is committed as ``sending`` before its POST, and anything that goes wrong with one
    order falls back to the single-order handling (unsend, reject, or look up by id).
    """

    def __init__(self, engine: ExecutionEngine) -> None:
        self.engine = engine

    async def run(self, execution_ids: list[int]) -> set[int]:
        """Plan and place the pending executions among ``execution_ids``; returns those."""
        e = self.engine
        # One query for the executions with their signal and follow.
        executions: list[m.Execution] = []
        signals: dict[int, m.Signal] = {}
        follows: dict[int, m.Follow] = {}
        async with e._sessions() as session:
            rows = await session.execute(
                select(m.Execution, m.Signal, m.Follow)
                .join(m.Signal, m.Signal.id == m.Execution.signal_id)
                .join(m.Follow, m.Follow.id == m.Execution.follow_id)
                .where(
                    m.Execution.id.in_(execution_ids),
                    m.Execution.status == m.ExecutionStatus.PENDING,
                )
                .order_by(m.Execution.id)
            )
            for execution, signal_row, follow in rows.all():
                executions.append(execution)
                signals[signal_row.id] = signal_row
                follows[follow.id] = follow
            keys = {
                (x.connection_id, signals[x.signal_id].symbol, signals[x.signal_id].side)
                for x in executions
            }
            opposite = await opposite_open(session, keys)
        if not executions:
            return set()
        lives = await e._pool.get_many({x.connection_id for x in executions})
        sem = asyncio.Semaphore(e.concurrency)
        skips: list[tuple[int, str]] = []
        deferred: list[tuple[int, str]] = []
        planned: list[_Planned] = []

        async def decide(x: m.Execution) -> None:
            live = lives.get(x.connection_id)
            if isinstance(live, IntegrationError) or live is None:
                reason = live.message if live is not None else "connection missing"
                if isinstance(live, ConnectionDisabled | InvalidRequest) or live is None:
                    skips.append((x.id, reason))
                else:
                    deferred.append((x.id, reason))
                return
            row = signals[x.signal_id]
            async with sem:
                key = (x.connection_id, row.symbol, row.side)
                try:
                    outcome = await e._decide(
                        live,
                        signal_from_row(row),
                        row.received_at,
                        follows[x.follow_id],
                        opposite=key in opposite,
                    )
                except (SymbolNotListed, InvalidRequest) as exc:
                    skips.append((x.id, exc.message))
                    return
                except IntegrationError as exc:
                    deferred.append((x.id, exc.message))
                    return
            if isinstance(outcome, str):
                skips.append((x.id, outcome))
            elif isinstance(outcome, Wait):
                deferred.append((x.id, outcome.reason))
            else:
                planned.append(_Planned(x.id, row, live, outcome))

        await asyncio.gather(*(decide(x) for x in executions))
        sends = await self._write(planned, skips, deferred)
        await self._place(sends)
        return {x.id for x in executions}

    async def _write(
        self,
        planned: list[_Planned],
        skips: list[tuple[int, str]],
        deferred: list[tuple[int, str]],
    ) -> list[tuple[Connected, _Snapshot]]:
        """One commit: claim, write every intent as ``sending``, log; nothing is sent yet."""
        e = self.engine
        now = e._now()
        sends: list[tuple[Connected, _Snapshot]] = []
        async with e._sessions() as session, session.begin():
            for execution_id, reason in skips:
                done = await session.execute(
                    update(m.Execution)
                    .where(
                        m.Execution.id == execution_id,
                        m.Execution.status == m.ExecutionStatus.PENDING,
                    )
                    .values(status=m.ExecutionStatus.SKIPPED, reason=reason[:2000], updated_at=now)
                )
                if done.rowcount == 1:  # type: ignore[attr-defined]
                    session.add(log_row(execution_id, m.ExecutionStatus.SKIPPED, reason=reason))
            for execution_id, reason in deferred:
                session.add(log_row(execution_id, "plan_deferred", reason=reason))
            claimed = await self._claim(session, [p.execution_id for p in planned], now)
            await _set_contract_sizes(session, [p for p in planned if p.execution_id in claimed])
            rows: list[dict[str, object]] = []
            intents: dict[tuple[int, str], tuple[_Planned, OrderIntent]] = {}
            for p in planned:
                if p.execution_id not in claimed:
                    continue  # another worker planned it
                max_len = p.live.adapter.capabilities.max_client_order_id_len
                for intent in p.plan.orders:
                    coid = client_order_id(p.execution_id, intent.leg, max_len=max_len)
                    intents[(p.live.connection_id, coid)] = (p, intent)
                    rows.append(
                        {
                            "execution_id": p.execution_id,
                            "connection_id": p.live.connection_id,
                            "client_order_id": coid,
                            "leg": intent.leg,
                            "symbol": p.signal_row.symbol,
                            "side": intent.side.value,
                            "type": intent.type.value,
                            "amount": intent.amount,
                            "price": intent.price,
                            "stop_price": intent.stop_price,
                            "reduce_only": intent.reduce_only,
                            "status": m.OrderStatus.SENDING,
                            "sent_at": now,
                        }
                    )
            # One multi-row INSERT ... ON CONFLICT DO NOTHING: an intent whose unique key
            # exists is not returned, so it is never POSTed twice.
            inserted = await insert_ignore_many(
                session,
                m.Order,
                rows,
                ("connection_id", "client_order_id"),
                returning=("id", "connection_id", "client_order_id"),
            )
            new_ids = {(conn, coid): order_id for order_id, conn, coid in inserted}
            for key, (p, intent) in intents.items():
                order_id = new_ids.get(key)
                if order_id is None:
                    continue
                snapshot = _Snapshot(
                    order_id=order_id,
                    execution_id=p.execution_id,
                    connection_id=p.live.connection_id,
                    signal_id=p.signal_row.id,
                    client_order_id=key[1],
                    symbol=p.signal_row.symbol,
                    side=intent.side.value,
                    type=intent.type.value,
                    status=m.OrderStatus.SENDING,
                    amount=intent.amount,
                    price=intent.price,
                    stop_price=intent.stop_price,
                    reduce_only=intent.reduce_only,
                    sent_at=now,
                )
                sends.append((p.live, snapshot))
            await insert_logs(
                session,
                [
                    log_values(p.execution_id, "planned", request=_plan_summary(p.plan))
                    for p in planned
                    if p.execution_id in claimed
                ],
            )
            await mark_stages(
                session, "order_sent_at", dict.fromkeys({s.signal_id for _, s in sends}, now)
            )
        return sends

    async def _claim(self, session: AsyncSession, ids: list[int], now: datetime) -> set[int]:
        """Move pending executions to ``placing`` (conditional UPDATE); returns those won.

        Of two workers racing for an execution only one sees it in RETURNING, on SQLite and
        PostgreSQL alike, just as with one conditional UPDATE per execution.
        """
        table: Any = m.Execution.__table__
        won: set[int] = set()
        for start in range(0, len(ids), _CHUNK):
            result = await session.execute(
                update(table)
                .where(
                    table.c.id.in_(ids[start : start + _CHUNK]),
                    table.c.status == m.ExecutionStatus.PENDING,
                )
                .values(status=m.ExecutionStatus.PLACING, updated_at=now)
                .returning(table.c.id)
            )
            won.update(result.scalars().all())
        return won

    async def _place(self, sends: list[tuple[Connected, _Snapshot]]) -> None:
        """POST concurrently; record every answer in one commit; failures go one by one."""
        e = self.engine
        sem = asyncio.Semaphore(e.concurrency)
        answered: list[tuple[_Snapshot, VenueOrder, float]] = []
        failed: list[tuple[_Snapshot, BaseException, float]] = []

        async def send(live: Connected, snapshot: _Snapshot) -> None:
            async with sem:
                await e.hooks.before_post(snapshot.order_id)
                started = time.perf_counter()
                try:
                    venue_order = await live.write(
                        lambda: live.adapter.create_order(snapshot.request())
                    )
                except IntegrationError as exc:
                    failed.append((snapshot, exc, started))
                    return
                await e.hooks.after_answer(snapshot.order_id, venue_order)
                answered.append((snapshot, venue_order, started))

        await asyncio.gather(*(send(live, s) for live, s in sends))
        if answered:
            async with e._sessions() as session, session.begin():
                await e._record_many(session, answered)
                await e._settle_executions(session, [s.execution_id for s, _, _ in answered])
        for snapshot, exc, started in failed:
            await e.post_failed(snapshot, exc, started, resend=False)


async def opposite_open(
    session: AsyncSession, keys: Iterable[tuple[int, str, str]]
) -> set[tuple[int, str, str]]:
    """Of ``(connection, symbol, side)`` keys, those where one of our positions is open on
    that connection and symbol the other way (a few statements, however many keys)."""
    wanted = set(keys)
    if not wanted:
        return set()
    connections = sorted({c for c, _, _ in wanted})
    symbols = sorted({s for _, s, _ in wanted})
    held: set[tuple[int, str, str]] = set()
    for start in range(0, len(connections), _CHUNK):
        rows = await session.execute(
            select(m.Position.connection_id, m.Position.symbol, m.Position.side)
            .where(
                m.Position.status == m.PositionStatus.OPEN,
                m.Position.connection_id.in_(connections[start : start + _CHUNK]),
                m.Position.symbol.in_(symbols),
            )
            .distinct()
        )
        held.update((c, s, side) for c, s, side in rows.all())
    other = {Side.LONG.value: Side.SHORT.value, Side.SHORT.value: Side.LONG.value}
    return {(c, s, side) for c, s, side in wanted if (c, s, other.get(side, "")) in held}


def _closes_on_opposite(follow: m.Follow) -> bool:
    try:
        return management_settings(follow.management).close_on_opposite
    except ValidationError:
        return False


def _contract_size(plan: Plan) -> Decimal | None:
    """What the execution row keeps: nothing for the common 1 (crypto)."""
    return None if plan.contract_size == 1 else plan.contract_size


async def _set_contract_sizes(session: AsyncSession, planned: Sequence[_Planned]) -> None:
    """Record the contract size of the planned executions that are not 1 (one executemany)."""
    params = [
        {"b_id": p.execution_id, "b_size": size}
        for p in planned
        if (size := _contract_size(p.plan)) is not None
    ]
    if params:
        table: Any = m.Execution.__table__
        await session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(contract_size=bindparam("b_size")),
            params,
        )


def _plan_summary(plan: Plan) -> dict[str, object]:
    return {
        "orders": [
            {
                "leg": o.leg,
                "type": o.type.value,
                "amount": str(o.amount),
                "price": None if o.price is None else str(o.price),
            }
            for o in plan.orders
        ],
        "leverage": plan.leverage,
        "capped_by": list(plan.sized.capped_by),
    }
