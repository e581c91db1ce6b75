"""AI configuration schemas, as the adapter registry validates and splits them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from signalbridge.ai.config import OPENROUTER_BASE_URL, OpenRouterConfig
from signalbridge.ai.registration import register
from signalbridge.integrations.registry import AdapterConfigError, AdapterRegistry


@pytest.fixture
def registry() -> AdapterRegistry:
    found = AdapterRegistry()
    register(found)
    return found


def test_both_types_are_registered_with_the_key_as_their_secret(registry: AdapterRegistry) -> None:
    assert registry.types("ai") == ["openai_compatible", "openrouter"]
    assert registry.get("ai", "openrouter").secret_fields == ("api_key",)


def test_openrouter_defaults_and_the_key_is_split_off(registry: AdapterRegistry) -> None:
    public, secrets = registry.split_config(
        "ai", "openrouter", {"model": "openai/gpt-4o-mini", "api_key": "sk-or-v1-abc"}
    )
    assert secrets == {"api_key": "sk-or-v1-abc"}
    assert public["base_url"] == OPENROUTER_BASE_URL
    assert public["structured_output"] == "auto"
    assert public["temperature"] == "0"
    assert "api_key" not in public


def test_openrouter_needs_a_key_a_local_endpoint_does_not(registry: AdapterRegistry) -> None:
    with pytest.raises(AdapterConfigError):
        registry.split_config("ai", "openrouter", {"model": "m"})
    public, secrets = registry.split_config(
        "ai", "openai_compatible", {"model": "llama3", "base_url": "http://10.0.0.5:8000/v1/"}
    )
    assert secrets == {}
    assert public["base_url"] == "http://10.0.0.5:8000/v1"


@pytest.mark.parametrize(
    "change",
    [
        {"temperature": "2.5"},
        {"max_tokens": 0},
        {"max_tokens": 32001},
        {"timeout_seconds": 121},
        {"daily_budget_usd": "-1"},
        {"usd_per_million_input": "1e40"},
        {"structured_output": "xml"},
        {"base_url": "ftp://example.com"},
        {"base_url": "https://user:pw@example.com/v1"},
        {"model": "bad model\n"},
        {"fallback_models": ["ok/model", "bad model"]},
        {"app_title": "SignalBridge\r\nX-Injected: 1"},
        {"unknown": 1},
    ],
)
def test_bad_values_are_refused(registry: AdapterRegistry, change: dict[str, Any]) -> None:
    config = {"model": "openai/gpt-4o-mini", "api_key": "k", **change}
    with pytest.raises(AdapterConfigError):
        registry.validate_config("ai", "openrouter", config)


def test_auto_is_json_schema() -> None:
    cfg = OpenRouterConfig.model_validate({"model": "m", "api_key": "k", "daily_budget_usd": "5"})
    assert cfg.mode == "json_schema"
    assert cfg.daily_budget_usd == Decimal(5)
    tools = cfg.model_copy(update={"structured_output": "tools"})
    assert tools.mode == "tools"
