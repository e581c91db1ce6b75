"""Make ``openrouter`` and ``openai_compatible`` AI types, and their connection test.

Bootstrap calls :func:`register`. The registry's factory for each type builds a
:class:`~signalbridge.ai.client.ChatClient` from a stored ``ai_configs`` row::

    factory(config_id, config, secrets, *, http_factory, name="", priority=0) -> ChatClient

:func:`probe` is the connection test behind ``POST /ai-configs/{id}/test``: ``GET /models``
with the row's key, reporting whether the configured model is listed; a failure is an
``ok: false`` answer naming the error class, with the provider's reason redacted.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from functools import partial
from typing import Any

from signalbridge.ai.client import ChatClient
from signalbridge.ai.config import (
    OPENAI_COMPATIBLE,
    OPENROUTER,
    OpenAICompatibleConfig,
    OpenRouterConfig,
)
from signalbridge.integrations.errors import IntegrationError
from signalbridge.integrations.guard import ConnectionGuard
from signalbridge.integrations.http import HttpClientFactory
from signalbridge.integrations.redaction import redact
from signalbridge.integrations.registry import AdapterRegistry

__all__ = [
    "openai_compatible_client",
    "openrouter_client",
    "probe",
    "probe_stored",
    "register",
]


#: The registry's factories, one per type: :meth:`ChatClient.from_config` with its type.
openrouter_client = partial(ChatClient.from_config, type_=OPENROUTER)
openai_compatible_client = partial(ChatClient.from_config, type_=OPENAI_COMPATIBLE)


async def probe(client: ChatClient) -> dict[str, Any]:
    """Test one configuration; never raises for the provider's failure."""
    started = time.perf_counter()
    try:
        return await client.probe()
    except IntegrationError as exc:
        return _failed(exc, started, client.config.model)


async def probe_stored(
    registry: AdapterRegistry,
    type_: str,
    config_id: int,
    config: Mapping[str, Any],
    secrets: Mapping[str, str],
    *,
    http_factory: HttpClientFactory,
    guard: ConnectionGuard | None = None,
) -> dict[str, Any]:
    """The connection test of a stored row (config + opened secrets), through its guard.

    What ``POST /ai-configs/{id}/test`` needs: the row's type's factory builds the client,
    :meth:`ChatClient.probe` runs inside the kernel's guard for ``("ai", id)`` when given
    (its breaker and health count it), and the client is closed after. Never raises for
    the provider's failure or a bad stored config.
    """
    started = time.perf_counter()
    try:
        client = registry.get("ai", type_).factory(
            config_id, config, secrets, http_factory=http_factory
        )
    except (IntegrationError, LookupError) as exc:
        return _failed(exc, started, str(config.get("model", "")))
    try:
        if guard is None:
            return await probe(client)
        try:
            return await guard.call(client.probe, idempotent=True)
        except IntegrationError as exc:
            return _failed(exc, started, client.config.model)
    finally:
        await client.aclose()


def _failed(exc: Exception, started: float, model: str) -> dict[str, Any]:
    message = exc.message if isinstance(exc, IntegrationError) else str(exc)
    return {
        "ok": False,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        "model": model[:200],
        "error_class": type(exc).__name__,
        "message": redact(message)[:300],
    }


def register(registry: AdapterRegistry) -> None:
    """Make the AI provider types known (bootstrap calls this)."""
    registry.register(
        "ai",
        OPENROUTER,
        openrouter_client,
        OpenRouterConfig,
        secret_fields=("api_key",),
        description="OpenRouter: models fallback list, attribution headers, structured output",
    )
    registry.register(
        "ai",
        OPENAI_COMPATIBLE,
        openai_compatible_client,
        OpenAICompatibleConfig,
        secret_fields=("api_key",),
        description="any OpenAI-compatible chat completions endpoint, a local one included",
    )
