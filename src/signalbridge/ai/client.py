"""One AI configuration: the official ``openai`` SDK on the kernel's HTTP client.

:class:`ChatClient` makes one chat-completion call asking for JSON in the configured
structured-output mode and hands back the decoded object (:class:`ChatAnswer`):

- ``json_schema`` (``auto``): ``response_format`` ``json_schema`` with ``strict: true``;
- ``tools``: one function whose parameters are the schema, its call forced by
  ``tool_choice`` (models without structured outputs but with tool calling);
- ``json_object``: JSON mode, the schema given in a system message; our validation decides.

OpenRouter gets its attribution headers, the ``models`` fallback list and
``provider.require_parameters`` (so it routes only to providers that honour the schema)
through ``extra_body``; its errors inside a 200 body are caught. The SDK's own retries are
off (``max_retries=0``): the fallback chain and the kernel decide what happens next. Every
failure leaves as an error of :mod:`signalbridge.integrations.errors` (see
:mod:`signalbridge.ai.errors`), its message redacted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Self

import httpx
import httpx2

from signalbridge.ai.config import (
    OPENAI_COMPATIBLE,
    OPENROUTER,
    AIConfigSchema,
    OpenAICompatibleConfig,
    OpenRouterConfig,
)
from signalbridge.ai.errors import MalformedAnswer, describe, translate
from signalbridge.ai.transport import KernelTransport
from signalbridge.domain.bounds import JsonOutOfBounds, load_json
from signalbridge.integrations.http import HttpClientFactory
from signalbridge.integrations.redaction import register_secret
from signalbridge.integrations.registry import connection_config

__all__ = ["MAX_RAW_CHARS", "ChatAnswer", "ChatClient"]

#: Longest answer text kept; a parse answer is a few hundred characters.
MAX_RAW_CHARS = 20_000
_CONFIGS: dict[str, type[AIConfigSchema]] = {
    OPENROUTER: OpenRouterConfig,
    OPENAI_COMPATIBLE: OpenAICompatibleConfig,
}


@dataclass(frozen=True)
class ChatAnswer:
    """The model's JSON answer (numbers as Decimal), its text, and what the call used."""

    data: dict[str, Any]
    raw: str
    model: str
    input_tokens: int
    output_tokens: int
    latency_ms: float


class ChatClient:
    """One AI configuration (``ai_configs`` row): one call at a time, no retries of its own."""

    def __init__(
        self,
        *,
        config_id: int,
        config: AIConfigSchema,
        http: httpx.AsyncClient,
        api_key: str | None = None,
        name: str = "",
        priority: int = 0,
        type_: str = OPENAI_COMPATIBLE,
        timeout: float | None = None,
    ) -> None:
        self.config_id = config_id
        self.priority = priority
        self.name = name
        self.type = type_
        self.config = config
        self.timeout = float(timeout if timeout is not None else config.timeout_seconds)
        import openai  # here, not at module level: the SDK costs a second at every start

        self._transport = KernelTransport(http)
        self._openai = openai.AsyncOpenAI(
            base_url=config.base_url,
            # The SDK insists on a key; a keyless local server ignores this placeholder.
            api_key=api_key or "no-key",
            organization=None,
            project=None,
            max_retries=0,
            timeout=self.timeout,
            default_headers=_attribution(config),
            http_client=httpx2.AsyncClient(transport=self._transport, timeout=self.timeout),
        )

    def __repr__(self) -> str:
        return f"ChatClient(config_id={self.config_id!r}, model={self.config.model!r})"

    @classmethod
    def from_config(
        cls,
        config_id: int,
        config: Mapping[str, Any],
        secrets: Mapping[str, str],
        *,
        http_factory: HttpClientFactory,
        name: str = "",
        priority: int = 0,
        type_: str = OPENAI_COMPATIBLE,
    ) -> Self:
        """Build from a stored row: public ``config`` and opened ``secrets``.

        The HTTP client is the kernel's, for a user-configured URL: the SSRF guard applies
        (loopback only when the operator allows it), as for every other adapter.
        """
        schema = _CONFIGS.get(type_, OpenAICompatibleConfig)
        cfg = connection_config(
            schema, config, secrets, vendor=f"AI {type_}", connection_id=f"ai:{config_id}"
        )
        key = cfg.api_key.get_secret_value() if cfg.api_key is not None else None
        register_secret(key)
        http = http_factory.create(
            f"ai:{config_id}",
            user_url=True,
            config=http_factory.config.with_(
                total_timeout=float(cfg.timeout_seconds),
                read_timeout=float(cfg.timeout_seconds),
            ),
        )
        return cls(
            config_id=config_id,
            config=cfg,
            http=http,
            api_key=key,
            name=name,
            priority=priority,
            type_=type_,
        )

    @property
    def usd_per_million_input(self) -> Decimal:
        return self.config.usd_per_million_input

    @property
    def usd_per_million_output(self) -> Decimal:
        return self.config.usd_per_million_output

    async def aclose(self) -> None:
        await self._openai.close()

    async def complete_json(
        self, messages: list[dict[str, str]], schema: dict[str, Any], schema_name: str
    ) -> ChatAnswer:
        """One call asking for a JSON object matching ``schema``; the object decoded.

        Raises :class:`~signalbridge.ai.errors.MalformedAnswer` when the answer is not one
        JSON object (schema validation is the caller's: it knows the model classes), and
        the translated provider error otherwise.
        """
        mode = self.config.mode
        kwargs = self._request(messages, schema, schema_name, mode)
        started = time.perf_counter()
        try:
            raw = await self._openai.chat.completions.with_raw_response.create(**kwargs)
            body = raw.http_response.content
        except Exception as exc:
            raise translate(exc, connection_id=self._cid) from None
        latency_ms = round((time.perf_counter() - started) * 1000, 2)
        envelope = self._envelope(body)
        text = self._answer_text(envelope, mode, schema_name)
        data = self._decode(text)
        usage = envelope.get("usage")
        return ChatAnswer(
            data=data,
            raw=text[:MAX_RAW_CHARS],
            model=_text(envelope.get("model")) or self.config.model,
            input_tokens=_count(usage, "prompt_tokens"),
            output_tokens=_count(usage, "completion_tokens"),
            latency_ms=latency_ms,
        )

    async def probe(self) -> dict[str, Any]:
        """The connection test: ``GET /models`` with the key; says whether the model is listed.

        Raises the translated error when the endpoint refuses or cannot be reached.
        """
        started = time.perf_counter()
        try:
            raw = await self._openai.models.with_raw_response.list()
            body = raw.http_response.content
        except Exception as exc:
            raise translate(exc, connection_id=self._cid) from None
        latency_ms = round((time.perf_counter() - started) * 1000, 2)
        envelope = self._envelope(body)
        listed = envelope.get("data")
        ids = (
            {item.get("id") for item in listed if isinstance(item, dict)}
            if isinstance(listed, list)
            else set()
        )
        found = self.config.model in ids
        message = (
            f"endpoint answered; model {self.config.model} is listed"
            if found
            else f"endpoint answered; model {self.config.model} is not among its "
            f"{len(ids)} listed models"
        )
        return {
            "ok": found,
            "latency_ms": latency_ms,
            "model": self.config.model,
            "model_found": found,
            "models_listed": len(ids),
            "message": message,
        }

    # -- building the request --------------------------------------------------------

    def _request(
        self, messages: list[dict[str, str]], schema: dict[str, Any], name: str, mode: str
    ) -> dict[str, Any]:
        cfg = self.config
        sent: list[dict[str, str]] = [dict(m) for m in messages]
        kwargs: dict[str, Any] = {
            "model": cfg.model,
            "temperature": float(cfg.temperature),
            "max_tokens": cfg.max_tokens,
            "timeout": self.timeout,
        }
        if mode == "json_schema":
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": name, "strict": True, "schema": schema},
            }
        elif mode == "tools":
            kwargs["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": name,
                        "description": "Record the answer; its arguments are the answer.",
                        "parameters": schema,
                        "strict": True,
                    },
                }
            ]
            kwargs["tool_choice"] = {"type": "function", "function": {"name": name}}
        else:
            kwargs["response_format"] = {"type": "json_object"}
            sent.insert(
                1 if sent and sent[0].get("role") == "system" else 0,
                {
                    "role": "system",
                    "content": "Answer with one JSON object valid against this JSON schema, "
                    "nothing else:\n" + json.dumps(schema, separators=(",", ":")),
                },
            )
        kwargs["messages"] = sent
        if isinstance(cfg, OpenRouterConfig):
            extra: dict[str, Any] = {"provider": {"require_parameters": True}}
            if cfg.fallback_models:
                extra["models"] = [cfg.model, *cfg.fallback_models]
            kwargs["extra_body"] = extra
        return kwargs

    # -- reading the answer ----------------------------------------------------------

    def _envelope(self, body: bytes) -> dict[str, Any]:
        """The response object; an error object inside a 200 (OpenRouter) is a failure."""
        try:
            envelope = load_json(body)
        except (JsonOutOfBounds, ValueError, UnicodeDecodeError):
            raise MalformedAnswer(
                "AI provider answered with a body that is not JSON", connection_id=self._cid
            ) from None
        if not isinstance(envelope, dict):
            raise MalformedAnswer("AI provider answer is not an object", connection_id=self._cid)
        if envelope.get("error") is not None:
            raise MalformedAnswer(
                f"AI provider reported an error in its answer: {describe(envelope)}",
                connection_id=self._cid,
            )
        return envelope

    def _answer_text(self, envelope: dict[str, Any], mode: str, name: str) -> str:
        choices = envelope.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise MalformedAnswer("AI provider answer has no choices", connection_id=self._cid)
        choice = choices[0]
        if choice.get("finish_reason") == "error" or choice.get("error") is not None:
            raise MalformedAnswer(
                f"AI provider generation failed: {describe(choice)}", connection_id=self._cid
            )
        message = choice.get("message")
        if not isinstance(message, dict):
            raise MalformedAnswer("AI provider answer has no message", connection_id=self._cid)
        if mode == "tools":
            calls = message.get("tool_calls")
            if not isinstance(calls, list) or len(calls) != 1 or not isinstance(calls[0], dict):
                raise MalformedAnswer(
                    "AI provider did not make exactly one tool call", connection_id=self._cid
                )
            function = calls[0].get("function")
            if not isinstance(function, dict) or function.get("name") != name:
                raise MalformedAnswer(
                    "AI provider called another function", connection_id=self._cid
                )
            arguments = function.get("arguments")
            if not isinstance(arguments, str):
                raise MalformedAnswer(
                    "AI provider tool call has no arguments", connection_id=self._cid
                )
            return arguments
        if message.get("refusal"):
            raise MalformedAnswer("AI provider model refused to answer", connection_id=self._cid)
        content = message.get("content")
        if not isinstance(content, str) or not content.strip():
            raise MalformedAnswer("AI provider answer is empty", connection_id=self._cid)
        return content

    def _decode(self, text: str) -> dict[str, Any]:
        """The answer text as a JSON object (Decimal numbers); a ```json fence is allowed."""
        stripped = text.strip()
        if stripped.startswith("```"):
            stripped = stripped.strip("`").removeprefix("json").strip()
        try:
            data = load_json(stripped)
        except (JsonOutOfBounds, ValueError):
            raise MalformedAnswer("AI answer is not valid JSON", connection_id=self._cid) from None
        if not isinstance(data, dict):
            raise MalformedAnswer("AI answer is not a JSON object", connection_id=self._cid)
        return data

    @property
    def _cid(self) -> str:
        return f"ai:{self.config_id}"


def _attribution(config: AIConfigSchema) -> dict[str, str]:
    """OpenRouter's app attribution headers (both title spellings), when configured."""
    if not isinstance(config, OpenRouterConfig):
        return {}
    headers: dict[str, str] = {}
    if config.app_url:
        headers["HTTP-Referer"] = config.app_url
    if config.app_title:
        headers["X-OpenRouter-Title"] = config.app_title
        headers["X-Title"] = config.app_title
    return headers


def _count(usage: object, name: str) -> int:
    value = usage.get(name) if isinstance(usage, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return 0
    return min(value, 10**9)


def _text(value: object) -> str | None:
    return value[:200] if isinstance(value, str) and value else None
