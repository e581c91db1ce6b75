"""The payment flow's parts a process shares, built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.integrations.http import HttpClientFactory
from signalbridge.integrations.registry import AdapterRegistry
from signalbridge.integrations.vault import Vault
from signalbridge.payments.base import GatewayDeps
from signalbridge.services.payments.callbacks import Callbacks
from signalbridge.services.payments.gateways import GatewayDirectory, GuardFactory


@dataclass(eq=False)
class PaymentFlow:
    """``directory`` (live gateways per connection) and ``callbacks`` (store-once-and-apply)."""

    sessions: async_sessionmaker[AsyncSession]
    directory: GatewayDirectory
    callbacks: Callbacks

    @classmethod
    def build(
        cls,
        sessions: async_sessionmaker[AsyncSession],
        vault: Vault,
        registry: AdapterRegistry,
        http: HttpClientFactory | None,
        guards: GuardFactory | None,
    ) -> PaymentFlow:
        """No I/O: gateways are built on first use."""
        directory = GatewayDirectory(
            sessions, vault, registry, GatewayDeps(http_factory=http), guards
        )
        return cls(sessions, directory, Callbacks(sessions, directory))

    async def close(self) -> None:
        await self.directory.close()
