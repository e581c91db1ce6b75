"""Ask the fallback chain to read one message: an :class:`AiReading` or an :class:`AiFailure`.

The message goes into the versioned parse prompt as delimited data
(:mod:`signalbridge.ai.prompt`); the answer must pass the strict answer models and the
domain's canonical reader (:mod:`signalbridge.ai.answer`) inside the chain, so a
configuration whose answer is malformed or outside the schema has failed and the next one
is asked. The reading carries everything an AI parse row stores: model, prompt version,
tokens, cost, latency, the raw answer and every attempt. :meth:`AiParser.read` never
raises for a provider's failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from signalbridge.ai.answer import (
    PARSE_SCHEMA,
    PARSE_SCHEMA_NAME,
    answer_to_parsed,
    confidence_of,
    parse_answer,
)
from signalbridge.ai.chain import Attempt, FallbackChain
from signalbridge.ai.cost import call_cost
from signalbridge.ai.prompt import PROMPT_VERSION, build_parse_messages
from signalbridge.domain.signals import Parsed

__all__ = ["AiFailure", "AiParser", "AiReading", "validate_parse"]

Prices = Callable[[int], tuple[Decimal, Decimal]]


@dataclass(frozen=True)
class AiReading:
    """A valid reading of the message by one configuration, and what it cost."""

    parsed: Parsed
    confidence: Decimal
    config_id: int
    model: str
    prompt_version: str
    input_tokens: int
    output_tokens: int
    cost: Decimal
    latency_ms: float
    raw: str
    attempts: tuple[Attempt, ...]


@dataclass(frozen=True)
class AiFailure:
    """No configuration produced a valid reading; ``reason`` says why, in one line."""

    reason: str
    attempts: tuple[Attempt, ...]


def validate_parse(data: dict[str, Any]) -> tuple[Parsed, Decimal]:
    """The chain's ``validate`` for a parse: strict answer model, then the domain reader."""
    answer = parse_answer(data)
    return answer_to_parsed(answer), confidence_of(answer)


class AiParser:
    """Reads messages through a :class:`FallbackChain`."""

    def __init__(self, chain: FallbackChain, prices: Prices | None = None) -> None:
        self.chain = chain
        self._prices = prices

    async def read(self, text: str) -> AiReading | AiFailure:
        if not self.chain.clients:
            return AiFailure("no active AI configuration", ())
        result = await self.chain.ask(
            build_parse_messages(text), PARSE_SCHEMA, PARSE_SCHEMA_NAME, validate=validate_parse
        )
        answer, config_id = result.answer, result.config_id
        if answer is None or config_id is None or not isinstance(result.value, tuple):
            tried = len(result.attempts)
            return AiFailure(
                f"every AI configuration failed ({tried} tried)"
                if tried
                else "no AI configuration could be asked",
                result.attempts,
            )
        parsed, confidence = result.value
        price_in, price_out = self._price(config_id)
        return AiReading(
            parsed=parsed,
            confidence=confidence,
            config_id=config_id,
            model=answer.model,
            prompt_version=PROMPT_VERSION,
            input_tokens=answer.input_tokens,
            output_tokens=answer.output_tokens,
            cost=call_cost(answer.input_tokens, answer.output_tokens, price_in, price_out),
            latency_ms=answer.latency_ms,
            raw=answer.raw,
            attempts=result.attempts,
        )

    def _price(self, config_id: int) -> tuple[Decimal, Decimal]:
        if self._prices is not None:
            return self._prices(config_id)
        return self.chain.prices(config_id)
