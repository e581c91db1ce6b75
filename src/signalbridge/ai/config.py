"""Configuration of one AI provider connection (validated by the adapter registry).

Two types share one schema: ``openai_compatible`` (any endpoint speaking OpenAI's chat
completions, a local one included; the key is optional because local servers often take
none) and ``openrouter`` (key required, base URL defaults to OpenRouter's, plus its
``models`` fallback list and attribution headers). ``api_key`` is the sealed secret.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from signalbridge.domain.bounds import StoreDecimal
from signalbridge.integrations.ssrf import url_syntax_problem

__all__ = [
    "OPENAI_COMPATIBLE",
    "OPENROUTER",
    "OPENROUTER_BASE_URL",
    "AIConfigSchema",
    "OpenAICompatibleConfig",
    "OpenRouterConfig",
    "StructuredOutput",
]

OPENROUTER = "openrouter"
OPENAI_COMPATIBLE = "openai_compatible"
OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
MAX_FALLBACK_MODELS = 8

StructuredOutput = Literal["auto", "json_schema", "tools", "json_object"]

_MODEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$"
_MODEL_RE = re.compile(_MODEL_PATTERN)


class AIConfigSchema(BaseModel):
    """One OpenAI-compatible endpoint: model, where it is, limits, prices, output mode."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(pattern=_MODEL_PATTERN, description="model id, e.g. openai/gpt-4o-mini")
    base_url: str = Field(description="the API root that ends before /chat/completions")
    api_key: SecretStr | None = Field(default=None, description="Bearer key (sealed)")
    temperature: StoreDecimal = Field(default=Decimal(0), ge=0, le=2)
    max_tokens: int = Field(default=800, ge=1, le=32000)
    timeout_seconds: int = Field(default=30, ge=1, le=120)
    daily_budget_usd: StoreDecimal | None = Field(
        default=None, ge=0, description="spend cap per UTC day; unset, no cap"
    )
    usd_per_million_input: StoreDecimal = Field(default=Decimal(0), ge=0)
    usd_per_million_output: StoreDecimal = Field(default=Decimal(0), ge=0)
    structured_output: StructuredOutput = Field(
        default="auto",
        description="json_schema (strict response_format), tools (one forced function "
        "call), json_object (JSON mode, validated by us); auto = json_schema",
    )

    @field_validator("base_url")
    @classmethod
    def _plain_url(cls, value: str) -> str:
        """Refused at save what no operator setting can make safe; the address itself is
        checked by the SSRF guard on every request."""
        problem = url_syntax_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value.rstrip("/")

    @property
    def mode(self) -> Literal["json_schema", "tools", "json_object"]:
        """The structured-output mode actually used (``auto`` is ``json_schema``)."""
        return "json_schema" if self.structured_output == "auto" else self.structured_output

    @property
    def openrouter(self) -> bool:
        return False


class OpenAICompatibleConfig(AIConfigSchema):
    """Any OpenAI-compatible endpoint (vLLM, Ollama, LM Studio, OpenAI itself)."""


class OpenRouterConfig(AIConfigSchema):
    """OpenRouter: key required, its base URL by default, fallback models, attribution."""

    base_url: str = Field(default=OPENROUTER_BASE_URL)
    api_key: SecretStr = Field(description="OpenRouter key (sk-or-v1-…), sealed")  # type: ignore[assignment]
    fallback_models: list[str] = Field(
        default_factory=list,
        max_length=MAX_FALLBACK_MODELS,
        description="sent as `models`: OpenRouter tries them in order after `model`",
    )
    app_url: str | None = Field(default=None, max_length=300, description="HTTP-Referer")
    app_title: str | None = Field(
        default=None, max_length=100, description="X-OpenRouter-Title (and X-Title)"
    )

    @field_validator("fallback_models")
    @classmethod
    def _models(cls, value: list[str]) -> list[str]:
        for model in value:
            if not _MODEL_RE.fullmatch(model):
                raise ValueError("each fallback model is a model id (letters, digits, ./:-_@+)")
        return value

    @field_validator("app_url", "app_title")
    @classmethod
    def _header_safe(cls, value: str | None) -> str | None:
        """Header values: printable ASCII only (no CR/LF that would split a header)."""
        if value is None:
            return None
        if not value.isascii() or not value.isprintable():
            raise ValueError("printable ASCII only")
        return value.strip() or None

    @property
    def openrouter(self) -> bool:
        return True
