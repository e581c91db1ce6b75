"""What the parser and the market analyst share: one question to the fallback chain, its
validated value, what it cost, or an :class:`AiFailure` saying why there is none.

Neither raises for a provider's failure: a chain with no client, or whose every
configuration failed, is an :class:`AiFailure` with the attempts made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from signalbridge.ai.chain import Attempt, FallbackChain
from signalbridge.ai.client import ChatAnswer
from signalbridge.ai.cost import call_cost

__all__ = ["AiFailure", "Asked", "ChainAsker", "Prices"]

Prices = Callable[[int], tuple[Decimal, Decimal]]
"""A configuration's (USD per million input, per million output) tokens."""


@dataclass(frozen=True)
class AiFailure:
    """No configuration produced a valid answer; ``reason`` says why, in one line."""

    reason: str
    attempts: tuple[Attempt, ...]


@dataclass(frozen=True)
class Asked:
    """The first valid answer: the validated ``value``, the raw answer, who gave it, cost."""

    value: object
    answer: ChatAnswer
    config_id: int
    cost: Decimal
    attempts: tuple[Attempt, ...]


class ChainAsker:
    """Asks a :class:`FallbackChain` and prices the answer (``prices``: None, the
    configuration's own prices)."""

    def __init__(self, chain: FallbackChain, prices: Prices | None = None) -> None:
        self.chain = chain
        self._prices = prices

    async def ask(
        self,
        messages: list[dict[str, str]],
        schema: dict[str, Any],
        schema_name: str,
        validate: Callable[[dict[str, Any]], object],
    ) -> Asked | AiFailure:
        if not self.chain.clients:
            return AiFailure("no active AI configuration", ())
        result = await self.chain.ask(messages, schema, schema_name, validate=validate)
        answer, config_id = result.answer, result.config_id
        if answer is None or config_id is None:
            tried = len(result.attempts)
            return AiFailure(
                f"every AI configuration failed ({tried} tried)"
                if tried
                else "no AI configuration could be asked",
                result.attempts,
            )
        per_in, per_out = self.price(config_id)
        cost = call_cost(answer.input_tokens, answer.output_tokens, per_in, per_out)
        return Asked(result.value, answer, config_id, cost, result.attempts)

    def price(self, config_id: int) -> tuple[Decimal, Decimal]:
        if self._prices is not None:
            return self._prices(config_id)
        return self.chain.prices(config_id)
