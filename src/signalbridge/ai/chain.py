"""The fallback chain: AI configurations by priority, each behind its breaker.

One question goes to the first configuration (lowest ``priority`` number, then lowest
id); when it fails (timeout, 5xx, 429, a refused key, an answer that is not JSON or does
not pass ``validate``) the next one is asked, and so on. Each configuration gets one
attempt per question: the chain is the retry, so a 429 hands over at once instead of
waiting out its ``Retry-After`` on the same provider. Every call goes through the kernel's
:class:`~signalbridge.integrations.guard.ConnectionGuard` for ``("ai", config id)``: its
breaker counts the failures (a malformed answer included) and, once open, makes the chain
skip that configuration at once. Provider failures never raise out of :meth:`ask`: the
result carries no answer and an :class:`Attempt` per configuration tried, so the caller
falls back to the rule parser's answer (or review). Nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from signalbridge.ai.client import ChatAnswer, ChatClient
from signalbridge.ai.errors import MalformedAnswer
from signalbridge.domain.errors import DomainError
from signalbridge.integrations.errors import IntegrationError, RateLimited, TransientError
from signalbridge.integrations.guard import ConnectionGuard
from signalbridge.integrations.redaction import redact

__all__ = ["Attempt", "ChainResult", "FallbackChain", "RateLimitHandOver"]

log = logging.getLogger(__name__)

_MAX_REASON = 200


@dataclass(frozen=True)
class Attempt:
    """One configuration asked: the model that answered, or why it failed (redacted)."""

    config_id: int
    model: str | None
    error: str | None
    latency_ms: float


@dataclass(frozen=True)
class ChainResult:
    """The first valid answer (``None`` when every configuration failed) and the attempts.

    ``value`` is what ``validate`` returned for that answer.
    """

    answer: ChatAnswer | None
    config_id: int | None
    attempts: tuple[Attempt, ...]
    value: object = None

    @property
    def failed(self) -> bool:
        return self.answer is None


class RateLimitHandOver(TransientError):
    """A 429 inside the guard: counted by the breaker like any transient failure, but not
    waited out and retried there (the guard retries ``RateLimited``); the next config is
    asked instead. Outside the guard the original ``RateLimited`` is raised again."""


class FallbackChain:
    """Configurations tried in priority order; never raises for a provider's failure."""

    def __init__(
        self,
        clients: Sequence[ChatClient],
        guard_for: Callable[[int], ConnectionGuard],
    ) -> None:
        self.clients: tuple[ChatClient, ...] = tuple(
            sorted(clients, key=lambda c: (c.priority, c.config_id))
        )
        self._guard_for = guard_for

    def __repr__(self) -> str:
        return f"FallbackChain({[c.config_id for c in self.clients]!r})"

    def client(self, config_id: int) -> ChatClient | None:
        return next((c for c in self.clients if c.config_id == config_id), None)

    def prices(self, config_id: int) -> tuple[Decimal, Decimal]:
        """USD per million input and output tokens of a configuration (0 when unknown)."""
        client = self.client(config_id)
        if client is None:
            return Decimal(0), Decimal(0)
        return client.usd_per_million_input, client.usd_per_million_output

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()

    async def ask(
        self,
        messages: list[dict[str, str]],
        schema: dict[str, Any],
        schema_name: str,
        *,
        validate: Callable[[dict[str, Any]], object],
    ) -> ChainResult:
        """The first answer that passes ``validate`` (a pydantic model's validation, say).

        ``validate`` raising (pydantic ``ValidationError``, ``ValueError``, a domain error
        or :class:`MalformedAnswer`) counts as that configuration's failure.
        """
        attempts: list[Attempt] = []
        for client in self.clients:
            started = time.perf_counter()
            try:
                answer, value = await self._one(client, messages, schema, schema_name, validate)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every provider failure: record it, hand over
                attempts.append(Attempt(client.config_id, None, _reason(exc), _elapsed(started)))
                log.info(
                    "AI config %s failed, handing over: %s",
                    client.config_id,
                    attempts[-1].error,
                )
                continue
            attempts.append(Attempt(client.config_id, answer.model, None, _elapsed(started)))
            return ChainResult(answer, client.config_id, tuple(attempts), value)
        return ChainResult(None, None, tuple(attempts))

    async def _one(
        self,
        client: ChatClient,
        messages: list[dict[str, str]],
        schema: dict[str, Any],
        schema_name: str,
        validate: Callable[[dict[str, Any]], object],
    ) -> tuple[ChatAnswer, object]:
        guard = self._guard_for(client.config_id)
        throttled: list[RateLimited] = []

        async def once() -> tuple[ChatAnswer, object]:
            try:
                answer = await client.complete_json(messages, schema, schema_name)
            except RateLimited as exc:
                throttled.append(exc)
                raise RateLimitHandOver(exc.message, connection_id=exc.connection_id) from None
            try:
                value = validate(answer.data)
            except MalformedAnswer:
                raise
            except (ValidationError, ValueError, TypeError, DomainError) as exc:
                raise MalformedAnswer(
                    f"AI answer failed validation ({type(exc).__name__})",
                    connection_id=f"ai:{client.config_id}",
                ) from None
            return answer, value

        # idempotent=False without a lookup: the guard's retry policy never repeats a
        # transient failure; the next configuration is the retry.
        try:
            return await guard.call(once, idempotent=False)
        except RateLimitHandOver:
            raise throttled[-1] from None


def _reason(exc: BaseException) -> str:
    """``ClassName: reason``, redacted and short (stored with the AI parse)."""
    message = exc.message if isinstance(exc, IntegrationError) else str(exc)
    text = redact(" ".join(f"{type(exc).__name__}: {message}".split()))
    return text[:_MAX_REASON]


def _elapsed(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
