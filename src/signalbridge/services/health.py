"""Connection health persisted for the API, and connection tests (probes).

A channel's test is a real call for every polled kind (services/channel_probe.py); its
poll health (last synced, lag, back-off, refusals) is kept by services/channel_health.py.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.ai.registration import probe_stored
from signalbridge.integrations.errors import IntegrationError
from signalbridge.integrations.health import HealthState
from signalbridge.integrations.sealing import unseal
from signalbridge.integrations.vault import VaultError
from signalbridge.notifications import emit as notify
from signalbridge.payments.base import GatewayDeps, GatewayProbe, ProbesAccount
from signalbridge.services.channel_probe import ChannelProber, prober_from_pool
from signalbridge.services.payments.errors import PaymentFlowError
from signalbridge.services.payments.gateways import GatewayDirectory
from signalbridge.store import models as m
from signalbridge.store.db import insert_ignore
from signalbridge.store.types import utcnow

#: The changes of health kept in ``health_events`` (a connection's history).
FAILING = "failing"
BREAKER = "breaker_open"
RECOVERED = "recovered"


def health_change(before: int, after: int, threshold: int = notify.BREAKER_THRESHOLD) -> str | None:
    """Which change of health (if any) going from ``before`` to ``after`` failures in a
    row is: the first failure, reaching the breaker's threshold, or the first success."""
    if before == 0 and after > 0:
        return BREAKER if after >= threshold else FAILING
    if before < threshold <= after:
        return BREAKER
    if before > 0 and after == 0:
        return RECOVERED
    return None


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
            before = await session.scalar(
                select(m.ConnectionHealth.consecutive_failures).where(
                    m.ConnectionHealth.kind == kind,
                    m.ConnectionHealth.connection_id == connection_id,
                )
            )
            change = health_change(before or 0, state.consecutive_failures)
            if change is not None:
                session.add(
                    m.HealthEvent(
                        kind=kind,
                        connection_id=connection_id,
                        at=state.last_synced_at or utcnow(),
                        event=change,
                        consecutive_failures=state.consecutive_failures,
                        error=state.last_error if change != RECOVERED else None,
                    )
                )
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


def make_prober(
    pool: Any, channels: ChannelProber | None = None, payments: GatewayDirectory | None = None
) -> Prober:
    """``POST .../test``: run the adapter's probe through its guard; refuse withdraw keys.

    Channels are probed by ``channels`` (services/channel_probe.py: a real call for every
    polled kind), by default one made of the pool's own parts. Payment gateways are probed
    through ``payments`` (the payment flow's gateway directory), by default a directory made
    of the pool's own parts for each test and closed after it; either way the call goes
    through the kernel's guard for ``("payment", id)``, so its breaker and health count it.
    """
    channel_prober = channels if channels is not None else prober_from_pool(pool)

    async def probe(kind: str, row: Any) -> dict[str, Any]:
        started = time.perf_counter()
        if kind == "channel" and channel_prober is not None:
            return await channel_prober(row)
        if kind == "payment":
            directory = payments if payments is not None else _directory_from_pool(pool)
            if directory is None:
                return {
                    "ok": False,
                    "latency_ms": 0.0,
                    "test_mode": None,
                    "message": "payment gateways cannot be tested in this process",
                }
            try:
                return await _probe_gateway(directory, row, started)
            finally:
                if directory is not payments:
                    await directory.close()
        if kind == "ai":
            return await _probe_ai(pool, row)
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


async def _probe_ai(pool: Any, row: Any) -> dict[str, Any]:
    """An AI configuration's connection test (ai/registration.py ``probe_stored``) with the
    pool's registry, vault and HTTP factory, inside the kernel's guard for ``("ai", id)``."""
    registry = getattr(pool, "_registry", None)
    vault = getattr(pool, "_vault", None)
    http = getattr(getattr(pool, "_deps", None), "http_factory", None)
    guards = getattr(pool, "_guards", None)
    if registry is None or vault is None or http is None:
        message = "AI configurations cannot be tested in this process"
        return {"ok": False, "latency_ms": 0.0, "message": message}
    try:
        secrets = unseal(vault, "ai_configs", row.id, row.secrets_enc)
    except VaultError:
        return {"ok": False, "latency_ms": 0.0, "message": "the stored key cannot be opened"}
    guard = guards("ai", row.id, row.type) if guards is not None else None
    return await probe_stored(
        registry, row.type, row.id, row.config, secrets, http_factory=http, guard=guard
    )


def _directory_from_pool(pool: Any) -> GatewayDirectory | None:
    """A gateway directory of the exchange pool's own parts (sessions, vault, registry, HTTP
    factory, the kernel's guards), for a container that passes none; None if one lacks."""
    sessions = getattr(pool, "_sessions", None)
    vault = getattr(pool, "_vault", None)
    registry = getattr(pool, "_registry", None)
    http = getattr(getattr(pool, "_deps", None), "http_factory", None)
    guards = getattr(pool, "_guards", None)
    if sessions is None or vault is None or registry is None or http is None:
        return None
    return GatewayDirectory(sessions, vault, registry, GatewayDeps(http_factory=http), guards)


async def _probe_gateway(directory: GatewayDirectory, row: Any, started: float) -> dict[str, Any]:
    """The gateway's own probe inside the connection's guard; every failure is ``ok=False``.

    A failure the gateway reports is raised inside the guard so the breaker and the health
    count it (and a transient one is retried), then answered as the gateway worded it.
    """

    def answer(result: GatewayProbe, error: IntegrationError | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": result.ok,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "test_mode": result.test_mode,
            "message": result.message,
        }
        if error is not None:
            body["error_class"] = type(error).__name__
        return body

    try:
        live = await directory.get(row.id, active=False)  # an inactive one may be tested
    except PaymentFlowError as exc:
        return answer(GatewayProbe(False, exc.message))
    gateway = live.gateway
    if not isinstance(gateway, ProbesAccount):
        return answer(GatewayProbe(False, f"{row.type} gateways have no connection test"))
    tried: list[GatewayProbe] = []

    async def attempt() -> GatewayProbe:
        result = await gateway.probe()
        tried.append(result)
        if result.error is not None:
            raise result.error
        return result

    try:
        result = await live.read(attempt)
    except IntegrationError as exc:
        last = tried[-1] if tried else None
        if last is not None and last.error is exc:
            return answer(last, exc)
        return answer(GatewayProbe.failed(exc, last.test_mode if last else None), exc)
    return answer(result)


async def health_history(
    session: AsyncSession, kind: str, connection_id: int, limit: int = 50
) -> list[m.HealthEvent]:
    """The connection's last changes of health, newest first."""
    rows = await session.scalars(
        select(m.HealthEvent)
        .where(m.HealthEvent.kind == kind, m.HealthEvent.connection_id == connection_id)
        .order_by(m.HealthEvent.id.desc())
        .limit(limit)
    )
    return list(rows.all())
