from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import BaseModel, SecretStr

from signalbridge.integrations.errors import TransientError
from signalbridge.integrations.health import MAX_ERROR_CHARS, HealthState
from signalbridge.integrations.registry import (
    AdapterConfigError,
    AdapterRegistry,
    UnknownAdapterType,
)


class PaperConfig(BaseModel):
    starting_balance: str = "10000"


class CcxtConfig(BaseModel):
    exchange: str
    api_key: SecretStr
    api_secret: SecretStr
    sandbox: bool = False


def test_register_get_and_unknown_lists_known_types() -> None:
    reg = AdapterRegistry()
    reg.register("exchange", "paper", lambda **kw: "paper", PaperConfig)

    @reg.adapter("exchange", "ccxt", CcxtConfig, secret_fields=("api_key", "api_secret"))
    class CcxtAdapter:
        pass

    assert reg.get("exchange", "ccxt").factory is CcxtAdapter
    assert reg.get("exchange", "ccxt").secret_fields == ("api_key", "api_secret")
    assert reg.types("exchange") == ["ccxt", "paper"]
    with pytest.raises(UnknownAdapterType) as info:
        reg.get("exchange", "kraken")
    assert "kraken" in str(info.value) and "ccxt, paper" in str(info.value)
    with pytest.raises(UnknownAdapterType, match="none"):
        reg.get("channel", "telegram")


def test_register_validation() -> None:
    reg = AdapterRegistry()
    with pytest.raises(ValueError, match="kind"):
        reg.register("bank", "x", object, PaperConfig)
    with pytest.raises(ValueError, match="secret fields"):
        reg.register("exchange", "x", object, PaperConfig, ("api_key",))
    reg.register("exchange", "x", object, PaperConfig)
    reg.register("exchange", "x", object, PaperConfig)  # same factory again: fine
    with pytest.raises(ValueError, match="already registered"):
        reg.register("exchange", "x", dict, PaperConfig)


def test_validate_config_clear_errors_without_echoing_input() -> None:
    reg = AdapterRegistry()
    reg.register("exchange", "ccxt", object, CcxtConfig, ("api_key", "api_secret"))
    model = reg.validate_config(
        "exchange", "ccxt", {"exchange": "binance", "api_key": "k", "api_secret": "s"}
    )
    assert isinstance(model, CcxtConfig)
    with pytest.raises(AdapterConfigError) as info:
        reg.validate_config("exchange", "ccxt", {"api_key": "TOPSECRET-1", "sandbox": "maybe"})
    fields = {e["field"] for e in info.value.errors}
    assert fields == {"exchange", "api_secret", "sandbox"}
    assert "TOPSECRET-1" not in str(info.value)
    assert "maybe" not in str(info.value)


def test_health_records_and_round_trips() -> None:
    t0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    t1 = datetime(2026, 3, 1, 12, 5, tzinfo=UTC)
    h = HealthState()
    h.record_failure(TransientError("502 with api_key=SECRET999 " + "x" * 1000), t0)
    h.record_failure(TransientError("again"), t0)
    assert h.error_count == 2 and h.consecutive_failures == 2 and not h.healthy
    assert h.last_error is not None and len(h.last_error) <= MAX_ERROR_CHARS
    h.record_failure(TransientError("api_key=SECRET999"), t0)
    assert "SECRET999" not in (h.last_error or "")
    h.record_success(t1)
    assert h.consecutive_failures == 0 and h.error_count == 3 and h.healthy
    data = h.to_dict()
    assert data["last_success_at"] == "2026-03-01T12:05:00+00:00"
    assert HealthState.from_dict(data) == h
    assert HealthState.from_dict(None) == HealthState()
