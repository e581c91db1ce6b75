"""Live gateways, one instance per ``payment_gateways`` connection per process.

A gateway is built from its row the way execution connections are (services' pool):
``type`` picks the registered factory, ``config`` is passed as stored and the secrets
are unsealed with the vault, bound to the row. The instance is kept and rebuilt only
when the row changes (``updated_at``). Every call to the provider goes through the
kernel's guard for ``("payment", id)``, so its breaker counts failures; a gateway whose
breaker is open, or whose row is inactive, is hidden at checkout, and the member pays
through another active one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.domain.bounds import coerce_storable
from signalbridge.integrations.guard import ConnectionGuard
from signalbridge.integrations.registry import AdapterRegistry, UnknownAdapterType
from signalbridge.integrations.sealing import unseal
from signalbridge.integrations.vault import Vault, VaultError
from signalbridge.payments.base import GatewayDeps, PaymentGateway, build_gateway
from signalbridge.services.payments.errors import NotFound, Unavailable
from signalbridge.store import models as m

T = TypeVar("T")
KIND = "payment"
TABLE = "payment_gateways"


class GuardFactory(Protocol):
    def __call__(self, kind: str, connection_id: int, type_: str) -> ConnectionGuard: ...


@dataclass
class LiveGateway:
    """One connection's gateway, its fee terms and the guard its calls go through."""

    connection_id: int
    type: str
    name: str
    gateway: PaymentGateway
    fee_rate: Decimal
    fixed_fee: Decimal
    version: datetime
    guard: ConnectionGuard | None = None

    async def read(self, fn: Callable[[], Awaitable[T]]) -> T:
        """An idempotent provider call (fetch, list): retried by the kernel's policy."""
        if self.guard is None:
            return await fn()
        return await self.guard.call(fn, idempotent=True)

    async def write(self, fn: Callable[[], Awaitable[T]], idempotency_key: str) -> T:
        """A POST carrying ``idempotency_key``: the provider makes retries harmless."""
        if self.guard is None:
            return await fn()
        return await self.guard.call(fn, idempotent=False, idempotency_key=idempotency_key)

    async def breaker_open(self) -> bool:
        if self.guard is None:
            return False
        return (await self.guard.breaker.state()).state == "open"

    def fee_for(self, amount: Decimal) -> Decimal:
        """The fee the connection's config says this amount costs (rate × amount + fixed)."""
        fee = self.fee_rate * amount + self.fixed_fee
        return coerce_storable(fee.quantize(Decimal("1e-18")).normalize(), "fee")


def fee_terms(config: dict[str, Any]) -> tuple[Decimal, Decimal]:
    """``fee_rate`` and ``fixed_fee`` from a gateway row's config (0 when absent or unreadable)."""
    out: list[Decimal] = []
    for name in ("fee_rate", "fixed_fee"):
        raw = config.get(name)
        try:
            value = coerce_storable(str(raw), name) if raw is not None else Decimal(0)
        except ValueError:
            value = Decimal(0)
        out.append(max(value, Decimal(0)))
    return out[0], out[1]


class GatewayDirectory:
    """Builds and keeps each connection's gateway; hides those that cannot take a payment."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        vault: Vault,
        registry: AdapterRegistry,
        deps: GatewayDeps,
        guards: GuardFactory | None = None,
    ) -> None:
        self._sessions = sessions
        self._vault = vault
        self._registry = registry
        self._deps = deps
        self._guards = guards
        self._live: dict[int, LiveGateway] = {}
        self._lock = asyncio.Lock()

    @property
    def registry(self) -> AdapterRegistry:
        return self._registry

    async def get(self, connection_id: int, *, active: bool = True) -> LiveGateway:
        """The live gateway of a connection; :class:`NotFound` or :class:`Unavailable`."""
        async with self._sessions() as session:
            row = await session.get(m.PaymentGateway, connection_id)
        if row is None:
            raise NotFound(f"payment gateway {connection_id} not found")
        if active and not row.is_active:
            raise Unavailable(f"payment gateway {connection_id} is deactivated")
        return await self.live(row)

    async def live(self, row: m.PaymentGateway) -> LiveGateway:
        """The instance for ``row``, built once and again only when the row changed."""
        current = self._live.get(row.id)
        if current is not None and current.version == row.updated_at:
            return current
        async with self._lock:
            current = self._live.get(row.id)
            if current is not None and current.version == row.updated_at:
                return current
            built = self._build(row)
            if current is not None:
                await current.gateway.close()
            self._live[row.id] = built
            return built

    async def usable(self, session: AsyncSession) -> list[LiveGateway]:
        """Active gateways whose breaker is not open and that can be built, by id."""
        rows = (
            await session.scalars(
                select(m.PaymentGateway)
                .where(m.PaymentGateway.is_active.is_(True))
                .order_by(m.PaymentGateway.id)
            )
        ).all()
        out: list[LiveGateway] = []
        for row in rows:
            try:
                live = await self.live(row)
            except Unavailable:
                continue
            if not await live.breaker_open():
                out.append(live)
        return out

    def _build(self, row: m.PaymentGateway) -> LiveGateway:
        try:
            secrets = unseal(self._vault, TABLE, row.id, row.secrets_enc)
        except VaultError:
            raise Unavailable(f"payment gateway {row.id}: its secrets cannot be read") from None
        config: dict[str, Any] = dict(row.config or {})
        try:
            gateway = build_gateway(
                self._registry, row.type, str(row.id), config, secrets, self._deps
            )
        except UnknownAdapterType:
            raise Unavailable(
                f"payment gateway {row.id}: type {row.type!r} is not in this build"
            ) from None
        except (ValueError, TypeError) as exc:
            raise Unavailable(
                f"payment gateway {row.id}: its configuration is not usable ({type(exc).__name__})"
            ) from None
        rate, fixed = fee_terms(config)
        guard = self._guards(KIND, row.id, row.type) if self._guards is not None else None
        return LiveGateway(
            connection_id=row.id,
            type=row.type,
            name=row.name,
            gateway=gateway,
            fee_rate=rate,
            fixed_fee=fixed,
            version=row.updated_at,
            guard=guard,
        )

    async def close(self) -> None:
        for live in self._live.values():
            await live.gateway.close()
        self._live.clear()
