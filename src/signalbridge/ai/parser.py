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
from signalbridge.ai.asking import AiFailure, ChainAsker
from signalbridge.ai.chain import Attempt
from signalbridge.ai.prompt import PROMPT_VERSION, build_parse_messages
from signalbridge.domain.signals import Parsed

__all__ = ["AiFailure", "AiParser", "AiReading", "validate_parse"]


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


def validate_parse(data: dict[str, Any]) -> tuple[Parsed, Decimal]:
    """The chain's ``validate`` for a parse: strict answer model, then the domain reader."""
    answer = parse_answer(data)
    return answer_to_parsed(answer), confidence_of(answer)


class AiParser(ChainAsker):
    """Reads messages through a :class:`FallbackChain`."""

    async def read(self, text: str) -> AiReading | AiFailure:
        asked = await self.ask(
            build_parse_messages(text), PARSE_SCHEMA, PARSE_SCHEMA_NAME, validate=validate_parse
        )
        if isinstance(asked, AiFailure):
            return asked
        if not isinstance(asked.value, tuple):  # validate_parse returns one; for the types
            return AiFailure("the AI answer was not a reading", asked.attempts)
        parsed, confidence = asked.value
        answer = asked.answer
        return AiReading(
            parsed=parsed,
            confidence=confidence,
            config_id=asked.config_id,
            model=answer.model,
            prompt_version=PROMPT_VERSION,
            input_tokens=answer.input_tokens,
            output_tokens=answer.output_tokens,
            cost=asked.cost,
            latency_ms=answer.latency_ms,
            raw=answer.raw,
            attempts=asked.attempts,
        )
