"""AI providers: OpenAI-compatible endpoints and OpenRouter through the official ``openai``
SDK on the kernel's HTTP client, a fallback chain by priority, strict structured answers.

``config`` (the connection's settings), ``transport`` (httpx2 → the kernel's httpx),
``errors`` (translation; :class:`MalformedAnswer`), ``client`` (one configuration, one
call), ``chain`` (configurations by priority behind their breakers), ``prompt`` (the
message as delimited data), ``answer`` (strict answer models → domain ``Parsed``), ``cost``,
``parser`` (one message → :class:`AiReading` or :class:`AiFailure`), ``registration``.
Importing this package registers nothing; bootstrap calls :func:`register`.
"""

from __future__ import annotations

from signalbridge.ai.answer import (
    PARSE_SCHEMA,
    AiAnswer,
    AiNoiseAnswer,
    AiRange,
    AiSignalAnswer,
    AiUpdateAnswer,
    answer_to_parsed,
    parse_answer,
)
from signalbridge.ai.chain import Attempt, ChainResult, FallbackChain
from signalbridge.ai.client import ChatAnswer, ChatClient
from signalbridge.ai.config import AIConfigSchema, OpenAICompatibleConfig, OpenRouterConfig
from signalbridge.ai.cost import call_cost
from signalbridge.ai.errors import MalformedAnswer
from signalbridge.ai.parser import AiFailure, AiParser, AiReading
from signalbridge.ai.prompt import PROMPT_VERSION, build_parse_messages
from signalbridge.ai.registration import register

__all__ = [
    "PARSE_SCHEMA",
    "PROMPT_VERSION",
    "AIConfigSchema",
    "AiAnswer",
    "AiFailure",
    "AiNoiseAnswer",
    "AiParser",
    "AiRange",
    "AiReading",
    "AiSignalAnswer",
    "AiUpdateAnswer",
    "Attempt",
    "ChainResult",
    "ChatAnswer",
    "ChatClient",
    "FallbackChain",
    "MalformedAnswer",
    "OpenAICompatibleConfig",
    "OpenRouterConfig",
    "answer_to_parsed",
    "build_parse_messages",
    "call_cost",
    "parse_answer",
    "register",
]
