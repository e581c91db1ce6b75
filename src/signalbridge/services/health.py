"""Connection health persisted for the API, and connection tests (probes)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.integrations.health import HealthState
from signalbridge.notifications import emit as notify
from signalbridge.store import models as m
from signalbridge.store.db import insert_ignore


def health_writer(
    sessions: async_sessionmaker[AsyncSession],
) -> Callable[[str, int, HealthState], Awaitable[None]]:
    async def save(kind: str, connection_id: int, state: HealthState) -> None:
        values = {
            "last_synced_at": state.last_synced_at,
            "last_success_at": state.last_success_at,
            "error_count": state.error_count,
            "consecutive_failures": state.consecutive_failures,
            "last_error_at": state.last_error_at,
            "last_error": state.last_error,
        }
        async with sessions() as session, session.begin():
            new = await insert_ignore(
                session,
                m.ConnectionHealth,
                {"kind": kind, "connection_id": connection_id, **values},
                conflict=("kind", "connection_id"),
            )
            if new is None:
                await session.execute(
                    update(m.ConnectionHealth)
                    .where(
                        m.ConnectionHealth.kind == kind,
                        m.ConnectionHealth.connection_id == connection_id,
                    )
                    .values(**values)
                )
            # Credentials refused, or the breaker's threshold reached: its owner is told.
            await notify.connection_failing(
                session,
                kind,
                connection_id,
                consecutive_failures=state.consecutive_failures,
                last_error=state.last_error,
                last_success_at=state.last_success_at,
            )

    return save


#: ``prober(kind, row)``: the result of testing a connection, as the API shows it.
Prober = Callable[[str, Any], Awaitable[dict[str, Any]]]


def make_prober(pool: Any) -> Prober:
    """``POST .../test``: run the adapter's probe through its guard; refuse withdraw keys."""

    async def probe(kind: str, row: Any) -> dict[str, Any]:
        started = time.perf_counter()
        if kind != "exchange":
            return {
                "ok": row.is_active,
                "latency_ms": 0.0,
                "message": f"{row.type} {kind} connections are passive; nothing to call",
            }
        live = await pool.get(row.id)
        result = await live.read(live.adapter.probe)
        latency = round((time.perf_counter() - started) * 1000, 2)
        ok = result.ok and not result.can_withdraw
        message = result.message
        if result.can_withdraw:
            message = (
                "refused: this API key can withdraw funds. Create a trade-only key "
                "(withdrawals disabled) and replace the credential."
            )
        return {
            "ok": ok,
            "latency_ms": latency,
            "can_trade": result.can_trade,
            "can_withdraw": result.can_withdraw,
            "message": message,
        }

    return probe
